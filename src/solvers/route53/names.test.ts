import { describe, expect, it } from "@jest/globals";
import {
  bareChangeId,
  bareZoneId,
  canonicalRoute53Name,
  decodeTxt,
  encodeTxt,
  pickHostedZone,
  type HostedZoneSummary,
} from "./names.js";

describe("decodeTxt", () => {
  it.each([
    ['"abc"', "abc"],
    ['"part1" "part2"', "part1part2"],
    ['"with \\"quotes\\" and \\\\"', 'with "quotes" and \\'],
    ['"octal \\052 star"', "octal * star"],
    ["unquoted", "unquoted"],
    ['""', ""],
  ])("decodes %s", (raw, text) => {
    expect(decodeTxt(raw)).toBe(text);
  });
});

describe("encodeTxt", () => {
  it("quotes a DNS-01 value as it is", () => {
    const v = "Yf8D4mYHcY9xJ1v0nH0c7t7wG8jz8wOjG1b3Kx9sQ2A";
    expect(encodeTxt(v)).toBe(`"${v}"`);
  });

  it("escapes quotes and backslashes, and round-trips through decodeTxt", () => {
    const v = 'a "b" \\c';
    expect(encodeTxt(v)).toBe('"a \\"b\\" \\\\c"');
    expect(decodeTxt(encodeTxt(v))).toBe(v);
  });

  it("splits a value longer than 255 characters into several strings", () => {
    const v = "x".repeat(300);
    expect(encodeTxt(v)).toBe(`"${"x".repeat(255)}" "${"x".repeat(45)}"`);
    expect(decodeTxt(encodeTxt(v))).toBe(v);
  });
});

describe("canonicalRoute53Name", () => {
  it.each([
    ["Example.TEST", "example.test."],
    ["example.test.", "example.test."],
    ["\\052.example.test.", "*.example.test."],
  ])("turns %s into %s", (raw, name) => {
    expect(canonicalRoute53Name(raw)).toBe(name);
  });
});

describe("pickHostedZone", () => {
  const zones: HostedZoneSummary[] = [
    { id: "PRIVATE", name: "sub.example.test.", privateZone: true },
    { id: "APEX", name: "example.test.", privateZone: false },
    { id: "SUB", name: "sub.example.test.", privateZone: false },
    { id: "DEEP", name: "deep.sub.example.test.", privateZone: false },
    { id: "LOOKALIKE", name: "notexample.test.", privateZone: false },
    { id: "SECOND", name: "sub.example.test.", privateZone: false },
  ];

  it.each([
    ["_acme-challenge.example.test.", "APEX"],
    ["_acme-challenge.www.example.test.", "APEX"],
    ["_acme-challenge.sub.example.test.", "SUB"],
    ["_acme-challenge.a.deep.sub.example.test.", "DEEP"],
    ["_acme-challenge.notexample.test.", "LOOKALIKE"],
    ["_ACME-challenge.Sub.Example.Test", "SUB"],
    ["_acme-challenge.other.test.", undefined],
  ])("puts %s in the longest public zone that holds it (%s)", (fqdn, id) => {
    expect(pickHostedZone(fqdn, zones)?.id).toBe(id);
  });

  it("skips private zones even when they are the only match", () => {
    const onlyPrivate: HostedZoneSummary[] = [
      { id: "PRIVATE", name: "sub.example.test.", privateZone: true },
    ];
    expect(pickHostedZone("_acme-challenge.sub.example.test.", onlyPrivate)).toBeUndefined();
  });
});

describe("IDs", () => {
  it("strips the prefixes Route 53 puts on zone and change IDs", () => {
    expect(bareZoneId("/hostedzone/Z123")).toBe("Z123");
    expect(bareZoneId("Z123")).toBe("Z123");
    expect(bareChangeId("/change/C9")).toBe("C9");
  });
});
