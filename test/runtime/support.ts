import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import winston from "winston";
import { KubeClient } from "../../src/kube/client.js";
import { loadKubeConfig } from "../../src/kube/config.js";
import { CoreResources } from "../../src/kube/resources.js";
import type { KubeObject } from "../../src/kube/types.js";
import type { Logger } from "../../src/log.js";
import { type ControllerDefinition, watch } from "../../src/controllers/runtime/controller.js";
import type { Informer } from "../../src/controllers/runtime/informer.js";
import { keyOf } from "../../src/controllers/runtime/keys.js";
import { ResourceClient } from "../../src/controllers/runtime/resource-client.js";

/** A client for the cluster a kubeconfig names. */
export function kubeClient(kubeconfig: string): KubeClient {
  return new KubeClient(loadKubeConfig(kubeconfig));
}

/** A unique lowercase suffix for names. */
export function suffix(): string {
  return randomBytes(3).toString("hex");
}

/** Creates a namespace. */
export async function createNamespace(client: KubeClient, name: string): Promise<void> {
  await new ResourceClient(client, CoreResources.namespaces).create({ metadata: { name } });
}

/** Deletes a namespace, ignoring failures (cleanup must not mask a test's own error). */
export async function deleteNamespace(client: KubeClient, name: string): Promise<void> {
  try {
    await new ResourceClient(client, CoreResources.namespaces).delete(undefined, name);
  } catch {
    // Best effort.
  }
}

/** Polls `fn` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A log record as winston hands it to transports. */
export type LogRecord = Record<string, unknown> & { level: string; message: string };

/** A logger that keeps its records in memory (and prints them when TEST_LOG is set). */
export function memoryLogger(): { log: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const stream = new Writable({
    objectMode: true,
    write(chunk: LogRecord, _enc, cb) {
      records.push(chunk);
      cb();
    },
  });
  const memory = new winston.transports.Stream({ stream });
  const log = winston.createLogger({
    level: "debug",
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: process.env["TEST_LOG"] ? [memory, new winston.transports.Console()] : [memory],
  });
  return { log, records };
}

/** A ConfigMap. */
export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

/** The label that marks a mirror ConfigMap with the name of its source. */
export const MIRROR_OF = "runtime-test/mirror-of";

/**
 * A small level-triggered controller for the tests: every ConfigMap labelled `role=source` gets a
 * `<name>-mirror` ConfigMap with the same data; a mirror whose source is gone is deleted. It reads
 * only from the cache and writes with optimistic concurrency (PUT with the cached resourceVersion),
 * so a concurrent change makes it fail with 409 and retry. `beforeWrite` lets a test interfere.
 */
export function mirrorController(
  client: KubeClient,
  configMaps: Informer<ConfigMap>,
  hooks: { beforeWrite?: (mirror: ConfigMap) => Promise<void>; reconciled?: (key: string) => void } = {},
): ControllerDefinition {
  const api = new ResourceClient<ConfigMap>(client, CoreResources.configMaps);
  return {
    name: "mirror",
    concurrency: 2,
    backoff: { baseMs: 50, maxMs: 1000 },
    watches: [
      watch(configMaps, {
        map: (cm) => {
          const meta = cm.metadata ?? {};
          const of = meta.labels?.[MIRROR_OF];
          if (of !== undefined) return [keyOf(meta.namespace, of)];
          return meta.labels?.["role"] === "source" ? [keyOf(meta.namespace, meta.name ?? "")] : [];
        },
      }),
    ],
    async reconcile({ namespace, name, key }) {
      hooks.reconciled?.(key);
      const source = configMaps.get(key);
      const mirrorName = `${name}-mirror`;
      const mirror = configMaps.get(keyOf(namespace, mirrorName));
      if (source === undefined) {
        if (mirror !== undefined)
          await api.delete(namespace, mirrorName, { uid: mirror.metadata?.uid ?? "" });
        return;
      }
      const data = source.data ?? {};
      if (mirror === undefined) {
        // If the cache has not seen our own create yet, this fails with AlreadyExists and is retried.
        await api.create({
          metadata: {
            name: mirrorName,
            ...(namespace !== undefined ? { namespace } : {}),
            labels: { [MIRROR_OF]: name },
          },
          data,
        });
        return;
      }
      if (JSON.stringify(mirror.data ?? {}) === JSON.stringify(data)) return;
      const updated: ConfigMap = { ...structuredClone(mirror), data };
      await hooks.beforeWrite?.(updated);
      await api.replace(updated);
    },
  };
}
