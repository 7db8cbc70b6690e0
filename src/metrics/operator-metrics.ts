/**
 * The operator's metrics, on one prom-client Registry per operator instance (never the global
 * default one), so that tests can run several operators in one process.
 *
 * Two kinds:
 * - Per-object series (Certificates, Challenges, Issuers, ClusterIssuers) are computed at scrape
 *   time from the informer caches in collect() callbacks. Cardinality is bounded by the objects
 *   that exist, and a deleted object's series vanish with it: nothing to forget, nothing to leak.
 * - Event series (sync calls, work-queue latency, provider calls, rate-limit waits, propagation
 *   checks, ACME requests, issuances, record changes) are counted by hooks as things happen.
 *
 * Names, types and labels come from names.ts, the catalogue the chart's alerts and dashboard are
 * checked against.
 */
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  Summary,
  collectDefaultMetrics,
  exponentialBuckets,
} from "prom-client";
import type { Outcome } from "../controllers/runtime/work-queue.js";
import type { ControllerMetricsHooks } from "../controllers/runtime/controller.js";
import { DNS01_PROVIDERS } from "../crds/index.js";
import type { DispatcherMetrics } from "../solvers/dispatcher.js";
import type { RateLimitWait, RateLimits } from "../solvers/limits.js";
import type { ProviderRateLimit } from "../solvers/provider.js";
import { CERT_MANAGER_METRICS as CM, DNS01_METRICS as D, type MetricDefinition } from "./names.js";
import {
  type CertificateLike,
  type ChallengeLike,
  type IssuerLike,
  certificateLabels,
  challengeProvider,
  challengeStatusLabels,
  CHALLENGE_STATES,
  CONDITION_STATUSES,
  readyStatus,
  suggestedWindow,
  timestampSeconds,
} from "./objects.js";

/** What the collectors read: an informer's cache, or a fake one in tests. */
export interface Lister<T> {
  list(): T[];
}

/** The caches per-object metrics are computed from at scrape time. */
export interface MetricSources {
  certificates: Lister<CertificateLike>;
  challenges: Lister<ChallengeLike>;
  issuers: Lister<IssuerLike>;
  clusterIssuers: Lister<IssuerLike>;
}

/** What the leader and queue-depth gauges read: the runtime's Manager, or a fake in tests. */
export interface ManagerLike {
  isLeader(): boolean;
  queueDepths(): { controller: string; depth: number }[];
}

/**
 * One ACME HTTP request, as the ACME client's `onRequest` option reports it. `action` is one of
 * cert-manager's bounded values (`authorize_order`, `create_order_cert`, `get_renewal_info`, ...; see src/acme/actions.ts);
 * `status` is undefined when no response came (network error, timeout). It is structurally
 * src/acme's AcmeRequestRecord, so the observer can be passed as `onRequest` as it is.
 */
export interface AcmeRequestInfo {
  readonly action: string;
  readonly method: string;
  readonly url: string;
  readonly status: number | undefined;
  readonly durationSeconds: number;
}

/** One finished issuance, as the Certificate controller reports it. */
export interface IssuanceEvent {
  readonly outcome: "success" | "failure";
  /** True when the Certificate already had a certificate (a renewal or a reissue), false for the first. */
  readonly renewal: boolean;
  readonly issuerName: string;
  readonly issuerKind: string;
}

/** One TXT record change at a provider, as the Challenge controller reports it (the audit trail's counter). */
export interface DnsRecordChangeEvent {
  /** The provider's `dns01` field name, e.g. `rfc2136`. */
  readonly provider: string;
  readonly action: "present" | "cleanup";
}

/** Records a finished issuance: `dns01_certificate_issuances_total`. */
export type IssuanceRecorder = (event: IssuanceEvent) => void;
/** Records a TXT record change: `dns01_dns_record_changes_total`. */
export type DnsRecordChangeRecorder = (event: DnsRecordChangeEvent) => void;
/** Records one ACME request: the `certmanager_http_acme_client_request_*` pair. */
export type AcmeRequestObserver = (request: AcmeRequestInfo) => void;

/** Options of OperatorMetrics. */
export interface OperatorMetricsOptions {
  /** Add Node's process_* and nodejs_* metrics (prom-client's defaults). Default false. */
  processMetrics?: boolean;
  /** The clock, in ms since the epoch; tests pass a fixed one. Default Date.now. */
  now?: () => number;
  /** Which provider a rate limit belongs to, for the wait metric's label; default "unknown". */
  providerOfLimit?: (limit: ProviderRateLimit, key: string) => string;
}

/** Label names of a definition as prom-client wants them. */
function labels(m: MetricDefinition): string[] {
  return [...m.labelNames];
}

/** Work-queue latencies span milliseconds (a busy queue) to minutes (a saturated one). */
const QUEUE_BUCKETS = exponentialBuckets(0.001, 4, 10);
/** One reconcile: a few ms from cache, up to tens of seconds with slow CA or DNS calls. */
const WORK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** One propagation check: a few DNS round trips, bounded by the query timeouts. */
const PROPAGATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20];

/** Every metric of one operator instance, with the hooks that feed it. */
export class OperatorMetrics {
  /** The registry `/metrics` serves. */
  readonly registry = new Registry();
  private readonly now: () => number;
  private readonly providerOfLimit: (limit: ProviderRateLimit, key: string) => string;
  private sources: MetricSources | undefined;
  private manager: { lease: string; manager: ManagerLike } | undefined;
  private readonly unsubscribe: (() => void)[] = [];

  private readonly syncCalls: Counter;
  private readonly syncErrors: Counter;
  private readonly queueLatency: Histogram;
  private readonly workDuration: Histogram;
  private readonly acmeCount: Counter;
  private readonly acmeDuration: Summary;
  private readonly providerRequests: Counter;
  private readonly rateLimitWait: Counter;
  private readonly propagation: Histogram;
  private readonly recordChanges: Counter;
  private readonly issuances: Counter;

  constructor(opts: OperatorMetricsOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.providerOfLimit = opts.providerOfLimit ?? (() => "unknown");
    const registers = [this.registry];
    const counter = (m: MetricDefinition) =>
      new Counter({ name: m.name, help: m.help, labelNames: labels(m), registers });
    const histogram = (m: MetricDefinition, buckets: number[]) =>
      new Histogram({ name: m.name, help: m.help, labelNames: labels(m), buckets, registers });
    // A gauge whose every series is recomputed at scrape time: reset, then set from the caches,
    // so a series whose object is gone is not exported any more.
    const scraped = (m: MetricDefinition, fill: (g: Gauge) => void) =>
      new Gauge({
        name: m.name,
        help: m.help,
        labelNames: labels(m),
        registers,
        collect() {
          this.reset();
          fill(this);
        },
      });

    this.syncCalls = counter(CM.controllerSyncCalls);
    this.syncErrors = counter(CM.controllerSyncErrors);
    this.queueLatency = histogram(D.workQueueLatency, QUEUE_BUCKETS);
    this.workDuration = histogram(D.workDuration, WORK_BUCKETS);
    this.acmeCount = counter(CM.acmeRequestCount);
    // cert-manager's summary objectives: median, 90th and 99th percentiles.
    this.acmeDuration = new Summary({
      name: CM.acmeRequestDuration.name,
      help: CM.acmeRequestDuration.help,
      labelNames: labels(CM.acmeRequestDuration),
      percentiles: [0.5, 0.9, 0.99],
      maxAgeSeconds: 600,
      ageBuckets: 5,
      registers,
    });
    this.providerRequests = counter(D.providerRequests);
    this.rateLimitWait = counter(D.providerRateLimitWait);
    this.propagation = histogram(D.propagationCheckDuration, PROPAGATION_BUCKETS);
    this.recordChanges = counter(D.recordChanges);
    this.issuances = counter(D.issuances);

    this.registerScrapedGauges(scraped);

    if (opts.processMetrics === true) collectDefaultMetrics({ register: this.registry });
  }

  /** The gauges computed from the caches and the manager at every scrape. */
  private registerScrapedGauges(scraped: (m: MetricDefinition, fill: (g: Gauge) => void) => Gauge): void {
    scraped(CM.clockTime, (g) => {
      g.set(Math.floor(this.now() / 1000));
    });
    scraped(CM.certificateReady, (g) => {
      for (const crt of this.sources?.certificates.list() ?? []) {
        const current = readyStatus(crt.status?.conditions);
        for (const condition of CONDITION_STATUSES) {
          g.set({ ...certificateLabels(crt), condition }, condition === current ? 1 : 0);
        }
      }
    });
    // cert-manager exports 0 for a time the status does not have yet (a Certificate never issued).
    const certTime = (m: MetricDefinition, field: "notAfter" | "notBefore" | "renewalTime") =>
      scraped(m, (g) => {
        for (const crt of this.sources?.certificates.list() ?? []) {
          g.set(certificateLabels(crt), timestampSeconds(crt.status?.[field]) ?? 0);
        }
      });
    certTime(CM.certificateExpiration, "notAfter");
    certTime(CM.certificateNotAfter, "notAfter");
    certTime(CM.certificateNotBefore, "notBefore");
    certTime(CM.certificateRenewal, "renewalTime");
    // Our own ARI gauges exist only while the CA has suggested a window: no made-up zeros.
    const ari = (m: MetricDefinition, edge: "start" | "end") =>
      scraped(m, (g) => {
        for (const crt of this.sources?.certificates.list() ?? []) {
          const at = suggestedWindow(crt)?.[edge];
          if (at !== undefined) g.set(certificateLabels(crt), at);
        }
      });
    ari(D.ariWindowStart, "start");
    ari(D.ariWindowEnd, "end");
    scraped(D.failedIssuanceAttempts, (g) => {
      for (const crt of this.sources?.certificates.list() ?? []) {
        const n = crt.status?.failedIssuanceAttempts;
        g.set(certificateLabels(crt), typeof n === "number" && Number.isFinite(n) ? n : 0);
      }
    });
    scraped(CM.challengeStatus, (g) => {
      for (const ch of this.sources?.challenges.list() ?? []) {
        const current = ch.status?.state ?? "";
        for (const status of CHALLENGE_STATES) {
          g.set(challengeStatusLabels(ch, status), status === current ? 1 : 0);
        }
      }
    });
    const presented = () => {
      const byProvider = new Map<string, { count: number; oldest: number | undefined }>();
      // Every provider shows 0 when it holds nothing, so an alert can tell "none" from "no data".
      for (const p of DNS01_PROVIDERS) byProvider.set(p, { count: 0, oldest: undefined });
      for (const ch of this.sources?.challenges.list() ?? []) {
        if (ch.status?.presented !== true) continue;
        const p = challengeProvider(ch);
        const entry = byProvider.get(p) ?? { count: 0, oldest: undefined };
        entry.count++;
        const at = timestampSeconds(ch.metadata?.creationTimestamp);
        if (at !== undefined && (entry.oldest === undefined || at < entry.oldest)) entry.oldest = at;
        byProvider.set(p, entry);
      }
      return byProvider;
    };
    scraped(D.txtRecordsPresented, (g) => {
      for (const [provider, { count }] of presented()) g.set({ provider }, count);
    });
    scraped(D.txtRecordOldestPresented, (g) => {
      for (const [provider, { oldest }] of presented()) if (oldest !== undefined) g.set({ provider }, oldest);
    });
    scraped(CM.issuerReady, (g) => {
      for (const iss of this.sources?.issuers.list() ?? []) {
        const current = readyStatus(iss.status?.conditions);
        for (const condition of CONDITION_STATUSES) {
          g.set(
            { name: iss.metadata?.name ?? "", namespace: iss.metadata?.namespace ?? "", condition },
            condition === current ? 1 : 0,
          );
        }
      }
    });
    scraped(CM.clusterIssuerReady, (g) => {
      for (const iss of this.sources?.clusterIssuers.list() ?? []) {
        const current = readyStatus(iss.status?.conditions);
        for (const condition of CONDITION_STATUSES) {
          g.set({ name: iss.metadata?.name ?? "", condition }, condition === current ? 1 : 0);
        }
      }
    });
    scraped(D.workQueueDepth, (g) => {
      for (const { controller, depth } of this.manager?.manager.queueDepths() ?? [])
        g.set({ controller }, depth);
    });
    scraped(D.leader, (g) => {
      if (this.manager) g.set({ lease: this.manager.lease }, this.manager.manager.isLeader() ? 1 : 0);
    });
  }

  /** Computes the per-object series from these caches at every scrape. */
  watchCaches(sources: MetricSources): void {
    this.sources = sources;
  }

  /** Reads leadership of `lease` and the work-queue depths from the manager at every scrape. */
  watchManager(manager: ManagerLike, lease: string): void {
    this.manager = { lease, manager };
  }

  /** Counts every wait the process-wide rate limits impose, until `close()`. */
  watchRateLimits(limits: RateLimits): void {
    this.unsubscribe.push(
      limits.onWait((w: RateLimitWait) => {
        this.rateLimitWait.inc({ provider: this.providerOfLimit(w.limit, w.key) }, w.ms / 1000);
      }),
    );
  }

  /** Stops listening to process-wide sources (the rate limits). */
  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** The runtime's hooks: sync calls and errors, queue latency and work duration per controller. */
  controllerHooks(): ControllerMetricsHooks {
    return {
      dequeued: (controller: string, queuedMs: number) => {
        this.queueLatency.observe({ controller }, queuedMs / 1000);
      },
      outcome: (controller: string, o: Outcome) => {
        this.syncCalls.inc({ controller });
        if (o.kind === "retry" || o.kind === "terminal") this.syncErrors.inc({ controller });
        this.workDuration.observe({ controller }, o.durationMs / 1000);
      },
    };
  }

  /** The dispatcher's hooks: provider calls and propagation checks. */
  dispatcherHooks(): DispatcherMetrics {
    return {
      propagationCheck: (provider, result, seconds) => {
        this.propagation.observe({ provider, result }, seconds);
      },
      providerCall: (provider, operation, status) => {
        this.providerRequests.inc({ provider, operation, status });
      },
    };
  }

  /**
   * An observer for the ACME client's `onRequest` option. Labels are cert-manager's; `host` is the
   * CA's host (bounded by the issuers configured), `status` the HTTP status code or "999" (as
   * cert-manager) when no response came.
   */
  readonly acmeRequestObserver: AcmeRequestObserver = (r) => {
    let scheme = "";
    let host = "";
    try {
      const u = new URL(r.url);
      scheme = u.protocol.replace(/:$/, "");
      host = u.host;
    } catch {
      // An unparsable URL still counts, without scheme and host.
    }
    const l = {
      scheme,
      host,
      action: r.action,
      method: r.method.toUpperCase(),
      // cert-manager's value for a request that got no answer.
      status: r.status === undefined ? "999" : String(r.status),
    };
    this.acmeCount.inc(l);
    if (Number.isFinite(r.durationSeconds) && r.durationSeconds >= 0)
      this.acmeDuration.observe(l, r.durationSeconds);
  };

  /** Records a finished issuance (call once per Order that ended valid or failed). */
  readonly recordIssuance: IssuanceRecorder = (e) => {
    this.issuances.inc({
      outcome: e.outcome,
      renewal: e.renewal ? "true" : "false",
      issuer_name: e.issuerName,
      issuer_kind: e.issuerKind,
    });
  };

  /** Records a TXT record written or removed at a provider. */
  readonly recordDnsRecordChange: DnsRecordChangeRecorder = (e) => {
    this.recordChanges.inc({ provider: e.provider, action: e.action });
  };

  /** The text exposition of every metric, as `/metrics` serves it. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
