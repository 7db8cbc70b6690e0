import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TemporaryError, TerminalError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { createAzureDnsSolver, type AzureDnsConfig } from "../../src/solvers/azuredns/azuredns.js";
import {
  AZURE_DNS_API_URL_ENV,
  AZURE_DNS_AUTHORITY_HOST_ENV,
  AZURE_DNS_CA_FILE_ENV,
  descriptor,
} from "../../src/solvers/azuredns/descriptor.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { RateLimits } from "../../src/solvers/limits.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../../src/solvers/types.js";
import { AzureDnsEmulator } from "../emulators/azuredns/emulator.js";

const SUB = "6f1a2b3c-0000-4000-8000-0000000000aa";
const TENANT = "0e3c1c6a-0000-4000-8000-0000000000bb";
const RG = "dns";
const ZONE = "example.test";
const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });
const value = () => randomBytes(32).toString("base64url");
const label = () => `_acme-challenge.a${randomBytes(4).toString("hex")}`;
const record = (zone = "example.test."): TxtRecord => ({ fqdn: `${label()}.${zone}`, zone, value: value() });
const relative = (r: TxtRecord) => r.fqdn.slice(0, -`.${ZONE}.`.length);

class Clock {
  t = 1_000_000;
  now = () => this.t;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

const ENV = [
  AZURE_DNS_API_URL_ENV,
  AZURE_DNS_AUTHORITY_HOST_ENV,
  AZURE_DNS_CA_FILE_ENV,
  "AZURE_FEDERATED_TOKEN_FILE",
  "AZURE_TENANT_ID",
  "AZURE_CLIENT_ID",
  "AZURE_AUTHORITY_HOST",
];
const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
const restoreEnv = () => {
  for (const k of ENV) {
    if (saved[k] === undefined) Reflect.deleteProperty(process.env, k);
    else process.env[k] = saved[k];
  }
};

describe("azureDNS against the Azure DNS emulator", () => {
  const emulator = new AzureDnsEmulator();
  const dir = mkdtempSync(join(tmpdir(), "azuredns-test-"));
  let clock: Clock;
  let limits: RateLimits;

  /** A new app with a secret and DNS Zone Contributor on the zone, so that no client state is shared. */
  const principal = (scopes = [emulator.zoneScope(SUB, RG, ZONE)]) => {
    const clientId = randomUUID();
    const secret = randomBytes(24).toString("base64url");
    emulator.addServicePrincipal({ tenant: TENANT, clientId, secrets: [secret], scopes });
    return { clientId, secret };
  };
  const config = (
    p: { clientId: string; secret: string },
    extra: Partial<AzureDnsConfig> = {},
  ): AzureDnsConfig => ({
    subscriptionID: SUB,
    resourceGroupName: RG,
    credential: { kind: "clientSecret", tenantID: TENANT, clientID: p.clientId, clientSecret: p.secret },
    endpoint: emulator.url,
    authorityHost: emulator.url,
    ...extra,
  });
  const solver = (
    p: { clientId: string; secret: string },
    extra: Partial<AzureDnsConfig> = {},
  ): Dns01Solver => createAzureDnsSolver(config(p, extra), { rateLimits: limits, caPem: emulator.caPem });
  const useDescriptorEnv = () => {
    writeFileSync(join(dir, "ca.pem"), emulator.caPem);
    process.env[AZURE_DNS_API_URL_ENV] = emulator.url;
    process.env[AZURE_DNS_AUTHORITY_HOST_ENV] = emulator.url;
    process.env[AZURE_DNS_CA_FILE_ENV] = join(dir, "ca.pem");
  };

  beforeAll(async () => {
    await emulator.start();
    emulator.addZone({ subscription: SUB, resourceGroup: RG, name: ZONE });
  });
  afterAll(async () => {
    await emulator.stop();
    rmSync(dir, { recursive: true, force: true });
    restoreEnv();
  });
  beforeEach(() => {
    clock = new Clock();
    limits = new RateLimits(clock.now);
    emulator.resetCalls();
    restoreEnv();
  });

  it("answers a 429 with a TemporaryError carrying Retry-After, without retrying, and succeeds once the wait is over", async () => {
    const s = solver(principal());
    const r = record();
    emulator.failNext({ status: 429, operation: "RecordSets_Get", retryAfterSeconds: 9 });
    const err = await rejection(s.present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as TemporaryError).retryAfterMs).toBe(9000);
    expect(emulator.calls("RecordSets_Get")).toBe(1);
    // The bucket is drained for the 9 s: an attempt before then makes no call.
    clock.t += 5000;
    await expect(s.present(r, ctx())).rejects.toThrow(/client-side rate limit/);
    expect(emulator.calls("RecordSets_Get")).toBe(1);
    clock.t += 4000 + 200;
    await s.present(r, ctx());
    expect(emulator.txtValues(ZONE, relative(r))).toEqual([r.value]);
    expect(emulator.calls()).toMatchObject({ RecordSets_Get: 2, RecordSets_CreateOrUpdate: 1 });
  });

  it("answers a 5xx with a TemporaryError after one call, and succeeds on the next attempt", async () => {
    const s = solver(principal());
    const r = record();
    emulator.failNext({ status: 503, operation: "RecordSets_CreateOrUpdate" });
    const err = await rejection(s.present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as Error).message).toBe(
      "azureDNS: failed to create TXT record: 503 ServiceUnavailable: The service is currently unavailable.",
    );
    expect(emulator.calls("RecordSets_CreateOrUpdate")).toBe(1);
    await s.present(r, ctx());
    expect(emulator.txtValues(ZONE, relative(r))).toEqual([r.value]);
    expect(emulator.calls("RecordSets_CreateOrUpdate")).toBe(2);
  });

  it("turns a 403 into InvalidCredentials with ARM's message, after exactly one request", async () => {
    // An app with the role on another zone only: ARM's own AuthorizationFailed.
    const s = solver(principal([emulator.zoneScope(SUB, RG, "other.test")]));
    const err = await rejection(s.present(record(), ctx()));
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect((err as Error).message).toMatch(
      /^azureDNS: failed to read TXT record: 403 AuthorizationFailed: The client '[0-9a-f-]+' with object id '[0-9a-f-]+' does not have authorization to perform action 'Microsoft\.Network\/dnszones\/TXT\/read'/,
    );
    expect(emulator.calls()).toEqual({ openidConfiguration: 1, token: 1, RecordSets_Get: 1 });
  });

  it("gives InvalidCredentials with Entra ID's message for a wrong client secret, after one token request", async () => {
    const p = principal();
    const err = await rejection(solver({ ...p, secret: "not-the-secret" }).present(record(), ctx()));
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect((err as Error).message).toMatch(
      /^azureDNS: failed to read TXT record: Microsoft Entra ID refused the credentials: invalid_client: AADSTS7000215: Invalid client secret provided\./,
    );
    expect((err as Error).message).not.toContain("not-the-secret");
    expect(emulator.calls()).toEqual({ openidConfiguration: 1, token: 1 });
  });

  it("gives a TemporaryError when Entra ID fails with a 5xx, without retrying", async () => {
    emulator.failNext({ status: 503, operation: "token" });
    const err = await rejection(solver(principal()).present(record(), ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as Error).message).toMatch(/cannot get an access token/);
    expect(emulator.calls("token")).toBe(1);
  });

  it("reports ZoneNotFound for a missing zone and a missing resource group", async () => {
    const p = principal([`/subscriptions/${SUB}`]);
    const zoneErr = await rejection(solver(p).present(record("nozone.test."), ctx()));
    expect((zoneErr as TerminalError).reason).toBe("ZoneNotFound");
    expect((zoneErr as Error).message).toMatch(
      /ParentResourceNotFound: .*Parent resource 'nozone\.test' not found/,
    );
    const rgErr = await rejection(solver(p, { resourceGroupName: "nope" }).present(record(), ctx()));
    expect((rgErr as TerminalError).reason).toBe("ZoneNotFound");
    expect((rgErr as Error).message).toMatch(
      /ResourceGroupNotFound: Resource group 'nope' could not be found/,
    );
  });

  it("ends two concurrent presents at one name with both values, one write after the other", async () => {
    const p = principal();
    // Two solvers, as two challenges build them; they share the client and its per-name order.
    const cfg = config(p);
    const a = record();
    const b = { ...a, value: value() };
    const [s1, s2] = [
      createAzureDnsSolver(cfg, { caPem: emulator.caPem }),
      createAzureDnsSolver(cfg, { caPem: emulator.caPem }),
    ];
    await Promise.all([s1.present(a, ctx()), s2.present(b, ctx())]);
    expect(emulator.txtValues(ZONE, relative(a)).sort()).toEqual([a.value, b.value].sort());
    const writes = emulator.log
      .filter((l) => l.operation === "RecordSets_CreateOrUpdate")
      .map((l) => l.status);
    expect(writes).toEqual([201, 200]);
  });

  it("re-reads and retries once on 412 when another writer changed the record set, keeping its value", async () => {
    const s = solver(principal());
    const r = record();
    const foreign = value();
    await emulator.putTxt(ZONE, relative(r), ["first"]);
    emulator.beforeNextWrite(() => emulator.putTxt(ZONE, relative(r), ["first", foreign], 300));
    await s.present(r, ctx());
    expect(emulator.txtValues(ZONE, relative(r)).sort()).toEqual(["first", foreign, r.value].sort());
    expect(
      emulator.log.filter((l) => l.operation === "RecordSets_CreateOrUpdate").map((l) => l.status),
    ).toEqual([412, 200]);
    expect(emulator.recordSet(ZONE, relative(r))?.ttl).toBe(300);
    emulator.beforeNextWrite(() => emulator.putTxt(ZONE, relative(r), [foreign, r.value], 300));
    await s.cleanUp(r, ctx());
    expect(emulator.txtValues(ZONE, relative(r))).toEqual([foreign]);
  });

  it("re-reads when the record set it was about to create appeared meanwhile (If-None-Match)", async () => {
    const s = solver(principal());
    const r = record();
    emulator.beforeNextWrite(() => emulator.putTxt(ZONE, relative(r), ["other"]));
    await s.present(r, ctx());
    expect(emulator.txtValues(ZONE, relative(r)).sort()).toEqual(["other", r.value].sort());
  });

  it("deletes the record set with If-Match when the last value goes, and leaves a foreign record set alone", async () => {
    const s = solver(principal());
    const r = record();
    await s.present(r, ctx());
    emulator.beforeNextWrite(() => emulator.putTxt(ZONE, relative(r), [r.value, "late"]));
    await s.cleanUp(r, ctx());
    expect(emulator.txtValues(ZONE, relative(r))).toEqual(["late"]);
    expect(
      emulator.log.filter((l) => l.operation !== "RecordSets_Get").map((l) => `${l.operation} ${l.status}`),
    ).toEqual([
      "openidConfiguration 200",
      "token 200",
      "RecordSets_CreateOrUpdate 201",
      "RecordSets_Delete 412",
      "RecordSets_CreateOrUpdate 200",
    ]);
  });

  it("gives a TemporaryError, not a loop, when the record set changes under it twice in a row", async () => {
    const s = solver(principal());
    const r = record();
    emulator.beforeNextWrite(async () => {
      await emulator.putTxt(ZONE, relative(r), ["one"]);
      emulator.beforeNextWrite(() => emulator.putTxt(ZONE, relative(r), ["two"]));
    });
    const err = await rejection(s.present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as Error).message).toMatch(/changed while it was being updated, twice in a row/);
    expect(emulator.calls("RecordSets_CreateOrUpdate")).toBe(2);
  });

  it("reports QuotaExceeded when the record set would hold more records than Azure DNS allows", async () => {
    const small = new AzureDnsEmulator({ maxRecordsPerRecordSet: 2 });
    await small.start();
    try {
      small.addZone({ subscription: SUB, resourceGroup: RG, name: ZONE });
      small.addServicePrincipal({
        tenant: TENANT,
        clientId: "q",
        secrets: ["s"],
        scopes: [`/subscriptions/${SUB}`],
      });
      const s = createAzureDnsSolver(
        {
          subscriptionID: SUB,
          resourceGroupName: RG,
          credential: { kind: "clientSecret", tenantID: TENANT, clientID: "q", clientSecret: "s" },
          endpoint: small.url,
          authorityHost: small.url,
        },
        { rateLimits: limits, caPem: small.caPem },
      );
      const r = record();
      await s.present(r, ctx());
      await s.present({ ...r, value: value() }, ctx());
      const err = await rejection(s.present({ ...r, value: value() }, ctx()));
      expect((err as TerminalError).reason).toBe("QuotaExceeded");
      expect((err as Error).message).toMatch(/limit is 2 records per record set/);
    } finally {
      await small.stop();
    }
  });

  it("uses a rotated client secret on the next create, without a restart", async () => {
    useDescriptorEnv();
    const p = principal();
    const secrets = new Map([["certs/azure", { "client-secret": p.secret }]]);
    const reader = memorySecretReader(secrets);
    const block = {
      subscriptionID: SUB,
      resourceGroupName: RG,
      tenantID: TENANT,
      clientID: p.clientId,
      clientSecretSecretRef: { name: "azure", key: "client-secret" },
    };
    const build = () =>
      descriptor.create(block, { secretNamespace: "certs", secrets: reader, clusterScoped: false });
    const r = record();
    await (await build()).present(r, ctx());
    // Rotation: a new secret in the app and the Secret; the old one removed from the app.
    const next = randomBytes(24).toString("base64url");
    emulator.addSecret(p.clientId, next);
    emulator.removeSecret(p.clientId, p.secret);
    secrets.set("certs/azure", { "client-secret": next });
    emulator.resetCalls();
    await (await build()).cleanUp(r, ctx());
    expect(emulator.txtValues(ZONE, relative(r))).toEqual([]);
    // A new credential asked Entra ID for a token with the new secret (the old one would be refused).
    expect(emulator.log.filter((l) => l.operation === "token")).toEqual([
      { operation: "token", status: 200 },
    ]);
    expect(reader.reads.length).toBe(2);
  });

  it("counts the API calls of one apex + wildcard certificate", async () => {
    useDescriptorEnv();
    const p = principal();
    const reader = memorySecretReader(new Map([["certs/azure", { "client-secret": p.secret }]]));
    const block = {
      subscriptionID: SUB,
      resourceGroupName: RG,
      hostedZoneName: ZONE,
      tenantID: TENANT,
      clientID: p.clientId,
      clientSecretSecretRef: { name: "azure", key: "client-secret" },
    };
    const build = () =>
      descriptor.create(block, { secretNamespace: "certs", secrets: reader, clusterScoped: false });
    const apex = record();
    const wildcard = { ...apex, value: value() };
    await Promise.all([(await build()).present(apex, ctx()), (await build()).present(wildcard, ctx())]);
    expect(emulator.txtValues(ZONE, relative(apex)).sort()).toEqual([apex.value, wildcard.value].sort());
    await Promise.all([(await build()).cleanUp(apex, ctx()), (await build()).cleanUp(wildcard, ctx())]);
    expect(emulator.recordSet(ZONE, relative(apex))).toBeUndefined();
    expect(emulator.calls()).toEqual({
      openidConfiguration: 1,
      token: 1,
      RecordSets_Get: 4,
      RecordSets_CreateOrUpdate: 3,
      RecordSets_Delete: 1,
    });
  });

  it("authenticates a ClusterIssuer's managedIdentity through AKS workload identity", async () => {
    useDescriptorEnv();
    const clientId = randomUUID();
    const federated = `eyJhbGciOiJSUzI1NiJ9.${randomBytes(24).toString("base64url")}.sig`;
    emulator.addServicePrincipal({
      tenant: TENANT,
      clientId,
      federatedTokens: [federated],
      scopes: [emulator.zoneScope(SUB, RG, ZONE)],
    });
    writeFileSync(join(dir, "token"), federated);
    process.env["AZURE_FEDERATED_TOKEN_FILE"] = join(dir, "token");
    process.env["AZURE_TENANT_ID"] = TENANT;
    process.env["AZURE_CLIENT_ID"] = clientId;
    const s = await descriptor.create(
      { subscriptionID: SUB, resourceGroupName: RG, managedIdentity: {} },
      { secretNamespace: "cert-manager", secrets: memorySecretReader(new Map()), clusterScoped: true },
    );
    const r = record();
    await s.present(r, ctx());
    expect(emulator.txtValues(ZONE, relative(r))).toEqual([r.value]);
    expect(emulator.log.find((l) => l.operation === "RecordSets_CreateOrUpdate")?.clientId).toBe(clientId);
    await s.cleanUp(r, ctx());
  });
});

describe("azureDNS configuration", () => {
  const ctxFor = (clusterScoped: boolean) => ({
    secretNamespace: "ns",
    secrets: memorySecretReader(new Map([["ns/sp", { secret: "x" }]])),
    clusterScoped,
  });
  const sp = { tenantID: "t", clientID: "c", clientSecretSecretRef: { name: "sp", key: "secret" } };

  it("refuses a managed identity for an Issuer: it is an ambient credential", async () => {
    const err = await rejection(
      descriptor.create({ subscriptionID: "s", resourceGroupName: "rg" }, ctxFor(false)),
    );
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
    expect((err as Error).message).toMatch(/only used by ClusterIssuers/);
  });

  it("refuses AzureGermanCloud, which Microsoft closed", async () => {
    const err = await rejection(
      descriptor.create(
        { subscriptionID: "s", resourceGroupName: "rg", environment: "AzureGermanCloud", ...sp },
        ctxFor(false),
      ),
    );
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
    expect((err as Error).message).toMatch(/AzureGermanCloud no longer exists/);
  });

  it("refuses a partial service principal", async () => {
    const err = await rejection(
      descriptor.create(
        { subscriptionID: "s", resourceGroupName: "rg", clientID: "c", tenantID: "t" },
        ctxFor(true),
      ),
    );
    expect((err as Error).message).toBe(
      "azureDNS: clientID, clientSecretSecretRef and tenantID must be set together",
    );
  });

  it("refuses a record outside hostedZoneName before any call", async () => {
    const s = await descriptor.create(
      { subscriptionID: "s", resourceGroupName: "rg", hostedZoneName: "example.com", ...sp },
      ctxFor(false),
    );
    const err = await rejection(
      s.present({ fqdn: "_acme-challenge.example.org.", zone: "example.org.", value: "v" }, ctx()),
    );
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
    expect((err as Error).message).toBe(
      "azureDNS: _acme-challenge.example.org. is not in the zone example.com (hostedZoneName)",
    );
  });

  it("names the Secret and key when the key is missing", async () => {
    const err = await rejection(
      descriptor.create(
        {
          subscriptionID: "s",
          resourceGroupName: "rg",
          ...sp,
          clientSecretSecretRef: { name: "sp", key: "nope" },
        },
        ctxFor(false),
      ),
    );
    expect((err as TerminalError).reason).toBe("SecretKeyNotFound");
    expect((err as Error).message).toMatch(
      /^azureDNS: clientSecretSecretRef: Secret ns\/sp has no key "nope"/,
    );
  });
});
