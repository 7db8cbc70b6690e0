import { afterEach, describe, expect, it } from "@jest/globals";
import { silentLogger } from "../log.js";
import { OperatorMetrics } from "./operator-metrics.js";
import { type MetricsServer, parseListenAddress, startMetricsServer } from "./server.js";

const servers: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(metrics: OperatorMetrics): Promise<string> {
  const s = await startMetricsServer("127.0.0.1:0", metrics, silentLogger());
  servers.push(s);
  return `http://${s.address}`;
}

describe("parseListenAddress", () => {
  it("splits host and port, IPv6 in brackets, and takes an empty host as every interface", () => {
    expect(parseListenAddress("127.0.0.1:9402")).toEqual({ host: "127.0.0.1", port: 9402 });
    expect(parseListenAddress("[::1]:9402")).toEqual({ host: "::1", port: 9402 });
    expect(parseListenAddress(":9402")).toEqual({ host: "0.0.0.0", port: 9402 });
  });
  it("refuses an address without a valid port", () => {
    for (const bad of ["localhost", "host:", "host:http", "host:70000"]) {
      expect(() => parseListenAddress(bad)).toThrow(/host:port/);
    }
  });
});

describe("startMetricsServer", () => {
  it("serves the registry in Prometheus text format with its content type", async () => {
    const metrics = new OperatorMetrics({ now: () => 1_800_000_000_000 });
    metrics.recordDnsRecordChange({ provider: "rfc2136", action: "present" });
    const base = await serve(metrics);
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const body = await res.text();
    expect(body).toContain("# TYPE certmanager_clock_time_seconds_gauge gauge");
    expect(body).toContain("certmanager_clock_time_seconds_gauge 1800000000");
    expect(body).toContain('dns01_dns_record_changes_total{provider="rfc2136",action="present"} 1');
  });
  it("answers 404 elsewhere and 405 for other methods", async () => {
    const base = await serve(new OperatorMetrics());
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);
    expect((await fetch(`${base}/metrics?x=1`)).status).toBe(200);
  });
  it("answers 500 rather than partial data when a collector fails", async () => {
    const metrics = new OperatorMetrics();
    metrics.watchCaches({
      certificates: {
        list: () => {
          throw new Error("cache broke");
        },
      },
      challenges: { list: () => [] },
      issuers: { list: () => [] },
      clusterIssuers: { list: () => [] },
    });
    const base = await serve(metrics);
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain("certmanager_");
  });
  it("fails to start when the port is taken", async () => {
    const first = await startMetricsServer("127.0.0.1:0", new OperatorMetrics(), silentLogger());
    servers.push(first);
    await expect(startMetricsServer(first.address, new OperatorMetrics(), silentLogger())).rejects.toThrow(
      /EADDRINUSE/,
    );
  });
});
