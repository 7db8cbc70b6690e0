import { describe, expect, it } from "@jest/globals";
import { parse as parseYaml } from "yaml";
import { humanDuration, relativeTime, render, table } from "./output.js";

describe("render", () => {
  const report = { name: "web", servers: [{ server: "10.0.0.1:53", values: ["a"] }] };

  it("gives the same data in JSON and YAML, and the human text otherwise", () => {
    expect(JSON.parse(render(report, "json", () => "x"))).toEqual(report);
    expect(parseYaml(render(report, "yaml", () => "x"))).toEqual(report);
    expect(render(report, "human", () => "hello")).toBe("hello\n");
  });
});

describe("table", () => {
  it("aligns columns like kubectl, with upper-case headers and no trailing spaces", () => {
    expect(
      table(
        ["name", "state"],
        [
          ["a-long-name", "valid"],
          ["b", ""],
        ],
      ),
    ).toBe(["NAME          STATE", "a-long-name   valid", "b"].join("\n"));
  });
});

describe("humanDuration", () => {
  it.each([
    [850, "850ms"],
    [1500, "1.5s"],
    [12_000, "12s"],
    [125_000, "2m5s"],
    [3 * 3_600_000, "3h"],
    [89 * 86_400_000 + 5000, "89d"],
  ])("writes %d ms as %s", (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });

  it("says whether a time is ahead or behind", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    expect(relativeTime(new Date("2026-01-01T00:05:00Z"), now)).toBe("in 5m");
    expect(relativeTime(new Date("2025-12-31T23:59:30Z"), now)).toBe("30s ago");
  });
});
