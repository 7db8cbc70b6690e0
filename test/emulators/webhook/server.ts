/**
 * Runs the webhook emulator as a process, for e2e:
 *
 *   npx tsx test/emulators/webhook/server.ts --port 0 [--token <t> ...] [--bind]
 *
 * `--bind` publishes TXT values into the rig's BIND (needs the rig's environment: source
 * .rig/env). Prints the webhook's base URL (for the Issuer's url, or DNS01_WEBHOOK_API_URL) on one
 * line, then serves until SIGINT or SIGTERM.
 */
import { parseArgs } from "node:util";
import { bindBackend } from "../bind-backend.js";
import { WebhookEmulator } from "./emulator.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    token: { type: "string", multiple: true, default: [] },
    bind: { type: "boolean", default: false },
  },
});

const emulator = new WebhookEmulator({
  tokens: values.token,
  ...(values.bind ? { backend: bindBackend() } : {}),
});
const url = await emulator.start(Number(values.port));
process.stdout.write(`${url}\n`);

const stop = (): void => {
  void emulator.stop().then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
