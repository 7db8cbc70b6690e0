/**
 * The DNS-01 dispatcher: the shared DNS work around the providers. It turns a challenge's DNS name
 * into the record to write (following CNAMEs when asked, finding the zone that holds it) and tells
 * whether a presented value can be seen yet by the servers the CA will reach.
 *
 * Zone discovery, CNAME following and the name-server lookup all go through the recursive
 * nameservers (the operator's resolvers). Propagation is checked, like cert-manager does, at every
 * authoritative server of the zone (found through the recursive nameservers, asked with RD=0 at
 * `authoritativePort`), or at every recursive nameserver when `recursiveNameserversOnly` is set.
 *
 * Zone lookups and name-server sets are cached for a short time (60 s by default, at most 4096
 * entries, least recently used out first), and concurrent lookups of the same name share one
 * query: a certificate's apex and wildcard challenges share `_acme-challenge.<name>`, and many
 * certificates in one zone share its apex. A zone is usually found with a single SOA query: the
 * SOA in the authority section of a negative answer names the zone that holds the name (RFC 2308
 * requires it there); without one, each level up is asked in turn. A new zone cut or NS change is
 * therefore seen within the cache's TTL; `clearCache()` forgets everything at once.
 */
import dns from "node:dns";
import type { Answer } from "dns-packet";
import { TemporaryError, TerminalError } from "../errors.js";
import { followCname, lookupAuthoritativeServers, query, queryTxt, type QueryOptions } from "../dns/query.js";
import { formatServer, parseServer, type ServerAddress } from "../dns/server.js";
import { canonicalName, Rcode, rcodeName, validateName } from "../dns/wire.js";
import type { Logger } from "../log.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "./types.js";

/** Settings of the dispatcher; the first three come from the operator's flags. */
export interface DispatcherOptions {
  /** host:port resolvers (the operator's --dns01-recursive-nameservers); empty = the system's resolvers from node:dns getServers(), port 53. */
  recursiveNameservers: readonly string[];
  /** Check propagation only against recursiveNameservers, never the zone's authoritative servers. */
  recursiveNameserversOnly: boolean;
  /** Port of authoritative servers for propagation checks (default 53). */
  authoritativePort?: number;
  log: Logger;
  /** Per-attempt timeout of each DNS query in ms (default: src/dns/transport's, 5000). */
  queryTimeoutMs?: number | undefined;
  /** UDP retransmissions of each DNS query (default: src/dns/transport's, 2). */
  queryRetries?: number | undefined;
  /** How long zone lookups and name-server sets are cached, in ms. Default 60000; 0 turns caching off. */
  cacheTtlMs?: number | undefined;
  /** The most entries each cache holds. Default 4096. */
  cacheSize?: number | undefined;
  /** The clock of the caches, in ms; tests pass a fake one. Default Date.now. */
  now?: (() => number) | undefined;
  /** The system's resolvers, used when recursiveNameservers is empty. Default node:dns getServers. */
  systemNameservers?: (() => readonly string[]) | undefined;
  /** Propagation-check and provider-call metrics (src/metrics implements them). */
  metrics?: DispatcherMetrics | undefined;
}

/** How one propagation check ended: every server has the value, some lack it, or it failed. */
export type PropagationCheckResult = "seen" | "not_seen" | "error";

/** How one provider call ended, as the dispatcher can tell from its outcome. */
export type ProviderCallStatus = "success" | "throttled" | "temporary_error" | "terminal_error";

/** Hooks through which the dispatcher reports its work; each must not throw (errors are swallowed). */
export interface DispatcherMetrics {
  /** One propagation check of a record written by `provider` took `seconds`. */
  propagationCheck?(provider: string, result: PropagationCheckResult, seconds: number): void;
  /** One provider operation (`present`, `cleanup`) ended with `status` after `seconds`. */
  providerCall?(
    provider: string,
    operation: "present" | "cleanup",
    status: ProviderCallStatus,
    seconds: number,
  ): void;
}

/** The status of a provider call that threw `err`: a retry delay from the provider means throttling. */
export function providerCallStatus(err: unknown): ProviderCallStatus {
  if (err instanceof TerminalError) return "terminal_error";
  if (err instanceof TemporaryError && err.retryAfterMs !== undefined) return "throttled";
  return "temporary_error";
}

/** Where a challenge's TXT value goes. */
export interface ChallengeRecord {
  /** The name to write, with a trailing dot, after any CNAMEs that were followed. */
  readonly fqdn: string;
  /** The apex of the zone that holds `fqdn`, with a trailing dot. */
  readonly zone: string;
}

/** The outcome of one propagation check. */
export interface PropagationResult {
  readonly propagated: boolean;
  /** Which servers lack the value (or that all have it), for the Challenge's status.reason. */
  readonly detail: string;
}

/** Default lifetime of cached zone lookups and name-server sets. */
export const DEFAULT_CACHE_TTL_MS = 60_000;
/** Default bound of each cache. */
export const DEFAULT_CACHE_SIZE = 4096;

/** A small map whose entries expire and whose least recently used entry goes first when full. */
class TtlCache<V> {
  private readonly entries = new Map<string, { readonly value: V; readonly expires: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (entry.expires <= this.now()) return undefined;
    // Re-inserting moves the key to the end of the Map's order: the most recently used.
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V): void {
    if (this.ttlMs <= 0 || this.maxEntries <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expires: this.now() + this.ttlMs });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}

/** Abort reasons pass as they are (a DOMException by default); anything else not an object is wrapped. */
function asError(e: unknown): Error {
  return typeof e === "object" && e !== null ? (e as Error) : new Error(String(e));
}

/**
 * Waits for `p`, or rejects with the signal's reason when it aborts first. `p` may be work that
 * other callers share, so it is left running; its outcome is always observed.
 */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(asError(signal.reason));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(asError(e));
      },
    );
  });
}

/** A lookup in progress, and the signal of the caller that started it. */
interface Inflight<T> {
  readonly promise: Promise<T>;
  readonly signal: AbortSignal | undefined;
}

/**
 * Joins the lookup of `key` in progress, or starts one with the caller's signal. A caller that
 * joined stops waiting when its own signal aborts; when the starter's signal aborts instead, the
 * joiner starts the lookup again for itself rather than fail with someone else's cancellation.
 */
async function joinOrStart<T>(
  inflight: Map<string, Inflight<T>>,
  key: string,
  signal: AbortSignal | undefined,
  start: (signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  for (;;) {
    let entry = inflight.get(key);
    if (entry === undefined) {
      const promise: Promise<T> = start(signal).finally(() => {
        if (inflight.get(key)?.promise === promise) inflight.delete(key);
      });
      entry = { promise, signal };
      inflight.set(key, entry);
    }
    try {
      return await raceAbort(entry.promise, signal);
    } catch (err) {
      if (entry.signal !== signal && entry.signal?.aborted === true && signal?.aborted !== true) continue;
      throw err;
    }
  }
}

/** The names from `fqdn` up to its top-level domain: a.b.c. gives a.b.c., b.c., c. */
function ancestors(fqdn: string): string[] {
  const labels = fqdn.slice(0, -1).split(".");
  return labels.map((_, i) => `${labels.slice(i).join(".")}.`);
}

/** True when `name` is `zone` or below it (both canonical). */
function isWithin(name: string, zone: string): boolean {
  return zone === "." || name === zone || name.endsWith(`.${zone}`);
}

/** What one SOA query says about a name: the zone that holds it, or null for "further up". */
type LevelVerdict = string | null;

/** One server's view of the TXT value. */
type ServerView =
  | { readonly server: string; readonly state: "has" }
  | { readonly server: string; readonly state: "lacks"; readonly others: number }
  | { readonly server: string; readonly state: "failed"; readonly error: string };

function describeView(v: ServerView): string {
  if (v.state === "has") return v.server;
  if (v.state === "failed") return `${v.server} (no answer: ${v.error})`;
  if (v.others === 0) return `${v.server} (no TXT record)`;
  return `${v.server} (${v.others} other value${v.others === 1 ? "" : "s"})`;
}

/** The shared DNS-01 logic around the providers. One per process; it is safe to share between workers. */
export class Dns01Dispatcher {
  private readonly configured: readonly ServerAddress[];
  private readonly recursiveOnly: boolean;
  private readonly authoritativePort: number;
  private readonly log: Logger;
  private readonly queryOpts: QueryOptions;
  private readonly systemNameservers: () => readonly string[];
  private readonly levels: TtlCache<LevelVerdict>;
  private readonly nameServers: TtlCache<readonly string[]>;
  /** Where a CNAME chain at a record name ends, for propagation checks. */
  private readonly cnameEnds: TtlCache<string>;
  private readonly inflightLevels = new Map<string, Inflight<LevelVerdict>>();
  private readonly inflightNameServers = new Map<string, Inflight<readonly string[]>>();
  private readonly metrics: DispatcherMetrics | undefined;

  /** Throws an Error naming the flag value when a recursive nameserver is not a valid address. */
  constructor(opts: DispatcherOptions) {
    this.configured = opts.recursiveNameservers.map((spec) => {
      try {
        return parseServer(spec);
      } catch (err) {
        throw new Error(`--dns01-recursive-nameservers: ${(err as Error).message}`, { cause: err });
      }
    });
    this.recursiveOnly = opts.recursiveNameserversOnly;
    this.authoritativePort = opts.authoritativePort ?? 53;
    this.log = opts.log.child({ component: "dns01-dispatcher" });
    this.queryOpts = {
      ...(opts.queryTimeoutMs === undefined ? {} : { timeoutMs: opts.queryTimeoutMs }),
      ...(opts.queryRetries === undefined ? {} : { retries: opts.queryRetries }),
    };
    // Looked up on each call: dns.setServers() replaces the default resolver and rebinds the
    // module's functions, so a reference taken now would keep the old list.
    this.systemNameservers = opts.systemNameservers ?? (() => dns.getServers());
    const ttl = opts.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
    const size = opts.cacheSize ?? DEFAULT_CACHE_SIZE;
    const now = opts.now ?? Date.now;
    this.levels = new TtlCache(ttl, size, now);
    this.nameServers = new TtlCache(ttl, size, now);
    this.cnameEnds = new TtlCache(ttl, size, now);
    this.metrics = opts.metrics;
  }

  /**
   * Wraps a provider's solver so that each present and cleanUp is counted and timed by provider,
   * operation and outcome. The wrapper behaves exactly as the solver does (same results, same
   * errors).
   */
  instrument(provider: string, solver: Dns01Solver): Dns01Solver {
    const metrics = this.metrics;
    if (metrics?.providerCall === undefined) return solver;
    const timed = async (operation: "present" | "cleanup", call: () => Promise<void>): Promise<void> => {
      const started = performance.now();
      let status: ProviderCallStatus = "success";
      try {
        await call();
      } catch (err) {
        status = providerCallStatus(err);
        throw err;
      } finally {
        this.report(() =>
          metrics.providerCall?.(provider, operation, status, (performance.now() - started) / 1000),
        );
      }
    };
    return {
      present: (record: TxtRecord, ctx: SolverContext) => timed("present", () => solver.present(record, ctx)),
      cleanUp: (record: TxtRecord, ctx: SolverContext) => timed("cleanup", () => solver.cleanUp(record, ctx)),
    };
  }

  private report(f: () => void): void {
    try {
      f();
    } catch (err) {
      this.log.warn("a metrics hook failed", { error: (err as Error).message });
    }
  }

  /**
   * `_acme-challenge.<dnsName>.` (a wildcard's base name is passed, without `*.`), after following
   * CNAMEs when cnameStrategy is "Follow", and the zone that holds it (SOA walk through the
   * recursive nameservers). Throws TerminalError `InvalidDnsName`, `ZoneNotFound` or `CnameLoop`,
   * or TemporaryError when the resolvers cannot be reached or fail.
   */
  async resolveRecord(
    dnsName: string,
    cnameStrategy: string | undefined,
    signal?: AbortSignal,
  ): Promise<ChallengeRecord> {
    // ACME strips `*.` from wildcard identifiers already; accept it anyway rather than write `*`.
    const base = canonicalName(dnsName.replace(/^\s*\*\./, ""));
    let name: string;
    try {
      if (base === ".") throw new Error("the name is empty");
      name = validateName(`_acme-challenge.${base}`);
    } catch (err) {
      throw new TerminalError(
        `cannot make a DNS-01 record name for "${dnsName}": ${(err as Error).message}`,
        "InvalidDnsName",
        { cause: err },
      );
    }
    const servers = this.recursiveServers();
    const fqdn =
      cnameStrategy === "Follow"
        ? await followCname(name, servers, { ...this.queryOpts, ...(signal ? { signal } : {}) })
        : name;
    const zone = await this.findZone(fqdn, servers, signal);
    this.log.debug("resolved the DNS-01 record", { dnsName, fqdn, zone, cnameStrategy });
    return { fqdn, zone };
  }

  /**
   * Whether every server that must see it (the zone's authoritative servers, or the recursive ones
   * when recursiveNameserversOnly) answers the TXT value at fqdn; `detail` says which did not, for
   * the Challenge's status.reason. Never throws for "not yet"; throws TemporaryError when no server
   * can be asked (none found, or none answered), and TerminalError `ZoneNotFound` when the zone
   * has no NS records. `record.provider` (the provider that wrote it) labels the check's metric.
   */
  async checkPropagation(
    record: { readonly fqdn: string; readonly zone: string; readonly provider?: string | undefined },
    value: string,
    signal?: AbortSignal,
  ): Promise<PropagationResult> {
    const started = performance.now();
    let result: PropagationCheckResult = "error";
    try {
      const check = await this.checkPropagationOnce(record, value, signal);
      result = check.propagated ? "seen" : "not_seen";
      return check;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      // A check cut short by our own signal (shutdown, lost lease) says nothing about DNS.
      if (signal?.aborted !== true) {
        this.report(() => this.metrics?.propagationCheck?.(record.provider ?? "unknown", result, seconds));
      }
    }
  }

  private async checkPropagationOnce(
    record: { readonly fqdn: string; readonly zone: string },
    value: string,
    signal: AbortSignal | undefined,
  ): Promise<PropagationResult> {
    // Like cert-manager, follow a CNAME at the record name whatever cnameStrategy said: with
    // None the provider wrote at the original name, but the CA (and so we) must find the value at
    // the end of the chain, on the servers of the zone that holds that end (acme-dns delegation).
    let fqdn = canonicalName(record.fqdn);
    let zone = canonicalName(record.zone);
    let end = this.cnameEnds.get(fqdn);
    if (end === undefined) {
      end = await followCname(fqdn, this.recursiveServers(), {
        ...this.queryOpts,
        ...(signal ? { signal } : {}),
      });
      this.cnameEnds.set(fqdn, end);
    }
    if (end !== fqdn) {
      fqdn = end;
      zone = await this.findZone(end, this.recursiveServers(), signal);
    }
    const recursive = this.recursiveOnly;
    const servers = recursive
      ? this.recursiveServers().map(formatServer)
      : await this.authoritativeServers(zone, signal);
    const kind = recursive ? "recursive" : "authoritative";
    const opts: QueryOptions = { ...this.queryOpts, recursive, ...(signal ? { signal } : {}) };
    const views = await Promise.all(
      servers.map(async (server): Promise<ServerView> => {
        try {
          const values = await queryTxt(fqdn, server, opts);
          if (values.includes(value)) return { server, state: "has" };
          return { server, state: "lacks", others: values.length };
        } catch (err) {
          if (signal?.aborted || !(err instanceof TemporaryError)) throw err;
          return { server, state: "failed", error: err.message };
        }
      }),
    );
    const waiting = views.filter((v) => v.state !== "has");
    const where = recursive ? `${kind} name servers` : `${kind} name servers of ${zone}`;
    if (views.every((v) => v.state === "failed")) {
      throw new TemporaryError(
        `cannot check the TXT record ${fqdn}: none of the ${where} answered: ${views.map(describeView).join(", ")}`,
      );
    }
    const result: PropagationResult =
      waiting.length === 0
        ? {
            propagated: true,
            detail: `the TXT value at ${fqdn} is served by all ${views.length} ${where}: ${views.map(describeView).join(", ")}`,
          }
        : {
            propagated: false,
            detail:
              `waiting for the TXT value at ${fqdn} on ${waiting.length} of ${views.length} ${where}: ` +
              waiting.map(describeView).join(", "),
          };
    this.log.debug("checked DNS-01 propagation", {
      fqdn,
      zone,
      propagated: result.propagated,
      detail: result.detail,
    });
    return result;
  }

  /** Forgets every cached zone lookup and name-server set. */
  clearCache(): void {
    this.levels.clear();
    this.nameServers.clear();
    this.cnameEnds.clear();
  }

  /** The configured resolvers, or the system's (read on every call, so a changed resolv.conf counts). */
  private recursiveServers(): readonly ServerAddress[] {
    if (this.configured.length > 0) return this.configured;
    const found: ServerAddress[] = [];
    for (const spec of this.systemNameservers()) {
      try {
        found.push(parseServer(spec));
      } catch (err) {
        // An IPv6 link-local address with a zone index, say: skip it, the others may do.
        this.log.warn("ignoring a system DNS resolver we cannot use", {
          resolver: spec,
          error: (err as Error).message,
        });
      }
    }
    if (found.length === 0) {
      throw new TemporaryError(
        "no recursive DNS resolvers: the system has none configured; set --dns01-recursive-nameservers",
      );
    }
    return found;
  }

  /**
   * The apex of the zone that holds `fqdn`, walking up from it; each level is answered from the
   * cache when possible. Throws TerminalError `ZoneNotFound` when no level is a zone.
   */
  private async findZone(
    fqdn: string,
    servers: readonly ServerAddress[],
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const seen: string[] = [];
    for (const candidate of ancestors(fqdn)) {
      const cached = this.levels.get(candidate);
      const verdict =
        cached !== undefined
          ? cached
          : await joinOrStart(this.inflightLevels, candidate, signal, (s) =>
              this.askLevel(candidate, servers, s),
            );
      if (verdict !== null) return verdict;
      seen.push(`${candidate} not a zone${cached === undefined ? "" : " (cached)"}`);
    }
    throw new TerminalError(
      `no DNS zone holds ${fqdn}: the resolvers ${servers.map(formatServer).join(", ")} ` +
        `have no SOA record at that name or any parent (${seen.join(", ")})`,
      "ZoneNotFound",
    );
  }

  /** One SOA query for one level; the verdict goes into the cache. */
  private async askLevel(
    candidate: string,
    servers: readonly ServerAddress[],
    signal: AbortSignal | undefined,
  ): Promise<LevelVerdict> {
    const result = await query(servers, candidate, "SOA", {
      ...this.queryOpts,
      ...(signal ? { signal } : {}),
    });
    const moveOn: number[] = [Rcode.NOERROR, Rcode.NXDOMAIN, Rcode.REFUSED, Rcode.NOTAUTH];
    if (!moveOn.includes(result.rcode)) {
      throw new TemporaryError(
        `SOA query for ${candidate} at ${result.server} answered ${rcodeName(result.rcode)}`,
      );
    }
    // An alias is never a zone apex, and the SOA that comes with it is the target's, not ours.
    const aliased = result.answers.some((a) => a.type === "CNAME");
    let verdict: LevelVerdict = null;
    if (!aliased && result.rcode === Rcode.NOERROR && result.answers.some((a) => isSoaOf(a, candidate))) {
      verdict = candidate;
    } else if (!aliased && (result.rcode === Rcode.NOERROR || result.rcode === Rcode.NXDOMAIN)) {
      // A negative answer carries the SOA of the zone the name is in (RFC 2308, section 3).
      const holder = result.authorities.find((a) => a.type === "SOA" && isWithin(candidate, a.name));
      if (holder !== undefined) {
        verdict = holder.name;
        this.levels.set(holder.name, holder.name);
      }
    }
    this.levels.set(candidate, verdict);
    return verdict;
  }

  /** The zone's authoritative servers as `host:port`, cached, with concurrent lookups shared. */
  private async authoritativeServers(
    zone: string,
    signal: AbortSignal | undefined,
  ): Promise<readonly string[]> {
    const cached = this.nameServers.get(zone);
    if (cached !== undefined) return cached;
    const servers = this.recursiveServers();
    return joinOrStart(this.inflightNameServers, zone, signal, async (s) => {
      const found = await lookupAuthoritativeServers(zone, servers, {
        ...this.queryOpts,
        port: this.authoritativePort,
        ...(s ? { signal: s } : {}),
      });
      this.nameServers.set(zone, found);
      return found;
    });
  }
}

function isSoaOf(a: Answer, name: string): boolean {
  return a.type === "SOA" && a.name === name;
}
