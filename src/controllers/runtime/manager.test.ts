import { describe, expect, it } from "@jest/globals";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../kube/client.js";
import type { KubeObject } from "../../kube/types.js";
import { silentLogger } from "../../log.js";
import { type ControllerMetricsHooks, type ReconcileRequest, watch } from "./controller.js";
import { FakeClock, flushPromises } from "./fake-clock.js";
import { MemoryLeaseLock } from "./fake-lease-lock.js";
import { Informer, type ListWatchSource } from "./informer.js";
import { Manager, type RunResult } from "./manager.js";

/** A source with fixed objects whose watch stays open until aborted. */
function staticSource(names: string[]): ListWatchSource<KubeObject> {
  return {
    list: () =>
      Promise.resolve({
        metadata: { resourceVersion: "10" },
        items: names.map((name) => ({ metadata: { namespace: "ns", name, resourceVersion: "10" } })),
      }),
    watch: ({ signal }) =>
      new Promise((_, reject) => {
        if (signal.aborted) reject(new Error("aborted"));
        signal.addEventListener("abort", () => {
          reject(new Error("aborted"));
        });
      }),
  };
}

/** A client that is never called: the tests inject the lease lock and the informer sources. */
function unusedClient(): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: "https://127.0.0.1:1", skipTLSVerify: false }],
    users: [{ name: "u" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return new KubeClient(kc);
}

const LEASE = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/**
 * A manager with one informer (objects a, b) and one controller whose reconciles the test holds
 * open or lets finish; `gate` decides.
 */
function setup(
  opts: {
    lock?: MemoryLeaseLock;
    identity?: string;
    shutdownTimeoutMs?: number;
    metrics?: ControllerMetricsHooks;
  } = {},
) {
  const clock = new FakeClock();
  const lock = opts.lock ?? new MemoryLeaseLock();
  const log = silentLogger();
  const mgr = new Manager({
    client: unusedClient(),
    log,
    clock,
    shutdownTimeoutMs: opts.shutdownTimeoutMs ?? 30_000,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    leaderElection: { namespace: "ns", name: "lease", identity: opts.identity ?? "me", lock, ...LEASE },
  });
  const informer = mgr.register(
    new Informer<KubeObject>({ name: "things", source: staticSource(["a", "b"]), log, clock }),
  );
  const started: ReconcileRequest[] = [];
  const finished: string[] = [];
  const h = {
    clock,
    lock,
    mgr,
    started,
    finished,
    /** Reconciles finish at once unless the test sets this to a promise. */
    gate: undefined as Promise<void> | undefined,
    stop: new AbortController(),
    result: undefined as RunResult | undefined,
    run: undefined as unknown as Promise<RunResult>,
  };
  mgr.add({
    name: "things",
    concurrency: 2,
    watches: [watch(informer)],
    async reconcile(req) {
      started.push(req);
      await h.gate;
      finished.push(req.key);
    },
  });
  h.run = mgr.run({ signal: h.stop.signal, handleSignals: false }).then((r) => (h.result = r));
  return h;
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("Manager with leader election", () => {
  it("reconciles nothing until it holds the lease, then everything its caches hold", async () => {
    const lock = new MemoryLeaseLock();
    lock.stored = {
      record: { holderIdentity: "someone-else", leaseDurationSeconds: 15, leaseTransitions: 3 },
      resourceVersion: "1",
    };
    const h = setup({ lock });
    await h.clock.advance(14_000);
    expect(h.mgr.isLeader()).toBe(false);
    expect(h.started).toHaveLength(0);
    // Nobody renews the other holder's lease: it is ours 15 s after we first saw it.
    await h.clock.advance(1_000);
    expect(h.mgr.isLeader()).toBe(true);
    expect(lock.holder()).toBe("me");
    expect(h.started.map((r) => r.key).sort()).toEqual(["ns/a", "ns/b"]);
    h.stop.abort();
    await h.clock.advance(0);
    await h.run;
  });

  it("stops acting before the lease runs out when it cannot renew, and reports the loss", async () => {
    const h = setup();
    const hold = deferred();
    h.gate = hold.promise;
    await h.clock.advance(0);
    expect(h.started).toHaveLength(2);
    const lastRenew = h.clock.now();
    h.lock.mode = "fail";
    await h.clock.advance(LEASE.renewDeadlineMs - 1);
    expect(h.result).toBeUndefined();
    expect(h.started.every((r) => !r.signal.aborted)).toBe(true);
    await h.clock.advance(1);
    // Renewal failed for the whole deadline: in-flight reconciles are told to stop at once.
    expect(h.started.every((r) => r.signal.aborted)).toBe(true);
    expect(h.mgr.isLeader()).toBe(false);
    hold.resolve();
    await flushPromises();
    expect(h.result).toBe("leadership-lost");
    expect(h.clock.now() - lastRenew).toBeLessThan(LEASE.leaseDurationMs);
  });

  it("on shutdown drains reconciles while still renewing the lease, then releases it", async () => {
    const h = setup();
    const hold = deferred();
    h.gate = hold.promise;
    await h.clock.advance(0);
    expect(h.started).toHaveLength(2);
    h.stop.abort();
    // Longer than a lease: without renewals during the drain, another process could lead meanwhile.
    await h.clock.advance(20_000);
    expect(h.result).toBeUndefined();
    expect(h.lock.holder()).toBe("me");
    expect(Date.parse(h.lock.stored?.record.renewTime ?? "")).toBeGreaterThan(
      h.clock.now() - LEASE.retryPeriodMs - 1,
    );
    hold.resolve();
    await h.clock.advance(0);
    await h.run;
    expect(h.result).toBe("stopped");
    expect(h.finished.sort()).toEqual(["ns/a", "ns/b"]);
    expect(h.lock.stored?.record.holderIdentity).toBe("");
    expect(h.lock.stored?.record.leaseDurationSeconds).toBe(1);
  });

  it("leaves the lease to expire when reconciles outlast the shutdown timeout", async () => {
    const h = setup({ shutdownTimeoutMs: 5_000 });
    h.gate = new Promise(() => undefined);
    await h.clock.advance(0);
    h.stop.abort();
    await h.clock.advance(5_000);
    await h.run;
    expect(h.result).toBe("stopped");
    expect(h.lock.holder()).toBe("me");
  });
});

describe("Manager metrics hooks", () => {
  it("reports each sync and each wait in the queue under the controller's name, and the queue depths", async () => {
    const outcomes: [string, string, string][] = [];
    const dequeued: string[] = [];
    const h = setup({
      metrics: {
        outcome: (controller, o) => outcomes.push([controller, o.key, o.kind]),
        dequeued: (controller) => dequeued.push(controller),
      },
    });
    const gate = deferred();
    h.gate = gate.promise;
    await h.clock.advance(100);
    expect(h.mgr.isLeader()).toBe(true);
    expect(h.started.map((r) => r.key).sort()).toEqual(["ns/a", "ns/b"]);
    expect(h.mgr.queueDepths()).toEqual([{ controller: "things", depth: 0 }]);
    gate.resolve();
    await flushPromises();
    expect(outcomes.sort()).toEqual([
      ["things", "ns/a", "done"],
      ["things", "ns/b", "done"],
    ]);
    expect(dequeued).toEqual(["things", "things"]);
    h.stop.abort();
    await h.run;
  });
});
