import { describe, expect, it } from "@jest/globals";
import { backoffDelay } from "./backoff.js";

describe("backoffDelay", () => {
  it("doubles from the base delay and stops at the cap", () => {
    const opts = { baseMs: 200, maxMs: 5 * 60_000, jitter: 0 };
    expect([1, 2, 3, 4, 10, 11, 12, 100, 5000].map((n) => backoffDelay(n, opts))).toEqual([
      200, 400, 800, 1600, 102_400, 204_800, 300_000, 300_000, 300_000,
    ]);
  });

  it("adds at most the jitter fraction, and never goes past the cap", () => {
    expect(backoffDelay(1, { baseMs: 100, maxMs: 1000, jitter: 0.5, random: () => 0.999 })).toBeCloseTo(
      149.95,
    );
    expect(backoffDelay(1, { baseMs: 100, maxMs: 1000, jitter: 0.5, random: () => 0 })).toBe(100);
    expect(backoffDelay(4, { baseMs: 100, maxMs: 1000, jitter: 0.5, random: () => 0.999 })).toBe(1000);
  });

  it("uses 200 ms, a 5 minute cap and 10 % jitter by default", () => {
    expect(backoffDelay(1, { random: () => 0 })).toBe(200);
    expect(backoffDelay(1, { random: () => 0.5 })).toBeCloseTo(210);
    expect(backoffDelay(50, { random: () => 0.9 })).toBe(300_000);
  });
});
