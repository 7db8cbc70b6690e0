import { afterAll, expect } from "@jest/globals";
import { queryTxt } from "../../src/dns/query.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { DIGITALOCEAN_API_URL_ENV, descriptor } from "../../src/solvers/digitalocean/descriptor.js";
import { bindBackend } from "../emulators/bind-backend.js";
import { DigitalOceanEmulator } from "../emulators/digitalocean/emulator.js";
import { rigVar } from "../support/rig.js";
import { describeConformance } from "./conformance.js";

const TOKEN = "dop_v1_conformance0123456789abcdef";
const emulator = new DigitalOceanEmulator({ tokens: [TOKEN], backend: bindBackend() });
const savedEnv = process.env[DIGITALOCEAN_API_URL_ENV];

afterAll(async () => {
  if (savedEnv === undefined) Reflect.deleteProperty(process.env, DIGITALOCEAN_API_URL_ENV);
  else process.env[DIGITALOCEAN_API_URL_ENV] = savedEnv;
  await emulator.stop();
});

describeConformance("digitalocean against its emulator, published to BIND", async () => {
  process.env[DIGITALOCEAN_API_URL_ENV] = await emulator.start();
  const secrets = memorySecretReader(new Map([["issuer-ns/digitalocean", { "access-token": TOKEN }]]));
  return {
    zone: "second.test.",
    // Built as the registry builds it: from the Issuer block, the token read from its Secret.
    solver: () =>
      descriptor.create(
        { tokenSecretRef: { name: "digitalocean", key: "access-token" } },
        { secretNamespace: "issuer-ns", secrets, clusterScoped: false },
      ),
    // What BIND serves, which must be what the emulated API holds (the write-through works).
    values: async (fqdn: string) => {
      const served = await queryTxt(fqdn, rigVar("DNS_SERVER"));
      expect([...served].sort()).toEqual(emulator.values(fqdn).sort());
      return served;
    },
  };
});
