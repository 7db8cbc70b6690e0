import { EventRecorder, type EventType } from "../../kube/events.js";
import type { KubeObject } from "../../kube/types.js";
import { silentLogger } from "../../log.js";
import { FakeCluster } from "./fake-cluster.js";

/** One Event as a controller recorded it. */
export interface RecordedEvent {
  readonly kind: string | undefined;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly uid: string | undefined;
  readonly type: EventType;
  readonly reason: string;
  readonly message: string;
}

/**
 * An EventRecorder that keeps Events in memory, synchronously and in order, instead of writing
 * them to the API server. It is an `EventRecorder` (a subclass), so it fits every controller's
 * `events` dependency unchanged. To test the real recorder's writes, give controllers
 * `new EventRecorder(cluster.client, ...)` and read `CoreEvents` from the FakeCluster instead.
 */
export class FakeEventRecorder extends EventRecorder {
  /** Every Event recorded, oldest first. */
  readonly events: RecordedEvent[] = [];

  constructor() {
    super(new FakeCluster().client, "dns01-operator-test", silentLogger());
  }

  override record(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    this.events.push({
      kind: obj.kind,
      namespace: obj.metadata?.namespace,
      name: obj.metadata?.name,
      uid: obj.metadata?.uid,
      type,
      reason,
      message,
    });
    return Promise.resolve();
  }

  /** Events about one object, by kind and name (and namespace when given). */
  about(kind: string, name: string, namespace?: string): RecordedEvent[] {
    return this.events.filter(
      (e) => e.kind === kind && e.name === name && (namespace === undefined || e.namespace === namespace),
    );
  }

  /** Events with a reason. */
  withReason(reason: string): RecordedEvent[] {
    return this.events.filter((e) => e.reason === reason);
  }

  /** Forgets what was recorded (between the steps of one test). */
  clear(): void {
    this.events.length = 0;
  }
}
