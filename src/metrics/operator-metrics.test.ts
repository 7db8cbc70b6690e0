import { describe, expect, it } from "@jest/globals";
import type { AcmeRequestRecord } from "../acme/actions.js";
import { RateLimits } from "../solvers/limits.js";
import { METRICS } from "./names.js";
import type { CertificateLike, ChallengeLike, IssuerLike } from "./objects.js";
import { OperatorMetrics } from "./operator-metrics.js";
import { providerOfRateLimit } from "./providers.js";
import { descriptor as cloudflare } from "../solvers/cloudflare/descriptor.js";

const NOW = Date.UTC(2026, 11, 4, 12, 0, 0);

/** Mutable fake caches: tests push and remove objects between scrapes. */
function fakes() {
  const certificates: CertificateLike[] = [];
  const challenges: ChallengeLike[] = [];
  const issuers: IssuerLike[] = [];
  const clusterIssuers: IssuerLike[] = [];
  const metrics = new OperatorMetrics({ now: () => NOW });
  metrics.watchCaches({
    certificates: { list: () => [...certificates] },
    challenges: { list: () => [...challenges] },
    issuers: { list: () => [...issuers] },
    clusterIssuers: { list: () => [...clusterIssuers] },
  });
  return { metrics, certificates, challenges, issuers, clusterIssuers };
}

interface Series {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * The series of one metric after a collect, as prom-client reports them; a histogram's or
 * summary's `_count`, `_sum` and `_bucket` series are found under their metric.
 */
async function series(m: OperatorMetrics, name: string): Promise<Series[]> {
  const base = name.replace(/_(count|sum|bucket)$/, "");
  const exact = m.registry.getSingleMetric(name);
  const metric = exact ?? m.registry.getSingleMetric(base);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const got = await metric.get();
  // A summary's quantile series carry no metricName; its _sum and _count series do.
  return (got.values as Series[]).filter((s) =>
    exact !== undefined ? s.metricName === undefined || s.metricName === name : s.metricName === name,
  );
}

/** The value of the one series of `name` whose labels include `labels`. */
async function value(
  m: OperatorMetrics,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const found = (await series(m, name)).filter((s) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1)
    throw new Error(`${String(found.length)} series of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

const crt = (name: string, status: CertificateLike["status"] = {}): CertificateLike => ({
  metadata: { name, namespace: "apps" },
  spec: { issuerRef: { name: "le", kind: "ClusterIssuer", group: "dns01.io" } },
  status,
});

describe("OperatorMetrics: the catalogue", () => {
  it("registers every metric of names.ts with its type, and nothing else without process metrics", async () => {
    const { metrics } = fakes();
    const got = await metrics.registry.getMetricsAsJSON();
    expect(got.map((m) => m.name).sort()).toEqual(METRICS.map((m) => m.name).sort());
    for (const def of METRICS) expect(got.find((m) => m.name === def.name)?.type).toBe(def.type);
  });
  it("keeps instances apart: each has its own registry", async () => {
    const a = fakes().metrics;
    const b = fakes().metrics;
    a.recordIssuance({ outcome: "success", renewal: false, issuerName: "le", issuerKind: "Issuer" });
    expect(await value(a, "dns01_certificate_issuances_total", { outcome: "success" })).toBe(1);
    expect(await value(b, "dns01_certificate_issuances_total", { outcome: "success" })).toBeUndefined();
  });
});

describe("OperatorMetrics: Certificates, at scrape time", () => {
  it("exports cert-manager's ready status: 1 for the current condition status, 0 for the other two", async () => {
    const f = fakes();
    f.certificates.push(
      crt("web", {
        conditions: [
          { type: "Issuing", status: "True" },
          { type: "Ready", status: "False" },
        ],
      }),
    );
    const got = (await series(f.metrics, "certmanager_certificate_ready_status")).map((s) => [
      s.labels["condition"],
      s.value,
    ]);
    expect(got.sort()).toEqual([
      ["False", 1],
      ["True", 0],
      ["Unknown", 0],
    ]);
    expect((await series(f.metrics, "certmanager_certificate_ready_status"))[0]?.labels).toMatchObject({
      name: "web",
      namespace: "apps",
      issuer_name: "le",
      issuer_kind: "ClusterIssuer",
      issuer_group: "dns01.io",
    });
  });
  it("says Unknown while a Certificate has no Ready condition yet", async () => {
    const f = fakes();
    f.certificates.push(crt("new"));
    expect(await value(f.metrics, "certmanager_certificate_ready_status", { condition: "Unknown" })).toBe(1);
    expect(await value(f.metrics, "certmanager_certificate_ready_status", { condition: "True" })).toBe(0);
  });
  it("exports notAfter, notBefore and renewalTime from status as Unix seconds, and 0 before the first issuance", async () => {
    const f = fakes();
    f.certificates.push(
      crt("web", {
        notBefore: "2026-12-01T00:00:00Z",
        notAfter: "2027-03-01T00:00:00Z",
        renewalTime: "2027-01-30T00:00:00Z",
      }),
      crt("new"),
    );
    const at = (t: string) => Date.parse(t) / 1000;
    const web = { name: "web" };
    expect(await value(f.metrics, "certmanager_certificate_expiration_timestamp_seconds", web)).toBe(
      at("2027-03-01T00:00:00Z"),
    );
    expect(await value(f.metrics, "certmanager_certificate_not_after_timestamp_seconds", web)).toBe(
      at("2027-03-01T00:00:00Z"),
    );
    expect(await value(f.metrics, "certmanager_certificate_not_before_timestamp_seconds", web)).toBe(
      at("2026-12-01T00:00:00Z"),
    );
    expect(await value(f.metrics, "certmanager_certificate_renewal_timestamp_seconds", web)).toBe(
      at("2027-01-30T00:00:00Z"),
    );
    expect(
      await value(f.metrics, "certmanager_certificate_expiration_timestamp_seconds", { name: "new" }),
    ).toBe(0);
  });
  it("drops every series of a Certificate once it is gone from the cache", async () => {
    const f = fakes();
    f.certificates.push(crt("a", { notAfter: "2027-03-01T00:00:00Z" }), crt("b"));
    expect(await series(f.metrics, "certmanager_certificate_ready_status")).toHaveLength(6);
    f.certificates.splice(0, 1);
    for (const name of [
      "certmanager_certificate_ready_status",
      "certmanager_certificate_expiration_timestamp_seconds",
      "certmanager_certificate_renewal_timestamp_seconds",
      "dns01_certificate_failed_issuance_attempts",
    ]) {
      const names = (await series(f.metrics, name)).map((s) => s.labels["name"]);
      expect(names.length).toBeGreaterThan(0);
      expect(names.every((n) => n === "b")).toBe(true);
    }
  });
  it("exports the ARI window only when status.ari.suggestedWindow has readable times", async () => {
    const f = fakes();
    const withAri = crt("ari") as CertificateLike & { status: Record<string, unknown> };
    withAri.status["ari"] = {
      suggestedWindow: { start: "2027-01-20T00:00:00Z", end: "2027-01-22T00:00:00Z" },
    };
    const broken = crt("broken") as CertificateLike & { status: Record<string, unknown> };
    broken.status["ari"] = { suggestedWindow: { start: 17, end: "not a time" } };
    const odd = crt("odd") as CertificateLike & { status: Record<string, unknown> };
    odd.status["ari"] = "yes";
    f.certificates.push(withAri, broken, odd, crt("none"));
    const start = await series(f.metrics, "dns01_certificate_ari_window_start_timestamp_seconds");
    const end = await series(f.metrics, "dns01_certificate_ari_window_end_timestamp_seconds");
    expect(start.map((s) => [s.labels["name"], s.value])).toEqual([
      ["ari", Date.parse("2027-01-20T00:00:00Z") / 1000],
    ]);
    expect(end.map((s) => [s.labels["name"], s.value])).toEqual([
      ["ari", Date.parse("2027-01-22T00:00:00Z") / 1000],
    ]);
  });
  it("exports failed issuances in a row, 0 when the status has none", async () => {
    const f = fakes();
    f.certificates.push(crt("failing", { failedIssuanceAttempts: 3 }), crt("fine"));
    expect(await value(f.metrics, "dns01_certificate_failed_issuance_attempts", { name: "failing" })).toBe(3);
    expect(await value(f.metrics, "dns01_certificate_failed_issuance_attempts", { name: "fine" })).toBe(0);
  });
});

const challenge = (name: string, extra: Partial<ChallengeLike> = {}): ChallengeLike => ({
  metadata: { name, namespace: "apps", creationTimestamp: "2026-12-04T11:00:00Z" },
  spec: { dnsName: "example.test", type: "DNS-01", solver: { dns01: { rfc2136: { nameserver: "x" } } } },
  ...extra,
});

describe("OperatorMetrics: Challenges, at scrape time", () => {
  it("exports cert-manager's challenge status: one series per state, 1 for the current one", async () => {
    const f = fakes();
    f.challenges.push(challenge("c1", { status: { state: "pending", processing: true, reason: "waiting" } }));
    const got = await series(f.metrics, "certmanager_certificate_challenge_status");
    expect(got.map((s) => s.labels["status"]).sort()).toEqual(
      ["", "errored", "expired", "invalid", "pending", "processing", "ready", "valid"].sort(),
    );
    expect(got.filter((s) => s.value === 1).map((s) => s.labels["status"])).toEqual(["pending"]);
    expect(got[0]?.labels).toMatchObject({
      domain: "example.test",
      reason: "waiting",
      processing: "true",
      name: "c1",
      namespace: "apps",
      type: "DNS-01",
    });
  });
  it("sets the empty state while a Challenge has no state, and cuts a long reason short", async () => {
    const f = fakes();
    f.challenges.push(challenge("c1", { status: { reason: "x".repeat(5000) } }));
    const got = await series(f.metrics, "certmanager_certificate_challenge_status");
    expect(got.filter((s) => s.value === 1).map((s) => s.labels["status"])).toEqual([""]);
    expect(String(got[0]?.labels["reason"]).length).toBe(256);
    expect(got[0]?.labels["processing"]).toBe("false");
  });
  it("counts presented TXT values by provider, 0 for providers holding none, and the oldest presentation", async () => {
    const f = fakes();
    f.challenges.push(
      challenge("old", {
        metadata: { name: "old", namespace: "a", creationTimestamp: "2026-12-04T10:00:00Z" },
        status: { presented: true },
      }),
      challenge("new", { status: { presented: true } }),
      challenge("done", { status: { presented: false, state: "valid" } }),
    );
    expect(await value(f.metrics, "dns01_dns_txt_records_presented", { provider: "rfc2136" })).toBe(2);
    expect(await value(f.metrics, "dns01_dns_txt_records_presented", { provider: "cloudflare" })).toBe(0);
    expect(
      await value(f.metrics, "dns01_dns_txt_record_oldest_presented_timestamp_seconds", {
        provider: "rfc2136",
      }),
    ).toBe(Date.parse("2026-12-04T10:00:00Z") / 1000);
    expect(await series(f.metrics, "dns01_dns_txt_record_oldest_presented_timestamp_seconds")).toHaveLength(
      1,
    );
    // Cleaned up: the count returns to 0 and the oldest time goes away.
    f.challenges.splice(0, 2);
    expect(await value(f.metrics, "dns01_dns_txt_records_presented", { provider: "rfc2136" })).toBe(0);
    expect(await series(f.metrics, "dns01_dns_txt_record_oldest_presented_timestamp_seconds")).toHaveLength(
      0,
    );
    expect(
      (await series(f.metrics, "certmanager_certificate_challenge_status")).map((s) => s.labels["name"]),
    ).toEqual(Array(8).fill("done"));
  });
});

describe("OperatorMetrics: issuers, clock, leader and queues", () => {
  it("exports Issuer and ClusterIssuer ready status with cert-manager's labels", async () => {
    const f = fakes();
    f.issuers.push({
      metadata: { name: "ns-le", namespace: "apps" },
      status: { conditions: [{ type: "Ready", status: "True" }] },
    });
    f.clusterIssuers.push({ metadata: { name: "le" } });
    expect(
      await value(f.metrics, "certmanager_issuer_ready_status", {
        name: "ns-le",
        namespace: "apps",
        condition: "True",
      }),
    ).toBe(1);
    expect(
      await value(f.metrics, "certmanager_issuer_ready_status", { name: "ns-le", condition: "False" }),
    ).toBe(0);
    const cluster = await series(f.metrics, "certmanager_clusterissuer_ready_status");
    expect(cluster.map((s) => [s.labels, s.value])).toContainEqual([{ name: "le", condition: "Unknown" }, 1]);
    expect(cluster.every((s) => !("namespace" in s.labels))).toBe(true);
    f.clusterIssuers.pop();
    expect(await series(f.metrics, "certmanager_clusterissuer_ready_status")).toHaveLength(0);
  });
  it("exports the clock in whole seconds", async () => {
    const f = fakes();
    expect(await value(f.metrics, "certmanager_clock_time_seconds_gauge", {})).toBe(NOW / 1000);
  });
  it("reads leadership and queue depths from the manager at each scrape", async () => {
    const f = fakes();
    expect(await series(f.metrics, "dns01_leader_election_is_leader")).toHaveLength(0);
    let leading = false;
    f.metrics.watchManager(
      { isLeader: () => leading, queueDepths: () => [{ controller: "certificates", depth: 4 }] },
      "dns01-operator",
    );
    expect(await value(f.metrics, "dns01_leader_election_is_leader", { lease: "dns01-operator" })).toBe(0);
    leading = true;
    expect(await value(f.metrics, "dns01_leader_election_is_leader", { lease: "dns01-operator" })).toBe(1);
    expect(await value(f.metrics, "dns01_workqueue_depth", { controller: "certificates" })).toBe(4);
  });
});

describe("OperatorMetrics: event hooks", () => {
  it("counts sync calls and errors per controller and times the work and the wait in the queue", async () => {
    const { metrics } = fakes();
    const hooks = metrics.controllerHooks();
    hooks.outcome?.("orders", { kind: "done", key: "a/b", durationMs: 20 });
    hooks.outcome?.("orders", { kind: "requeue", key: "a/b", durationMs: 20, delayMs: 100 });
    hooks.outcome?.("orders", {
      kind: "retry",
      key: "a/b",
      durationMs: 20,
      delayMs: 100,
      failures: 1,
      error: new Error("x"),
    });
    hooks.dequeued?.("orders", 1500);
    expect(await value(metrics, "certmanager_controller_sync_call_count", { controller: "orders" })).toBe(3);
    expect(await value(metrics, "certmanager_controller_sync_error_count", { controller: "orders" })).toBe(1);
    expect(
      await value(metrics, "dns01_workqueue_work_duration_seconds_count", { controller: "orders" }),
    ).toBe(3);
    expect(
      await value(metrics, "dns01_workqueue_work_duration_seconds_sum", { controller: "orders" }),
    ).toBeCloseTo(0.06);
    expect(await value(metrics, "dns01_workqueue_queue_duration_seconds_sum", { controller: "orders" })).toBe(
      1.5,
    );
  });
  it("records ACME requests with cert-manager's labels, and '999' for a request without a response, as cert-manager", async () => {
    const { metrics } = fakes();
    const observe = metrics.acmeRequestObserver;
    observe({
      action: "authorize_order",
      method: "post",
      url: "https://ca.test:14000/order-plz",
      status: 201,
      durationSeconds: 0.2,
    });
    observe({
      action: "authorize_order",
      method: "POST",
      url: "https://ca.test:14000/order-plz",
      status: 201,
      durationSeconds: 0.4,
    });
    observe({
      action: "get_renewal_info",
      method: "GET",
      url: "https://ca.test:14000/ari/x",
      status: undefined,
      durationSeconds: 5,
    });
    const labels = {
      scheme: "https",
      host: "ca.test:14000",
      action: "authorize_order",
      method: "POST",
      status: "201",
    };
    expect(await value(metrics, "certmanager_http_acme_client_request_count", labels)).toBe(2);
    expect(
      await value(metrics, "certmanager_http_acme_client_request_count", {
        action: "get_renewal_info",
        status: "999",
      }),
    ).toBe(1);
    expect(await value(metrics, "certmanager_http_acme_client_request_duration_seconds_count", labels)).toBe(
      2,
    );
    expect(
      await value(metrics, "certmanager_http_acme_client_request_duration_seconds_sum", labels),
    ).toBeCloseTo(0.6);
  });
  it("records issuances by outcome and renewal, and DNS record changes by provider and action", async () => {
    const { metrics } = fakes();
    metrics.recordIssuance({
      outcome: "failure",
      renewal: true,
      issuerName: "le",
      issuerKind: "ClusterIssuer",
    });
    metrics.recordIssuance({
      outcome: "failure",
      renewal: true,
      issuerName: "le",
      issuerKind: "ClusterIssuer",
    });
    metrics.recordDnsRecordChange({ provider: "rfc2136", action: "present" });
    expect(
      await value(metrics, "dns01_certificate_issuances_total", {
        outcome: "failure",
        renewal: "true",
        issuer_name: "le",
        issuer_kind: "ClusterIssuer",
      }),
    ).toBe(2);
    expect(
      await value(metrics, "dns01_dns_record_changes_total", { provider: "rfc2136", action: "present" }),
    ).toBe(1);
  });
  it("records provider calls and propagation checks through the dispatcher's hooks", async () => {
    const { metrics } = fakes();
    const hooks = metrics.dispatcherHooks();
    hooks.providerCall?.("cloudflare", "present", "throttled", 0.1);
    hooks.propagationCheck?.("rfc2136", "not_seen", 0.03);
    expect(
      await value(metrics, "dns01_dns_provider_requests_total", {
        provider: "cloudflare",
        operation: "present",
        status: "throttled",
      }),
    ).toBe(1);
    expect(
      await value(metrics, "dns01_dns_propagation_check_duration_seconds_count", {
        provider: "rfc2136",
        result: "not_seen",
      }),
    ).toBe(1);
  });
  it("adds up rate-limit waits by provider until closed", async () => {
    const metrics = new OperatorMetrics({ providerOfLimit: providerOfRateLimit });
    const limits = new RateLimits(() => NOW);
    metrics.watchRateLimits(limits);
    const limit = cloudflare.rateLimit;
    if (limit === undefined) throw new Error("cloudflare has a documented limit");
    const bucket = limits.bucket("cloudflare:abc", limit);
    bucket.drainFor(2000);
    const wait = bucket.take();
    expect(wait).toBeGreaterThan(0);
    const total = await value(metrics, "dns01_dns_provider_rate_limit_wait_seconds_total", {
      provider: "cloudflare",
    });
    expect(total).toBeCloseTo(2 + wait / 1000);
    metrics.close();
    bucket.drainFor(5000);
    expect(
      await value(metrics, "dns01_dns_provider_rate_limit_wait_seconds_total", { provider: "cloudflare" }),
    ).toBe(total);
  });
});

describe("OperatorMetrics.acmeRequestObserver and the ACME client", () => {
  it("takes the ACME client's request records as they are", async () => {
    const { metrics } = fakes();
    const record: AcmeRequestRecord = {
      action: "create_order_cert",
      method: "POST",
      url: "https://acme.test/finalize/1",
      status: 200,
      durationSeconds: 0.1,
    };
    const onRequest: (r: AcmeRequestRecord) => void = metrics.acmeRequestObserver;
    onRequest(record);
    expect(
      await value(metrics, "certmanager_http_acme_client_request_count", { action: "create_order_cert" }),
    ).toBe(1);
  });
});
