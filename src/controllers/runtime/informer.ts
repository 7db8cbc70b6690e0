import { apiStatusCode, isGone } from "../../kube/api-errors.js";
import type { KubeClient } from "../../kube/client.js";
import { type ResourceType, apiVersionOf, collectionPath } from "../../kube/resources.js";
import type { KubeList, KubeObject, KubeStatus, WatchEvent } from "../../kube/types.js";
import type { Logger } from "../../log.js";
import { backoffDelay } from "./backoff.js";
import { type Clock, realClock, wait } from "./clock.js";
import { objectKey } from "./keys.js";
import {
  type LabelSelector,
  matchesRequirements,
  parseSelector,
  selectorRequirements,
} from "./label-selector.js";

/**
 * An informer: a cache of one resource kept current by list + watch, with event handlers.
 *
 * - The first list fills the store and marks it synced; then a watch from the list's
 *   resourceVersion (bookmarks on) keeps it current, and every event moves the resourceVersion on.
 * - A watch that ends is restarted from the last resourceVersion; a 410 Gone (in the answer or in
 *   an ERROR event) means that version is compacted away, so the informer lists again and turns
 *   the difference into add, update and delete events. Other failures are retried with backoff.
 * - Handlers run synchronously and only enqueue keys; one that throws is logged and skipped.
 * - Stored objects are frozen: callers must copy (`structuredClone`) before changing one.
 */

/** Where an informer's objects come from. `resourceSource` is the real one; tests pass fakes. */
export interface ListWatchSource<T extends KubeObject> {
  list(opts: { limit: number; continue?: string; signal: AbortSignal }): Promise<KubeList<T>>;
  watch(
    opts: { resourceVersion: string; timeoutSeconds: number; idleTimeoutMs: number; signal: AbortSignal },
    onEvent: (ev: WatchEvent<T>) => void,
  ): Promise<void>;
}

/** Restricts what an informer caches. */
export interface SourceOptions {
  /** Only this namespace (all namespaces when undefined). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** The real source: list and watch calls on the API server for one resource. */
export function resourceSource<T extends KubeObject>(
  client: KubeClient,
  resource: ResourceType,
  opts: SourceOptions = {},
): ListWatchSource<T> {
  const path = collectionPath(resource, opts.namespace);
  const selectors = { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector };
  return {
    async list({ limit, continue: cont, signal }) {
      const list = await client.get<KubeList<T>>(path, {
        query: { ...selectors, limit, continue: cont },
        signal,
        timeoutMs: 60_000,
      });
      // List items come without apiVersion and kind; watch events have them. Make both alike.
      const apiVersion = apiVersionOf(resource);
      for (const item of list.items) {
        item.apiVersion ??= apiVersion;
        item.kind ??= resource.kind;
      }
      return list;
    },
    watch({ resourceVersion, timeoutSeconds, idleTimeoutMs, signal }, onEvent) {
      return client.watch<T>(path, onEvent, {
        query: { ...selectors, resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
        signal,
        idleTimeoutMs,
      });
    },
  };
}

/** Handlers of an informer's events. Keep them cheap and synchronous: enqueue keys, nothing more. */
export interface EventHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

/** An index function: the values under which an object is found, e.g. its owner's key. */
export type IndexFunc<T> = (obj: T) => readonly string[];

/** Informer settings. */
export interface InformerOptions<T extends KubeObject> {
  source: ListWatchSource<T>;
  /** Name for logs, e.g. `secrets` or `orders.dns01.io`. */
  name: string;
  log: Logger;
  clock?: Clock;
  /**
   * Applied to every object before it is stored. The default drops `metadata.managedFields`, which
   * no controller reads and which can be most of an object's size.
   */
  transform?: (obj: T) => T;
  /** Page size of list calls. Default 500. */
  pageSize?: number;
  /** Range of `timeoutSeconds` for watches, chosen at random like client-go. Default [300, 600). */
  watchTimeoutSeconds?: readonly [number, number];
  /** Retry backoff after failures: default 500 ms doubling to 30 s. */
  retry?: { baseMs: number; maxMs: number };
  random?: () => number;
}

/** Thrown inside a watch to end it when the server said 410 Gone. */
class ExpiredError extends Error {
  override readonly name = "ExpiredError";
}

/** Thrown inside a watch to end it on any other ERROR event. */
class WatchStatusError extends Error {
  override readonly name = "WatchStatusError";
}

/** Drops managedFields (the default transform). */
export function stripManagedFields<T extends KubeObject>(obj: T): T {
  if (obj.metadata?.managedFields !== undefined) delete obj.metadata.managedFields;
  return obj;
}

function deepFreeze<T>(obj: T): T {
  if (typeof obj === "object" && obj !== null && !Object.isFrozen(obj)) {
    Object.freeze(obj);
    for (const v of Object.values(obj)) deepFreeze(v);
  }
  return obj;
}

/** A list + watch cache of one resource. */
export class Informer<T extends KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly byNamespace = new Map<string, Set<string>>();
  private readonly indexes = new Map<string, { fn: IndexFunc<T>; map: Map<string, Set<string>> }>();
  private readonly handlers = new Set<EventHandlers<T>>();
  private resourceVersion = "";
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private readonly stopper = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(private readonly opts: InformerOptions<T>) {
    this.clock = opts.clock ?? realClock;
    this.log = opts.log.child({ informer: opts.name });
  }

  /** The informer's name, as in logs. */
  get name(): string {
    return this.opts.name;
  }

  /**
   * Registers handlers; returns a function that removes them. Objects already in the store are
   * replayed to `onAdd`, so a handler added late misses nothing.
   */
  addEventHandler(h: EventHandlers<T>): () => void {
    this.handlers.add(h);
    for (const obj of this.store.values()) this.call(h, "onAdd", obj);
    return () => this.handlers.delete(h);
  }

  /** Adds an index (at any time; existing objects are indexed at once). */
  addIndex(name: string, fn: IndexFunc<T>): void {
    if (this.indexes.has(name)) throw new Error(`informer ${this.opts.name}: index ${name} exists already`);
    this.indexes.set(name, { fn, map: new Map() });
    for (const [key, obj] of this.store) this.indexOne(name, key, obj, true);
  }

  /** Starts list + watch in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops the watch (aborting the request in flight) and waits for the loop to end. The store stays readable. */
  async stop(): Promise<void> {
    this.stopper.abort(new Error(`informer ${this.opts.name} stopped`));
    await this.loop;
    for (const w of this.syncWaiters) w();
    this.syncWaiters = [];
  }

  /** True once the first list has been stored. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once synced, or false if the informer or `signal` stops first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.stopper.signal.aborted || signal?.aborted === true) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener("abort", done);
        resolve(this.synced);
      };
      this.syncWaiters.push(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  /** The resourceVersion the cache is at (from the last list, event or bookmark). */
  lastResourceVersion(): string {
    return this.resourceVersion;
  }

  /** One object by key (`namespace/name`, or `name` if cluster-scoped). Frozen: copy before changing. */
  get(key: string): T | undefined {
    return this.store.get(key);
  }

  /** Objects, optionally of one namespace and matching a label selector. */
  list(opts: { namespace?: string; labelSelector?: string | LabelSelector } = {}): T[] {
    const keys =
      opts.namespace === undefined ? this.store.keys() : (this.byNamespace.get(opts.namespace) ?? []);
    const sel = opts.labelSelector;
    const reqs =
      sel === undefined ? [] : typeof sel === "string" ? parseSelector(sel) : selectorRequirements(sel);
    const out: T[] = [];
    for (const key of keys) {
      const obj = this.store.get(key);
      if (obj !== undefined && matchesRequirements(obj.metadata?.labels, reqs)) out.push(obj);
    }
    return out;
  }

  /** Objects an index files under `value`. */
  byIndex(index: string, value: string): T[] {
    const idx = this.indexes.get(index);
    if (idx === undefined) throw new Error(`informer ${this.opts.name}: no index ${index}`);
    return [...(idx.map.get(value) ?? [])]
      .map((k) => this.store.get(k))
      .filter((o): o is T => o !== undefined);
  }

  /** Keys of every object in the store. */
  keys(): string[] {
    return [...this.store.keys()];
  }

  private async run(): Promise<void> {
    const signal = this.stopper.signal;
    const retry = this.opts.retry ?? { baseMs: 500, maxMs: 30_000 };
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (this.resourceVersion === "") await this.relist(signal);
        await this.watchOnce(signal);
        failures = 0;
      } catch (err) {
        if (this.stopper.signal.aborted) break;
        if (err instanceof ExpiredError || isGone(err)) {
          this.log.info("resourceVersion expired; listing again", { resourceVersion: this.resourceVersion });
          this.resourceVersion = "";
          continue;
        }
        // The server refused the watch or reported an error in it (a resourceVersion too large after an
        // etcd restore, say): start over from a list, as client-go does. A broken connection only
        // re-watches from where it was; if that version is gone by then, the 410 says so.
        const relist = err instanceof WatchStatusError || apiStatusCode(err) !== undefined;
        if (relist) this.resourceVersion = "";
        failures++;
        const delayMs = Math.round(
          backoffDelay(failures, {
            ...retry,
            jitter: 0.2,
            ...(this.opts.random ? { random: this.opts.random } : {}),
          }),
        );
        this.log.warn("list or watch failed; will retry", {
          error: err instanceof Error ? err.message : String(err),
          failures,
          delayMs,
          relist,
        });
        await wait(this.clock, delayMs, signal);
      }
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = "";
    do {
      const page = await this.opts.source.list({
        limit: this.opts.pageSize ?? 500,
        ...(cont !== undefined ? { continue: cont } : {}),
        signal,
      });
      items.push(...page.items);
      cont = page.metadata?.continue === "" ? undefined : page.metadata?.continue;
      rv = page.metadata?.resourceVersion ?? "";
    } while (cont !== undefined);
    this.replace(items, rv);
    this.log.info("listed", { objects: items.length, resourceVersion: rv });
  }

  private async watchOnce(signal: AbortSignal): Promise<void> {
    const [min, max] = this.opts.watchTimeoutSeconds ?? [300, 600];
    const timeoutSeconds = Math.floor(min + (max - min) * (this.opts.random ?? Math.random)());
    const started = this.clock.now();
    let events = 0;
    await this.opts.source.watch(
      {
        resourceVersion: this.resourceVersion,
        timeoutSeconds,
        // A silent, half-open connection must not freeze the cache: the server ends the watch at
        // timeoutSeconds and sends bookmarks, so silence well past that means the link is dead.
        idleTimeoutMs: (timeoutSeconds + 30) * 1000,
        signal,
      },
      (ev) => {
        events++;
        this.apply(ev);
      },
    );
    // A watch that ends at once with nothing in it is a failure in disguise (a proxy closing it,
    // say): treat it as one so that the retry backs off instead of spinning.
    if (events === 0 && this.clock.now() - started < 1000)
      throw new Error("watch ended at once without events");
    this.log.debug("watch ended; resuming", { events, resourceVersion: this.resourceVersion });
  }

  private apply(ev: WatchEvent<T>): void {
    switch (ev.type) {
      case "ERROR": {
        const status = ev.object as KubeStatus;
        if (status.code === 410) throw new ExpiredError(status.message ?? "410 Gone");
        throw new WatchStatusError(
          `watch error event: ${status.code ?? ""} ${status.reason ?? ""} ${status.message ?? ""}`,
        );
      }
      case "BOOKMARK":
        break;
      case "ADDED":
      case "MODIFIED": {
        const obj = this.prepare(ev.object);
        const key = objectKey(obj);
        const old = this.store.get(key);
        this.put(key, obj, old);
        if (old === undefined) this.emit("onAdd", obj);
        else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emitUpdate(old, obj);
        break;
      }
      case "DELETED": {
        const obj = this.prepare(ev.object);
        const key = objectKey(obj);
        if (this.store.has(key)) {
          this.remove(key);
          this.emit("onDelete", obj);
        }
        break;
      }
    }
    const rv = ev.object.metadata?.resourceVersion;
    if (rv !== undefined && rv !== "") this.resourceVersion = rv;
  }

  /** Makes the store equal to a fresh list, with the events that turn the old content into the new. */
  private replace(items: T[], rv: string): void {
    const fresh = new Map<string, T>();
    for (const item of items) {
      const obj = this.prepare(item);
      fresh.set(objectKey(obj), obj);
    }
    for (const [key, old] of this.store) {
      if (!fresh.has(key)) {
        this.remove(key);
        this.emit("onDelete", old);
      }
    }
    for (const [key, obj] of fresh) {
      const old = this.store.get(key);
      this.put(key, obj, old);
      if (old === undefined) this.emit("onAdd", obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emitUpdate(old, obj);
    }
    this.resourceVersion = rv;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters) w();
      this.syncWaiters = [];
    }
  }

  private prepare(obj: T): T {
    const transform = this.opts.transform ?? stripManagedFields;
    return deepFreeze(transform(obj));
  }

  private put(key: string, obj: T, old: T | undefined): void {
    if (old !== undefined) this.unindex(key, old);
    this.store.set(key, obj);
    const ns = obj.metadata?.namespace ?? "";
    let set = this.byNamespace.get(ns);
    if (set === undefined) this.byNamespace.set(ns, (set = new Set()));
    set.add(key);
    for (const name of this.indexes.keys()) this.indexOne(name, key, obj, true);
  }

  private remove(key: string): void {
    const old = this.store.get(key);
    if (old === undefined) return;
    this.unindex(key, old);
    this.store.delete(key);
  }

  private unindex(key: string, old: T): void {
    const ns = old.metadata?.namespace ?? "";
    const set = this.byNamespace.get(ns);
    set?.delete(key);
    if (set?.size === 0) this.byNamespace.delete(ns);
    for (const name of this.indexes.keys()) this.indexOne(name, key, old, false);
  }

  private indexOne(name: string, key: string, obj: T, add: boolean): void {
    const idx = this.indexes.get(name);
    if (idx === undefined) return;
    let values: readonly string[];
    try {
      values = idx.fn(obj);
    } catch (err) {
      this.log.error("index function threw; object not indexed", {
        index: name,
        object: key,
        error: String(err),
      });
      return;
    }
    for (const v of values) {
      let set = idx.map.get(v);
      if (add) {
        if (set === undefined) idx.map.set(v, (set = new Set()));
        set.add(key);
      } else if (set !== undefined) {
        set.delete(key);
        if (set.size === 0) idx.map.delete(v);
      }
    }
  }

  private emit(kind: "onAdd" | "onDelete", obj: T): void {
    for (const h of this.handlers) this.call(h, kind, obj);
  }

  private emitUpdate(old: T, obj: T): void {
    for (const h of this.handlers) {
      try {
        h.onUpdate?.(old, obj);
      } catch (err) {
        this.handlerFailed("onUpdate", obj, err);
      }
    }
  }

  private call(h: EventHandlers<T>, kind: "onAdd" | "onDelete", obj: T): void {
    try {
      h[kind]?.(obj);
    } catch (err) {
      this.handlerFailed(kind, obj, err);
    }
  }

  private handlerFailed(kind: string, obj: T, err: unknown): void {
    this.log.error("event handler threw; ignored", {
      handler: kind,
      object: objectKey(obj),
      error: err instanceof Error ? err.message : String(err),
    });
  }
}
