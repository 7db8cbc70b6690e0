/**
 * The metrics the operator exports: one catalogue that the metrics code registers from and that
 * the chart's alert rules and dashboard are checked against, so neither can name a metric that
 * does not exist. The `certmanager_` names and labels are cert-manager's, exactly, so existing
 * cert-manager dashboards and alert rules work unchanged; our own are prefixed `dns01_`.
 */

/** A metric's type, as Prometheus knows it. */
export type MetricType = "gauge" | "counter" | "histogram" | "summary";

/** One metric: its name, type, help text and label names. */
export interface MetricDefinition {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labelNames: readonly string[];
}

/** Labels of every per-Certificate series, as cert-manager names them. */
export const CERTIFICATE_LABELS = [
  "name",
  "namespace",
  "issuer_name",
  "issuer_kind",
  "issuer_group",
] as const;
/** Labels of the ACME client's request metrics, as cert-manager names them. */
export const ACME_REQUEST_LABELS = ["scheme", "host", "action", "method", "status"] as const;

const def = (
  name: string,
  type: MetricType,
  help: string,
  labelNames: readonly string[] = [],
): MetricDefinition => ({ name, type, help, labelNames });

/** cert-manager's metrics, with its names, types and labels. */
export const CERT_MANAGER_METRICS = {
  clockTime: def(
    "certmanager_clock_time_seconds_gauge",
    "gauge",
    "The clock time given in seconds (from 1970/01/01 UTC).",
  ),
  certificateReady: def(
    "certmanager_certificate_ready_status",
    "gauge",
    "The ready status of the certificate.",
    ["name", "namespace", "condition", "issuer_name", "issuer_kind", "issuer_group"],
  ),
  certificateExpiration: def(
    "certmanager_certificate_expiration_timestamp_seconds",
    "gauge",
    "The timestamp after which the certificate expires, expressed in Unix Epoch Time.",
    CERTIFICATE_LABELS,
  ),
  certificateNotAfter: def(
    "certmanager_certificate_not_after_timestamp_seconds",
    "gauge",
    "The timestamp after which the certificate is invalid, expressed as a Unix Epoch Time.",
    CERTIFICATE_LABELS,
  ),
  certificateNotBefore: def(
    "certmanager_certificate_not_before_timestamp_seconds",
    "gauge",
    "The timestamp before which the certificate is invalid, expressed as a Unix Epoch Time.",
    CERTIFICATE_LABELS,
  ),
  certificateRenewal: def(
    "certmanager_certificate_renewal_timestamp_seconds",
    "gauge",
    "The number of seconds before expiration time the certificate should renew.",
    CERTIFICATE_LABELS,
  ),
  challengeStatus: def(
    "certmanager_certificate_challenge_status",
    "gauge",
    "The status of certificate challenges.",
    ["status", "domain", "reason", "processing", "name", "namespace", "type"],
  ),
  issuerReady: def("certmanager_issuer_ready_status", "gauge", "The ready status of the issuer.", [
    "name",
    "namespace",
    "condition",
  ]),
  clusterIssuerReady: def(
    "certmanager_clusterissuer_ready_status",
    "gauge",
    "The ready status of the cluster issuer.",
    ["name", "condition"],
  ),
  acmeRequestCount: def(
    "certmanager_http_acme_client_request_count",
    "counter",
    "The number of requests made by the ACME client.",
    ACME_REQUEST_LABELS,
  ),
  acmeRequestDuration: def(
    "certmanager_http_acme_client_request_duration_seconds",
    "summary",
    "The HTTP request latencies in seconds for the ACME client.",
    ACME_REQUEST_LABELS,
  ),
  controllerSyncCalls: def(
    "certmanager_controller_sync_call_count",
    "counter",
    "The number of sync() calls made by a controller.",
    ["controller"],
  ),
  controllerSyncErrors: def(
    "certmanager_controller_sync_error_count",
    "counter",
    "The number of errors encountered during controller sync().",
    ["controller"],
  ),
} as const;

/** Our own metrics, prefixed `dns01_`. Every label takes a bounded set of values. */
export const DNS01_METRICS = {
  providerRequests: def(
    "dns01_dns_provider_requests_total",
    "counter",
    "DNS provider API requests, by provider, operation (present, cleanup, zone, ...) and HTTP or DNS status.",
    ["provider", "operation", "status"],
  ),
  providerRateLimitWait: def(
    "dns01_dns_provider_rate_limit_wait_seconds_total",
    "counter",
    "Time spent waiting on a DNS provider's rate limit (our token bucket or the provider's Retry-After).",
    ["provider"],
  ),
  propagationCheckDuration: def(
    "dns01_dns_propagation_check_duration_seconds",
    "histogram",
    "Duration of one propagation check against the zone's authoritative servers, by result (seen, not_seen, error).",
    ["provider", "result"],
  ),
  txtRecordsPresented: def(
    "dns01_dns_txt_records_presented",
    "gauge",
    "TXT values presented right now and not yet removed, by provider: an orphan never returns to 0.",
    ["provider"],
  ),
  txtRecordOldestPresented: def(
    "dns01_dns_txt_record_oldest_presented_timestamp_seconds",
    "gauge",
    "When the oldest TXT value still presented was presented, by provider (absent when none is).",
    ["provider"],
  ),
  recordChanges: def(
    "dns01_dns_record_changes_total",
    "counter",
    "TXT records created and removed (the audit trail's counter), by provider and action (present, cleanup).",
    ["provider", "action"],
  ),
  workQueueDepth: def("dns01_workqueue_depth", "gauge", "Keys waiting in a controller's work queue.", [
    "controller",
  ]),
  workQueueLatency: def(
    "dns01_workqueue_queue_duration_seconds",
    "histogram",
    "How long a key waited in a controller's work queue before it was reconciled.",
    ["controller"],
  ),
  workDuration: def(
    "dns01_workqueue_work_duration_seconds",
    "histogram",
    "How long one reconcile took, by controller.",
    ["controller"],
  ),
  ariWindowStart: def(
    "dns01_certificate_ari_window_start_timestamp_seconds",
    "gauge",
    "Start of the CA's suggested renewal window (ARI), as a Unix time.",
    CERTIFICATE_LABELS,
  ),
  ariWindowEnd: def(
    "dns01_certificate_ari_window_end_timestamp_seconds",
    "gauge",
    "End of the CA's suggested renewal window (ARI), as a Unix time.",
    CERTIFICATE_LABELS,
  ),
  issuances: def(
    "dns01_certificate_issuances_total",
    "counter",
    "Finished issuances by outcome (success, failure) and whether they renewed an existing certificate.",
    ["outcome", "renewal", "issuer_name", "issuer_kind"],
  ),
  failedIssuanceAttempts: def(
    "dns01_certificate_failed_issuance_attempts",
    "gauge",
    "Failed issuances in a row since the last success (the Certificate's status.failedIssuanceAttempts).",
    CERTIFICATE_LABELS,
  ),
  leader: def(
    "dns01_leader_election_is_leader",
    "gauge",
    "1 while this process holds the leader Lease, else 0.",
    ["lease"],
  ),
} as const;

/** Every metric we export. */
export const METRICS: readonly MetricDefinition[] = [
  ...Object.values(CERT_MANAGER_METRICS),
  ...Object.values(DNS01_METRICS),
];

/** The series names Prometheus sees for a metric (a histogram or summary adds suffixes). */
export function seriesNames(m: MetricDefinition): string[] {
  if (m.type === "histogram") return [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`];
  if (m.type === "summary") return [m.name, `${m.name}_sum`, `${m.name}_count`];
  return [m.name];
}
