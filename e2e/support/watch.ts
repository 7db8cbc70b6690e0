/**
 * A list-then-watch of one kind of custom object in one namespace, for tests and the benchmark that
 * must see every change as it happens (which Orders ever existed, when a Certificate turned Ready).
 */
import * as k8s from "@kubernetes/client-node";
import { waitFor } from "../../test/support/kube.js";
import type { Obj } from "./fixtures.js";

/** The kinds of event passed on; BOOKMARK and ERROR are handled by the watch itself. */
export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

/** Where the watched objects live. */
export interface WatchedKind {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespace: string;
}

/** A running watch. */
export interface CustomObjectWatch {
  /** Ends the watch and any reconnection to come. */
  stop(): void;
}

/** Pause before reconnecting after a watch ends. */
const RECONNECT_MS = 200;

/**
 * Calls `onEvent` with ADDED for every object that exists now, then with each change, until
 * stopped. Like an informer it lists first and watches from the list's resourceVersion, and when a
 * watch ends it reconnects from the last version it saw: a freshly started API server answers
 * watches of a new CRD with 429 until its watch cache is ready, and any server may close a watch.
 * After an ERROR event (410 Gone: that version is too old) it reconnects without a version, which
 * the server answers with ADDED for every object that exists, then the changes from there.
 * Resolves once the first list is done (it is retried while the server refuses it).
 */
export async function watchCustomObjects(
  kc: k8s.KubeConfig,
  kind: WatchedKind,
  onEvent: (type: WatchEventType, obj: Obj) => void,
): Promise<CustomObjectWatch> {
  const { group, version, plural, namespace } = kind;
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  return listThenWatch<Obj & { metadata: { resourceVersion?: string } }>(
    kc,
    `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
    {},
    `a list of ${plural} in ${namespace}`,
    async () =>
      (await custom.listNamespacedCustomObject({ group, version, plural, namespace })) as {
        metadata?: { resourceVersion?: string };
        items: (Obj & { metadata: { resourceVersion?: string } })[];
      },
    onEvent,
  );
}

/**
 * Like watchCustomObjects, for the Secrets of a namespace (optionally one of them, by name): a
 * test that must check every version of a Secret the operator writes sees each one, in order.
 */
export async function watchSecrets(
  kc: k8s.KubeConfig,
  namespace: string,
  onEvent: (type: WatchEventType, secret: k8s.V1Secret) => void,
  name?: string,
): Promise<CustomObjectWatch> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const fieldSelector = name === undefined ? undefined : `metadata.name=${name}`;
  return listThenWatch<k8s.V1Secret>(
    kc,
    `/api/v1/namespaces/${namespace}/secrets`,
    fieldSelector === undefined ? {} : { fieldSelector },
    `a list of Secrets in ${namespace}`,
    async () =>
      core.listNamespacedSecret({ namespace, ...(fieldSelector === undefined ? {} : { fieldSelector }) }),
    onEvent,
  );
}

/** The list-then-watch loop shared by both. */
async function listThenWatch<T extends { metadata?: { resourceVersion?: string } }>(
  kc: k8s.KubeConfig,
  path: string,
  query: Record<string, string>,
  what: string,
  listOnce: () => Promise<{ metadata?: { resourceVersion?: string }; items: T[] }>,
  onEvent: (type: WatchEventType, obj: T) => void,
): Promise<CustomObjectWatch> {
  const list = await waitFor(what, listOnce);
  for (const obj of list.items) onEvent("ADDED", obj);
  let resourceVersion = list.metadata?.resourceVersion;
  let stopped = false;
  let current: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;

  const reconnectLater = (): void => {
    if (stopped) return;
    timer = setTimeout(() => void connect(), RECONNECT_MS);
  };
  // Only one connection or pending reconnection at a time: the watch calls its end callback once.
  const connect = async (): Promise<void> => {
    try {
      current = await new k8s.Watch(kc).watch(
        path,
        { ...query, resourceVersion, allowWatchBookmarks: true },
        (type: string, obj: T) => {
          if (type === "ERROR") {
            resourceVersion = undefined;
            return;
          }
          resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
          if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") onEvent(type, obj);
        },
        reconnectLater,
      );
      // stop() may have come while the connection was being made.
      if (stopped) current.abort();
    } catch {
      reconnectLater();
    }
  };
  await connect();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      current?.abort();
    },
  };
}
