/**
 * Runs the acme-dns emulator as a process, for e2e:
 *
 *   npx tsx test/emulators/acmedns/server.ts --port 0 [--domain auth.example.test]
 *     [--zone example.test] [--bind] [--delegate example.test ...]
 *
 * `--bind` publishes values into the rig's BIND (needs the rig's environment: source .rig/env).
 * Each `--delegate <domain>` registers an account for it and, with `--bind`, adds the CNAME
 * `_acme-challenge.<domain>` → its fulldomain in the zone of <domain> (its parent for a name below
 * a rig zone: the last two labels). Keep --domain inside that zone: BIND answers a CNAME with its
 * target's TXT only within one zone, and Pebble does not chase CNAMEs itself. Prints the API base URL (the Issuer's `host`) on the first
 * line, then the account JSON for the Secret (`{"<domain>": {...}}`) on the second, and serves
 * until SIGINT or SIGTERM.
 */
import { parseArgs } from "node:util";
import { bindBackend } from "../bind-backend.js";
import { delegate } from "./delegation.js";
import { AcmeDnsEmulator, type AcmeDnsRegistration } from "./emulator.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    domain: { type: "string", default: "auth.example.test" },
    zone: { type: "string", default: "example.test" },
    bind: { type: "boolean", default: false },
    delegate: { type: "string", multiple: true, default: [] },
  },
});

const emulator = new AcmeDnsEmulator({
  domain: values.domain,
  backendZone: values.zone,
  ...(values.bind ? { backend: bindBackend() } : {}),
});
const url = await emulator.start(Number(values.port));
const accounts: Record<string, AcmeDnsRegistration> = {};
for (const domain of values.delegate) {
  const account = emulator.register();
  accounts[domain] = account;
  if (values.bind) await delegate(domain, account.fulldomain, domain.split(".").slice(-2).join("."));
}
process.stdout.write(`${url}\n${JSON.stringify(accounts)}\n`);

const stop = (): void => {
  void emulator.stop().then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
