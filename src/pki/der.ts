/**
 * A thin layer over node-forge's DER codec for the keystore encoders: Buffers in and out instead
 * of forge's binary strings, and strict accessors that throw on any unexpected shape, so that a
 * decoder reading a foreign keystore fails loudly rather than comparing garbage.
 */
import forge from "node-forge";

const { asn1 } = forge;

/** A decoded or to-be-encoded ASN.1 node (forge's representation). */
export type Node = forge.asn1.Asn1;

/** A universal type or a context-specific tag number. */
export type Tag = forge.asn1.Type;

const U = asn1.Class.UNIVERSAL;
const T = asn1.Type;

/** The universal tag class, for callers that inspect decoded nodes. */
export const UNIVERSAL = U;

/** Context-specific tag [0], the only one PKCS#12 needs (forge types tag numbers as its universal-type enum, whose 0 is NONE). */
export const CTX0: Tag = T.NONE;

/** SEQUENCE of the given nodes. */
export function seq(items: Node[]): Node {
  return asn1.create(U, T.SEQUENCE, true, items);
}

/** SET OF the given nodes, sorted by their encodings as DER requires (Go's encoding/asn1 does the same). */
export function setOf(items: Node[]): Node {
  const sorted = items
    .map((n) => ({ n, der: encode(n) }))
    .sort((a, b) => Buffer.compare(a.der, b.der))
    .map((x) => x.n);
  return asn1.create(U, T.SET, true, sorted);
}

/** OBJECT IDENTIFIER in dotted form. */
export function oid(dotted: string): Node {
  return asn1.create(U, T.OID, false, asn1.oidToDer(dotted).getBytes());
}

/** OCTET STRING. */
export function octets(b: Buffer): Node {
  return asn1.create(U, T.OCTETSTRING, false, b.toString("binary"));
}

/** A non-negative INTEGER. */
export function int(n: number): Node {
  return asn1.create(U, T.INTEGER, false, asn1.integerToDer(n).getBytes());
}

/** A primitive value of any universal type, from its content bytes. */
export function universal(type: Tag, content: Buffer): Node {
  return asn1.create(U, type, false, content.toString("binary"));
}

/** NULL. */
export function nul(): Node {
  return asn1.create(U, T.NULL, false, "");
}

/** BMPString, as PKCS#12 friendly names are written (forge converts to and from UTF-16BE itself). */
export function bmpString(s: string): Node {
  utf16be(s); // throws for characters a BMPString cannot hold
  return asn1.create(U, T.BMPSTRING, false, s);
}

/** `[0] EXPLICIT inner`. */
export function explicit0(inner: Node): Node {
  return asn1.create(asn1.Class.CONTEXT_SPECIFIC, CTX0, true, [inner]);
}

/** `[0] IMPLICIT OCTET STRING`: a primitive context-specific value. */
export function implicitOctets0(b: Buffer): Node {
  return asn1.create(asn1.Class.CONTEXT_SPECIFIC, CTX0, false, b.toString("binary"));
}

/** DER encoding of a node. */
export function encode(n: Node): Buffer {
  return Buffer.from(asn1.toDer(n).getBytes(), "binary");
}

/** Parses exactly one DER value; trailing bytes are an error. */
export function decode(b: Buffer): Node {
  try {
    return asn1.fromDer(b.toString("binary"), true);
  } catch (err) {
    throw new Error(`malformed DER: ${(err as Error).message}`, { cause: err });
  }
}

/** The children of a constructed node, checking its universal type (or context tag when `ctx`). */
export function children(n: Node, type: Tag, what: string, ctx = false): Node[] {
  const cls = ctx ? asn1.Class.CONTEXT_SPECIFIC : U;
  if (n.tagClass !== cls || n.type !== type || !Array.isArray(n.value)) {
    throw new Error(`${what}: unexpected ASN.1 structure`);
  }
  return n.value;
}

/** The children of a SEQUENCE. */
export function seqItems(n: Node | undefined, what: string, min = 0): Node[] {
  if (!n) throw new Error(`${what}: missing`);
  const items = children(n, T.SEQUENCE, what);
  if (items.length < min) throw new Error(`${what}: too few elements`);
  return items;
}

/** The children of a SET. */
export function setItems(n: Node | undefined, what: string): Node[] {
  if (!n) throw new Error(`${what}: missing`);
  return children(n, T.SET, what);
}

/** The single child of `[0] EXPLICIT`. */
export function unwrapExplicit0(n: Node | undefined, what: string): Node {
  if (!n) throw new Error(`${what}: missing`);
  const inner = children(n, CTX0, what, true);
  if (inner.length !== 1 || !inner[0]) throw new Error(`${what}: expected one value`);
  return inner[0];
}

/** The content bytes of a primitive node of a universal type (or context tag when `ctx`). */
export function primitive(n: Node | undefined, type: Tag, what: string, ctx = false): Buffer {
  if (!n) throw new Error(`${what}: missing`);
  const cls = ctx ? asn1.Class.CONTEXT_SPECIFIC : U;
  if (n.tagClass !== cls || n.type !== type || typeof n.value !== "string") {
    throw new Error(`${what}: unexpected ASN.1 type`);
  }
  return Buffer.from(n.value, "binary");
}

/** The value of an OBJECT IDENTIFIER node, dotted. */
export function oidOf(n: Node | undefined, what: string): string {
  return asn1.derToOid(primitive(n, T.OID, what).toString("binary"));
}

/** The value of an OCTET STRING node. */
export function octetsOf(n: Node | undefined, what: string): Buffer {
  return primitive(n, T.OCTETSTRING, what);
}

/** The value of a small non-negative INTEGER node. */
export function intOf(n: Node | undefined, what: string): number {
  const b = primitive(n, T.INTEGER, what);
  if (b.length === 0 || b.length > 6 || (b[0] ?? 0) & 0x80) throw new Error(`${what}: integer out of range`);
  return b.readUIntBE(0, b.length);
}

/** The value of a BMPString node. */
export function bmpStringOf(n: Node | undefined, what: string): string {
  if (n?.tagClass !== U || n.type !== T.BMPSTRING || typeof n.value !== "string") {
    throw new Error(`${what}: expected a BMPString`);
  }
  return n.value;
}

/** UTF-16BE code units of a string; throws for characters outside the BMP, as go-pkcs12 does. */
export function utf16be(s: string): Buffer {
  const out = Buffer.alloc(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      throw new Error("the string contains characters outside the Basic Multilingual Plane");
    }
    out.writeUInt16BE(c, i * 2);
  }
  return out;
}

/** Universal tag numbers used by the decoders. */
export const TYPE = T;
