/**
 * Route 53 for e2e, as a process: starts moto on a free port, creates the rig's zones in it as
 * public hosted zones, and puts the counting proxy in front, mirroring every TXT change into the
 * rig's BIND so that Pebble validates what the operator wrote through the Route 53 API.
 *
 *   npx tsx test/emulators/route53/server.ts [--port N] [--zones example.test,second.test]
 *
 * Prints the proxy's URL as its only line on stdout (give it to the operator as
 * DNS01_ROUTE53_API_URL; any access key pair is accepted) and runs until SIGTERM or SIGINT,
 * stopping moto on the way out. The rig's variables (DNS_SERVER, TSIG_*) come from the
 * environment, or from $RIG_DIR/env (default .rig/env) when the environment lacks them.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseRigEnv, repoRoot } from "../../support/global-setup.js";
import { bindBackend } from "../bind-backend.js";
import { createHostedZone, startMoto } from "./moto.js";
import { Route53Proxy } from "./proxy.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    zones: { type: "string", default: "example.test,second.test" },
  },
});

if (process.env["DNS_SERVER"] === undefined) {
  const envFile = resolve(process.env["RIG_DIR"] ?? resolve(repoRoot, ".rig"), "env");
  if (existsSync(envFile)) {
    for (const [k, v] of Object.entries(parseRigEnv(envFile))) process.env[k] ??= v;
  }
}

const zones = values.zones
  .split(",")
  .map((z) => z.trim())
  .filter((z) => z !== "");
const moto = await startMoto();
let proxy: Route53Proxy | undefined;
const stop = async (): Promise<void> => {
  await proxy?.stop();
  await moto.stop();
};
try {
  for (const zone of zones) {
    const id = await createHostedZone(moto.url, zone);
    process.stderr.write(`route53 emulator: hosted zone ${zone} is ${id}\n`);
  }
  proxy = new Route53Proxy({ upstream: moto.url, backend: bindBackend(), mirrorZones: zones });
  const url = await proxy.start(Number(values.port));
  process.stdout.write(`${url}\n`);
  process.stderr.write(
    `route53 emulator: moto at ${moto.url}, proxy at ${url}, mirroring ${zones.join(", ")} into BIND\n`,
  );
} catch (err) {
  await stop();
  throw err;
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    void stop().then(() => process.exit(0));
  });
}
