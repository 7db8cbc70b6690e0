import { afterEach, describe, expect, it } from "@jest/globals";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { setTimeout as realSleep } from "node:timers/promises";
import { FakeClock } from "../controllers/runtime/fake-clock.js";
import { KubeClient } from "./client.js";
import { KubeConfig } from "./config.js";
import { TokenBucket } from "./rate-limit.js";

describe("the API server token bucket", () => {
  it("lets a burst through at once, then one request per 1/qps seconds, in order", async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 2, burst: 3 }, clock);
    const done: number[] = [];
    const all = [0, 1, 2, 3, 4].map(async (i) => {
      await bucket.acquire();
      done.push(i);
    });
    await clock.advance(0);
    expect(done).toEqual([0, 1, 2]);
    await clock.advance(499);
    expect(done).toEqual([0, 1, 2]);
    await clock.advance(1);
    expect(done).toEqual([0, 1, 2, 3]);
    await clock.advance(500);
    expect(done).toEqual([0, 1, 2, 3, 4]);
    await Promise.all(all);
  });

  it("refills up to the burst and no further after a quiet spell", async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 10, burst: 5 }, clock);
    for (let i = 0; i < 5; i++) expect(bucket.reserve()).toBe(0);
    expect(bucket.reserve()).toBe(100);
    await clock.advance(60_000);
    for (let i = 0; i < 5; i++) expect(bucket.reserve()).toBe(0);
    expect(bucket.reserve()).toBe(100);
  });

  it("gives the token back when the waiting request is aborted", async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 1, burst: 1 }, clock);
    await bucket.acquire();
    const ac = new AbortController();
    const waiting = bucket.acquire(ac.signal);
    ac.abort(new Error("shutting down"));
    await expect(waiting).rejects.toThrow("shutting down");
    // Only the first request's debt remains: the next one waits a full second, not two.
    expect(bucket.reserve()).toBe(1000);
  });

  it("does not limit at qps 0, and refuses a burst below 1", () => {
    const bucket = new TokenBucket({ qps: 0, burst: 1 });
    for (let i = 0; i < 1000; i++) expect(bucket.reserve()).toBe(0);
    expect(() => new TokenBucket({ qps: 5, burst: 0 })).toThrow(
      "the burst of a rate limit must be at least 1, not 0",
    );
  });
});

describe("KubeClient's client-side limit", () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  /** A local API server that answers {} to requests and holds watches open; it records paths. */
  async function server(): Promise<{ url: string; seen: string[] }> {
    const seen: string[] = [];
    const open = new Set<ServerResponse>();
    const srv = createServer((req: IncomingMessage, res: ServerResponse) => {
      seen.push(req.url ?? "");
      res.writeHead(200, { "Content-Type": "application/json" });
      if ((req.url ?? "").includes("watch=true")) {
        open.add(res);
        res.write("");
        return;
      }
      res.end("{}");
    });
    await new Promise<void>((resolve) => {
      srv.listen(0, "127.0.0.1", resolve);
    });
    const { port } = srv.address() as { port: number };
    close = () =>
      new Promise<void>((resolve) => {
        for (const r of open) r.end();
        srv.closeAllConnections();
        srv.close(() => {
          resolve();
        });
      });
    return { url: `http://127.0.0.1:${String(port)}`, seen };
  }

  async function until(cond: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !cond(); i++) await realSleep(10);
    expect(cond()).toBe(true);
  }

  it("delays requests beyond the burst until the clock refills the bucket, but never a watch or a Lease request", async () => {
    const { url, seen } = await server();
    const clock = new FakeClock();
    const kc = KubeConfig.fromOptions({
      clusters: [{ name: "c", server: url, skipTLSVerify: false }],
      users: [{ name: "u" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    const client = new KubeClient(kc, { rateLimit: { qps: 1, burst: 2 }, clock });
    const requests = [client.get("/a"), client.get("/b"), client.get("/c")];
    await until(() => seen.length === 2);
    const ac = new AbortController();
    const watching = client.watch("/w", () => undefined, { signal: ac.signal });
    await until(() => seen.some((p) => p.startsWith("/w")));
    // The third request is still waiting for its token, whatever real time passes.
    await realSleep(100);
    expect(seen.filter((p) => !p.startsWith("/w"))).toEqual(["/a", "/b"]);
    // Leader election's Lease requests do not queue behind the others.
    await client.get("/apis/coordination.k8s.io/v1/namespaces/ns/leases/l");
    expect(seen).not.toContain("/c");
    await clock.advance(1000);
    await until(() => seen.includes("/c"));
    await Promise.all(requests);
    ac.abort(new Error("done"));
    await expect(watching).rejects.toThrow("done");
  });
});
