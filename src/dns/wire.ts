/**
 * Small pieces of the DNS wire format (RFC 1035) that dns-packet does not expose or gets in the way
 * of: canonical name encoding, walking a message to find where each record starts, and the names of
 * response codes.
 */

/** Response codes (RFC 1035, RFC 2136) by name. */
export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
} as const;

const RCODE_NAMES = new Map<number, string>(Object.entries(Rcode).map(([k, v]) => [v, k]));

/** The mnemonic of a response code, e.g. `NOTAUTH`, or `RCODE<n>` for an unassigned one. */
export function rcodeName(rcode: number): string {
  return RCODE_NAMES.get(rcode) ?? `RCODE${rcode}`;
}

/** Record classes that updates need besides IN (RFC 2136 section 2.4 and 2.5). */
export const RecordClass = { IN: 1, NONE: 254, ANY: 255 } as const;

/** The header flag that marks a message as a response. */
export const QR_FLAG = 0x8000;
/** The header flag that says a UDP response was cut short and must be asked again over TCP. */
export const TC_FLAG = 0x0200;
/** The opcode of a dynamic update, already shifted into the header's flags (RFC 2136). */
export const OPCODE_UPDATE_FLAGS = 5 << 11;

/**
 * Lower-cases a domain name and makes it fully qualified (one trailing dot). The root is ".". This
 * is the form in which names are compared everywhere in this package.
 */
export function canonicalName(name: string): string {
  const n = name.trim().toLowerCase();
  if (n === "" || n === ".") return ".";
  return n.endsWith(".") ? n : `${n}.`;
}

/**
 * Checks that a name can be written on the wire: no empty label, labels of 1 to 63 bytes, 255 bytes
 * in all. Returns the canonical name; throws an Error that names the offending part.
 */
export function validateName(name: string): string {
  const n = canonicalName(name);
  if (n === ".") return n;
  const labels = n.slice(0, -1).split(".");
  let length = 1;
  for (const label of labels) {
    const bytes = Buffer.byteLength(label);
    if (bytes === 0) throw new Error(`domain name "${name}" has an empty label`);
    if (bytes > 63) throw new Error(`domain name "${name}" has a label longer than 63 bytes`);
    length += bytes + 1;
  }
  if (length > 255) throw new Error(`domain name "${name}" is longer than 255 bytes`);
  return n;
}

/**
 * Encodes a name in canonical wire form (RFC 4034 section 6.2: lower case, uncompressed), as TSIG
 * needs for the key and algorithm names that go into the MAC.
 */
export function encodeCanonicalName(name: string): Buffer {
  const n = validateName(name);
  if (n === ".") return Buffer.from([0]);
  const parts: Buffer[] = [];
  for (const label of n.slice(0, -1).split(".")) {
    const b = Buffer.from(label);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** Returns the offset just past the (possibly compressed) name that starts at `offset`. */
export function skipName(buf: Buffer, offset: number): number {
  let o = offset;
  for (;;) {
    const len = buf.readUInt8(o);
    if (len === 0) return o + 1;
    if ((len & 0xc0) === 0xc0) {
      if (o + 2 > buf.length) throw new RangeError("name runs past the end of the message");
      return o + 2;
    }
    if ((len & 0xc0) !== 0) throw new RangeError(`unknown label type 0x${len.toString(16)}`);
    o += 1 + len;
    if (o > buf.length) throw new RangeError("name runs past the end of the message");
  }
}

/**
 * Reads a (possibly compressed) name that starts at `offset` and returns it in canonical form with
 * the offset just past it. Pointers must go backwards, so a malicious loop cannot hang us.
 */
export function readName(buf: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let o = offset;
  let next: number | undefined;
  let limit = offset;
  for (;;) {
    const len = buf.readUInt8(o);
    if (len === 0) {
      next ??= o + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      const target = buf.readUInt16BE(o) & 0x3fff;
      if (target >= limit) throw new RangeError("name compression pointer does not point backwards");
      next ??= o + 2;
      o = target;
      limit = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new RangeError(`unknown label type 0x${len.toString(16)}`);
    if (o + 1 + len > buf.length) throw new RangeError("name runs past the end of the message");
    labels.push(buf.toString("latin1", o + 1, o + 1 + len));
    o += 1 + len;
  }
  return { name: canonicalName(labels.join(".")), next };
}

/** Where the parts of a message start: used to strip or patch records in place. */
export interface MessageLayout {
  readonly id: number;
  readonly flags: number;
  readonly counts: { readonly qd: number; readonly an: number; readonly ns: number; readonly ar: number };
  /** Offset just past the question section. */
  readonly questionEnd: number;
  /** Start offset of every resource record, answers first, then authorities, then additionals. */
  readonly recordStarts: readonly number[];
  /** Offset just past the last record. */
  readonly end: number;
}

/** Walks a whole message without decoding record data. Throws RangeError on a malformed one. */
export function layout(buf: Buffer): MessageLayout {
  if (buf.length < 12) throw new RangeError(`DNS message of ${buf.length} bytes is shorter than its header`);
  const counts = {
    qd: buf.readUInt16BE(4),
    an: buf.readUInt16BE(6),
    ns: buf.readUInt16BE(8),
    ar: buf.readUInt16BE(10),
  };
  let o = 12;
  for (let i = 0; i < counts.qd; i++) o = skipName(buf, o) + 4;
  if (o > buf.length) throw new RangeError("question section runs past the end of the message");
  const questionEnd = o;
  const recordStarts: number[] = [];
  for (let i = 0; i < counts.an + counts.ns + counts.ar; i++) {
    recordStarts.push(o);
    o = skipName(buf, o);
    if (o + 10 > buf.length) throw new RangeError("record header runs past the end of the message");
    o += 10 + buf.readUInt16BE(o + 8);
    if (o > buf.length) throw new RangeError("record data runs past the end of the message");
  }
  return { id: buf.readUInt16BE(0), flags: buf.readUInt16BE(2), counts, questionEnd, recordStarts, end: o };
}

/** The class of the record that starts at `recordStart`, and where those two bytes are. */
export function recordClassOffset(buf: Buffer, recordStart: number): number {
  return skipName(buf, recordStart) + 2;
}
