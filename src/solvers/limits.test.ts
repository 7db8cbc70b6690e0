import { describe, expect, it } from "@jest/globals";
import { RateLimits, type RateLimitWait, TokenBucket } from "./limits.js";

const LIMIT = { requests: 2, perMs: 1000, source: "https://example.test/limits" };

describe("TokenBucket", () => {
  it("gives tokens while there are, then says how long until the next", () => {
    let now = 0;
    const b = new TokenBucket(2, 1000, () => now);
    expect(b.take()).toBe(0);
    expect(b.take()).toBe(0);
    expect(b.take()).toBe(500);
    now = 500;
    expect(b.take()).toBe(0);
  });
});

describe("RateLimits waits", () => {
  it("tells every listener of our own bucket's waits and of the provider's back-off, with key and limit", () => {
    let now = 0;
    const limits = new RateLimits(() => now);
    const waits: RateLimitWait[] = [];
    const stop = limits.onWait((w) => waits.push(w));
    const b = limits.bucket("acct", LIMIT);
    b.take(2);
    expect(b.take()).toBe(500);
    b.drainFor(3000);
    expect(waits).toEqual([
      { key: "acct", limit: LIMIT, ms: 500, cause: "client" },
      { key: "acct", limit: LIMIT, ms: 3000, cause: "provider" },
    ]);
    stop();
    now = 100;
    b.take();
    expect(waits).toHaveLength(2);
  });

  it("still refuses with the wait when a listener throws", () => {
    const limits = new RateLimits(() => 0);
    limits.onWait(() => {
      throw new Error("broken metrics");
    });
    limits.acquire("acct", LIMIT, "test", 2);
    expect(() => {
      limits.acquire("acct", LIMIT, "test");
    }).toThrow(/retrying in 500 ms/);
  });
});
