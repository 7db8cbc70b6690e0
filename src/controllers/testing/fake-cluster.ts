import { randomUUID } from "node:crypto";
import { KubeConfig } from "../../kube/config.js";
import {
  KubeApiError,
  KubeClient,
  PatchType,
  type Query,
  type RequestOptions,
  type WatchOptions,
} from "../../kube/client.js";
import { type ResourceType, apiVersionOf, resourceType } from "../../kube/resources.js";
import type { KubeList, KubeObject, KubeStatus, WatchEvent } from "../../kube/types.js";
import { Kinds } from "../kinds.js";
import { matchesRequirements, parseSelector, type Requirement } from "../runtime/label-selector.js";
import { JsonPatchError, jsonPatch, mergePatch } from "./patch.js";

/**
 * An in-memory API server for controller unit tests, behind a real `KubeClient` subclass, so that
 * controllers, `ResourceClient`, `EventRecorder`, `kubeSecretReader` and informers built with
 * `resourceSource` all run their production code paths against it. It keeps resourceVersions
 * (409 on stale writes), generations, the status subresource, finalizers and deletionTimestamp,
 * streams watch events, records every call and fails calls on request. See README.md.
 */

/** A resource the fake serves. CRDs (ours) have a status subresource and a generation. */
export interface FakeResource {
  readonly type: ResourceType;
  readonly statusSubresource?: boolean;
}

/** Core v1 Events, as EventRecorder writes them (`/api/v1/namespaces/{ns}/events`). */
export const CoreEvents = resourceType("", "v1", "events", "Event", true);
/** Leases, for leader election. */
export const Leases = resourceType("coordination.k8s.io", "v1", "leases", "Lease", true);

/** What the fake serves unless told otherwise: our kinds, Secrets, core Events and Leases. */
export const DEFAULT_FAKE_RESOURCES: readonly FakeResource[] = [
  { type: Kinds.certificates, statusSubresource: true },
  { type: Kinds.issuers, statusSubresource: true },
  { type: Kinds.clusterIssuers, statusSubresource: true },
  { type: Kinds.orders, statusSubresource: true },
  { type: Kinds.challenges, statusSubresource: true },
  { type: Kinds.secrets },
  { type: CoreEvents },
  { type: Leases },
];

/** The verbs of Kubernetes RBAC, which is also how calls are matched. */
export type Verb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete";

/** One recorded call. */
export interface FakeCall {
  readonly verb: Verb;
  readonly method: string;
  readonly path: string;
  /** The plural, e.g. `orders`. */
  readonly resource: string;
  readonly group: string;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly subresource: string | undefined;
  readonly body: unknown;
  readonly contentType: string | undefined;
}

/** Selects calls: every given field must match; `subresource: null` means the main resource only. */
export interface CallMatcher {
  verb?: Verb | readonly Verb[];
  /** The plural, e.g. `secrets`. */
  resource?: string;
  namespace?: string;
  name?: string;
  subresource?: string | null;
}

interface Reaction {
  match: CallMatcher;
  remaining: number;
  error: (call: FakeCall) => Error;
}

interface Subscriber {
  resourceId: string;
  namespace: string | undefined;
  labels: Requirement[];
  fields: Requirement[];
  onEvent: (ev: WatchEvent) => void;
}

interface LoggedEvent {
  rv: number;
  resourceId: string;
  type: "ADDED" | "MODIFIED" | "DELETED";
  obj: KubeObject;
  old: KubeObject | undefined;
}

const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  409: "Conflict",
  410: "Expired",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
};

/** The default identity in injected 403 messages, as the operator's ServiceAccount would appear. */
export const FAKE_USER = "system:serviceaccount:dns01-operator:dns01-operator";

function matches(m: CallMatcher, c: FakeCall): boolean {
  if (m.verb !== undefined && !(typeof m.verb === "string" ? [m.verb] : m.verb).includes(c.verb))
    return false;
  if (m.resource !== undefined && m.resource !== c.resource) return false;
  if (m.namespace !== undefined && m.namespace !== c.namespace) return false;
  if (m.name !== undefined && m.name !== c.name) return false;
  if (m.subresource === null && c.subresource !== undefined) return false;
  if (typeof m.subresource === "string" && m.subresource !== c.subresource) return false;
  return true;
}

function fakeKubeConfig(): KubeConfig {
  return KubeConfig.fromOptions({
    clusters: [{ name: "fake", server: "https://fake-apiserver.invalid", skipTLSVerify: false }],
    users: [{ name: "fake" }],
    contexts: [{ name: "fake", cluster: "fake", user: "fake" }],
    currentContext: "fake",
  });
}

/** The `KubeClient` of a FakeCluster: every request and watch goes to the in-memory store. */
export class FakeKubeClient extends KubeClient {
  constructor(private readonly cluster: FakeCluster) {
    super(fakeKubeConfig());
  }

  override get<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>("GET", path, opts);
  }

  override request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    // Asynchronous like the network: a caller never sees its effect before it awaits.
    return Promise.resolve().then(() => {
      opts.signal?.throwIfAborted();
      return this.cluster.handle(method, path, opts) as T;
    });
  }

  override watch<T>(
    path: string,
    onEvent: (ev: WatchEvent<T & object>) => void,
    opts: WatchOptions = {},
  ): Promise<void> {
    return this.cluster.watch(path, onEvent as (ev: WatchEvent) => void, opts);
  }
}

/** A stored object's identity. */
interface Located {
  res: FakeResource;
  resourceId: string;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

/** The in-memory API server. Tests use `client` as the operator's KubeClient. */
export class FakeCluster {
  /** The client to hand to controllers, informers, recorders and secret readers. */
  readonly client: FakeKubeClient;
  /** Every call through `client`, in order (watches included). */
  readonly calls: FakeCall[] = [];
  private readonly resources = new Map<string, FakeResource>();
  private readonly store = new Map<string, Map<string, KubeObject>>();
  private readonly log: LoggedEvent[] = [];
  private readonly subscribers = new Set<Subscriber>();
  private readonly reactions: Reaction[] = [];
  private held: (() => void)[] | undefined;
  private rv = 0;
  private readonly now: () => Date;

  constructor(opts: { resources?: readonly FakeResource[]; now?: () => Date } = {}) {
    for (const r of opts.resources ?? DEFAULT_FAKE_RESOURCES) this.resources.set(idOf(r.type), r);
    this.now = opts.now ?? (() => new Date());
    this.client = new FakeKubeClient(this);
  }

  // ---- test-side access (not recorded, never failed) ----

  /** Stores an object as a create would (uid, resourceVersion, generation filled in; status kept). */
  seed<T extends KubeObject>(resource: ResourceType, obj: T): T {
    const res = this.resourceOf(resource);
    const ns = resource.namespaced ? (obj.metadata?.namespace ?? "default") : undefined;
    return this.clone(this.insert(res, ns, structuredClone(obj), true)) as T;
  }

  /** One stored object (a copy), or undefined. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the kind it stored
  get<T extends KubeObject>(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
  ): T | undefined {
    const obj = this.bucket(idOf(resource)).get(keyIn(resource.namespaced ? namespace : undefined, name));
    return obj === undefined ? undefined : (this.clone(obj) as T);
  }

  /** Stored objects of a resource (copies), optionally of one namespace. */
  list<T extends KubeObject>(resource: ResourceType, namespace?: string): T[] {
    return [...this.bucket(idOf(resource)).values()]
      .filter((o) => namespace === undefined || o.metadata?.namespace === namespace)
      .map((o) => this.clone(o) as T);
  }

  /**
   * Changes a stored object as a user's update would (spec changes bump the generation; status
   * is kept as given); watchers see MODIFIED. Returns the stored copy.
   */
  modify<T extends KubeObject>(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    change: (obj: T) => void,
  ): T {
    const res = this.resourceOf(resource);
    const ns = resource.namespaced ? namespace : undefined;
    const current = this.bucket(idOf(resource)).get(keyIn(ns, name));
    if (current === undefined) throw new Error(`modify: ${resource.kind} ${keyIn(ns, name)} does not exist`);
    const next = structuredClone(current) as T;
    change(next);
    return this.clone(this.commit(res, current, next, { keepStatus: false })) as T;
  }

  /** Deletes as a user would: with finalizers, marks deletionTimestamp; otherwise removes. */
  remove(resource: ResourceType, namespace: string | undefined, name: string): void {
    this.deleteObject(
      this.resourceOf(resource),
      resource.namespaced ? namespace : undefined,
      name,
      undefined,
    );
  }

  /**
   * Fails the next `times` calls matching `match` with an API error of `code` (403, 404, 409,
   * 500...). The message follows the API server's wording unless given.
   */
  failNext(
    match: CallMatcher,
    code: number,
    opts: { times?: number; message?: string; reason?: string } = {},
  ): void {
    this.reactions.push({
      match,
      remaining: opts.times ?? 1,
      error: (call) => this.apiError(call, code, opts.message, opts.reason),
    });
  }

  /** Like failNext, with any error (a network failure, say). */
  throwNext(match: CallMatcher, error: Error, times = 1): void {
    this.reactions.push({ match, remaining: times, error: () => error });
  }

  /** Recorded calls matching `match`. */
  callsMatching(match: CallMatcher): FakeCall[] {
    return this.calls.filter((c) => matches(match, c));
  }

  /** Writes (create, update, patch, delete) recorded so far, optionally matching `match`. */
  writes(match: CallMatcher = {}): FakeCall[] {
    return this.callsMatching(match).filter((c) => !["get", "list", "watch"].includes(c.verb));
  }

  /**
   * Holds watch events back until `releaseEvents()`, so that informer caches lag behind the store
   * as they do in production between a write and its watch event.
   */
  holdEvents(): void {
    this.held ??= [];
  }

  /** Delivers the held events, in order, and stops holding. */
  releaseEvents(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const deliver of held) deliver();
  }

  /** The current resourceVersion (of the last write). */
  resourceVersion(): string {
    return String(this.rv);
  }

  // ---- the API ----

  /** Serves one request as the API server would. Called by FakeKubeClient. */
  handle(method: string, path: string, opts: RequestOptions): unknown {
    const loc = this.locate(path);
    const verb = verbOf(method, loc.name);
    const call: FakeCall = {
      verb,
      method,
      path,
      resource: loc.res.type.plural,
      group: loc.res.type.group,
      namespace: loc.namespace,
      name: loc.name,
      subresource: loc.subresource,
      body: opts.body === undefined ? undefined : structuredClone(opts.body),
      contentType: opts.contentType,
    };
    this.calls.push(call);
    this.react(call);
    switch (verb) {
      case "get":
        return this.clone(this.mustGet(call, loc));
      case "list":
        return this.listResponse(loc, opts.query ?? {});
      case "create":
        return this.clone(this.createFromApi(call, loc, opts.body));
      case "update":
        return this.clone(this.updateFromApi(call, loc, opts.body));
      case "patch":
        return this.clone(this.patchFromApi(call, loc, opts.body, opts.contentType ?? PatchType.merge));
      case "delete":
        return this.deleteFromApi(call, loc, opts.body);
      case "watch":
        throw new Error("watch requests go through watch()");
    }
  }

  /** Serves one watch: replays events after `resourceVersion`, then streams until aborted. */
  watch(path: string, onEvent: (ev: WatchEvent) => void, opts: WatchOptions): Promise<void> {
    const loc = this.locate(path);
    const query = opts.query ?? {};
    const call: FakeCall = {
      verb: "watch",
      method: "GET",
      path,
      resource: loc.res.type.plural,
      group: loc.res.type.group,
      namespace: loc.namespace,
      name: undefined,
      subresource: undefined,
      body: undefined,
      contentType: undefined,
    };
    this.calls.push(call);
    try {
      this.react(call);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const sub: Subscriber = {
      resourceId: loc.resourceId,
      namespace: loc.namespace,
      labels: parseSelector(text(query["labelSelector"])),
      fields: parseSelector(text(query["fieldSelector"])),
      onEvent,
    };
    const from = Number(text(query["resourceVersion"])) || 0;
    return new Promise<void>((_resolve, reject) => {
      const signal = opts.signal;
      const stop = () => {
        this.subscribers.delete(sub);
        const r: unknown = signal?.reason;
        reject(r instanceof Error ? r : new Error("watch aborted"));
      };
      if (signal?.aborted === true) {
        stop();
        return;
      }
      signal?.addEventListener("abort", stop, { once: true });
      for (const ev of this.log) if (ev.rv > from) this.deliver(sub, ev);
      this.subscribers.add(sub);
    });
  }

  // ---- internals ----

  private react(call: FakeCall): void {
    const i = this.reactions.findIndex((r) => r.remaining > 0 && matches(r.match, call));
    const r = i >= 0 ? this.reactions[i] : undefined;
    if (r === undefined) return;
    r.remaining -= 1;
    if (r.remaining === 0) this.reactions.splice(i, 1);
    throw r.error(call);
  }

  private apiError(call: FakeCall, code: number, message?: string, reason?: string): KubeApiError {
    const what = `${call.resource}${call.group === "" ? "" : `.${call.group}`}`;
    const named = call.name === undefined ? what : `${what} "${call.name}"`;
    const inNs =
      call.namespace === undefined ? "at the cluster scope" : `in the namespace "${call.namespace}"`;
    const text =
      message ??
      (code === 403
        ? `${named} is forbidden: User "${FAKE_USER}" cannot ${call.verb} resource "${call.resource}" in API group "${call.group}" ${inNs}`
        : code === 404
          ? `${named} not found`
          : code === 409
            ? `Operation cannot be fulfilled on ${named}: the object has been modified; please apply your changes to the latest version and try again`
            : `Internal error occurred: injected failure of ${call.verb} ${named}`);
    return this.error(call.method, call.path, code, text, reason);
  }

  private error(method: string, path: string, code: number, message: string, reason?: string): KubeApiError {
    const body: KubeStatus = {
      kind: "Status",
      apiVersion: "v1",
      status: "Failure",
      message,
      reason: reason ?? REASONS[code] ?? "Unknown",
      code,
    };
    return new KubeApiError(method, path, code, body, {});
  }

  private locate(path: string): Located {
    const [pathname] = path.split("?");
    const seg = (pathname ?? "")
      .split("/")
      .filter((s) => s !== "")
      .map(decodeURIComponent);
    let group: string;
    let rest: string[];
    if (seg[0] === "api") {
      group = "";
      rest = seg.slice(2);
    } else if (seg[0] === "apis") {
      group = seg[1] ?? "";
      rest = seg.slice(3);
    } else throw new Error(`fake apiserver: unexpected path ${path}`);
    let namespace: string | undefined;
    if (rest[0] === "namespaces" && rest.length >= 3 && this.resources.has(`${group}/${rest[2] ?? ""}`)) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const plural = rest[0] ?? "";
    const res = this.resources.get(`${group}/${plural}`);
    if (res === undefined)
      throw this.error("GET", path, 404, `the server could not find the requested resource (${path})`);
    return { res, resourceId: idOf(res.type), namespace, name: rest[1], subresource: rest[2] };
  }

  private bucket(resourceId: string): Map<string, KubeObject> {
    let b = this.store.get(resourceId);
    if (b === undefined) this.store.set(resourceId, (b = new Map<string, KubeObject>()));
    return b;
  }

  private resourceOf(type: ResourceType): FakeResource {
    const res = this.resources.get(idOf(type));
    if (res === undefined) throw new Error(`the fake cluster does not serve ${idOf(type)}`);
    return res;
  }

  private mustGet(call: FakeCall, loc: Located): KubeObject {
    const obj = this.bucket(loc.resourceId).get(keyIn(loc.namespace, loc.name ?? ""));
    if (obj === undefined) throw this.apiError(call, 404);
    return obj;
  }

  private listResponse(loc: Located, query: Query): KubeList {
    const labels = parseSelector(text(query["labelSelector"]));
    const fields = parseSelector(text(query["fieldSelector"]));
    const items = [...this.bucket(loc.resourceId).values()]
      .filter((o) => selected(o, loc.namespace, labels, fields))
      .map((o) => this.clone(o));
    return {
      apiVersion: apiVersionOf(loc.res.type),
      kind: `${loc.res.type.kind}List`,
      metadata: { resourceVersion: String(this.rv), continue: "" },
      items,
    };
  }

  private createFromApi(call: FakeCall, loc: Located, body: unknown): KubeObject {
    if (loc.name !== undefined) throw this.error(call.method, call.path, 405, "create on an object path");
    const obj = structuredClone(body) as KubeObject;
    const ns = obj.metadata?.namespace;
    if (loc.res.type.namespaced && ns !== undefined && ns !== loc.namespace) {
      throw this.error(
        call.method,
        call.path,
        400,
        "the namespace of the object does not match the namespace of the request",
      );
    }
    const name = obj.metadata?.name;
    if (name !== undefined && this.bucket(loc.resourceId).has(keyIn(loc.namespace, name))) {
      throw this.apiError(
        { ...call, name },
        409,
        `${loc.res.type.plural}${loc.res.type.group === "" ? "" : `.${loc.res.type.group}`} "${name}" already exists`,
        "AlreadyExists",
      );
    }
    return this.insert(loc.res, loc.namespace, obj, false);
  }

  private insert(
    res: FakeResource,
    namespace: string | undefined,
    obj: KubeObject,
    keepStatus: boolean,
  ): KubeObject {
    const meta = (obj.metadata ??= {});
    if (meta.name === undefined || meta.name === "") {
      if (meta.generateName === undefined) throw new Error(`${res.type.kind}: no metadata.name`);
      meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    }
    if (res.type.namespaced) meta.namespace = namespace ?? "default";
    else delete meta.namespace;
    const key = keyIn(meta.namespace, meta.name);
    if (this.bucket(idOf(res.type)).has(key)) throw new Error(`seed: ${res.type.kind} ${key} exists already`);
    obj.apiVersion ??= apiVersionOf(res.type);
    obj.kind ??= res.type.kind;
    meta.uid ??= randomUUID();
    meta.creationTimestamp ??= this.now()
      .toISOString()
      .replace(/\.\d+Z$/, "Z");
    delete meta.deletionTimestamp;
    if (res.statusSubresource === true) {
      meta.generation = 1;
      if (!keepStatus) delete (obj as { status?: unknown }).status;
    }
    secretStringData(res, obj);
    meta.resourceVersion = String(++this.rv);
    this.bucket(idOf(res.type)).set(key, obj);
    this.emit(res, "ADDED", obj, undefined);
    return obj;
  }

  private updateFromApi(call: FakeCall, loc: Located, body: unknown): KubeObject {
    const current = this.mustGet(call, loc);
    const next = structuredClone(body) as KubeObject;
    const rv = next.metadata?.resourceVersion;
    if (rv !== undefined && rv !== "" && rv !== current.metadata?.resourceVersion)
      throw this.apiError(call, 409);
    return this.write(call, loc, current, next);
  }

  private patchFromApi(call: FakeCall, loc: Located, body: unknown, type: string): KubeObject {
    const current = this.mustGet(call, loc);
    let next: KubeObject;
    if (type === PatchType.json) {
      try {
        next = jsonPatch(current, body) as KubeObject;
      } catch (err) {
        if (!(err instanceof JsonPatchError)) throw err;
        // The API server answers a failed `test` (and any inapplicable JSON patch) with 422.
        throw this.error(
          call.method,
          call.path,
          422,
          `the server rejected our request due to an error in our request: ${err.message}`,
        );
      }
    } else {
      // Merge patch; strategic merge and server-side apply are approximated by it (see README).
      const patch = body as { metadata?: { resourceVersion?: string } } | undefined;
      const rv = patch?.metadata?.resourceVersion;
      if (rv !== undefined && rv !== current.metadata?.resourceVersion) throw this.apiError(call, 409);
      next = mergePatch(current, body) as KubeObject;
    }
    return this.write(call, loc, current, next);
  }

  private write(call: FakeCall, loc: Located, current: KubeObject, next: KubeObject): KubeObject {
    const status = loc.subresource === "status";
    if (loc.subresource !== undefined && !status) {
      throw this.error(call.method, call.path, 404, `subresource ${loc.subresource} not served by the fake`);
    }
    if (status && loc.res.statusSubresource !== true)
      throw this.error(call.method, call.path, 404, "no status subresource");
    let result: KubeObject;
    if (status) {
      // The status subresource changes status only.
      result = structuredClone(current);
      const s = (next as { status?: unknown }).status;
      if (s === undefined) delete (result as { status?: unknown }).status;
      else (result as { status?: unknown }).status = s;
    } else result = next;
    return this.commit(loc.res, current, result, {
      keepStatus: !status && loc.res.statusSubresource === true,
    });
  }

  /** Stores `next` in place of `current`: immutable metadata kept, generation and resourceVersion moved on. */
  private commit(
    res: FakeResource,
    current: KubeObject,
    next: KubeObject,
    opts: { keepStatus: boolean },
  ): KubeObject {
    const cm = current.metadata ?? {};
    const meta = (next.metadata ??= {});
    meta.name = cm.name ?? "";
    if (cm.namespace !== undefined) meta.namespace = cm.namespace;
    if (cm.uid !== undefined) meta.uid = cm.uid;
    if (cm.creationTimestamp !== undefined) meta.creationTimestamp = cm.creationTimestamp;
    if (cm.deletionTimestamp !== undefined) meta.deletionTimestamp = cm.deletionTimestamp;
    else delete meta.deletionTimestamp;
    next.apiVersion = current.apiVersion ?? apiVersionOf(res.type);
    next.kind = current.kind ?? res.type.kind;
    if (opts.keepStatus) {
      const s = (current as { status?: unknown }).status;
      if (s === undefined) delete (next as { status?: unknown }).status;
      else (next as { status?: unknown }).status = structuredClone(s);
    }
    secretStringData(res, next);
    if (res.statusSubresource === true) {
      meta.generation = cm.generation ?? 1;
      if (JSON.stringify(specOf(current)) !== JSON.stringify(specOf(next))) meta.generation += 1;
    }
    const key = keyIn(meta.namespace, meta.name);
    if (
      JSON.stringify({ ...current, metadata: { ...cm, resourceVersion: "" } }) ===
      JSON.stringify({ ...next, metadata: { ...meta, resourceVersion: "" } })
    ) {
      // A no-op write does not move the resourceVersion, as on the API server.
      meta.resourceVersion = cm.resourceVersion ?? "";
      this.bucket(idOf(res.type)).set(key, next);
      return next;
    }
    meta.resourceVersion = String(++this.rv);
    if (meta.deletionTimestamp !== undefined && (meta.finalizers ?? []).length === 0) {
      this.bucket(idOf(res.type)).delete(key);
      this.emit(res, "DELETED", next, current);
      return next;
    }
    this.bucket(idOf(res.type)).set(key, next);
    this.emit(res, "MODIFIED", next, current);
    return next;
  }

  private deleteFromApi(call: FakeCall, loc: Located, body: unknown): KubeStatus {
    const current = this.mustGet(call, loc);
    const pre = (body as { preconditions?: { uid?: string; resourceVersion?: string } } | undefined)
      ?.preconditions;
    if (pre?.uid !== undefined && pre.uid !== current.metadata?.uid) {
      throw this.apiError(
        call,
        409,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata?.uid ?? ""}`,
      );
    }
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== current.metadata?.resourceVersion) {
      throw this.apiError(call, 409);
    }
    this.deleteObject(loc.res, loc.namespace, loc.name ?? "", current);
    return { kind: "Status", apiVersion: "v1", status: "Success" };
  }

  private deleteObject(
    res: FakeResource,
    namespace: string | undefined,
    name: string,
    found: KubeObject | undefined,
  ): void {
    const key = keyIn(namespace, name);
    const current = found ?? this.bucket(idOf(res.type)).get(key);
    if (current === undefined) return;
    if ((current.metadata?.finalizers ?? []).length > 0) {
      if (current.metadata?.deletionTimestamp !== undefined) return;
      const next = structuredClone(current);
      (next.metadata ??= {}).deletionTimestamp = this.now()
        .toISOString()
        .replace(/\.\d+Z$/, "Z");
      next.metadata.resourceVersion = String(++this.rv);
      this.bucket(idOf(res.type)).set(key, next);
      this.emit(res, "MODIFIED", next, current);
      return;
    }
    this.bucket(idOf(res.type)).delete(key);
    const gone = structuredClone(current);
    (gone.metadata ??= {}).resourceVersion = String(++this.rv);
    this.emit(res, "DELETED", gone, current);
  }

  private emit(
    res: FakeResource,
    type: LoggedEvent["type"],
    obj: KubeObject,
    old: KubeObject | undefined,
  ): void {
    const ev: LoggedEvent = { rv: this.rv, resourceId: idOf(res.type), type, obj: this.clone(obj), old };
    this.log.push(ev);
    for (const sub of [...this.subscribers]) {
      if (this.held)
        this.held.push(() => {
          if (this.subscribers.has(sub)) this.deliver(sub, ev);
        });
      else this.deliver(sub, ev);
    }
  }

  private deliver(sub: Subscriber, ev: LoggedEvent): void {
    if (sub.resourceId !== ev.resourceId) return;
    const now = selected(ev.obj, sub.namespace, sub.labels, sub.fields);
    const before = ev.old !== undefined && selected(ev.old, sub.namespace, sub.labels, sub.fields);
    // As the API server does for selector watches: an object leaving the selection is DELETED for
    // the watcher, one entering it is ADDED.
    let type: WatchEvent["type"] | undefined = ev.type;
    if (ev.type === "MODIFIED" && now && !before) type = "ADDED";
    else if (ev.type === "MODIFIED" && !now && before) type = "DELETED";
    else if (!now && !(ev.type === "DELETED" && before)) type = undefined;
    if (type === undefined) return;
    sub.onEvent({ type, object: structuredClone(ev.obj) });
  }

  private clone(obj: KubeObject): KubeObject {
    return structuredClone(obj);
  }
}

function idOf(t: ResourceType): string {
  return `${t.group}/${t.plural}`;
}

function keyIn(namespace: string | undefined, name: string): string {
  return namespace === undefined || namespace === "" ? name : `${namespace}/${name}`;
}

function verbOf(method: string, name: string | undefined): Verb {
  switch (method) {
    case "GET":
      return name === undefined ? "list" : "get";
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return "delete";
    default:
      throw new Error(`fake apiserver: method ${method} not supported`);
  }
}

function specOf(obj: KubeObject): unknown {
  const { metadata: _m, status: _s, ...rest } = obj as KubeObject & { status?: unknown };
  return rest;
}

function selected(
  obj: KubeObject,
  namespace: string | undefined,
  labels: Requirement[],
  fields: Requirement[],
): boolean {
  if (namespace !== undefined && obj.metadata?.namespace !== namespace) return false;
  if (!matchesRequirements(obj.metadata?.labels, labels)) return false;
  const f: Record<string, string> = {
    "metadata.name": obj.metadata?.name ?? "",
    "metadata.namespace": obj.metadata?.namespace ?? "",
  };
  for (const r of fields) {
    if (!(r.key in f)) throw new Error(`the fake cluster supports no field selector on ${r.key}`);
  }
  return matchesRequirements(f, fields);
}

/** Secrets: `stringData` is folded into `data` (base64), as the API server does. */
function secretStringData(res: FakeResource, obj: KubeObject): void {
  if (res.type.plural !== "secrets" || res.type.group !== "") return;
  const s = obj as { data?: Record<string, string>; stringData?: Record<string, string> };
  if (s.stringData === undefined) return;
  s.data ??= {};
  for (const [k, v] of Object.entries(s.stringData)) s.data[k] = Buffer.from(v).toString("base64");
  delete s.stringData;
}

function text(v: string | number | boolean | undefined): string {
  return v === undefined ? "" : String(v);
}
