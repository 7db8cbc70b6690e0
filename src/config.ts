import { parseArgs } from "node:util";
import { parseListenAddress } from "./metrics/server.js";

/** Everything the operator process is configured with (flags, then environment, then defaults). */
export interface OperatorConfig {
  readonly kubeconfig?: string | undefined;
  /** The namespace the operator runs in. */
  readonly namespace: string;
  /** Where ClusterIssuers read their Secrets (cert-manager's --cluster-resource-namespace). */
  readonly clusterResourceNamespace: string;
  readonly leaderElect: boolean;
  readonly leaderElectionNamespace: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  /** host:port resolvers for propagation checks (cert-manager's --dns01-recursive-nameservers). */
  readonly recursiveNameservers: readonly string[];
  /** Check propagation only against `recursiveNameservers`, never the zone's authoritative servers. */
  readonly recursiveNameserversOnly: boolean;
  /** Concurrent reconciles per controller. */
  readonly workers: number;
  /** First wait after a failed issuance; doubles per failure up to 32 times this. */
  readonly issuanceBackoffBaseMs: number;
  readonly healthAddr: string;
  /** host:port of the Prometheus `/metrics` endpoint (cert-manager's port, 9402). */
  readonly metricsAddr: string;
  readonly logLevel: string;
  /** The client-side limit on API server requests (client-go's --kube-api-qps and --kube-api-burst). */
  readonly kubeApiQps: number;
  readonly kubeApiBurst: number;
}

const UNITS: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 1e-3,
  µs: 1e-3,
  ns: 1e-6,
};

/** Parses a Go-style duration (`1h30m`, `500ms`, `2s`) into milliseconds. */
export function parseDuration(text: string): number {
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/gy;
  let total = 0;
  let matched = 0;
  for (const m of text.matchAll(re)) {
    const [all, n, unit] = m;
    total += Number(n) * (UNITS[unit ?? ""] ?? Number.NaN);
    matched += all.length;
  }
  if (text === "0") return 0;
  if (matched === 0 || matched !== text.length || !Number.isFinite(total)) {
    throw new Error(`invalid duration "${text}": use Go syntax such as 1h, 90s or 500ms`);
  }
  return total;
}

/** Parses the command line (without node and script) and environment into the configuration. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowNegative: true,
    options: {
      kubeconfig: { type: "string" },
      namespace: { type: "string" },
      "cluster-resource-namespace": { type: "string" },
      "leader-elect": { type: "boolean", default: true },
      "leader-election-namespace": { type: "string" },
      "leader-election-lease-duration": { type: "string", default: "15s" },
      "leader-election-renew-deadline": { type: "string", default: "10s" },
      "leader-election-retry-period": { type: "string", default: "2s" },
      "dns01-recursive-nameservers": { type: "string", default: "" },
      "dns01-recursive-nameservers-only": { type: "boolean", default: false },
      workers: { type: "string", default: "10" },
      "issuance-backoff-base": { type: "string", default: "1h" },
      "health-addr": { type: "string", default: "127.0.0.1:9403" },
      "metrics-addr": { type: "string", default: "127.0.0.1:9402" },
      "log-level": { type: "string" },
      "kube-api-qps": { type: "string", default: "200" },
      "kube-api-burst": { type: "string", default: "400" },
    },
  });
  const namespace = values.namespace ?? env["POD_NAMESPACE"] ?? "dns01-operator";
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers must be a positive integer`);
  const config: OperatorConfig = {
    // Without the flag, loadKubeConfig reads KUBECONFIG itself, merging a list of files as kubectl does.
    kubeconfig: values.kubeconfig,
    namespace,
    clusterResourceNamespace: values["cluster-resource-namespace"] ?? namespace,
    leaderElect: values["leader-elect"],
    leaderElectionNamespace: values["leader-election-namespace"] ?? namespace,
    leaseDurationMs: parseDuration(values["leader-election-lease-duration"]),
    renewDeadlineMs: parseDuration(values["leader-election-renew-deadline"]),
    retryPeriodMs: parseDuration(values["leader-election-retry-period"]),
    recursiveNameservers: values["dns01-recursive-nameservers"]
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== ""),
    recursiveNameserversOnly: values["dns01-recursive-nameservers-only"],
    workers,
    issuanceBackoffBaseMs: parseDuration(values["issuance-backoff-base"]),
    healthAddr: values["health-addr"],
    metricsAddr: values["metrics-addr"],
    logLevel: values["log-level"] ?? env["LOG_LEVEL"] ?? "info",
    kubeApiQps: Number(values["kube-api-qps"]),
    kubeApiBurst: Number(values["kube-api-burst"]),
  };
  if (!Number.isFinite(config.kubeApiQps) || config.kubeApiQps < 0) {
    throw new Error("--kube-api-qps must be a number of requests per second, 0 for no limit");
  }
  if (!Number.isInteger(config.kubeApiBurst) || config.kubeApiBurst < 1) {
    throw new Error("--kube-api-burst must be a positive integer");
  }
  try {
    parseListenAddress(config.metricsAddr);
  } catch (err) {
    throw new Error(`--metrics-addr: ${(err as Error).message}`, { cause: err });
  }
  if (config.renewDeadlineMs >= config.leaseDurationMs) {
    throw new Error("--leader-election-renew-deadline must be shorter than the lease duration");
  }
  if (config.recursiveNameserversOnly && config.recursiveNameservers.length === 0) {
    throw new Error("--dns01-recursive-nameservers-only needs --dns01-recursive-nameservers");
  }
  return config;
}
