import { TemporaryError, TerminalError } from "../../errors.js";
import { type BackoffOptions, backoffDelay } from "./backoff.js";
import { type Clock, realClock, schedule } from "./clock.js";

/**
 * The work queue every controller runs on. Keys (namespace/name) are de-duplicated; one key is
 * processed by at most one worker at a time, and a key added while it is being processed runs once
 * more right after. Failures are retried with capped exponential backoff per key (reset on success);
 * delayed adds wait on timers, never in a worker, and the earliest pending add of a key wins.
 */

/** What a processing function returns: nothing (done) or a delay after which to look again. */
// `void` lets a process function with no return statement type-check.
// eslint-disable-next-line @typescript-eslint/no-invalid-void-type
export type ProcessResult = { requeueAfter?: number } | undefined | void;

/** How one run of a key ended, for logs and metrics. */
export type Outcome =
  | { kind: "done"; key: string; durationMs: number }
  | { kind: "requeue"; key: string; durationMs: number; delayMs: number }
  | { kind: "retry"; key: string; durationMs: number; delayMs: number; failures: number; error: unknown }
  | { kind: "terminal"; key: string; durationMs: number; error: TerminalError };

/** Options of a queue. */
export interface WorkQueueOptions {
  /** Processes one key. Throwing means failure (see Outcome); it never runs twice at once for a key. */
  process: (key: string, signal: AbortSignal) => Promise<ProcessResult>;
  /** Workers: keys processed at the same time. Default 1. */
  concurrency?: number;
  backoff?: BackoffOptions;
  clock?: Clock;
  /** Called after each run (must not throw; errors are swallowed). */
  onOutcome?: (outcome: Outcome) => void;
  /**
   * Called when a worker takes a key, with how long it waited ready in the queue (clock ms); for
   * the queue-latency metric. Must not throw; errors are swallowed.
   */
  onDequeue?: (key: string, queuedMs: number) => void;
}

type State = "paused" | "running" | "draining" | "stopped";

/** A de-duplicating, rate-limited work queue with its own bounded pool of workers. */
export class WorkQueue {
  private state: State = "paused";
  /** Keys ready to run, in arrival order; never holds an active key. */
  private readonly ready = new Set<string>();
  /** When each ready key became ready (clock ms), for the queue-latency hook. */
  private readonly readySince = new Map<string, number>();
  private readonly active = new Set<string>();
  /** Active keys added again while running. */
  private readonly dirty = new Set<string>();
  private readonly waiting = new Map<string, { at: number; cancel: () => void }>();
  private readonly failures = new Map<string, number>();
  private readonly abort = new AbortController();
  private readonly clock: Clock;
  private readonly concurrency: number;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: WorkQueueOptions) {
    this.clock = opts.clock ?? realClock;
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
  }

  /** Starts the workers. Keys added before are kept and run now. */
  start(): void {
    if (this.state !== "paused") return;
    this.state = "running";
    this.dispatch();
  }

  /** Queues a key to run as soon as a worker is free (after its current run, if it is running). */
  add(key: string): void {
    if (this.state === "draining" || this.state === "stopped") return;
    this.cancelWaiting(key);
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (!this.ready.has(key)) {
      this.ready.add(key);
      this.readySince.set(key, this.clock.now());
    }
    this.dispatch();
  }

  /** Queues a key after `ms`; an earlier pending add of the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.state === "draining" || this.state === "stopped") return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    if (this.ready.has(key) || this.dirty.has(key)) return;
    const at = this.clock.now() + ms;
    const existing = this.waiting.get(key);
    if (existing !== undefined) {
      if (existing.at <= at) return;
      existing.cancel();
    }
    const cancel = schedule(this.clock, at, () => {
      this.waiting.delete(key);
      this.add(key);
    });
    this.waiting.set(key, { at, cancel });
  }

  /** Failures of `key` since its last success. */
  failureCount(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** When a delayed add of `key` falls due (clock ms), if one is pending. */
  dueAt(key: string): number | undefined {
    return this.waiting.get(key)?.at;
  }

  /** Keys waiting for a worker (not running, not delayed): the work-queue depth metric. */
  depth(): number {
    return this.ready.size;
  }

  /** Sizes, for metrics and tests. */
  stats(): { ready: number; active: number; waiting: number; failing: number } {
    return {
      ready: this.ready.size,
      active: this.active.size,
      waiting: this.waiting.size,
      failing: this.failures.size,
    };
  }

  /** True while any run is in progress. */
  busy(): boolean {
    return this.active.size > 0;
  }

  /**
   * Stops taking work: pending and delayed keys are dropped, no new run starts. With `abort`, the
   * signal given to running keys is aborted. Resolves true when the runs in progress finished within
   * `timeoutMs`, false otherwise.
   */
  async shutDown(opts: { timeoutMs: number; abort?: boolean }): Promise<boolean> {
    if (this.state !== "stopped") this.state = "draining";
    this.ready.clear();
    this.readySince.clear();
    this.dirty.clear();
    for (const w of this.waiting.values()) w.cancel();
    this.waiting.clear();
    if (opts.abort === true) this.abort.abort(new Error("work queue shut down"));
    const drained = await this.idle(opts.timeoutMs);
    this.state = "stopped";
    return drained;
  }

  private idle(timeoutMs: number): Promise<boolean> {
    if (this.active.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const cancel = schedule(this.clock, this.clock.now() + timeoutMs, () => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== onIdle);
        resolve(false);
      });
      const onIdle = () => {
        cancel();
        resolve(true);
      };
      this.idleWaiters.push(onIdle);
    });
  }

  private cancelWaiting(key: string): void {
    const w = this.waiting.get(key);
    if (w === undefined) return;
    w.cancel();
    this.waiting.delete(key);
  }

  private dispatch(): void {
    while (this.state === "running" && this.active.size < this.concurrency) {
      const next = this.ready.values().next();
      if (next.done === true) return;
      const key = next.value;
      this.ready.delete(key);
      const since = this.readySince.get(key);
      this.readySince.delete(key);
      this.active.add(key);
      if (since !== undefined && this.opts.onDequeue !== undefined) {
        try {
          this.opts.onDequeue(key, this.clock.now() - since);
        } catch {
          // A metrics hook must not stop the queue.
        }
      }
      void this.run(key);
    }
  }

  private async run(key: string): Promise<void> {
    const started = this.clock.now();
    let outcome: Outcome;
    try {
      const result = await this.opts.process(key, this.abort.signal);
      this.failures.delete(key);
      const durationMs = this.clock.now() - started;
      const delayMs = result?.requeueAfter;
      outcome =
        delayMs === undefined
          ? { kind: "done", key, durationMs }
          : { kind: "requeue", key, durationMs, delayMs };
    } catch (error) {
      const durationMs = this.clock.now() - started;
      if (error instanceof TerminalError) {
        this.failures.delete(key);
        outcome = { kind: "terminal", key, durationMs, error };
      } else {
        const failures = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, failures);
        const delayMs =
          error instanceof TemporaryError && error.retryAfterMs !== undefined
            ? error.retryAfterMs
            : backoffDelay(failures, this.opts.backoff);
        outcome = { kind: "retry", key, durationMs, delayMs, failures, error };
      }
    }
    this.active.delete(key);
    if (this.dirty.delete(key)) this.add(key);
    if (outcome.kind === "requeue" || outcome.kind === "retry") this.addAfter(key, outcome.delayMs);
    try {
      this.opts.onOutcome?.(outcome);
    } catch {
      // A logging hook must not stop the queue.
    }
    if (this.active.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
    this.dispatch();
  }
}
