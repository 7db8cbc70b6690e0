/**
 * Resource descriptors: what the raw client and the informers need to build API paths for a kind,
 * core or custom, without a discovery round trip.
 */

/** One API resource: `group` is "" for the core group (`/api/v1`). */
export interface ResourceType {
  readonly group: string;
  readonly version: string;
  /** The plural resource name used in paths, e.g. `configmaps`. */
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/** `apiVersion` of objects of this resource, e.g. `v1` or `dns01.io/v1alpha1`. */
export function apiVersionOf(r: ResourceType): string {
  return r.group === "" ? r.version : `${r.group}/${r.version}`;
}

/**
 * The collection path of a resource: all namespaces when `namespace` is undefined (or the resource
 * is cluster-scoped), else one namespace.
 */
export function collectionPath(r: ResourceType, namespace?: string): string {
  const base = r.group === "" ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = r.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${base}${ns}/${r.plural}`;
}

/** The path of one object, optionally of a subresource such as `status`. */
export function objectPath(
  r: ResourceType,
  namespace: string | undefined,
  name: string,
  subresource?: string,
): string {
  if (r.namespaced && (namespace === undefined || namespace === "")) {
    throw new Error(`${r.kind} ${name}: a namespace is required for a namespaced resource`);
  }
  const sub = subresource === undefined ? "" : `/${subresource}`;
  return `${collectionPath(r, namespace)}/${encodeURIComponent(name)}${sub}`;
}

/** A descriptor for a custom resource (or any kind not listed below). */
export function resourceType(
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced: boolean,
): ResourceType {
  return { group, version, plural, kind, namespaced };
}

/** Core kinds the operator reads or writes. */
export const CoreResources = {
  secrets: resourceType("", "v1", "secrets", "Secret", true),
  configMaps: resourceType("", "v1", "configmaps", "ConfigMap", true),
  namespaces: resourceType("", "v1", "namespaces", "Namespace", false),
  events: resourceType("events.k8s.io", "v1", "events", "Event", true),
  leases: resourceType("coordination.k8s.io", "v1", "leases", "Lease", true),
  customResourceDefinitions: resourceType(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    false,
  ),
} as const;
