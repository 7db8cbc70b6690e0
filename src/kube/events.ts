import { randomBytes } from "node:crypto";
import type { Logger } from "../log.js";
import { describeError } from "./api-errors.js";
import type { KubeClient } from "./client.js";
import type { KubeObject } from "./types.js";

/** Normal for progress, Warning for what a person should look at. */
export type EventType = "Normal" | "Warning";

interface Recent {
  name: string;
  namespace: string;
  count: number;
  at: number;
}

/** Events repeated within this window update the first one's count instead of adding another. */
const AGGREGATE_MS = 10 * 60_000;
const MAX_RECENT = 1000;

/**
 * Records core/v1 Events about objects, as `kubectl describe` shows them. Repeats of the same
 * reason and message on the same object within ten minutes bump the count of one Event, as
 * client-go's recorder does, so a retry loop cannot flood the API server. Recording never throws
 * and never blocks a reconcile: a failed write is logged and dropped.
 */
export class EventRecorder {
  private readonly recent = new Map<string, Recent>();

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly log: Logger,
  ) {}

  /** Records one Event; returns a promise that settles when it is written (tests await it). */
  record(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    return this.write(obj, type, reason, message).catch((err: unknown) => {
      this.log.warn("could not record event", { reason, error: describeError(err) });
    });
  }

  private async write(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const meta = obj.metadata ?? {};
    const namespace = meta.namespace ?? "default";
    const id = `${meta.uid ?? meta.name ?? ""}/${type}/${reason}/${message}`;
    const now = Date.now();
    const stamp = new Date(now).toISOString();
    const seen = this.recent.get(id);
    if (seen && now - seen.at < AGGREGATE_MS) {
      seen.count += 1;
      seen.at = now;
      try {
        await this.client.request("PATCH", `/api/v1/namespaces/${seen.namespace}/events/${seen.name}`, {
          body: { count: seen.count, lastTimestamp: stamp },
          contentType: "application/merge-patch+json",
        });
        return;
      } catch {
        // The Event expired or was deleted: write a new one.
      }
    }
    const name = `${meta.name ?? "object"}.${now.toString(16)}${randomBytes(2).toString("hex")}`;
    await this.client.request("POST", `/api/v1/namespaces/${namespace}/events`, {
      body: {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: meta.name,
          namespace: meta.namespace,
          uid: meta.uid,
          resourceVersion: meta.resourceVersion,
        },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.component,
        firstTimestamp: stamp,
        lastTimestamp: stamp,
        count: 1,
      },
    });
    if (this.recent.size >= MAX_RECENT) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
    this.recent.set(id, { name, namespace, count: 1, at: now });
  }
}
