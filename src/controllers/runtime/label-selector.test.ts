import { describe, expect, it } from "@jest/globals";
import { matchesSelector, parseSelector, selectorToString } from "./label-selector.js";

describe("label selectors", () => {
  const labels = { app: "web", tier: "front", env: "prod" };

  it.each([
    ["", true],
    ["app=web", true],
    ["app==web", true],
    ["app=db", false],
    ["app!=db", true],
    ["missing!=x", true],
    ["app,tier", true],
    ["!missing", true],
    ["!app", false],
    ["env in (prod, staging)", true],
    ["env notin (prod)", false],
    ["missing notin (a)", true],
    ["app=web,tier=back", false],
    ["app = web , env in (prod)", true],
  ])("matches %j against the labels as the API server would (%s)", (sel, expected) => {
    expect(matchesSelector(labels, sel)).toBe(expected);
  });

  it("matches the object form with matchLabels and matchExpressions", () => {
    expect(
      matchesSelector(labels, {
        matchLabels: { app: "web" },
        matchExpressions: [
          { key: "env", operator: "In", values: ["prod"] },
          { key: "legacy", operator: "DoesNotExist" },
        ],
      }),
    ).toBe(true);
    expect(
      matchesSelector(labels, { matchExpressions: [{ key: "tier", operator: "NotIn", values: ["front"] }] }),
    ).toBe(false);
  });

  it("writes the object form as a string the parser reads back to the same requirements", () => {
    const text = selectorToString({
      matchLabels: { app: "web" },
      matchExpressions: [
        { key: "env", operator: "In", values: ["a", "b"] },
        { key: "x", operator: "Exists" },
        { key: "y", operator: "DoesNotExist" },
      ],
    });
    expect(text).toBe("app=web,env in (a,b),x,!y");
    expect(parseSelector(text)).toHaveLength(4);
  });

  it("rejects syntax it does not understand rather than matching everything", () => {
    expect(() => parseSelector("replicas > 3")).toThrow(/cannot parse/);
    expect(() => parseSelector("app=web,")).toThrow(/trailing comma/);
  });
});
