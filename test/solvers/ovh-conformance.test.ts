import { afterAll, expect } from "@jest/globals";
import { queryTxt } from "../../src/dns/query.js";
import { RateLimits } from "../../src/solvers/limits.js";
import { OVH_API_URL_ENV } from "../../src/solvers/ovh/descriptor.js";
import { createOvhSolver } from "../../src/solvers/ovh/ovh.js";
import { bindBackend } from "../emulators/bind-backend.js";
import { OvhEmulator } from "../emulators/ovh/emulator.js";
import { rigVar } from "../support/rig.js";
import { describeConformance } from "./conformance.js";

const CONSUMER = {
  applicationKey: "conformance-ak",
  applicationSecret: "conformance-as",
  consumerKey: "conformance-ck",
};
const emulator = new OvhEmulator({ consumers: [CONSUMER], backend: bindBackend(), perMinute: 10_000 });
const savedEnv = process.env[OVH_API_URL_ENV];

afterAll(async () => {
  if (savedEnv === undefined) Reflect.deleteProperty(process.env, OVH_API_URL_ENV);
  else process.env[OVH_API_URL_ENV] = savedEnv;
  await emulator.stop();
});

describeConformance("ovh against its emulator, published to BIND", async () => {
  await emulator.start();
  process.env[OVH_API_URL_ENV] = emulator.apiUrl;
  let clock = Date.now();
  return {
    zone: "second.test.",
    // Built from the descriptor's parts with buckets whose clock moves a minute at every look: the
    // suite calls faster than OVH_RATE_LIMIT allows, and the client-side limit has its own tests.
    solver: () =>
      Promise.resolve(
        createOvhSolver(
          { endpoint: emulator.apiUrl, auth: { kind: "keys", ...CONSUMER } },
          { rateLimits: new RateLimits(() => (clock += 60_000)) },
        ),
      ),
    // BIND serves what the last refresh published, which must be what the API holds.
    values: async (fqdn: string) => {
      const served = await queryTxt(fqdn, rigVar("DNS_SERVER"));
      expect([...served].sort()).toEqual(emulator.values(fqdn).sort());
      expect([...served].sort()).toEqual(emulator.served(fqdn).sort());
      return served;
    },
  };
});
