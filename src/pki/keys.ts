/**
 * Private keys the way cert-manager makes and stores them: RSA, ECDSA (NIST curves) or Ed25519,
 * PEM-encoded as PKCS#1 (`RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY` for ECDSA) or PKCS#8 (`PRIVATE KEY`).
 */
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { TerminalError } from "../errors.js";

const generateKeyPairAsync = promisify(generateKeyPair);

/** Key algorithms, spelled as in the Certificate's `spec.privateKey.algorithm`. */
export type KeyAlgorithm = "RSA" | "ECDSA" | "Ed25519";
/** PEM encodings, spelled as in `spec.privateKey.encoding`. */
export type KeyEncoding = "PKCS1" | "PKCS8";

/** The key part of a Certificate spec; every field optional, defaults as cert-manager's. */
export interface PrivateKeySpec {
  readonly algorithm?: KeyAlgorithm | undefined;
  /** RSA modulus bits (2048 default) or ECDSA curve bits (256 default); ignored for Ed25519. */
  readonly size?: number | undefined;
  /** PKCS1 (the default) or PKCS8. */
  readonly encoding?: KeyEncoding | undefined;
}

/** A key spec with every default filled in (size 0 for Ed25519). */
export interface NormalizedKeySpec {
  readonly algorithm: KeyAlgorithm;
  readonly size: number;
  readonly encoding: KeyEncoding;
}

/** A parsed or freshly generated private key with what we know about it. */
export interface PrivateKey {
  readonly keyObject: KeyObject;
  readonly algorithm: KeyAlgorithm;
  /** RSA modulus bits, ECDSA curve bits (256, 384, 521), 256 for Ed25519. */
  readonly size: number;
  /** The encoding of `pem`. */
  readonly encoding: KeyEncoding;
  readonly pem: string;
}

/** RSA sizes we generate (the Certificate CRD allows exactly these). */
export const RSA_SIZES: readonly number[] = [2048, 3072, 4096, 8192];
/** ECDSA sizes we generate: the curve bits of P-256, P-384 and P-521. */
export const ECDSA_SIZES: readonly number[] = [256, 384, 521];

const ALGORITHMS: readonly string[] = ["RSA", "ECDSA", "Ed25519"];
const ENCODINGS: readonly string[] = ["PKCS1", "PKCS8"];
const CURVE_BY_SIZE: Readonly<Record<number, string>> = { 256: "P-256", 384: "P-384", 521: "P-521" };
const SIZE_BY_CURVE: Readonly<Record<string, number>> = {
  "P-256": 256,
  prime256v1: 256,
  "P-384": 384,
  secp384r1: 384,
  "P-521": 521,
  secp521r1: 521,
};

/** The default size for an algorithm, as cert-manager applies it (0 for Ed25519, which has none). */
export function defaultKeySize(algorithm: KeyAlgorithm): number {
  return algorithm === "RSA" ? 2048 : algorithm === "ECDSA" ? 256 : 0;
}

/** Fills in cert-manager's defaults: RSA, its default size, PKCS1. Throws a TerminalError for an invalid size. */
export function normalizeKeySpec(spec: PrivateKeySpec = {}): NormalizedKeySpec {
  const algorithm = spec.algorithm ?? "RSA";
  const encoding = spec.encoding ?? "PKCS1";
  // The spec may come from an unvalidated object at run time, whatever its static type says.
  if (!ALGORITHMS.includes(algorithm)) {
    throw new TerminalError(`unsupported private key algorithm "${algorithm}"`, "InvalidPrivateKeySpec");
  }
  if (!ENCODINGS.includes(encoding)) {
    throw new TerminalError(`unsupported private key encoding "${encoding}"`, "InvalidPrivateKeySpec");
  }
  // Size 0 means unset, as in cert-manager's API.
  const size =
    algorithm === "Ed25519"
      ? 0
      : spec.size !== undefined && spec.size !== 0
        ? spec.size
        : defaultKeySize(algorithm);
  const allowed = algorithm === "RSA" ? RSA_SIZES : algorithm === "ECDSA" ? ECDSA_SIZES : [0];
  if (!allowed.includes(size)) {
    throw new TerminalError(
      `invalid ${algorithm} key size ${size}: must be one of ${allowed.join(", ")}`,
      "InvalidPrivateKeySpec",
    );
  }
  return { algorithm, size, encoding };
}

/**
 * Generates a private key for a spec. Asynchronous on purpose: an RSA 4096/8192 key takes
 * seconds, and node generates it on the thread pool instead of blocking the event loop.
 */
export async function generatePrivateKey(spec: PrivateKeySpec = {}): Promise<PrivateKey> {
  const { algorithm, size, encoding } = normalizeKeySpec(spec);
  let privateKey: KeyObject;
  if (algorithm === "RSA") {
    ({ privateKey } = await generateKeyPairAsync("rsa", { modulusLength: size, publicExponent: 0x10001 }));
  } else if (algorithm === "ECDSA") {
    ({ privateKey } = await generateKeyPairAsync("ec", { namedCurve: CURVE_BY_SIZE[size] ?? "P-256" }));
  } else {
    ({ privateKey } = await generateKeyPairAsync("ed25519"));
  }
  return describeKey(privateKey, encoding);
}

/** PEM-encodes a key. PKCS1 means SEC1 for ECDSA; Ed25519 has no PKCS1 form and is always PKCS8, as in cert-manager. */
export function encodePrivateKey(key: KeyObject | PrivateKey, encoding: KeyEncoding = "PKCS1"): string {
  const keyObject = "keyObject" in key ? key.keyObject : key;
  const algorithm = algorithmOf(keyObject);
  if (encoding === "PKCS8" || algorithm === "Ed25519") {
    return keyObject.export({ type: "pkcs8", format: "pem" }).toString();
  }
  const type = algorithm === "RSA" ? "pkcs1" : "sec1";
  return keyObject.export({ type, format: "pem" }).toString();
}

/**
 * Parses a PEM private key (PKCS#1, SEC1 or PKCS#8; unencrypted). Throws a TerminalError with
 * reason `InvalidPrivateKey` for anything else: garbage, a public key, an encrypted key, DSA, X25519.
 */
export function parsePrivateKey(pem: string | Buffer): PrivateKey {
  const text = pem.toString();
  const block = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text);
  if (!block) throw new TerminalError("private key is not PEM-encoded", "InvalidPrivateKey");
  const label = block[1];
  if (label === "ENCRYPTED PRIVATE KEY" || /Proc-Type:\s*4,ENCRYPTED/.test(text)) {
    throw new TerminalError("private key is encrypted", "InvalidPrivateKey");
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key: text, format: "pem" });
  } catch (err) {
    throw new TerminalError(`private key cannot be parsed: ${(err as Error).message}`, "InvalidPrivateKey", {
      cause: err,
    });
  }
  const encoding: KeyEncoding = label === "PRIVATE KEY" ? "PKCS8" : "PKCS1";
  return describeKey(keyObject, encoding, text);
}

/** The encoding of a PEM key from its label, without parsing it; undefined when it is no private key PEM. */
export function keyEncodingOf(pem: string): KeyEncoding | undefined {
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem)?.[1];
  if (label === "PRIVATE KEY") return "PKCS8";
  if (label === "RSA PRIVATE KEY" || label === "EC PRIVATE KEY") return "PKCS1";
  return undefined;
}

/**
 * Why a key does not fit a spec's algorithm and size, one sentence per mismatch; empty when it fits.
 * The encoding is not compared: it is how the key is written, not what it is.
 */
export function privateKeyMismatches(
  key: PrivateKey | KeyObject | string,
  spec: PrivateKeySpec = {},
): string[] {
  const parsed = toPrivateKey(key);
  const want = normalizeKeySpec(spec);
  if (parsed.algorithm !== want.algorithm) {
    return [`private key algorithm is ${parsed.algorithm}, the spec asks for ${want.algorithm}`];
  }
  if (want.algorithm !== "Ed25519" && parsed.size !== want.size) {
    return [`private key size is ${parsed.size}, the spec asks for ${want.size}`];
  }
  return [];
}

/** True when a key has the algorithm and size a spec asks for (defaults applied). */
export function keyMatchesSpec(key: PrivateKey | KeyObject | string, spec: PrivateKeySpec = {}): boolean {
  return privateKeyMismatches(key, spec).length === 0;
}

/** The public half of a key as DER SubjectPublicKeyInfo, the form to compare keys by. */
export function spkiOf(key: PrivateKey | KeyObject | string): Buffer {
  const k = toPrivateKey(key).keyObject;
  return createPublicKey(k).export({ type: "spki", format: "der" });
}

function toPrivateKey(key: PrivateKey | KeyObject | string): PrivateKey {
  if (typeof key === "string") return parsePrivateKey(key);
  if ("keyObject" in key) return key;
  return describeKey(key, "PKCS8");
}

function algorithmOf(key: KeyObject): KeyAlgorithm {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return "RSA";
    case "ec":
      return "ECDSA";
    case "ed25519":
      return "Ed25519";
    default:
      throw new TerminalError(
        `unsupported private key type "${key.asymmetricKeyType ?? key.type}": only RSA, ECDSA and Ed25519 are`,
        "InvalidPrivateKey",
      );
  }
}

function describeKey(keyObject: KeyObject, encoding: KeyEncoding, pem?: string): PrivateKey {
  if (keyObject.type !== "private") throw new TerminalError("not a private key", "InvalidPrivateKey");
  const algorithm = algorithmOf(keyObject);
  const details = keyObject.asymmetricKeyDetails ?? {};
  let size = 256;
  if (algorithm === "RSA") size = details.modulusLength ?? 0;
  if (algorithm === "ECDSA") {
    const curve = details.namedCurve ?? "";
    const bits = SIZE_BY_CURVE[curve];
    if (bits === undefined) {
      throw new TerminalError(
        `unsupported ECDSA curve "${curve}": only P-256, P-384 and P-521 are`,
        "InvalidPrivateKey",
      );
    }
    size = bits;
  }
  // Ed25519 has a PKCS8 form only, whatever encoding was asked for.
  const actualEncoding: KeyEncoding = algorithm === "Ed25519" ? "PKCS8" : encoding;
  return {
    keyObject,
    algorithm,
    size,
    encoding: actualEncoding,
    pem: pem ?? encodePrivateKey(keyObject, actualEncoding),
  };
}
