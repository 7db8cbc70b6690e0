/**
 * Every DNS provider of the operator, ready for an end-to-end issuance: each provider's emulator
 * (test/emulators/<code>/, moto for Route 53) started in this process on a loopback port, seeded
 * with the rig's zones (example.test, second.test) and with credentials, and writing every TXT
 * value it holds through to the rig's BIND, so that Pebble validates what the operator wrote
 * through the provider's API. rfc2136 talks to BIND itself.
 *
 * For each provider it gives what the operator needs (environment variables pointing the provider
 * at its emulator), what the Issuer needs (Secrets to create in its namespace, the `dns01` block),
 * the credential values (for the leak test), and the API calls the emulator counted.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isDeepStrictEqual } from "node:util";
import { join } from "node:path";
import type { AcmeSolver, Dns01Provider, Dns01ProviderName } from "../../src/crds/index.js";
import {
  AZURE_DNS_API_URL_ENV,
  AZURE_DNS_AUTHORITY_HOST_ENV,
  AZURE_DNS_CA_FILE_ENV,
} from "../../src/solvers/azuredns/descriptor.js";
import { CLOUD_DNS_API_URL_ENV } from "../../src/solvers/clouddns/descriptor.js";
import { CLOUDFLARE_API_URL_ENV } from "../../src/solvers/cloudflare/descriptor.js";
import { DIGITALOCEAN_API_URL_ENV } from "../../src/solvers/digitalocean/descriptor.js";
import { GODADDY_API_URL_ENV } from "../../src/solvers/godaddy/descriptor.js";
import { NAMECHEAP_API_URL_ENV } from "../../src/solvers/namecheap/descriptor.js";
import { OVH_API_URL_ENV } from "../../src/solvers/ovh/descriptor.js";
import { IMPLEMENTED_PROVIDERS } from "../../src/solvers/providers.generated.js";
import { ROUTE53_API_URL_ENV } from "../../src/solvers/route53/descriptor.js";
import { delegate, undelegate } from "../../test/emulators/acmedns/delegation.js";
import { AcmeDnsEmulator, type AcmeDnsRegistration } from "../../test/emulators/acmedns/emulator.js";
import { AzureDnsEmulator } from "../../test/emulators/azuredns/emulator.js";
import { bindBackend } from "../../test/emulators/bind-backend.js";
import { CloudDnsEmulator } from "../../test/emulators/clouddns/emulator.js";
import { generateServiceAccountKey } from "../../test/emulators/clouddns/service-account.js";
import { CloudflareEmulator } from "../../test/emulators/cloudflare/emulator.js";
import { DigitalOceanEmulator } from "../../test/emulators/digitalocean/emulator.js";
import { GoDaddyEmulator } from "../../test/emulators/godaddy/emulator.js";
import { NamecheapEmulator } from "../../test/emulators/namecheap/emulator.js";
import { OvhEmulator } from "../../test/emulators/ovh/emulator.js";
import {
  createHostedZone,
  createIamUser,
  enforceAuth,
  ROUTE53_FULL_ACCESS,
  startMoto,
  txtValues,
} from "../../test/emulators/route53/moto.js";
import { Route53Proxy } from "../../test/emulators/route53/proxy.js";
import { WebhookEmulator } from "../../test/emulators/webhook/emulator.js";
import { apiErrorMessage, waitFor, type TestClients } from "../../test/support/kube.js";
import { rigVar } from "../../test/support/rig.js";
import {
  certificateInfo,
  parseCertificateChain,
  publicKeyMatches,
  verifyChain,
} from "../../src/pki/index.js";
import { createObject, getCustom, pebbleRoot, waitForReadyCertificate, type Obj } from "./fixtures.js";

/** The rig's zones, which every emulator serves. */
export const RIG_ZONES = ["example.test", "second.test"] as const;

/** A Secret to create in the Issuer's namespace before the Issuer uses it. */
export interface SecretToCreate {
  readonly name: string;
  readonly stringData: Record<string, string>;
}

/** One credential value the operator is given, and what it is (for the leak test's report). */
export interface CredentialValue {
  readonly what: string;
  readonly value: string;
}

/** One provider, with its emulator running. */
export interface ProviderUnderTest {
  readonly code: Dns01ProviderName;
  /** The rig zone the test names of this provider go in. */
  readonly zone: string;
  /** Environment variables the operator needs for this provider (its API pointed at the emulator). */
  readonly env: Readonly<Record<string, string>>;
  /** The `dns01` block of an Issuer's solver using this provider. */
  readonly solver: Dns01Provider;
  /** Readies a domain a Certificate will name (acme-dns: an account and the CNAME to it). */
  prepare(domain: string): Promise<void>;
  /** The Secrets the block refers to, to create (again, after prepare) in the Issuer's namespace. */
  secrets(): SecretToCreate[];
  /** Every credential value handed to the operator so far. */
  credentials(): CredentialValue[];
  /**
   * The same Secrets holding credentials of the right shape that the provider refuses (a revoked
   * token, a wrong secret key, a key the service account does not have), with their values; none
   * for a provider that takes no credentials.
   */
  wrongSecrets(): { secrets: SecretToCreate[]; values: CredentialValue[] } | undefined;
  /** API calls per route since the last reset, as the emulator counted them; undefined for rfc2136 (BIND). */
  calls(): Record<string, number> | undefined;
  resetCalls(): void;
  /** The TXT values the provider's API still holds at `_acme-challenge.<domain>` (after any delegation). */
  held(domain: string): Promise<string[]>;
  /** Whether cleanup removes values (acme-dns keeps the two newest per account by design). */
  readonly deletesOnCleanUp: boolean;
  /** Stops the emulator and removes what it put into BIND. */
  stop(): Promise<void>;
}

const secret = (bytes = 30): string => randomBytes(bytes).toString("base64url");
const challengeName = (domain: string): string => `_acme-challenge.${domain}.`;

/** The base64 lines of a PEM body (each a 64-character run of the key), to look for in logs. */
export function pemBodyLines(pem: string): string[] {
  return pem
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("-----"));
}

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** The total of a calls record (undefined stays undefined). */
export function totalCalls(counts: Record<string, number> | undefined): number | undefined {
  return counts === undefined ? undefined : sum(counts);
}

/**
 * The Secret of a provider whose one credential is one key of one Secret, that value, and the same
 * Secret holding a value of the same form (`wrong()`) that the provider refuses.
 */
function oneKeySecret(
  name: string,
  key: string,
  what: string,
  value: string,
  wrong: () => string,
): Pick<ProviderUnderTest, "secrets" | "credentials" | "wrongSecrets"> {
  return {
    secrets: () => [{ name, stringData: { [key]: value } }],
    credentials: () => [{ what, value }],
    wrongSecrets: () => {
      const bad = wrong();
      return {
        secrets: [{ name, stringData: { [key]: bad } }],
        values: [{ what: `wrong ${what}`, value: bad }],
      };
    },
  };
}

/** An emulator that counts its API calls and holds TXT values by their fully qualified name. */
interface RecordNameEmulator {
  readonly calls: Record<string, number>;
  resetCalls(): void;
  values(fqdn: string): string[];
  stop(): Promise<void>;
}

/** The calls, held values and stop of a provider served by such an emulator. */
function recordNameEmulator(
  emulator: RecordNameEmulator,
): Pick<ProviderUnderTest, "calls" | "resetCalls" | "held" | "deletesOnCleanUp" | "stop"> {
  return {
    calls: () => emulator.calls,
    resetCalls: () => {
      emulator.resetCalls();
    },
    held: (domain) => Promise.resolve(emulator.values(challengeName(domain))),
    deletesOnCleanUp: true,
    stop: () => emulator.stop(),
  };
}

function rfc2136(id: string): Promise<ProviderUnderTest> {
  const name = `rig-tsig-${id}`;
  const tsigSecret = rigVar("TSIG_SECRET");
  return Promise.resolve({
    code: "rfc2136",
    zone: "example.test",
    env: {},
    solver: {
      rfc2136: {
        nameserver: rigVar("DNS_SERVER"),
        tsigKeyName: rigVar("TSIG_KEY_NAME"),
        tsigAlgorithm: rigVar("TSIG_ALGORITHM"),
        tsigSecretSecretRef: { name, key: "tsig-secret" },
      },
    },
    prepare: () => Promise.resolve(),
    ...oneKeySecret(name, "tsig-secret", "rfc2136 TSIG secret", tsigSecret, () =>
      randomBytes(32).toString("base64"),
    ),
    credentials: () => [
      { what: "rfc2136 TSIG secret", value: tsigSecret },
      { what: "rfc2136 TSIG secret (hex)", value: Buffer.from(tsigSecret, "base64").toString("hex") },
    ],
    calls: () => undefined,
    resetCalls: () => undefined,
    held: () => Promise.resolve([]),
    deletesOnCleanUp: true,
    stop: () => Promise.resolve(),
  });
}

async function cloudflare(id: string): Promise<ProviderUnderTest> {
  const token = secret();
  const emulator = new CloudflareEmulator({ tokens: [token], zones: [...RIG_ZONES], backend: bindBackend() });
  const url = await emulator.start();
  const name = `cloudflare-token-${id}`;
  return {
    code: "cloudflare",
    zone: "example.test",
    env: { [CLOUDFLARE_API_URL_ENV]: url },
    solver: { cloudflare: { apiTokenSecretRef: { name, key: "api-token" } } },
    prepare: () => Promise.resolve(),
    ...oneKeySecret(name, "api-token", "cloudflare API token", token, secret),
    ...recordNameEmulator(emulator),
  };
}

async function digitalocean(id: string): Promise<ProviderUnderTest> {
  const newToken = (): string => `dop_v1_${randomBytes(32).toString("hex")}`;
  const token = newToken();
  const emulator = new DigitalOceanEmulator({
    tokens: [token],
    domains: [...RIG_ZONES],
    backend: bindBackend(),
  });
  const url = await emulator.start();
  const name = `digitalocean-token-${id}`;
  return {
    code: "digitalocean",
    zone: "second.test",
    env: { [DIGITALOCEAN_API_URL_ENV]: url },
    solver: { digitalocean: { tokenSecretRef: { name, key: "access-token" } } },
    prepare: () => Promise.resolve(),
    ...oneKeySecret(name, "access-token", "digitalocean API token", token, newToken),
    ...recordNameEmulator(emulator),
  };
}

async function route53(id: string): Promise<ProviderUnderTest> {
  const moto = await startMoto();
  try {
    const zoneIds = new Map<string, string>();
    for (const zone of RIG_ZONES) zoneIds.set(zone, await createHostedZone(moto.url, zone));
    // A real IAM user whose key moto checks: a wrong secret key would be refused, as on AWS.
    const keys = await createIamUser(moto.url, `dns01-e2e-${id}`, ROUTE53_FULL_ACCESS);
    await enforceAuth(moto.url, true);
    const proxy = new Route53Proxy({
      upstream: moto.url,
      backend: bindBackend(),
      mirrorZones: [...RIG_ZONES],
    });
    const url = await proxy.start();
    const name = `route53-credentials-${id}`;
    return {
      code: "route53",
      zone: "example.test",
      env: { [ROUTE53_API_URL_ENV]: url },
      solver: {
        route53: {
          region: "us-east-1",
          accessKeyIDSecretRef: { name, key: "access-key-id" },
          secretAccessKeySecretRef: { name, key: "secret-access-key" },
        },
      },
      prepare: () => Promise.resolve(),
      secrets: () => [
        {
          name,
          stringData: { "access-key-id": keys.accessKeyId, "secret-access-key": keys.secretAccessKey },
        },
      ],
      credentials: () => [{ what: "route53 secret access key", value: keys.secretAccessKey }],
      wrongSecrets: () => {
        // The right key ID with a wrong secret: AWS (and moto) answer SignatureDoesNotMatch.
        const wrong = randomBytes(30).toString("base64").slice(0, 40);
        return {
          secrets: [{ name, stringData: { "access-key-id": keys.accessKeyId, "secret-access-key": wrong } }],
          values: [{ what: "wrong route53 secret access key", value: wrong }],
        };
      },
      calls: () => proxy.counts(),
      resetCalls: () => {
        proxy.resetCounts();
      },
      held: (domain) => {
        const zone = RIG_ZONES.find((z) => domain.endsWith(`.${z}`)) ?? "";
        return txtValues(moto.url, zoneIds.get(zone) ?? "", challengeName(domain), keys);
      },
      deletesOnCleanUp: true,
      stop: async () => {
        await proxy.stop();
        await moto.stop();
      },
    };
  } catch (err) {
    await moto.stop();
    throw err;
  }
}

async function cloudDNS(id: string): Promise<ProviderUnderTest> {
  const project = `dns01-e2e-${id}`;
  const emulator = new CloudDnsEmulator({ backend: bindBackend() });
  const url = await emulator.start();
  const zoneNames = new Map<string, string>();
  for (const zone of RIG_ZONES) {
    const zoneName = zone.replace(/\./g, "-");
    emulator.addZone({ project, name: zoneName, dnsName: `${zone}.` });
    zoneNames.set(zone, zoneName);
  }
  const sa = generateServiceAccountKey({
    email: `dns01@${project}.iam.gserviceaccount.com`,
    project,
    tokenUri: emulator.tokenUri,
  });
  emulator.addServiceAccount({
    email: sa.key.client_email,
    publicKeyPem: sa.publicKeyPem,
    projects: [project],
  });
  const name = `clouddns-key-${id}`;
  return {
    code: "cloudDNS",
    zone: "second.test",
    env: { [CLOUD_DNS_API_URL_ENV]: url },
    solver: { cloudDNS: { project, serviceAccountSecretRef: { name, key: "key.json" } } },
    prepare: () => Promise.resolve(),
    secrets: () => [{ name, stringData: { "key.json": sa.json } }],
    credentials: () =>
      pemBodyLines(sa.key.private_key).map((line, i) => ({
        what: `cloudDNS service account private key (line ${String(i + 1)})`,
        value: line,
      })),
    wrongSecrets: () => {
      // A key of the same service account that the emulator does not know (deleted, or never made).
      const wrong = generateServiceAccountKey({
        email: sa.key.client_email,
        project,
        tokenUri: emulator.tokenUri,
      });
      return {
        secrets: [{ name, stringData: { "key.json": wrong.json } }],
        values: pemBodyLines(wrong.key.private_key).map((line, i) => ({
          what: `wrong cloudDNS service account private key (line ${String(i + 1)})`,
          value: line,
        })),
      };
    },
    calls: () => emulator.calls(),
    resetCalls: () => {
      emulator.resetCalls();
    },
    held: (domain) => {
      const zone = RIG_ZONES.find((z) => domain.endsWith(`.${z}`)) ?? "";
      return Promise.resolve(emulator.txtValues(zoneNames.get(zone) ?? "", challengeName(domain)));
    },
    deletesOnCleanUp: true,
    stop: () => emulator.stop(),
  };
}

async function azureDNS(id: string): Promise<ProviderUnderTest> {
  const subscription = randomUUID();
  const tenant = randomUUID();
  const clientId = randomUUID();
  const clientSecret = `${id}~${secret(30)}`;
  const emulator = new AzureDnsEmulator({ backend: bindBackend() });
  const url = await emulator.start();
  const dir = mkdtempSync(join(tmpdir(), "dns01-e2e-azure-"));
  const caFile = join(dir, "ca.pem");
  writeFileSync(caFile, emulator.caPem);
  for (const zone of RIG_ZONES) emulator.addZone({ subscription, resourceGroup: "dns", name: zone });
  emulator.addServicePrincipal({
    tenant,
    clientId,
    secrets: [clientSecret],
    // DNS Zone Contributor on the resource group: both zones, and the zone is found through DNS.
    scopes: [`/subscriptions/${subscription}/resourceGroups/dns`],
  });
  const name = `azuredns-sp-${id}`;
  return {
    code: "azureDNS",
    zone: "example.test",
    env: {
      [AZURE_DNS_API_URL_ENV]: url,
      [AZURE_DNS_AUTHORITY_HOST_ENV]: url,
      [AZURE_DNS_CA_FILE_ENV]: caFile,
    },
    solver: {
      azureDNS: {
        subscriptionID: subscription,
        resourceGroupName: "dns",
        tenantID: tenant,
        clientID: clientId,
        clientSecretSecretRef: { name, key: "client-secret" },
      },
    },
    prepare: () => Promise.resolve(),
    ...oneKeySecret(
      name,
      "client-secret",
      "azureDNS client secret",
      clientSecret,
      () => `${id}~${secret(30)}`,
    ),
    calls: () => emulator.calls(),
    resetCalls: () => {
      emulator.resetCalls();
    },
    held: (domain) => {
      const zone = RIG_ZONES.find((z) => domain.endsWith(`.${z}`)) ?? "";
      const relative = `_acme-challenge.${domain.slice(0, -(zone.length + 1))}`;
      return Promise.resolve(emulator.txtValues(zone, relative));
    },
    deletesOnCleanUp: true,
    stop: async () => {
      await emulator.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * acme-dns: its zone is auth.second.test, and the certificate's names are in second.test too, so
 * that `_acme-challenge.<name>` → `<uuid>.auth.second.test` stays inside one BIND zone (the rig's
 * BIND follows that CNAME whatever its recursion settings). Each domain gets its own account.
 */
async function acmeDNS(id: string): Promise<ProviderUnderTest> {
  const backend = bindBackend();
  const emulator = new AcmeDnsEmulator({ domain: "auth.second.test", backendZone: "second.test", backend });
  const url = await emulator.start();
  const accounts: Record<string, AcmeDnsRegistration> = {};
  const name = `acme-dns-${id}`;
  return {
    code: "acmeDNS",
    zone: "second.test",
    env: {},
    solver: {
      cnameStrategy: "Follow",
      acmeDNS: { host: url, accountSecretRef: { name, key: "acmedns.json" } },
    },
    async prepare(domain) {
      const account = emulator.register();
      accounts[domain] = account;
      await delegate(domain, account.fulldomain, "second.test");
    },
    secrets: () => [{ name, stringData: { "acmedns.json": JSON.stringify(accounts) } }],
    credentials: () =>
      Object.entries(accounts).map(([domain, a]) => ({
        what: `acmeDNS password of ${domain}`,
        value: a.password,
      })),
    wrongSecrets: () => {
      // The same accounts with passwords of the right form that acme-dns refuses.
      const wrong = Object.fromEntries(
        Object.entries(accounts).map(([domain, a]) => [domain, { ...a, password: secret(30).slice(0, 40) }]),
      );
      return {
        secrets: [{ name, stringData: { "acmedns.json": JSON.stringify(wrong) } }],
        values: Object.entries(wrong).map(([domain, a]) => ({
          what: `wrong acmeDNS password of ${domain}`,
          value: a.password,
        })),
      };
    },
    calls: () => emulator.calls,
    resetCalls: () => {
      emulator.resetCalls();
    },
    held: (domain) => {
      const account = accounts[domain];
      return Promise.resolve(account === undefined ? [] : emulator.values(account.subdomain));
    },
    deletesOnCleanUp: false,
    async stop() {
      // acme-dns has no delete: its last values stay, in BIND too. Take them out of the shared rig.
      for (const [domain, account] of Object.entries(accounts)) {
        for (const v of emulator.values(account.subdomain)) {
          await backend.remove(`${account.fulldomain}.`, "second.test.", v);
        }
        await undelegate(domain, account.fulldomain, "second.test");
      }
      await emulator.stop();
    },
  };
}

/** The webhook emulator, reached at the block's `url` with a bearer token from a Secret. */
async function webhook(id: string): Promise<ProviderUnderTest> {
  const token = secret();
  const emulator = new WebhookEmulator({ tokens: [token], backend: bindBackend() });
  const url = await emulator.start();
  const name = `webhook-token-${id}`;
  return {
    code: "webhook",
    zone: "example.test",
    env: {},
    solver: {
      webhook: {
        groupName: "acme.e2e.test",
        solverName: `emulator-${id}`,
        url,
        tokenSecretRef: { name, key: "token" },
        config: { ttl: 60 },
      },
    },
    prepare: () => Promise.resolve(),
    ...oneKeySecret(name, "token", "webhook bearer token", token, secret),
    ...recordNameEmulator(emulator),
  };
}

/** OVH with application keys whose consumer key may touch only the rig's zones' records. */
async function ovh(id: string): Promise<ProviderUnderTest> {
  const consumer = () => ({
    applicationKey: secret(12),
    applicationSecret: secret(24),
    consumerKey: secret(24),
  });
  const right = consumer();
  const rules = RIG_ZONES.flatMap((zone) =>
    ["GET", "POST", "DELETE"].map((method) => ({ method, path: `/domain/zone/${zone}/*` })),
  );
  const emulator = new OvhEmulator({
    consumers: [{ ...right, rules }],
    zones: [...RIG_ZONES],
    backend: bindBackend(),
  });
  await emulator.start();
  const name = `ovh-keys-${id}`;
  const data = (c: typeof right) => ({
    "application-key": c.applicationKey,
    "application-secret": c.applicationSecret,
    "consumer-key": c.consumerKey,
  });
  return {
    code: "ovh",
    zone: "second.test",
    env: { [OVH_API_URL_ENV]: emulator.apiUrl },
    solver: {
      ovh: {
        endpoint: "ovh-eu",
        applicationKeySecretRef: { name, key: "application-key" },
        applicationSecretSecretRef: { name, key: "application-secret" },
        consumerKeySecretRef: { name, key: "consumer-key" },
      },
    },
    prepare: () => Promise.resolve(),
    secrets: () => [{ name, stringData: data(right) }],
    credentials: () => [
      { what: "ovh application secret", value: right.applicationSecret },
      { what: "ovh consumer key", value: right.consumerKey },
    ],
    wrongSecrets: () => {
      // The right application and consumer key with a wrong secret: OVH answers Invalid signature.
      const bad = { ...right, applicationSecret: secret(24) };
      return {
        secrets: [{ name, stringData: data(bad) }],
        values: [{ what: "wrong ovh application secret", value: bad.applicationSecret }],
      };
    },
    ...recordNameEmulator(emulator),
  };
}

async function godaddy(id: string): Promise<ProviderUnderTest> {
  const key = secret(24);
  const apiSecret = secret(16);
  const emulator = new GoDaddyEmulator({
    keys: [{ key, secret: apiSecret }],
    domains: [...RIG_ZONES],
    backend: bindBackend(),
  });
  const url = await emulator.start();
  const name = `godaddy-api-${id}`;
  return {
    code: "godaddy",
    zone: "example.test",
    env: { [GODADDY_API_URL_ENV]: url },
    solver: {
      godaddy: {
        apiKeySecretRef: { name, key: "api-key" },
        apiSecretSecretRef: { name, key: "api-secret" },
      },
    },
    prepare: () => Promise.resolve(),
    secrets: () => [{ name, stringData: { "api-key": key, "api-secret": apiSecret } }],
    credentials: () => [{ what: "godaddy API secret", value: apiSecret }],
    wrongSecrets: () => {
      const bad = secret(16);
      return {
        secrets: [{ name, stringData: { "api-key": key, "api-secret": bad } }],
        values: [{ what: "wrong godaddy API secret", value: bad }],
      };
    },
    ...recordNameEmulator(emulator),
  };
}

async function namecheap(id: string): Promise<ProviderUnderTest> {
  const apiUser = `dns01e2e${id}`;
  const apiKey = randomBytes(16).toString("hex");
  const emulator = new NamecheapEmulator({
    users: [{ apiUser, apiKey }],
    domains: [...RIG_ZONES],
    backend: bindBackend(),
  });
  await emulator.start();
  const name = `namecheap-api-${id}`;
  return {
    code: "namecheap",
    zone: "second.test",
    env: { [NAMECHEAP_API_URL_ENV]: emulator.apiUrl },
    solver: { namecheap: { apiUser, clientIP: "127.0.0.1", apiKeySecretRef: { name, key: "api-key" } } },
    prepare: () => Promise.resolve(),
    ...oneKeySecret(name, "api-key", "namecheap API key", apiKey, () => randomBytes(16).toString("hex")),
    ...recordNameEmulator(emulator),
  };
}

const STARTERS: Readonly<Record<Dns01ProviderName, (id: string) => Promise<ProviderUnderTest>>> = {
  rfc2136,
  cloudflare,
  route53,
  cloudDNS,
  azureDNS,
  digitalocean,
  ovh,
  godaddy,
  namecheap,
  acmeDNS,
  webhook,
};

/** Whether the operator has the provider (its descriptor exists); e2e skips the others. */
export function isImplemented(code: Dns01ProviderName): boolean {
  return IMPLEMENTED_PROVIDERS.includes(code);
}

/**
 * Starts the given providers' emulators (all implemented ones by default). On a failure, the ones
 * already started are stopped before the error is thrown.
 */
export async function startProviders(
  codes: readonly Dns01ProviderName[] = IMPLEMENTED_PROVIDERS,
): Promise<ProviderUnderTest[]> {
  const id = randomBytes(3).toString("hex");
  const started: ProviderUnderTest[] = [];
  try {
    for (const code of codes) {
      if (!isImplemented(code)) throw new Error(`provider ${code} has no descriptor: nothing to test`);
      started.push(await STARTERS[code](id));
    }
  } catch (err) {
    await stopProviders(started);
    throw err;
  }
  return started;
}

/** Stops every provider, even when some fail to stop; rethrows the first failure. */
export async function stopProviders(providers: readonly ProviderUnderTest[]): Promise<void> {
  const results = await Promise.allSettled(providers.map((p) => p.stop()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
}

/** The environment variables of all the providers, for one operator process. */
export function operatorEnv(providers: readonly ProviderUnderTest[]): Record<string, string> {
  return Object.assign({}, ...providers.map((p) => p.env)) as Record<string, string>;
}

/** The Certificate label the operator copies onto its Orders and Challenges. */
export const CERTIFICATE_LABEL = "dns01.io/certificate-name";

/** An Issuer or ClusterIssuer of the rig's Pebble with these solvers (and optionally an EAB). */
export function pebbleIssuer(opts: {
  readonly kind: "Issuer" | "ClusterIssuer";
  readonly name: string;
  readonly namespace?: string;
  readonly solvers: readonly AcmeSolver[];
  readonly externalAccountBinding?: {
    readonly keyID: string;
    readonly secretName: string;
    readonly key: string;
  };
}): Obj {
  const eab = opts.externalAccountBinding;
  return {
    apiVersion: "dns01.io/v1alpha1",
    kind: opts.kind,
    metadata:
      opts.namespace === undefined ? { name: opts.name } : { name: opts.name, namespace: opts.namespace },
    spec: {
      acme: {
        server: rigVar("ACME_DIRECTORY_URL"),
        caBundle: readFileSync(rigVar("ACME_CA_FILE")).toString("base64"),
        privateKeySecretRef: { name: `${opts.name}-account-key` },
        ...(eab === undefined
          ? {}
          : {
              externalAccountBinding: {
                keyID: eab.keyID,
                keySecretRef: { name: eab.secretName, key: eab.key },
              },
            }),
        solvers: opts.solvers,
      },
    },
  };
}

/** A Certificate for `dnsNames` from an issuer, with an ECDSA key, into Secret `<name>-tls`. */
export function certificateFor(
  namespace: string,
  name: string,
  dnsNames: readonly string[],
  issuerRef: { readonly kind: "Issuer" | "ClusterIssuer"; readonly name: string },
): Obj {
  return {
    apiVersion: "dns01.io/v1alpha1",
    kind: "Certificate",
    metadata: { name, namespace },
    spec: {
      secretName: `${name}-tls`,
      issuerRef,
      dnsNames,
      privateKey: { algorithm: "ECDSA", size: 256 },
    },
  };
}

/** Creates the Secrets, or replaces their data when they exist (acme-dns's grows per domain). */
export async function applySecrets(
  c: TestClients,
  namespace: string,
  secrets: readonly SecretToCreate[],
): Promise<void> {
  for (const s of secrets) {
    const body = { metadata: { name: s.name, namespace }, stringData: s.stringData };
    try {
      await c.core.createNamespacedSecret({ namespace, body });
    } catch (err) {
      if (!apiErrorMessage(err).includes("already exists")) throw err;
      await c.core.replaceNamespacedSecret({ name: s.name, namespace, body });
    }
  }
}

/**
 * Checks the issued Secret: exactly the names asked for, a key that belongs to the certificate, and
 * a chain to Pebble's root.
 */
export async function expectIssuedSecret(
  c: TestClients,
  namespace: string,
  name: string,
  dnsNames: readonly string[],
): Promise<void> {
  const secret = await c.core.readNamespacedSecret({ name: `${name}-tls`, namespace });
  const data = secret.data ?? {};
  const crt = Buffer.from(data["tls.crt"] ?? "", "base64").toString("utf8");
  const key = Buffer.from(data["tls.key"] ?? "", "base64").toString("utf8");
  const names = certificateInfo(crt).dnsNames.sort();
  if (names.join(",") !== [...dnsNames].sort().join(",")) {
    throw new Error(
      `certificate ${namespace}/${name} names ${names.join(", ")}, wanted ${dnsNames.join(", ")}`,
    );
  }
  if (!publicKeyMatches(crt, key)) throw new Error(`the key in ${namespace}/${name}-tls does not match`);
  const verdict = verifyChain(parseCertificateChain(crt).chainPem, await pebbleRoot());
  if (!verdict.valid)
    throw new Error(`the chain of ${namespace}/${name} does not verify: ${JSON.stringify(verdict)}`);
}

/** The Challenges of one Certificate, as plain objects. */
export async function challengesOf(c: TestClients, namespace: string, certificate: string): Promise<Obj[]> {
  const list = (await c.custom.listNamespacedCustomObject({
    group: "dns01.io",
    version: "v1alpha1",
    plural: "challenges",
    namespace,
    labelSelector: `${CERTIFICATE_LABEL}=${certificate}`,
  })) as { items: Obj[] };
  return list.items;
}

/** Waits until the operator has deleted a Certificate's Challenges (every TXT value cleaned up). */
export async function waitForChallengesGone(
  c: TestClients,
  namespace: string,
  certificate: string,
): Promise<void> {
  await waitFor(
    `the Challenges of ${namespace}/${certificate} to be deleted`,
    async () => ((await challengesOf(c, namespace, certificate)).length === 0 ? true : undefined),
    60_000,
    250,
  );
}

/**
 * Deletes the Certificates, Orders and Challenges left in a namespace (a test that failed midway)
 * and waits, up to `timeoutMs`, for the running operator to clean up the Challenges' TXT values and
 * remove its finalizer. Call before stopping the operator: the rig has no garbage collector.
 */
export async function cleanUpChallenges(
  c: TestClients,
  namespace: string,
  timeoutMs = 30_000,
): Promise<void> {
  const coords = (plural: string) => ({ group: "dns01.io", version: "v1alpha1", plural, namespace });
  // Certificates and Orders first, so that no Order makes new Challenges meanwhile.
  for (const plural of ["certificates", "orders", "challenges"]) {
    await c.custom.deleteCollectionNamespacedCustomObject(coords(plural));
  }
  await waitFor(
    `the operator to clean up the Challenges left in ${namespace}`,
    async () => {
      const list = (await c.custom.listNamespacedCustomObject(coords("challenges"))) as { items: unknown[] };
      return list.items.length === 0 ? true : undefined;
    },
    timeoutMs,
    250,
  );
}

/** What a Certificate and its Challenges say right now, for a failure message. */
export async function describeIssuance(c: TestClients, namespace: string, name: string): Promise<string> {
  const cert = await getCustom(c, "certificates", name, namespace);
  const status = cert?.["status"] as
    { conditions?: { type: string; status: string; message?: string }[] } | undefined;
  const conditions = (status?.conditions ?? [])
    .map((k) => `${k.type}=${k.status}: ${k.message ?? ""}`)
    .join("; ");
  const challenges = (await challengesOf(c, namespace, name)).map((ch) => {
    const st = ch["status"] as { state?: string; reason?: string } | undefined;
    return `${ch.metadata.name} ${st?.state ?? "new"}: ${st?.reason ?? ""}`;
  });
  return `Certificate ${namespace}/${name}: ${conditions || "no conditions"}; Challenges: ${challenges.join("; ") || "none"}`;
}

/**
 * Waits for a Certificate to be Ready; on timeout the error says what the Certificate and its
 * Challenges said last, so that a failure in a run of many providers names its cause.
 */
export async function waitForIssued(
  c: TestClients,
  namespace: string,
  name: string,
  timeoutMs: number,
): Promise<void> {
  try {
    await waitForReadyCertificate(c, namespace, name, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${await describeIssuance(c, namespace, name)}`, {
      cause: err,
    });
  }
}

/**
 * Creates an Issuer or ClusterIssuer and checks that the apiserver kept its solvers as sent: a rig
 * whose CRDs are older than deploy/crds prunes newer fields (webhook `url`, `tokenSecretRef`)
 * without an error, and the test would then fail far from the cause.
 */
export async function createIssuer(c: TestClients, issuer: Obj): Promise<void> {
  await createObject(c, issuer);
  const stored = await getCustom(
    c,
    issuer["kind"] === "ClusterIssuer" ? "clusterissuers" : "issuers",
    issuer.metadata.name,
    issuer.metadata.namespace,
  );
  const solvers = (o: Obj | undefined): unknown =>
    (o?.["spec"] as { acme?: { solvers?: unknown } } | undefined)?.acme?.solvers;
  if (!isDeepStrictEqual(solvers(stored), solvers(issuer))) {
    throw new Error(
      `the apiserver dropped fields of ${issuer.metadata.name}'s solvers (sent ${JSON.stringify(solvers(issuer))}, ` +
        `stored ${JSON.stringify(solvers(stored))}): the rig's CRDs are older than deploy/crds; apply them ` +
        "(kubectl apply --server-side -f deploy/crds/, or hack/rig.sh up)",
    );
  }
}
