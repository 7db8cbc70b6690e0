/**
 * The Route 53 provider against moto (server mode) behind the counting, fault-injecting proxy:
 * hosted zone discovery, the API calls of an apex + wildcard certificate, INSYNC waiting, faults
 * (Throttling, PriorRequestNotComplete, 5xx, AccessDenied) without retry storms, moto's own IAM
 * checks, AssumeRole, ambient credentials, and Secret rotation.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { TemporaryError, TerminalError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { RateLimits } from "../../src/solvers/limits.js";
import { AssumedRoleCache } from "../../src/solvers/route53/credentials.js";
import { descriptor, ROUTE53_API_URL_ENV } from "../../src/solvers/route53/descriptor.js";
import {
  createRoute53Solver,
  Route53Backend,
  type Route53SolverConfig,
  type Route53SolverDeps,
} from "../../src/solvers/route53/route53.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../../src/solvers/types.js";
import {
  createHostedZone,
  createIamRole,
  createIamUser,
  enforceAuth,
  ROUTE53_FULL_ACCESS,
  startMoto,
  txtValues,
  type MotoServer,
  type TestKeys,
} from "../emulators/route53/moto.js";
import { Route53Proxy, type Route53Fault } from "../emulators/route53/proxy.js";

const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });
let seq = 0;
/** A fresh name under `zone` for each test, so tests share moto without meeting. */
const record = (value: string, zone = "example.test.", fqdn?: string): TxtRecord => ({
  fqdn: fqdn ?? `_acme-challenge.t${++seq}.${zone}`,
  zone,
  value,
});
const KEYS: TestKeys = { accessKeyId: "AKIAROUTE53TEST00001", secretAccessKey: "route53-test-secret" };

let moto: MotoServer;
let proxy: Route53Proxy;
let endpoint: string;
const zones: Record<string, string> = {};

beforeAll(async () => {
  moto = await startMoto();
  zones["apex"] = await createHostedZone(moto.url, "example.test");
  zones["private"] = await createHostedZone(moto.url, "example.test", { privateZone: true });
  zones["sub"] = await createHostedZone(moto.url, "sub.example.test");
  proxy = new Route53Proxy({ upstream: moto.url });
  endpoint = await proxy.start();
});

afterAll(async () => {
  await proxy.stop();
  await moto.stop();
});

let now: number;
let deps: Route53SolverDeps;

beforeEach(() => {
  proxy.resetCounts();
  proxy.pendingPolls = 0;
  now = 1_000_000;
  // A fresh backend (zone listings, batches, PENDING changes) and a fake clock for the buckets.
  deps = {
    backend: new Route53Backend(() => now),
    rateLimits: new RateLimits(() => now),
    roleCache: new AssumedRoleCache(),
  };
});

const solver = (
  config: Partial<Route53SolverConfig> = {},
  extra: Partial<Route53SolverDeps> = {},
): Dns01Solver =>
  createRoute53Solver(
    { credentials: { kind: "static", ...KEYS }, endpoint, ...config },
    { ...deps, ...extra },
  );

const values = (r: TxtRecord, zone = zones["apex"] ?? "") => txtValues(moto.url, zone, r.fqdn);

async function rejection(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

describe("hosted zone discovery", () => {
  it("writes to sub.example.test under it and to example.test elsewhere, never to the private zone", async () => {
    const s = solver();
    const inSub = record("in-sub", "sub.example.test.");
    const inApex = record("in-apex", "example.test.");
    await s.present(inSub, ctx());
    now += 1000; // the clock of the 5-per-second bucket: the next Challenge comes a second later
    await s.present(inApex, ctx());
    expect(await values(inSub, zones["sub"])).toEqual(["in-sub"]);
    expect(await values(inSub, zones["apex"])).toEqual([]);
    expect(await values(inApex, zones["apex"])).toEqual(["in-apex"]);
    expect(await values(inApex, zones["private"])).toEqual([]);
    expect(proxy.count("ListHostedZonesByName")).toBe(2);
    now += 1000;
    await s.cleanUp(inSub, ctx());
    await s.cleanUp(inApex, ctx());
  });

  it("fails with ZoneNotFound, naming what it found, when only a private zone has the name", async () => {
    const zone = await createHostedZone(moto.url, "private-only.test", { privateZone: true });
    expect(zone).not.toBe("");
    const err = await rejection(solver().present(record("x", "private-only.test."), ctx()));
    expect((err as TerminalError).reason).toBe("ZoneNotFound");
    expect(err.message).toContain("found private-only.test. (private)");
  });
});

describe("one apex + wildcard certificate", () => {
  it("costs 1 zone listing, 3 reads and 3 changes when the two cleanUps come apart", async () => {
    const apex = record("apex-value");
    const wildcard = { ...apex, value: "wildcard-value" };
    // The two Challenges are reconciled in parallel, each with its own solver.
    await Promise.all([solver().present(apex, ctx()), solver().present(wildcard, ctx())]);
    expect((await values(apex)).sort()).toEqual(["apex-value", "wildcard-value"]);
    // Validation takes a while; the clock of the 5-per-second bucket moves on meanwhile.
    now += 1000;
    await solver().cleanUp(apex, ctx());
    expect(await values(apex)).toEqual(["wildcard-value"]);
    await solver().cleanUp(wildcard, ctx());
    expect(await values(apex)).toEqual([]);
    expect(proxy.counts()).toEqual({
      ListHostedZonesByName: 1,
      ListResourceRecordSets: 3,
      ChangeResourceRecordSets: 3,
    });
  });

  it("costs 1 zone listing, 2 reads and 2 changes when the cleanUps come together too", async () => {
    const apex = record("apex-value");
    const wildcard = { ...apex, value: "wildcard-value" };
    await Promise.all([solver().present(apex, ctx()), solver().present(wildcard, ctx())]);
    now += 1000;
    await Promise.all([solver().cleanUp(apex, ctx()), solver().cleanUp(wildcard, ctx())]);
    expect(await values(apex)).toEqual([]);
    expect(proxy.counts()).toEqual({
      ListHostedZonesByName: 1,
      ListResourceRecordSets: 2,
      ChangeResourceRecordSets: 2,
    });
  });

  it("waits for INSYNC by GetChange without submitting the change again", async () => {
    proxy.pendingPolls = 1;
    const s = solver();
    const r = record("pending-value");
    const first = await rejection(s.present(r, ctx()));
    expect(first).toBeInstanceOf(TemporaryError);
    expect((first as TemporaryError).retryAfterMs).toBe(1000);
    expect(first.message).toMatch(/is PENDING; waiting for Route 53 to report it INSYNC$/);
    now += 1000;
    await expect(s.present(r, ctx())).rejects.toBeInstanceOf(TemporaryError);
    now += 1000;
    await s.present(r, ctx());
    expect(proxy.counts()).toEqual({
      ListHostedZonesByName: 1,
      ListResourceRecordSets: 2,
      ChangeResourceRecordSets: 1,
      GetChange: 2,
    });
    await s.cleanUp(r, ctx());
  });
});

describe("faults", () => {
  const temporaryThenSuccess: [string, Route53Fault, string][] = [
    ["Throttling (HTTP 400, as Route 53 sends it)", { kind: "throttling" }, "ListHostedZonesByName"],
    ["HTTP 429", { kind: "throttling", status: 429 }, "ListResourceRecordSets"],
    ["PriorRequestNotComplete", { kind: "priorRequestNotComplete" }, "ChangeResourceRecordSets"],
    ["HTTP 500", { kind: "serverError" }, "ChangeResourceRecordSets"],
    ["HTTP 503", { kind: "serverError", status: 503 }, "ListResourceRecordSets"],
  ];

  it.each(temporaryThenSuccess)(
    "turns %s into one TemporaryError, one request, then succeeds on the next try",
    async (_name, fault, operation) => {
      proxy.failNext(1, fault, operation);
      const s = solver();
      const r = record("after-fault");
      const err = await rejection(s.present(r, ctx()));
      expect(err).toBeInstanceOf(TemporaryError);
      expect(err.message).toMatch(/^route53: failed to /);
      // The SDK made one attempt: the failed operation was requested exactly once.
      expect(proxy.calls.filter((c) => c.operation === operation && c.injected)).toHaveLength(1);
      expect(proxy.count(operation)).toBe(1);
      now += 2000; // past the account pause that a throttling answer starts
      await s.present(r, ctx());
      expect(await values(r)).toEqual(["after-fault"]);
      await s.cleanUp(r, ctx());
    },
  );

  it("pauses the account after Throttling: the next present fails fast without a request", async () => {
    proxy.failNext(1, { kind: "throttling" });
    await rejection(solver().present(record("a"), ctx()));
    const before = proxy.count();
    const err = await rejection(solver().present(record("b"), ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as TemporaryError).retryAfterMs).toBeGreaterThan(0);
    expect(err.message).toContain("client-side rate limit");
    expect(proxy.count()).toBe(before);
  });

  it("turns AccessDenied into TerminalError InvalidCredentials with AWS's message, after one request", async () => {
    proxy.failNext(1, { kind: "accessDenied" }, "ChangeResourceRecordSets");
    const err = await rejection(solver().present(record("denied"), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toMatch(
      /^route53: failed to change TXT record sets in hosted zone \w+: AccessDenied: User: arn:aws:iam::123456789012:user\/dns01 is not authorized to perform: route53:ChangeResourceRecordSets/,
    );
    expect(proxy.count("ChangeResourceRecordSets")).toBe(1);
  });

  it("keeps to five requests per second per access key, whatever the number of Challenges", async () => {
    const limited = { ...deps, rateLimit: undefined };
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => solver({}, limited).present(record(`v${i}`), ctx())),
    );
    const throttled = results.filter(
      (r) =>
        r.status === "rejected" &&
        r.reason instanceof TemporaryError &&
        String(r.reason).includes("client-side rate limit"),
    );
    expect(throttled.length).toBeGreaterThan(0);
    expect(proxy.count()).toBeLessThanOrEqual(5);
  });
});

describe("moto's own IAM checks", () => {
  let allowed: TestKeys;
  let denied: TestKeys & { arn: string };

  beforeAll(async () => {
    allowed = await createIamUser(moto.url, "dns01-allowed", ROUTE53_FULL_ACCESS);
    denied = await createIamUser(moto.url, "dns01-denied");
    await enforceAuth(moto.url, true);
  });

  afterAll(async () => {
    await enforceAuth(moto.url, false);
  });

  it("works with a key whose policy allows Route 53, signatures intact through the proxy", async () => {
    const s = solver({ credentials: { kind: "static", ...allowed } });
    const r = record("allowed");
    await s.present(r, ctx());
    await s.cleanUp(r, ctx());
    expect(proxy.calls.every((c) => c.status === 200)).toBe(true);
  });

  it("turns moto's AccessDenied for a key without a policy into InvalidCredentials, after one request", async () => {
    const err = await rejection(
      solver({ credentials: { kind: "static", ...denied } }).present(record("x"), ctx()),
    );
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toContain("AccessDenied");
    expect(err.message).toContain(denied.arn);
    expect(proxy.count()).toBe(1);
  });

  it("turns an unknown access key into InvalidCredentials with AWS's message", async () => {
    const err = await rejection(
      solver({
        credentials: { kind: "static", accessKeyId: "AKIAUNKNOWN000000000", secretAccessKey: "x" },
      }).present(record("x"), ctx()),
    );
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toBe(
      "route53: failed to list hosted zones from example.test.: InvalidClientTokenId: The security token included in the request is invalid.",
    );
    expect(proxy.count()).toBe(1);
  });

  it("turns a wrong secret key into InvalidCredentials without showing the secret", async () => {
    const err = await rejection(
      solver({
        credentials: { kind: "static", accessKeyId: allowed.accessKeyId, secretAccessKey: "not-the-secret" },
      }).present(record("x"), ctx()),
    );
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toContain("SignatureDoesNotMatch");
    expect(err.message).not.toContain("not-the-secret");
    expect(proxy.count()).toBe(1);
  });
});

describe("credentials", () => {
  it("assumes a role through STS, signs Route 53 calls with it, and reuses it", async () => {
    const role = await createIamRole(moto.url, "dns01-role", ROUTE53_FULL_ACCESS);
    const config = { role, stsEndpoint: endpoint };
    const r = record("assumed");
    await solver(config).present(r, ctx());
    await solver(config).cleanUp(r, ctx());
    expect(proxy.count("AssumeRole")).toBe(1);
    const route53Keys = new Set(
      proxy.calls.filter((c) => c.operation !== "AssumeRole").map((c) => c.accessKeyId),
    );
    expect(route53Keys.size).toBe(1);
    const [assumed] = [...route53Keys];
    expect(assumed).toMatch(/^ASIA/);
    expect(proxy.calls.find((c) => c.operation === "AssumeRole")?.accessKeyId).toBe(KEYS.accessKeyId);
  });

  it("turns a refused AssumeRole into InvalidCredentials naming the role, after one STS request", async () => {
    const role = "arn:aws:iam::123456789012:role/not-yours";
    proxy.failNext(
      1,
      {
        kind: "accessDenied",
        message: `User: arn:aws:iam::123456789012:user/dns01 is not authorized to perform: sts:AssumeRole on resource: ${role}`,
      },
      "AssumeRole",
    );
    const err = await rejection(solver({ role, stsEndpoint: endpoint }).present(record("x"), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toBe(
      `route53: failed to assume role ${role}: AccessDenied: User: arn:aws:iam::123456789012:user/dns01 is not authorized to perform: sts:AssumeRole on resource: ${role}`,
    );
    expect(proxy.counts()).toEqual({ AssumeRole: 1 });
  });

  it("exchanges a web identity token for the role's credentials (AssumeRoleWithWebIdentity)", async () => {
    const role = await createIamRole(moto.url, "dns01-web-identity", ROUTE53_FULL_ACCESS);
    let tokens = 0;
    const config: Partial<Route53SolverConfig> = {
      credentials: {
        kind: "webIdentity",
        token: () => {
          tokens++;
          return Promise.resolve(
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZG5zOmRucyJ9.sig",
          );
        },
        subject: "dns/dns",
      },
      role,
      stsEndpoint: endpoint,
    };
    const r = record("web-identity");
    await solver(config).present(r, ctx());
    await solver(config).cleanUp(r, ctx());
    expect(tokens).toBe(1);
    expect(proxy.count("AssumeRoleWithWebIdentity")).toBe(1);
    const keys = new Set(
      proxy.calls.filter((c) => c.operation !== "AssumeRoleWithWebIdentity").map((c) => c.accessKeyId),
    );
    expect([...keys].every((k) => k?.startsWith("ASIA") === true)).toBe(true);
    expect(await values(r)).toEqual([]);
  });

  describe("through the descriptor", () => {
    const saved: Record<string, string | undefined> = {};
    const envKeys = [ROUTE53_API_URL_ENV, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"];

    beforeAll(() => {
      for (const k of envKeys) saved[k] = process.env[k];
    });
    afterEach(() => {
      for (const k of envKeys) {
        const v = saved[k];
        if (v === undefined) Reflect.deleteProperty(process.env, k);
        else process.env[k] = v;
      }
    });

    it("uses the pod's ambient credentials for a ClusterIssuer", async () => {
      process.env[ROUTE53_API_URL_ENV] = endpoint;
      process.env["AWS_ACCESS_KEY_ID"] = "AKIAAMBIENT000000001";
      process.env["AWS_SECRET_ACCESS_KEY"] = "ambient-secret";
      const s = await descriptor.create(
        {},
        { secretNamespace: "cert-manager", secrets: memorySecretReader(new Map()), clusterScoped: true },
      );
      const r = record("ambient");
      await s.present(r, ctx());
      await s.cleanUp(r, ctx());
      expect(new Set(proxy.calls.map((c) => c.accessKeyId))).toEqual(new Set(["AKIAAMBIENT000000001"]));
    });

    it("refuses ambient credentials for a namespaced Issuer before any request", async () => {
      process.env[ROUTE53_API_URL_ENV] = endpoint;
      process.env["AWS_ACCESS_KEY_ID"] = "AKIAAMBIENT000000001";
      process.env["AWS_SECRET_ACCESS_KEY"] = "ambient-secret";
      const err = await rejection(
        descriptor.create(
          {},
          { secretNamespace: "team-a", secrets: memorySecretReader(new Map()), clusterScoped: false },
        ),
      );
      expect((err as TerminalError).reason).toBe("InvalidConfiguration");
      expect(err.message).toContain("an Issuer may not use the operator's ambient AWS credentials");
      expect(proxy.count()).toBe(0);
    });

    it("uses a rotated Secret on the next create, without a restart", async () => {
      process.env[ROUTE53_API_URL_ENV] = endpoint;
      const data = { id: "AKIAFIRSTKEY00000001", secret: "first" };
      const store = new Map<string, Record<string, string>>([["team-a/aws", data]]);
      const block = {
        accessKeyIDSecretRef: { name: "aws", key: "id" },
        secretAccessKeySecretRef: { name: "aws", key: "secret" },
      };
      const c = { secretNamespace: "team-a", secrets: memorySecretReader(store), clusterScoped: false };
      const r = record("rotated");
      await (await descriptor.create(block, c)).present(r, ctx());
      store.set("team-a/aws", { id: "AKIASECONDKEY0000002", secret: "second" });
      await (await descriptor.create(block, c)).cleanUp(r, ctx());
      const keys = proxy.calls.map((call) => call.accessKeyId);
      expect(keys[0]).toBe("AKIAFIRSTKEY00000001");
      expect(keys.at(-1)).toBe("AKIASECONDKEY0000002");
      expect(await values(r)).toEqual([]);
    });
  });
});
