/**
 * Encoding of the two dynamic updates (RFC 2136) a DNS-01 solver needs: add one TXT value, and
 * delete exactly one TXT value. Never "delete the RRset": the apex and the wildcard authorization
 * of one domain share `_acme-challenge.<domain>`, each with its own value.
 */
import dnsPacket from "dns-packet";
import { layout, OPCODE_UPDATE_FLAGS, recordClassOffset, RecordClass } from "../../dns/wire.js";

/** What an update does to the one TXT value. */
export type UpdateAction = "add" | "delete";

/** The inputs of {@link encodeTxtUpdate}; names are canonical (lower case, trailing dot). */
export interface TxtUpdate {
  readonly id: number;
  readonly zone: string;
  readonly fqdn: string;
  readonly value: string;
  readonly action: UpdateAction;
  /** TTL of an added record; ignored for a delete, which must carry 0. */
  readonly ttl: number;
}

/** Splits a TXT value into character-strings of at most 255 bytes, as the wire format requires. */
export function txtChunks(value: string): Buffer[] {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length === 0) return [Buffer.alloc(0)];
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
  return chunks;
}

/**
 * Encodes an unsigned UPDATE message: the zone in the zone section (type SOA), no prerequisites,
 * and one record in the update section: class IN with the TTL to add it, or class NONE with TTL 0
 * to delete that one record (RFC 2136 section 2.5.4). dns-packet cannot write class NONE, so the
 * record is encoded as IN and its two class bytes are patched afterwards.
 */
export function encodeTxtUpdate(u: TxtUpdate): Buffer {
  const packet = dnsPacket.encode({
    type: "query",
    id: u.id,
    flags: OPCODE_UPDATE_FLAGS,
    questions: [{ type: "SOA", name: u.zone, class: "IN" }],
    authorities: [
      {
        type: "TXT",
        name: u.fqdn,
        class: "IN",
        ttl: u.action === "add" ? u.ttl : 0,
        data: txtChunks(u.value),
      },
    ],
  });
  if (u.action === "delete") {
    const start = layout(packet).recordStarts[0];
    if (start === undefined) throw new Error("encoded update has no update record");
    packet.writeUInt16BE(RecordClass.NONE, recordClassOffset(packet, start));
  }
  return packet;
}
