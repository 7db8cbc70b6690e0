import { describe, expect, it } from "@jest/globals";
import { cloudflareAccountKey, zoneCandidates, ZoneIdCache } from "./cloudflare.js";
import { quoteTxtContent, txtContentValue } from "./content.js";

describe("txtContentValue", () => {
  it.each([
    ["a bare value", "abc-DEF_123", "abc-DEF_123"],
    ["one quoted string", '"abc-DEF_123"', "abc-DEF_123"],
    ["strings split by the API", '"abc" "def"', "abcdef"],
    ["escaped quotes and backslashes", '"a\\"b\\\\c"', 'a"b\\c'],
    ["a decimal escape", '"a\\032b"', "a b"],
    ["surrounding whitespace", '  "abc"  ', "abc"],
    ["text after the strings, which is not a list of strings", '"abc" def', '"abc" def'],
    ["an unterminated string", '"abc', '"abc'],
    ["nothing", undefined, ""],
  ])("reads %s", (_what, content, expected) => {
    expect(txtContentValue(content)).toBe(expected);
  });

  it("reads back what quoteTxtContent writes", () => {
    for (const v of ["plain", 'with "quotes"', "back\\slash", "Zm9vYmFy-_"]) {
      expect(txtContentValue(quoteTxtContent(v))).toBe(v);
    }
  });
});

describe("zoneCandidates", () => {
  it.each([
    ["example.test.", ["example.test"]],
    ["a.b.Example.test.", ["a.b.example.test", "b.example.test", "example.test"]],
    ["test.", ["test"]],
  ])("walks %s up to two labels", (zone, expected) => {
    expect(zoneCandidates(zone)).toEqual(expected);
  });
});

describe("cloudflareAccountKey", () => {
  it("keys a token's bucket by a hash that does not reveal the token", () => {
    const key = cloudflareAccountKey({ apiToken: "secret-token-value" });
    expect(key).toMatch(/^cloudflare:[0-9a-f]{16}$/);
    expect(key).not.toContain("secret-token-value");
    expect(cloudflareAccountKey({ apiToken: "secret-token-value" })).toBe(key);
    expect(cloudflareAccountKey({ apiToken: "another" })).not.toBe(key);
  });

  it("keys a global key's bucket by the user, since the limit is per user", () => {
    const a = cloudflareAccountKey({ apiKey: "k1", email: "Admin@Example.test" });
    expect(cloudflareAccountKey({ apiKey: "k2", email: "admin@example.test" })).toBe(a);
  });
});

describe("ZoneIdCache", () => {
  it("shares one lookup among concurrent callers and keeps the result for five minutes", async () => {
    let now = 0;
    const cache = new ZoneIdCache(() => now);
    let loads = 0;
    const load = () => {
      loads++;
      return Promise.resolve({ id: "z1", name: "example.test", cacheKey: "k" });
    };
    const [a, b] = await Promise.all([cache.resolve("k", load), cache.resolve("k", load)]);
    expect(a).toEqual(b);
    expect(loads).toBe(1);
    now += 299_999;
    await cache.resolve("k", load);
    expect(loads).toBe(1);
    now += 1;
    await cache.resolve("k", load);
    expect(loads).toBe(2);
  });

  it("does not keep a failed lookup", async () => {
    const cache = new ZoneIdCache(() => 0);
    await expect(cache.resolve("k", () => Promise.reject(new Error("down")))).rejects.toThrow("down");
    await expect(
      cache.resolve("k", () => Promise.resolve({ id: "z1", name: "example.test", cacheKey: "k" })),
    ).resolves.toMatchObject({ id: "z1" });
  });

  it("forgets a deleted entry", async () => {
    const cache = new ZoneIdCache(() => 0);
    await cache.resolve("k", () => Promise.resolve({ id: "z1", name: "example.test", cacheKey: "k" }));
    cache.delete("k");
    expect(cache.get("k")).toBeUndefined();
  });
});
