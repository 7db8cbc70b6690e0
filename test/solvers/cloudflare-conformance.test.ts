import { afterAll, expect } from "@jest/globals";
import { queryTxt } from "../../src/dns/query.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { CLOUDFLARE_API_URL_ENV, descriptor } from "../../src/solvers/cloudflare/descriptor.js";
import { bindBackend } from "../emulators/bind-backend.js";
import { CloudflareEmulator } from "../emulators/cloudflare/emulator.js";
import { rigVar } from "../support/rig.js";
import { describeConformance } from "./conformance.js";

const TOKEN = "conformance-token-0123456789abcdef";
const emulator = new CloudflareEmulator({ tokens: [TOKEN], backend: bindBackend() });
const savedEnv = process.env[CLOUDFLARE_API_URL_ENV];

afterAll(async () => {
  if (savedEnv === undefined) Reflect.deleteProperty(process.env, CLOUDFLARE_API_URL_ENV);
  else process.env[CLOUDFLARE_API_URL_ENV] = savedEnv;
  await emulator.stop();
});

describeConformance("cloudflare against its emulator, published to BIND", async () => {
  process.env[CLOUDFLARE_API_URL_ENV] = await emulator.start();
  const secrets = memorySecretReader(new Map([["issuer-ns/cloudflare", { "api-token": TOKEN }]]));
  return {
    zone: "example.test.",
    // Built as the registry builds it: from the Issuer block, the token read from its Secret.
    solver: () =>
      descriptor.create(
        { apiTokenSecretRef: { name: "cloudflare", key: "api-token" } },
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
