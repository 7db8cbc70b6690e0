/**
 * TSIG (RFC 8945): signing DNS messages with a shared secret and verifying the signed answers.
 *
 * The MAC covers the message as it is without the TSIG record (original ID, ARCOUNT not counting
 * TSIG) followed by the "TSIG variables"; a response's MAC is prefixed by the request's MAC, so an
 * answer can only be forged by someone who knows the key.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { canonicalName, encodeCanonicalName, layout, readName, RecordClass } from "./wire.js";

/** The DNS type number of a TSIG record. */
export const TSIG_TYPE = 250;

/** Fudge (seconds of clock skew allowed), 300 as RFC 8945 recommends. */
export const DEFAULT_FUDGE = 300;

/** TSIG error codes (RFC 8945 section 3 and 5.3.2), as carried in the record's Error field. */
export const TsigErrorCode = {
  BADSIG: 16,
  BADKEY: 17,
  BADTIME: 18,
  BADMODE: 19,
  BADNAME: 20,
  BADALG: 21,
  BADTRUNC: 22,
} as const;

const TSIG_ERROR_NAMES = new Map<number, string>(Object.entries(TsigErrorCode).map(([k, v]) => [v, k]));

/** The mnemonic of a TSIG error, e.g. `BADSIG`. */
export function tsigErrorName(code: number): string {
  return code === 0 ? "NOERROR" : (TSIG_ERROR_NAMES.get(code) ?? `TSIGERROR${code}`);
}

interface AlgorithmInfo {
  /** Algorithm name as written in TSIG records (RFC 8945 section 6). */
  readonly wireName: string;
  /** Hash name for node:crypto. */
  readonly hash: string;
}

/** The TSIG algorithms cert-manager supports, keyed by its `tsigAlgorithm` values. */
export const TSIG_ALGORITHMS = {
  HMACMD5: { wireName: "hmac-md5.sig-alg.reg.int.", hash: "md5" },
  HMACSHA1: { wireName: "hmac-sha1.", hash: "sha1" },
  HMACSHA256: { wireName: "hmac-sha256.", hash: "sha256" },
  HMACSHA512: { wireName: "hmac-sha512.", hash: "sha512" },
} as const satisfies Record<string, AlgorithmInfo>;

/** One of cert-manager's `tsigAlgorithm` names. */
export type TsigAlgorithm = keyof typeof TSIG_ALGORITHMS;

/** A shared key: the name the server knows it by, its algorithm and the raw (decoded) secret. */
export interface TsigKey {
  readonly name: string;
  readonly algorithm: TsigAlgorithm;
  readonly secret: Buffer;
}

/** The fields of a TSIG record as found in a message. */
export interface TsigRecord {
  readonly keyName: string;
  readonly algorithm: string;
  /** Seconds since the epoch. */
  readonly timeSigned: number;
  readonly fudge: number;
  readonly mac: Buffer;
  readonly originalId: number;
  readonly error: number;
  readonly otherData: Buffer;
  /** Offset where the TSIG record starts, i.e. the length of the message without it. */
  readonly offset: number;
}

function uint16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function uint48(n: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
}

/** The "TSIG variables" that follow the message in the MAC input (RFC 8945 section 4.3.3). */
function tsigVariables(
  keyName: string,
  algorithmWireName: string,
  timeSigned: number,
  fudge: number,
  error: number,
  otherData: Buffer,
): Buffer {
  return Buffer.concat([
    encodeCanonicalName(keyName),
    uint16(RecordClass.ANY),
    Buffer.alloc(4), // TTL 0
    encodeCanonicalName(algorithmWireName),
    uint48(timeSigned),
    uint16(fudge),
    uint16(error),
    uint16(otherData.length),
    otherData,
  ]);
}

function computeMac(
  key: TsigKey,
  requestMac: Buffer | undefined,
  messageWithoutTsig: Buffer,
  variables: Buffer,
): Buffer {
  const hmac = createHmac(TSIG_ALGORITHMS[key.algorithm].hash, key.secret);
  if (requestMac !== undefined) hmac.update(Buffer.concat([uint16(requestMac.length), requestMac]));
  hmac.update(messageWithoutTsig);
  hmac.update(variables);
  return hmac.digest();
}

/** Options for {@link signMessage}. */
export interface SignOptions {
  /** Seconds since the epoch; now by default. Tests pin it to reproduce a known MAC. */
  readonly timeSigned?: number;
  readonly fudge?: number;
  /** The request's MAC, when signing a response (servers and tests only). */
  readonly requestMac?: Buffer;
}

/**
 * Appends a TSIG record to a complete, unsigned message and bumps ARCOUNT. Returns the signed
 * message and the MAC, which the caller keeps to verify the response.
 */
export function signMessage(
  message: Buffer,
  key: TsigKey,
  opts: SignOptions = {},
): { packet: Buffer; mac: Buffer } {
  layout(message); // refuse to sign something that is not a whole message
  const timeSigned = opts.timeSigned ?? Math.floor(Date.now() / 1000);
  const fudge = opts.fudge ?? DEFAULT_FUDGE;
  const { wireName } = TSIG_ALGORITHMS[key.algorithm];
  const mac = computeMac(
    key,
    opts.requestMac,
    message,
    tsigVariables(key.name, wireName, timeSigned, fudge, 0, Buffer.alloc(0)),
  );
  const rdata = Buffer.concat([
    encodeCanonicalName(wireName),
    uint48(timeSigned),
    uint16(fudge),
    uint16(mac.length),
    mac,
    message.subarray(0, 2), // original ID
    uint16(0), // error
    uint16(0), // other len
  ]);
  const record = Buffer.concat([
    encodeCanonicalName(key.name),
    uint16(TSIG_TYPE),
    uint16(RecordClass.ANY),
    Buffer.alloc(4),
    uint16(rdata.length),
    rdata,
  ]);
  const packet = Buffer.concat([message, record]);
  packet.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { packet, mac };
}

/**
 * Finds the TSIG record of a message: it must be the last additional record (RFC 8945 section 5.1).
 * Returns undefined when the message is not signed. Throws RangeError on a malformed record.
 */
export function extractTsig(packet: Buffer): TsigRecord | undefined {
  const l = layout(packet);
  if (l.counts.ar === 0) return undefined;
  const offset = l.recordStarts[l.recordStarts.length - 1];
  if (offset === undefined) return undefined;
  const owner = readName(packet, offset);
  let o = owner.next;
  if (packet.readUInt16BE(o) !== TSIG_TYPE) return undefined;
  const rdlength = packet.readUInt16BE(o + 8);
  o += 10;
  const rdEnd = o + rdlength;
  const alg = readName(packet, o);
  o = alg.next;
  if (o + 10 > rdEnd) throw new RangeError("TSIG record is too short");
  const timeSigned = packet.readUIntBE(o, 6);
  const fudge = packet.readUInt16BE(o + 6);
  const macSize = packet.readUInt16BE(o + 8);
  o += 10;
  if (o + macSize + 6 > rdEnd) throw new RangeError("TSIG MAC runs past the record");
  const mac = Buffer.from(packet.subarray(o, o + macSize));
  o += macSize;
  const originalId = packet.readUInt16BE(o);
  const error = packet.readUInt16BE(o + 2);
  const otherLen = packet.readUInt16BE(o + 4);
  o += 6;
  if (o + otherLen !== rdEnd) throw new RangeError("TSIG other data does not match the record length");
  const otherData = Buffer.from(packet.subarray(o, o + otherLen));
  return {
    keyName: owner.name,
    algorithm: alg.name,
    timeSigned,
    fudge,
    mac,
    originalId,
    error,
    otherData,
    offset,
  };
}

/** The outcome of checking a signed message. */
export type TsigVerification =
  | { readonly status: "ok"; readonly tsig: TsigRecord }
  /** The message carries no TSIG record. */
  | { readonly status: "unsigned" }
  /** The peer reported a TSIG error (BADSIG, BADKEY, BADTIME, ...) and, as RFC 8945 allows, may not have signed. */
  | { readonly status: "peer-error"; readonly error: number; readonly tsig: TsigRecord }
  /** Signed with another key or algorithm than ours. */
  | { readonly status: "wrong-key"; readonly tsig: TsigRecord }
  /** The MAC does not match: the message was altered or the secret differs. */
  | { readonly status: "bad-mac"; readonly tsig: TsigRecord }
  /** The MAC is right but the time signed is outside the fudge window. */
  | { readonly status: "bad-time"; readonly tsig: TsigRecord };

/** Options for {@link verifyMessage}. */
export interface VerifyOptions {
  /** The MAC of the request this message answers; omit it to check a request. */
  readonly requestMac?: Buffer;
  /** Seconds since the epoch; now by default. */
  readonly now?: number;
}

/**
 * Verifies a signed message with the key that signed the request (RFC 8945 section 5.3 for
 * responses, 5.2 for requests). The MAC must be full length: truncated MACs are not offered.
 */
export function verifyMessage(packet: Buffer, key: TsigKey, opts: VerifyOptions = {}): TsigVerification {
  const tsig = extractTsig(packet);
  if (tsig === undefined) return { status: "unsigned" };
  // An error reply (BADKEY, BADSIG) is unsigned by design; it can only make us fail, never succeed.
  if (tsig.error !== 0) return { status: "peer-error", error: tsig.error, tsig };
  if (
    tsig.keyName !== canonicalName(key.name) ||
    tsig.algorithm !== TSIG_ALGORITHMS[key.algorithm].wireName
  ) {
    return { status: "wrong-key", tsig };
  }
  // The MAC input is the message as it was before the TSIG record was added.
  const stripped = Buffer.from(packet.subarray(0, tsig.offset));
  stripped.writeUInt16BE(tsig.originalId, 0);
  stripped.writeUInt16BE(stripped.readUInt16BE(10) - 1, 10);
  const expected = computeMac(
    key,
    opts.requestMac,
    stripped,
    tsigVariables(tsig.keyName, tsig.algorithm, tsig.timeSigned, tsig.fudge, tsig.error, tsig.otherData),
  );
  if (tsig.mac.length !== expected.length || !timingSafeEqual(tsig.mac, expected)) {
    return { status: "bad-mac", tsig };
  }
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - tsig.timeSigned) > tsig.fudge) return { status: "bad-time", tsig };
  return { status: "ok", tsig };
}

/**
 * Decodes a TSIG secret as cert-manager reads it from a Secret: standard base64 text (what
 * `tsig-keygen` prints). Whitespace and line breaks are ignored, as Go's decoder does; padding
 * is optional. Throws an Error that never contains the secret itself.
 */
export function decodeTsigSecret(text: string): Buffer {
  const compact = text.replace(/\s+/g, "");
  if (compact === "") throw new Error("the TSIG secret is empty");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.replace(/=+$/, "").length % 4 === 1) {
    throw new Error(
      "the TSIG secret is not valid base64 (it must be the base64 text that tsig-keygen prints)",
    );
  }
  return Buffer.from(compact, "base64");
}

/** Maps a cert-manager `tsigAlgorithm` value (case-insensitive) to ours; undefined when unsupported. */
export function parseTsigAlgorithm(name: string): TsigAlgorithm | undefined {
  const upper = name.trim().toUpperCase();
  return Object.hasOwn(TSIG_ALGORITHMS, upper) ? (upper as TsigAlgorithm) : undefined;
}
