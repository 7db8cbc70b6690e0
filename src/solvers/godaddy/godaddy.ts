/**
 * The `godaddy` DNS-01 provider: GoDaddy's Domains API v1, `Authorization: sso-key KEY:SECRET`.
 *
 * GoDaddy keeps the TXT values of one name as one set: `GET /v1/domains/{domain}/records/TXT/{name}`
 * reads it, `PUT` writes the whole set, `DELETE` removes the name's TXT records. So presenting is
 * read, add, write back; cleaning up is read, remove, write back (or DELETE when the last value
 * goes). Other values at the name (the wildcard's beside the apex's, a verification string) are
 * written back as they were. Read-modify-write on one name is serialized in this process; two
 * operator replicas never solve one Challenge at once (leader election).
 *
 * Since May 2024 GoDaddy answers 403 ACCESS_DENIED to accounts with fewer than 10 domains (or no
 * Discount Domain Club plan); the condition names that as the likely cause.
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
  KeyedLock,
  parseJson,
  relativeTo,
  send,
  unquoteTxt,
} from "../rest.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../types.js";

/** The production API. */
export const GODADDY_API_URL = "https://api.godaddy.com";
/** The OTE (test) environment. */
export const GODADDY_OTE_API_URL = "https://api.ote-godaddy.com";

/** GoDaddy allows 60 requests per minute per API key (its documented limit, per endpoint). */
export const GODADDY_RATE_LIMIT: ProviderRateLimit = {
  requests: 60,
  perMs: 60_000,
  source: "https://developer.godaddy.com/getstarted",
};

/** The message a 403 gets: GoDaddy's account restriction is by far the usual cause. */
export const GODADDY_ACCESS_HINT =
  "since May 2024 GoDaddy's Domains and DNS APIs answer 403 ACCESS_DENIED to accounts with fewer than 10 " +
  "domains (or without a Discount Domain Club plan): that is the likely cause when the key and secret are " +
  "right and belong to the account holding the domain";

/** The provider's settings, with its key and secret already read. */
export interface GoDaddyConfig {
  readonly apiKey: string;
  readonly apiSecret: string;
  /** API root; default {@link GODADDY_API_URL}. */
  readonly endpoint?: string | undefined;
  /** TTL of the values written; default 600, GoDaddy's minimum. */
  readonly ttl?: number | undefined;
  readonly timeoutMs?: number | undefined;
}

/** Process-wide state and the HTTP client; tests pass their own. */
export interface GoDaddyDeps {
  readonly rateLimits?: RateLimits;
  readonly fetch?: typeof fetch;
  readonly lock?: KeyedLock;
}

/** One record as GET returns it. */
interface GoDaddyRecord {
  readonly data: string;
  readonly name?: string;
  readonly ttl?: number;
  readonly type?: string;
}

const processLock = new KeyedLock();
const DEFAULT_THROTTLE_MS = 60_000;

/** The lock of a record's name: one read-modify-write at a time per name, whichever domain holds it. */
function lockKey(record: TxtRecord): string {
  return trimDot(record.fqdn).toLowerCase();
}

/** A non-secret key for the account's rate-limit bucket. */
export function goDaddyAccountKey(apiKey: string): string {
  return `godaddy:${createHash("sha256").update(apiKey).digest("hex").slice(0, 16)}`;
}

class GoDaddySolver implements Dns01Solver {
  private readonly base: string;
  private readonly accountKey: string;
  private readonly rateLimits: RateLimits;
  private readonly fetch: typeof fetch;
  private readonly lock: KeyedLock;
  private readonly ttl: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly config: GoDaddyConfig,
    deps: GoDaddyDeps,
  ) {
    this.base = (config.endpoint ?? GODADDY_API_URL).replace(/\/+$/, "");
    this.accountKey = goDaddyAccountKey(config.apiKey);
    this.rateLimits = deps.rateLimits ?? processRateLimits;
    this.fetch = deps.fetch ?? globalThis.fetch;
    this.lock = deps.lock ?? processLock;
    this.ttl = config.ttl ?? 600;
    this.timeoutMs = config.timeoutMs ?? 30_000;
  }

  async present(record: TxtRecord, ctx: SolverContext): Promise<void> {
    // The whole read-modify-write under the name's lock: a read outside it could be stale by the write.
    await this.lock.run(lockKey(record), async () => {
      const budget = this.budget(2);
      const { domain, values } = await this.read(record, ctx, budget);
      if (values.some((r) => unquoteTxt(r.data) === record.value)) {
        ctx.log.debug("godaddy: TXT value already present", { fqdn: record.fqdn, domain });
        return;
      }
      const next = [...values, { data: record.value, ttl: this.ttl }];
      await this.write(
        domain,
        relativeTo(record.fqdn, domain),
        next,
        ctx,
        budget,
        "failed to add the TXT value",
      );
      ctx.log.info("godaddy: added TXT value", { fqdn: record.fqdn, domain, values: next.length });
    });
  }

  async cleanUp(record: TxtRecord, ctx: SolverContext): Promise<void> {
    await this.lock.run(lockKey(record), async () => {
      const budget = this.budget(2);
      const { domain, values } = await this.read(record, ctx, budget);
      const name = relativeTo(record.fqdn, domain);
      const rest = values.filter((r) => unquoteTxt(r.data) !== record.value);
      if (rest.length === values.length) return;
      if (rest.length > 0) {
        await this.write(domain, name, rest, ctx, budget, "failed to remove the TXT value");
      } else {
        try {
          await this.call("DELETE", this.path(domain, name), ctx, budget);
        } catch (err) {
          // Gone already: that is the outcome wanted.
          if (!(err instanceof ApiError && err.status === 404)) {
            throw this.translate(err, "failed to delete the TXT record");
          }
        }
      }
      ctx.log.info("godaddy: removed TXT value", { fqdn: record.fqdn, domain, left: rest.length });
    });
  }

  private path(domain: string, name: string): string {
    return `/v1/domains/${encodeURIComponent(domain)}/records/TXT/${encodeURIComponent(name)}`;
  }

  /**
   * The domain (the zone, or a parent GoDaddy holds instead) and the TXT records at the name. A
   * 404 means the account has no such domain: the parent is tried.
   */
  private async read(
    record: TxtRecord,
    ctx: SolverContext,
    budget: CallBudget,
  ): Promise<{ domain: string; values: GoDaddyRecord[] }> {
    const tried = zoneCandidates(record.zone);
    const fqdn = trimDot(record.fqdn).toLowerCase();
    const zone = trimDot(record.zone).toLowerCase();
    if (fqdn !== zone && !fqdn.endsWith(`.${zone}`)) {
      throw new TerminalError(
        `godaddy: ${record.fqdn} is not in zone ${record.zone}`,
        "InvalidConfiguration",
      );
    }
    for (const domain of tried) {
      try {
        const got = await this.call<GoDaddyRecord[]>(
          "GET",
          this.path(domain, relativeTo(record.fqdn, domain)),
          ctx,
          budget,
        );
        return { domain, values: Array.isArray(got) ? got : [] };
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) continue;
        throw this.translate(err, "failed to read TXT records");
      }
    }
    throw new TerminalError(
      `godaddy: zone not found: the account has no domain ${tried.join(" or ")}`,
      "ZoneNotFound",
    );
  }

  private async write(
    domain: string,
    name: string,
    records: readonly GoDaddyRecord[],
    ctx: SolverContext,
    budget: CallBudget,
    what: string,
  ): Promise<void> {
    // Each value keeps its TTL; only data and ttl are sent (the path gives type and name).
    const body = records.map((r) => ({ data: r.data, ttl: r.ttl ?? this.ttl }));
    try {
      await this.call("PUT", this.path(domain, name), ctx, budget, body);
    } catch (err) {
      throw this.translate(err, what);
    }
  }

  private budget(calls: number): CallBudget {
    return new CallBudget(calls, (k) => {
      const wait = this.rateLimits.bucket(this.accountKey, GODADDY_RATE_LIMIT).take(k);
      if (wait > 0) {
        throw new TemporaryError(
          `godaddy: client-side rate limit for this API key; retrying in ${String(wait)} ms`,
          wait,
        );
      }
    });
  }

  private async call<T>(
    method: string,
    path: string,
    ctx: SolverContext,
    budget: CallBudget,
    body?: unknown,
  ): Promise<T | undefined> {
    budget.spend();
    const headers: Record<string, string> = {
      authorization: `sso-key ${this.config.apiKey}:${this.config.apiSecret}`,
      accept: "application/json",
      "user-agent": "dns01-operator",
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await send(
      "godaddy",
      this.fetch,
      `${this.base}${path}`,
      { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) },
      ctx,
      this.timeoutMs,
      `${method} ${path}`,
    );
    if (res.status < 200 || res.status > 299) {
      const parsed = parseJson(res.text) as
        { code?: unknown; message?: unknown; retryAfterSec?: unknown } | undefined;
      const err = new ApiError(
        res.status,
        typeof parsed?.code === "string" ? parsed.code : "",
        typeof parsed?.message === "string" ? parsed.message : res.text.slice(0, 200).trim(),
        res.headers,
      );
      if (typeof parsed?.retryAfterSec === "number") retryAfterSec.set(err, parsed.retryAfterSec);
      throw err;
    }
    return res.text === "" ? undefined : (parseJson(res.text) as T | undefined);
  }

  private translate(err: unknown, what: string): Error {
    if (!(err instanceof ApiError)) {
      if (err instanceof TemporaryError || err instanceof TerminalError || isAbort(err)) return err as Error;
      return new TemporaryError(`godaddy: ${what}: ${errorText(err)}`, undefined, { cause: err });
    }
    if (err.status === 429) {
      const ms = throttleMs(err);
      this.rateLimits.bucket(this.accountKey, GODADDY_RATE_LIMIT).drainFor(ms);
      return new TemporaryError(`godaddy: ${what}: rate limited by GoDaddy (${err.message})`, ms, {
        cause: err,
      });
    }
    if (err.status === 401) {
      return new TerminalError(
        `godaddy: ${what}: the API key and secret were rejected (${err.message})`,
        "InvalidCredentials",
        { cause: err },
      );
    }
    if (err.status === 403) {
      return new TerminalError(
        `godaddy: ${what}: access denied (${err.message}); ${GODADDY_ACCESS_HINT}`,
        "AccessDenied",
        {
          cause: err,
        },
      );
    }
    if (err.status === 400 || err.status === 422) {
      return new TerminalError(`godaddy: ${what}: ${err.message}`, "InvalidRequest", { cause: err });
    }
    return new TemporaryError(`godaddy: ${what}: ${err.message}`, undefined, { cause: err });
  }
}

/** GoDaddy's 429 body says when to come back (`retryAfterSec`), kept beside the error. */
const retryAfterSec = new WeakMap<ApiError, number>();

/** How long to back off after a 429: Retry-After, else the body's retryAfterSec, else a minute. */
function throttleMs(err: ApiError, now = Date.now()): number {
  const header = parseRetryAfter(err.headers.get("retry-after"), now);
  if (header !== undefined) return header;
  const sec = retryAfterSec.get(err);
  return sec !== undefined && sec > 0 ? sec * 1000 : DEFAULT_THROTTLE_MS;
}

/** Builds the provider. `deps` replaces the process-wide buckets, lock and fetch (tests). */
export function createGoDaddySolver(config: GoDaddyConfig, deps: GoDaddyDeps = {}): Dns01Solver {
  return new GoDaddySolver(config, deps);
}
