/**
 * The `ovh` DNS-01 provider: OVHcloud's API v1 (`/domain/zone/{zone}/record`), signed with an
 * application key, application secret and consumer key, or with an OAuth2 bearer token from a
 * service account's client credentials.
 *
 * Signed calls follow OVH's scheme: `X-Ovh-Signature = "$1$" + sha1_hex(AS+"+"+CK+"+"+METHOD+"+"+
 * URL+"+"+BODY+"+"+TS)`, TS being the server's time: the offset of the local clock from
 * `GET /auth/time` is measured once per API and process (and again after a "query out of time").
 *
 * Records are found by name and value at every call (list the TXT record IDs at the sub-domain,
 * read each), never by an ID kept in memory, so a restart between present and cleanup loses
 * nothing. Each create or delete is followed by `POST /domain/zone/{zone}/refresh`, which puts
 * the change into the served zone.
 *
 * Why not the official `ovh` npm package: it is not a dependency here (adding one is the lead's
 * call), it takes no AbortSignal or per-request timeout, keeps the time offset per client object
 * (a solver is built per call, so every call would fetch /auth/time), and its errors carry no
 * HTTP status or Retry-After for the TemporaryError / TerminalError split.
 */
import { createHash } from "node:crypto";
import { TemporaryError, TerminalError } from "../../errors.js";
import { parseRetryAfter, rateLimits as processRateLimits, type RateLimits } from "../limits.js";
import { trimDot, zoneCandidates } from "../names.js";
import type { ProviderRateLimit } from "../provider.js";
import {
  ApiError,
  CallBudget,
  errorText,
  isAbort,
  parseJson,
  relativeTo,
  send,
  unquoteTxt,
} from "../rest.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../types.js";

/** The API roots of OVHcloud's regions, by the names OVH's own clients use. */
export const OVH_ENDPOINTS = {
  "ovh-eu": "https://eu.api.ovh.com/1.0",
  "ovh-ca": "https://ca.api.ovh.com/1.0",
  "ovh-us": "https://api.us.ovhcloud.com/1.0",
} as const;

/** The OAuth2 token endpoints of the regions. */
export const OVH_OAUTH2_TOKEN_URLS = {
  "ovh-eu": "https://www.ovh.com/auth/oauth2/token",
  "ovh-ca": "https://ca.ovh.com/auth/oauth2/token",
  "ovh-us": "https://us.ovhcloud.com/auth/oauth2/token",
} as const;

/**
 * OVH publishes no per-account figure for these routes; this keeps the operator well under what
 * its clients see throttled in practice (a few requests per second).
 */
export const OVH_RATE_LIMIT: ProviderRateLimit = {
  requests: 60,
  perMs: 60_000,
  source: "https://help.ovhcloud.com/csm/en-gb-api-getting-started-ovhcloud-api",
};

/** How the calls are authenticated. */
export type OvhAuth =
  | {
      readonly kind: "keys";
      readonly applicationKey: string;
      readonly applicationSecret: string;
      readonly consumerKey: string;
    }
  | {
      readonly kind: "oauth2";
      readonly clientId: string;
      readonly clientSecret: string;
      readonly tokenUrl: string;
    };

/** The provider's settings, with its credentials already read. */
export interface OvhConfig {
  /** The API root, with /1.0. */
  readonly endpoint: string;
  readonly auth: OvhAuth;
  /** TTL of the TXT records; default 60. */
  readonly ttl?: number | undefined;
  readonly timeoutMs?: number | undefined;
}

/** Process-wide state and the HTTP client; tests pass their own. */
export interface OvhDeps {
  readonly rateLimits?: RateLimits;
  readonly fetch?: typeof fetch;
  readonly clock?: OvhClock;
  /** Local time in ms (tests). */
  readonly now?: () => number;
}

/** One record as GET /domain/zone/{zone}/record/{id} returns it. */
interface OvhRecord {
  readonly id: number;
  readonly fieldType: string;
  readonly subDomain: string;
  readonly target: string;
}

/**
 * The offset of the local clock from each API's (`GET /auth/time`), and the OAuth2 tokens by
 * client: kept per process, since a solver is built for every call.
 */
export class OvhClock {
  private readonly deltas = new Map<string, { delta: number; at: number }>();
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();

  constructor(
    /** How long a measured offset is used before it is measured again. */
    private readonly deltaTtlMs = 3_600_000,
  ) {}

  delta(base: string, now: number): number | undefined {
    const d = this.deltas.get(base);
    return d === undefined || now - d.at > this.deltaTtlMs ? undefined : d.delta;
  }

  setDelta(base: string, delta: number, now: number): void {
    this.deltas.set(base, { delta, at: now });
  }

  forgetDelta(base: string): void {
    this.deltas.delete(base);
  }

  token(key: string, now: number): string | undefined {
    const t = this.tokens.get(key);
    return t === undefined || t.expiresAt <= now ? undefined : t.token;
  }

  setToken(key: string, token: string, expiresAt: number): void {
    this.tokens.set(key, { token, expiresAt });
  }

  forgetToken(key: string): void {
    this.tokens.delete(key);
  }
}

const processClock = new OvhClock();
const DEFAULT_THROTTLE_MS = 10_000;

/** The signature of one signed call. */
export function ovhSignature(
  applicationSecret: string,
  consumerKey: string,
  method: string,
  url: string,
  body: string,
  timestamp: number,
): string {
  const text = [applicationSecret, consumerKey, method, url, body, String(timestamp)].join("+");
  return `$1$${createHash("sha1").update(text).digest("hex")}`;
}

/** A non-secret key naming the credentials (rate-limit bucket, token cache). */
function credentialKey(auth: OvhAuth): string {
  const id =
    auth.kind === "keys"
      ? `${auth.applicationKey}\n${auth.consumerKey}`
      : `${auth.clientId}\n${auth.clientSecret}`;
  return `ovh:${createHash("sha256").update(id).digest("hex").slice(0, 16)}`;
}

class OvhSolver implements Dns01Solver {
  private readonly base: string;
  private readonly key: string;
  private readonly rateLimits: RateLimits;
  private readonly fetch: typeof fetch;
  private readonly clock: OvhClock;
  private readonly now: () => number;
  private readonly ttl: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly config: OvhConfig,
    deps: OvhDeps,
  ) {
    this.base = config.endpoint.replace(/\/+$/, "");
    this.key = credentialKey(config.auth);
    this.rateLimits = deps.rateLimits ?? processRateLimits;
    this.fetch = deps.fetch ?? globalThis.fetch;
    this.clock = deps.clock ?? processClock;
    this.now = deps.now ?? Date.now;
    this.ttl = config.ttl ?? 60;
    this.timeoutMs = config.timeoutMs ?? 30_000;
  }

  async present(record: TxtRecord, ctx: SolverContext): Promise<void> {
    // A list, a create and a refresh (plus one read per TXT record already at the name).
    const budget = this.budget(3);
    const { zone, sub, found } = await this.find(record, ctx, budget);
    if (found.length > 0) {
      ctx.log.debug("ovh: TXT value already present", { fqdn: record.fqdn, zone });
      return;
    }
    let id: number | undefined;
    try {
      const created = await this.call<OvhRecord>(
        "POST",
        `/domain/zone/${encodeURIComponent(zone)}/record`,
        ctx,
        budget,
        {
          fieldType: "TXT",
          subDomain: sub,
          target: record.value,
          ttl: this.ttl,
        },
      );
      ctx.log.info("ovh: created TXT record", { fqdn: record.fqdn, zone, id: created?.id });
      id = created?.id;
    } catch (err) {
      throw this.translate(err, "failed to create TXT record");
    }
    try {
      await this.refresh(zone, ctx, budget);
    } catch (err) {
      // A record created but never refreshed is not served, and the next present would find it and
      // stop there: take it out again, so that the retry creates and refreshes it.
      if (id !== undefined) {
        await this.call(
          "DELETE",
          `/domain/zone/${encodeURIComponent(zone)}/record/${String(id)}`,
          ctx,
          budget,
        ).catch(() => undefined);
      }
      throw err;
    }
  }

  async cleanUp(record: TxtRecord, ctx: SolverContext): Promise<void> {
    const budget = this.budget(3);
    const { zone, found } = await this.find(record, ctx, budget);
    // Nothing to delete: no refresh either (a delete whose refresh failed stays served until the
    // zone's next refresh; the operator's own next change makes one).
    if (found.length === 0) return;
    for (const id of found) {
      try {
        await this.call(
          "DELETE",
          `/domain/zone/${encodeURIComponent(zone)}/record/${String(id)}`,
          ctx,
          budget,
        );
        ctx.log.info("ovh: deleted TXT record", { fqdn: record.fqdn, zone, id });
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) continue;
        throw this.translate(err, "failed to delete TXT record");
      }
    }
    await this.refresh(zone, ctx, budget);
  }

  private async refresh(zone: string, ctx: SolverContext, budget: CallBudget): Promise<void> {
    try {
      await this.call("POST", `/domain/zone/${encodeURIComponent(zone)}/refresh`, ctx, budget);
    } catch (err) {
      throw this.translate(err, "failed to refresh the zone");
    }
  }

  /**
   * The zone (the dispatcher's, or a parent OVH holds instead), the record's sub-domain in it, and
   * the IDs of the TXT records there holding the value. A 404 on the list means no such zone.
   */
  private async find(
    record: TxtRecord,
    ctx: SolverContext,
    budget: CallBudget,
  ): Promise<{ zone: string; sub: string; found: number[] }> {
    const fqdn = trimDot(record.fqdn).toLowerCase();
    const z = trimDot(record.zone).toLowerCase();
    if (fqdn !== z && !fqdn.endsWith(`.${z}`)) {
      throw new TerminalError(`ovh: ${record.fqdn} is not in zone ${record.zone}`, "InvalidConfiguration");
    }
    const tried = zoneCandidates(record.zone);
    for (const zone of tried) {
      const rel = relativeTo(record.fqdn, zone);
      const sub = rel === "@" ? "" : rel;
      let ids: number[];
      try {
        const q = new URLSearchParams({ fieldType: "TXT", subDomain: sub });
        const got = await this.call<unknown>(
          "GET",
          `/domain/zone/${encodeURIComponent(zone)}/record?${q.toString()}`,
          ctx,
          budget,
        );
        ids = Array.isArray(got) ? got.filter((x): x is number => typeof x === "number") : [];
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) continue;
        throw this.translate(err, "failed to list TXT records");
      }
      const found: number[] = [];
      for (const id of ids) {
        try {
          const r = await this.call<OvhRecord>(
            "GET",
            `/domain/zone/${encodeURIComponent(zone)}/record/${String(id)}`,
            ctx,
            budget,
          );
          if (
            r?.fieldType === "TXT" &&
            r.subDomain.toLowerCase() === sub &&
            unquoteTxt(r.target) === record.value
          ) {
            found.push(id);
          }
        } catch (err) {
          // Deleted between the list and the read (another value's cleanup): not ours.
          if (err instanceof ApiError && err.status === 404) continue;
          throw this.translate(err, "failed to read a TXT record");
        }
      }
      return { zone, sub, found };
    }
    throw new TerminalError(
      `ovh: zone not found: the account has no DNS zone ${tried.join(" or ")} (or the credentials may not read it)`,
      "ZoneNotFound",
    );
  }

  private budget(calls: number): CallBudget {
    return new CallBudget(calls, (k) => {
      const wait = this.rateLimits.bucket(this.key, OVH_RATE_LIMIT).take(k);
      if (wait > 0) {
        throw new TemporaryError(
          `ovh: client-side rate limit for these credentials; retrying in ${String(wait)} ms`,
          wait,
        );
      }
    });
  }

  /** The server's time now, in seconds: local time corrected by the offset from GET /auth/time. */
  private async serverTime(ctx: SolverContext): Promise<number> {
    const local = this.now();
    let delta = this.clock.delta(this.base, local);
    if (delta === undefined) {
      const res = await send(
        "ovh",
        this.fetch,
        `${this.base}/auth/time`,
        { method: "GET" },
        ctx,
        this.timeoutMs,
        "GET /auth/time",
      );
      const server = Number(res.text.trim());
      if (res.status !== 200 || !Number.isFinite(server)) {
        throw new TemporaryError(
          `ovh: GET /auth/time answered HTTP ${String(res.status)}: ${res.text.slice(0, 100)}`,
        );
      }
      delta = server - Math.floor(local / 1000);
      this.clock.setDelta(this.base, delta, local);
    }
    return Math.floor(this.now() / 1000) + delta;
  }

  /** A bearer token for the OAuth2 client, from the cache or the token endpoint. */
  private async accessToken(auth: Extract<OvhAuth, { kind: "oauth2" }>, ctx: SolverContext): Promise<string> {
    const cached = this.clock.token(this.key, this.now());
    if (cached !== undefined) return cached;
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: auth.clientId,
      client_secret: auth.clientSecret,
      scope: "all",
    });
    const res = await send(
      "ovh",
      this.fetch,
      auth.tokenUrl,
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form.toString(),
      },
      ctx,
      this.timeoutMs,
      "POST oauth2/token",
    );
    const body = parseJson(res.text) as
      | { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown }
      | undefined;
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      const why = [body?.error, body?.error_description].filter((x) => typeof x === "string").join(": ");
      throw new TerminalError(
        `ovh: the OAuth2 client credentials were refused (HTTP ${String(res.status)}${why === "" ? "" : ` ${why}`})`,
        "InvalidCredentials",
      );
    }
    if (res.status === 429 || res.status >= 500 || typeof body?.access_token !== "string") {
      throw new TemporaryError(`ovh: the OAuth2 token endpoint answered HTTP ${String(res.status)}`);
    }
    const expiresIn = typeof body.expires_in === "number" ? body.expires_in : 3600;
    // Renewed a minute early, so a token never expires between the cache and the API.
    this.clock.setToken(this.key, body.access_token, this.now() + Math.max(0, expiresIn - 60) * 1000);
    return body.access_token;
  }

  private async call<T>(
    method: string,
    path: string,
    ctx: SolverContext,
    budget: CallBudget,
    body?: unknown,
  ): Promise<T | undefined> {
    budget.spend();
    const url = `${this.base}${path}`;
    const text = body === undefined ? "" : JSON.stringify(body);
    const headers: Record<string, string> = { accept: "application/json", "user-agent": "dns01-operator" };
    if (body !== undefined) headers["content-type"] = "application/json";
    const auth = this.config.auth;
    if (auth.kind === "keys") {
      const ts = await this.serverTime(ctx);
      headers["x-ovh-application"] = auth.applicationKey;
      headers["x-ovh-consumer"] = auth.consumerKey;
      headers["x-ovh-timestamp"] = String(ts);
      headers["x-ovh-signature"] = ovhSignature(
        auth.applicationSecret,
        auth.consumerKey,
        method,
        url,
        text,
        ts,
      );
    } else {
      headers["authorization"] = `Bearer ${await this.accessToken(auth, ctx)}`;
    }
    const res = await send(
      "ovh",
      this.fetch,
      url,
      { method, headers, ...(body === undefined ? {} : { body: text }) },
      ctx,
      this.timeoutMs,
      `${method} ${path.split("?")[0] ?? path}`,
    );
    if (res.status < 200 || res.status > 299) {
      const parsed = parseJson(res.text) as { errorCode?: unknown; message?: unknown } | undefined;
      throw new ApiError(
        res.status,
        typeof parsed?.errorCode === "string" ? parsed.errorCode : "",
        typeof parsed?.message === "string" ? parsed.message : res.text.slice(0, 200).trim(),
        res.headers,
      );
    }
    return res.text === "" ? undefined : (parseJson(res.text) as T | undefined);
  }

  private translate(err: unknown, what: string): Error {
    if (!(err instanceof ApiError)) {
      if (err instanceof TemporaryError || err instanceof TerminalError || isAbort(err)) return err as Error;
      return new TemporaryError(`ovh: ${what}: ${errorText(err)}`, undefined, { cause: err });
    }
    if (err.status === 429) {
      const ms = parseRetryAfter(err.headers.get("retry-after"), Date.now()) ?? DEFAULT_THROTTLE_MS;
      this.rateLimits.bucket(this.key, OVH_RATE_LIMIT).drainFor(ms);
      return new TemporaryError(`ovh: ${what}: rate limited by OVH (${err.message})`, ms, { cause: err });
    }
    if (err.code === "QUERY_TIME_OUT" || /out of time/i.test(err.apiMessage)) {
      // The clock moved since the offset was measured: measure it again on the retry.
      this.clock.forgetDelta(this.base);
      return new TemporaryError(`ovh: ${what}: ${err.message}`, 1000, { cause: err });
    }
    if (err.status === 401 && this.config.auth.kind === "oauth2") {
      // An expired or revoked bearer token: fetch a new one on the retry.
      this.clock.forgetToken(this.key);
      return new TemporaryError(`ovh: ${what}: the access token was refused (${err.message})`, 1000, {
        cause: err,
      });
    }
    if (err.status === 401 || err.status === 403 || err.code === "INVALID_SIGNATURE") {
      const hint =
        err.code === "NOT_GRANTED_CALL"
          ? ": the consumer key's access rules (or the service account's IAM policy) must allow GET, POST and " +
            "DELETE on /domain/zone/<zone>/*"
          : "";
      return new TerminalError(
        `ovh: ${what}: the credentials were refused (${err.message})${hint}`,
        "InvalidCredentials",
        {
          cause: err,
        },
      );
    }
    if (err.status === 400)
      return new TerminalError(`ovh: ${what}: ${err.message}`, "InvalidRequest", { cause: err });
    return new TemporaryError(`ovh: ${what}: ${err.message}`, undefined, { cause: err });
  }
}

/** Builds the provider. `deps` replaces the process-wide buckets, clock and fetch (tests). */
export function createOvhSolver(config: OvhConfig, deps: OvhDeps = {}): Dns01Solver {
  return new OvhSolver(config, deps);
}
