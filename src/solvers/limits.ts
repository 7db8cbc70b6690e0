import { TemporaryError } from "../errors.js";
import type { ProviderRateLimit } from "./provider.js";

/**
 * A token bucket: `capacity` tokens, refilled continuously at `capacity / perMs`. `take` never
 * waits: it returns 0 when a token was taken, else how long until one will be there, so that a
 * reconcile can give its worker back and requeue after that delay (workers never sleep).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly capacity: number,
    private readonly perMs: number,
    private readonly now: () => number = Date.now,
    /** Told of every wait this bucket imposes (for the rate-limit-wait metric); must not throw. */
    private readonly onWait?: (ms: number, cause: RateLimitWaitCause) => void,
  ) {
    this.tokens = capacity;
    this.last = now();
  }

  /** Takes `n` tokens if there are; returns 0, or the milliseconds until there will be. */
  take(n = 1): number {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) * this.capacity) / this.perMs);
    this.last = t;
    if (this.tokens >= n) {
      this.tokens -= n;
      return 0;
    }
    const wait = Math.ceil(((n - this.tokens) * this.perMs) / this.capacity);
    this.onWait?.(wait, "client");
    return wait;
  }

  /** Empties the bucket until `ms` from now: the provider said to back off (429, Retry-After). */
  drainFor(ms: number): void {
    this.tokens = -((ms * this.capacity) / this.perMs);
    this.last = this.now();
    this.onWait?.(ms, "provider");
  }
}

/**
 * Why a caller waits: our own bucket ran dry (`client`), or the provider throttled us and said how
 * long to back off (`provider`, a 429 or Retry-After that drained the bucket).
 */
export type RateLimitWaitCause = "client" | "provider";

/** One wait imposed by a bucket: whose account, under which documented limit, how long and why. */
export interface RateLimitWait {
  readonly key: string;
  readonly limit: ProviderRateLimit;
  readonly ms: number;
  readonly cause: RateLimitWaitCause;
}

/**
 * One token bucket per provider account (keyed by provider and a non-secret account id, such as
 * a key ID or a hash of a token), shared by every reconcile of the process, sized from the
 * provider's documented limit.
 */
export class RateLimits {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly listeners = new Set<(wait: RateLimitWait) => void>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The bucket of one account. */
  bucket(key: string, limit: ProviderRateLimit): TokenBucket {
    let b = this.buckets.get(key);
    if (!b) {
      b = new TokenBucket(limit.requests, limit.perMs, this.now, (ms, cause) => {
        this.emit({ key, limit, ms, cause });
      });
      this.buckets.set(key, b);
    }
    return b;
  }

  /**
   * Subscribes to every wait any bucket imposes (the metrics of each operator instance in the
   * process subscribe, since the buckets are process-wide); returns the unsubscribe function.
   */
  onWait(listener: (wait: RateLimitWait) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private emit(wait: RateLimitWait): void {
    for (const l of this.listeners) {
      try {
        l(wait);
      } catch {
        // A metrics listener must not break a provider call.
      }
    }
  }

  /**
   * Takes `n` tokens (the calls one operation makes) or throws a TemporaryError carrying the wait, which the work
   * queue turns into a delayed requeue.
   */
  acquire(key: string, limit: ProviderRateLimit, what: string, n = 1): void {
    // Reserve every call an operation makes at once: taking them one by one after a drain would
    // let each requeue through for one call and refuse the next, forever.
    const wait = this.bucket(key, limit).take(n);
    if (wait > 0) {
      throw new TemporaryError(
        `${what}: client-side rate limit for this account; retrying in ${wait} ms`,
        wait,
      );
    }
  }
}

/** The process-wide limits: every provider instance of one account shares its bucket. */
export const rateLimits = new RateLimits();

/**
 * Parses an HTTP Retry-After header (seconds or an HTTP date) into milliseconds; undefined when
 * absent or unreadable.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined || value.trim() === "") return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
