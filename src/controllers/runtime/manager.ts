import type { KubeClient } from "../../kube/client.js";
import type { ResourceType } from "../../kube/resources.js";
import type { KubeObject } from "../../kube/types.js";
import type { Logger } from "../../log.js";
import { type Clock, realClock, wait } from "./clock.js";
import { Controller, type ControllerDefinition, type ControllerMetricsHooks } from "./controller.js";
import { Informer, type SourceOptions, resourceSource } from "./informer.js";
import {
  KubeLeaseLock,
  LeaderElector,
  type LeaderElectionTimings,
  type LeaseLock,
} from "./leader-election.js";

/**
 * The manager wires informers, controllers, leader election and shutdown:
 *
 * 1. Informers start at once, leader or not, so that a new leader begins with warm caches.
 * 2. With leader election, the manager campaigns for the Lease; controllers' workers start only
 *    once it leads and every informer has synced. Without it, they start after the sync.
 * 3. On SIGTERM/SIGINT (or the run signal): no new work is taken, reconciles in progress get
 *    `shutdownTimeoutMs` to finish while the lease is still renewed, then the lease is released
 *    (only if they all finished: otherwise it is left to expire, so no successor can overlap), the
 *    informers stop and `run` resolves "stopped". A second signal exits at once with code 1.
 * 4. If the lease cannot be renewed in time, workers stop at once (their signals abort), and `run`
 *    resolves "leadership-lost" well before the lease could pass to another process. The caller
 *    should exit non-zero; a restart campaigns again with fresh caches.
 */

/** Leader election settings of a manager. */
export interface ManagerLeaderElection extends LeaderElectionTimings {
  namespace: string;
  name: string;
  identity?: string;
  /** For tests: a lock other than the Lease `namespace/name`. */
  lock?: LeaseLock;
}

/** Manager settings. */
export interface ManagerOptions {
  client: KubeClient;
  log: Logger;
  /** Leader election on a Lease; leave out to run controllers unconditionally (one replica, tests). */
  leaderElection?: ManagerLeaderElection;
  /** Grace time for reconciles in progress at shutdown. Default 30 s. */
  shutdownTimeoutMs?: number;
  clock?: Clock;
  /** Sync counts and work-queue latency of every controller (src/metrics implements them). */
  metrics?: ControllerMetricsHooks;
}

/** How `run` ended. */
export type RunResult = "stopped" | "leadership-lost";

/** Options of `run`. */
export interface RunOptions {
  /** Aborting it shuts down gracefully, as SIGTERM does. */
  signal?: AbortSignal;
  /** Install SIGTERM and SIGINT handlers. Default true. */
  handleSignals?: boolean;
}

/** Runs informers and controllers, under leader election when configured. */
export class Manager {
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private readonly controllers: Controller[] = [];
  private readonly clock: Clock;
  private readonly log: Logger;
  private identity: string | undefined;
  private running = false;
  private leading = false;

  constructor(private readonly opts: ManagerOptions) {
    this.clock = opts.clock ?? realClock;
    this.log = opts.log;
  }

  /** The raw API client, for controllers' writes. */
  get client(): KubeClient {
    return this.opts.client;
  }

  /**
   * The shared informer of a resource (one per resource, namespace and selectors): controllers that
   * ask for the same one share its cache and its watch.
   */
  informer<T extends KubeObject>(
    resource: ResourceType,
    opts: SourceOptions & { transform?: (obj: T) => T } = {},
  ): Informer<T> {
    const id = JSON.stringify([
      resource.group,
      resource.version,
      resource.plural,
      opts.namespace,
      opts.labelSelector,
      opts.fieldSelector,
    ]);
    const existing = this.informers.get(id);
    if (existing !== undefined) return existing as unknown as Informer<T>;
    if (this.running) throw new Error("informers must be created before the manager runs");
    const group = resource.group === "" ? "" : `.${resource.group}`;
    const informer = new Informer<T>({
      name: `${resource.plural}${group}${opts.namespace !== undefined ? ` in ${opts.namespace}` : ""}`,
      source: resourceSource<T>(this.opts.client, resource, opts),
      log: this.log,
      clock: this.clock,
      ...(opts.transform ? { transform: opts.transform } : {}),
    });
    this.informers.set(id, informer as unknown as Informer<KubeObject>);
    return informer;
  }

  /**
   * Registers an informer built elsewhere (another source, say a fake one in tests), so that the
   * manager starts, syncs and stops it with the others.
   */
  register<T extends KubeObject>(informer: Informer<T>): Informer<T> {
    if (this.running) throw new Error("informers must be registered before the manager runs");
    this.informers.set(
      `registered:${this.informers.size}:${informer.name}`,
      informer as unknown as Informer<KubeObject>,
    );
    return informer;
  }

  /** Adds a controller; the informers it watches must be started by this manager (informer or register). */
  add(definition: ControllerDefinition): Controller {
    if (this.running) throw new Error("controllers must be added before the manager runs");
    if (this.controllers.some((c) => c.name === definition.name)) {
      throw new Error(`a controller named ${definition.name} exists already`);
    }
    const controller = new Controller(definition, {
      log: this.log,
      clock: this.clock,
      ...(this.opts.metrics ? { metrics: this.opts.metrics } : {}),
    });
    this.controllers.push(controller);
    return controller;
  }

  /** True while this process leads (always true without leader election, once running). */
  isLeader(): boolean {
    return this.leading;
  }

  /** This process's leader election identity, once `run` has started campaigning. */
  leaderIdentity(): string | undefined {
    return this.identity;
  }

  /** Each controller's work-queue depth (keys waiting for a worker), read at scrape time. */
  queueDepths(): { controller: string; depth: number }[] {
    return this.controllers.map((c) => ({ controller: c.name, depth: c.queue.depth() }));
  }

  /** True once every informer has synced (for a readiness probe). */
  isReady(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced());
  }

  /** Runs until shutdown or leadership loss; see the module comment. */
  async run(opts: RunOptions = {}): Promise<RunResult> {
    if (this.running) throw new Error("the manager is running already");
    this.running = true;
    const stop = new AbortController();
    const removeSignals = opts.handleSignals === false ? () => undefined : this.installSignalHandlers(stop);
    const onAbort = () => {
      stop.abort(opts.signal?.reason);
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted === true) stop.abort();

    for (const c of this.controllers) c.connect();
    for (const i of this.informers.values()) i.start();
    try {
      const le = this.opts.leaderElection;
      return le === undefined ? await this.runUnelected(stop.signal) : await this.runElected(le, stop.signal);
    } finally {
      await Promise.all([...this.informers.values()].map((i) => i.stop()));
      opts.signal?.removeEventListener("abort", onAbort);
      removeSignals();
      this.leading = false;
      this.log.info("manager stopped");
    }
  }

  private async runUnelected(stop: AbortSignal): Promise<RunResult> {
    this.leading = true;
    if (await this.waitForCaches(stop)) this.startControllers();
    await abortedPromise(stop);
    await this.drain(this.shutdownTimeoutMs(), false);
    return "stopped";
  }

  private async runElected(le: ManagerLeaderElection, stop: AbortSignal): Promise<RunResult> {
    const elector = new LeaderElector({
      lock: le.lock ?? new KubeLeaseLock(this.opts.client, le.namespace, le.name),
      log: this.log,
      clock: this.clock,
      ...(le.identity !== undefined ? { identity: le.identity } : {}),
      ...(le.leaseDurationMs !== undefined ? { leaseDurationMs: le.leaseDurationMs } : {}),
      ...(le.renewDeadlineMs !== undefined ? { renewDeadlineMs: le.renewDeadlineMs } : {}),
      ...(le.retryPeriodMs !== undefined ? { retryPeriodMs: le.retryPeriodMs } : {}),
    });
    this.identity = elector.identity;
    if (!(await elector.acquire(stop))) return "stopped";
    this.leading = true;

    // Renewal runs until the end, through the drain, so that the lease stays ours while we act.
    const stopRenewing = new AbortController();
    const renewal = elector.keepRenewing(stopRenewing.signal);
    const lost = renewal.then((r) => r === "lost");
    const starting = (async () => {
      const ready = await this.waitForCaches(AbortSignal.any([stop, stopRenewing.signal]));
      if (ready && elector.isLeader()) this.startControllers();
    })();

    const first = await Promise.race([lost, abortedPromise(stop).then(() => false)]);
    if (first) {
      stopRenewing.abort();
      await this.stopActingNow(elector);
      return "leadership-lost";
    }
    this.log.info("shutting down: draining reconciles in progress");
    const drain = this.drain(this.shutdownTimeoutMs(), false);
    const ended = await Promise.race([
      drain.then((drained) => ({ drained })),
      lost.then(() => "lost" as const),
    ]);
    if (ended === "lost") {
      stopRenewing.abort();
      await this.stopActingNow(elector);
      return "leadership-lost";
    }
    stopRenewing.abort();
    await renewal;
    await starting;
    this.leading = false;
    if (ended.drained) await elector.release();
    else this.log.warn("not releasing the lease: reconciles are still running; it will expire");
    return "stopped";
  }

  /**
   * After a lost lease: abort every reconcile and wait only part of the margin between the renew
   * deadline and the lease's expiry, so the process is quiet before any successor can start.
   */
  private async stopActingNow(elector: LeaderElector): Promise<void> {
    this.leading = false;
    const margin = Math.max(0, (elector.leaseDurationMs - elector.renewDeadlineMs) / 2);
    await this.drain(Math.min(margin, this.shutdownTimeoutMs()), true);
  }

  private shutdownTimeoutMs(): number {
    return this.opts.shutdownTimeoutMs ?? 30_000;
  }

  private async waitForCaches(signal: AbortSignal): Promise<boolean> {
    const informers = [...this.informers.values()];
    const started = this.clock.now();
    for (;;) {
      const pending = informers.filter((i) => !i.hasSynced()).map((i) => i.name);
      if (pending.length === 0) break;
      this.log.info("waiting for caches to sync", { informers: pending });
      // Wait on the syncs, waking every 10 s to say which caches are still missing.
      const tick = new AbortController();
      const both = AbortSignal.any([signal, tick.signal]);
      const syncs = Promise.all(informers.map((i) => i.waitForSync(both)));
      const ticked = wait(this.clock, 10_000, both).then(() => {
        tick.abort();
      });
      await syncs;
      tick.abort();
      await ticked;
      if (signal.aborted) return false;
    }
    this.log.info("caches synced", { informers: informers.length, durationMs: this.clock.now() - started });
    return true;
  }

  private startControllers(): void {
    for (const c of this.controllers) c.start();
  }

  private async drain(timeoutMs: number, abort: boolean): Promise<boolean> {
    const results = await Promise.all(this.controllers.map((c) => c.shutDown({ timeoutMs, abort })));
    return results.every(Boolean);
  }

  private installSignalHandlers(stop: AbortController): () => void {
    let received = 0;
    const handler = (sig: NodeJS.Signals) => {
      received++;
      if (received > 1) {
        this.log.error("second signal: exiting at once", { signal: sig });
        process.exit(1);
      }
      this.log.info("signal received: shutting down", { signal: sig });
      stop.abort(new Error(`received ${sig}`));
    };
    process.on("SIGTERM", handler);
    process.on("SIGINT", handler);
    return () => {
      process.off("SIGTERM", handler);
      process.off("SIGINT", handler);
    };
  }
}

function abortedPromise(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    signal.addEventListener(
      "abort",
      () => {
        resolve();
      },
      { once: true },
    );
  });
}
