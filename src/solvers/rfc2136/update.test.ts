import { describe, expect, it } from "@jest/globals";
import dnsPacket from "dns-packet";
import { layout, readName, recordClassOffset } from "../../dns/wire.js";
import { encodeTxtUpdate, txtChunks } from "./update.js";

const base = {
  id: 0xbeef,
  zone: "example.test.",
  fqdn: "_acme-challenge.www.example.test.",
  value: "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0",
  ttl: 60,
} as const;

/** The class, TTL and RDATA of the single update record. */
function updateRecord(packet: Buffer): {
  klass: number;
  ttl: number;
  type: number;
  rdata: Buffer;
  name: string;
} {
  const start = layout(packet).recordStarts[0]!;
  const { name, next } = readName(packet, start);
  const rdlength = packet.readUInt16BE(next + 8);
  return {
    name,
    type: packet.readUInt16BE(next),
    klass: packet.readUInt16BE(recordClassOffset(packet, start)),
    ttl: packet.readUInt32BE(next + 4),
    rdata: packet.subarray(next + 10, next + 10 + rdlength),
  };
}

describe("encodeTxtUpdate", () => {
  it("writes an UPDATE with the zone (SOA, IN) in the zone section and nothing but one update record", () => {
    const packet = encodeTxtUpdate({ ...base, action: "add" });
    const decoded = dnsPacket.decode(packet);
    expect(decoded.id).toBe(0xbeef);
    expect((packet.readUInt16BE(2) >> 11) & 0xf).toBe(5);
    expect(decoded.flag_qr).toBe(false);
    expect(decoded.questions).toEqual([{ name: "example.test", type: "SOA", class: "IN" }]);
    expect(decoded.answers).toEqual([]);
    expect(decoded.additionals).toEqual([]);
    expect(decoded.authorities).toHaveLength(1);
  });

  it("adds the value with class IN and the configured TTL", () => {
    const r = updateRecord(encodeTxtUpdate({ ...base, action: "add", ttl: 120 }));
    expect(r).toMatchObject({ name: base.fqdn, type: 16, klass: 1, ttl: 120 });
    expect(r.rdata).toEqual(Buffer.concat([Buffer.from([base.value.length]), Buffer.from(base.value)]));
  });

  it("deletes exactly that value: class NONE (254), TTL 0, the same RDATA, never class ANY", () => {
    const add = updateRecord(encodeTxtUpdate({ ...base, action: "add" }));
    const del = updateRecord(encodeTxtUpdate({ ...base, action: "delete" }));
    expect(del).toMatchObject({ name: base.fqdn, type: 16, klass: 254, ttl: 0 });
    expect(del.rdata).toEqual(add.rdata);
  });

  it("splits a value longer than 255 bytes into several character-strings", () => {
    const value = "x".repeat(300);
    const r = updateRecord(encodeTxtUpdate({ ...base, value, action: "add" }));
    expect(r.rdata[0]).toBe(255);
    expect(r.rdata[256]).toBe(45);
    expect(r.rdata).toHaveLength(302);
  });
});

describe("txtChunks", () => {
  it("keeps short values whole and an empty value as one empty string", () => {
    expect(txtChunks("abc")).toEqual([Buffer.from("abc")]);
    expect(txtChunks("")).toEqual([Buffer.alloc(0)]);
    expect(txtChunks("a".repeat(510)).map((c) => c.length)).toEqual([255, 255]);
  });
});
