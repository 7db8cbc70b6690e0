/**
 * Java KeyStore (JKS) files, written as cert-manager writes them with keystore-go: magic
 * 0xFEEDFEED, version 2, entries with millisecond creation times, private keys protected with
 * Sun's proprietary SHA-1 XOR scheme (OID 1.3.6.1.4.1.42.2.17.1.1), and a SHA-1 integrity digest
 * over the password, the string "Mighty Aphrodite" and the file. No maintained npm package writes
 * JKS, and the format is small, so it is written here.
 *
 * Two deliberate differences from keystore-go, both towards what Java itself does: the password
 * is taken as UTF-16 code units (keystore-go widens each UTF-8 byte, so a non-ASCII password
 * gives a file keytool cannot open), and aliases are written as Java's modified UTF-8.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import * as der from "./der.js";

const MAGIC = 0xfeedfeed;
const VERSION = 2;
const PRIVATE_KEY_TAG = 1;
const TRUSTED_CERT_TAG = 2;
const WHITENER = Buffer.from("Mighty Aphrodite", "latin1");
const KEY_PROTECTOR_OID = "1.3.6.1.4.1.42.2.17.1.1";
const SALT_LENGTH = 20;
// keystore-go and cert-manager write "X509"; Java's own tools write "X.509". Both load.
const CERT_TYPE = "X509";

/** A JKS entry: a private key with its chain, or a trusted certificate. */
export type JksEntry =
  | {
      readonly kind: "privateKey";
      readonly alias: string;
      /** PKCS#8 PrivateKeyInfo. */
      readonly privateKeyPkcs8: Buffer;
      /** Leaf first, DER. */
      readonly chain: readonly Buffer[];
      readonly created?: Date;
    }
  | {
      readonly kind: "trustedCertificate";
      readonly alias: string;
      readonly certificate: Buffer;
      readonly created?: Date;
    };

/**
 * Encodes a JKS file, in entry order. Aliases are lower-cased as Java and keystore-go do; private
 * keys are protected with the store password, as cert-manager does.
 */
export function encodeJks(entries: readonly JksEntry[], password: string): Buffer {
  const pw = passwordBytes(password);
  const parts: Buffer[] = [u32(MAGIC), u32(VERSION), u32(entries.length)];
  for (const e of entries) {
    const created = u64((e.created ?? new Date()).getTime());
    if (e.kind === "privateKey") {
      const protectedKey = protectKey(e.privateKeyPkcs8, pw);
      parts.push(
        u32(PRIVATE_KEY_TAG),
        utf(e.alias.toLowerCase()),
        created,
        u32(protectedKey.length),
        protectedKey,
      );
      parts.push(u32(e.chain.length), ...e.chain.flatMap((c) => [utf(CERT_TYPE), u32(c.length), c]));
    } else {
      parts.push(u32(TRUSTED_CERT_TAG), utf(e.alias.toLowerCase()), created);
      parts.push(utf(CERT_TYPE), u32(e.certificate.length), e.certificate);
    }
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([body, integrityDigest(pw, body)]);
}

/**
 * Decodes a JKS file: checks the integrity digest with the password and recovers every private
 * key with it. Throws on a wrong password, a truncated file or an unknown entry type.
 */
export function decodeJks(data: Buffer, password: string): JksEntry[] {
  const pw = passwordBytes(password);
  if (data.length < 12 + 20) throw new Error("JKS: file too short");
  const body = data.subarray(0, data.length - 20);
  const digest = data.subarray(data.length - 20);
  if (!timingSafeEqual(digest, integrityDigest(pw, body))) {
    throw new Error("JKS: integrity check failed: wrong password or a damaged file");
  }
  const r = new Reader(body);
  if (r.u32() !== MAGIC) throw new Error("JKS: bad magic number");
  const version = r.u32();
  if (version !== 1 && version !== 2) throw new Error(`JKS: unsupported version ${version}`);
  const count = r.u32();
  const entries: JksEntry[] = [];
  for (let i = 0; i < count; i++) {
    const tag = r.u32();
    const alias = r.utf();
    const created = new Date(Number(r.u64()));
    if (tag === PRIVATE_KEY_TAG) {
      const privateKeyPkcs8 = recoverKey(r.bytes(r.u32()), pw);
      const chain: Buffer[] = [];
      for (let n = r.u32(); n > 0; n--) chain.push(readCertificate(r, version));
      entries.push({ kind: "privateKey", alias, privateKeyPkcs8, chain, created });
    } else if (tag === TRUSTED_CERT_TAG) {
      entries.push({ kind: "trustedCertificate", alias, certificate: readCertificate(r, version), created });
    } else {
      throw new Error(`JKS: unsupported entry tag ${tag} (secret keys need JCEKS)`);
    }
  }
  if (!r.done()) throw new Error("JKS: trailing bytes after the last entry");
  return entries;
}

function readCertificate(r: Reader, version: number): Buffer {
  if (version === 2) r.utf(); // the certificate type; version 1 files have X.509 only
  return r.bytes(r.u32());
}

// Java's JavaKeyStore.getPreKeyedHash: the password as big-endian UTF-16 code units.
function passwordBytes(password: string): Buffer {
  const out = Buffer.alloc(password.length * 2);
  for (let i = 0; i < password.length; i++) out.writeUInt16BE(password.charCodeAt(i), i * 2);
  return out;
}

function integrityDigest(pw: Buffer, body: Buffer): Buffer {
  return createHash("sha1").update(pw).update(WHITENER).update(body).digest();
}

// sun.security.provider.KeyProtector: a SHA-1 keystream seeded by a random salt, XORed with the
// key, followed by SHA-1(password || key) as a check value.
function keystream(pw: Buffer, salt: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let digest = salt;
  for (let n = 0; n < length; n += 20) {
    digest = createHash("sha1").update(pw).update(digest).digest();
    out.push(digest);
  }
  return Buffer.concat(out).subarray(0, length);
}

function protectKey(pkcs8: Buffer, pw: Buffer): Buffer {
  const salt = randomBytes(SALT_LENGTH);
  const stream = keystream(pw, salt, pkcs8.length);
  const xored = Buffer.from(pkcs8.map((b, i) => b ^ (stream[i] ?? 0)));
  const check = createHash("sha1").update(pw).update(pkcs8).digest();
  // EncryptedPrivateKeyInfo with the algorithm's NULL parameters, as keystore-go v4 writes it.
  return der.encode(
    der.seq([
      der.seq([der.oid(KEY_PROTECTOR_OID), der.nul()]),
      der.octets(Buffer.concat([salt, xored, check])),
    ]),
  );
}

function recoverKey(encoded: Buffer, pw: Buffer): Buffer {
  const [algId, dataNode] = der.seqItems(der.decode(encoded), "JKS EncryptedPrivateKeyInfo", 2);
  const algorithm = der.oidOf(der.seqItems(algId, "JKS key algorithm", 1)[0], "JKS key algorithm");
  if (algorithm !== KEY_PROTECTOR_OID) throw new Error(`JKS: unsupported key protection ${algorithm}`);
  const data = der.octetsOf(dataNode, "JKS protected key");
  if (data.length < SALT_LENGTH + 20) throw new Error("JKS: protected key too short");
  const salt = data.subarray(0, SALT_LENGTH);
  const xored = data.subarray(SALT_LENGTH, data.length - 20);
  const stream = keystream(pw, salt, xored.length);
  const key = Buffer.from(xored.map((b, i) => b ^ (stream[i] ?? 0)));
  const check = createHash("sha1").update(pw).update(key).digest();
  if (!timingSafeEqual(check, data.subarray(data.length - 20))) {
    throw new Error("JKS: the private key does not decrypt with this password");
  }
  return key;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

// java.io.DataOutputStream.writeUTF: a 16-bit length, then modified UTF-8 (NUL as two bytes,
// supplementary characters as two three-byte surrogates).
function utf(s: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x01 && c <= 0x7f) bytes.push(c);
    else if (c <= 0x7ff) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  if (bytes.length > 0xffff) throw new Error("JKS: alias too long");
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), Buffer.from(bytes)]);
}

class Reader {
  private offset = 0;
  constructor(private readonly b: Buffer) {}

  u32(): number {
    return this.take(4).readUInt32BE(0);
  }

  u64(): bigint {
    return this.take(8).readBigUInt64BE(0);
  }

  bytes(n: number): Buffer {
    return this.take(n);
  }

  utf(): string {
    const raw = this.take(this.take(2).readUInt16BE(0));
    let out = "";
    for (let i = 0; i < raw.length;) {
      const a = raw[i] ?? 0;
      if (a < 0x80) {
        out += String.fromCharCode(a);
        i += 1;
      } else if ((a & 0xe0) === 0xc0) {
        out += String.fromCharCode(((a & 0x1f) << 6) | ((raw[i + 1] ?? 0) & 0x3f));
        i += 2;
      } else {
        out += String.fromCharCode(
          ((a & 0x0f) << 12) | (((raw[i + 1] ?? 0) & 0x3f) << 6) | ((raw[i + 2] ?? 0) & 0x3f),
        );
        i += 3;
      }
    }
    return out;
  }

  done(): boolean {
    return this.offset === this.b.length;
  }

  private take(n: number): Buffer {
    if (this.offset + n > this.b.length) throw new Error("JKS: file truncated");
    const out = this.b.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
}
