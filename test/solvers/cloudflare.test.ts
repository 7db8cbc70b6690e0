import { afterEach, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { TemporaryError, TerminalError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import {
  createCloudflareSolver,
  ZoneIdCache,
  type CloudflareAuth,
  type CloudflareConfig,
} from "../../src/solvers/cloudflare/cloudflare.js";
import { CLOUDFLARE_API_URL_ENV, descriptor } from "../../src/solvers/cloudflare/descriptor.js";
import { RateLimits } from "../../src/solvers/limits.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../../src/solvers/types.js";
import { CloudflareEmulator, type CloudflareEmulatorOptions } from "../emulators/cloudflare/emulator.js";

const TOKEN = "test-token-0123456789abcdef0123456789";
const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });
const value = (): string => randomBytes(32).toString("base64url");
const record = (zone = "example.test.", v = value()): TxtRecord => ({
  fqdn: `_acme-challenge.n${randomBytes(4).toString("hex")}.${zone}`,
  zone,
  value: v,
});

const running: CloudflareEmulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.stop()));
});

/** A started emulator, and a solver factory with its own clock, buckets and zone cache. */
async function setup(options: CloudflareEmulatorOptions = { tokens: [TOKEN] }) {
  const emulator = new CloudflareEmulator(options);
  running.push(emulator);
  const url = await emulator.start();
  let now = 1_000_000;
  const clock = {
    advance: (ms: number) => {
      now += ms;
    },
  };
  const rateLimits = new RateLimits(() => now);
  const zoneCache = new ZoneIdCache(() => now);
  const solver = (
    auth: CloudflareAuth = { apiToken: TOKEN },
    extra: Partial<CloudflareConfig> = {},
  ): Dns01Solver => createCloudflareSolver({ auth, endpoint: url, ...extra }, { rateLimits, zoneCache });
  return { emulator, url, solver, clock };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

describe("cloudflare provider against its emulator", () => {
  it("makes 9 API calls for a name and its wildcard: one zone lookup, then a list and a write per value", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const apex = record();
    const wildcard = { ...apex, value: value() };
    // The apex and wildcard challenges run side by side, as the Challenge controller runs them.
    await Promise.all([s.present(apex, ctx()), s.present(wildcard, ctx())]);
    expect(emulator.values(apex.fqdn).sort()).toEqual([apex.value, wildcard.value].sort());
    await Promise.all([s.cleanUp(apex, ctx()), s.cleanUp(wildcard, ctx())]);
    expect(emulator.values(apex.fqdn)).toEqual([]);
    expect(emulator.calls).toEqual({
      "GET /zones": 1,
      "GET /zones/:zone_id/dns_records": 4,
      "POST /zones/:zone_id/dns_records": 2,
      "DELETE /zones/:zone_id/dns_records/:id": 2,
    });
  });

  it("writes TXT content as a quoted string with the API's minimum TTL and a comment", async () => {
    const { emulator, solver } = await setup();
    const r = record();
    await solver().present(r, ctx());
    const [stored] = emulator.records(r.fqdn);
    expect(stored?.content).toBe(`"${r.value}"`);
    expect(stored?.ttl).toBe(60);
    expect(stored?.comment).toMatch(/dns01-operator/);
  });

  it("answers a 429 with a TemporaryError carrying Retry-After, and calls again only once the wait is over", async () => {
    const { emulator, solver, clock } = await setup();
    const s = solver();
    const r = record();
    emulator.inject({ status: 429, retryAfter: 7 });
    const first = await rejection(s.present(r, ctx()));
    expect(first).toBeInstanceOf(TemporaryError);
    expect((first as TemporaryError).retryAfterMs).toBe(7000);
    expect(first.message).toMatch(/^cloudflare: .*rate limited.*\(971\)/);
    expect(emulator.total).toBe(1);

    // Before the wait is over the account's bucket refuses without a request: no retry storm.
    clock.advance(3000);
    const early = await rejection(s.present(r, ctx()));
    expect(early).toBeInstanceOf(TemporaryError);
    const wait = (early as TemporaryError).retryAfterMs ?? 0;
    // The 4 s left of Retry-After, plus the refill of the three tokens a present takes at once (a
    // zone lookup, a list, a create; 5 min / 1200 = 250 ms each).
    expect(wait).toBe(4750);
    expect(emulator.total).toBe(1);

    // The work queue requeues after retryAfterMs: the present then goes through in one go.
    clock.advance(wait);
    await s.present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
    expect(emulator.total).toBe(4);
    expect(emulator.requests.map((q) => q.status)).toEqual([429, 200, 200, 200]);
  });

  it("answers a 5xx with a TemporaryError, made in one request, and succeeds on the next try", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const r = record();
    emulator.inject({ status: 502, route: "POST /zones/:zone_id/dns_records" });
    const err = await rejection(s.present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as TemporaryError).retryAfterMs).toBeUndefined();
    expect(err.message).toMatch(/^cloudflare: failed to create TXT record: HTTP 502/);
    expect(emulator.calls["POST /zones/:zone_id/dns_records"]).toBe(1);
    await s.present(r, ctx());
    expect(emulator.calls["POST /zones/:zone_id/dns_records"]).toBe(2);
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
  });

  it("rejects a wrong token with InvalidCredentials carrying Cloudflare's message, after exactly one call", async () => {
    const { emulator, solver } = await setup();
    const wrong = "wrong-token-abcdef0123456789";
    const err = await rejection(solver({ apiToken: wrong }).present(record(), ctx()));
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toBe(
      "cloudflare: failed to find zone example.test: the credentials were rejected: HTTP 403: Authentication error (10000)",
    );
    expect(err.message).not.toContain(wrong);
    expect(emulator.total).toBe(1);
  });

  it("turns a 401 on a later call into InvalidCredentials without retrying it", async () => {
    const { emulator, solver } = await setup();
    emulator.inject({ status: 401, route: "GET /zones/:zone_id/dns_records" });
    const err = await rejection(solver().cleanUp(record(), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toMatch(/HTTP 401: Authentication error \(10000\)/);
    expect(emulator.calls).toEqual({ "GET /zones": 1, "GET /zones/:zone_id/dns_records": 1 });
  });

  it("rejects a malformed token (400, invalid request headers) as InvalidCredentials", async () => {
    const { emulator, solver } = await setup();
    const err = await rejection(solver({ apiToken: "has spaces in it" }).present(record(), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toMatch(
      /Invalid request headers \(6003\): Invalid format for Authorization header \(6111\)/,
    );
    expect(emulator.total).toBe(1);
  });

  it("authenticates with the legacy global API key and the account email", async () => {
    const key = "0123456789abcdef0123456789abcdef01234";
    const { emulator, solver } = await setup({ globalKeys: [{ email: "admin@example.test", key }] });
    const s = solver({ apiKey: key, email: "admin@example.test" });
    const r = record();
    await s.present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
    await s.cleanUp(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([]);
    expect(new Set(emulator.requests.map((q) => q.auth))).toEqual(new Set(["key"]));

    const err = await rejection(solver({ apiKey: key, email: "other@example.test" }).present(r, ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toMatch(/Unknown X-Auth-Key or X-Auth-Email \(9103\)/);
    expect(err.message).not.toContain(key);
  });

  it("reports ZoneNotFound for a zone the account does not hold, after one lookup per level", async () => {
    const { emulator, solver } = await setup();
    const err = await rejection(solver().present(record("sub.nope.test."), ctx()));
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("ZoneNotFound");
    expect(err.message).toMatch(/^cloudflare: zone not found: no zone named sub\.nope\.test or nope\.test/);
    expect(emulator.calls).toEqual({ "GET /zones": 2 });
  });

  it("reports ZoneNotFound when the token's zone resources leave the zone out", async () => {
    const { solver } = await setup({ tokens: [{ token: TOKEN, zones: ["second.test"] }] });
    const err = await rejection(solver().present(record("example.test."), ctx()));
    expect((err as TerminalError).reason).toBe("ZoneNotFound");
    expect(err.message).toMatch(/Zone:Zone:Read/);
    await solver().present(record("second.test."), ctx());
  });

  it("finds the zone higher up when Cloudflare holds a parent of the zone DNS showed", async () => {
    const { emulator, solver } = await setup();
    const r = record("sub.example.test.");
    await solver().present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
    expect(emulator.calls["GET /zones"]).toBe(2);
  });

  it("looks a zone up once, then keeps its ID, until the ID goes stale", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    await s.present(record(), ctx());
    await solver().present(record(), ctx());
    expect(emulator.calls["GET /zones"]).toBe(1);

    // The zone is deleted and added again: its old ID answers 7003 and is dropped.
    emulator.removeZone("example.test");
    emulator.addZone("example.test");
    const r = record();
    const err = await rejection(s.present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toMatch(/is gone: HTTP 404: Could not route/);
    await s.present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
    expect(emulator.calls["GET /zones"]).toBe(2);
  });

  it("pages through more records than one page holds", async () => {
    const { emulator, solver } = await setup({ tokens: [TOKEN], maxPerPage: 2 });
    const s = solver();
    const first = record();
    const values = [first.value, value(), value(), value(), value()];
    for (const v of values) await s.present({ ...first, value: v }, ctx());
    emulator.resetCalls();
    const last = values[4] ?? "";
    await s.cleanUp({ ...first, value: last }, ctx());
    expect(emulator.values(first.fqdn).sort()).toEqual(values.slice(0, 4).sort());
    expect(emulator.calls).toEqual({
      "GET /zones/:zone_id/dns_records": 3,
      "DELETE /zones/:zone_id/dns_records/:id": 1,
    });
  });

  it("finds a value stored bare by an older client as well as a quoted one", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const r = record();
    await emulator.seed(r.fqdn, r.value);
    emulator.resetCalls();
    await s.present(r, ctx());
    expect(emulator.calls["POST /zones/:zone_id/dns_records"]).toBeUndefined();
    await s.cleanUp(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([]);
  });

  it("compares values case-sensitively, though the API's content filter does not", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const a = record(undefined, "AbCdEf0123");
    const b = { ...a, value: "aBcDeF0123" };
    await s.present(a, ctx());
    await s.present(b, ctx());
    expect(emulator.values(a.fqdn).sort()).toEqual([a.value, b.value].sort());
    await s.cleanUp(a, ctx());
    expect(emulator.values(a.fqdn)).toEqual([b.value]);
  });

  it("treats 'an identical record already exists' (81058) as success", async () => {
    const { emulator, solver } = await setup();
    emulator.inject({
      status: 400,
      route: "POST /zones/:zone_id/dns_records",
      body: { success: false, errors: [{ code: 81058, message: "An identical record already exists." }] },
    });
    await expect(solver().present(record(), ctx())).resolves.toBeUndefined();
  });

  it("reports QuotaExceeded when the zone's record quota is reached", async () => {
    const { emulator, solver } = await setup({ tokens: [TOKEN], recordQuota: 1 });
    await emulator.seed(`www.example.test.`, "something else");
    const err = await rejection(solver().present(record(), ctx()));
    expect((err as TerminalError).reason).toBe("QuotaExceeded");
    expect(err.message).toMatch(/Record quota exceeded\. \(81045\)/);
  });

  it("turns a refused connection into a TemporaryError", async () => {
    const { emulator, solver } = await setup();
    await emulator.stop();
    const err = await rejection(solver().present(record(), ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toMatch(/^cloudflare: failed to find zone example\.test: Connection error/);
  });
});

describe("cloudflare descriptor", () => {
  const saved = process.env[CLOUDFLARE_API_URL_ENV];
  afterEach(() => {
    if (saved === undefined) Reflect.deleteProperty(process.env, CLOUDFLARE_API_URL_ENV);
    else process.env[CLOUDFLARE_API_URL_ENV] = saved;
  });

  it("reads the token again on every create(), so a rotated Secret is used without a restart", async () => {
    const { emulator, url } = await setup();
    process.env[CLOUDFLARE_API_URL_ENV] = url;
    const data = new Map([["ns/cf", { token: TOKEN }]]);
    const secrets = memorySecretReader(data);
    const block = { apiTokenSecretRef: { name: "cf", key: "token" } };
    const pctx = { secretNamespace: "ns", secrets, clusterScoped: false };

    const before = await descriptor.create(block, pctx);
    await before.present(record(), ctx());

    const rotated = "rotated-token-fedcba9876543210";
    emulator.addToken(rotated);
    emulator.revokeToken(TOKEN);
    data.set("ns/cf", { token: rotated });
    const stale = await rejection(before.present(record(), ctx()));
    expect((stale as TerminalError).reason).toBe("InvalidCredentials");

    const after = await descriptor.create(block, pctx);
    const r = record();
    await after.present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
    expect(secrets.reads).toEqual([
      { namespace: "ns", name: "cf", key: "token" },
      { namespace: "ns", name: "cf", key: "token" },
    ]);
  });

  it("trims a trailing newline from the token, as `kubectl create secret --from-file` leaves it", async () => {
    const { emulator, url } = await setup();
    process.env[CLOUDFLARE_API_URL_ENV] = url;
    const secrets = memorySecretReader(new Map([["ns/cf", { token: `${TOKEN}\n` }]]));
    const s = await descriptor.create(
      { apiTokenSecretRef: { name: "cf", key: "token" } },
      { secretNamespace: "ns", secrets, clusterScoped: false },
    );
    const r = record();
    await s.present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
  });

  it.each([
    [
      "a missing Secret",
      { apiTokenSecretRef: { name: "absent", key: "token" } },
      "SecretNotFound",
      'cloudflare: apiTokenSecretRef: Secret ns/absent not found (wanted its key "token")',
    ],
    [
      "a missing key",
      { apiTokenSecretRef: { name: "cf", key: "api-token" } },
      "SecretKeyNotFound",
      'cloudflare: apiTokenSecretRef: Secret ns/cf has no key "api-token" (it has "key", "token")',
    ],
    [
      "a reference without a key",
      { apiTokenSecretRef: { name: "cf" } },
      "InvalidConfiguration",
      "cloudflare: apiTokenSecretRef.key is required (the key of Secret ns/cf to read)",
    ],
    [
      "both a token and a key",
      {
        apiTokenSecretRef: { name: "cf", key: "token" },
        apiKeySecretRef: { name: "cf", key: "key" },
        email: "a@b.c",
      },
      "InvalidConfiguration",
      "cloudflare: exactly one of apiTokenSecretRef or apiKeySecretRef must be set",
    ],
    [
      "a global key without email",
      { apiKeySecretRef: { name: "cf", key: "key" } },
      "InvalidConfiguration",
      "cloudflare: email is required with apiKeySecretRef",
    ],
    [
      "an empty token",
      { apiTokenSecretRef: { name: "empty", key: "token" } },
      "InvalidConfiguration",
      'cloudflare: apiTokenSecretRef: key "token" of Secret ns/empty is empty',
    ],
  ])("refuses %s with a clear terminal error", async (_what, block, reason, message) => {
    const secrets = memorySecretReader(
      new Map([
        ["ns/cf", { token: TOKEN, key: "0123abcd" }],
        ["ns/empty", { token: " \n" }],
      ]),
    );
    const err = await rejection(
      descriptor.create(block, { secretNamespace: "ns", secrets, clusterScoped: false }),
    );
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe(reason);
    expect(err.message).toBe(message);
  });
});
