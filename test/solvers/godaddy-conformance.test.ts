import { afterAll, expect } from "@jest/globals";
import { queryTxt } from "../../src/dns/query.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { GODADDY_API_URL_ENV, descriptor } from "../../src/solvers/godaddy/descriptor.js";
import { bindBackend } from "../emulators/bind-backend.js";
import { GoDaddyEmulator } from "../emulators/godaddy/emulator.js";
import { rigVar } from "../support/rig.js";
import { describeConformance } from "./conformance.js";

const KEY = { key: "conformance-key", secret: "conformance-secret" };
const emulator = new GoDaddyEmulator({ keys: [KEY], backend: bindBackend(), perMinute: 10_000 });
const savedEnv = process.env[GODADDY_API_URL_ENV];

afterAll(async () => {
  if (savedEnv === undefined) Reflect.deleteProperty(process.env, GODADDY_API_URL_ENV);
  else process.env[GODADDY_API_URL_ENV] = savedEnv;
  await emulator.stop();
});

describeConformance("godaddy against its emulator, published to BIND", async () => {
  process.env[GODADDY_API_URL_ENV] = await emulator.start();
  const secrets = memorySecretReader(
    new Map([["issuer-ns/godaddy", { "api-key": KEY.key, "api-secret": KEY.secret }]]),
  );
  return {
    zone: "second.test.",
    solver: () =>
      descriptor.create(
        {
          apiKeySecretRef: { name: "godaddy", key: "api-key" },
          apiSecretSecretRef: { name: "godaddy", key: "api-secret" },
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
