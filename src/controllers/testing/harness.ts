import { Writable } from "node:stream";
import winston from "winston";
import type { ResourceType } from "../../kube/resources.js";
import type { KubeObject } from "../../kube/types.js";
import type { Logger } from "../../log.js";
import type { ControllerDefinition, ReconcileResult } from "../runtime/controller.js";
import { Informer, type SourceOptions, resourceSource } from "../runtime/informer.js";
import { splitKey } from "../runtime/keys.js";
import { FakeCluster, type FakeResource } from "./fake-cluster.js";
import { FakeEventRecorder } from "./fake-events.js";

/** A log record as winston hands it to transports. */
export type LogRecord = Record<string, unknown> & { level: string; message: string };

/** A logger that keeps its records in memory (and prints them too when TEST_LOG is set). */
export function memoryLogger(): { log: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const stream = new Writable({
    objectMode: true,
    write(chunk: LogRecord, _enc, cb) {
      records.push(chunk);
      cb();
    },
  });
  const transports: winston.transport[] = [new winston.transports.Stream({ stream })];
  if (process.env["TEST_LOG"]) transports.push(new winston.transports.Console());
  const log = winston.createLogger({ level: "debug", format: winston.format.json(), transports });
  return { log, records };
}

/** What one reconcile did: its result, or the error it threw. */
export type ReconcileOutcome =
  | { readonly ok: true; readonly result: ReconcileResult; readonly requeueAfter: number | undefined }
  | { readonly ok: false; readonly error: unknown };

/**
 * Everything a controller unit test needs, wired as in production: a FakeCluster (the API server),
 * informers on it through `resourceSource` (list, then watch), a FakeEventRecorder and an
 * in-memory logger. Call `stop()` in afterEach.
 */
export class ControllerTestRig {
  readonly cluster: FakeCluster;
  readonly events = new FakeEventRecorder();
  readonly log: Logger;
  /** Log records of every controller run and informer, for assertions on structured logs. */
  readonly logs: LogRecord[];
  private readonly informers = new Map<string, Informer<KubeObject>>();

  constructor(opts: { resources?: readonly FakeResource[]; now?: () => Date } = {}) {
    this.cluster = new FakeCluster(opts);
    const { log, records } = memoryLogger();
    this.log = log;
    this.logs = records;
  }

  /** The fake KubeClient (`cluster.client`). */
  get client(): FakeCluster["client"] {
    return this.cluster.client;
  }

  /**
   * A started informer of `resource` on the fake cluster; one per resource and options, like the
   * Manager's. Wait for `sync()` before reconciling.
   */
  informer<T extends KubeObject>(resource: ResourceType, opts: SourceOptions = {}): Informer<T> {
    const id = JSON.stringify([
      resource.group,
      resource.plural,
      opts.namespace,
      opts.labelSelector,
      opts.fieldSelector,
    ]);
    let inf = this.informers.get(id);
    if (inf === undefined) {
      inf = new Informer<KubeObject>({
        source: resourceSource(this.cluster.client, resource, opts),
        name: resource.plural,
        log: this.log,
        // Failures retry at once: a test injects them on purpose and wants the retry now.
        retry: { baseMs: 1, maxMs: 5 },
      });
      inf.start();
      this.informers.set(id, inf);
    }
    return inf as unknown as Informer<T>;
  }

  /** Resolves once every informer has listed and its watch is streaming. */
  async sync(): Promise<void> {
    for (const inf of this.informers.values()) {
      if (!(await inf.waitForSync())) throw new Error(`informer ${inf.name} stopped before it synced`);
    }
    await settle();
  }

  /** Runs one reconcile of `key` and reports its result or error (never throws). */
  async reconcile(def: ControllerDefinition, key: string, signal?: AbortSignal): Promise<ReconcileOutcome> {
    const out = await reconcileKey(def, key, { log: this.log, ...(signal ? { signal } : {}) });
    await settle();
    return out;
  }

  /** Stops the informers. */
  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }
}

/** Lets pending promise callbacks and immediate tasks run (the fake's watch deliveries among them). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise<void>((resolve) => {
      setImmediate(resolve);
    });
  }
}

/** Runs one reconcile of a controller for `key`, as its work queue would, and returns what it did. */
export async function reconcileKey(
  def: ControllerDefinition,
  key: string,
  opts: { log: Logger; signal?: AbortSignal },
): Promise<ReconcileOutcome> {
  const { namespace, name } = splitKey(key);
  const log = opts.log.child({
    controller: def.name,
    ...(namespace === undefined ? {} : { namespace }),
    name,
  });
  try {
    const result = await def.reconcile({
      key,
      namespace,
      name,
      log,
      signal: opts.signal ?? new AbortController().signal,
    });
    return { ok: true, result, requeueAfter: result?.requeueAfter };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * Subscribes to a controller's watches as its queue would, collecting the keys its informer
 * events enqueue: what a delete, an owned object's change or the initial list triggers.
 */
export function collectKeys(def: ControllerDefinition): {
  /** Keys enqueued since the last take(), in order, duplicates kept. */
  take(): string[];
  stop(): void;
} {
  let keys: string[] = [];
  const unsubscribe = def.watches.map((w) =>
    w.connect((key) => {
      keys.push(key);
    }),
  );
  return {
    take() {
      const out = keys;
      keys = [];
      return out;
    },
    stop() {
      for (const u of unsubscribe) u();
    },
  };
}

/** The error a promise rejects with; fails the test if it resolves. For `expect(isConflict(await rejectionOf(p)))`. */
export async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected the promise to reject, but it resolved");
}
