import { afterEach, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { TemporaryError, TerminalError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { RateLimits } from "../../src/solvers/limits.js";
import { NAMECHEAP_API_URL_ENV, descriptor } from "../../src/solvers/namecheap/descriptor.js";
import { createNamecheapSolver } from "../../src/solvers/namecheap/namecheap.js";
import { KeyedLock } from "../../src/solvers/rest.js";
import type { SolverContext, TxtRecord } from "../../src/solvers/types.js";
import {
  NamecheapEmulator,
  type EmulatedHost,
  type NamecheapEmulatorOptions,
} from "../emulators/namecheap/emulator.js";

const USER = { apiUser: "dns01user", apiKey: "0123456789abcdef0123456789abcdef" };
const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });
const value = (): string => randomBytes(32).toString("base64url");
const label = (): string => `n${randomBytes(4).toString("hex")}`;
const record = (zone = "example.test.", v = value()): TxtRecord => ({
  fqdn: `_acme-challenge.${label()}.${zone}`,
  zone,
  value: v,
});

const running: NamecheapEmulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.stop()));
});

async function setup(options: NamecheapEmulatorOptions = { users: [USER] }) {
  const emulator = new NamecheapEmulator(options);
  running.push(emulator);
  await emulator.start();
  let now = 1_000_000;
  const clock = {
    advance: (ms: number) => {
      now += ms;
    },
  };
  const rateLimits = new RateLimits(() => now);
  const lock = new KeyedLock();
  const solver = (apiKey = USER.apiKey, clientIP = "127.0.0.1") =>
    createNamecheapSolver(
      { apiUser: USER.apiUser, apiKey, clientIP, endpoint: emulator.apiUrl },
      { rateLimits, lock },
    );
  return { emulator, solver, clock };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

const GET = "namecheap.domains.dns.getHosts";
const SET = "namecheap.domains.dns.setHosts";

/** 50 unrelated host records of every type Namecheap serves, with odd attributes. */
function unrelatedHosts(): Omit<EmulatedHost, "hostId">[] {
  const kinds: ((i: number) => Omit<EmulatedHost, "hostId">)[] = [
    (i) => ({ name: `a${String(i)}`, type: "A", address: `192.0.2.${String(i)}`, mxPref: 10, ttl: 300 + i }),
    (i) => ({
      name: `v6-${String(i)}`,
      type: "AAAA",
      address: `2001:db8::${String(i)}`,
      mxPref: 10,
      ttl: 1800,
    }),
    (i) => ({
      name: `www${String(i)}`,
      type: "CNAME",
      address: `target${String(i)}.example.net.`,
      mxPref: 10,
      ttl: 60,
    }),
    (i) => ({
      name: i % 2 === 0 ? "@" : `mail${String(i)}`,
      type: "MX",
      address: `mx${String(i)}.example.net.`,
      mxPref: i,
      ttl: 3600,
    }),
    (i) => ({
      name: i % 3 === 0 ? "@" : `t${String(i)}`,
      type: "TXT",
      address: `v=spf1 include:_spf${String(i)}.example.net ~all`,
      mxPref: 10,
      ttl: 600,
    }),
    (i) => ({
      name: "@",
      type: "CAA",
      address: `0 issue "ca${String(i)}.example.net"`,
      mxPref: 10,
      ttl: 1200,
    }),
    (i) => ({
      name: `go${String(i)}`,
      type: "URL301",
      address: `https://example.net/${String(i)}?a=1&b=<2>`,
      mxPref: 10,
      ttl: 1800,
    }),
    (i) => ({
      name: `fr${String(i)}`,
      type: "FRAME",
      address: `http://example.org/${String(i)}`,
      mxPref: 10,
      ttl: 1800,
    }),
    (i) => ({
      name: `ns${String(i)}`,
      type: "NS",
      address: `ns${String(i)}.example.net.`,
      mxPref: 10,
      ttl: 1800,
    }),
  ];
  const hosts: Omit<EmulatedHost, "hostId">[] = [];
  for (let i = 0; i < 50; i++) {
    const kind = kinds[i % kinds.length];
    if (kind !== undefined) hosts.push(kind(i + 1));
  }
  return hosts;
}

const withoutIds = (hosts: EmulatedHost[]) =>
  hosts.map(({ hostId: _id, ...h }) => h).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

describe("namecheap provider against its emulator", () => {
  it("makes 8 API calls for a name and its wildcard: a getHosts and a setHosts per change", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const apex = record();
    const wildcard = { ...apex, value: value() };
    await Promise.all([s.present(apex, ctx()), s.present(wildcard, ctx())]);
    expect(emulator.values(apex.fqdn).sort()).toEqual([apex.value, wildcard.value].sort());
    await Promise.all([s.cleanUp(apex, ctx()), s.cleanUp(wildcard, ctx())]);
    expect(emulator.values(apex.fqdn)).toEqual([]);
    expect(emulator.calls).toEqual({ [GET]: 4, [SET]: 4 });
  });

  it("loses and alters none of 50 unrelated records of every type under concurrent apex and wildcard presents", async () => {
    // Namecheap's own 20 a minute would refuse the 24 calls of this minute-less test.
    const { emulator, solver, clock } = await setup({ users: [USER], perMinute: 100 });
    const seeded = unrelatedHosts();
    await emulator.seed("example.test", seeded, "MX");
    const before = withoutIds(emulator.hosts("example.test").hosts);
    const s = solver();
    // Three certificates at once, each with its apex and wildcard value: six writers of one host list.
    const names = [label(), label(), label()];
    const records = names.flatMap((n) => {
      const fqdn = `_acme-challenge.${n}.example.test.`;
      return [
        { fqdn, zone: "example.test.", value: value() },
        { fqdn, zone: "example.test.", value: value() },
      ];
    });
    await Promise.all(records.map((r) => s.present(r, ctx())));
    // Six changes are twelve calls: a minute passes before the next twelve, as Namecheap's 20 a minute needs.
    clock.advance(60_000);
    const during = emulator.hosts("example.test");
    expect(during.emailType).toBe("MX");
    const ours = during.hosts.filter((h) => h.name.startsWith("_acme-challenge."));
    expect(ours.map((h) => h.address).sort()).toEqual(records.map((r) => r.value).sort());
    expect(withoutIds(during.hosts.filter((h) => !h.name.startsWith("_acme-challenge.")))).toEqual(before);

    await Promise.all(records.map((r) => s.cleanUp(r, ctx())));
    const after = emulator.hosts("example.test");
    expect(after.emailType).toBe("MX");
    expect(withoutIds(after.hosts)).toEqual(before);
    expect(after.hosts).toHaveLength(50);
  });

  it("says the client IP is not whitelisted when Namecheap answers 1011150, after one call", async () => {
    const { emulator, solver } = await setup();
    const err = await rejection(solver(USER.apiKey, "198.51.100.7").present(record(), ctx()));
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toBe(
      "namecheap: failed to read the host records: error 1011150: Invalid request IP: 198.51.100.7: the clientIP " +
        "198.51.100.7 is not whitelisted for API access (Profile → Tools → API Access), or is not the address the " +
        "operator's requests leave from",
    );
    expect(emulator.total).toBe(1);
  });

  it("rejects a wrong key with InvalidCredentials after one call, without echoing it", async () => {
    const { emulator, solver } = await setup();
    const err = await rejection(solver("ffffffffffffffffffffffffffffffff").present(record(), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toBe(
      "namecheap: failed to read the host records: the API user or key was refused (error 1011102: API Key is invalid or API access has not been enabled)",
    );
    expect(err.message).not.toContain("ffffffff");
    expect(emulator.total).toBe(1);
  });

  it("rejects an HTTP 403 from a proxy in front of the API as InvalidCredentials", async () => {
    const { emulator, solver } = await setup();
    emulator.inject({ status: 403, error: { number: "0", message: "Forbidden" } });
    const err = await rejection(solver().present(record(), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(emulator.total).toBe(1);
  });

  it("answers Too many requests with a TemporaryError, and calls again only once the wait is over", async () => {
    const { emulator, solver, clock } = await setup();
    const s = solver();
    const r = record();
    emulator.inject({ status: 429, route: SET, retryAfter: 20 });
    const first = await rejection(s.present(r, ctx()));
    expect(first).toBeInstanceOf(TemporaryError);
    expect((first as TemporaryError).retryAfterMs).toBe(20_000);
    expect(first.message).toBe(
      "namecheap: failed to write the host records: rate limited by Namecheap (error 5050900: Too many requests)",
    );
    expect(emulator.calls).toEqual({ [GET]: 1, [SET]: 1 });
    const early = await rejection(s.present(r, ctx()));
    expect(early).toBeInstanceOf(TemporaryError);
    expect(emulator.total).toBe(2);
    clock.advance(20_000 + ((early as TemporaryError).retryAfterMs ?? 0));
    await s.present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
    expect(emulator.calls).toEqual({ [GET]: 2, [SET]: 2 });
  });

  it("is throttled by the emulator's 20-a-minute limit, which it reports as a TemporaryError", async () => {
    const { solver } = await setup({ users: [USER], perMinute: 1 });
    await solver().cleanUp(record(), ctx());
    const err = await rejection(solver().cleanUp(record(), ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toMatch(/rate limited by Namecheap \(error 500000: Too many requests\)$/);
  });

  it("answers a 5xx with a TemporaryError in one request, and succeeds on the next try", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const r = record();
    emulator.inject({ status: 502, route: SET });
    const err = await rejection(s.present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toBe("namecheap: failed to write the host records: error 5050900: Internal error");
    expect(emulator.calls).toEqual({ [GET]: 1, [SET]: 1 });
    await s.present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
  });

  it("reports ZoneNotFound for a domain the account does not hold, after one lookup per level", async () => {
    const { emulator, solver } = await setup();
    const err = await rejection(solver().present(record("sub.nope.test."), ctx()));
    expect((err as TerminalError).reason).toBe("ZoneNotFound");
    expect(err.message).toBe(
      "namecheap: zone not found: the account has no domain sub.nope.test or nope.test using Namecheap's DNS",
    );
    expect(emulator.calls).toEqual({ [GET]: 2 });
  });

  it("makes no write when the value is already there, or already gone", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const r = record();
    await s.present(r, ctx());
    emulator.resetCalls();
    await s.present(r, ctx());
    await s.cleanUp({ ...r, value: value() }, ctx());
    expect(emulator.calls).toEqual({ [GET]: 2 });
  });
});

describe("namecheap descriptor", () => {
  const saved = process.env[NAMECHEAP_API_URL_ENV];
  afterEach(() => {
    if (saved === undefined) Reflect.deleteProperty(process.env, NAMECHEAP_API_URL_ENV);
    else process.env[NAMECHEAP_API_URL_ENV] = saved;
  });

  it("builds a solver from the block and the key in its Secret", async () => {
    const { emulator } = await setup();
    process.env[NAMECHEAP_API_URL_ENV] = emulator.apiUrl;
    const secrets = memorySecretReader(new Map([["ns/nc", { "api-key": `${USER.apiKey}\n` }]]));
    const s = await descriptor.create(
      { apiUser: USER.apiUser, clientIP: "127.0.0.1", apiKeySecretRef: { name: "nc", key: "api-key" } },
      { secretNamespace: "ns", secrets, clusterScoped: false },
    );
    const r = record();
    await s.present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
  });
});
