import { describe, expect, it } from "@jest/globals";
import {
  type Condition,
  conditionsEqual,
  getCondition,
  isFalse,
  isTrue,
  removeCondition,
  setCondition,
} from "./conditions.js";

const t0 = new Date("2025-03-01T10:00:00.123Z");
const t1 = new Date("2025-03-01T11:30:00.999Z");

describe("setCondition", () => {
  it("adds a new condition with the transition time set to now, in whole seconds", () => {
    const out = setCondition(
      undefined,
      { type: "Ready", status: "False", reason: "Pending", message: "waiting" },
      t0,
    );
    expect(out).toEqual([
      {
        type: "Ready",
        status: "False",
        reason: "Pending",
        message: "waiting",
        lastTransitionTime: "2025-03-01T10:00:00Z",
      },
    ]);
  });

  it("keeps the transition time when the status stays the same, even if reason, message and generation change", () => {
    const a = setCondition(
      [],
      { type: "Ready", status: "False", reason: "Pending", message: "a", observedGeneration: 1 },
      t0,
    );
    const b = setCondition(
      a,
      { type: "Ready", status: "False", reason: "Failed", message: "b", observedGeneration: 2 },
      t1,
    );
    expect(b).toEqual([
      {
        type: "Ready",
        status: "False",
        reason: "Failed",
        message: "b",
        observedGeneration: 2,
        lastTransitionTime: "2025-03-01T10:00:00Z",
      },
    ]);
  });

  it("moves the transition time when the status changes", () => {
    const a = setCondition([], { type: "Ready", status: "False", reason: "Pending", message: "" }, t0);
    const b = setCondition(a, { type: "Ready", status: "True", reason: "Issued", message: "" }, t1);
    expect(getCondition(b, "Ready")?.lastTransitionTime).toBe("2025-03-01T11:30:00Z");
  });

  it("keeps the other conditions and their order, and never modifies its input", () => {
    const input: Condition[] = [
      {
        type: "Issuing",
        status: "True",
        reason: "Renewing",
        message: "",
        lastTransitionTime: "2025-01-01T00:00:00Z",
      },
      {
        type: "Ready",
        status: "True",
        reason: "Issued",
        message: "",
        lastTransitionTime: "2025-01-01T00:00:00Z",
      },
    ];
    const frozen = Object.freeze(input.map((c) => Object.freeze({ ...c })));
    const out = setCondition(frozen, { type: "Issuing", status: "False", reason: "Done", message: "" }, t1);
    expect(out.map((c) => c.type)).toEqual(["Issuing", "Ready"]);
    expect(out[0]?.status).toBe("False");
    expect(out[1]).toEqual(input[1]);
    expect(frozen[0]?.status).toBe("True");
  });

  it("rejects a reason that is not CamelCase", () => {
    expect(() =>
      setCondition([], { type: "Ready", status: "False", reason: "not ok", message: "" }, t0),
    ).toThrow(/CamelCase/);
  });
});

describe("condition queries", () => {
  const conds = setCondition(
    setCondition(
      [],
      { type: "Ready", status: "True", reason: "Issued", message: "", observedGeneration: 3 },
      t0,
    ),
    { type: "Issuing", status: "False", reason: "Done", message: "" },
    t0,
  );

  it("tells True, False and absent apart", () => {
    expect(isTrue(conds, "Ready")).toBe(true);
    expect(isTrue(conds, "Issuing")).toBe(false);
    expect(isFalse(conds, "Issuing")).toBe(true);
    expect(isTrue(conds, "Missing")).toBe(false);
    expect(isFalse(conds, "Missing")).toBe(false);
    expect(isTrue(undefined, "Ready")).toBe(false);
  });

  it("does not count a True condition observed for another generation", () => {
    expect(isTrue(conds, "Ready", 3)).toBe(true);
    expect(isTrue(conds, "Ready", 4)).toBe(false);
  });

  it("removes a condition and compares lists regardless of order", () => {
    expect(removeCondition(conds, "Ready").map((c) => c.type)).toEqual(["Issuing"]);
    expect(conditionsEqual(conds, [...conds].reverse())).toBe(true);
    expect(conditionsEqual(conds, removeCondition(conds, "Ready"))).toBe(false);
    const again = setCondition(
      conds,
      { type: "Ready", status: "True", reason: "Issued", message: "", observedGeneration: 3 },
      t1,
    );
    expect(conditionsEqual(conds, again)).toBe(true);
  });
});
