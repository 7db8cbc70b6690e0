import { describe, expect, it } from "@jest/globals";
import { ariCheckDue, ariStatusAfterCheck, ariStatusAfterError, effectiveRenewalTime } from "./ari.js";

const now = new Date("2026-06-01T00:00:00Z");
const window = { start: new Date("2026-06-10T00:00:00Z"), end: new Date("2026-06-12T00:00:00Z") };

describe("ariStatusAfterCheck", () => {
  it("chooses a random second inside the window and asks again after Retry-After", () => {
    const st = ariStatusAfterCheck(
      undefined,
      { suggestedWindow: window, retryAfterMs: 3_600_000 },
      now,
      () => 0.25,
    );
    expect(st).toEqual({
      suggestedWindow: { start: "2026-06-10T00:00:00Z", end: "2026-06-12T00:00:00Z" },
      lastChecked: "2026-06-01T00:00:00Z",
      nextCheck: "2026-06-01T01:00:00Z",
      selectedRenewalTime: "2026-06-10T12:00:00Z",
    });
  });
  it("keeps the chosen time while it stays inside the window (a restart or a repeated answer)", () => {
    const first = ariStatusAfterCheck(undefined, { suggestedWindow: window }, now, () => 0.9);
    const again = ariStatusAfterCheck(first, { suggestedWindow: window }, now, () => 0.1);
    expect(again.selectedRenewalTime).toBe(first.selectedRenewalTime);
  });
  it("chooses again when the window moves away from the chosen time", () => {
    const first = ariStatusAfterCheck(undefined, { suggestedWindow: window }, now, () => 0.9);
    const moved = { start: new Date("2026-06-01T00:00:00Z"), end: new Date("2026-06-01T02:00:00Z") };
    const again = ariStatusAfterCheck(first, { suggestedWindow: moved }, now, () => 0.5);
    expect(again.selectedRenewalTime).toBe("2026-06-01T01:00:00Z");
  });
  it("renews now when the window is already past, and never before now when it has begun", () => {
    const past = { start: new Date("2026-05-01T00:00:00Z"), end: new Date("2026-05-02T00:00:00Z") };
    expect(ariStatusAfterCheck(undefined, { suggestedWindow: past }, now).selectedRenewalTime).toBe(
      "2026-06-01T00:00:00Z",
    );
    const open = { start: new Date("2026-05-01T00:00:00Z"), end: new Date("2026-06-01T10:00:00Z") };
    expect(ariStatusAfterCheck(undefined, { suggestedWindow: open }, now, () => 0).selectedRenewalTime).toBe(
      "2026-06-01T00:00:00Z",
    );
  });
  it("polls every 6 hours without Retry-After and never more often than once a minute", () => {
    expect(ariStatusAfterCheck(undefined, { suggestedWindow: window }, now).nextCheck).toBe(
      "2026-06-01T06:00:00Z",
    );
    expect(ariStatusAfterCheck(undefined, { suggestedWindow: window, retryAfterMs: 5 }, now).nextCheck).toBe(
      "2026-06-01T00:01:00Z",
    );
  });
});

describe("ariStatusAfterError", () => {
  it("keeps the last window, shows the error and waits before asking again", () => {
    const prev = ariStatusAfterCheck(undefined, { suggestedWindow: window }, now, () => 0.5);
    const later = new Date("2026-06-02T00:00:00Z");
    const st = ariStatusAfterError(prev, "connect ECONNREFUSED", later);
    expect(st.selectedRenewalTime).toBe(prev.selectedRenewalTime);
    expect(st.lastError).toBe("connect ECONNREFUSED");
    expect(st.nextCheck).toBe("2026-06-02T00:15:00Z");
  });
});

describe("effectiveRenewalTime and ariCheckDue", () => {
  const renewal = new Date("2026-06-11T00:00:00Z");
  it.each<[string, string | undefined, string, boolean]>([
    ["uses renewalTime without ARI", undefined, "2026-06-11T00:00:00.000Z", false],
    ["uses the ARI time when it is earlier", "2026-06-10T06:00:00Z", "2026-06-10T06:00:00.000Z", true],
    [
      "uses renewalTime when it comes earlier than the ARI time",
      "2026-06-11T06:00:00Z",
      "2026-06-11T00:00:00.000Z",
      false,
    ],
  ])("%s", (_n, selected, want, fromAri) => {
    const r = effectiveRenewalTime(renewal, selected ? { selectedRenewalTime: selected } : undefined);
    expect(r.at?.toISOString()).toBe(want);
    expect(r.fromAri).toBe(fromAri);
  });
  it("asks when never asked or when nextCheck has come", () => {
    expect(ariCheckDue(undefined, now)).toBe(true);
    expect(ariCheckDue({ nextCheck: "2026-06-01T00:00:01Z" }, now)).toBe(false);
    expect(ariCheckDue({ nextCheck: "2026-06-01T00:00:00Z" }, now)).toBe(true);
  });
});
