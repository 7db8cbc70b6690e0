/**
 * The `cloudDNS` DNS-01 provider: Google Cloud DNS through the official `@google-cloud/dns` SDK.
 *
 * Cloud DNS holds all TXT values of one name in one resource record set and changes record sets
 * only whole, through `changes.create` (deletions must match the current set exactly, additions
 * must not exist yet). So adding a value is "delete the old set, add the set with the value" in
 * one change, and removing one is "delete the old set, add the rest" (or only delete it when it
 * was the last value): the other value at the name (apex and wildcard) always survives. When the
 * set changed between our read and our change (409/412), we read again and retry once.
 *
 * Concurrent presents and clean-ups in one zone are batched into one change (ZoneBatcher), and
 * the changes of one zone are sent one after another, so that a process never races itself.
 * Clients are shared per credential (the SHA-256 of the key, so a rotated key gets a new client)
 * and keep their access token until it expires.
 */
import { createHash } from "node:crypto";
import { DNS, type Zone } from "@google-cloud/dns";
import { TemporaryError, TerminalError } from "../../errors.js";
import { ZoneBatcher } from "../batch.js";
import { rateLimits as processRateLimits, type RateLimits } from "../limits.js";
import type { ProviderRateLimit } from "../provider.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../types.js";
import { classify } from "./errors.js";
import { GOOGLE_TOKEN_URL, parseServiceAccountKey, type ServiceAccountKey } from "./key.js";

/** The Cloud DNS API root the SDK uses by default. */
export const CLOUD_DNS_API_URL = "https://dns.googleapis.com";

/**
 * Our budget per service account. Google publishes the Cloud DNS API quota (requests per minute
 * per user) on each project's Quotas page rather than as one figure; 5 requests/s stays well under
 * the defaults, and a 429 `rateLimitExceeded` drains the bucket for as long as Google asks.
 */
export const CLOUD_DNS_RATE_LIMIT: ProviderRateLimit = {
  requests: 300,
  perMs: 60_000,
  source: "https://cloud.google.com/dns/quotas",
};

/** TTL of the TXT record sets it creates. */
export const DEFAULT_TTL = 60;

/** The provider's settings, with the key already read from its Secret. */
export interface CloudDnsConfig {
  /** The project that holds the managed zones. */
  readonly project: string;
  /** A service account JSON key; ambient credentials (Application Default Credentials) when absent. */
  readonly serviceAccountKey?: string | undefined;
  /** The managed zone to change; found by DNS name when absent. */
  readonly hostedZoneName?: string | undefined;
  /** Another API root than https://dns.googleapis.com (tests, a proxy). */
  readonly endpoint?: string | undefined;
  readonly ttl?: number | undefined;
  /** Per-request timeout of the SDK in ms. Default 30000. */
  readonly timeoutMs?: number | undefined;
}

/** What the solver may be given besides its settings (tests pass their own). */
export interface CloudDnsDeps {
  readonly rateLimits?: RateLimits;
  /** How long concurrent changes to a zone are gathered into one; default ZoneBatcher's 20 ms. */
  readonly batchWindowMs?: number;
}

/** One value to add or remove, as queued for a zone's next change. */
interface TxtChange {
  readonly op: "add" | "remove";
  readonly fqdn: string;
  readonly value: string;
}

interface RawRrset {
  readonly name: string;
  readonly type: string;
  readonly ttl: number;
  readonly rrdatas: readonly string[];
}

/** The options a request interceptor returns (the SDK's DecorateRequestOptions). */
type RequestOptions = ReturnType<DNS["interceptors"][number]["request"]>;

const ZONE_CACHE_MS = 5 * 60_000;
const MAX_CLIENTS = 64;

const lower = (n: string) => n.toLowerCase();
const quote = (v: string) => `"${v.replace(/(["\\])/g, "\\$1")}"`;

/** The text of a TXT rrdata as Cloud DNS returns it: quoted character-strings, unquoted and joined. */
export function txtValue(rrdata: string): string {
  if (!rrdata.startsWith('"')) return rrdata;
  let out = "";
  for (const m of rrdata.matchAll(/"((?:[^"\\]|\\.)*)"/g)) out += (m[1] ?? "").replace(/\\(.)/g, "$1");
  return out;
}

/**
 * One Cloud DNS client and everything shared by the solvers that use the same credentials: the SDK
 * (and so its cached access token), the zone-name cache, the batcher and the per-zone order.
 */
class CloudDnsApi {
  private readonly dns: DNS;
  private readonly zoneNames = new Map<string, { name: Promise<string>; at: number }>();
  private readonly queues = new Map<string, Promise<void>>();
  readonly batcher: ZoneBatcher<TxtChange>;

  constructor(
    private readonly config: CloudDnsConfig,
    key: ServiceAccountKey | undefined,
    readonly accountKey: string,
    private readonly limits: RateLimits,
    batchWindowMs: number | undefined,
  ) {
    const timeout = config.timeoutMs ?? 30_000;
    this.dns = key
      ? new DNS({ projectId: config.project, authClient: jwtClient(config.project, key) })
      : new DNS({ projectId: config.project });
    if (config.endpoint !== undefined) this.dns.baseUrl = `${config.endpoint.replace(/\/+$/, "")}/dns/v1`;
    // The SDK retries 429 and 5xx itself, sleeping between tries: the work queue does that, with
    // the rate limiter's view of every other reconcile. (Requests that got no response at all are
    // still retried by the SDK's retry-request, which offers no option for that.)
    this.dns.interceptors.push({
      request: (reqOpts): RequestOptions => ({ ...(reqOpts as RequestOptions), maxRetries: 0, timeout }),
    });
    this.batcher = new ZoneBatcher<TxtChange>(
      (zone, changes) => this.serialized(zone, changes),
      batchWindowMs,
    );
  }

  /**
   * The managed zone that holds `record`: the configured one, or the public zone found by DNS name.
   * Lookups are cached for a few minutes, and concurrent lookups of one zone share one request.
   */
  async zoneFor(record: TxtRecord): Promise<string> {
    if (this.config.hostedZoneName !== undefined) return this.config.hostedZoneName;
    const cacheKey = lower(record.zone);
    const cached = this.zoneNames.get(cacheKey);
    if (cached && Date.now() - cached.at < ZONE_CACHE_MS) return cached.name;
    const lookup = this.findZone(record);
    this.zoneNames.set(cacheKey, { name: lookup, at: Date.now() });
    try {
      return await lookup;
    } catch (err) {
      if (this.zoneNames.get(cacheKey)?.name === lookup) this.zoneNames.delete(cacheKey);
      throw err;
    }
  }

  private async findZone(record: TxtRecord): Promise<string> {
    const fqdn = lower(record.fqdn);
    // The longest public zone that holds the name (a private zone of the same DNS name is not
    // what the CA sees); first among the zones of exactly the challenge's zone, else among all.
    const pick = (zones: Awaited<ReturnType<CloudDnsApi["listZones"]>>) =>
      zones
        .filter((z) => (z.visibility ?? "public") === "public")
        .filter((z) => fqdn === lower(z.dnsName) || fqdn.endsWith(`.${lower(z.dnsName)}`))
        .sort((a, b) => b.dnsName.length - a.dnsName.length)[0];
    const best = pick(await this.listZones(record.zone)) ?? pick(await this.listZones(undefined));
    if (!best) {
      throw new TerminalError(
        `cloudDNS: no public managed zone in project "${this.config.project}" holds ${record.fqdn} ` +
          `(looked for DNS name ${record.zone}); create it or set hostedZoneName`,
        "ZoneNotFound",
      );
    }
    return best.name;
  }

  private async listZones(dnsName: string | undefined) {
    const out: { name: string; dnsName: string; visibility?: string }[] = [];
    let pageToken: string | undefined;
    do {
      const query = {
        autoPaginate: false,
        maxResults: 100,
        ...(dnsName === undefined ? {} : { dnsName }),
        ...(pageToken === undefined ? {} : { pageToken }),
      };
      const [, next, body] = (await this.call("failed to find the managed zone", () =>
        this.dns.getZones(query),
      )) as [unknown, { pageToken?: string } | null, unknown];
      const zones = (body as { managedZones?: typeof out } | undefined)?.managedZones ?? [];
      out.push(...zones.filter((z) => typeof z.name === "string" && typeof z.dnsName === "string"));
      pageToken = next?.pageToken ?? undefined;
    } while (pageToken !== undefined);
    return out;
  }

  /** Runs the zone's changes one batch at a time, so that a batch reads what the previous wrote. */
  private serialized(zone: string, changes: readonly TxtChange[]): Promise<void> {
    const previous = this.queues.get(zone) ?? Promise.resolve();
    const run = previous.then(() => this.apply(zone, changes));
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(zone, settled);
    void settled.then(() => {
      if (this.queues.get(zone) === settled) this.queues.delete(zone);
    });
    return run;
  }

  /** Reads the record sets the changes touch, and writes what they should become in one change. */
  private async apply(zoneName: string, changes: readonly TxtChange[]): Promise<void> {
    const zone = this.dns.zone(zoneName);
    const names = [...new Set(changes.map((c) => lower(c.fqdn)))];
    for (let attempt = 0; ; attempt++) {
      // The reads and the change are one operation: take their tokens together, so that a drained
      // bucket can never let the reads through and then refuse the change on every attempt.
      this.reserve(names.length + 1, "failed to change TXT records");
      const current = new Map<string, RawRrset | undefined>();
      for (const name of names) current.set(name, await this.readTxt(zone, name));
      const deletions: RawRrset[] = [];
      const additions: RawRrset[] = [];
      for (const name of names) {
        const before = current.get(name);
        // Other values keep their rrdata as it was (a long value may be several strings); ours
        // are found by their text.
        const rrdatas = [...(before?.rrdatas ?? [])];
        for (const c of changes.filter((x) => lower(x.fqdn) === name)) {
          const i = rrdatas.findIndex((d) => txtValue(d) === c.value);
          if (c.op === "add" && i < 0) rrdatas.push(quote(c.value));
          if (c.op === "remove" && i >= 0) rrdatas.splice(i, 1);
        }
        const old = before?.rrdatas ?? [];
        if (rrdatas.length === old.length && rrdatas.every((d, i) => d === old[i])) continue;
        if (before) deletions.push(before);
        if (rrdatas.length > 0) {
          additions.push({ name, type: "TXT", ttl: before?.ttl ?? this.config.ttl ?? DEFAULT_TTL, rrdatas });
        }
      }
      if (deletions.length === 0 && additions.length === 0) return;
      const toRecord = (r: RawRrset) =>
        zone.record("txt", { name: r.name, ttl: r.ttl, data: [...r.rrdatas] });
      const outcome = await this.attempt(
        "failed to change TXT records",
        () => zone.createChange({ add: additions.map(toRecord), delete: deletions.map(toRecord) }),
        { conflictOk: attempt === 0, zoneName, reserved: true },
      );
      if (outcome !== CONFLICT) return;
    }
  }

  private async readTxt(zone: Zone, name: string): Promise<RawRrset | undefined> {
    // Without autoPaginate the promise carries the callback's three values (typed as two).
    const [, , body] = (await this.attempt(
      "failed to read TXT records",
      () => zone.getRecords({ name, type: "TXT", autoPaginate: false }),
      { reserved: true },
    )) as unknown as [unknown, unknown, unknown];
    const sets = (body as { rrsets?: RawRrset[] } | undefined)?.rrsets ?? [];
    return sets.find((r) => r.type === "TXT" && lower(r.name) === name);
  }

  /** Takes `n` tokens from the account's bucket, or throws a TemporaryError saying when they will be there. */
  private reserve(n: number, what: string): void {
    const wait = this.limits.bucket(this.accountKey, CLOUD_DNS_RATE_LIMIT).take(n);
    if (wait > 0) {
      throw new TemporaryError(
        `cloudDNS: ${what}: client-side rate limit for this account; retrying in ${wait} ms`,
        wait,
      );
    }
  }

  /** One API call that never expects a conflict. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const r = await this.attempt(what, fn, {});
    if (r === CONFLICT) throw new Error("unreachable: conflict without conflictOk");
    return r;
  }

  /**
   * One API call: takes a token from the account's bucket first (unless the caller `reserved` it),
   * and turns failures into the operator's errors. With `conflictOk`, a 409/412 returns CONFLICT
   * (read again) instead of failing.
   */
  private async attempt<T>(
    what: string,
    fn: () => Promise<T>,
    opts: { conflictOk?: boolean; zoneName?: string; reserved?: boolean },
  ): Promise<T | typeof CONFLICT> {
    if (opts.reserved !== true) this.reserve(1, what);
    try {
      return await fn();
    } catch (err) {
      const c = classify(err, what);
      switch (c.kind) {
        case "error":
          throw c.error;
        case "throttled":
          this.limits.bucket(this.accountKey, CLOUD_DNS_RATE_LIMIT).drainFor(c.retryAfterMs);
          throw new TemporaryError(
            `cloudDNS: ${what}: rate limited by Cloud DNS; retrying in ${c.retryAfterMs} ms`,
            c.retryAfterMs,
            { cause: err },
          );
        case "zoneGone":
          if (this.config.hostedZoneName !== undefined) {
            throw new TerminalError(
              `cloudDNS: ${what}: managed zone "${this.config.hostedZoneName}" not found in project "${this.config.project}"`,
              "ZoneNotFound",
              { cause: err },
            );
          }
          // A discovered zone was deleted (or recreated under another name): look it up again.
          this.zoneNames.clear();
          throw new TemporaryError(
            `cloudDNS: ${what}: managed zone "${opts.zoneName ?? "?"}" no longer exists; looking it up again`,
            undefined,
            { cause: err },
          );
        case "conflict":
          if (opts.conflictOk) return CONFLICT;
          throw new TemporaryError(
            `cloudDNS: ${what}: the record set changed while it was being updated, twice in a row`,
            undefined,
            { cause: err },
          );
      }
    }
  }
}

const CONFLICT = Symbol("conflict");

/**
 * A JWT client for the key whose token requests go to the key's `token_uri` (google-auth-library
 * always posts to Google's URL; cert-manager, through Go's oauth2 package, honours token_uri) and
 * are never retried by the library.
 */
function jwtClient(project: string, key: ServiceAccountKey) {
  const tokenUri = key.tokenUri;
  const json = {
    type: "service_account",
    client_email: key.clientEmail,
    private_key: key.privateKey,
    ...(key.privateKeyId === undefined ? {} : { private_key_id: key.privateKeyId }),
    project_id: project,
  };
  // fromJSON of the SDK's own GoogleAuth builds the JWT client with the SDK's scopes. Google
  // deprecated fromJSON because it loads whatever credential type the JSON names (external
  // accounts that read files or run programs); this JSON is built here, always a service account
  // with four checked fields, which is the validation Google asks for.
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  return new DNS({ projectId: project }).authClient.fromJSON(json, {
    transporterOptions: {
      retryConfig: { retry: 0, noResponseRetries: 0 },
      adapter: (options, defaultAdapter) => {
        if (tokenUri !== GOOGLE_TOKEN_URL && options.url.toString() === GOOGLE_TOKEN_URL) {
          options.url = new URL(tokenUri);
        }
        return defaultAdapter(options);
      },
    },
  });
}

const clients = new Map<string, CloudDnsApi>();

function sharedApi(config: CloudDnsConfig, deps: CloudDnsDeps): CloudDnsApi {
  const key =
    config.serviceAccountKey === undefined ? undefined : parseServiceAccountKey(config.serviceAccountKey);
  const limits = deps.rateLimits ?? processRateLimits;
  const id = createHash("sha256")
    .update(
      JSON.stringify([
        config.project,
        config.serviceAccountKey ?? null,
        config.hostedZoneName ?? null,
        config.endpoint ?? null,
        config.ttl ?? null,
        config.timeoutMs ?? null,
        deps.batchWindowMs ?? null,
      ]),
    )
    .digest("hex");
  // Tests inject their own limiter: never share a client across limiters.
  if (deps.rateLimits !== undefined) {
    return new CloudDnsApi(config, key, accountKeyOf(config, key), limits, deps.batchWindowMs);
  }
  let api = clients.get(id);
  if (!api) {
    api = new CloudDnsApi(config, key, accountKeyOf(config, key), limits, deps.batchWindowMs);
    const oldest = clients.keys().next();
    if (clients.size >= MAX_CLIENTS && oldest.done !== true) clients.delete(oldest.value);
    clients.set(id, api);
  }
  return api;
}

/** The non-secret key of the account's rate-limit bucket: the service account, or the project. */
function accountKeyOf(config: CloudDnsConfig, key: ServiceAccountKey | undefined): string {
  return key ? `cloudDNS:${key.clientEmail}` : `cloudDNS:ambient:${config.project}`;
}

/**
 * Builds the Cloud DNS solver. `serviceAccountKey` is the key file's text (checked here: only
 * `service_account` keys); without it the SDK's Application Default Credentials are used.
 */
export function createCloudDnsSolver(config: CloudDnsConfig, deps: CloudDnsDeps = {}): Dns01Solver {
  if (config.project.trim() === "")
    throw new TerminalError("cloudDNS: project is required", "InvalidConfiguration");
  const api = sharedApi(config, deps);
  const submit = async (op: TxtChange["op"], record: TxtRecord, ctx: SolverContext) => {
    ctx.signal.throwIfAborted();
    const zone = await api.zoneFor(record);
    ctx.log.debug("cloudDNS: queueing TXT change", { op, fqdn: record.fqdn, managedZone: zone });
    await api.batcher.submit(zone, { op, fqdn: record.fqdn, value: record.value });
  };
  return {
    present: (record, ctx) => submit("add", record, ctx),
    cleanUp: (record, ctx) => submit("remove", record, ctx),
  };
}
