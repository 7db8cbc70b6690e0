import { afterEach, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { TemporaryError, TerminalError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { DIGITALOCEAN_API_URL_ENV, descriptor } from "../../src/solvers/digitalocean/descriptor.js";
import { createDigitalOceanSolver } from "../../src/solvers/digitalocean/digitalocean.js";
import { RateLimits } from "../../src/solvers/limits.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../../src/solvers/types.js";
import {
  DigitalOceanEmulator,
  type DigitalOceanEmulatorOptions,
} from "../emulators/digitalocean/emulator.js";

const TOKEN = "dop_v1_test0123456789abcdef0123456789";
const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });
const value = (): string => randomBytes(32).toString("base64url");
const label = (): string => `n${randomBytes(4).toString("hex")}`;
const record = (zone = "example.test.", v = value()): TxtRecord => ({
  fqdn: `_acme-challenge.${label()}.${zone}`,
  zone,
  value: v,
});

const running: DigitalOceanEmulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.stop()));
});

/** A started emulator, and a solver factory with its own clock and buckets. */
async function setup(options: DigitalOceanEmulatorOptions = { tokens: [TOKEN] }) {
  const emulator = new DigitalOceanEmulator(options);
  running.push(emulator);
  const url = await emulator.start();
  let now = 1_000_000;
  const clock = {
    advance: (ms: number) => {
      now += ms;
    },
  };
  const rateLimits = new RateLimits(() => now);
  const solver = (token = TOKEN): Dns01Solver =>
    createDigitalOceanSolver({ token, endpoint: url }, { rateLimits });
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

const LIST = "GET /v2/domains/:domain/records";
const CREATE = "POST /v2/domains/:domain/records";
const DELETE = "DELETE /v2/domains/:domain/records/:id";

describe("digitalocean provider against its emulator", () => {
  it("makes 8 API calls for a name and its wildcard: a list and a write per value", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const apex = record();
    const wildcard = { ...apex, value: value() };
    await Promise.all([s.present(apex, ctx()), s.present(wildcard, ctx())]);
    expect(emulator.values(apex.fqdn).sort()).toEqual([apex.value, wildcard.value].sort());
    await Promise.all([s.cleanUp(apex, ctx()), s.cleanUp(wildcard, ctx())]);
    expect(emulator.values(apex.fqdn)).toEqual([]);
    expect(emulator.calls).toEqual({ [LIST]: 4, [CREATE]: 2, [DELETE]: 2 });
  });

  it("creates the record under its name relative to the domain, with the API's minimum TTL", async () => {
    const requests: { url: string; body: unknown }[] = [];
    const { url } = await setup();
    const s = createDigitalOceanSolver(
      { token: TOKEN, endpoint: url },
      {
        rateLimits: new RateLimits(),
        fetch: (input, init) => {
          const body = typeof init?.body === "string" ? (JSON.parse(init.body) as unknown) : undefined;
          requests.push({ url: input instanceof Request ? input.url : input.toString(), body });
          return fetch(input, init);
        },
      },
    );
    const r = { fqdn: "_acme-challenge.www.Example.test.", zone: "example.test.", value: value() };
    await s.present(r, ctx());
    expect(requests.map((q) => q.url)).toEqual([
      `${url}/v2/domains/example.test/records?type=TXT&name=_acme-challenge.www.example.test&per_page=200&page=1`,
      `${url}/v2/domains/example.test/records`,
    ]);
    expect(requests[1]?.body).toEqual({ type: "TXT", name: "_acme-challenge.www", data: r.value, ttl: 30 });
  });

  it("answers a 429 with a TemporaryError carrying Retry-After, and calls again only once the wait is over", async () => {
    const { emulator, solver, clock } = await setup();
    const s = solver();
    const r = record();
    emulator.inject({ status: 429, retryAfter: 7 });
    const first = await rejection(s.present(r, ctx()));
    expect(first).toBeInstanceOf(TemporaryError);
    expect((first as TemporaryError).retryAfterMs).toBe(7000);
    expect(first.message).toBe(
      "digitalocean: failed to list TXT records: rate limited by DigitalOcean (HTTP 429 too_many_requests: API Rate limit exceeded.)",
    );
    expect(emulator.total).toBe(1);

    clock.advance(5000);
    const early = await rejection(s.present(r, ctx()));
    expect(early).toBeInstanceOf(TemporaryError);
    const wait = (early as TemporaryError).retryAfterMs ?? 0;
    // The 2 s left of Retry-After, plus the refill of the two tokens a present takes at once.
    expect(wait).toBe(2000 + 2 * 768);
    expect(emulator.total).toBe(1);

    clock.advance(wait);
    await s.present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
    expect(emulator.total).toBe(3);
  });

  it("backs off until RateLimit-Reset when the hourly limit is spent and no Retry-After is given", async () => {
    const { emulator, solver } = await setup({ tokens: [TOKEN], hourlyLimit: 2 });
    const s = solver();
    await s.present(record(), ctx());
    const err = await rejection(s.present(record(), ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    const ms = (err as TemporaryError).retryAfterMs ?? 0;
    expect(ms).toBeGreaterThan(3_590_000);
    expect(ms).toBeLessThanOrEqual(3_601_000);
    expect(emulator.total).toBe(3);
  });

  it("answers a 5xx with a TemporaryError, made in one request, and succeeds on the next try", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const r = record();
    emulator.inject({ status: 500, route: CREATE });
    const err = await rejection(s.present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as TemporaryError).retryAfterMs).toBeUndefined();
    expect(err.message).toBe(
      "digitalocean: failed to create TXT record: HTTP 500 server_error: Unexpected server-side error",
    );
    expect(emulator.calls[CREATE]).toBe(1);
    await s.present(r, ctx());
    expect(emulator.calls[CREATE]).toBe(2);
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
  });

  it("rejects a wrong token with InvalidCredentials carrying DigitalOcean's message, after exactly one call", async () => {
    const { emulator, solver } = await setup();
    const wrong = "dop_v1_wrong0123456789";
    const err = await rejection(solver(wrong).present(record(), ctx()));
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toBe(
      "digitalocean: failed to list TXT records: the token was rejected: HTTP 401 Unauthorized: Unable to authenticate you",
    );
    expect(err.message).not.toContain(wrong);
    expect(emulator.total).toBe(1);
  });

  it("rejects a read-only token with InvalidCredentials at the first write, without retrying it", async () => {
    const { emulator, solver } = await setup({ tokens: [{ token: TOKEN, scopes: ["domain:read"] }] });
    const err = await rejection(solver().present(record(), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toMatch(/HTTP 403 Forbidden: You are not authorized to perform this operation$/);
    expect(emulator.calls).toEqual({ [LIST]: 1, [CREATE]: 1 });
  });

  it("works with a token scoped to the domain resource only", async () => {
    const scopes = ["domain:read", "domain:create", "domain:update", "domain:delete"];
    const { emulator, solver } = await setup({ tokens: [{ token: TOKEN, scopes }] });
    const r = record();
    await solver().present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
    await solver().cleanUp(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([]);
  });

  it("reports ZoneNotFound for a domain the account does not hold, after one lookup per level", async () => {
    const { emulator, solver } = await setup();
    const err = await rejection(solver().present(record("sub.nope.test."), ctx()));
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("ZoneNotFound");
    expect(err.message).toBe(
      "digitalocean: zone not found: the account has no domain sub.nope.test or nope.test (or the token cannot read it)",
    );
    expect(emulator.calls).toEqual({ [LIST]: 2 });
  });

  it("finds the domain higher up when DigitalOcean holds a parent of the zone DNS showed", async () => {
    const { emulator, solver } = await setup();
    const r = record("sub.example.test.");
    await solver().present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
    await solver().cleanUp(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([]);
  });

  it("follows links.pages.next through more records than one page holds", async () => {
    const { emulator, solver } = await setup({ tokens: [TOKEN], maxPerPage: 2 });
    const s = solver();
    const first = record();
    const values = [first.value, value(), value(), value(), value()];
    for (const v of values) await s.present({ ...first, value: v }, ctx());
    emulator.resetCalls();
    await s.cleanUp({ ...first, value: values[4] ?? "" }, ctx());
    expect(emulator.values(first.fqdn).sort()).toEqual(values.slice(0, 4).sort());
    expect(emulator.calls).toEqual({ [LIST]: 3, [DELETE]: 1 });
  });

  it("finds a value written with quotes by another client", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const name = label();
    const r = { fqdn: `_acme-challenge.${name}.example.test.`, zone: "example.test.", value: value() };
    await emulator.seed("example.test", `_acme-challenge.${name}`, `"${r.value}"`);
    emulator.resetCalls();
    await s.present(r, ctx());
    expect(emulator.calls[CREATE]).toBeUndefined();
    await s.cleanUp(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([]);
  });

  it("treats a record deleted under its feet (404) as cleaned up", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const r = record();
    await s.present(r, ctx());
    emulator.inject({ status: 404, route: DELETE, body: { id: "not_found", message: "gone" } });
    await expect(s.cleanUp(r, ctx())).resolves.toBeUndefined();
  });

  it("turns a refused connection into a TemporaryError", async () => {
    const { emulator, solver } = await setup();
    await emulator.stop();
    const err = await rejection(solver().present(record(), ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toMatch(/^digitalocean: GET \/v2\/domains\/example\.test\/records: fetch failed/);
  });
});

describe("digitalocean descriptor", () => {
  const saved = process.env[DIGITALOCEAN_API_URL_ENV];
  afterEach(() => {
    if (saved === undefined) Reflect.deleteProperty(process.env, DIGITALOCEAN_API_URL_ENV);
    else process.env[DIGITALOCEAN_API_URL_ENV] = saved;
  });

  it("reads the token again on every create(), so a rotated Secret is used without a restart", async () => {
    const { emulator, url } = await setup();
    process.env[DIGITALOCEAN_API_URL_ENV] = url;
    const data = new Map([["ns/do", { "access-token": `${TOKEN}\n` }]]);
    const secrets = memorySecretReader(data);
    const block = { tokenSecretRef: { name: "do", key: "access-token" } };
    const pctx = { secretNamespace: "ns", secrets, clusterScoped: false };

    const before = await descriptor.create(block, pctx);
    await before.present(record(), ctx());

    const rotated = "dop_v1_rotated9876543210";
    emulator.addToken(rotated);
    emulator.revokeToken(TOKEN);
    data.set("ns/do", { "access-token": rotated });
    const stale = await rejection(before.present(record(), ctx()));
    expect((stale as TerminalError).reason).toBe("InvalidCredentials");

    const after = await descriptor.create(block, pctx);
    const r = record();
    await after.present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
    expect(secrets.reads).toHaveLength(2);
  });

  it.each([
    [
      "a missing Secret",
      { name: "absent", key: "access-token" },
      "SecretNotFound",
      'digitalocean: tokenSecretRef: Secret ns/absent not found (wanted its key "access-token")',
    ],
    [
      "a missing key",
      { name: "do", key: "token" },
      "SecretKeyNotFound",
      'digitalocean: tokenSecretRef: Secret ns/do has no key "token" (it has "access-token")',
    ],
    [
      "a reference without a key",
      { name: "do" },
      "InvalidConfiguration",
      "digitalocean: tokenSecretRef.key is required (the key of Secret ns/do to read)",
    ],
    [
      "an empty token",
      { name: "empty", key: "access-token" },
      "InvalidConfiguration",
      'digitalocean: tokenSecretRef: key "access-token" of Secret ns/empty is empty',
    ],
  ])("refuses %s with a clear terminal error", async (_what, ref, reason, message) => {
    const secrets = memorySecretReader(
      new Map([
        ["ns/do", { "access-token": TOKEN }],
        ["ns/empty", { "access-token": "" }],
      ]),
    );
    const err = await rejection(
      descriptor.create({ tokenSecretRef: ref }, { secretNamespace: "ns", secrets, clusterScoped: false }),
    );
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe(reason);
    expect(err.message).toBe(message);
  });
});
