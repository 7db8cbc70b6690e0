/**
 * Capped exponential backoff: `base * 2^(failures-1)`, at most `max`, optionally stretched by up to
 * `jitter` (a fraction) so that keys that failed together do not retry in lockstep.
 */

/** Backoff settings. */
export interface BackoffOptions {
  /** Delay after the first failure. Default 200 ms. */
  baseMs?: number;
  /** Upper bound. Default 5 minutes. */
  maxMs?: number;
  /** Up to this fraction is added at random. Default 0.1; 0 makes delays exact. */
  jitter?: number;
  /** Source of randomness in [0, 1), injectable for tests. */
  random?: () => number;
}

/** The defaults: 200 ms, doubling, capped at 5 minutes, 10 % jitter. */
export const DEFAULT_BACKOFF = { baseMs: 200, maxMs: 5 * 60_000, jitter: 0.1 } as const;

/** The delay before retry number `failures` (1 for the first failure). */
export function backoffDelay(failures: number, opts: BackoffOptions = {}): number {
  const base = opts.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const max = opts.maxMs ?? DEFAULT_BACKOFF.maxMs;
  const jitter = opts.jitter ?? DEFAULT_BACKOFF.jitter;
  const random = opts.random ?? Math.random;
  // 2^exponent overflows to Infinity long after the cap is reached; Math.min handles it.
  const exp = base * 2 ** Math.max(0, failures - 1);
  const withJitter = exp * (1 + jitter * random());
  return Math.min(max, withJitter);
}
