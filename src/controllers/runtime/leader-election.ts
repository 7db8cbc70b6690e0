import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { isNotFound } from "../../kube/api-errors.js";
import type { KubeClient } from "../../kube/client.js";
import { CoreResources, collectionPath, objectPath } from "../../kube/resources.js";
import type { KubeObject } from "../../kube/types.js";
import type { Logger } from "../../log.js";
import { type Clock, realClock, schedule, wait } from "./clock.js";
import { FIELD_MANAGER } from "./resource-client.js";

/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics:
 *
 * - A candidate takes the lease when it is free, released (empty holder) or expired. Expiry is
 *   judged by the candidate's own clock: `leaseDurationSeconds` after it last saw the record
 *   change, never by the holder's timestamps, so clock skew between machines does not matter.
 * - The leader renews every `retryPeriod`. If it cannot renew within `renewDeadline` of the start
 *   of its last successful renewal, it gives up leadership; since every other candidate waits at
 *   least `leaseDuration` from a moment after that renewal, the old leader has stopped before
 *   anyone else can start (leaseDuration > renewDeadline is required).
 * - On graceful shutdown the leader releases the lease (empty holder, 1 s duration), as client-go's
 *   ReleaseOnCancel does, so that a successor takes over at its next attempt.
 *
 * Two deliberate differences: the renew deadline counts from the last successful renewal's start
 * (client-go counts from the start of the failing round, up to retryPeriod later), and a candidate
 * that knows when the lease it watches will expire tries at that moment instead of at its next
 * poll, which makes a takeover after a crash take at most leaseDuration + retryPeriod.
 */

/** The spec of a Lease, as far as leader election uses it. Times are MicroTime strings. */
export interface LeaseRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** Storage of the lease: the API server in production, memory in unit tests. */
export interface LeaseLock {
  describe(): string;
  get(signal: AbortSignal): Promise<{ record: LeaseRecord; resourceVersion: string } | undefined>;
  /** Creates the lease; rejects (409) if it exists. Resolves with the new resourceVersion. */
  create(record: LeaseRecord, signal: AbortSignal): Promise<string>;
  /** Replaces the lease's spec if it is still at `resourceVersion` (else 409). */
  update(record: LeaseRecord, resourceVersion: string, signal: AbortSignal): Promise<string>;
}

interface LeaseObject extends KubeObject {
  spec?: LeaseRecord;
}

/** A LeaseLock on a real Lease object. */
export class KubeLeaseLock implements LeaseLock {
  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly name: string,
  ) {}

  describe(): string {
    return `${this.namespace}/${this.name}`;
  }

  async get(signal: AbortSignal): Promise<{ record: LeaseRecord; resourceVersion: string } | undefined> {
    try {
      const lease = await this.client.get<LeaseObject>(
        objectPath(CoreResources.leases, this.namespace, this.name),
        {
          signal,
        },
      );
      return { record: lease.spec ?? {}, resourceVersion: lease.metadata?.resourceVersion ?? "" };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async create(record: LeaseRecord, signal: AbortSignal): Promise<string> {
    const lease = await this.client.request<LeaseObject>(
      "POST",
      collectionPath(CoreResources.leases, this.namespace),
      {
        body: this.object(record),
        query: { fieldManager: FIELD_MANAGER },
        signal,
      },
    );
    return lease.metadata?.resourceVersion ?? "";
  }

  async update(record: LeaseRecord, resourceVersion: string, signal: AbortSignal): Promise<string> {
    const body = this.object(record);
    body.metadata = { ...body.metadata, resourceVersion };
    const lease = await this.client.request<LeaseObject>(
      "PUT",
      objectPath(CoreResources.leases, this.namespace, this.name),
      { body, query: { fieldManager: FIELD_MANAGER }, signal },
    );
    return lease.metadata?.resourceVersion ?? "";
  }

  private object(spec: LeaseRecord): LeaseObject {
    return {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: this.name, namespace: this.namespace },
      spec,
    };
  }
}

/** Timings, client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry period. */
export interface LeaderElectionTimings {
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

/** Settings of an elector. */
export interface LeaderElectorOptions extends LeaderElectionTimings {
  lock: LeaseLock;
  /** Unique per process; defaults to `<hostname>_<pid>_<random>`. */
  identity?: string;
  log: Logger;
  clock?: Clock;
}

/** A unique identity for this process: hostname (the pod name in a cluster), pid and a random suffix. */
export function defaultIdentity(): string {
  return `${hostname()}_${process.pid}_${randomBytes(4).toString("hex")}`;
}

/** A MicroTime as the API server writes it: RFC 3339 with six fractional digits. */
export function formatMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** Campaigns for, holds and releases one lease. */
export class LeaderElector {
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private observed: { json: string; record: LeaseRecord; at: number } | undefined;
  private lastRenewStart = 0;
  private leader = false;
  private lastSeenHolder: string | undefined;

  constructor(private readonly opts: LeaderElectorOptions) {
    this.identity = opts.identity ?? defaultIdentity();
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(
      this.leaseDurationMs > this.renewDeadlineMs &&
      this.renewDeadlineMs > this.retryPeriodMs &&
      this.retryPeriodMs > 0
    )) {
      throw new Error("leader election: need leaseDuration > renewDeadline > retryPeriod > 0");
    }
    if (this.leaseDurationMs % 1000 !== 0)
      throw new Error("leader election: leaseDuration must be whole seconds");
    this.clock = opts.clock ?? realClock;
    this.log = opts.log.child({ lease: opts.lock.describe(), identity: this.identity });
  }

  /** True between a successful acquire and a loss, stop or release. */
  isLeader(): boolean {
    return this.leader;
  }

  /** Tries until this process holds the lease (true) or `signal` aborts (false). */
  async acquire(signal: AbortSignal): Promise<boolean> {
    this.log.info("waiting to become leader");
    while (!signal.aborted) {
      const start = this.clock.now();
      if (await this.tryAcquireOrRenew(signal)) {
        this.leader = true;
        this.lastRenewStart = start;
        this.log.info("became leader");
        return true;
      }
      if (!(await wait(this.clock, this.nextAttemptDelay(), signal))) break;
    }
    return false;
  }

  /**
   * Renews the lease every retryPeriod until `signal` aborts ("stopped": the lease is still held,
   * call release) or renewal fails for renewDeadline ("lost": stop acting at once).
   */
  async keepRenewing(signal: AbortSignal): Promise<"lost" | "stopped"> {
    for (;;) {
      if (!(await wait(this.clock, this.retryPeriodMs, signal))) return "stopped";
      for (;;) {
        const deadline = this.lastRenewStart + this.renewDeadlineMs;
        const start = this.clock.now();
        if (start >= deadline) return this.lose();
        // The attempt is cut off at the deadline: a hanging request must not outlive leadership.
        const attempt = new AbortController();
        const cancel = schedule(this.clock, deadline, () => {
          attempt.abort(new Error("renew deadline reached"));
        });
        const onStop = () => {
          attempt.abort(new Error("stopped"));
        };
        signal.addEventListener("abort", onStop, { once: true });
        const ok = await this.tryAcquireOrRenew(attempt.signal);
        cancel();
        signal.removeEventListener("abort", onStop);
        if (signal.aborted) return "stopped";
        if (ok) {
          this.lastRenewStart = start;
          this.log.debug("renewed lease", { renewStart: start });
          break;
        }
        const remaining = deadline - this.clock.now();
        this.log.warn("failed to renew lease", { remainingMs: Math.max(0, remaining) });
        if (remaining <= 0) return this.lose();
        if (!(await wait(this.clock, Math.min(this.retryPeriodMs, remaining), signal))) return "stopped";
      }
    }
  }

  /**
   * Gives the lease up (empty holder, 1 s duration) if this process still holds it. Call it only
   * once nothing acts as leader any more. Resolves true when released.
   */
  async release(timeoutMs = 5000): Promise<boolean> {
    if (!this.leader) return false;
    this.leader = false;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const current = await this.opts.lock.get(signal);
      if (current?.record.holderIdentity !== this.identity) return false;
      const now = formatMicroTime(this.clock.now());
      await this.opts.lock.update(
        {
          holderIdentity: "",
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: current.record.leaseTransitions ?? 0,
        },
        current.resourceVersion,
        signal,
      );
      this.log.info("released lease");
      return true;
    } catch (err) {
      this.log.warn("could not release lease; it will expire", {
        error: err instanceof Error ? err.message : String(err),
      });
      return false;
    }
  }

  private lose(): "lost" {
    this.leader = false;
    this.log.error("leadership lost: could not renew the lease in time", {
      renewDeadlineMs: this.renewDeadlineMs,
    });
    return "lost";
  }

  /** Before the next campaign attempt: retryPeriod, or less if the observed lease expires sooner. */
  private nextAttemptDelay(): number {
    const o = this.observed;
    const holder = o?.record.holderIdentity ?? "";
    if (o === undefined || holder === "" || holder === this.identity) return this.retryPeriodMs;
    const expiresIn = o.at + this.durationOf(o.record) - this.clock.now();
    return Math.max(0, Math.min(this.retryPeriodMs, expiresIn));
  }

  private durationOf(record: LeaseRecord): number {
    return (record.leaseDurationSeconds ?? this.leaseDurationMs / 1000) * 1000;
  }

  /** One attempt, as client-go's tryAcquireOrRenew. Never throws. */
  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const lock = this.opts.lock;
    const nowStr = formatMicroTime(this.clock.now());
    const desired: LeaseRecord = {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.leaseDurationMs / 1000,
      acquireTime: nowStr,
      renewTime: nowStr,
      leaseTransitions: 0,
    };
    try {
      const current = await lock.get(signal);
      if (current === undefined) {
        await lock.create(desired, signal);
        this.observe(desired);
        return true;
      }
      this.observe(current.record);
      const holder = current.record.holderIdentity ?? "";
      if (holder !== "" && holder !== this.identity) {
        const o = this.observed;
        if (o !== undefined && o.at + this.durationOf(current.record) > this.clock.now()) return false;
      }
      if (holder === this.identity) {
        desired.acquireTime = current.record.acquireTime ?? nowStr;
        desired.leaseTransitions = current.record.leaseTransitions ?? 0;
      } else {
        desired.leaseTransitions = (current.record.leaseTransitions ?? 0) + 1;
      }
      await lock.update(desired, current.resourceVersion, signal);
      this.observe(desired);
      return true;
    } catch (err) {
      this.log.debug("lease attempt failed", { error: err instanceof Error ? err.message : String(err) });
      return false;
    }
  }

  /** Notes the record seen; its observation time moves only when the record changed. */
  private observe(record: LeaseRecord): void {
    // Field by field, so that key order or a server-side reformatting of our own write is no "change".
    const json = JSON.stringify([
      record.holderIdentity ?? "",
      record.leaseDurationSeconds,
      record.acquireTime,
      record.renewTime,
      record.leaseTransitions ?? 0,
    ]);
    if (this.observed?.json !== json) this.observed = { json, record, at: this.clock.now() };
    const holder = record.holderIdentity ?? "";
    if (holder !== this.lastSeenHolder) {
      this.lastSeenHolder = holder;
      if (holder !== this.identity)
        this.log.info("lease holder observed", { holder: holder === "" ? "(none)" : holder });
    }
  }
}
