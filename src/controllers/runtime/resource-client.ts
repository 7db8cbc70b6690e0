import { isNotFound } from "../../kube/api-errors.js";
import { type KubeClient, PatchType } from "../../kube/client.js";
import { type ResourceType, apiVersionOf, collectionPath, objectPath } from "../../kube/resources.js";
import type { KubeObject } from "../../kube/types.js";

/** The field manager of every write the operator makes (managedFields, server-side apply). */
export const FIELD_MANAGER = "dns01-operator";

/**
 * Typed reads and writes of one resource, core or custom, in JSON form. Writes carry the field
 * manager; `replace` and `patchStatus` send the object's resourceVersion, so a write based on a stale
 * read fails with 409 Conflict, which the work queue retries (see isConflict).
 */
export class ResourceClient<T extends KubeObject> {
  constructor(
    private readonly client: KubeClient,
    readonly resource: ResourceType,
  ) {}

  /** Reads one object from the API server (not a cache). */
  get(namespace: string | undefined, name: string, signal?: AbortSignal): Promise<T> {
    return this.client.get<T>(objectPath(this.resource, namespace, name), signal ? { signal } : {});
  }

  /** Like get, but undefined when the object does not exist. */
  async find(namespace: string | undefined, name: string, signal?: AbortSignal): Promise<T | undefined> {
    try {
      return await this.get(namespace, name, signal);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Creates an object; apiVersion and kind are filled in when missing. 409 AlreadyExists when the name is taken. */
  create(obj: T, signal?: AbortSignal): Promise<T> {
    const body = {
      ...obj,
      apiVersion: obj.apiVersion ?? apiVersionOf(this.resource),
      kind: obj.kind ?? this.resource.kind,
    };
    return this.client.request<T>("POST", collectionPath(this.resource, obj.metadata?.namespace), {
      body,
      query: { fieldManager: FIELD_MANAGER },
      ...(signal ? { signal } : {}),
    });
  }

  /** Replaces an object (PUT). Its metadata.resourceVersion makes this fail with 409 if it changed since. */
  replace(obj: T, signal?: AbortSignal): Promise<T> {
    const { namespace, name } = this.nameOf(obj);
    return this.client.request<T>("PUT", objectPath(this.resource, namespace, name), {
      body: obj,
      query: { fieldManager: FIELD_MANAGER },
      ...(signal ? { signal } : {}),
    });
  }

  /** Patches an object: a JSON merge patch by default. */
  patch(
    namespace: string | undefined,
    name: string,
    patch: unknown,
    opts: { type?: string; subresource?: string; signal?: AbortSignal } = {},
  ): Promise<T> {
    return this.client.request<T>("PATCH", objectPath(this.resource, namespace, name, opts.subresource), {
      body: patch,
      contentType: opts.type ?? PatchType.merge,
      query: { fieldManager: FIELD_MANAGER },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /**
   * Writes status through the status subresource as a JSON merge patch: fields given replace the
   * stored ones (arrays such as conditions as a whole; null deletes a field), others are kept. By
   * default the patch is conditional on `obj`'s resourceVersion, so a status computed from a stale
   * object fails with 409 rather than overwrite newer state; pass `{ resourceVersion: false }` to
   * write unconditionally.
   *
   * Every status write also records `status.observedGeneration`: the generation of `obj`, whose
   * spec the status was computed from. GitOps tools (kstatus, Argo CD) trust a status only when
   * it is current, so this is set in the one place every controller writes status through.
   */
  patchStatus(
    obj: T,
    status: unknown,
    opts: { resourceVersion?: false; signal?: AbortSignal } = {},
  ): Promise<T> {
    const { namespace, name } = this.nameOf(obj);
    const rv = obj.metadata?.resourceVersion;
    const metadata = opts.resourceVersion === false || rv === undefined ? undefined : { resourceVersion: rv };
    const generation = obj.metadata?.generation;
    const withGeneration =
      generation !== undefined && typeof status === "object" && status !== null && !Array.isArray(status)
        ? { ...status, observedGeneration: generation }
        : status;
    return this.patch(
      namespace,
      name,
      { ...(metadata ? { metadata } : {}), status: withGeneration },
      {
        subresource: "status",
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
    );
  }

  /**
   * Writes status with server-side apply as the `dns01-operator` field manager: the applied fields
   * become ours, fields we no longer send are removed, fields of other managers stay. `force` takes
   * over fields another manager owns.
   */
  applyStatus(obj: T, status: unknown, opts: { force?: boolean; signal?: AbortSignal } = {}): Promise<T> {
    const { namespace, name } = this.nameOf(obj);
    const body = {
      apiVersion: apiVersionOf(this.resource),
      kind: this.resource.kind,
      metadata: { name, ...(namespace !== undefined ? { namespace } : {}) },
      status,
    };
    return this.client.request<T>("PATCH", objectPath(this.resource, namespace, name, "status"), {
      body,
      contentType: PatchType.apply,
      query: { fieldManager: FIELD_MANAGER, force: opts.force ?? true },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /** Server-side applies an object (spec, metadata) as the `dns01-operator` field manager. */
  apply(obj: T, opts: { force?: boolean; signal?: AbortSignal } = {}): Promise<T> {
    const { namespace, name } = this.nameOf(obj);
    const body = { ...obj, apiVersion: apiVersionOf(this.resource), kind: this.resource.kind };
    return this.client.request<T>("PATCH", objectPath(this.resource, namespace, name), {
      body,
      contentType: PatchType.apply,
      query: { fieldManager: FIELD_MANAGER, force: opts.force ?? true },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /**
   * Deletes an object; false when it was already gone. `uid` (and `resourceVersion`) make the
   * delete conditional, so a newer object of the same name is never removed by mistake.
   */
  async delete(
    namespace: string | undefined,
    name: string,
    opts: {
      uid?: string;
      resourceVersion?: string;
      propagationPolicy?: "Foreground" | "Background" | "Orphan";
      signal?: AbortSignal;
    } = {},
  ): Promise<boolean> {
    const preconditions =
      opts.uid !== undefined || opts.resourceVersion !== undefined
        ? { uid: opts.uid, resourceVersion: opts.resourceVersion }
        : undefined;
    try {
      await this.client.request("DELETE", objectPath(this.resource, namespace, name), {
        body: {
          kind: "DeleteOptions",
          apiVersion: "v1",
          preconditions,
          propagationPolicy: opts.propagationPolicy,
        },
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  private nameOf(obj: T): { namespace: string | undefined; name: string } {
    const name = obj.metadata?.name;
    if (name === undefined || name === "")
      throw new Error(`${this.resource.kind}: object has no metadata.name`);
    return { namespace: this.resource.namespaced ? obj.metadata?.namespace : undefined, name };
  }
}
