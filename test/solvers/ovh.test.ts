import { afterEach, describe, expect, it } from "@jest/globals";
import { createHash, randomBytes } from "node:crypto";
import { TemporaryError, TerminalError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { RateLimits } from "../../src/solvers/limits.js";
import { OVH_API_URL_ENV, OVH_OAUTH2_TOKEN_URL_ENV, descriptor } from "../../src/solvers/ovh/descriptor.js";
import { OvhClock, createOvhSolver, ovhSignature, type OvhAuth } from "../../src/solvers/ovh/ovh.js";
import type { SolverContext, TxtRecord } from "../../src/solvers/types.js";
import { OvhEmulator, type OvhEmulatorOptions } from "../emulators/ovh/emulator.js";

const CONSUMER = {
  applicationKey: "7kbG7Bk7S9Nt7ZSV",
  applicationSecret: "EXEgWIz07P0HYwtQDs7cNIqCiQaWSuHF",
  consumerKey: "MtSwSrPpNjqfVSmJhLbPyr2i45lSwPU1",
};
const SA = { clientId: "EU.9c4e1bd3a1c4", clientSecret: "s3cr3t-client-secret-value" };
const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });
const value = (): string => randomBytes(32).toString("base64url");
const label = (): string => `n${randomBytes(4).toString("hex")}`;
const record = (zone = "example.test.", v = value()): TxtRecord => ({
  fqdn: `_acme-challenge.${label()}.${zone}`,
  zone,
  value: v,
});

const running: OvhEmulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.stop()));
});

async function setup(options: OvhEmulatorOptions = { consumers: [CONSUMER] }) {
  const emulator = new OvhEmulator(options);
  running.push(emulator);
  await emulator.start();
  let now = Date.now();
  const clock = {
    advance: (ms: number) => {
      now += ms;
    },
  };
  const rateLimits = new RateLimits(() => now);
  const ovhClock = new OvhClock();
  const keys: OvhAuth = { kind: "keys", ...CONSUMER };
  const solver = (auth: OvhAuth = keys) =>
    createOvhSolver({ endpoint: emulator.apiUrl, auth }, { rateLimits, clock: ovhClock, now: () => now });
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

const TIME = "GET /auth/time";
const LIST = "GET /domain/zone/:zone/record";
const READ = "GET /domain/zone/:zone/record/:id";
const CREATE = "POST /domain/zone/:zone/record";
const DELETE = "DELETE /domain/zone/:zone/record/:id";
const REFRESH = "POST /domain/zone/:zone/refresh";

describe("ovh provider against its emulator", () => {
  it("signs as OVH documents: $1$ and the SHA-1 hex of AS+CK+METHOD+URL+BODY+TS", () => {
    // sha1("AS+CK+GET+https://eu.api.ovh.com/1.0/auth/time++1366560945"), computed independently.
    const expected = createHash("sha1")
      .update("AS+CK+GET+https://eu.api.ovh.com/1.0/auth/time++1366560945")
      .digest("hex");
    expect(ovhSignature("AS", "CK", "GET", "https://eu.api.ovh.com/1.0/auth/time", "", 1366560945)).toBe(
      `$1$${expected}`,
    );
    expect(ovhSignature("AS", "CK", "POST", "https://x/1.0/a", '{"a":1}', 10)).not.toBe(
      ovhSignature("AS", "CK", "POST", "https://x/1.0/a", '{"a":1}', 11),
    );
  });

  it("creates, refreshes and deletes by name and value for a name and its wildcard, with one clock read", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const apex = record();
    const wildcard = { ...apex, value: value() };
    await s.present(apex, ctx());
    await s.present(wildcard, ctx());
    expect(emulator.served(apex.fqdn).sort()).toEqual([apex.value, wildcard.value].sort());
    // A solver built afresh (as for every Challenge call) finds the records by name and value.
    await solver().cleanUp(apex, ctx());
    expect(emulator.served(apex.fqdn)).toEqual([wildcard.value]);
    await solver().cleanUp(wildcard, ctx());
    expect(emulator.values(apex.fqdn)).toEqual([]);
    expect(emulator.served(apex.fqdn)).toEqual([]);
    expect(emulator.calls).toEqual({
      [TIME]: 1,
      [LIST]: 4,
      [READ]: 4,
      [CREATE]: 2,
      [REFRESH]: 4,
      [DELETE]: 2,
    });
  });

  it("corrects its timestamp from GET /auth/time when the server's clock is an hour off", async () => {
    const { emulator, solver } = await setup({ consumers: [CONSUMER], skewSeconds: 3600 });
    const r = record();
    await solver().present(r, ctx());
    expect(emulator.served(r.fqdn)).toEqual([r.value]);
  });

  it("measures the clock offset again after OVH answers Query out of time", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    await s.cleanUp(record(), ctx());
    emulator.inject({
      status: 400,
      route: LIST,
      body: { errorCode: "QUERY_TIME_OUT", message: "Query out of time" },
    });
    const err = await rejection(s.present(record(), ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toBe("ovh: failed to list TXT records: HTTP 400 QUERY_TIME_OUT: Query out of time");
    await s.cleanUp(record(), ctx());
    expect(emulator.calls[TIME]).toBe(2);
  });

  it("rejects a wrong application secret as InvalidCredentials after one API call", async () => {
    const { emulator, solver } = await setup();
    const err = await rejection(
      solver({ kind: "keys", ...CONSUMER, applicationSecret: "wrong-secret" }).present(record(), ctx()),
    );
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toBe(
      "ovh: failed to list TXT records: the credentials were refused (HTTP 400 INVALID_SIGNATURE: Invalid signature)",
    );
    expect(emulator.calls).toEqual({ [TIME]: 1, [LIST]: 1 });
  });

  it("names the access rules when a consumer key may read but not write (403 NOT_GRANTED_CALL)", async () => {
    const rules = [{ method: "GET", path: "/domain/zone/example.test/*" }];
    const { emulator, solver } = await setup({ consumers: [{ ...CONSUMER, rules }] });
    const err = await rejection(solver().present(record(), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toBe(
      "ovh: failed to create TXT record: the credentials were refused (HTTP 403 NOT_GRANTED_CALL: This call has " +
        "not been granted): the consumer key's access rules (or the service account's IAM policy) must allow GET, " +
        "POST and DELETE on /domain/zone/<zone>/*",
    );
    expect(emulator.calls).toEqual({ [TIME]: 1, [LIST]: 1, [CREATE]: 1 });
  });

  it("works with access rules limited to /domain/zone/<zone>/*, and is refused any other zone", async () => {
    const rules = ["GET", "POST", "DELETE"].map((method) => ({
      method,
      path: "/domain/zone/example.test/*",
    }));
    const { solver, emulator } = await setup({ consumers: [{ ...CONSUMER, rules }] });
    const r = record();
    await solver().present(r, ctx());
    await solver().cleanUp(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([]);
    const err = await rejection(solver().present(record("second.test."), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
  });

  it("answers a 429 with a TemporaryError carrying Retry-After, and calls again only once the wait is over", async () => {
    const { emulator, solver, clock } = await setup();
    const s = solver();
    const r = record();
    emulator.inject({ status: 429, retryAfter: 9, route: CREATE });
    const first = await rejection(s.present(r, ctx()));
    expect(first).toBeInstanceOf(TemporaryError);
    expect((first as TemporaryError).retryAfterMs).toBe(9000);
    expect(first.message).toBe(
      "ovh: failed to create TXT record: rate limited by OVH (HTTP 429 TOO_MANY_REQUESTS: Too many requests)",
    );
    expect(emulator.calls).toEqual({ [TIME]: 1, [LIST]: 1, [CREATE]: 1 });
    const early = await rejection(s.present(r, ctx()));
    expect(early).toBeInstanceOf(TemporaryError);
    expect(emulator.total).toBe(3);
    clock.advance(9000 + ((early as TemporaryError).retryAfterMs ?? 0));
    await s.present(r, ctx());
    expect(emulator.served(r.fqdn)).toEqual([r.value]);
    expect(emulator.calls).toEqual({ [TIME]: 1, [LIST]: 2, [CREATE]: 2, [REFRESH]: 1 });
  });

  it("answers a 5xx at the refresh with a TemporaryError, takes the unserved record out, and the retry serves it", async () => {
    const { emulator, solver } = await setup();
    const s = solver();
    const r = record();
    emulator.inject({ status: 503, route: REFRESH });
    const err = await rejection(s.present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toBe(
      "ovh: failed to refresh the zone: HTTP 503 INTERNAL_ERROR: Internal server error",
    );
    expect(emulator.values(r.fqdn)).toEqual([]);
    expect(emulator.served(r.fqdn)).toEqual([]);
    expect(emulator.calls).toEqual({ [TIME]: 1, [LIST]: 1, [CREATE]: 1, [REFRESH]: 1, [DELETE]: 1 });
    await s.present(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([r.value]);
    expect(emulator.served(r.fqdn)).toEqual([r.value]);
    expect(emulator.calls[CREATE]).toBe(2);
  });

  it("reports ZoneNotFound for a zone the account does not hold, after one lookup per level", async () => {
    const { emulator, solver } = await setup();
    const err = await rejection(solver().present(record("sub.nope.test."), ctx()));
    expect((err as TerminalError).reason).toBe("ZoneNotFound");
    expect(err.message).toBe(
      "ovh: zone not found: the account has no DNS zone sub.nope.test or nope.test (or the credentials may not read it)",
    );
    expect(emulator.calls).toEqual({ [TIME]: 1, [LIST]: 2 });
  });

  it("authenticates with OAuth2 client credentials, one token for many calls, and a new one once it is refused", async () => {
    const { emulator, solver } = await setup({ serviceAccounts: [SA] });
    const auth: OvhAuth = { kind: "oauth2", ...SA, tokenUrl: emulator.tokenUrl };
    const r = record();
    await solver(auth).present(r, ctx());
    await solver(auth).cleanUp(r, ctx());
    expect(emulator.calls["POST /auth/oauth2/token"]).toBe(1);
    expect(emulator.calls[TIME]).toBeUndefined();
    emulator.expireTokens();
    const err = await rejection(solver(auth).present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    await solver(auth).present(r, ctx());
    expect(emulator.calls["POST /auth/oauth2/token"]).toBe(2);
    expect(emulator.served(r.fqdn)).toEqual([r.value]);
  });

  it("rejects wrong OAuth2 client credentials as InvalidCredentials, without echoing the secret", async () => {
    const { emulator, solver } = await setup({ serviceAccounts: [SA] });
    const err = await rejection(
      solver({
        kind: "oauth2",
        clientId: SA.clientId,
        clientSecret: "not-the-secret",
        tokenUrl: emulator.tokenUrl,
      }).present(record(), ctx()),
    );
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toBe(
      "ovh: the OAuth2 client credentials were refused (HTTP 401 invalid_client: Invalid client credentials)",
    );
    expect(emulator.total).toBe(1);
  });
});

describe("ovh descriptor", () => {
  const saved = [process.env[OVH_API_URL_ENV], process.env[OVH_OAUTH2_TOKEN_URL_ENV]] as const;
  afterEach(() => {
    for (const [name, v] of [
      [OVH_API_URL_ENV, saved[0]],
      [OVH_OAUTH2_TOKEN_URL_ENV, saved[1]],
    ] as const) {
      if (v === undefined) Reflect.deleteProperty(process.env, name);
      else process.env[name] = v;
    }
  });

  it("builds a signed solver from the three keys in their Secret", async () => {
    const { emulator } = await setup();
    process.env[OVH_API_URL_ENV] = emulator.apiUrl;
    const secrets = memorySecretReader(
      new Map([
        [
          "ns/ovh",
          { ak: CONSUMER.applicationKey, as: CONSUMER.applicationSecret, ck: `${CONSUMER.consumerKey}\n` },
        ],
      ]),
    );
    const s = await descriptor.create(
      {
        endpoint: "ovh-eu",
        applicationKeySecretRef: { name: "ovh", key: "ak" },
        applicationSecretSecretRef: { name: "ovh", key: "as" },
        consumerKeySecretRef: { name: "ovh", key: "ck" },
      },
      { secretNamespace: "ns", secrets, clusterScoped: false },
    );
    const r = record();
    await s.present(r, ctx());
    expect(emulator.served(r.fqdn)).toEqual([r.value]);
  });

  it("builds an OAuth2 solver whose token URL follows a URL endpoint", async () => {
    const { emulator } = await setup({ serviceAccounts: [SA] });
    Reflect.deleteProperty(process.env, OVH_API_URL_ENV);
    Reflect.deleteProperty(process.env, OVH_OAUTH2_TOKEN_URL_ENV);
    const secrets = memorySecretReader(new Map([["ns/ovh", { secret: SA.clientSecret }]]));
    const s = await descriptor.create(
      {
        endpoint: emulator.apiUrl,
        oauth2: { clientID: SA.clientId, clientSecretSecretRef: { name: "ovh", key: "secret" } },
      },
      { secretNamespace: "ns", secrets, clusterScoped: false },
    );
    const r = record();
    await s.present(r, ctx());
    expect(emulator.served(r.fqdn)).toEqual([r.value]);
  });

  it("refuses a block with both the keys and oauth2", async () => {
    const secrets = memorySecretReader(new Map());
    const err = await rejection(
      descriptor.create(
        {
          endpoint: "ovh-eu",
          applicationKeySecretRef: { name: "ovh", key: "ak" },
          oauth2: { clientID: "x", clientSecretSecretRef: { name: "ovh", key: "s" } },
        },
        { secretNamespace: "ns", secrets, clusterScoped: false },
      ),
    );
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
  });
});
