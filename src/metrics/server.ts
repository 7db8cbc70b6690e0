import { createServer, type Server } from "node:http";
import type { Logger } from "../log.js";
import type { OperatorMetrics } from "./operator-metrics.js";

/** A `host:port` listen address (`[::1]:9402`, `:9402` for every interface) split for listen(). */
export function parseListenAddress(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(":");
  const portText = addr.slice(i + 1);
  const port = Number(portText);
  if (i < 0 || !/^\d+$/.test(portText) || port > 65535) {
    throw new Error(`invalid listen address "${addr}": use host:port, e.g. 127.0.0.1:9402`);
  }
  const host = addr.slice(0, i).replace(/^\[|\]$/g, "") || "0.0.0.0";
  return { host, port };
}

/** A running metrics server. */
export interface MetricsServer {
  /** The bound address, `host:port` (the real port when 0 was asked). */
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Serves `/metrics` (Prometheus text format) on `addr`. A collector that throws answers 500 with
 * the error logged, so a scrape fails visibly instead of showing partial data.
 */
export async function startMetricsServer(
  addr: string,
  metrics: OperatorMetrics,
  log: Logger,
): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(addr);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("not found: metrics are at /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { "Content-Type": "text/plain", Allow: "GET, HEAD" });
      res.end("method not allowed\n");
      return;
    }
    metrics.text().then(
      (body) => {
        res.writeHead(200, { "Content-Type": metrics.registry.contentType });
        res.end(req.method === "HEAD" ? undefined : body);
      },
      (err: unknown) => {
        log.error("collecting metrics failed", { error: err instanceof Error ? err.message : String(err) });
        res.writeHead(500, { "Content-Type": "text/plain" });
        res.end("collecting metrics failed\n");
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address();
  const address =
    typeof bound === "object" && bound !== null
      ? `${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${String(bound.port)}`
      : addr;
  log.info("metrics server listening", { address });
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
