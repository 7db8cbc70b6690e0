import { afterEach, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { TemporaryError, TerminalError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { GODADDY_API_URL_ENV, descriptor } from "../../src/solvers/godaddy/descriptor.js";
import { createGoDaddySolver } from "../../src/solvers/godaddy/godaddy.js";
import { RateLimits } from "../../src/solvers/limits.js";
import { KeyedLock } from "../../src/solvers/rest.js";
import type { SolverContext, TxtRecord } from "../../src/solvers/types.js";
import { GoDaddyEmulator, type GoDaddyEmulatorOptions } from "../emulators/godaddy/emulator.js";

const KEY = { key: "dLP4wKzvGnWD_Sk2AV6ESm2y7nsprTTgzaP", secret: "RTh5mqQ2bSiM7hPHJ6Xcez" };
const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });
const value = (): string => randomBytes(32).toString("base64url");
const label = (): string => `n${randomBytes(4).toString("hex")}`;
const record = (zone = "example.test.", v = value()): TxtRecord => ({
  fqdn: `_acme-challenge.${label()}.${zone}`,
  zone,
  value: v,
});

const running: GoDaddyEmulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.stop()));
});

async function setup(options: GoDaddyEmulatorOptions = { keys: [KEY] }) {
  const emulator = new GoDaddyEmulator(options);
  running.push(emulator);
  const url = await emulator.start();
  let now = 1_000_000;
  const clock = {
    advance: (ms: number) => {
      now += ms;
    },
  };
  const rateLimits = new RateLimits(() => now);
  const solver = (apiKey = KEY.key, apiSecret = KEY.secret) =>
    createGoDaddySolver({ apiKey, apiSecret, endpoint: url }, { rateLimits, lock: new KeyedLock() });
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

const RECORDS = "/v1/domains/:domain/records/:type/:name";
const GET = `GET ${RECORDS}`;
const PUT = `PUT ${RECORDS}`;
const DELETE = `DELETE ${RECORDS}`;

describe("godaddy provider against its emulator", () => {
  it("makes 8 API calls for a name and its wildcard presented at once, and loses neither value", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const apex = record();
    const wildcard = { ...apex, value: value() };
    await Promise.all([s.present(apex, ctx()), s.present(wildcard, ctx())]);
    expect(emulator.values(apex.fqdn).sort()).toEqual([apex.value, wildcard.value].sort());
    await Promise.all([s.cleanUp(apex, ctx()), s.cleanUp(wildcard, ctx())]);
    expect(emulator.values(apex.fqdn)).toEqual([]);
    expect(emulator.calls).toEqual({ [GET]: 4, [PUT]: 3, [DELETE]: 1 });
  });

  it("writes back another client's value at the same name, with its TTL, when adding and removing its own", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const name = label();
    const r = { fqdn: `_acme-challenge.${name}.example.test.`, zone: "example.test.", value: value() };
    await emulator.seed(
      "example.test",
      "TXT",
      `_acme-challenge.${name}`,
      "google-site-verification=abc",
      3600,
    );
    await s.present(r, ctx());
    expect(emulator.records("example.test").filter((x) => x.name === `_acme-challenge.${name}`)).toEqual([
      { type: "TXT", name: `_acme-challenge.${name}`, data: "google-site-verification=abc", ttl: 3600 },
      { type: "TXT", name: `_acme-challenge.${name}`, data: r.value, ttl: 600 },
    ]);
    await s.cleanUp(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual(["google-site-verification=abc"]);
    expect(emulator.records("example.test")[0]?.ttl).toBe(3600);
  });

  it("explains a 403 from an account under 10 domains as GoDaddy's API restriction, after one call", async () => {
    const { emulator, solver } = await setup({ keys: [{ ...KEY, accountDomains: 3 }] });
    const err = await rejection(solver().present(record(), ctx()));
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("AccessDenied");
    expect(err.message).toBe(
      "godaddy: failed to read TXT records: access denied (HTTP 403 ACCESS_DENIED: Authenticated user is not " +
        "allowed access); since May 2024 GoDaddy's Domains and DNS APIs answer 403 ACCESS_DENIED to accounts " +
        "with fewer than 10 domains (or without a Discount Domain Club plan): that is the likely cause when the " +
        "key and secret are right and belong to the account holding the domain",
    );
    expect(emulator.total).toBe(1);
  });

  it("rejects a wrong secret with InvalidCredentials after one call, without echoing it", async () => {
    const { emulator, solver } = await setup();
    const err = await rejection(solver(KEY.key, "wrong-secret-value").present(record(), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toBe(
      "godaddy: failed to read TXT records: the API key and secret were rejected (HTTP 401 UNABLE_TO_AUTHENTICATE: Unable to authenticate)",
    );
    expect(err.message).not.toContain("wrong-secret-value");
    expect(emulator.total).toBe(1);
  });

  it("answers a 429 with a TemporaryError for the body's retryAfterSec, and calls again only after it", async () => {
    const { emulator, solver, clock } = await setup();
    const s = solver();
    const r = record();
    emulator.inject({ status: 429, route: PUT });
    const first = await rejection(s.present(r, ctx()));
    expect(first).toBeInstanceOf(TemporaryError);
    expect((first as TemporaryError).retryAfterMs).toBe(30_000);
    expect(first.message).toBe(
      "godaddy: failed to add the TXT value: rate limited by GoDaddy (HTTP 429 TOO_MANY_REQUESTS: Too many requests received within interval)",
    );
    expect(emulator.calls).toEqual({ [GET]: 1, [PUT]: 1 });
    const early = await rejection(s.present(r, ctx()));
    expect(early).toBeInstanceOf(TemporaryError);
    expect(emulator.total).toBe(2);
    clock.advance(30_000 + ((early as TemporaryError).retryAfterMs ?? 0));
    await s.present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
    expect(emulator.calls).toEqual({ [GET]: 2, [PUT]: 2 });
  });

  it("prefers Retry-After over the body when GoDaddy sends both", async () => {
    const { emulator, solver } = await setup();
    emulator.inject({ status: 429, retryAfter: 7 });
    const err = await rejection(solver().present(record(), ctx()));
    expect((err as TemporaryError).retryAfterMs).toBe(7000);
  });

  it("answers a 5xx with a TemporaryError in one request, and succeeds on the next try", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const r = record();
    emulator.inject({ status: 503, route: PUT });
    const err = await rejection(s.present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toBe(
      "godaddy: failed to add the TXT value: HTTP 503 INTERNAL_SERVER_ERROR: Internal Server Error",
    );
    expect(emulator.calls).toEqual({ [GET]: 1, [PUT]: 1 });
    await s.present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
    expect(emulator.calls).toEqual({ [GET]: 2, [PUT]: 2 });
  });

  it("reports ZoneNotFound for a domain the account does not hold, after one lookup per level", async () => {
    const { emulator, solver } = await setup();
    const err = await rejection(solver().present(record("sub.nope.test."), ctx()));
    expect((err as TerminalError).reason).toBe("ZoneNotFound");
    expect(err.message).toBe("godaddy: zone not found: the account has no domain sub.nope.test or nope.test");
    expect(emulator.calls).toEqual({ [GET]: 2 });
  });

  it("is served by the emulator's own 60-a-minute limit with a 429 once it is spent", async () => {
    const { solver } = await setup({ keys: [KEY], perMinute: 1 });
    await solver().cleanUp(record(), ctx());
    const err = await rejection(solver().cleanUp(record(), ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as TemporaryError).retryAfterMs).toBeGreaterThan(50_000);
  });

  it("turns a refused connection into a TemporaryError", async () => {
    const { emulator, solver } = await setup();
    await emulator.stop();
    const err = await rejection(solver().present(record(), ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toMatch(/^godaddy: GET \/v1\/domains\/example\.test\/records\/TXT\/.*: fetch failed/);
  });
});

describe("godaddy descriptor", () => {
  const saved = process.env[GODADDY_API_URL_ENV];
  afterEach(() => {
    if (saved === undefined) Reflect.deleteProperty(process.env, GODADDY_API_URL_ENV);
    else process.env[GODADDY_API_URL_ENV] = saved;
  });

  it("builds a solver from the key and secret in their Secrets, trimmed", async () => {
    const { emulator, url } = await setup();
    process.env[GODADDY_API_URL_ENV] = url;
    const secrets = memorySecretReader(
      new Map([["ns/gd", { key: `${KEY.key}\n`, secret: `${KEY.secret}\n` }]]),
    );
    const s = await descriptor.create(
      { apiKeySecretRef: { name: "gd", key: "key" }, apiSecretSecretRef: { name: "gd", key: "secret" } },
      { secretNamespace: "ns", secrets, clusterScoped: false },
    );
    const r = record();
    await s.present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
  });

  it("refuses a missing secret key with SecretKeyNotFound naming the field", async () => {
    const secrets = memorySecretReader(new Map([["ns/gd", { key: KEY.key }]]));
    const err = await rejection(
      descriptor.create(
        { apiKeySecretRef: { name: "gd", key: "key" }, apiSecretSecretRef: { name: "gd", key: "secret" } },
        { secretNamespace: "ns", secrets, clusterScoped: false },
      ),
    );
    expect((err as TerminalError).reason).toBe("SecretKeyNotFound");
    expect(err.message).toBe('godaddy: apiSecretSecretRef: Secret ns/gd has no key "secret" (it has "key")');
  });
});
