import type { KubeObject } from "../../kube/types.js";

/**
 * Queue keys: `namespace/name` for namespaced objects, `name` for cluster-scoped ones, as in
 * client-go's MetaNamespaceKeyFunc. A key is all a reconcile gets; it reads the rest from caches.
 */

/** The key of a namespace and name. */
export function keyOf(namespace: string | undefined, name: string): string {
  return namespace === undefined || namespace === "" ? name : `${namespace}/${name}`;
}

/** The key of an object. */
export function objectKey(obj: KubeObject): string {
  return keyOf(obj.metadata?.namespace, obj.metadata?.name ?? "");
}

/** Splits a key back into namespace (undefined for cluster-scoped) and name. */
export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf("/");
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** The group of an apiVersion (`dns01.io/v1alpha1` → `dns01.io`, `v1` → ""). */
export function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf("/");
  return i < 0 ? "" : apiVersion.slice(0, i);
}

/**
 * Keys of an object's owners of one kind and group, e.g. the Certificate that owns an Order. Owners
 * live in the object's namespace (or are cluster-scoped, with `clusterScoped`). With
 * `controllerOnly`, only the managing owner (`controller: true`) counts.
 */
export function ownerKeys(
  obj: KubeObject,
  owner: { group: string; kind: string; clusterScoped?: boolean; controllerOnly?: boolean },
): string[] {
  const refs = obj.metadata?.ownerReferences ?? [];
  return refs
    .filter(
      (r) =>
        r.kind === owner.kind &&
        groupOf(r.apiVersion) === owner.group &&
        (owner.controllerOnly !== true || r.controller === true),
    )
    .map((r) => keyOf(owner.clusterScoped === true ? undefined : obj.metadata?.namespace, r.name));
}
