import { describeError, isConflict } from "../../kube/api-errors.js";
import type { KubeObject } from "../../kube/types.js";
import type { Logger } from "../../log.js";
import type { BackoffOptions } from "./backoff.js";
import type { Clock } from "./clock.js";
import type { Informer } from "./informer.js";
import { objectKey, ownerKeys, splitKey } from "./keys.js";
import { type Outcome, WorkQueue } from "./work-queue.js";

/** What a reconcile gets: the object's coordinates, a logger carrying them, and a stop signal. */
export interface ReconcileRequest {
  /** `namespace/name`, or `name` for a cluster-scoped object. */
  key: string;
  namespace: string | undefined;
  name: string;
  /** Child logger with controller, namespace and name. */
  log: Logger;
  /** Aborted when the process stops acting (leadership lost, or shutdown past its grace time). */
  signal: AbortSignal;
}

/** What a reconcile returns: nothing when done, or a delay after which to look again. */
// `void` lets a reconcile with no return statement type-check.
// eslint-disable-next-line @typescript-eslint/no-invalid-void-type
export type ReconcileResult = { requeueAfter?: number } | undefined | void;

/**
 * One subscription of a controller to an informer: which events enqueue which keys. Build it with
 * `watch()` (or `watchOwned()`), which keep the object type of each informer.
 */
export interface WatchSpec {
  readonly informer: Pick<Informer<KubeObject>, "name" | "waitForSync" | "hasSynced">;
  /** Subscribes `enqueue` to the informer's events; returns the unsubscribe function. */
  connect(enqueue: (key: string) => void): () => void;
}

/** The kind of an informer event, for filters. */
export interface WatchEventInfo<T> {
  type: "add" | "update" | "delete";
  obj: T;
  /** The previous object, on update. */
  old?: T;
}

/**
 * Watches an informer. `map` turns an object into the keys to reconcile (default: its own key);
 * `filter` drops events that need no reconcile (see `generationChanged`).
 */
export function watch<T extends KubeObject>(
  informer: Informer<T>,
  opts: { map?: (obj: T) => readonly string[]; filter?: (ev: WatchEventInfo<T>) => boolean } = {},
): WatchSpec {
  const map = opts.map ?? ((obj: T) => [objectKey(obj)]);
  const filter = opts.filter ?? (() => true);
  return {
    informer,
    connect(enqueue) {
      const push = (ev: WatchEventInfo<T>) => {
        if (!filter(ev)) return;
        for (const key of map(ev.obj)) enqueue(key);
        // An update that moves an object to other keys (a changed owner) concerns the old ones too.
        if (ev.old !== undefined) for (const key of map(ev.old)) enqueue(key);
      };
      return informer.addEventHandler({
        onAdd: (obj) => {
          push({ type: "add", obj });
        },
        onUpdate: (old, obj) => {
          push({ type: "update", obj, old });
        },
        onDelete: (obj) => {
          push({ type: "delete", obj });
        },
      });
    },
  };
}

/** Watches owned objects (say Orders), enqueuing the owner's key (their Certificate) on every change. */
export function watchOwned<T extends KubeObject>(
  informer: Informer<T>,
  owner: { group: string; kind: string; clusterScoped?: boolean },
): WatchSpec {
  return watch(informer, { map: (obj) => ownerKeys(obj, { ...owner, controllerOnly: true }) });
}

/** A filter for the primary resource: skip updates that change only status or metadata, not the spec. */
export function generationChanged<T extends KubeObject>(ev: WatchEventInfo<T>): boolean {
  if (ev.type !== "update" || ev.old === undefined) return true;
  const gen = ev.obj.metadata?.generation;
  // Without a generation (ConfigMaps, Secrets) any change counts; a deletion mark always does.
  if (gen === undefined) return true;
  if (ev.obj.metadata?.deletionTimestamp !== ev.old.metadata?.deletionTimestamp) return true;
  return gen !== ev.old.metadata?.generation;
}

/** A controller as the manager runs it. */
export interface ControllerDefinition {
  /** Short, unique: it names the logger field `controller`. */
  name: string;
  /** Reconciles one key: read the current state from caches, act, return. See README.md. */
  reconcile(req: ReconcileRequest): Promise<ReconcileResult>;
  /** Which informer events enqueue which keys. */
  watches: readonly WatchSpec[];
  /** Keys reconciled at the same time. Default 2. */
  concurrency?: number;
  /** Retry backoff; default 200 ms doubling to 5 minutes with 10 % jitter. */
  backoff?: BackoffOptions;
  /** Called after every run of a key, once it is logged: a hook for metrics. Must not throw. */
  onOutcome?: (outcome: Outcome) => void;
}

/**
 * Hooks through which the runtime reports what its controllers do, for metrics: the runtime knows
 * nothing of Prometheus, and src/metrics implements these. Each must not throw (errors are
 * swallowed, so a metrics bug never stops a queue).
 */
export interface ControllerMetricsHooks {
  /** A worker took `key` after it waited `queuedMs` ready in the controller's queue. */
  dequeued?(controller: string, queuedMs: number): void;
  /** One run of a key (one sync call) ended so. */
  outcome?(controller: string, outcome: Outcome): void;
}

/** A running controller: a definition bound to its work queue. */
export class Controller {
  readonly queue: WorkQueue;
  private readonly log: Logger;
  private unsubscribe: (() => void)[] = [];

  constructor(
    readonly definition: ControllerDefinition,
    opts: { log: Logger; clock?: Clock; metrics?: ControllerMetricsHooks },
  ) {
    const metrics = opts.metrics;
    this.log = opts.log.child({ controller: definition.name });
    this.queue = new WorkQueue({
      concurrency: definition.concurrency ?? 2,
      ...(definition.backoff ? { backoff: definition.backoff } : {}),
      ...(opts.clock ? { clock: opts.clock } : {}),
      process: (key, signal) => this.reconcileOne(key, signal),
      onOutcome: (o) => {
        this.logOutcome(o);
        try {
          metrics?.outcome?.(definition.name, o);
        } catch {
          // A metrics hook must not stop the logging or the definition's own hook.
        }
        definition.onOutcome?.(o);
      },
      ...(metrics?.dequeued !== undefined
        ? {
            onDequeue: (_key: string, queuedMs: number) => {
              metrics.dequeued?.(definition.name, queuedMs);
            },
          }
        : {}),
    });
  }

  /** The controller's name. */
  get name(): string {
    return this.definition.name;
  }

  /** Subscribes to the informers; keys collect in the queue until `start`. */
  connect(): void {
    if (this.unsubscribe.length > 0) return;
    this.unsubscribe = this.definition.watches.map((w) =>
      w.connect((key) => {
        this.queue.add(key);
      }),
    );
  }

  /** Starts the workers. */
  start(): void {
    this.log.info("starting workers", { concurrency: this.definition.concurrency ?? 2 });
    this.queue.start();
  }

  /** Enqueues a key by hand (e.g. a startup sweep). */
  enqueue(key: string, afterMs = 0): void {
    this.queue.addAfter(key, afterMs);
  }

  /** Stops taking work and waits for runs in progress (see WorkQueue.shutDown). */
  async shutDown(opts: { timeoutMs: number; abort?: boolean }): Promise<boolean> {
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    const drained = await this.queue.shutDown(opts);
    if (!drained) this.log.warn("reconciles still running at shutdown", { timeoutMs: opts.timeoutMs });
    return drained;
  }

  private logFor(key: string): Logger {
    const { namespace, name } = splitKey(key);
    return this.log.child(namespace === undefined ? { name } : { namespace, name });
  }

  private async reconcileOne(key: string, signal: AbortSignal): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    const log = this.logFor(key);
    log.debug("reconciling");
    return this.definition.reconcile({ key, namespace, name, log, signal });
  }

  private logOutcome(o: Outcome): void {
    const log = this.logFor(o.key);
    switch (o.kind) {
      case "done":
        log.debug("reconciled", { durationMs: o.durationMs });
        break;
      case "requeue":
        log.debug("reconciled; will look again", { durationMs: o.durationMs, requeueAfterMs: o.delayMs });
        break;
      case "retry":
        // A conflict is ordinary optimistic concurrency: the next run reads the newer object.
        (isConflict(o.error) ? log.info.bind(log) : log.warn.bind(log))("reconcile failed; will retry", {
          error: describeError(o.error),
          failures: o.failures,
          retryInMs: Math.round(o.delayMs),
        });
        break;
      case "terminal":
        log.error("reconcile failed; not retrying until the object changes", {
          error: describeError(o.error),
          reason: o.error.reason,
        });
        break;
    }
  }
}
