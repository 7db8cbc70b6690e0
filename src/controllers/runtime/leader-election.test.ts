import { describe, expect, it } from "@jest/globals";
import { silentLogger } from "../../log.js";
import { FakeClock, flushPromises } from "./fake-clock.js";
import { MemoryLeaseLock as MemoryLock } from "./fake-lease-lock.js";
import { LeaderElector, type LeaseLock, formatMicroTime } from "./leader-election.js";

const timings = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

function elector(lock: LeaseLock, clock: FakeClock, identity: string) {
  return new LeaderElector({ lock, clock, identity, log: silentLogger(), ...timings });
}

describe("LeaderElector", () => {
  it("takes a free lease at once and records itself as holder", async () => {
    const clock = new FakeClock();
    const lock = new MemoryLock();
    const a = elector(lock, clock, "a");
    expect(await a.acquire(new AbortController().signal)).toBe(true);
    expect(a.isLeader()).toBe(true);
    expect(lock.stored?.record).toEqual({
      holderIdentity: "a",
      leaseDurationSeconds: 15,
      acquireTime: formatMicroTime(clock.now()),
      renewTime: formatMicroTime(clock.now()),
      leaseTransitions: 0,
    });
  });

  it("keeps a second candidate out while the leader renews, then lets it in one lease duration after the last renewal", async () => {
    const clock = new FakeClock();
    const lock = new MemoryLock();
    const a = elector(lock, clock, "a");
    const b = elector(lock, clock, "b");
    await a.acquire(new AbortController().signal);
    const aRenew = new AbortController();
    const aResult = a.keepRenewing(aRenew.signal);

    let bLeads = false;
    void b.acquire(new AbortController().signal).then((ok) => (bLeads = ok));
    await clock.advance(60_000);
    expect(bLeads).toBe(false);
    expect(lock.holder()).toBe("a");

    // "a" crashes: it stops renewing without releasing.
    const lastRenew = lock.stored?.record.renewTime;
    aRenew.abort();
    expect(await aResult).toBe("stopped");
    const lastRenewMs = Date.parse(lastRenew ?? "");
    await clock.advance(14_000);
    expect(bLeads).toBe(false);
    await clock.advance(4_000);
    expect(bLeads).toBe(true);
    expect(lock.holder()).toBe("b");
    expect(lock.stored?.record.leaseTransitions).toBe(1);
    const takeover = Date.parse(lock.stored?.record.acquireTime ?? "");
    // Never before the lease could have run out, and no later than one retry period after.
    expect(takeover - lastRenewMs).toBeGreaterThanOrEqual(timings.leaseDurationMs);
    expect(takeover - lastRenewMs).toBeLessThanOrEqual(timings.leaseDurationMs + timings.retryPeriodMs);
  });

  it("gives up leadership when it cannot renew within the renew deadline, before the lease runs out", async () => {
    const clock = new FakeClock();
    const lock = new MemoryLock();
    const a = elector(lock, clock, "a");
    await a.acquire(new AbortController().signal);
    const renewing = a.keepRenewing(new AbortController().signal);
    await clock.advance(6_000); // renewed at 2 s, 4 s, 6 s
    const lastRenew = Date.parse(lock.stored?.record.renewTime ?? "");
    lock.mode = "fail";
    let result: string | undefined;
    void renewing.then((r) => (result = r));
    await clock.advance(9_999);
    expect(result).toBeUndefined();
    await clock.advance(1);
    expect(result).toBe("lost");
    expect(a.isLeader()).toBe(false);
    expect(clock.now() - lastRenew).toBe(timings.renewDeadlineMs);
    expect(clock.now() - lastRenew).toBeLessThan(timings.leaseDurationMs);
  });

  it("cuts off a renewal that hangs at the renew deadline", async () => {
    const clock = new FakeClock();
    const lock = new MemoryLock();
    const a = elector(lock, clock, "a");
    await a.acquire(new AbortController().signal);
    const start = clock.now();
    let result: string | undefined;
    void a.keepRenewing(new AbortController().signal).then((r) => (result = r));
    lock.mode = "hang";
    await clock.advance(timings.renewDeadlineMs - 1);
    expect(result).toBeUndefined();
    await clock.advance(1);
    expect(result).toBe("lost");
    expect(clock.now() - start).toBe(timings.renewDeadlineMs);
  });

  it("rides out renewal failures shorter than the renew deadline", async () => {
    const clock = new FakeClock();
    const lock = new MemoryLock();
    const a = elector(lock, clock, "a");
    await a.acquire(new AbortController().signal);
    const stop = new AbortController();
    let result: string | undefined;
    void a.keepRenewing(stop.signal).then((r) => (result = r));
    await clock.advance(2_000);
    lock.mode = "fail";
    await clock.advance(7_000);
    lock.mode = "ok";
    await clock.advance(30_000);
    expect(result).toBeUndefined();
    expect(a.isLeader()).toBe(true);
    stop.abort();
    await flushPromises();
    expect(result).toBe("stopped");
  });

  it("releases the lease so that a waiting candidate takes it at its next attempt", async () => {
    const clock = new FakeClock();
    const lock = new MemoryLock();
    const a = elector(lock, clock, "a");
    const b = elector(lock, clock, "b");
    await a.acquire(new AbortController().signal);
    let bLeads = false;
    void b.acquire(new AbortController().signal).then((ok) => (bLeads = ok));
    await clock.advance(5_000);
    expect(await a.release()).toBe(true);
    expect(lock.stored?.record.holderIdentity).toBe("");
    expect(lock.stored?.record.leaseDurationSeconds).toBe(1);
    const released = clock.now();
    await clock.advance(timings.retryPeriodMs);
    expect(bLeads).toBe(true);
    expect(Date.parse(lock.stored?.record.acquireTime ?? "") - released).toBeLessThanOrEqual(
      timings.retryPeriodMs,
    );
  });

  it("does not release a lease that someone else holds now", async () => {
    const clock = new FakeClock();
    const lock = new MemoryLock();
    const a = elector(lock, clock, "a");
    await a.acquire(new AbortController().signal);
    lock.stored = { record: { holderIdentity: "z", leaseDurationSeconds: 15 }, resourceVersion: "99" };
    expect(await a.release()).toBe(false);
    expect(lock.holder()).toBe("z");
  });

  it("refuses timings that could let two leaders overlap", () => {
    const lock = new MemoryLock();
    const log = silentLogger();
    expect(
      () => new LeaderElector({ lock, log, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }),
    ).toThrow();
    expect(() => new LeaderElector({ lock, log, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toThrow();
  });
});
