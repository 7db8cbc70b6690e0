/**
 * The Route 53 provider. Both TXT values of one name (apex and wildcard share
 * `_acme-challenge.<domain>`) live in one record set, so every change is read-modify-write of the
 * whole set: read it (ListResourceRecordSets from the name, one item), add or remove our value,
 * then UPSERT the rest or DELETE the set when ours was the last (a DELETE must carry the set's
 * exact values and TTL). Concurrent changes to one hosted zone are merged into one ChangeBatch
 * (several values of one name into one UPSERT of their union, which Route 53 needs: it rejects two
 * changes to one set in a batch), and the flushes of one zone run one at a time, so that two
 * changes of ours never read the same old set and overwrite each other.
 *
 * Waiting for INSYNC: present submits the change and, while Route 53 reports it PENDING, throws a
 * TemporaryError with a short retryAfterMs instead of sleeping. The change ID is kept in memory
 * only as a hint: a present that is retried checks GetChange (one call) rather than submitting
 * again, and a present after a restart finds the value already in the set (by name and value)
 * and submits nothing; the Challenge controller's propagation check then covers what INSYNC
 * would have told. This keeps present idempotent while honouring INSYNC when it can be known.
 *
 * Rate limits: every call takes a token from the account's bucket (src/solvers/limits.ts); a
 * `Throttling` answer pauses the whole account's bucket, since Route 53 throttles per account.
 * The SDK makes one attempt per call; the work queue does the backoff.
 */
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type Change,
  type ChangeInfo,
  type ChangeResourceRecordSetsCommandInput,
  type GetChangeCommandInput,
  type HostedZone,
  type ListHostedZonesByNameCommandInput,
  type ListResourceRecordSetsCommandInput,
  type ResourceRecordSet,
} from "@aws-sdk/client-route-53";
import { TemporaryError, TerminalError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { ZoneBatcher } from "../batch.js";
import { rateLimits as processRateLimits, type RateLimits } from "../limits.js";
import type { ProviderRateLimit } from "../provider.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../types.js";
import {
  awsIdentity,
  type AssumedRoleCache,
  type AwsCredentialsProvider,
  type AwsIdentity,
  type CredentialSource,
} from "./credentials.js";
import { awsCode, classifyAwsError, describeAwsError, isThrottling } from "./errors.js";
import {
  bareChangeId,
  bareZoneId,
  canonicalRoute53Name,
  decodeTxt,
  encodeTxt,
  pickHostedZone,
  type HostedZoneSummary,
} from "./names.js";

/**
 * Route 53's documented request limit: five requests per second per AWS account, for all callers
 * of the account together. (Its newer throttling page gives an account bucket of 50 with a refill
 * of 10 per second; we keep to 5 per second to leave room for the account's other clients, such
 * as external-dns or the console, whose calls count against the same limit.)
 */
export const ROUTE53_RATE_LIMIT: ProviderRateLimit = {
  requests: 5,
  perMs: 1000,
  source: "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DNSLimitations.html",
};

/** TTL of a record set we create (cert-manager uses 10 for Route 53); an existing set keeps its own. */
export const DEFAULT_TXT_TTL = 10;
/** How long the whole account pauses after a `Throttling` answer. */
const THROTTLE_PAUSE_MS = 1000;
/** How long a listing of hosted zones is reused. */
const ZONE_CACHE_MS = 5 * 60_000;
/** Changes per ChangeResourceRecordSets call: well within 100 changes and 1000 records (UPSERT counts twice). */
const MAX_CHANGES_PER_CALL = 50;
/** At most this many pages of hosted zones are read for one zone name. */
const MAX_ZONE_PAGES = 10;
/** How long a remembered PENDING change or INSYNC answer is kept. */
const CHANGE_MEMORY_MS = 30 * 60_000;

/** The four Route 53 calls a solver makes; the SDK client in production, a fake in unit tests. */
export interface Route53Api {
  listHostedZonesByName(
    input: ListHostedZonesByNameCommandInput,
    signal?: AbortSignal,
  ): Promise<{
    HostedZones?: HostedZone[] | undefined;
    IsTruncated?: boolean | undefined;
    NextDNSName?: string | undefined;
    NextHostedZoneId?: string | undefined;
  }>;
  listResourceRecordSets(
    input: ListResourceRecordSetsCommandInput,
    signal?: AbortSignal,
  ): Promise<{ ResourceRecordSets?: ResourceRecordSet[] | undefined }>;
  changeResourceRecordSets(
    input: ChangeResourceRecordSetsCommandInput,
    signal?: AbortSignal,
  ): Promise<{ ChangeInfo?: ChangeInfo | undefined }>;
  getChange(
    input: GetChangeCommandInput,
    signal?: AbortSignal,
  ): Promise<{ ChangeInfo?: ChangeInfo | undefined }>;
}

/** The Route53Api of an SDK client. */
export function sdkRoute53Api(client: Route53Client): Route53Api {
  const opts = (signal?: AbortSignal) => (signal ? { abortSignal: signal } : {});
  return {
    listHostedZonesByName: (input, signal) =>
      client.send(new ListHostedZonesByNameCommand(input), opts(signal)),
    listResourceRecordSets: (input, signal) =>
      client.send(new ListResourceRecordSetsCommand(input), opts(signal)),
    changeResourceRecordSets: (input, signal) =>
      client.send(new ChangeResourceRecordSetsCommand(input), opts(signal)),
    getChange: (input, signal) => client.send(new GetChangeCommand(input), opts(signal)),
  };
}

/** One value to add or remove, waiting in a zone's batch; the flush writes its outcome. */
interface PendingChange {
  readonly op: "add" | "remove";
  /** Canonical name (see canonicalRoute53Name). */
  readonly fqdn: string;
  readonly value: string;
  readonly target: ZoneTarget;
  outcome?: { readonly kind: "unchanged" } | { readonly kind: "submitted"; readonly info: ChangeInfo };
}

/** One hosted zone as seen through one set of credentials. */
interface ZoneTarget {
  readonly zoneId: string;
  /** True when the Issuer named the zone (hostedZoneID) rather than us finding it. */
  readonly configured: boolean;
  readonly conn: Connection;
  readonly log: Logger;
}

/** A solver's way to Route 53: its API, its account's bucket, and the keys that identify it. */
interface Connection {
  readonly api: Route53Api;
  readonly identity: AwsIdentity;
  /** Distinguishes Route 53 endpoints (AWS, or an override) in cache keys. */
  readonly endpointKey: string;
  readonly rateLimits: RateLimits;
  readonly limit: ProviderRateLimit;
}

/** The record set at one name, as read. */
interface CurrentSet {
  /** The name exactly as Route 53 returned it (a DELETE repeats it). */
  readonly name: string;
  readonly ttl: number | undefined;
  /** The values exactly as returned (quoted presentation form). */
  readonly values: readonly string[];
}

/** Takes a token, makes one call, and pauses the account's bucket when Route 53 says Throttling. */
async function call<T>(conn: Connection, what: string, fn: () => Promise<T>, prepaid = false): Promise<T> {
  if (!prepaid) conn.rateLimits.acquire(conn.identity.accountKey, conn.limit, `route53: ${what}`);
  try {
    return await fn();
  } catch (err) {
    if (isThrottling(err))
      conn.rateLimits.bucket(conn.identity.accountKey, conn.limit).drainFor(THROTTLE_PAUSE_MS);
    throw err;
  }
}

function messagesOf(err: unknown): string {
  const messages = (err as { messages?: unknown }).messages;
  const described = describeAwsError(err);
  const list = Array.isArray(messages) ? messages.filter((m): m is string => typeof m === "string") : [];
  return [described, ...list.filter((m) => !described.includes(m))].join("; ");
}

/**
 * True when a change batch was refused because the set is not what we read (another writer
 * changed it between our read and our write): worth one re-read. Route 53 says InvalidChangeBatch
 * ("...not found", "...values provided do not match the current values"); moto says InvalidInput
 * for a DELETE it cannot match.
 */
function isStaleSet(err: unknown): boolean {
  const code = awsCode(err);
  if (code === "InvalidChangeBatch") return !isQuota(err);
  return code === "InvalidInput" && messagesOf(err).includes("DELETE");
}

function isQuota(err: unknown): boolean {
  const code = awsCode(err);
  return (
    code === "LimitsExceeded" ||
    (code === "InvalidChangeBatch" && /\blimit\b|quota|too many|exceed/i.test(messagesOf(err)))
  );
}

/**
 * What every Route 53 solver of the process shares: the zone batcher (changes from different
 * Challenges, each with its own solver, meet here), the per-zone serialization of flushes, the
 * hosted-zone listings, the PENDING changes seen, and SDK clients by credentials.
 */
export class Route53Backend {
  private readonly batcher: ZoneBatcher<PendingChange>;
  private readonly tails = new Map<string, Promise<void>>();
  private readonly zoneLists = new Map<string, { expires: number; list: Promise<HostedZoneSummary[]> }>();
  /** PENDING changes that carried a value, by zone, name and value. */
  private readonly pendingChanges = new Map<string, { changeId: string; submittedAt: number }>();
  /** Changes known INSYNC (final), with when we learnt it. */
  private readonly insync = new Map<string, number>();
  private readonly getChangeInflight = new Map<string, Promise<string>>();
  private readonly clients = new Map<string, Route53Client>();

  constructor(
    private readonly now: () => number = Date.now,
    /** The batch window of the ZoneBatcher (it only gathers callers already on their way). */
    windowMs = 20,
  ) {
    this.batcher = new ZoneBatcher<PendingChange>((key, changes) => this.serially(key, changes), windowMs);
  }

  /** An SDK client per endpoint, region and credentials, reused so that sockets are too. */
  client(key: string, make: () => Route53Client): Route53Client {
    let c = this.clients.get(key);
    if (c) {
      this.clients.delete(key); // re-inserted below: the map's order is least recently used first
    } else {
      c = make();
      if (this.clients.size >= 64) {
        const [oldestKey, oldest] = this.clients.entries().next().value ?? [];
        if (oldestKey !== undefined) this.clients.delete(oldestKey);
        oldest?.destroy();
      }
    }
    this.clients.set(key, c);
    return c;
  }

  /** Submits one value's change into its zone's next batch; resolves once the batch is written. */
  async submit(change: PendingChange): Promise<void> {
    const t = change.target;
    await this.batcher.submit(`${t.conn.endpointKey}|${t.conn.identity.identityKey}|${t.zoneId}`, change);
  }

  /** Runs the flushes of one zone one after another: each reads the set the previous one wrote. */
  private serially(key: string, changes: readonly PendingChange[]): Promise<void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const run = previous.then(() => this.flush(changes));
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return run;
  }

  /** Reads each name's set, applies the batch's changes in order, and writes what differs. */
  private async flush(changes: readonly PendingChange[]): Promise<void> {
    const first = changes[0];
    if (!first) return;
    const target = first.target;
    for (let attempt = 0; ; attempt++) {
      const names = [...new Set(changes.map((c) => c.fqdn))];
      // Reserve every call of this flush at once (a read per name, then the change calls): taking
      // them one by one under the limit let each retry spend its token on the reads and find none
      // left for the change, starting over forever (a retry storm of reads).
      const calls = names.length + Math.ceil(names.length / MAX_CHANGES_PER_CALL);
      target.conn.rateLimits.acquire(
        target.conn.identity.accountKey,
        target.conn.limit,
        "route53: change TXT record sets",
        calls,
      );
      const planned: { change: Change; members: PendingChange[] }[] = [];
      for (const name of names) {
        const members = changes.filter((c) => c.fqdn === name);
        const current = await this.readSet(target, name, undefined, true);
        const change = planChange(name, current, members);
        if (change) planned.push({ change, members });
        // (On a retry, a change that an earlier chunk already carried keeps its outcome.)
        else for (const m of members) m.outcome ??= { kind: "unchanged" };
      }
      if (planned.length === 0) return;
      try {
        for (let i = 0; i < planned.length; i += MAX_CHANGES_PER_CALL) {
          const chunk = planned.slice(i, i + MAX_CHANGES_PER_CALL);
          const out = await call(
            target.conn,
            "change TXT record sets",
            () =>
              target.conn.api.changeResourceRecordSets({
                HostedZoneId: target.zoneId,
                ChangeBatch: {
                  Comment: "dns01-operator: ACME DNS-01 challenge",
                  Changes: chunk.map((p) => p.change),
                },
              }),
            true,
          );
          const info: ChangeInfo = out.ChangeInfo ?? {
            Id: undefined,
            Status: "INSYNC",
            SubmittedAt: undefined,
          };
          for (const p of chunk) for (const m of p.members) m.outcome = { kind: "submitted", info };
          target.log.info("route53: submitted change", {
            hostedZoneId: target.zoneId,
            changeId: info.Id !== undefined ? bareChangeId(info.Id) : undefined,
            status: info.Status,
            changes: chunk.map((p) => `${p.change.Action ?? ""} ${p.change.ResourceRecordSet?.Name ?? ""}`),
          });
        }
        return;
      } catch (err) {
        if (attempt === 0 && isStaleSet(err)) {
          // Someone changed a set between our read and our write: read again, once.
          target.log.info("route53: record set changed under us; reading it again", {
            hostedZoneId: target.zoneId,
            error: describeAwsError(err),
          });
          continue;
        }
        throw this.changeError(err, target);
      }
    }
  }

  private changeError(err: unknown, target: ZoneTarget): Error {
    const what = `change TXT record sets in hosted zone ${target.zoneId}`;
    if (isQuota(err)) {
      return new TerminalError(`route53: failed to ${what}: ${messagesOf(err)}`, "QuotaExceeded", {
        cause: err,
      });
    }
    if (awsCode(err) === "InvalidChangeBatch") {
      return new TemporaryError(
        `route53: failed to ${what}: ${messagesOf(err)} (the record set kept changing under us)`,
        undefined,
        { cause: err },
      );
    }
    return this.zoneError(err, target, what);
  }

  /** NoSuchHostedZone: terminal for a configured ID; for a found one, forget the listing and retry. */
  zoneError(err: unknown, target: ZoneTarget, what: string): Error {
    if (awsCode(err) !== "NoSuchHostedZone") return classifyAwsError(err, what);
    const message = `route53: failed to ${what}: ${describeAwsError(err)}`;
    if (target.configured) return new TerminalError(message, "ZoneNotFound", { cause: err });
    this.forgetZones(target.conn);
    return new TemporaryError(message, undefined, { cause: err });
  }

  /** The TXT set at `name`, or undefined. */
  async readSet(
    target: ZoneTarget,
    name: string,
    signal?: AbortSignal,
    prepaid = false,
  ): Promise<CurrentSet | undefined> {
    let sets: ResourceRecordSet[];
    try {
      const out = await call(
        target.conn,
        "list TXT record sets",
        () =>
          target.conn.api.listResourceRecordSets(
            { HostedZoneId: target.zoneId, StartRecordName: name, StartRecordType: "TXT", MaxItems: 1 },
            signal,
          ),
        prepaid,
      );
      sets = out.ResourceRecordSets ?? [];
    } catch (err) {
      throw this.zoneError(err, target, `read the TXT record set ${name}`);
    }
    const set = sets[0];
    if (!set?.Name || set.Type !== "TXT" || canonicalRoute53Name(set.Name) !== name) return undefined;
    if (set.SetIdentifier !== undefined || set.AliasTarget !== undefined) {
      throw new TerminalError(
        `route53: the TXT record set ${name} uses a routing policy (set identifier ${set.SetIdentifier ?? "alias"}); ` +
          "DNS-01 needs a simple record set",
        "InvalidConfiguration",
      );
    }
    return {
      name: set.Name,
      ttl: set.TTL,
      values: (set.ResourceRecords ?? []).map((r) => r.Value ?? ""),
    };
  }

  /**
   * The public hosted zones listed from `zone` on (ListHostedZonesByName starting at the zone the
   * dispatcher found through DNS), reused for a few minutes; concurrent callers share one listing.
   */
  hostedZones(conn: Connection, zone: string, signal?: AbortSignal): Promise<HostedZoneSummary[]> {
    const key = `${conn.endpointKey}|${conn.identity.identityKey}|${canonicalRoute53Name(zone)}`;
    const cached = this.zoneLists.get(key);
    if (cached && cached.expires > this.now()) return cached.list;
    const list = listZonesFrom(conn, canonicalRoute53Name(zone), signal);
    this.zoneLists.set(key, { expires: this.now() + ZONE_CACHE_MS, list });
    list.catch(() => {
      if (this.zoneLists.get(key)?.list === list) this.zoneLists.delete(key);
    });
    return list;
  }

  /** Forgets the zone listings of one set of credentials (a zone was deleted or re-created). */
  forgetZones(conn: Connection): void {
    const prefix = `${conn.endpointKey}|${conn.identity.identityKey}|`;
    for (const key of this.zoneLists.keys()) if (key.startsWith(prefix)) this.zoneLists.delete(key);
  }

  /** Notes that a change carrying a value is PENDING. */
  notePending(key: string, changeId: string): void {
    const t = this.now();
    for (const [k, v] of this.pendingChanges)
      if (t - v.submittedAt > CHANGE_MEMORY_MS) this.pendingChanges.delete(k);
    if (!this.pendingChanges.has(key)) this.pendingChanges.set(key, { changeId, submittedAt: t });
  }

  /** The PENDING change last seen carrying a value. */
  pendingChange(key: string): { changeId: string; submittedAt: number } | undefined {
    return this.pendingChanges.get(key);
  }

  forgetPending(key: string): void {
    this.pendingChanges.delete(key);
  }

  /** The status of a change: INSYNC answers are final and remembered; concurrent asks share a call. */
  changeStatus(conn: Connection, changeId: string, signal?: AbortSignal): Promise<string> {
    if (this.insync.has(changeId)) return Promise.resolve("INSYNC");
    const inflight = this.getChangeInflight.get(changeId);
    if (inflight) return inflight;
    const ask = (async () => {
      try {
        const out = await call(conn, "get change", () => conn.api.getChange({ Id: changeId }, signal));
        const status = out.ChangeInfo?.Status ?? "PENDING";
        if (status === "INSYNC") this.rememberInsync(changeId);
        return status;
      } catch (err) {
        // Route 53 forgets old changes; nothing is left to wait for.
        if (awsCode(err) === "NoSuchChange") return "INSYNC";
        throw classifyAwsError(err, `get the status of change ${changeId}`);
      } finally {
        this.getChangeInflight.delete(changeId);
      }
    })();
    this.getChangeInflight.set(changeId, ask);
    return ask;
  }

  private rememberInsync(changeId: string): void {
    const t = this.now();
    for (const [k, at] of this.insync) if (t - at > CHANGE_MEMORY_MS) this.insync.delete(k);
    this.insync.set(changeId, t);
  }

  /** The clock, for the age of PENDING changes. */
  time(): number {
    return this.now();
  }
}

/** The Route53Backend of the process. */
export const route53Backend = new Route53Backend();

/**
 * The change that brings the set at `name` from `current` to what `members` ask, in their order:
 * undefined when nothing changes (adding a value that is there, removing one that is not). Other
 * values are kept exactly as read.
 */
export function planChange(
  name: string,
  current: CurrentSet | undefined,
  members: readonly { op: "add" | "remove"; value: string }[],
): Change | undefined {
  const before = current?.values ?? [];
  let after = [...before];
  for (const m of members) {
    const has = after.some((v) => decodeTxt(v) === m.value);
    if (m.op === "add" && !has) after.push(encodeTxt(m.value));
    if (m.op === "remove" && has) after = after.filter((v) => decodeTxt(v) !== m.value);
  }
  if (after.length === before.length && after.every((v, i) => v === before[i])) return undefined;
  if (after.length === 0) {
    if (!current) return undefined;
    return {
      Action: "DELETE",
      ResourceRecordSet: {
        Name: current.name,
        Type: "TXT",
        TTL: current.ttl,
        ResourceRecords: current.values.map((Value) => ({ Value })),
      },
    };
  }
  return {
    Action: "UPSERT",
    ResourceRecordSet: {
      Name: current?.name ?? name,
      Type: "TXT",
      TTL: current?.ttl ?? DEFAULT_TXT_TTL,
      ResourceRecords: after.map((Value) => ({ Value })),
    },
  };
}

/** Reversed labels, the order in which ListHostedZonesByName lists zones. */
function reversedLabels(name: string): string {
  return name.replace(/\.$/, "").split(".").reverse().join(".");
}

async function listZonesFrom(
  conn: Connection,
  zone: string,
  signal?: AbortSignal,
): Promise<HostedZoneSummary[]> {
  const zones: HostedZoneSummary[] = [];
  const prefix = reversedLabels(zone);
  let dnsName: string | undefined = zone.replace(/\.$/, "");
  let hostedZoneId: string | undefined;
  for (let page = 0; page < MAX_ZONE_PAGES && dnsName !== undefined; page++) {
    const input: ListHostedZonesByNameCommandInput = { DNSName: dnsName, MaxItems: 100 };
    if (hostedZoneId !== undefined) input.HostedZoneId = hostedZoneId;
    let out: Awaited<ReturnType<Route53Api["listHostedZonesByName"]>>;
    try {
      out = await call(conn, "list hosted zones", () => conn.api.listHostedZonesByName(input, signal));
    } catch (err) {
      throw classifyAwsError(err, `list hosted zones from ${zone}`);
    }
    for (const hz of out.HostedZones ?? []) {
      if (hz.Id === undefined || hz.Name === undefined) continue;
      zones.push({
        id: bareZoneId(hz.Id),
        name: canonicalRoute53Name(hz.Name),
        privateZone: hz.Config?.PrivateZone === true,
      });
    }
    // Zones are listed in reversed-label order, so the zone's own subtree is one run: past it,
    // nothing can hold the name.
    const next = out.NextDNSName;
    const more =
      out.IsTruncated === true &&
      next !== undefined &&
      reversedLabels(canonicalRoute53Name(next)).startsWith(prefix);
    dnsName = more ? next : undefined;
    hostedZoneId = more ? out.NextHostedZoneId : undefined;
  }
  return zones;
}

/** What a Route 53 solver is built from: cert-manager's fields, resolved. */
export interface Route53SolverConfig {
  /** Region of the credential scope and of STS; default the ambient AWS_REGION, else us-east-1 (Route 53 is global). */
  readonly region?: string | undefined;
  /** The hosted zone to write to; found by name when unset. */
  readonly hostedZoneID?: string | undefined;
  readonly credentials: CredentialSource;
  /** A role to assume with those credentials. */
  readonly role?: string | undefined;
  /** Route 53 API endpoint override (tests, proxies); default AWS's. */
  readonly endpoint?: string | undefined;
  /** STS endpoint override for AssumeRole. */
  readonly stsEndpoint?: string | undefined;
}

/** What a Route 53 solver shares with the process; tests pass their own. */
export interface Route53SolverDeps {
  readonly backend?: Route53Backend | undefined;
  readonly rateLimits?: RateLimits | undefined;
  /** The account's limit; default {@link ROUTE53_RATE_LIMIT}. */
  readonly rateLimit?: ProviderRateLimit | undefined;
  /** The ambient credential chain; default the SDK's default chain. */
  readonly ambient?: AwsCredentialsProvider | undefined;
  readonly roleCache?: AssumedRoleCache | undefined;
  /** Replaces the SDK client (unit tests). */
  readonly api?: Route53Api | undefined;
}

/** Region of the calls: the block's, else the pod's for ambient credentials, else us-east-1. */
function regionOf(config: Route53SolverConfig): string {
  if (config.region !== undefined && config.region !== "") return config.region;
  if (config.credentials.kind === "ambient") {
    const env = process.env["AWS_REGION"] ?? process.env["AWS_DEFAULT_REGION"];
    if (env !== undefined && env !== "") return env;
  }
  return "us-east-1";
}

/** Builds a Route 53 solver. */
export function createRoute53Solver(config: Route53SolverConfig, deps: Route53SolverDeps = {}): Dns01Solver {
  const backend = deps.backend ?? route53Backend;
  const region = regionOf(config);
  const identity = awsIdentity({
    source: config.credentials,
    role: config.role,
    region,
    stsEndpoint: config.stsEndpoint,
    ambient: deps.ambient,
    cache: deps.roleCache,
  });
  const endpointKey = config.endpoint ?? "aws";
  const api =
    deps.api ??
    sdkRoute53Api(
      backend.client(`${endpointKey}|${region}|${identity.identityKey}`, () => {
        return new Route53Client({
          region,
          credentials: identity.credentials,
          maxAttempts: 1,
          requestHandler: { connectionTimeout: 5000, requestTimeout: 20_000 },
          ...(config.endpoint !== undefined ? { endpoint: config.endpoint } : {}),
        });
      }),
    );
  const conn: Connection = {
    api,
    identity,
    endpointKey,
    rateLimits: deps.rateLimits ?? processRateLimits,
    limit: deps.rateLimit ?? ROUTE53_RATE_LIMIT,
  };
  return new Route53Solver(conn, backend, config.hostedZoneID);
}

class Route53Solver implements Dns01Solver {
  constructor(
    private readonly conn: Connection,
    private readonly backend: Route53Backend,
    private readonly hostedZoneID: string | undefined,
  ) {}

  async present(record: TxtRecord, ctx: SolverContext): Promise<void> {
    const fqdn = canonicalRoute53Name(record.fqdn);
    const target = await this.target(record, ctx);
    const key = `${this.conn.endpointKey}|${target.zoneId}|${fqdn}|${record.value}`;
    const known = this.backend.pendingChange(key);
    if (known) {
      const status = await this.backend.changeStatus(this.conn, known.changeId, ctx.signal);
      if (status !== "INSYNC") throw this.stillPending(fqdn, known.changeId, known.submittedAt);
      this.backend.forgetPending(key);
    }
    const change: PendingChange = { op: "add", fqdn, value: record.value, target };
    await this.backend.submit(change);
    const outcome = change.outcome;
    if (outcome?.kind === "submitted" && outcome.info.Status !== "INSYNC" && outcome.info.Id !== undefined) {
      const changeId = bareChangeId(outcome.info.Id);
      this.backend.notePending(key, changeId);
      throw this.stillPending(fqdn, changeId, this.backend.time());
    }
    ctx.log.debug("route53: TXT value present", {
      fqdn,
      hostedZoneId: target.zoneId,
      changed: outcome?.kind === "submitted",
    });
  }

  async cleanUp(record: TxtRecord, ctx: SolverContext): Promise<void> {
    const fqdn = canonicalRoute53Name(record.fqdn);
    let target: ZoneTarget;
    try {
      target = await this.target(record, ctx);
    } catch (err) {
      if (err instanceof TerminalError && err.reason === "ZoneNotFound") {
        // No zone, no record: cleaning up what cannot exist succeeds, so a deleted zone never
        // blocks the deletion of a Challenge.
        ctx.log.info("route53: no hosted zone holds the record; nothing to clean up", { fqdn });
        return;
      }
      throw err;
    }
    this.backend.forgetPending(`${this.conn.endpointKey}|${target.zoneId}|${fqdn}|${record.value}`);
    try {
      await this.backend.submit({ op: "remove", fqdn, value: record.value, target });
    } catch (err) {
      if (err instanceof TerminalError && err.reason === "ZoneNotFound") {
        ctx.log.info("route53: the hosted zone is gone; nothing to clean up", {
          fqdn,
          hostedZoneId: target.zoneId,
        });
        return;
      }
      throw err;
    }
  }

  private stillPending(fqdn: string, changeId: string, since: number): TemporaryError {
    const age = Math.max(0, this.backend.time() - since);
    // Route 53 usually reports INSYNC within a minute: ask every second at first, then less often.
    const retryAfterMs = Math.min(5000, Math.max(1000, Math.round(age / 4)));
    return new TemporaryError(
      `route53: change ${changeId} for ${fqdn} is PENDING; waiting for Route 53 to report it INSYNC`,
      retryAfterMs,
    );
  }

  /** The hosted zone that holds the record: the configured one, or the longest public match. */
  private async target(record: TxtRecord, ctx: SolverContext): Promise<ZoneTarget> {
    if (this.hostedZoneID !== undefined && this.hostedZoneID !== "") {
      return { zoneId: bareZoneId(this.hostedZoneID), configured: true, conn: this.conn, log: ctx.log };
    }
    const zones = await this.backend.hostedZones(this.conn, record.zone, ctx.signal);
    const zone = pickHostedZone(record.fqdn, zones);
    if (!zone) {
      // Not remembered: a zone created to fix this is found on the next try.
      this.backend.forgetZones(this.conn);
      const seen = zones.map((z) => `${z.name}${z.privateZone ? " (private)" : ""}`).join(", ");
      throw new TerminalError(
        `route53: no public hosted zone holds ${canonicalRoute53Name(record.fqdn)} ` +
          `(ListHostedZonesByName from ${canonicalRoute53Name(record.zone)} found ${seen === "" ? "none" : seen})`,
        "ZoneNotFound",
      );
    }
    return { zoneId: zone.id, configured: false, conn: this.conn, log: ctx.log };
  }
}
