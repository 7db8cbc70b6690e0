import { afterAll, expect } from "@jest/globals";
import { queryTxt } from "../../src/dns/query.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { NAMECHEAP_API_URL_ENV, descriptor } from "../../src/solvers/namecheap/descriptor.js";
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
  const secrets = memorySecretReader(new Map([["issuer-ns/namecheap", { "api-key": USER.apiKey }]]));
  return {
    zone: "second.test.",
    solver: () =>
      descriptor.create(
        {
          apiUser: USER.apiUser,
          clientIP: "127.0.0.1",
          apiKeySecretRef: { name: "namecheap", key: "api-key" },
        },
        { secretNamespace: "issuer-ns", secrets, clusterScoped: false },
      ),
    values: async (fqdn: string) => {
      const served = await queryTxt(fqdn, rigVar("DNS_SERVER"));
      expect([...served].sort()).toEqual(emulator.values(fqdn).sort());
      return served;
    },
  };
});
