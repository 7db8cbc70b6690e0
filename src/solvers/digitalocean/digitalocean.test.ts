import { describe, expect, it } from "@jest/globals";
import {
  digitalOceanAccountKey,
  domainCandidates,
  nextPage,
  relativeName,
  throttleMs,
  txtDataValue,
} from "./digitalocean.js";

describe("relativeName", () => {
  it.each([
    ["_acme-challenge.www.example.test.", "example.test", "_acme-challenge.www"],
    ["_acme-challenge.Example.TEST.", "example.test.", "_acme-challenge"],
    ["example.test.", "example.test", "@"],
  ])("names %s in %s as %s", (fqdn, domain, expected) => {
    expect(relativeName(fqdn, domain)).toBe(expected);
  });

  it("refuses a name outside the domain, including one that only ends with the same letters", () => {
    expect(() => relativeName("_acme-challenge.notexample.test.", "example.test")).toThrow(/not in domain/);
  });
});

describe("domainCandidates", () => {
  it("walks the zone up to two labels", () => {
    expect(domainCandidates("a.b.example.test.")).toEqual([
      "a.b.example.test",
      "b.example.test",
      "example.test",
    ]);
  });
});

describe("txtDataValue", () => {
  it.each([
    ["abc", "abc"],
    ['"abc"', "abc"],
    ['"a\\"b"', 'a"b'],
    ['"abc" "def"', '"abc" "def"'],
  ])("reads %s as %s", (data, expected) => {
    expect(txtDataValue(data)).toBe(expected);
  });
});

describe("nextPage", () => {
  it("takes only the page number of a next link, whatever host it names", () => {
    expect(nextPage("https://api.digitalocean.com/v2/domains/x/records?page=3&per_page=200")).toBe(3);
    expect(nextPage("https://elsewhere.example/v2/domains/x/records?page=2")).toBe(2);
  });

  it.each([[undefined], [""], ["https://api.digitalocean.com/v2/domains/x/records"], ["?page=zero"]])(
    "finds no next page in %s",
    (link) => {
      expect(nextPage(link)).toBeUndefined();
    },
  );
});

describe("throttleMs", () => {
  const now = 1_700_000_000_000;
  it("prefers Retry-After", () => {
    expect(throttleMs(new Headers({ "retry-after": "12", "ratelimit-remaining": "0" }), now)).toBe(12_000);
  });

  it("waits until RateLimit-Reset when the hourly quota is spent", () => {
    const reset = String(now / 1000 + 1800);
    expect(throttleMs(new Headers({ "ratelimit-remaining": "0", "ratelimit-reset": reset }), now)).toBe(
      1_800_000,
    );
  });

  it("waits a minute when the answer says nothing", () => {
    expect(throttleMs(new Headers(), now)).toBe(60_000);
  });
});

describe("digitalOceanAccountKey", () => {
  it("keys the bucket by a hash that does not reveal the token", () => {
    const key = digitalOceanAccountKey("dop_v1_secret");
    expect(key).toMatch(/^digitalocean:[0-9a-f]{16}$/);
    expect(key).not.toContain("secret");
  });
});
