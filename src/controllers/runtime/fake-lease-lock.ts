import { KubeApiError } from "../../kube/client.js";
import type { LeaseLock, LeaseRecord } from "./leader-election.js";

/**
 * A lease in memory, with optimistic concurrency like the API server's, that can fail or hang on
 * demand: for unit tests of leader election and of the manager.
 */
export class MemoryLeaseLock implements LeaseLock {
  stored: { record: LeaseRecord; resourceVersion: string } | undefined;
  private rv = 1;
  /** "ok", "fail" (reject at once) or "hang" (never answer until aborted). */
  mode: "ok" | "fail" | "hang" = "ok";

  /** The lease's name in logs. */
  describe(): string {
    return "test/lease";
  }

  get(signal: AbortSignal) {
    return this.answer(signal, () => (this.stored ? structuredClone(this.stored) : undefined));
  }

  create(record: LeaseRecord, signal: AbortSignal) {
    return this.answer(signal, () => {
      if (this.stored)
        throw new KubeApiError("POST", "/leases", 409, { code: 409, reason: "AlreadyExists" }, {});
      this.stored = { record: structuredClone(record), resourceVersion: String(++this.rv) };
      return this.stored.resourceVersion;
    });
  }

  update(record: LeaseRecord, resourceVersion: string, signal: AbortSignal) {
    return this.answer(signal, () => {
      if (this.stored?.resourceVersion !== resourceVersion) {
        throw new KubeApiError("PUT", "/leases", 409, { code: 409, reason: "Conflict" }, {});
      }
      this.stored = { record: structuredClone(record), resourceVersion: String(++this.rv) };
      return this.stored.resourceVersion;
    });
  }

  /** The current holder, if the lease exists. */
  holder(): string | undefined {
    return this.stored?.record.holderIdentity;
  }

  private answer<T>(signal: AbortSignal, fn: () => T): Promise<T> {
    if (this.mode === "fail") return Promise.reject(new Error("connect ECONNREFUSED"));
    if (this.mode === "hang") {
      return new Promise((_, reject) => {
        signal.addEventListener("abort", () => {
          reject(new Error("aborted"));
        });
      });
    }
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
