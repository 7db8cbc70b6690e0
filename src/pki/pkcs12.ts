/**
 * PKCS#12 key stores and trust stores written the way cert-manager writes them: with
 * software.sslmate.com/src/go-pkcs12's encoders (LegacyRC2, LegacyDES, Modern2023), the same bag
 * layout and attributes, and a strict decoder so that a reconcile can tell whether the file in a
 * Secret already holds the wanted key and certificates under the wanted profile.
 *
 * The ASN.1 is built with node-forge's DER codec rather than @peculiar/asn1-pfx, whose companion
 * packages lack EncryptedData and PBES2 parameter types; forge also supplies RC2, which Node's
 * default OpenSSL 3 provider does not. forge's own PKCS#12 writer cannot be used: it leaves
 * certificates unencrypted, writes RSA keys only and always uses a SHA-1 MAC.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hash as oneShotHash,
  pbkdf2Sync,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";
import forge from "node-forge";
import { TerminalError } from "../errors.js";
import * as der from "./der.js";
import { goSubjectString } from "./go-name.js";

/** cert-manager's `keystores.pkcs12.profile` values; LegacyRC2 is its default. */
export type Pkcs12Profile = "LegacyRC2" | "LegacyDES" | "Modern2023";

/** The profiles, cert-manager's default first. */
export const PKCS12_PROFILES: readonly Pkcs12Profile[] = ["LegacyRC2", "LegacyDES", "Modern2023"];

const OID = {
  data: "1.2.840.113549.1.7.1",
  encryptedData: "1.2.840.113549.1.7.6",
  keyBag: "1.2.840.113549.1.12.10.1.1",
  pkcs8ShroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  certBag: "1.2.840.113549.1.12.10.1.3",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
  javaTrustStore: "2.16.840.1.113894.746875.1.1",
  anyExtendedKeyUsage: "2.5.29.37.0",
  pbeSha1TripleDes: "1.2.840.113549.1.12.1.3",
  pbeSha1Rc2With40Bit: "1.2.840.113549.1.12.1.6",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  sha1: "1.3.14.3.2.26",
  sha256: "2.16.840.1.101.3.4.2.1",
} as const;

const PRF_BY_OID: Readonly<Record<string, string>> = {
  "1.2.840.113549.2.7": "sha1",
  "1.2.840.113549.2.9": "sha256",
  "1.2.840.113549.2.10": "sha384",
  "1.2.840.113549.2.11": "sha512",
};
const HMAC_SHA256 = "1.2.840.113549.2.9";
const AES_BY_OID: Readonly<Record<string, { cipher: string; keyLength: number }>> = {
  "2.16.840.1.101.3.4.1.2": { cipher: "aes-128-cbc", keyLength: 16 },
  "2.16.840.1.101.3.4.1.22": { cipher: "aes-192-cbc", keyLength: 24 },
  "2.16.840.1.101.3.4.1.42": { cipher: "aes-256-cbc", keyLength: 32 },
};
const AES_256_CBC = "2.16.840.1.101.3.4.1.42";
const MAC_BY_OID: Readonly<Record<string, { hash: string; size: number }>> = {
  [OID.sha1]: { hash: "sha1", size: 20 },
  [OID.sha256]: { hash: "sha256", size: 32 },
};

interface Encoder {
  readonly macOid: string;
  readonly certAlgorithm: string;
  readonly keyAlgorithm: string;
  readonly macIterations: number;
  readonly encryptionIterations: number;
  readonly saltLength: number;
}

// go-pkcs12's LegacyRC2, LegacyDES and Modern2023 encoders, parameter for parameter.
const ENCODERS: Readonly<Record<Pkcs12Profile, Encoder>> = {
  LegacyRC2: {
    macOid: OID.sha1,
    certAlgorithm: OID.pbeSha1Rc2With40Bit,
    keyAlgorithm: OID.pbeSha1TripleDes,
    macIterations: 1,
    encryptionIterations: 2048,
    saltLength: 8,
  },
  LegacyDES: {
    macOid: OID.sha1,
    certAlgorithm: OID.pbeSha1TripleDes,
    keyAlgorithm: OID.pbeSha1TripleDes,
    macIterations: 1,
    encryptionIterations: 2048,
    saltLength: 8,
  },
  Modern2023: {
    macOid: OID.sha256,
    certAlgorithm: OID.pbes2,
    keyAlgorithm: OID.pbes2,
    macIterations: 2048,
    encryptionIterations: 2048,
    saltLength: 16,
  },
};

/** One bag of a decoded PKCS#12 file. */
export interface Pkcs12Bag {
  readonly kind: "key" | "certificate";
  /** PKCS#8 PrivateKeyInfo for a key, the certificate's DER otherwise. */
  readonly der: Buffer;
  readonly friendlyName: string | undefined;
  readonly localKeyId: Buffer | undefined;
  /** Marked as a Java trust anchor (the attribute go-pkcs12 puts on trust store entries). */
  readonly trusted: boolean;
}

/** What a PKCS#12 file holds and how it is protected. */
export interface DecodedPkcs12 {
  /** In file order: go-pkcs12 writes the certificates (leaf first) and then the key. */
  readonly bags: readonly Pkcs12Bag[];
  /** The go-pkcs12 encoder whose algorithms and iteration counts the file uses, if any. */
  readonly profile: Pkcs12Profile | undefined;
  /** The protections used, such as `mac=sha1/1 certificates=pbeWithSHAAnd40BitRC2-CBC/2048`. */
  readonly algorithms: string;
}

/**
 * A key store: the key, the leaf and then every other certificate in `certificates` (go-pkcs12
 * `Encode`, as cert-manager calls it: no friendly name, localKeyId = SHA-1 of the leaf).
 */
export function encodePkcs12Keystore(opts: {
  readonly privateKeyPkcs8: Buffer;
  readonly certificates: readonly Buffer[];
  readonly password: string;
  readonly profile?: Pkcs12Profile | undefined;
}): Buffer {
  const enc = ENCODERS[opts.profile ?? "LegacyRC2"];
  const pw = passwords(opts.password);
  const [leaf, ...rest] = opts.certificates;
  if (!leaf) throw new Error("a PKCS#12 key store needs at least one certificate");
  const localKeyId = attribute(OID.localKeyId, der.octets(createHash("sha1").update(leaf).digest()));
  // go-pkcs12 gives the other certificates an empty (but present) attribute set.
  const certBags = [certBag(leaf, [localKeyId]), ...rest.map((c) => certBag(c, []))];
  const keyBag = safeBag(OID.pkcs8ShroudedKeyBag, encryptedPrivateKeyInfo(opts.privateKeyPkcs8, enc, pw), [
    localKeyId,
  ]);
  return pfx(
    enc,
    [encryptedContentInfo(der.encode(der.seq(certBags)), enc, pw), dataContentInfo(der.seq([keyBag]))],
    pw,
  );
}

/**
 * A Java trust store of CA certificates (go-pkcs12 `EncodeTrustStore`): each entry marked as a
 * trust anchor for any purpose and named after its subject as Go prints it.
 */
export function encodePkcs12Truststore(opts: {
  readonly certificates: readonly Buffer[];
  readonly password: string;
  readonly profile?: Pkcs12Profile | undefined;
}): Buffer {
  const enc = ENCODERS[opts.profile ?? "LegacyRC2"];
  const pw = passwords(opts.password);
  const trusted = attribute(OID.javaTrustStore, der.oid(OID.anyExtendedKeyUsage));
  const bags = opts.certificates.map((c) =>
    certBag(c, [trusted, attribute(OID.friendlyName, der.bmpString(goSubjectString(c)))]),
  );
  return pfx(enc, [encryptedContentInfo(der.encode(der.seq(bags)), enc, pw)], pw);
}

/**
 * Decodes a PKCS#12 file: verifies its MAC with the password and decrypts every bag. Throws when
 * the password is wrong or the file uses something this reader does not know.
 */
export function decodePkcs12(data: Buffer, password: string): DecodedPkcs12 {
  const pfxItems = der.seqItems(der.decode(data), "PFX", 2);
  if (der.intOf(pfxItems[0], "PFX version") !== 3) throw new Error("PFX: only version 3 is supported");
  const [ctNode, contentNode] = der.seqItems(pfxItems[1], "authSafe", 2);
  if (der.oidOf(ctNode, "authSafe contentType") !== OID.data) {
    throw new Error("PFX: only password integrity (a data authSafe) is supported");
  }
  const authSafe = der.octetsOf(der.unwrapExplicit0(contentNode, "authSafe content"), "authSafe content");
  let pw = passwords(password);
  const macNode = pfxItems[2];
  if (!macNode) throw new Error("PFX: no MAC");
  const mac = verifyMac(macNode, authSafe, pw);
  if (!mac.ok && password === "") {
    // Some writers derive the empty password's keys from no bytes at all instead of a lone NUL.
    pw = { bmp: Buffer.alloc(0), utf8: Buffer.alloc(0) };
    if (!verifyMac(macNode, authSafe, pw).ok) throw new Error("PKCS#12 MAC mismatch: wrong password");
  } else if (!mac.ok) {
    throw new Error("PKCS#12 MAC mismatch: wrong password");
  }
  const protections = [`mac=${mac.description}`];
  const bags: Pkcs12Bag[] = [];
  let certProtection: string | undefined;
  let keyProtection: string | undefined;
  for (const ci of der.seqItems(der.decode(authSafe), "authenticatedSafe")) {
    const [type, content] = der.seqItems(ci, "ContentInfo", 2);
    const contentType = der.oidOf(type, "ContentInfo contentType");
    let safeContents: Buffer;
    let protection = "none";
    if (contentType === OID.data) {
      safeContents = der.octetsOf(der.unwrapExplicit0(content, "data"), "data");
    } else if (contentType === OID.encryptedData) {
      const [version, eci] = der.seqItems(der.unwrapExplicit0(content, "encryptedData"), "EncryptedData", 2);
      if (der.intOf(version, "EncryptedData version") !== 0)
        throw new Error("EncryptedData: version must be 0");
      const [, algorithm, encrypted] = der.seqItems(eci, "EncryptedContentInfo", 3);
      const ciphertext = der.primitive(encrypted, der.CTX0, "encryptedContent", true);
      const out = decrypt(algorithm, ciphertext, pw);
      safeContents = out.plain;
      protection = out.description;
    } else {
      throw new Error(`authenticatedSafe: unsupported content type ${contentType}`);
    }
    for (const bagNode of der.seqItems(der.decode(safeContents), "SafeContents")) {
      const bag = decodeBag(bagNode, pw);
      bags.push(bag.bag);
      if (bag.bag.kind === "certificate") certProtection ??= protection;
      if (bag.keyProtection) keyProtection ??= bag.keyProtection;
    }
  }
  if (certProtection) protections.push(`certificates=${certProtection}`);
  if (keyProtection) protections.push(`key=${keyProtection}`);
  const algorithms = protections.join(" ");
  const profile = PKCS12_PROFILES.find((p) => algorithms === describeProfile(p, keyProtection !== undefined));
  return { bags, profile, algorithms };
}

function describeProfile(p: Pkcs12Profile, withKey: boolean): string {
  const enc = ENCODERS[p];
  const mac = `mac=${MAC_BY_OID[enc.macOid]?.hash ?? "?"}/${enc.macIterations}`;
  const certs = `certificates=${algorithmName(enc.certAlgorithm)}/${enc.encryptionIterations}`;
  const key = withKey ? ` key=${algorithmName(enc.keyAlgorithm)}/${enc.encryptionIterations}` : "";
  return `${mac} ${certs}${key}`;
}

function algorithmName(o: string): string {
  if (o === OID.pbeSha1TripleDes) return "pbeWithSHAAnd3-KeyTripleDES-CBC";
  if (o === OID.pbeSha1Rc2With40Bit) return "pbeWithSHAAnd40BitRC2-CBC";
  return "PBES2-PBKDF2-hmacWithSHA256-aes256-CBC";
}

interface Passwords {
  /** BMPString with a terminating NUL, for the PKCS#12 key derivation (RFC 7292 B.1). */
  readonly bmp: Buffer;
  /** UTF-8, for PBES2 (RFC 8018 recommends it, and go-pkcs12 and Windows use it). */
  readonly utf8: Buffer;
}

function passwords(password: string): Passwords {
  let bmp: Buffer;
  try {
    bmp = Buffer.concat([der.utf16be(password), Buffer.alloc(2)]);
  } catch (err) {
    throw new TerminalError(
      "the PKCS#12 password contains characters outside the Basic Multilingual Plane, which PKCS#12 cannot encode: choose another password",
      "InvalidKeystorePassword",
      { cause: err },
    );
  }
  return { bmp, utf8: Buffer.from(password, "utf8") };
}

/** The PKCS#12 key derivation function of RFC 7292 appendix B.2. */
function pkcs12Kdf(
  hash: string,
  password: Buffer,
  salt: Buffer,
  id: number,
  iterations: number,
  size: number,
): Buffer {
  const v = 64; // the block size of SHA-1 and SHA-256
  const fill = (b: Buffer) => {
    const len = v * Math.ceil(b.length / v);
    const out = Buffer.alloc(len);
    for (let i = 0; i < len; i++) out[i] = b[i % b.length] ?? 0;
    return out;
  };
  const I = Buffer.concat([fill(salt), password.length > 0 ? fill(password) : Buffer.alloc(0)]);
  const D = Buffer.alloc(v, id);
  const out: Buffer[] = [];
  let produced = 0;
  while (produced < size) {
    let A = createHash(hash).update(D).update(I).digest();
    // The one-shot hash is twice as fast as createHash here, where a reconcile spends its time.
    for (let r = 1; r < iterations; r++) A = oneShotHash(hash, A, "buffer");
    out.push(A);
    produced += A.length;
    if (produced >= size) break;
    const B = fill(A);
    // I_j = (I_j + B + 1) mod 2^(v*8), for each v-byte block of I.
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = (I[j + k] ?? 0) + (B[k] ?? 0) + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, size);
}

function pfx(enc: Encoder, safes: der.Node[], pw: Passwords): Buffer {
  const authSafe = der.encode(der.seq(safes));
  const mac = MAC_BY_OID[enc.macOid];
  if (!mac) throw new Error("unknown MAC algorithm");
  const salt = randomBytes(enc.saltLength);
  const key = pkcs12Kdf(mac.hash, pw.bmp, salt, 3, enc.macIterations, mac.size);
  const digest = createHmac(mac.hash, key).update(authSafe).digest();
  const macData = der.seq([
    der.seq([der.seq([der.oid(enc.macOid)]), der.octets(digest)]),
    der.octets(salt),
    // Go's encoding/asn1 leaves out a field equal to its DEFAULT (iterations DEFAULT 1).
    ...(enc.macIterations === 1 ? [] : [der.int(enc.macIterations)]),
  ]);
  return der.encode(der.seq([der.int(3), dataContent(authSafe), macData]));
}

function verifyMac(node: der.Node, authSafe: Buffer, pw: Passwords): { ok: boolean; description: string } {
  const [digestInfo, saltNode, iterNode] = der.seqItems(node, "MacData", 2);
  const [algId, digestNode] = der.seqItems(digestInfo, "DigestInfo", 2);
  const macOid = der.oidOf(der.seqItems(algId, "digestAlgorithm", 1)[0], "digestAlgorithm");
  const mac = MAC_BY_OID[macOid];
  if (!mac) throw new Error(`PKCS#12: unsupported MAC digest ${macOid}`);
  const iterations = iterNode ? der.intOf(iterNode, "MAC iterations") : 1;
  const key = pkcs12Kdf(mac.hash, pw.bmp, der.octetsOf(saltNode, "macSalt"), 3, iterations, mac.size);
  const want = createHmac(mac.hash, key).update(authSafe).digest();
  const got = der.octetsOf(digestNode, "MAC digest");
  return {
    ok: got.length === want.length && timingSafeEqual(got, want),
    description: `${mac.hash}/${iterations}`,
  };
}

function dataContent(content: Buffer): der.Node {
  return der.seq([der.oid(OID.data), der.explicit0(der.octets(content))]);
}

function dataContentInfo(safeContents: der.Node): der.Node {
  return dataContent(der.encode(safeContents));
}

function encryptedContentInfo(plain: Buffer, enc: Encoder, pw: Passwords): der.Node {
  const { algorithm, ciphertext } = encrypt(enc.certAlgorithm, enc, plain, pw);
  const eci = der.seq([der.oid(OID.data), algorithm, der.implicitOctets0(ciphertext)]);
  return der.seq([der.oid(OID.encryptedData), der.explicit0(der.seq([der.int(0), eci]))]);
}

function encryptedPrivateKeyInfo(pkcs8: Buffer, enc: Encoder, pw: Passwords): der.Node {
  const { algorithm, ciphertext } = encrypt(enc.keyAlgorithm, enc, pkcs8, pw);
  return der.seq([algorithm, der.octets(ciphertext)]);
}

function attribute(type: string, value: der.Node): der.Node {
  return der.seq([der.oid(type), der.setOf([value])]);
}

function safeBag(type: string, value: der.Node, attributes: der.Node[]): der.Node {
  return der.seq([der.oid(type), der.explicit0(value), der.setOf(attributes)]);
}

function certBag(cert: Buffer, attributes: der.Node[]): der.Node {
  const value = der.seq([der.oid(OID.x509Certificate), der.explicit0(der.octets(cert))]);
  return safeBag(OID.certBag, value, attributes);
}

function encrypt(
  algorithm: string,
  enc: Encoder,
  plain: Buffer,
  pw: Passwords,
): { algorithm: der.Node; ciphertext: Buffer } {
  const salt = randomBytes(enc.saltLength);
  const iterations = enc.encryptionIterations;
  if (algorithm === OID.pbes2) {
    const iv = randomBytes(16);
    const key = pbkdf2Sync(pw.utf8, salt, iterations, 32, "sha256");
    const c = createCipheriv("aes-256-cbc", key, iv);
    // As go-pkcs12 (since v0.7) writes it: no keyLength, and the PRF with an explicit NULL
    // parameter, which RFC 8018 defines and BoringSSL requires.
    const params = der.seq([
      der.seq([
        der.oid(OID.pbkdf2),
        der.seq([der.octets(salt), der.int(iterations), der.seq([der.oid(HMAC_SHA256), der.nul()])]),
      ]),
      der.seq([der.oid(AES_256_CBC), der.octets(iv)]),
    ]);
    return {
      algorithm: der.seq([der.oid(OID.pbes2), params]),
      ciphertext: Buffer.concat([c.update(plain), c.final()]),
    };
  }
  const ciphertext = legacyCipher(algorithm, pw.bmp, salt, iterations, plain, true);
  return {
    algorithm: der.seq([der.oid(algorithm), der.seq([der.octets(salt), der.int(iterations)])]),
    ciphertext,
  };
}

function decrypt(
  algNode: der.Node | undefined,
  ciphertext: Buffer,
  pw: Passwords,
): { plain: Buffer; description: string } {
  const [oidNode, paramsNode] = der.seqItems(algNode, "encryption algorithm", 2);
  const algorithm = der.oidOf(oidNode, "encryption algorithm");
  try {
    if (algorithm === OID.pbes2) return decryptPbes2(paramsNode, ciphertext, pw);
    if (algorithm !== OID.pbeSha1TripleDes && algorithm !== OID.pbeSha1Rc2With40Bit) {
      throw new Error(`unsupported encryption algorithm ${algorithm}`);
    }
    const [saltNode, iterNode] = der.seqItems(paramsNode, "PBE parameters", 2);
    const iterations = der.intOf(iterNode, "PBE iterations");
    const plain = legacyCipher(
      algorithm,
      pw.bmp,
      der.octetsOf(saltNode, "PBE salt"),
      iterations,
      ciphertext,
      false,
    );
    return { plain, description: `${algorithmName(algorithm)}/${iterations}` };
  } catch (err) {
    throw new Error(`PKCS#12 decryption failed: ${(err as Error).message}`, { cause: err });
  }
}

function decryptPbes2(
  paramsNode: der.Node | undefined,
  ciphertext: Buffer,
  pw: Passwords,
): { plain: Buffer; description: string } {
  const [kdf, scheme] = der.seqItems(paramsNode, "PBES2 parameters", 2);
  const [kdfOid, kdfParams] = der.seqItems(kdf, "PBES2 KDF", 2);
  if (der.oidOf(kdfOid, "PBES2 KDF") !== OID.pbkdf2) throw new Error("PBES2: only PBKDF2 is supported");
  const [saltNode, iterNode, ...rest] = der.seqItems(kdfParams, "PBKDF2 parameters", 2);
  const iterations = der.intOf(iterNode, "PBKDF2 iterations");
  let keyLength: number | undefined;
  let prfOid = "1.2.840.113549.2.7"; // DEFAULT hmacWithSHA1
  for (const n of rest) {
    if (n.type === der.TYPE.INTEGER) keyLength = der.intOf(n, "PBKDF2 keyLength");
    else {
      prfOid = der.oidOf(der.seqItems(n, "PBKDF2 PRF", 1)[0], "PBKDF2 PRF");
    }
  }
  const prf = PRF_BY_OID[prfOid];
  if (!prf) throw new Error(`PBES2: unsupported PRF ${prfOid}`);
  const [schemeOid, ivNode] = der.seqItems(scheme, "PBES2 encryption scheme", 2);
  const aesOid = der.oidOf(schemeOid, "PBES2 encryption scheme");
  const aes = AES_BY_OID[aesOid];
  if (!aes) throw new Error(`PBES2: unsupported cipher ${aesOid}`);
  const key = pbkdf2Sync(
    pw.utf8,
    der.octetsOf(saltNode, "PBKDF2 salt"),
    iterations,
    keyLength ?? aes.keyLength,
    prf,
  );
  const d = createDecipheriv(aes.cipher, key, der.octetsOf(ivNode, "PBES2 IV"));
  const plain = Buffer.concat([d.update(ciphertext), d.final()]);
  // Modern2023's algorithms, whether the PRF carries its NULL parameter (go-pkcs12 0.7 and
  // OpenSSL) or not (older go-pkcs12, hence older cert-manager releases).
  const exact = prfOid === HMAC_SHA256 && aesOid === AES_256_CBC && (keyLength ?? 32) === 32;
  const name = exact ? algorithmName(OID.pbes2) : `PBES2-PBKDF2-hmacWith${prf.toUpperCase()}-${aes.cipher}`;
  return { plain, description: `${name}/${iterations}` };
}

function legacyCipher(
  algorithm: string,
  bmp: Buffer,
  salt: Buffer,
  iterations: number,
  input: Buffer,
  encrypting: boolean,
): Buffer {
  if (algorithm === OID.pbeSha1TripleDes) {
    const key = pkcs12Kdf("sha1", bmp, salt, 1, iterations, 24);
    const iv = pkcs12Kdf("sha1", bmp, salt, 2, iterations, 8);
    const c = encrypting
      ? createCipheriv("des-ede3-cbc", key, iv)
      : createDecipheriv("des-ede3-cbc", key, iv);
    return Buffer.concat([c.update(input), c.final()]);
  }
  // RC2 with a 40-bit key: not in OpenSSL 3's default provider, so forge does it.
  const key = pkcs12Kdf("sha1", bmp, salt, 1, iterations, 5).toString("binary");
  const iv = pkcs12Kdf("sha1", bmp, salt, 2, iterations, 8).toString("binary");
  const c = encrypting
    ? forge.rc2.createEncryptionCipher(key, 40)
    : forge.rc2.createDecryptionCipher(key, 40);
  c.start(iv);
  c.update(forge.util.createBuffer(input.toString("binary")));
  if (!c.finish()) throw new Error("RC2: bad padding (wrong password?)");
  return Buffer.from(c.output.getBytes(), "binary");
}

function decodeBag(node: der.Node, pw: Passwords): { bag: Pkcs12Bag; keyProtection?: string } {
  const [idNode, valueNode, attrsNode] = der.seqItems(node, "SafeBag", 2);
  const bagId = der.oidOf(idNode, "SafeBag bagId");
  const value = der.unwrapExplicit0(valueNode, "SafeBag bagValue");
  let friendlyName: string | undefined;
  let localKeyId: Buffer | undefined;
  let trusted = false;
  for (const a of attrsNode ? der.setItems(attrsNode, "SafeBag attributes") : []) {
    const [typeNode, valuesNode] = der.seqItems(a, "attribute", 2);
    const type = der.oidOf(typeNode, "attribute type");
    const first = der.setItems(valuesNode, "attribute values")[0];
    if (type === OID.friendlyName) friendlyName = der.bmpStringOf(first, "friendlyName");
    else if (type === OID.localKeyId) localKeyId = der.octetsOf(first, "localKeyId");
    else if (type === OID.javaTrustStore) trusted = true;
  }
  const common = { friendlyName, localKeyId, trusted };
  if (bagId === OID.certBag) {
    const [certType, certValue] = der.seqItems(value, "CertBag", 2);
    if (der.oidOf(certType, "CertBag certId") !== OID.x509Certificate)
      throw new Error("CertBag: only X.509 certificates are supported");
    return {
      bag: {
        kind: "certificate",
        der: der.octetsOf(der.unwrapExplicit0(certValue, "certValue"), "certValue"),
        ...common,
      },
    };
  }
  if (bagId === OID.pkcs8ShroudedKeyBag) {
    const [algorithm, encrypted] = der.seqItems(value, "EncryptedPrivateKeyInfo", 2);
    const out = decrypt(algorithm, der.octetsOf(encrypted, "encryptedData"), pw);
    return { bag: { kind: "key", der: out.plain, ...common }, keyProtection: out.description };
  }
  if (bagId === OID.keyBag) {
    return { bag: { kind: "key", der: der.encode(value), ...common }, keyProtection: "none" };
  }
  throw new Error(`SafeBag: unsupported bag type ${bagId}`);
}
