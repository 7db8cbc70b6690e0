/**
 * The `digitalocean` DNS-01 provider: adds and removes one TXT value through the DigitalOcean API
 * v2 (Domains and Domain Records), with fetch and a bearer token.
 *
 * The domain is the zone the dispatcher found in DNS (walking up when DigitalOcean holds a
 * parent instead). Records are listed by type and fully qualified name, matched by value here,
 * created with POST under their name relative to the domain, and deleted by the ID found at
 * cleanup time, never one remembered.
 *
 * Every call is one HTTP request, never retried here: a 429 (with Retry-After, or else
 * RateLimit-Reset) or a 5xx comes back as a TemporaryError for the work queue, a 401/403 as a
 * TerminalError. Each call first takes a token from the account's bucket.
 */
import { createHash } from "node:crypto";
import { TemporaryError, TerminalError } from "../../errors.js";
import { parseRetryAfter, rateLimits as processRateLimits, type RateLimits } from "../limits.js";
import type { ProviderRateLimit } from "../provider.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../types.js";
import { trimDot, zoneCandidates } from "../names.js";

/** The API's root unless overridden (DNS01_DIGITALOCEAN_API_URL, or `endpoint` in tests). */
export const DIGITALOCEAN_API_URL = "https://api.digitalocean.com";

/**
 * DigitalOcean allows 5,000 requests per hour and 250 per minute per token. One bucket keeps under
 * both: 150 at most at once, refilled at 4,687 an hour (150 per 115.2 s), so no minute sees more
 * than 150 + 79 requests and no hour more than 150 + 4,687.
 */
export const DIGITALOCEAN_RATE_LIMIT: ProviderRateLimit = {
  requests: 150,
  perMs: 115_200,
  source: "https://docs.digitalocean.com/reference/api/digitalocean/#section/Introduction/Rate-Limit",
};

/** The provider's settings, with its token already read from its Secret. */
export interface DigitalOceanConfig {
  readonly token: string;
  /** API root (without /v2); default {@link DIGITALOCEAN_API_URL}. */
  readonly endpoint?: string | undefined;
  /** TTL of the TXT records it adds, in seconds; default 30, the API's minimum. */
  readonly ttl?: number | undefined;
  /** Per-request timeout in ms; default 30000. */
  readonly timeoutMs?: number | undefined;
}

/** Process-wide state the solver shares, and the HTTP client; tests pass their own. */
export interface DigitalOceanDeps {
  readonly rateLimits?: RateLimits;
  readonly fetch?: typeof fetch;
}

/** Records per page: the API's maximum (its default is 20). */
const PAGE_SIZE = 200;
/** A bound on pages read for one name, in case a server keeps linking a next page. */
const MAX_PAGES = 50;
/** Backoff after a 429 that says nothing about when to come back: the per-minute window. */
const DEFAULT_THROTTLE_MS = 60_000;

/** One domain record as the API returns it (the fields used here). */
interface DomainRecord {
  readonly id: number;
  readonly type: string;
  readonly name: string;
  readonly data: string;
}

interface RecordList {
  readonly domain_records?: DomainRecord[];
  readonly links?: { readonly pages?: { readonly next?: string } };
}

/** A non-2xx answer, with the API's `{id, message}` body when it sent one. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly id: string,
    readonly apiMessage: string,
    readonly headers: Headers,
  ) {
    super(`HTTP ${String(status)}${id === "" ? "" : ` ${id}`}${apiMessage === "" ? "" : `: ${apiMessage}`}`);
  }
}

/** The domains to try for a record in `zone`: the zone, then each parent down to two labels. */
export const domainCandidates = zoneCandidates;

/** The record's name as DigitalOcean takes it: relative to the domain, `@` for the apex. */
export function relativeName(fqdn: string, domain: string): string {
  const name = trimDot(fqdn).toLowerCase();
  const d = trimDot(domain).toLowerCase();
  if (name === d) return "@";
  if (!name.endsWith(`.${d}`)) throw new Error(`${fqdn} is not in domain ${domain}`);
  return name.slice(0, -(d.length + 1));
}

/** TXT data as written, or its one quoted string unquoted (a record someone wrote with quotes). */
export function txtDataValue(data: string): string {
  const m = /^"((?:[^"\\]|\\.)*)"$/.exec(data.trim());
  return m === null ? data : (m[1] ?? "").replace(/\\(.)/g, "$1");
}

/** A non-secret key for the token's rate-limit bucket. */
export function digitalOceanAccountKey(token: string): string {
  return `digitalocean:${createHash("sha256").update(token).digest("hex").slice(0, 16)}`;
}

class DigitalOceanSolver implements Dns01Solver {
  private readonly base: string;
  private readonly accountKey: string;
  private readonly rateLimits: RateLimits;
  private readonly fetch: typeof fetch;
  private readonly ttl: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly token: string,
    config: DigitalOceanConfig,
    deps: DigitalOceanDeps,
  ) {
    this.base = (config.endpoint ?? DIGITALOCEAN_API_URL).replace(/\/+$/, "");
    this.accountKey = digitalOceanAccountKey(token);
    this.rateLimits = deps.rateLimits ?? processRateLimits;
    this.fetch = deps.fetch ?? globalThis.fetch;
    this.ttl = config.ttl ?? 30;
    this.timeoutMs = config.timeoutMs ?? 30_000;
  }

  async present(record: TxtRecord, ctx: SolverContext): Promise<void> {
    // A list and a create.
    const budget = this.budget(2);
    const { domain, ids } = await this.find(record, ctx, true, budget);
    if (ids.length > 0) {
      ctx.log.debug("digitalocean: TXT value already present", { fqdn: record.fqdn, domain });
      return;
    }
    const body = { type: "TXT", name: relativeName(record.fqdn, domain), data: record.value, ttl: this.ttl };
    try {
      const res = await this.call<{ domain_record?: DomainRecord }>(
        "POST",
        `/v2/domains/${encodeURIComponent(domain)}/records`,
        ctx,
        budget,
        body,
      );
      ctx.log.info("digitalocean: created TXT record", {
        fqdn: record.fqdn,
        domain,
        id: res?.domain_record?.id,
      });
    } catch (err) {
      throw this.translate(err, "failed to create TXT record");
    }
  }

  async cleanUp(record: TxtRecord, ctx: SolverContext): Promise<void> {
    // A list and (usually) one delete.
    const budget = this.budget(2);
    const { domain, ids } = await this.find(record, ctx, false, budget);
    for (const id of ids) {
      try {
        await this.call(
          "DELETE",
          `/v2/domains/${encodeURIComponent(domain)}/records/${String(id)}`,
          ctx,
          budget,
        );
        ctx.log.info("digitalocean: deleted TXT record", { fqdn: record.fqdn, domain, id });
      } catch (err) {
        // Gone already (a concurrent cleanup): that is the outcome wanted.
        if (err instanceof ApiError && err.status === 404) continue;
        throw this.translate(err, "failed to delete TXT record");
      }
    }
  }

  /**
   * The domain that holds the record and the IDs of its TXT records with the value (the first one
   * only when `first`). Listing the domain's records is also the domain lookup: a 404 means the
   * account has no such domain, and the parent is tried.
   */
  private async find(
    record: TxtRecord,
    ctx: SolverContext,
    first: boolean,
    budget: CallBudget,
  ): Promise<{ domain: string; ids: number[] }> {
    const tried = domainCandidates(record.zone);
    const fqdn = trimDot(record.fqdn).toLowerCase();
    const zone = trimDot(record.zone).toLowerCase();
    if (fqdn !== zone && !fqdn.endsWith(`.${zone}`)) {
      throw new TerminalError(
        `digitalocean: ${record.fqdn} is not in zone ${record.zone}`,
        "InvalidConfiguration",
      );
    }
    for (const domain of tried) {
      try {
        return { domain, ids: await this.matching(domain, record, ctx, first, budget) };
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) continue;
        throw this.translate(err, "failed to list TXT records");
      }
    }
    throw new TerminalError(
      `digitalocean: zone not found: the account has no domain ${tried.join(" or ")} (or the token cannot read it)`,
      "ZoneNotFound",
    );
  }

  private async matching(
    domain: string,
    record: TxtRecord,
    ctx: SolverContext,
    first: boolean,
    budget: CallBudget,
  ): Promise<number[]> {
    const fqdn = trimDot(record.fqdn).toLowerCase();
    const relative = relativeName(record.fqdn, domain);
    const ids: number[] = [];
    let page = 1;
    for (let n = 0; n < MAX_PAGES; n++) {
      const query = new URLSearchParams({
        type: "TXT",
        name: fqdn,
        per_page: String(PAGE_SIZE),
        page: String(page),
      });
      const res = await this.call<RecordList>(
        "GET",
        `/v2/domains/${encodeURIComponent(domain)}/records?${query.toString()}`,
        ctx,
        budget,
      );
      for (const r of res?.domain_records ?? []) {
        if (r.type === "TXT" && r.name.toLowerCase() === relative && txtDataValue(r.data) === record.value) {
          ids.push(r.id);
          if (first) return ids;
        }
      }
      const next = nextPage(res?.links?.pages?.next);
      if (next === undefined || next <= page) break;
      page = next;
    }
    return ids;
  }

  /**
   * Takes the tokens of the calls an operation will make from the account's bucket at once. Taken
   * one by one, an operation of two calls could never finish while the bucket refills from empty
   * (after a 429): each requeue would get one call through and be refused the next, forever.
   */
  private budget(calls: number): CallBudget {
    return new CallBudget(calls, (k) => {
      const wait = this.rateLimits.bucket(this.accountKey, DIGITALOCEAN_RATE_LIMIT).take(k);
      if (wait > 0) {
        throw new TemporaryError(
          `digitalocean: client-side rate limit for this token; retrying in ${String(wait)} ms`,
          wait,
        );
      }
    });
  }

  /** One request: spends a rate-limit token, sends the bearer token, throws ApiError on non-2xx. */
  private async call<T>(
    method: string,
    path: string,
    ctx: SolverContext,
    budget: CallBudget,
    body?: unknown,
  ): Promise<T | undefined> {
    budget.spend();
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.token}`,
      accept: "application/json",
      "user-agent": "dns01-operator",
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await this.fetch(`${this.base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(this.timeoutMs)]),
      });
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      throw new TemporaryError(
        `digitalocean: ${method} ${path.split("?")[0] ?? path}: ${errorText(err)}`,
        undefined,
        { cause: err },
      );
    }
    const text = await res.text();
    if (!res.ok) {
      const parsed = parseJson(text) as { id?: unknown; message?: unknown } | undefined;
      throw new ApiError(
        res.status,
        typeof parsed?.id === "string" ? parsed.id : "",
        typeof parsed?.message === "string" ? parsed.message : text.slice(0, 200).trim(),
        res.headers,
      );
    }
    return text === "" ? undefined : (parseJson(text) as T | undefined);
  }

  /** Turns whatever a call threw into a TemporaryError or a TerminalError with the API's message. */
  private translate(err: unknown, what: string): Error {
    if (!(err instanceof ApiError)) {
      if (err instanceof TemporaryError || err instanceof TerminalError) return err;
      if (isAbort(err)) return err as Error;
      return new TemporaryError(`digitalocean: ${what}: ${errorText(err)}`, undefined, { cause: err });
    }
    const status = err.status;
    if (status === 429) {
      const ms = throttleMs(err.headers);
      this.rateLimits.bucket(this.accountKey, DIGITALOCEAN_RATE_LIMIT).drainFor(ms);
      return new TemporaryError(`digitalocean: ${what}: rate limited by DigitalOcean (${err.message})`, ms, {
        cause: err,
      });
    }
    if (status === 401 || status === 403) {
      return new TerminalError(
        `digitalocean: ${what}: the token was rejected: ${err.message}`,
        "InvalidCredentials",
        { cause: err },
      );
    }
    if (status === 422 && /limit|quota/i.test(err.apiMessage)) {
      return new TerminalError(`digitalocean: ${what}: ${err.message}`, "QuotaExceeded", { cause: err });
    }
    return new TemporaryError(`digitalocean: ${what}: ${err.message}`, undefined, { cause: err });
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

/** How long to back off after a 429: Retry-After (burst limit), else until RateLimit-Reset (hourly). */
export function throttleMs(headers: Headers, now = Date.now()): number {
  const retryAfter = parseRetryAfter(headers.get("retry-after"), now);
  if (retryAfter !== undefined) return retryAfter;
  const reset = Number(headers.get("ratelimit-reset"));
  if (Number.isFinite(reset) && reset > 0 && headers.get("ratelimit-remaining") === "0") {
    return Math.max(1000, reset * 1000 - now);
  }
  return DEFAULT_THROTTLE_MS;
}

/**
 * The page number a `links.pages.next` URL points at. Only the number is used: the next request
 * goes to the configured API root, so a token is never sent to a host named in a response body.
 */
export function nextPage(next: string | undefined): number | undefined {
  if (next === undefined || next === "") return undefined;
  let url: URL;
  try {
    url = new URL(next, "https://api.digitalocean.com");
  } catch {
    return undefined;
  }
  const page = Number(url.searchParams.get("page"));
  return Number.isInteger(page) && page > 0 ? page : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * An error's message and its cause's, e.g. `fetch failed (connect ECONNREFUSED 127.0.0.1:443)`.
 * Duck-typed: fetch's errors may come from another realm (a test VM), where instanceof fails.
 */
function errorText(err: unknown): string {
  const message = (e: unknown): string | undefined =>
    typeof e === "object" && e !== null && typeof (e as { message?: unknown }).message === "string"
      ? (e as { message: string }).message
      : undefined;
  const text = message(err) ?? String(err);
  const cause = message((err as { cause?: unknown } | null)?.cause);
  return cause === undefined ? text : `${text} (${cause})`;
}

function isAbort(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { name?: unknown }).name === "AbortError";
}

/** Builds the provider from a resolved token. `deps` replaces the process-wide buckets and fetch (tests). */
export function createDigitalOceanSolver(
  config: DigitalOceanConfig,
  deps: DigitalOceanDeps = {},
): Dns01Solver {
  return new DigitalOceanSolver(config.token, config, deps);
}
