/**
 * The `cloudflare` DNS-01 provider: adds and removes one TXT value through the Cloudflare API v4
 * with the official SDK, authenticated by an API token (recommended) or by the legacy global API
 * key with the account's email.
 *
 * The zone is found by name (GET /zones?name=), starting at the zone the dispatcher found in DNS
 * and walking up; its ID is cached for a few minutes. Records are found by name, then matched by
 * content here (the API's content filter is case-insensitive, and TXT content may be stored quoted
 * or bare), created with POST and deleted by the ID found at cleanup time, never one remembered.
 *
 * Every call is exactly one HTTP request: the SDK's own retries are off (maxRetries 0, since it
 * would sleep inside the worker), so a 429 or a 5xx comes back to the work queue as a
 * TemporaryError and a 403 is never retried in a loop. Each call first takes a token from the
 * account's bucket, sized from Cloudflare's documented limit.
 */
import { createHash } from "node:crypto";
import Cloudflare, { APIConnectionError, APIError, APIUserAbortError } from "cloudflare";
import { TemporaryError, TerminalError } from "../../errors.js";
import { parseRetryAfter, rateLimits as processRateLimits, type RateLimits } from "../limits.js";
import type { ProviderRateLimit } from "../provider.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../types.js";
import { quoteTxtContent, txtContentValue } from "./content.js";
import { trimDot, zoneCandidates } from "../names.js";

/** The API's base URL unless overridden (DNS01_CLOUDFLARE_API_URL, or `endpoint` in tests). */
export const CLOUDFLARE_API_URL = "https://api.cloudflare.com/client/v4";

/** Cloudflare's documented limit: 1200 requests per five minutes per user, whatever the credential. */
export const CLOUDFLARE_RATE_LIMIT: ProviderRateLimit = {
  requests: 1200,
  perMs: 5 * 60_000,
  source: "https://developers.cloudflare.com/fundamentals/api/reference/limits/",
};

/** How credentials are sent: `Authorization: Bearer` for a token, X-Auth-Email + X-Auth-Key for a global key. */
export type CloudflareAuth =
  { readonly apiToken: string } | { readonly apiKey: string; readonly email: string };

/** The provider's settings, with its credentials already read from their Secrets. */
export interface CloudflareConfig {
  readonly auth: CloudflareAuth;
  /** Base URL of the API v4; default {@link CLOUDFLARE_API_URL}. */
  readonly endpoint?: string | undefined;
  /** TTL of the TXT records it adds, in seconds; default 60, the API's minimum outside Enterprise. */
  readonly ttl?: number | undefined;
  /** Per-request timeout in ms; default 30000. */
  readonly timeoutMs?: number | undefined;
}

/** Process-wide state the solver shares; tests pass their own. */
export interface CloudflareDeps {
  readonly rateLimits?: RateLimits;
  readonly zoneCache?: ZoneIdCache;
}

/** The record-level error codes the solver acts on (the API's `errors[].code`). */
export const CloudflareCode = {
  /** "Record does not exist." on a delete: already gone. */
  recordNotFound: 81044,
  /** "Record quota exceeded." */
  recordQuota: 81045,
  /** "The record already exists." */
  recordExists: 81057,
  /** "An identical record already exists." */
  identicalRecord: 81058,
  /** "Could not route to /zones/<id>/..., perhaps your object identifier is invalid?" */
  invalidObjectId: 7003,
} as const;

/**
 * Codes of a 400 that are about the credentials rather than the request: 1000 invalid API token,
 * 6003 invalid request headers (6102 bad X-Auth-Email, 6103 bad X-Auth-Key, 6111 bad Authorization
 * header), 9103 unknown X-Auth-Key or X-Auth-Email, 9106 missing auth headers, 9109 invalid access
 * token. (401 and 403 are always about the credentials.)
 */
const CREDENTIAL_CODES: ReadonlySet<number> = new Set([1000, 6003, 6102, 6103, 6111, 9103, 9106, 9109]);

/** How long zone IDs are cached: zones are rarely re-created, and a stale ID is detected and dropped. */
const ZONE_CACHE_TTL_MS = 5 * 60_000;
const ZONE_CACHE_SIZE = 1024;
/** Records per page when listing a name; the API's default. */
const PAGE_SIZE = 100;
/** A bound on pages read for one name, in case a server keeps answering full pages. */
const MAX_PAGES = 50;
const COMMENT = "ACME DNS-01 challenge, managed by dns01-operator";

/** A small TTL cache of zone IDs by account and zone name, shared by every solver of the process. */
export class ZoneIdCache {
  private readonly entries = new Map<string, { readonly zone: CachedZone; readonly expires: number }>();
  private readonly pending = new Map<string, Promise<CachedZone>>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * The cached zone for `key`, else the outcome of `load` (cached when it succeeds). Concurrent
   * callers with one key share one load: a certificate's apex and wildcard challenges start
   * together and would otherwise look the same zone up twice.
   */
  resolve(key: string, load: () => Promise<CachedZone>): Promise<CachedZone> {
    const cached = this.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    let pending = this.pending.get(key);
    if (pending === undefined) {
      pending = load()
        .then((zone) => {
          this.set(key, zone);
          return zone;
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  get(key: string): CachedZone | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (e.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.zone;
  }

  set(key: string, zone: CachedZone): void {
    this.entries.delete(key);
    if (this.entries.size >= ZONE_CACHE_SIZE) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { zone, expires: this.now() + ZONE_CACHE_TTL_MS });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}

/** A zone found for the records of one DNS zone (`cacheKey` names that DNS zone, for invalidation). */
interface CachedZone {
  readonly id: string;
  readonly name: string;
  readonly cacheKey: string;
}

const processZoneCache = new ZoneIdCache();

/** Kept under its old name for callers and tests; the shared helper does the work. */
export { zoneCandidates };

/** A non-secret key for the account's rate-limit bucket: a SHA-256 prefix of what identifies the user. */
export function cloudflareAccountKey(auth: CloudflareAuth): string {
  const id = "apiToken" in auth ? `token:${auth.apiToken}` : `email:${auth.email.toLowerCase()}`;
  return `cloudflare:${createHash("sha256").update(id).digest("hex").slice(0, 16)}`;
}

/** An error answer of the API, with its status, headers and `errors` body. */
type ApiError = APIError<number | undefined, Headers | undefined, object | undefined>;

function isApiError(err: unknown): err is ApiError {
  return err instanceof APIError;
}

/** The error codes of an API error's body. */
function codes(err: ApiError): number[] {
  return err.errors.flatMap((e) => (typeof e.code === "number" ? [e.code] : []));
}

/** The API's own words, e.g. `Authentication error (10000)`, with any error chain. */
function describeApiError(err: ApiError): string {
  const parts = err.errors.map((e) => {
    const chain = (e as { error_chain?: { code?: number; message?: string }[] }).error_chain ?? [];
    const inner = chain.map((c) => `${c.message ?? ""} (${String(c.code ?? "")})`).join("; ");
    return `${e.message ?? ""} (${String(e.code ?? "")})${inner === "" ? "" : `: ${inner}`}`;
  });
  return `HTTP ${String(err.status)}${parts.length === 0 ? "" : `: ${parts.join("; ")}`}`;
}

/** Default backoff after a 429 without Retry-After: Cloudflare blocks every call for five minutes. */
const DEFAULT_THROTTLE_MS = 5 * 60_000;

class CloudflareSolver implements Dns01Solver {
  private readonly client: Cloudflare;
  private readonly accountKey: string;
  private readonly cacheScope: string;
  private readonly rateLimits: RateLimits;
  private readonly zoneCache: ZoneIdCache;
  private readonly ttl: number;

  constructor(config: CloudflareConfig, deps: CloudflareDeps) {
    const baseURL = config.endpoint ?? CLOUDFLARE_API_URL;
    const token = "apiToken" in config.auth ? config.auth.apiToken : null;
    const key = "apiKey" in config.auth ? config.auth : null;
    // Every credential option is passed explicitly: left undefined, the SDK would read
    // CLOUDFLARE_API_TOKEN / CLOUDFLARE_API_KEY / CLOUDFLARE_EMAIL from the operator's environment.
    this.client = new Cloudflare({
      apiToken: token,
      apiKey: key?.apiKey ?? null,
      apiEmail: key?.email ?? null,
      userServiceKey: null,
      baseURL,
      maxRetries: 0,
      timeout: config.timeoutMs ?? 30_000,
      logLevel: "off",
    });
    this.accountKey = cloudflareAccountKey(config.auth);
    this.cacheScope = `${baseURL}|${this.accountKey}`;
    this.rateLimits = deps.rateLimits ?? processRateLimits;
    this.zoneCache = deps.zoneCache ?? processZoneCache;
    this.ttl = config.ttl ?? 60;
  }

  async present(record: TxtRecord, ctx: SolverContext): Promise<void> {
    // A zone lookup unless cached, a list and a create.
    const budget = this.budget(record, 2);
    const zone = await this.zone(record, ctx, budget);
    const name = trimDot(record.fqdn);
    const existing = await this.find(zone, record, ctx, true, budget);
    if (existing.length > 0) {
      ctx.log.debug("cloudflare: TXT value already present", { fqdn: record.fqdn, zone: zone.name });
      return;
    }
    budget.spend();
    try {
      const created = await this.client.dns.records.create(
        {
          zone_id: zone.id,
          type: "TXT",
          name,
          content: quoteTxtContent(record.value),
          ttl: this.ttl,
          comment: COMMENT,
        },
        { signal: ctx.signal },
      );
      ctx.log.info("cloudflare: created TXT record", { fqdn: record.fqdn, zone: zone.name, id: created.id });
    } catch (err) {
      // A concurrent present, or one whose answer was lost, already made it: that is success.
      if (isApiError(err) && codes(err).some(isExistsCode)) {
        ctx.log.debug("cloudflare: TXT record already exists", { fqdn: record.fqdn, zone: zone.name });
        return;
      }
      throw this.translate(err, "failed to create TXT record", zone);
    }
  }

  async cleanUp(record: TxtRecord, ctx: SolverContext): Promise<void> {
    // A zone lookup unless cached, a list and (usually) one delete.
    const budget = this.budget(record, 2);
    const zone = await this.zone(record, ctx, budget);
    const ids = await this.find(zone, record, ctx, false, budget);
    for (const id of ids) {
      budget.spend();
      try {
        await this.client.dns.records.delete(id, { zone_id: zone.id }, { signal: ctx.signal });
        ctx.log.info("cloudflare: deleted TXT record", { fqdn: record.fqdn, zone: zone.name, id });
      } catch (err) {
        if (isApiError(err) && err.status === 404 && codes(err).includes(CloudflareCode.recordNotFound)) {
          continue;
        }
        throw this.translate(err, "failed to delete TXT record", zone);
      }
    }
  }

  /** The Cloudflare zone that holds the record, from the cache or by name, walking up. */
  private zone(record: TxtRecord, ctx: SolverContext, budget: CallBudget): Promise<CachedZone> {
    const cacheKey = this.zoneCacheKey(record);
    return this.zoneCache.resolve(cacheKey, () => this.lookUpZone(record, cacheKey, ctx, budget));
  }

  private zoneCacheKey(record: TxtRecord): string {
    return `${this.cacheScope}|${trimDot(record.zone).toLowerCase()}`;
  }

  private async lookUpZone(
    record: TxtRecord,
    cacheKey: string,
    ctx: SolverContext,
    budget: CallBudget,
  ): Promise<CachedZone> {
    const tried = zoneCandidates(record.zone);
    for (const name of tried) {
      budget.spend();
      let page;
      try {
        page = await this.client.zones.list({ name }, { signal: ctx.signal });
      } catch (err) {
        throw this.translate(err, `failed to find zone ${name}`);
      }
      const zones = page.result.filter((z) => z.name.toLowerCase() === name);
      const zone = zones.find((z) => z.status === "active") ?? zones[0];
      if (zone !== undefined) return { id: zone.id, name: zone.name, cacheKey };
    }
    throw new TerminalError(
      `cloudflare: zone not found: no zone named ${tried.join(" or ")} is visible to these credentials ` +
        "(an API token needs Zone:Zone:Read and Zone:DNS:Edit on the zone)",
      "ZoneNotFound",
    );
  }

  /** IDs of the TXT records at the record's name whose content is its value (the first one only when `first`). */
  private async find(
    zone: CachedZone,
    record: TxtRecord,
    ctx: SolverContext,
    first: boolean,
    budget: CallBudget,
  ): Promise<string[]> {
    const name = trimDot(record.fqdn).toLowerCase();
    const ids: string[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      budget.spend();
      let res;
      try {
        res = await this.client.dns.records.list(
          { zone_id: zone.id, type: "TXT", name: { exact: name }, page, per_page: PAGE_SIZE },
          { signal: ctx.signal },
        );
      } catch (err) {
        throw this.translate(err, "failed to list TXT records", zone);
      }
      for (const r of res.result) {
        if (
          r.type === "TXT" &&
          r.name.toLowerCase() === name &&
          txtContentValue(r.content) === record.value
        ) {
          ids.push(r.id);
          if (first) return ids;
        }
      }
      const info = res.result_info as { page?: number; per_page?: number; total_pages?: number };
      const more =
        info.total_pages !== undefined
          ? page < info.total_pages
          : res.result.length > 0 && res.result.length >= (info.per_page ?? PAGE_SIZE);
      if (!more) break;
    }
    return ids;
  }

  /**
   * Takes the tokens of the calls an operation will make (`calls`, plus a zone lookup when the
   * zone is not cached) from the account's bucket at once. Taken one by one, an operation of three
   * calls could never finish while the bucket refills from empty (after a 429): each requeue would
   * get one call through and be refused the next, forever.
   */
  private budget(record: TxtRecord, calls: number): CallBudget {
    const n = calls + (this.zoneCache.get(this.zoneCacheKey(record)) === undefined ? 1 : 0);
    return new CallBudget(n, (k) => {
      const wait = this.rateLimits.bucket(this.accountKey, CLOUDFLARE_RATE_LIMIT).take(k);
      if (wait > 0) {
        throw new TemporaryError(
          `cloudflare: client-side rate limit for this account; retrying in ${String(wait)} ms`,
          wait,
        );
      }
    });
  }

  /** Turns whatever a call threw into a TemporaryError or a TerminalError with the provider's message. */
  private translate(err: unknown, what: string, zone?: CachedZone): Error {
    if (err instanceof TemporaryError || err instanceof TerminalError || err instanceof APIUserAbortError) {
      return err;
    }
    if (err instanceof APIConnectionError) {
      return new TemporaryError(`cloudflare: ${what}: ${err.message}`, undefined, { cause: err });
    }
    if (!isApiError(err) || err.status === undefined) {
      const msg = err instanceof Error ? err.message : String(err);
      return new TemporaryError(`cloudflare: ${what}: ${msg}`, undefined, { cause: err });
    }
    const detail = describeApiError(err);
    const status = err.status;
    if (status === 429) {
      const ms = parseRetryAfter(err.headers?.get("retry-after")) ?? DEFAULT_THROTTLE_MS;
      this.rateLimits.bucket(this.accountKey, CLOUDFLARE_RATE_LIMIT).drainFor(ms);
      return new TemporaryError(`cloudflare: ${what}: rate limited by Cloudflare (${detail})`, ms, {
        cause: err,
      });
    }
    if (
      status === 401 ||
      status === 403 ||
      (status === 400 && codes(err).some((c) => CREDENTIAL_CODES.has(c)))
    ) {
      return new TerminalError(
        `cloudflare: ${what}: the credentials were rejected: ${detail}`,
        "InvalidCredentials",
        { cause: err },
      );
    }
    if (codes(err).includes(CloudflareCode.recordQuota)) {
      return new TerminalError(
        `cloudflare: ${what}: the zone's record quota is reached: ${detail}`,
        "QuotaExceeded",
        { cause: err },
      );
    }
    if (zone !== undefined && (status === 404 || codes(err).includes(CloudflareCode.invalidObjectId))) {
      // The cached zone ID went stale (the zone was deleted or re-added): look it up again next time.
      this.zoneCache.delete(zone.cacheKey);
      return new TemporaryError(
        `cloudflare: ${what}: zone ${zone.name} (${zone.id}) is gone: ${detail}`,
        undefined,
        { cause: err },
      );
    }
    return new TemporaryError(`cloudflare: ${what}: ${detail}`, undefined, { cause: err });
  }
}

/** API calls paid for in advance; calls beyond them take their own token. */
class CallBudget {
  private left: number;

  constructor(
    calls: number,
    private readonly take: (n: number) => void,
  ) {
    take(calls);
    this.left = calls;
  }

  spend(): void {
    if (this.left > 0) this.left--;
    else this.take(1);
  }
}

function isExistsCode(code: number): boolean {
  return code === CloudflareCode.recordExists || code === CloudflareCode.identicalRecord;
}

/**
 * Builds the provider from resolved credentials. `deps` replaces the process-wide rate-limit
 * buckets and zone-ID cache (tests).
 */
export function createCloudflareSolver(config: CloudflareConfig, deps: CloudflareDeps = {}): Dns01Solver {
  return new CloudflareSolver(config, deps);
}
