import { describe, expect, it } from "@jest/globals";
import dnsPacket from "dns-packet";
import {
  canonicalName,
  encodeCanonicalName,
  layout,
  rcodeName,
  readName,
  recordClassOffset,
  skipName,
  validateName,
} from "./wire.js";

describe("canonicalName", () => {
  it("lower-cases and adds exactly one trailing dot", () => {
    expect(canonicalName("Example.TEST")).toBe("example.test.");
    expect(canonicalName("example.test.")).toBe("example.test.");
    expect(canonicalName("")).toBe(".");
    expect(canonicalName(".")).toBe(".");
  });
});

describe("validateName", () => {
  it("accepts names up to the wire limits", () => {
    const label63 = "a".repeat(63);
    const longest = `${[label63, label63, label63, "a".repeat(61)].join(".")}.`;
    expect(validateName(longest)).toBe(longest);
  });

  it("rejects empty labels, labels over 63 bytes and names over 255 bytes", () => {
    expect(() => validateName("a..b")).toThrow(/empty label/);
    expect(() => validateName(`${"a".repeat(64)}.test`)).toThrow(/longer than 63/);
    const label63 = "a".repeat(63);
    expect(() => validateName([label63, label63, label63, "a".repeat(62)].join("."))).toThrow(
      /longer than 255/,
    );
  });
});

describe("encodeCanonicalName", () => {
  it("writes lower-case, uncompressed labels", () => {
    expect(encodeCanonicalName("Rig-Key.").toString("hex")).toBe("077269672d6b657900");
    expect(encodeCanonicalName("hmac-md5.sig-alg.reg.int").toString("hex")).toBe(
      "08686d61632d6d6435" + "077369672d616c67" + "03726567" + "03696e74" + "00",
    );
    expect(encodeCanonicalName(".").toString("hex")).toBe("00");
  });
});

describe("readName and skipName", () => {
  // Header, then "example.test." at 12, then "_acme-challenge" + pointer to 12.
  const buf = Buffer.concat([
    Buffer.alloc(12),
    Buffer.from("076578616d706c650474657374" + "00", "hex"),
    Buffer.from("0f5f61636d652d6368616c6c656e6765c00c", "hex"),
  ]);

  it("follows a compression pointer and returns the offset after the pointer", () => {
    expect(readName(buf, 26)).toEqual({ name: "_acme-challenge.example.test.", next: buf.length });
    expect(skipName(buf, 26)).toBe(buf.length);
    expect(readName(buf, 12)).toEqual({ name: "example.test.", next: 26 });
  });

  it("refuses pointers that do not point backwards, so a loop cannot hang it", () => {
    const loop = Buffer.from("c000", "hex");
    expect(() => readName(loop, 0)).toThrow(/backwards/);
    const selfLoop = Buffer.concat([Buffer.alloc(12), Buffer.from("c00c", "hex")]);
    expect(() => readName(selfLoop, 12)).toThrow(/backwards/);
  });

  it("refuses names that run past the end of the message", () => {
    expect(() => skipName(Buffer.from("05616263", "hex"), 0)).toThrow(RangeError);
    expect(() => readName(Buffer.from("05616263", "hex"), 0)).toThrow(RangeError);
  });
});

describe("layout", () => {
  it("finds where each record starts in every section", () => {
    const msg = dnsPacket.encode({
      type: "response",
      id: 7,
      questions: [{ type: "TXT", name: "a.example.test" }],
      answers: [{ type: "TXT", name: "a.example.test", data: "x" }],
      authorities: [{ type: "NS", name: "example.test", data: "ns1.example.test" }],
      additionals: [{ type: "A", name: "ns1.example.test", data: "127.0.0.1" }],
    });
    const l = layout(msg);
    expect(l.counts).toEqual({ qd: 1, an: 1, ns: 1, ar: 1 });
    expect(l.recordStarts).toHaveLength(3);
    expect(l.end).toBe(msg.length);
    expect(readName(msg, l.recordStarts[2]!).name).toBe("ns1.example.test.");
    expect(msg.readUInt16BE(recordClassOffset(msg, l.recordStarts[0]!))).toBe(1);
  });

  it("rejects truncated messages", () => {
    const msg = dnsPacket.encode({
      type: "query",
      id: 7,
      questions: [{ type: "TXT", name: "a.example.test" }],
    });
    expect(() => layout(msg.subarray(0, 8))).toThrow(RangeError);
    expect(() => layout(msg.subarray(0, msg.length - 2))).toThrow(RangeError);
  });
});

describe("rcodeName", () => {
  it("names the codes DNS UPDATE can answer with", () => {
    expect([0, 2, 3, 5, 9, 10].map(rcodeName)).toEqual([
      "NOERROR",
      "SERVFAIL",
      "NXDOMAIN",
      "REFUSED",
      "NOTAUTH",
      "NOTZONE",
    ]);
    expect(rcodeName(13)).toBe("RCODE13");
  });
});
