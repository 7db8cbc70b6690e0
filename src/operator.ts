import { createServer, type Server } from "node:http";
import type { OperatorConfig } from "./config.js";
import { challengeController } from "./controllers/challenges/controller.js";
import { ariCertId } from "./acme/index.js";
import { certificateController } from "./controllers/certificates/controller.js";
import { pkiOutputRenderer } from "./controllers/certificates/outputs.js";
import { AcmeAccounts } from "./controllers/issuers/accounts.js";
import { issuerControllers } from "./controllers/issuers/controller.js";
import { AccountKeySecretWatch } from "./controllers/issuers/secret-watch.js";
import {
  Kinds,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  type CertificateObj,
  type ChallengeObj,
  type ClusterIssuerObj,
  type IssuerObj,
  type OrderObj,
  type SecretObj,
} from "./controllers/kinds.js";
import { orderController } from "./controllers/orders/controller.js";
import {
  type ControllerDefinition,
  Manager,
  type RunResult,
  stripManagedFields,
} from "./controllers/runtime/index.js";
import { KubeClient } from "./kube/client.js";
import { loadKubeConfig } from "./kube/config.js";
import { EventRecorder } from "./kube/events.js";
import type { Logger } from "./log.js";
import { OperatorMetrics, providerOfRateLimit, startMetricsServer } from "./metrics/index.js";
import { kubeSecretReader } from "./solvers/credentials.js";
import { Dns01Dispatcher } from "./solvers/dispatcher.js";
import { rateLimits } from "./solvers/limits.js";

/** The name of the leader election Lease. */
export const LEASE_NAME = "dns01-operator";

/** A wired operator: the manager with every informer and controller, and the health and metrics servers. */
export interface Operator {
  readonly manager: Manager;
  /** This instance's metrics (its own registry), served on `--metrics-addr` while `run` runs. */
  readonly metrics: OperatorMetrics;
  run(): Promise<RunResult>;
}

/**
 * Wires the operator from its configuration: one raw client, shared informers (our kinds, and only
 * the Secrets we manage, so memory does not grow with every Secret in the cluster), the controllers,
 * leader election and the health endpoints.
 */
export function buildOperator(config: OperatorConfig, log: Logger): Operator {
  const client = new KubeClient(loadKubeConfig(config.kubeconfig), {
    userAgent: "dns01-operator/0.1",
    rateLimit: { qps: config.kubeApiQps, burst: config.kubeApiBurst },
  });
  const metrics = new OperatorMetrics({ processMetrics: true, providerOfLimit: providerOfRateLimit });
  const manager = new Manager({
    client,
    log,
    metrics: metrics.controllerHooks(),
    ...(config.leaderElect
      ? {
          leaderElection: {
            namespace: config.leaderElectionNamespace,
            name: LEASE_NAME,
            leaseDurationMs: config.leaseDurationMs,
            renewDeadlineMs: config.renewDeadlineMs,
            retryPeriodMs: config.retryPeriodMs,
          },
        }
      : {}),
  });
  const trim = <
    T extends CertificateObj | IssuerObj | ClusterIssuerObj | OrderObj | ChallengeObj | SecretObj,
  >(
    o: T,
  ): T => stripManagedFields(o);
  const certificates = manager.informer<CertificateObj>(Kinds.certificates, { transform: trim });
  const issuers = manager.informer<IssuerObj>(Kinds.issuers, { transform: trim });
  const clusterIssuers = manager.informer<ClusterIssuerObj>(Kinds.clusterIssuers, { transform: trim });
  const orders = manager.informer<OrderObj>(Kinds.orders, { transform: trim });
  const challenges = manager.informer<ChallengeObj>(Kinds.challenges, { transform: trim });
  const secrets = manager.informer<SecretObj>(Kinds.secrets, {
    labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}`,
    transform: trim,
  });

  metrics.watchCaches({ certificates, challenges, issuers, clusterIssuers });
  metrics.watchManager(manager, LEASE_NAME);

  const secretReader = kubeSecretReader(client);
  const events = new EventRecorder(client, "dns01-operator", log);
  const accounts = new AcmeAccounts({
    issuers,
    clusterIssuers,
    secrets: secretReader,
    clusterResourceNamespace: config.clusterResourceNamespace,
    log,
    onRequest: metrics.acmeRequestObserver,
  });
  const dispatcher = new Dns01Dispatcher({
    recursiveNameservers: config.recursiveNameservers,
    recursiveNameserversOnly: config.recursiveNameserversOnly,
    log,
    metrics: metrics.dispatcherHooks(),
  });

  // --workers sets every controller's concurrency.
  const add = (def: ControllerDefinition): void => {
    manager.add({ ...def, concurrency: config.workers });
  };
  for (const def of issuerControllers({
    client,
    accounts,
    secrets: secretReader,
    events,
    issuers,
    clusterIssuers,
    keySecrets: {
      issuers: new AccountKeySecretWatch({ client, log }),
      clusterIssuers: new AccountKeySecretWatch({ client, log }),
    },
  })) {
    add(def);
  }
  add(
    certificateController({
      client,
      accounts,
      events,
      certificates,
      orders,
      secrets,
      issuers,
      clusterIssuers,
      issuanceBackoffBaseMs: config.issuanceBackoffBaseMs,
      secretReader,
      outputs: pkiOutputRenderer,
      recordIssuance: metrics.recordIssuance,
      renewalInfo: {
        async fetch(issuer, certPem, signal) {
          const acme = await accounts.clientFor(issuer, signal);
          return acme.getRenewalInfo(certPem);
        },
        certId: ariCertId,
      },
    }),
  );
  add(
    orderController({ client, accounts, events, orders, challenges, certificates, issuers, clusterIssuers }),
  );
  add(
    challengeController({
      client,
      accounts,
      dispatcher,
      secrets: secretReader,
      events,
      challenges,
      orders,
      certificates,
      // The audit trail's counter, dns01_dns_record_changes_total{provider,action}.
      onRecordChange: metrics.recordDnsRecordChange,
    }),
  );

  return {
    manager,
    metrics,
    async run() {
      const health = await startHealthServer(config.healthAddr, manager, log);
      let served;
      try {
        served = await startMetricsServer(config.metricsAddr, metrics, log);
      } catch (err) {
        health.close();
        throw err;
      }
      // The rate limits are process-wide; this instance counts their waits while it runs.
      metrics.watchRateLimits(rateLimits);
      try {
        return await manager.run();
      } finally {
        metrics.close();
        health.close();
        await served.close();
      }
    },
  };
}

/** Serves /healthz (the process is alive) and /readyz (caches synced) on `addr` (host:port). */
async function startHealthServer(addr: string, manager: Manager, log: Logger): Promise<Server> {
  const i = addr.lastIndexOf(":");
  const host = addr.slice(0, i) || "0.0.0.0";
  const port = Number(addr.slice(i + 1));
  const server = createServer((req, res) => {
    const ok = req.url === "/healthz" || (req.url === "/readyz" && manager.isReady());
    res.writeHead(ok ? 200 : req.url === "/readyz" ? 503 : 404, { "Content-Type": "text/plain" });
    res.end(ok ? "ok" : "not ready");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host.replace(/^\[|\]$/g, ""), () => {
      resolve();
    });
  });
  const bound = server.address();
  log.info("health server listening", {
    address: typeof bound === "object" && bound ? `${bound.address}:${bound.port}` : addr,
  });
  return server;
}
