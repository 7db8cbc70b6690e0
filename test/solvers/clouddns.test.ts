import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { TemporaryError, TerminalError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { createCloudDnsSolver, type CloudDnsConfig } from "../../src/solvers/clouddns/clouddns.js";
import { CLOUD_DNS_API_URL_ENV, descriptor } from "../../src/solvers/clouddns/descriptor.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { RateLimits } from "../../src/solvers/limits.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../../src/solvers/types.js";
import { CloudDnsEmulator } from "../emulators/clouddns/emulator.js";
import {
  generateServiceAccountKey,
  type GeneratedServiceAccount,
} from "../emulators/clouddns/service-account.js";

const PROJECT = "dns01-faults";
const ZONE = "example-test";
const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });
const value = () => randomBytes(32).toString("base64url");
const record = (zone = "example.test."): TxtRecord => ({
  fqdn: `_acme-challenge.f${randomBytes(4).toString("hex")}.${zone}`,
  zone,
  value: value(),
});

/** A clock the rate limiter reads, moved by hand. */
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

describe("cloudDNS against the Cloud DNS emulator", () => {
  const emulator = new CloudDnsEmulator();
  let clock: Clock;
  let limits: RateLimits;

  /** A new service account with rights on the project, so that no client state is shared. */
  const account = (): GeneratedServiceAccount => {
    const sa = generateServiceAccountKey({
      email: `sa-${randomBytes(3).toString("hex")}@${PROJECT}.iam.gserviceaccount.com`,
      project: PROJECT,
      tokenUri: emulator.tokenUri,
    });
    emulator.addServiceAccount({
      email: sa.key.client_email,
      publicKeyPem: sa.publicKeyPem,
      projects: [PROJECT],
    });
    return sa;
  };
  const solver = (sa: GeneratedServiceAccount, extra: Partial<CloudDnsConfig> = {}): Dns01Solver =>
    createCloudDnsSolver(
      { project: PROJECT, serviceAccountKey: sa.json, endpoint: emulator.url, ...extra },
      { rateLimits: limits },
    );

  beforeAll(async () => {
    await emulator.start();
    emulator.addZone({ project: PROJECT, name: ZONE, dnsName: "example.test." });
  });
  afterAll(() => emulator.stop());
  beforeEach(() => {
    clock = new Clock();
    limits = new RateLimits(clock.now);
    emulator.resetCalls();
  });

  it("answers a 429 with a TemporaryError carrying Retry-After, without retrying, and succeeds once the wait is over", async () => {
    const s = solver(account());
    const r = record();
    emulator.failNext({ status: 429, operation: "resourceRecordSets.list", retryAfterSeconds: 7 });
    const err = await rejection(s.present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as TemporaryError).retryAfterMs).toBe(7000);
    expect(emulator.calls("resourceRecordSets.list")).toBe(1);
    // The account's bucket is drained for the 7 s: an attempt before then makes no call at all.
    clock.t += 3000;
    await expect(s.present(r, ctx())).rejects.toThrow(/client-side rate limit/);
    expect(emulator.calls("resourceRecordSets.list")).toBe(1);
    // Drained means empty at the end of the wait; the read and the change take two more tokens
    // (2/5 s), reserved together so that the read can never use up what the change needs.
    clock.t += 4200;
    await expect(s.present(r, ctx())).rejects.toThrow(/client-side rate limit/);
    expect(emulator.calls("resourceRecordSets.list")).toBe(1);
    clock.t += 200;
    await s.present(r, ctx());
    expect(emulator.txtValues(ZONE, r.fqdn)).toEqual([r.value]);
    expect(emulator.calls("resourceRecordSets.list")).toBe(2);
  });

  it("answers a 5xx with a TemporaryError after one call, and succeeds on the next attempt", async () => {
    const s = solver(account());
    const r = record();
    emulator.failNext({ status: 503, operation: "changes.create" });
    const err = await rejection(s.present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as Error).message).toMatch(
      /^cloudDNS: failed to change TXT records: 503 The service is currently unavailable/,
    );
    expect(emulator.calls("changes.create")).toBe(1);
    await s.present(r, ctx());
    expect(emulator.txtValues(ZONE, r.fqdn)).toEqual([r.value]);
    expect(emulator.calls("changes.create")).toBe(2);
  });

  it("turns a 403 into InvalidCredentials with Cloud DNS's message, after exactly one request", async () => {
    const s = solver(account());
    emulator.failNext({
      status: 403,
      operation: "managedZones.list",
      message: "Forbidden",
      reason: "forbidden",
    });
    const err = await rejection(s.present(record(), ctx()));
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect((err as Error).message).toBe("cloudDNS: failed to find the managed zone: 403 Forbidden");
    expect(emulator.calls()).toEqual({ token: 1, "managedZones.list": 1 });
  });

  it("gives InvalidCredentials for an account without rights on the project, with no retries", async () => {
    const sa = generateServiceAccountKey({
      email: `stranger@${PROJECT}.iam.gserviceaccount.com`,
      project: PROJECT,
      tokenUri: emulator.tokenUri,
    });
    emulator.addServiceAccount({
      email: sa.key.client_email,
      publicKeyPem: sa.publicKeyPem,
      projects: ["another"],
    });
    const err = await rejection(solver(sa).present(record(), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(emulator.calls()).toEqual({ token: 1, "managedZones.list": 1 });
  });

  it("gives InvalidCredentials with the token endpoint's message for a deleted key, after one token request", async () => {
    const sa = account();
    emulator.removeServiceAccount(sa.key.client_email);
    const err = await rejection(solver(sa).present(record(), ctx()));
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect((err as Error).message).toMatch(
      /token endpoint rejected the service account key: invalid_grant: Invalid grant: account not found/,
    );
    expect(emulator.calls()).toEqual({ token: 1 });
  });

  it("reports ZoneNotFound for a name no managed zone holds, and for a hostedZoneName that does not exist", async () => {
    const sa = account();
    const missing = await rejection(solver(sa).present(record("nowhere.test."), ctx()));
    expect((missing as TerminalError).reason).toBe("ZoneNotFound");
    expect((missing as Error).message).toMatch(
      /no public managed zone in project "dns01-faults" holds _acme-challenge\.f[0-9a-f]+\.nowhere\.test\./,
    );
    const named = await rejection(solver(sa, { hostedZoneName: "no-such-zone" }).present(record(), ctx()));
    expect((named as TerminalError).reason).toBe("ZoneNotFound");
    expect((named as Error).message).toMatch(/managed zone "no-such-zone" not found/);
  });

  it("finds the managed zone by suffix when none has exactly the challenge's zone as DNS name", async () => {
    const s = solver(account());
    const r = { ...record(), zone: "deep.example.test." };
    await s.present(r, ctx());
    expect(emulator.txtValues(ZONE, r.fqdn)).toEqual([r.value]);
    // One lookup by DNS name (nothing), one of every zone; the answer is cached after that.
    expect(emulator.calls("managedZones.list")).toBe(2);
    await s.cleanUp(r, ctx());
    expect(emulator.calls("managedZones.list")).toBe(2);
  });

  it("writes two concurrent presents at one name in one change that holds both values", async () => {
    const s = solver(account());
    const a = record();
    const b = { ...a, value: value() };
    await Promise.all([s.present(a, ctx()), s.present(b, ctx())]);
    expect(emulator.txtValues(ZONE, a.fqdn).sort()).toEqual([a.value, b.value].sort());
    expect(emulator.calls("changes.create")).toBe(1);
    expect(emulator.calls("resourceRecordSets.list")).toBe(1);
    await Promise.all([s.cleanUp(a, ctx()), s.cleanUp(b, ctx())]);
    expect(emulator.rrset(ZONE, a.fqdn)).toBeUndefined();
    expect(emulator.calls("changes.create")).toBe(2);
  });

  it("re-reads and retries once when another writer changed the record set in between, keeping its value", async () => {
    const s = solver(account());
    const r = record();
    const foreign = value();
    emulator.beforeNextChange(() =>
      emulator.putRrset(ZONE, { name: r.fqdn, type: "TXT", ttl: 300, rrdatas: [`"${foreign}"`] }),
    );
    await s.present(r, ctx());
    expect(emulator.txtValues(ZONE, r.fqdn).sort()).toEqual([foreign, r.value].sort());
    // The first change was refused (409: the set now exists), the second built on a fresh read.
    expect(emulator.log.filter((l) => l.operation === "changes.create").map((l) => l.status)).toEqual([
      409, 200,
    ]);
    expect(emulator.rrset(ZONE, r.fqdn)?.ttl).toBe(300);
    await s.cleanUp(r, ctx());
    expect(emulator.txtValues(ZONE, r.fqdn)).toEqual([foreign]);
  });

  it("keeps another value's rrdata exactly as it was, several strings included", async () => {
    const s = solver(account());
    const r = record();
    const foreign = '"v=first-part-of-a-long-value" "second-part"';
    await emulator.putRrset(ZONE, { name: r.fqdn, type: "TXT", ttl: 120, rrdatas: [foreign] });
    await s.present(r, ctx());
    expect(emulator.rrset(ZONE, r.fqdn)?.rrdatas).toEqual([foreign, `"${r.value}"`]);
    await s.cleanUp(r, ctx());
    expect(emulator.rrset(ZONE, r.fqdn)).toEqual({ name: r.fqdn, type: "TXT", ttl: 120, rrdatas: [foreign] });
  });

  it("gives a TemporaryError, not a loop, when the record set changes under it twice in a row", async () => {
    const s = solver(account());
    const r = record();
    emulator.beforeNextChange(async () => {
      await emulator.putRrset(ZONE, { name: r.fqdn, type: "TXT", ttl: 60, rrdatas: ['"one"'] });
      emulator.beforeNextChange(() =>
        emulator.putRrset(ZONE, { name: r.fqdn, type: "TXT", ttl: 60, rrdatas: ['"two"'] }),
      );
    });
    const err = await rejection(s.present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as Error).message).toMatch(/changed while it was being updated, twice in a row/);
    expect(emulator.calls("changes.create")).toBe(2);
  });

  it("reports QuotaExceeded when the record set would hold more records than Cloud DNS allows", async () => {
    const small = new CloudDnsEmulator({ maxRrdatasPerRrset: 2 });
    await small.start();
    try {
      small.addZone({ project: PROJECT, name: ZONE, dnsName: "example.test." });
      const sa = generateServiceAccountKey({
        email: `q@${PROJECT}.iam.gserviceaccount.com`,
        project: PROJECT,
        tokenUri: small.tokenUri,
      });
      small.addServiceAccount({
        email: sa.key.client_email,
        publicKeyPem: sa.publicKeyPem,
        projects: [PROJECT],
      });
      const s = createCloudDnsSolver(
        { project: PROJECT, serviceAccountKey: sa.json, endpoint: small.url },
        { rateLimits: limits },
      );
      const r = record();
      await s.present(r, ctx());
      await s.present({ ...r, value: value() }, ctx());
      const err = await rejection(s.present({ ...r, value: value() }, ctx()));
      expect((err as TerminalError).reason).toBe("QuotaExceeded");
      expect((err as Error).message).toMatch(/exceed quota for resource records per rrset/);
    } finally {
      await small.stop();
    }
  });

  it("uses a rotated key on the next create, without a restart", async () => {
    const first = account();
    const secrets = new Map([["certs/gcp", { "key.json": first.json }]]);
    const reader = memorySecretReader(secrets);
    const previous = process.env[CLOUD_DNS_API_URL_ENV];
    process.env[CLOUD_DNS_API_URL_ENV] = emulator.url;
    try {
      const block = { project: PROJECT, serviceAccountSecretRef: { name: "gcp", key: "key.json" } };
      const build = () =>
        descriptor.create(block, { secretNamespace: "certs", secrets: reader, clusterScoped: false });
      const r = record();
      await (await build()).present(r, ctx());
      // Rotation: a new key in the Secret, the old one deleted.
      const second = account();
      emulator.removeServiceAccount(first.key.client_email);
      secrets.set("certs/gcp", { "key.json": second.json });
      emulator.resetCalls();
      await (await build()).cleanUp(r, ctx());
      expect(emulator.txtValues(ZONE, r.fqdn)).toEqual([]);
      const accounts = new Set(emulator.log.flatMap((l) => (l.account === undefined ? [] : [l.account])));
      expect([...accounts]).toEqual([second.key.client_email]);
      expect(reader.reads.length).toBe(2);
    } finally {
      if (previous === undefined) Reflect.deleteProperty(process.env, CLOUD_DNS_API_URL_ENV);
      else process.env[CLOUD_DNS_API_URL_ENV] = previous;
    }
  });

  it("uses a ClusterIssuer's ambient credentials: the GKE metadata server's token (Workload Identity)", async () => {
    const sa = account();
    emulator.serveMetadataFor(sa.key.client_email);
    const saved = ["GCE_METADATA_HOST", "GOOGLE_APPLICATION_CREDENTIALS", CLOUD_DNS_API_URL_ENV].map(
      (k) => [k, process.env[k]] as const,
    );
    process.env["GCE_METADATA_HOST"] = emulator.url.replace(/^http:\/\//, "");
    Reflect.deleteProperty(process.env, "GOOGLE_APPLICATION_CREDENTIALS");
    process.env[CLOUD_DNS_API_URL_ENV] = emulator.url;
    try {
      const s = await descriptor.create(
        { project: PROJECT },
        { secretNamespace: "cert-manager", secrets: memorySecretReader(new Map()), clusterScoped: true },
      );
      const r = record();
      await s.present(r, ctx());
      expect(emulator.txtValues(ZONE, r.fqdn)).toEqual([r.value]);
      expect(emulator.calls("metadata.token")).toBe(1);
      expect(emulator.calls("token")).toBe(0);
      expect(
        new Set(emulator.log.filter((l) => l.operation === "changes.create").map((l) => l.account)),
      ).toEqual(new Set([sa.key.client_email]));
      await s.cleanUp(r, ctx());
    } finally {
      for (const [k, v] of saved) {
        if (v === undefined) Reflect.deleteProperty(process.env, k);
        else process.env[k] = v;
      }
    }
  });

  it("counts the API calls of one apex + wildcard certificate: one token, one zone lookup, two reads, two changes", async () => {
    const sa = account();
    const secrets = memorySecretReader(new Map([["certs/gcp", { "key.json": sa.json }]]));
    const previous = process.env[CLOUD_DNS_API_URL_ENV];
    process.env[CLOUD_DNS_API_URL_ENV] = emulator.url;
    try {
      const block = { project: PROJECT, serviceAccountSecretRef: { name: "gcp", key: "key.json" } };
      // Each challenge builds its own solver, as the Challenge controller does.
      const build = () =>
        descriptor.create(block, { secretNamespace: "certs", secrets, clusterScoped: false });
      const apex = record();
      const wildcard = { ...apex, value: value() };
      await Promise.all([(await build()).present(apex, ctx()), (await build()).present(wildcard, ctx())]);
      expect(emulator.txtValues(ZONE, apex.fqdn).sort()).toEqual([apex.value, wildcard.value].sort());
      await Promise.all([(await build()).cleanUp(apex, ctx()), (await build()).cleanUp(wildcard, ctx())]);
      expect(emulator.rrset(ZONE, apex.fqdn)).toBeUndefined();
      expect(emulator.calls()).toEqual({
        token: 1,
        "managedZones.list": 1,
        "resourceRecordSets.list": 2,
        "changes.create": 2,
      });
    } finally {
      if (previous === undefined) Reflect.deleteProperty(process.env, CLOUD_DNS_API_URL_ENV);
      else process.env[CLOUD_DNS_API_URL_ENV] = previous;
    }
  });
});

describe("cloudDNS configuration", () => {
  const secrets = (value: string) => memorySecretReader(new Map([["ns/gcp", { "key.json": value }]]));
  const block = { project: "p", serviceAccountSecretRef: { name: "gcp", key: "key.json" } };

  it("refuses a credential JSON that is not a service account key, without quoting it", async () => {
    const external = JSON.stringify({
      type: "external_account",
      audience: "//iam.googleapis.com/x",
      credential_source: { file: "/var/run/secrets/kubernetes.io/serviceaccount/token" },
      token_url: "https://attacker.example/token",
    });
    const err = await rejection(
      descriptor.create(block, { secretNamespace: "ns", secrets: secrets(external), clusterScoped: true }),
    );
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
    expect((err as Error).message).toBe(
      'cloudDNS: serviceAccountSecretRef: only service account keys are accepted (the JSON has type "external_account", expected "service_account")',
    );
  });

  it("refuses text that is not JSON without echoing any of it", async () => {
    const err = await rejection(
      descriptor.create(block, {
        secretNamespace: "ns",
        secrets: secrets("-----BEGIN PRIVATE KEY-----\nsecretstuff"),
        clusterScoped: false,
      }),
    );
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
    expect((err as Error).message).not.toMatch(/secretstuff|BEGIN/);
  });

  it("refuses a token_uri that would send the signed assertion in clear text", async () => {
    const sa = generateServiceAccountKey({
      email: "x@p.iam.gserviceaccount.com",
      project: "p",
      tokenUri: "http://token.example/token",
    });
    const err = await rejection(
      descriptor.create(block, { secretNamespace: "ns", secrets: secrets(sa.json), clusterScoped: false }),
    );
    expect((err as Error).message).toMatch(
      /token_uri of x@p\.iam\.gserviceaccount\.com must be an https URL/,
    );
  });

  it("requires serviceAccountSecretRef for an Issuer, and allows ambient credentials for a ClusterIssuer", async () => {
    const ambient = { project: "p" };
    const err = await rejection(
      descriptor.create(ambient, { secretNamespace: "ns", secrets: secrets(""), clusterScoped: false }),
    );
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
    expect((err as Error).message).toMatch(/ambient credentials are only used by ClusterIssuers/);
    await expect(
      descriptor.create(ambient, { secretNamespace: "ns", secrets: secrets(""), clusterScoped: true }),
    ).resolves.toBeDefined();
  });

  it("names the Secret and key when the Secret is missing", async () => {
    const err = await rejection(
      descriptor.create(block, {
        secretNamespace: "ns",
        secrets: memorySecretReader(new Map()),
        clusterScoped: false,
      }),
    );
    expect((err as TerminalError).reason).toBe("SecretNotFound");
    expect((err as Error).message).toMatch(/^cloudDNS: serviceAccountSecretRef: Secret ns\/gcp not found/);
  });
});
