/**
 * Runs the Cloudflare emulator as a process, for e2e:
 *
 *   npx tsx test/emulators/cloudflare/server.ts --port 0 --token <t> [--token <t2>]
 *     [--global-key <email>:<key>] [--zone example.test ...] [--bind]
 *
 * `--bind` publishes TXT values into the rig's BIND (needs the rig's environment: source
 * .rig/env). Prints the API base URL (for DNS01_CLOUDFLARE_API_URL) on one line, then serves
 * until SIGINT or SIGTERM.
 */
import { parseArgs } from "node:util";
import { bindBackend } from "../bind-backend.js";
import { CloudflareEmulator } from "./emulator.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    token: { type: "string", multiple: true, default: [] },
    "global-key": { type: "string", multiple: true, default: [] },
    zone: { type: "string", multiple: true, default: [] },
    bind: { type: "boolean", default: false },
  },
});

const globalKeys = values["global-key"].map((pair) => {
  const i = pair.indexOf(":");
  if (i <= 0) throw new Error(`--global-key wants <email>:<key>, got ${pair}`);
  return { email: pair.slice(0, i), key: pair.slice(i + 1) };
});

const emulator = new CloudflareEmulator({
  tokens: values.token,
  globalKeys,
  ...(values.zone.length > 0 ? { zones: values.zone } : {}),
  ...(values.bind ? { backend: bindBackend() } : {}),
});
const url = await emulator.start(Number(values.port));
process.stdout.write(`${url}\n`);

const stop = (): void => {
  void emulator.stop().then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
