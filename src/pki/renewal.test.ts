import { describe, expect, it } from "@jest/globals";
import { formatGoDuration, parseGoDuration, renewalTime } from "./renewal.js";

const S = 1000;
const M = 60 * S;
const H = 60 * M;

describe("renewalTime", () => {
  // The same scenarios as cert-manager's pkg/util/pki/renewaltime_test.go.
  const now = new Date("2025-06-01T12:00:00Z").getTime();
  const at = (ms: number) => new Date(now + ms);
  it.each<[string, number, number | undefined, number | undefined, number]>([
    ["a 3h certificate without renewBefore renews after 2h", 3 * H, undefined, undefined, 2 * H],
    [
      "a 6-month certificate without renewBefore renews after 4 months",
      4380 * H,
      undefined,
      undefined,
      2920 * H,
    ],
    ["renewBefore 20h on a 24h certificate renews after 4h", 24 * H, 20 * H, undefined, 4 * H],
    ["renewBefore of a month less a day renews daily", 730 * H, 706 * H, undefined, 24 * H],
    ["renewBefore longer than the lifetime falls back to two thirds", 24 * H, 25 * H, undefined, 16 * H],
    ["renewBefore equal to the lifetime falls back to two thirds", 24 * H, 24 * H, undefined, 16 * H],
    [
      "renewBefore slightly under the lifetime renews almost at once",
      24 * H + 3 * M,
      24 * H,
      undefined,
      3 * M,
    ],
    ["renewBeforePercentage 30 on a month renews at 70%", 730 * H, undefined, 30, 511 * H],
    ["renewBeforePercentage 25 on 3h renews after 2h15m", 3 * H, undefined, 25, 2 * H + 15 * M],
    ["renewBeforePercentage 100 is ignored", 3 * H, undefined, 100, 2 * H],
    ["renewBeforePercentage 0 is ignored", 3 * H, undefined, 0, 2 * H],
    ["renewBefore wins over renewBeforePercentage", 3 * H, 1 * H, 50, 2 * H],
    [
      "a lifetime skewed by a second is truncated to the second",
      24 * H - S,
      undefined,
      undefined,
      16 * H - S,
    ],
    [
      "a lifetime not divisible by three is truncated to the second",
      90 * 24 * H + 1 * S,
      undefined,
      undefined,
      60 * 24 * H,
    ],
  ])("%s", (_what, lifetime, renewBefore, renewBeforePercentage, want) => {
    expect(
      renewalTime({ notBefore: at(0), notAfter: at(lifetime), renewBefore, renewBeforePercentage }),
    ).toEqual(at(want));
  });

  it("truncates to whole seconds even when notBefore and notAfter carry milliseconds", () => {
    const t = renewalTime({ notBefore: new Date(now + 123), notAfter: new Date(now + 123 + 3 * H) });
    expect(t.getTime() % 1000).toBe(0);
    expect(t).toEqual(at(2 * H));
  });

  it("does not lose precision on a ten-year certificate with renewBeforePercentage 99", () => {
    const tenYears = 10 * 365 * 24 * H;
    expect(renewalTime({ notBefore: at(0), notAfter: at(tenYears), renewBeforePercentage: 99 })).toEqual(
      at(tenYears / 100),
    );
  });
});

describe("parseGoDuration", () => {
  it.each<[string, number]>([
    ["2160h", 2160 * H],
    ["2160h30m", 2160 * H + 30 * M],
    ["1h0m0s", H],
    ["90m", 90 * M],
    ["1.5h", 90 * M],
    [".5s", 500],
    ["1.s", 1000],
    ["300ms", 300],
    ["1500us", 1.5],
    ["1500µs", 1.5],
    ["1500μs", 1.5],
    ["2000000ns", 2],
    ["0", 0],
    ["-1h", -H],
    ["+5m", 5 * M],
    ["1h1h", 2 * H],
  ])("reads %p as %p ms", (text, ms) => {
    expect(parseGoDuration(text)).toBeCloseTo(ms, 9);
  });

  it.each(["", "h", "1", "1.5", "1d", "1 h", "1h 30m", "-", ".", ".s", "1hx", "h1"])("refuses %p", (text) => {
    expect(() => parseGoDuration(text)).toThrow(/duration/);
  });

  it("says a unit is missing when it is", () => {
    expect(() => parseGoDuration("30")).toThrow('missing unit in duration "30"');
  });
});

describe("formatGoDuration", () => {
  it.each<[number, string]>([
    [0, "0s"],
    [2160 * H, "2160h0m0s"],
    [90 * M, "1h30m0s"],
    [90 * S, "1m30s"],
    [1500, "1.5s"],
    [500, "500ms"],
    [1.5, "1.5ms"],
    [0.0015, "1.5µs"],
    [0.000001, "1ns"],
    [-H, "-1h0m0s"],
  ])("writes %p ms as %p, which parses back", (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
    expect(parseGoDuration(text)).toBeCloseTo(ms, 9);
  });
});
