import { describe, expect, it } from "@jest/globals";
import { KeyedLock, relativeTo, unquoteTxt } from "./rest.js";

describe("KeyedLock", () => {
  it("runs one holder at a time per key, in arrival order, and keys apart in parallel", async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = lock.run("a", async () => {
      events.push("a1 start");
      await gate;
      events.push("a1 end");
    });
    const second = lock.run("a", () => {
      events.push("a2");
      return Promise.resolve();
    });
    const other = lock.run("b", () => {
      events.push("b");
      return Promise.resolve();
    });
    await other;
    expect(events).toEqual(["a1 start", "b"]);
    release();
    await Promise.all([first, second]);
    expect(events).toEqual(["a1 start", "b", "a1 end", "a2"]);
  });

  it("lets the next holder run after one that failed", async () => {
    const lock = new KeyedLock();
    await expect(lock.run("k", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(lock.run("k", () => Promise.resolve(7))).resolves.toBe(7);
  });
});

describe("name helpers", () => {
  it("gives a name relative to its domain, @ for the apex", () => {
    expect(relativeTo("_acme-challenge.WWW.example.com.", "example.com")).toBe("_acme-challenge.www");
    expect(relativeTo("example.com.", "example.com.")).toBe("@");
    expect(() => relativeTo("a.example.org.", "example.com")).toThrow("is not in domain");
  });

  it("unquotes a TXT value written with quotes, and leaves others alone", () => {
    expect(unquoteTxt('"abc\\"d"')).toBe('abc"d');
    expect(unquoteTxt("abc")).toBe("abc");
  });
});
