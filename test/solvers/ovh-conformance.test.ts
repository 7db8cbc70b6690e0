import { afterAll, expect } from "@jest/globals";
import { queryTxt } from "../../src/dns/query.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { OVH_API_URL_ENV, descriptor } from "../../src/solvers/ovh/descriptor.js";
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
  const secrets = memorySecretReader(
    new Map([
      [
        "issuer-ns/ovh",
        { ak: CONSUMER.applicationKey, as: CONSUMER.applicationSecret, ck: CONSUMER.consumerKey },
      ],
    ]),
  );
  return {
    zone: "second.test.",
    solver: () =>
      descriptor.create(
        {
          endpoint: "ovh-eu",
          applicationKeySecretRef: { name: "ovh", key: "ak" },
          applicationSecretSecretRef: { name: "ovh", key: "as" },
          consumerKeySecretRef: { name: "ovh", key: "ck" },
        },
        { secretNamespace: "issuer-ns", secrets, clusterScoped: false },
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
