import { type Clock, realClock, sleep } from "../controllers/runtime/clock.js";

/** The client-side limit on API server requests: a steady rate and a burst, as client-go's. */
export interface RequestRateLimit {
  /** Requests per second allowed on average; 0 or less: no limit. */
  readonly qps: number;
  /** Requests allowed at once after a quiet spell (the bucket's size); at least 1. */
  readonly burst: number;
}

/**
 * cert-manager's controller defaults (`--kube-api-qps 20`, `--kube-api-burst 50`), above
 * client-go's own 5/10, which is too tight for an operator that writes status on every step.
 */
export const DEFAULT_REQUEST_RATE_LIMIT: RequestRateLimit = { qps: 20, burst: 50 };

/**
 * A token bucket in front of the API server, like client-go's flowcontrol.NewTokenBucketRateLimiter:
 * `burst` tokens at most, refilled at `qps` per second. `acquire` resolves at once while tokens are
 * left and otherwise on a timer, in the order of the calls, so a burst of reconciles is spread out
 * without blocking the event loop. Each caller reserves its token when it calls, so the waits add
 * up rather than everyone retrying at once.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly limit: RequestRateLimit,
    private readonly clock: Clock = realClock,
  ) {
    if (!(limit.burst >= 1))
      throw new Error(`the burst of a rate limit must be at least 1, not ${String(limit.burst)}`);
    this.tokens = limit.burst;
    this.last = clock.now();
  }

  /** Whether there is a limit at all. */
  get enabled(): boolean {
    return this.limit.qps > 0;
  }

  /**
   * How long the next request would wait, in ms, and takes its token (the balance may go below
   * zero: that debt is what later callers wait for).
   */
  reserve(): number {
    if (!this.enabled) return 0;
    const now = this.clock.now();
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.last) * this.limit.qps) / 1000);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.limit.qps);
  }

  /** Gives a reserved token back (its request was aborted before it was sent). */
  private refund(): void {
    this.tokens = Math.min(this.limit.burst, this.tokens + 1);
  }

  /** Waits for a token; rejects with the signal's reason if it aborts first (the token is given back). */
  async acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const wait = this.reserve();
    if (wait === 0) return;
    try {
      await sleep(this.clock, wait, signal);
    } catch (err) {
      this.refund();
      throw err;
    }
  }
}
