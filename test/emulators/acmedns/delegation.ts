/**
 * The CNAME that delegates a domain's DNS-01 record to acme-dns, written into the rig's BIND:
 * `_acme-challenge.<domain>. CNAME <fulldomain>.`, added and removed with TSIG-signed dynamic
 * updates (the rfc2136 solver's encoding and signing). With it in place, Pebble (and the
 * dispatcher's cnameStrategy Follow) reach the values the acme-dns emulator publishes.
 */
import { randomInt } from "node:crypto";
import dnsPacket from "dns-packet";
import { parseServer } from "../../../src/dns/server.js";
import { exchange } from "../../../src/dns/transport.js";
import { decodeTsigSecret, parseTsigAlgorithm, signMessage } from "../../../src/dns/tsig.js";
import {
  canonicalName,
  layout,
  OPCODE_UPDATE_FLAGS,
  Rcode,
  rcodeName,
  RecordClass,
  recordClassOffset,
} from "../../../src/dns/wire.js";
import { rigVar } from "../../support/rig.js";

async function update(zone: string, name: string, target: string, action: "add" | "delete"): Promise<void> {
  const message = dnsPacket.encode({
    type: "query",
    id: randomInt(0, 0x10000),
    flags: OPCODE_UPDATE_FLAGS,
    questions: [{ type: "SOA", name: canonicalName(zone), class: "IN" }],
    authorities: [
      {
        type: "CNAME",
        name: canonicalName(name),
        class: "IN",
        ttl: action === "add" ? 60 : 0,
        data: canonicalName(target).replace(/\.$/, ""),
      },
    ],
  });
  if (action === "delete") {
    // Class NONE deletes this one record (RFC 2136 2.5.4); dns-packet cannot write it by name.
    const start = layout(message).recordStarts[0];
    if (start === undefined) throw new Error("encoded update has no update record");
    message.writeUInt16BE(RecordClass.NONE, recordClassOffset(message, start));
  }
  const algorithm = parseTsigAlgorithm(rigVar("TSIG_ALGORITHM"));
  if (algorithm === undefined) throw new Error(`unknown TSIG algorithm ${rigVar("TSIG_ALGORITHM")}`);
  const { packet } = signMessage(message, {
    name: rigVar("TSIG_KEY_NAME"),
    algorithm,
    secret: decodeTsigSecret(rigVar("TSIG_SECRET")),
  });
  const { response } = await exchange(parseServer(rigVar("DNS_SERVER")), packet, { protocol: "tcp" });
  const rcode = response.readUInt16BE(2) & 0x0f;
  if (rcode !== Rcode.NOERROR) {
    throw new Error(`CNAME ${action} of ${name} in ${zone} answered ${rcodeName(rcode)}`);
  }
}

/** Points `_acme-challenge.<domain>` (in `zone`) at an acme-dns account's fulldomain. */
export function delegate(domain: string, fulldomain: string, zone: string): Promise<void> {
  return update(zone, `_acme-challenge.${canonicalName(domain)}`, fulldomain, "add");
}

/** Removes that CNAME again. */
export function undelegate(domain: string, fulldomain: string, zone: string): Promise<void> {
  return update(zone, `_acme-challenge.${canonicalName(domain)}`, fulldomain, "delete");
}
