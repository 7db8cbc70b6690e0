/**
 * The extra Secret data keys cert-manager writes beside tls.crt, tls.key and ca.crt: its
 * `additionalOutputFormats` (CombinedPEM, DER) and `keystores` (PKCS#12 and JKS, each a key store
 * and, when the CA is known, a trust store), with the same names, contents and defaults. Pure:
 * the caller resolves passwords from Secrets and writes the result.
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { TerminalError } from "../errors.js";
import { splitChain } from "./certificates.js";
import { goSubjectString } from "./go-name.js";
import { decodeJks, encodeJks, type JksEntry } from "./jks.js";
import { parsePrivateKey } from "./keys.js";
import { decodePkcs12, encodePkcs12Keystore, encodePkcs12Truststore, type Pkcs12Profile } from "./pkcs12.js";

/** What was issued, as it goes into tls.crt, tls.key and ca.crt. */
export interface IssuedMaterial {
  /** tls.crt: the leaf first, then its chain. */
  readonly chainPem: string;
  /** tls.key, in the encoding the spec asks for. */
  readonly privateKeyPem: string;
  /** ca.crt, when known: one or more CA certificates. */
  readonly caPem?: string | undefined;
}

/** The outputs a Certificate's spec asks for, with passwords already resolved. */
export interface OutputOptions {
  /** `additionalOutputFormats: [{type: CombinedPEM}]`. */
  readonly combinedPem?: boolean | undefined;
  /** `additionalOutputFormats: [{type: DER}]`. */
  readonly der?: boolean | undefined;
  /** `keystores.pkcs12` with `create: true`; profile LegacyRC2 when absent, as in cert-manager. */
  readonly pkcs12?: { readonly password: string; readonly profile?: Pkcs12Profile | undefined } | undefined;
  /** `keystores.jks` with `create: true`; alias `certificate` when absent, as in cert-manager. */
  readonly jks?: { readonly password: string; readonly alias?: string | undefined } | undefined;
}

/** The Secret data key of each output, as cert-manager names them. */
export const OUTPUT_KEYS = {
  combinedPem: "tls-combined.pem",
  der: "key.der",
  pkcs12Keystore: "keystore.p12",
  pkcs12Truststore: "truststore.p12",
  jksKeystore: "keystore.jks",
  jksTruststore: "truststore.jks",
} as const;

/**
 * Every data key cert-manager may write beside tls.crt, tls.key and ca.crt: the keys to remove
 * from a Secret when its Certificate does not (or no longer) ask for them.
 */
export const MANAGED_OUTPUT_KEYS: readonly string[] = Object.values(OUTPUT_KEYS);

/** cert-manager's default alias of the key entry in keystore.jks. */
export const DEFAULT_JKS_ALIAS = "certificate";

/**
 * The Secret data keys these options produce, and only those. Throws a TerminalError
 * (`InvalidKeystorePassword`) for an empty password, which cert-manager's API does not allow.
 */
export function renderOutputs(m: IssuedMaterial, o: OutputOptions): Record<string, Buffer> {
  const p = prepare(m);
  const out: Record<string, Buffer> = {};
  if (o.combinedPem) out[OUTPUT_KEYS.combinedPem] = combinedPem(m);
  if (o.der) out[OUTPUT_KEYS.der] = p.keyDer;
  if (o.pkcs12) {
    const { password, profile } = o.pkcs12;
    requirePassword("PKCS#12", password);
    out[OUTPUT_KEYS.pkcs12Keystore] = encodePkcs12Keystore({
      privateKeyPkcs8: p.pkcs8,
      certificates: [...p.chain, ...p.cas],
      password,
      profile,
    });
    if (p.cas.length > 0) {
      out[OUTPUT_KEYS.pkcs12Truststore] = encodePkcs12Truststore({ certificates: p.cas, password, profile });
    }
  }
  if (o.jks) {
    requirePassword("JKS", o.jks.password);
    const [keystore, truststore] = jksEntries(p, o.jks.alias);
    out[OUTPUT_KEYS.jksKeystore] = encodeJks(keystore, o.jks.password);
    if (truststore.length > 0) out[OUTPUT_KEYS.jksTruststore] = encodeJks(truststore, o.jks.password);
  }
  return out;
}

/**
 * Why `data` (a Secret's data, decoded) does not hold exactly what `renderOutputs` would write for
 * this material and options, as one sentence for an Event or a log line; undefined when it does.
 * Keystores are opened with the password and their key, certificates, aliases and profile
 * compared, since their salts are random. A managed key that is not asked for is a mismatch too.
 */
export function outputsMismatch(
  data: Readonly<Record<string, Buffer>>,
  m: IssuedMaterial,
  o: OutputOptions,
): string | undefined {
  const p = prepare(m);
  const wanted = new Set<string>();
  if (o.combinedPem) wanted.add(OUTPUT_KEYS.combinedPem);
  if (o.der) wanted.add(OUTPUT_KEYS.der);
  if (o.pkcs12) wanted.add(OUTPUT_KEYS.pkcs12Keystore);
  if (o.pkcs12 && p.cas.length > 0) wanted.add(OUTPUT_KEYS.pkcs12Truststore);
  if (o.jks) wanted.add(OUTPUT_KEYS.jksKeystore);
  if (o.jks && p.cas.length > 0) wanted.add(OUTPUT_KEYS.jksTruststore);
  for (const key of MANAGED_OUTPUT_KEYS) {
    if (data[key] !== undefined && !wanted.has(key)) return `${key} is in the Secret but not asked for`;
    if (data[key] === undefined && wanted.has(key)) return `${key} is missing from the Secret`;
  }
  const get = (key: string): Buffer => data[key] ?? Buffer.alloc(0);
  if (o.combinedPem && !get(OUTPUT_KEYS.combinedPem).equals(combinedPem(m))) {
    return `${OUTPUT_KEYS.combinedPem} does not hold the current tls.key and tls.crt`;
  }
  if (o.der && !get(OUTPUT_KEYS.der).equals(p.keyDer)) {
    return `${OUTPUT_KEYS.der} does not hold the current private key`;
  }
  if (o.pkcs12) {
    const profile = o.pkcs12.profile ?? "LegacyRC2";
    const why =
      pkcs12Mismatch(get(OUTPUT_KEYS.pkcs12Keystore), o.pkcs12.password, profile, p, false) ??
      (p.cas.length > 0
        ? pkcs12Mismatch(get(OUTPUT_KEYS.pkcs12Truststore), o.pkcs12.password, profile, p, true)
        : undefined);
    if (why) return why;
  }
  if (o.jks) {
    const [keystore, truststore] = jksEntries(p, o.jks.alias);
    const why =
      jksMismatch(OUTPUT_KEYS.jksKeystore, get(OUTPUT_KEYS.jksKeystore), o.jks.password, keystore) ??
      (truststore.length > 0
        ? jksMismatch(OUTPUT_KEYS.jksTruststore, get(OUTPUT_KEYS.jksTruststore), o.jks.password, truststore)
        : undefined);
    if (why) return why;
  }
  return undefined;
}

/** True when `data` already holds exactly what `renderOutputs` would write (see `outputsMismatch`). */
export function outputsCurrent(
  data: Readonly<Record<string, Buffer>>,
  m: IssuedMaterial,
  o: OutputOptions,
): boolean {
  return outputsMismatch(data, m, o) === undefined;
}

interface Prepared {
  readonly keyObject: KeyObject;
  /** The DER inside tls.key's PEM block, in its own encoding (PKCS#1, SEC1 or PKCS#8). */
  readonly keyDer: Buffer;
  readonly pkcs8: Buffer;
  /** tls.crt's certificates, DER, in order. */
  readonly chain: readonly Buffer[];
  /** ca.crt's certificates, DER, duplicates dropped. */
  readonly cas: readonly Buffer[];
}

function prepare(m: IssuedMaterial): Prepared {
  const key = parsePrivateKey(m.privateKeyPem);
  const body = /-----BEGIN [A-Z0-9 ]+-----([\s\S]*?)-----END /.exec(m.privateKeyPem)?.[1] ?? "";
  const chain = splitChain(m.chainPem).map((pem) => new X509Certificate(pem).raw);
  const cas: Buffer[] = [];
  if (m.caPem !== undefined && m.caPem.trim() !== "") {
    for (const pem of splitChain(m.caPem)) {
      const raw = new X509Certificate(pem).raw;
      if (!cas.some((c) => c.equals(raw))) cas.push(raw);
    }
  }
  return {
    keyObject: key.keyObject,
    keyDer: Buffer.from(body.replace(/\s+/g, ""), "base64"),
    pkcs8: key.keyObject.export({ type: "pkcs8", format: "der" }),
    chain,
    cas,
  };
}

// cert-manager's OutputFormatCombinedPEM: tls.key, a newline, tls.crt.
function combinedPem(m: IssuedMaterial): Buffer {
  return Buffer.concat([Buffer.from(m.privateKeyPem), Buffer.from("\n"), Buffer.from(m.chainPem)]);
}

function requirePassword(store: string, password: string): void {
  if (password === "") {
    throw new TerminalError(
      `the ${store} keystore password is empty: set a non-empty password or passwordSecretRef`,
      "InvalidKeystorePassword",
    );
  }
}

// cert-manager: the key entry holds tls.crt's chain; every CA certificate is a trusted entry
// named "ca", "ca-1", "ca-2"… in both files.
function jksEntries(p: Prepared, alias: string | undefined): [JksEntry[], JksEntry[]] {
  const created = new Date();
  const trusted: JksEntry[] = p.cas.map((certificate, i) => ({
    kind: "trustedCertificate",
    alias: i === 0 ? "ca" : `ca-${i}`,
    certificate,
    created,
  }));
  const key: JksEntry = {
    kind: "privateKey",
    alias: alias ?? DEFAULT_JKS_ALIAS,
    privateKeyPkcs8: p.pkcs8,
    chain: p.chain,
    created,
  };
  return [[key, ...trusted], trusted];
}

function sameKey(pkcs8: Buffer, want: KeyObject): boolean {
  try {
    return createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }).equals(want);
  } catch {
    return false;
  }
}

function sameList(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  return a.length === b.length && a.every((x, i) => b[i]?.equals(x) === true);
}

function pkcs12Mismatch(
  file: Buffer,
  password: string,
  profile: Pkcs12Profile,
  p: Prepared,
  truststore: boolean,
): string | undefined {
  const name = truststore ? OUTPUT_KEYS.pkcs12Truststore : OUTPUT_KEYS.pkcs12Keystore;
  let decoded;
  try {
    decoded = decodePkcs12(file, password);
  } catch (err) {
    return `${name} cannot be opened with the keystore password: ${(err as Error).message}`;
  }
  if (decoded.profile !== profile)
    return `${name} is not written with the ${profile} profile (${decoded.algorithms})`;
  const keys = decoded.bags.filter((b) => b.kind === "key");
  const certs = decoded.bags.filter((b) => b.kind === "certificate");
  if (truststore) {
    const ok =
      keys.length === 0 &&
      sameList(
        certs.map((c) => c.der),
        p.cas,
      ) &&
      certs.every((c) => c.trusted && c.friendlyName === goSubjectString(c.der));
    return ok ? undefined : `${name} does not hold exactly the current CA certificates`;
  }
  const [key] = keys;
  if (keys.length !== 1 || !key || !sameKey(key.der, p.keyObject))
    return `${name} does not hold the current private key`;
  // go-pkcs12 ties the key to the leaf by the leaf's SHA-1 as localKeyId.
  const keyId = createHash("sha1")
    .update(p.chain[0] ?? Buffer.alloc(0))
    .digest();
  const chainOk =
    sameList(
      certs.map((c) => c.der),
      [...p.chain, ...p.cas],
    ) &&
    key.localKeyId?.equals(keyId) === true &&
    certs[0]?.localKeyId?.equals(keyId) === true;
  if (!chainOk) return `${name} does not hold the current certificate chain`;
  return undefined;
}

function jksMismatch(
  name: string,
  file: Buffer,
  password: string,
  want: readonly JksEntry[],
): string | undefined {
  let entries;
  try {
    entries = decodeJks(file, password);
  } catch (err) {
    return `${name} cannot be opened with the keystore password: ${(err as Error).message}`;
  }
  if (entries.length !== want.length) return `${name} does not hold exactly the expected entries`;
  for (const w of want) {
    const got = entries.find((e) => e.alias === w.alias.toLowerCase());
    if (got?.kind !== w.kind) return `${name} has no ${w.kind} entry "${w.alias.toLowerCase()}"`;
    if (w.kind === "privateKey" && got.kind === "privateKey") {
      if (
        !sameKey(
          got.privateKeyPkcs8,
          createPrivateKey({ key: w.privateKeyPkcs8, format: "der", type: "pkcs8" }),
        )
      ) {
        return `${name} does not hold the current private key`;
      }
      if (!sameList(got.chain, w.chain)) return `${name} does not hold the current certificate chain`;
    }
    if (
      w.kind === "trustedCertificate" &&
      got.kind === "trustedCertificate" &&
      !got.certificate.equals(w.certificate)
    ) {
      return `${name} does not hold the current CA certificate "${w.alias}"`;
    }
  }
  return undefined;
}
