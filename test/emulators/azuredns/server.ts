/**
 * Runs the Azure DNS emulator (ARM and Entra ID, over HTTPS) as a process, for e2e:
 *
 *   npx tsx test/emulators/azuredns/server.ts --port 0 --client-secret <s> [--tenant <id>]
 *     [--client-id <id>] [--subscription <id>] [--resource-group dns]
 *     [--zone example.test ...] [--ca-out ca.pem] [--bind]
 *
 * The service principal gets DNS Zone Contributor on each zone. `--ca-out` writes the emulator's
 * self-signed certificate, for DNS01_AZUREDNS_CA_FILE (or NODE_EXTRA_CA_CERTS) of the operator.
 * `--bind` publishes TXT values into the rig's BIND (needs the rig's environment: source
 * .rig/env). Prints the base URL (for DNS01_AZUREDNS_API_URL and DNS01_AZUREDNS_AUTHORITY_HOST) on
 * one line, then serves until SIGINT or SIGTERM.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { bindBackend } from "../bind-backend.js";
import { AzureDnsEmulator } from "./emulator.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    subscription: { type: "string", default: "00000000-0000-4000-8000-00000000e2e0" },
    "resource-group": { type: "string", default: "dns" },
    tenant: { type: "string", default: "00000000-0000-4000-8000-00000000e2e1" },
    "client-id": { type: "string", default: "00000000-0000-4000-8000-00000000e2e2" },
    "client-secret": { type: "string" },
    zone: { type: "string", multiple: true, default: [] },
    "ca-out": { type: "string" },
    bind: { type: "boolean", default: false },
  },
});
const secret = values["client-secret"];
if (secret === undefined || secret === "") throw new Error("--client-secret is required");

const emulator = new AzureDnsEmulator(values.bind ? { backend: bindBackend() } : {});
const url = await emulator.start(Number(values.port));
const zones = values.zone.length > 0 ? values.zone : ["example.test", "second.test"];
for (const name of zones) {
  emulator.addZone({ subscription: values.subscription, resourceGroup: values["resource-group"], name });
}
emulator.addServicePrincipal({
  tenant: values.tenant,
  clientId: values["client-id"],
  secrets: [secret],
  scopes: zones.map((z) => emulator.zoneScope(values.subscription, values["resource-group"], z)),
});
if (values["ca-out"] !== undefined) writeFileSync(values["ca-out"], emulator.caPem);
process.stdout.write(`${url}\n`);

const stop = (): void => {
  void emulator.stop().then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
