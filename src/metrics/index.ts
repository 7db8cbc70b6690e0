/**
 * The operator's Prometheus metrics: the catalogue (names.ts), the per-instance registry with its
 * scrape-time collectors and event hooks (operator-metrics.ts), and the `/metrics` server.
 */
export * from "./names.js";
export {
  type AcmeRequestInfo,
  type AcmeRequestObserver,
  type DnsRecordChangeEvent,
  type DnsRecordChangeRecorder,
  type IssuanceEvent,
  type IssuanceRecorder,
  type Lister,
  type ManagerLike,
  type MetricSources,
  OperatorMetrics,
  type OperatorMetricsOptions,
} from "./operator-metrics.js";
export { type MetricsServer, parseListenAddress, startMetricsServer } from "./server.js";
export { providerOfRateLimit } from "./providers.js";
export { challengeProvider } from "./objects.js";
