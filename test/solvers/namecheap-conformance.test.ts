import { afterAll, expect } from "@jest/globals";
import { queryTxt } from "../../src/dns/query.js";
import { RateLimits } from "../../src/solvers/limits.js";
import { NAMECHEAP_API_URL_ENV } from "../../src/solvers/namecheap/descriptor.js";
import { createNamecheapSolver } from "../../src/solvers/namecheap/namecheap.js";
import { bindBackend } from "../emulators/bind-backend.js";
import { NamecheapEmulator } from "../emulators/namecheap/emulator.js";
import { rigVar } from "../support/rig.js";
import { describeConformance } from "./conformance.js";

const USER = { apiUser: "conformance", apiKey: "conformance-key" };
const emulator = new NamecheapEmulator({ users: [USER], backend: bindBackend(), perMinute: 10_000 });
const savedEnv = process.env[NAMECHEAP_API_URL_ENV];

afterAll(async () => {
  if (savedEnv === undefined) Reflect.deleteProperty(process.env, NAMECHEAP_API_URL_ENV);
  else process.env[NAMECHEAP_API_URL_ENV] = savedEnv;
  await emulator.stop();
});

describeConformance("namecheap against its emulator, published to BIND", async () => {
  await emulator.start();
  process.env[NAMECHEAP_API_URL_ENV] = emulator.apiUrl;
  let clock = Date.now();
  return {
    zone: "second.test.",
    // Buckets whose clock moves a minute at every look: the suite calls faster than Namecheap's 20 a
    // minute, and the client-side limit has its own tests.
    solver: () =>
      Promise.resolve(
        createNamecheapSolver(
          { ...USER, clientIP: "127.0.0.1", endpoint: emulator.apiUrl },
          { rateLimits: new RateLimits(() => (clock += 60_000)) },
        ),
      ),
    values: async (fqdn: string) => {
      const served = await queryTxt(fqdn, rigVar("DNS_SERVER"));
      expect([...served].sort()).toEqual(emulator.values(fqdn).sort());
      return served;
    },
  };
});
