import { describe, expect, it } from "@jest/globals";
import { stateReadyConditions } from "./state-ready.js";

const T0 = new Date("2026-06-01T00:00:00Z");
const T1 = new Date("2026-06-01T00:05:00Z");

describe("the Ready condition of Orders and Challenges", () => {
  it.each([
    ["valid", undefined, "True", "Valid", "The Order is valid"],
    [undefined, undefined, "False", "Pending", "The Order is pending"],
    ["pending", "Waiting for DNS propagation", "False", "Pending", "Waiting for DNS propagation"],
    ["ready", undefined, "False", "Finalizing", "The Order is ready"],
    ["processing", undefined, "False", "Processing", "The Order is processing"],
    ["invalid", "the CA said no", "False", "Invalid", "the CA said no"],
    ["errored", "boom", "False", "Errored", "boom"],
    ["expired", undefined, "False", "Expired", "The Order is expired"],
  ])("state %s with reason %s gives Ready=%s, reason %s", (state, reason, status, condReason, message) => {
    const [ready] = stateReadyConditions("Order", [], state, reason, 1, T0);
    expect(ready).toEqual({
      type: "Ready",
      status,
      reason: condReason,
      message,
      observedGeneration: 1,
      lastTransitionTime: "2026-06-01T00:00:00Z",
    });
  });

  it("keeps the transition time while the status stays, and moves it when the status flips", () => {
    const pending = stateReadyConditions("Challenge", [], "pending", undefined, 1, T0);
    const stillPending = stateReadyConditions("Challenge", pending, "processing", undefined, 1, T1);
    expect(stillPending[0]?.lastTransitionTime).toBe("2026-06-01T00:00:00Z");
    expect(stillPending[0]?.reason).toBe("Processing");
    const valid = stateReadyConditions("Challenge", stillPending, "valid", undefined, 1, T1);
    expect(valid[0]).toMatchObject({ status: "True", lastTransitionTime: "2026-06-01T00:05:00Z" });
  });
});
