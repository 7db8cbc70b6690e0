/**
 * A certificate subject rendered the way Go's `pkix.Name.String()` renders it. go-pkcs12 names each
 * entry of a PKCS#12 trust store after it, so cert-manager's `truststore.p12` aliases are these
 * strings; we reproduce them so that Java applications find the same alias after a migration.
 */
import { X509Certificate } from "node:crypto";
import * as der from "./der.js";

// Go's attributeTypeNames, and the order in which Name.ToRDNSequence emits the parsed fields.
const FIELDS: readonly (readonly [string, string])[] = [
  ["2.5.4.6", "C"],
  ["2.5.4.8", "ST"],
  ["2.5.4.7", "L"],
  ["2.5.4.9", "STREET"],
  ["2.5.4.17", "POSTALCODE"],
  ["2.5.4.10", "O"],
  ["2.5.4.11", "OU"],
  ["2.5.4.3", "CN"],
  ["2.5.4.5", "SERIALNUMBER"],
];
const NAME_OF = new Map(FIELDS);
// Go keeps only the last CommonName and SerialNumber; the others are lists.
const SINGLE = new Set(["2.5.4.3", "2.5.4.5"]);

// The string types Go decodes to text. Go also decodes T61String and NumericString, which no CA
// puts in a subject; such a value would print here as a hex dump rather than as text.
const STRING_TYPES: ReadonlySet<der.Tag> = new Set([
  der.TYPE.PRINTABLESTRING,
  der.TYPE.UTF8,
  der.TYPE.IA5STRING,
  der.TYPE.BMPSTRING,
]);

interface Atv {
  readonly type: string;
  /** The decoded text when the value is a string type, as Go's parser keeps it. */
  readonly text: string | undefined;
  /** The value's own DER, for attributes Go has no name for. */
  readonly valueDer: Buffer;
}

/** Go's `cert.Subject.String()` for a DER or PEM certificate. */
export function goSubjectString(cert: Buffer | string): string {
  const raw = typeof cert === "string" ? new X509Certificate(cert).raw : cert;
  const atvs = subjectAtvs(raw);
  // Name.String(): attributes Go did not parse into named fields come first (so they print last).
  const rdns: Atv[][] = atvs.filter((a) => !NAME_OF.has(a.type)).map((a) => [a]);
  for (const [type] of FIELDS) {
    let values = atvs.filter((a) => a.type === type && a.text !== undefined);
    if (SINGLE.has(type)) values = values.slice(-1);
    if (values.length > 0) rdns.push(values);
  }
  return rdns
    .reverse()
    .map((rdn) => rdn.map(render).join("+"))
    .join(",");
}

function render(a: Atv): string {
  const name = NAME_OF.get(a.type);
  if (name === undefined) return `${a.type}=#${goMarshal(a).toString("hex")}`;
  return `${name}=${escape(a.text ?? "")}`;
}

// RFC 2253 escaping as Go does it: no hex escapes, leading '#' and leading/trailing space only.
function escape(v: string): string {
  const chars = Array.from(v);
  return chars
    .map((c, k) => {
      const special =
        ',+"\\<>;'.includes(c) ||
        (c === " " && (k === 0 || k === chars.length - 1)) ||
        (c === "#" && k === 0);
      return special ? `\\${c}` : c;
    })
    .join("");
}

// asn1.Marshal of the parsed value: Go re-encodes strings as PrintableString when they fit,
// UTF8String otherwise; a value that was no string is written back as it came.
function goMarshal(a: Atv): Buffer {
  if (a.text === undefined) return a.valueDer;
  const printable = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(a.text);
  const tag = printable ? der.TYPE.PRINTABLESTRING : der.TYPE.UTF8;
  const bytes = Buffer.from(a.text, "utf8");
  return der.encode(der.universal(tag, bytes));
}

function subjectAtvs(raw: Buffer): Atv[] {
  const cert = der.seqItems(der.decode(raw), "certificate", 3);
  const tbs = der.seqItems(cert[0], "tbsCertificate", 6);
  // An explicit [0] version shifts the fields by one.
  const first = tbs[0];
  const offset = first && first.tagClass !== der.UNIVERSAL ? 1 : 0;
  const subject = der.seqItems(tbs[4 + offset], "subject");
  const out: Atv[] = [];
  for (const rdn of subject) {
    for (const atv of der.setItems(rdn, "relative distinguished name")) {
      const [typeNode, valueNode] = der.seqItems(atv, "attribute", 2);
      if (!valueNode) continue;
      const type = der.oidOf(typeNode, "attribute type");
      const isString =
        valueNode.tagClass === der.UNIVERSAL &&
        STRING_TYPES.has(valueNode.type) &&
        typeof valueNode.value === "string";
      let text: string | undefined;
      if (isString) {
        const value = valueNode.value as string;
        // forge decodes a BMPString itself; Go keeps the bytes of the other string types as they
        // are, which is UTF-8 for any sane CA.
        text = valueNode.type === der.TYPE.BMPSTRING ? value : Buffer.from(value, "binary").toString("utf8");
      }
      out.push({ type, text, valueDer: der.encode(valueNode) });
    }
  }
  return out;
}
