/**
 * Runs the Cloud DNS emulator as a process, for e2e:
 *
 *   npx tsx test/emulators/clouddns/server.ts --port 0 [--project dns01-e2e]
 *     [--zone example-test=example.test. ...] [--key-out key.json] [--bind]
 *
 * It makes one service account with DNS rights on the project and writes its JSON key (token_uri
 * pointing at this emulator) to `--key-out`, for the Secret named by serviceAccountSecretRef.
 * `--bind` publishes TXT values into the rig's BIND (needs the rig's environment: source
 * .rig/env). Prints the API root (for DNS01_CLOUDDNS_API_URL) on one line, then serves until
 * SIGINT or SIGTERM.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { bindBackend } from "../bind-backend.js";
import { CloudDnsEmulator } from "./emulator.js";
import { generateServiceAccountKey } from "./service-account.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    project: { type: "string", default: "dns01-e2e" },
    zone: { type: "string", multiple: true, default: [] },
    "key-out": { type: "string" },
    bind: { type: "boolean", default: false },
  },
});

const emulator = new CloudDnsEmulator(values.bind ? { backend: bindBackend() } : {});
const url = await emulator.start(Number(values.port));
const zones =
  values.zone.length > 0 ? values.zone : ["example-test=example.test.", "second-test=second.test."];
for (const z of zones) {
  const i = z.indexOf("=");
  if (i <= 0) throw new Error(`--zone wants <managed-zone-name>=<dns-name>, got ${z}`);
  emulator.addZone({ project: values.project, name: z.slice(0, i), dnsName: z.slice(i + 1) });
}
const sa = generateServiceAccountKey({
  email: `dns01-e2e@${values.project}.iam.gserviceaccount.com`,
  project: values.project,
  tokenUri: emulator.tokenUri,
});
emulator.addServiceAccount({
  email: sa.key.client_email,
  publicKeyPem: sa.publicKeyPem,
  projects: [values.project],
});
if (values["key-out"] !== undefined) writeFileSync(values["key-out"], sa.json, { mode: 0o600 });
process.stdout.write(`${url}\n`);

const stop = (): void => {
  void emulator.stop().then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
