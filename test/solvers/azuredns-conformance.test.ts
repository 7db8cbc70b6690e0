import { afterAll } from "@jest/globals";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queryTxt } from "../../src/dns/query.js";
import {
  AZURE_DNS_API_URL_ENV,
  AZURE_DNS_AUTHORITY_HOST_ENV,
  AZURE_DNS_CA_FILE_ENV,
  descriptor,
} from "../../src/solvers/azuredns/descriptor.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { AzureDnsEmulator } from "../emulators/azuredns/emulator.js";
import { bindBackend } from "../emulators/bind-backend.js";
import { rigVar } from "../support/rig.js";
import { describeConformance } from "./conformance.js";

const SUBSCRIPTION = "6f1a2b3c-0000-4000-8000-000000000001";
const TENANT = "0e3c1c6a-0000-4000-8000-000000000002";
const CLIENT = "a1b2c3d4-0000-4000-8000-000000000003";
const emulator = new AzureDnsEmulator({ backend: bindBackend() });
const dir = mkdtempSync(join(tmpdir(), "azuredns-conformance-"));
const ENV = [AZURE_DNS_API_URL_ENV, AZURE_DNS_AUTHORITY_HOST_ENV, AZURE_DNS_CA_FILE_ENV];
const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));

afterAll(async () => {
  await emulator.stop();
  for (const k of ENV) {
    if (saved[k] === undefined) Reflect.deleteProperty(process.env, k);
    else process.env[k] = saved[k];
  }
  rmSync(dir, { recursive: true, force: true });
});

// Built as the operator builds it: the descriptor reads the client secret from a Secret, gets a
// token from the emulated Entra ID over TLS, and the emulator writes through to BIND, so what the
// suite checks is what a resolver sees.
describeConformance("azureDNS against the Azure DNS emulator, published to BIND", async () => {
  const url = await emulator.start();
  writeFileSync(join(dir, "ca.pem"), emulator.caPem);
  process.env[AZURE_DNS_API_URL_ENV] = url;
  process.env[AZURE_DNS_AUTHORITY_HOST_ENV] = url;
  process.env[AZURE_DNS_CA_FILE_ENV] = join(dir, "ca.pem");
  emulator.addZone({ subscription: SUBSCRIPTION, resourceGroup: "dns", name: "example.test" });
  emulator.addServicePrincipal({
    tenant: TENANT,
    clientId: CLIENT,
    secrets: ["conformance-secret"],
    scopes: [emulator.zoneScope(SUBSCRIPTION, "dns", "example.test")],
  });
  const secrets = memorySecretReader(
    new Map([["certs/azure-sp", { "client-secret": "conformance-secret\n" }]]),
  );
  return {
    zone: "example.test.",
    solver: () =>
      descriptor.create(
        {
          subscriptionID: SUBSCRIPTION,
          resourceGroupName: "dns",
          tenantID: TENANT,
          clientID: CLIENT,
          clientSecretSecretRef: { name: "azure-sp", key: "client-secret" },
        },
        { secretNamespace: "certs", secrets, clusterScoped: false },
      ),
    values: (fqdn: string) => queryTxt(fqdn, rigVar("DNS_SERVER")),
  };
});
