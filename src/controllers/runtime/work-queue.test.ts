import { describe, expect, it } from "@jest/globals";
import { TemporaryError, TerminalError } from "../../errors.js";
import { FakeClock, flushPromises } from "./fake-clock.js";
import { type Outcome, type ProcessResult, WorkQueue } from "./work-queue.js";

/** A promise the test settles by hand. */
function deferred<T = ProcessResult>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A queue whose process function records each run and, by default, finishes at once. Tests replace
 * `behaviour` to hold runs open or make them fail.
 */
function harness(opts: { concurrency?: number; baseMs?: number; maxMs?: number } = {}) {
  const clock = new FakeClock();
  const runs: { key: string; at: number }[] = [];
  const outcomes: Outcome[] = [];
  const running = new Map<string, number>();
  let maxActive = 0;
  let maxPerKey = 0;
  const h = {
    clock,
    runs,
    outcomes,
    behaviour: (_key: string, _signal: AbortSignal): Promise<ProcessResult> => Promise.resolve(),
    maxActive: () => maxActive,
    maxPerKey: () => maxPerKey,
    runsOf: (key: string) => runs.filter((r) => r.key === key).map((r) => r.at - start),
    queue: undefined as unknown as WorkQueue,
  };
  const start = clock.now();
  h.queue = new WorkQueue({
    clock,
    concurrency: opts.concurrency ?? 1,
    backoff: { baseMs: opts.baseMs ?? 100, maxMs: opts.maxMs ?? 1000, jitter: 0 },
    onOutcome: (o) => outcomes.push(o),
    process: async (key, signal) => {
      runs.push({ key, at: clock.now() });
      running.set(key, (running.get(key) ?? 0) + 1);
      maxPerKey = Math.max(maxPerKey, running.get(key) ?? 0);
      maxActive = Math.max(
        maxActive,
        [...running.values()].reduce((a, b) => a + b, 0),
      );
      try {
        return await h.behaviour(key, signal);
      } finally {
        running.set(key, (running.get(key) ?? 1) - 1);
      }
    },
  });
  return h;
}

describe("WorkQueue", () => {
  it("de-duplicates keys added before a worker takes them", async () => {
    const h = harness();
    for (const k of ["a", "a", "b", "a", "b"]) h.queue.add(k);
    h.queue.start();
    await flushPromises();
    expect(h.runs.map((r) => r.key)).toEqual(["a", "b"]);
  });

  it("never runs one key twice at once, and re-runs it once when it was added while running", async () => {
    const h = harness({ concurrency: 4 });
    const first = deferred();
    let calls = 0;
    h.behaviour = () => (++calls === 1 ? first.promise : Promise.resolve());
    h.queue.start();
    h.queue.add("a");
    await flushPromises();
    h.queue.add("a");
    h.queue.add("a");
    await flushPromises();
    expect(h.runs).toHaveLength(1);
    first.resolve(undefined);
    await flushPromises();
    expect(h.runs).toHaveLength(2);
    expect(h.maxPerKey()).toBe(1);
  });

  it("keeps at most `concurrency` keys running and runs them all", async () => {
    const h = harness({ concurrency: 2 });
    const gates = new Map<string, ReturnType<typeof deferred<ProcessResult>>>();
    h.behaviour = (key) => {
      const d = deferred();
      gates.set(key, d);
      return d.promise;
    };
    h.queue.start();
    for (const k of ["a", "b", "c", "d", "e"]) h.queue.add(k);
    await flushPromises();
    expect(h.runs.map((r) => r.key)).toEqual(["a", "b"]);
    gates.get("b")?.resolve(undefined);
    await flushPromises();
    expect(h.runs.map((r) => r.key)).toEqual(["a", "b", "c"]);
    for (const k of ["a", "c", "d", "e"]) {
      gates.get(k)?.resolve(undefined);
      await flushPromises();
    }
    gates.get("e")?.resolve(undefined);
    await flushPromises();
    expect(h.runs.map((r) => r.key).sort()).toEqual(["a", "b", "c", "d", "e"]);
    expect(h.maxActive()).toBe(2);
    expect(h.queue.stats()).toEqual({ ready: 0, active: 0, waiting: 0, failing: 0 });
  });

  it("retries a key that failed, with capped exponential backoff", async () => {
    const h = harness({ baseMs: 100, maxMs: 1000 });
    h.behaviour = () => Promise.reject(new Error("boom"));
    h.queue.start();
    h.queue.add("a");
    await h.clock.advance(5000);
    const at = h.runsOf("a");
    const gaps = at.slice(1).map((t, i) => t - (at[i] ?? 0));
    expect(gaps.slice(0, 7)).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect(h.queue.failureCount("a")).toBe(at.length);
  });

  it("resets the failure count of a key when it succeeds", async () => {
    const h = harness({ baseMs: 100, maxMs: 10_000 });
    const script = [false, false, false, true, false];
    h.behaviour = () => (script.shift() === true ? Promise.resolve() : Promise.reject(new Error("boom")));
    h.queue.start();
    h.queue.add("a");
    await h.clock.advance(700); // runs at 0, 100, 300, 700: the fourth succeeds
    expect(h.runsOf("a")).toEqual([0, 100, 300, 700]);
    expect(h.queue.failureCount("a")).toBe(0);
    expect(h.queue.dueAt("a")).toBeUndefined();
    h.queue.add("a"); // fails again: back to the base delay
    await flushPromises();
    expect(h.queue.failureCount("a")).toBe(1);
    expect(h.queue.dueAt("a")).toBe(h.clock.now() + 100);
  });

  it("runs a delayed add when it falls due and not before", async () => {
    const h = harness();
    h.queue.start();
    h.queue.addAfter("a", 1000);
    await h.clock.advance(999);
    expect(h.runs).toHaveLength(0);
    await h.clock.advance(1);
    expect(h.runsOf("a")).toEqual([1000]);
  });

  it("lets the earliest of several pending adds of a key win, and runs it once", async () => {
    const h = harness();
    h.queue.start();
    h.queue.addAfter("a", 1000);
    h.queue.addAfter("a", 500);
    h.queue.addAfter("b", 500);
    h.queue.addAfter("b", 1000);
    h.queue.addAfter("c", 800);
    h.queue.add("c");
    await h.clock.advance(3000);
    expect(h.runsOf("a")).toEqual([500]);
    expect(h.runsOf("b")).toEqual([500]);
    expect(h.runsOf("c")).toEqual([0]);
  });

  it("schedules the next run when the process function asks for a requeue", async () => {
    const h = harness();
    let n = 0;
    h.behaviour = () => Promise.resolve(++n < 3 ? { requeueAfter: 250 } : undefined);
    h.queue.start();
    h.queue.add("a");
    await h.clock.advance(2000);
    expect(h.runsOf("a")).toEqual([0, 250, 500]);
    expect(h.outcomes.map((o) => o.kind)).toEqual(["requeue", "requeue", "done"]);
  });

  it("honours the delay a TemporaryError asks for instead of the backoff", async () => {
    const h = harness({ baseMs: 100 });
    let n = 0;
    h.behaviour = () =>
      ++n === 1 ? Promise.reject(new TemporaryError("slow down", 3000)) : Promise.resolve();
    h.queue.start();
    h.queue.add("a");
    await h.clock.advance(5000);
    expect(h.runsOf("a")).toEqual([0, 3000]);
  });

  it("does not retry a terminal error and forgets the key's failures", async () => {
    const h = harness({ baseMs: 100 });
    let n = 0;
    h.behaviour = () =>
      ++n === 1
        ? Promise.reject(new Error("transient"))
        : Promise.reject(new TerminalError("bad spec", "InvalidSpec"));
    h.queue.start();
    h.queue.add("a");
    await h.clock.advance(60_000);
    expect(h.runsOf("a")).toEqual([0, 100]);
    expect(h.queue.failureCount("a")).toBe(0);
    expect(h.queue.stats().waiting).toBe(0);
    const last = h.outcomes.at(-1);
    expect(last?.kind).toBe("terminal");
  });

  it("runs other keys while a failed key waits for its retry", async () => {
    const h = harness({ baseMs: 1000 });
    h.behaviour = (key) => (key === "a" ? Promise.reject(new Error("boom")) : Promise.resolve());
    h.queue.start();
    h.queue.add("a");
    await flushPromises();
    h.queue.add("b");
    await flushPromises();
    expect(h.runsOf("b")).toEqual([0]);
    expect(h.queue.dueAt("a")).toBe(h.clock.now() + 1000);
  });

  it("keeps a delay longer than Node's timer limit instead of firing it at once", async () => {
    const h = harness();
    h.queue.start();
    const sixtyDays = 60 * 24 * 3600_000;
    h.queue.addAfter("a", sixtyDays);
    await h.clock.advance(30 * 24 * 3600_000);
    expect(h.runs).toHaveLength(0);
    await h.clock.advance(30 * 24 * 3600_000);
    expect(h.runsOf("a")).toEqual([sixtyDays]);
  });

  it("collects keys while paused and runs them once started", async () => {
    const h = harness();
    h.queue.add("a");
    h.queue.addAfter("b", 10);
    await h.clock.advance(100);
    expect(h.runs).toHaveLength(0);
    h.queue.start();
    await flushPromises();
    expect(h.runs.map((r) => r.key)).toEqual(["a", "b"]);
  });

  it("drains the runs in progress on shutdown and takes no new work", async () => {
    const h = harness({ concurrency: 2 });
    const gate = deferred();
    h.behaviour = (key) => (key === "a" ? gate.promise : Promise.resolve({ requeueAfter: 10 }));
    h.queue.start();
    h.queue.add("a");
    h.queue.add("b");
    await flushPromises();
    let drained: boolean | undefined;
    void h.queue.shutDown({ timeoutMs: 5000 }).then((d) => (drained = d));
    h.queue.add("c");
    h.queue.addAfter("d", 1);
    await h.clock.advance(100);
    expect(drained).toBeUndefined();
    gate.resolve(undefined);
    await flushPromises();
    expect(drained).toBe(true);
    await h.clock.advance(1000);
    expect(h.runs.map((r) => r.key)).toEqual(["a", "b"]);
  });

  it("gives up waiting for a run that outlives the shutdown timeout, and can abort it", async () => {
    const h = harness();
    let aborted = false;
    h.behaviour = (_key, signal) =>
      new Promise(() => {
        signal.addEventListener("abort", () => (aborted = true));
      });
    h.queue.start();
    h.queue.add("a");
    await flushPromises();
    let drained: boolean | undefined;
    void h.queue.shutDown({ timeoutMs: 5000, abort: true }).then((d) => (drained = d));
    await h.clock.advance(4999);
    expect(drained).toBeUndefined();
    expect(aborted).toBe(true);
    await h.clock.advance(1);
    expect(drained).toBe(false);
  });
});

describe("WorkQueue metrics hooks", () => {
  it("reports how long each key waited ready before a worker took it, and the depth meanwhile", async () => {
    const clock = new FakeClock();
    const waited: [string, number][] = [];
    const hold = deferred();
    const queue = new WorkQueue({
      clock,
      concurrency: 1,
      process: (key) => (key === "a" ? hold.promise : Promise.resolve()),
      onDequeue: (key, ms) => waited.push([key, ms]),
    });
    queue.start();
    queue.add("a");
    queue.add("b");
    queue.add("c");
    queue.add("b");
    expect(queue.depth()).toBe(2);
    await clock.advance(300);
    hold.resolve(undefined);
    await flushPromises();
    expect(waited).toEqual([
      ["a", 0],
      ["b", 300],
      ["c", 300],
    ]);
    expect(queue.depth()).toBe(0);
  });

  it("keeps running when the hook throws", async () => {
    const clock = new FakeClock();
    const runs: string[] = [];
    const queue = new WorkQueue({
      clock,
      process: (key) => {
        runs.push(key);
        return Promise.resolve();
      },
      onDequeue: () => {
        throw new Error("broken metrics");
      },
    });
    queue.start();
    queue.add("a");
    queue.add("b");
    await flushPromises();
    expect(runs).toEqual(["a", "b"]);
  });
});
