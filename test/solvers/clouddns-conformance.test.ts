import { afterAll } from "@jest/globals";
import { queryTxt } from "../../src/dns/query.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { CLOUD_DNS_API_URL_ENV, descriptor } from "../../src/solvers/clouddns/descriptor.js";
import { bindBackend } from "../emulators/bind-backend.js";
import { CloudDnsEmulator } from "../emulators/clouddns/emulator.js";
import { generateServiceAccountKey } from "../emulators/clouddns/service-account.js";
import { rigVar } from "../support/rig.js";
import { describeConformance } from "./conformance.js";

const PROJECT = "dns01-conformance";
const emulator = new CloudDnsEmulator({ backend: bindBackend(), pageSize: 1 });
const previousUrl = process.env[CLOUD_DNS_API_URL_ENV];

afterAll(async () => {
  await emulator.stop();
  if (previousUrl === undefined) Reflect.deleteProperty(process.env, CLOUD_DNS_API_URL_ENV);
  else process.env[CLOUD_DNS_API_URL_ENV] = previousUrl;
});

// Built as the operator builds it: the descriptor reads the key from a Secret, and the emulator
// (pages of one zone, a private zone of the same DNS name listed first) writes through to BIND,
// so what the suite checks is what a resolver sees.
describeConformance("cloudDNS against the Cloud DNS emulator, published to BIND", async () => {
  const url = await emulator.start();
  process.env[CLOUD_DNS_API_URL_ENV] = url;
  emulator.addZone({
    project: PROJECT,
    name: "a-private-twin",
    dnsName: "example.test.",
    visibility: "private",
  });
  emulator.addZone({ project: PROJECT, name: "example-test", dnsName: "example.test." });
  const sa = generateServiceAccountKey({
    email: `dns01@${PROJECT}.iam.gserviceaccount.com`,
    project: PROJECT,
    tokenUri: emulator.tokenUri,
  });
  emulator.addServiceAccount({
    email: sa.key.client_email,
    publicKeyPem: sa.publicKeyPem,
    projects: [PROJECT],
  });
  const secrets = memorySecretReader(new Map([["certs/clouddns-key", { "key.json": sa.json }]]));
  return {
    zone: "example.test.",
    solver: () =>
      descriptor.create(
        { project: PROJECT, serviceAccountSecretRef: { name: "clouddns-key", key: "key.json" } },
        { secretNamespace: "certs", secrets, clusterScoped: false },
      ),
    values: (fqdn: string) => queryTxt(fqdn, rigVar("DNS_SERVER")),
  };
});
