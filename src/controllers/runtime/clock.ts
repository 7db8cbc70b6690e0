/**
 * Time as the runtime sees it. Everything that waits (queue delays, backoff, leader election,
 * informer retries) goes through a Clock, so that unit tests drive time by hand (fake-clock.ts).
 */

/** An opaque timer handle. */
export type TimerHandle = unknown;

/** Wall-clock milliseconds and one-shot timers. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

// Node fires a timer longer than 2^31-1 ms at once (with a warning): long delays are re-armed in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The process's real clock. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    return setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS));
  },
  clearTimeout: (h) => {
    clearTimeout(h as NodeJS.Timeout);
  },
};

/**
 * Calls `fn` at clock time `at`, however far away; long delays are re-armed in steps so that Node's
 * timer limit is never hit. Returns a cancel function.
 */
export function schedule(clock: Clock, at: number, fn: () => void): () => void {
  let handle: TimerHandle;
  let cancelled = false;
  const arm = () => {
    // Always through a timer, even when due: a caller never sees `fn` run inside `schedule`.
    handle = clock.setTimeout(
      () => {
        if (cancelled) return;
        if (clock.now() >= at) fn();
        else arm();
      },
      Math.min(Math.max(0, at - clock.now()), MAX_TIMER_MS),
    );
  };
  arm();
  return () => {
    cancelled = true;
    clock.clearTimeout(handle);
  };
}

/** Resolves after `ms` on `clock`, or rejects with the signal's reason when it aborts first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      cancel();
      reject(signal?.reason as Error);
    };
    const cancel = schedule(clock, clock.now() + ms, () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Like sleep, but resolves (false) instead of rejecting when the signal aborts; true when the time passed. */
export async function wait(clock: Clock, ms: number, signal?: AbortSignal): Promise<boolean> {
  try {
    await sleep(clock, ms, signal);
    return true;
  } catch {
    return false;
  }
}
