/**
 * Reading certificates and chains: splitting PEM bundles, ordering a chain from leaf to root as
 * cert-manager does, the facts a Certificate's status needs, and checking a chain against a root.
 */
import { X509Certificate, createHash } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { TerminalError } from "../errors.js";
import { spkiOf, type KeyAlgorithm, type PrivateKey } from "./keys.js";
import type { KeyObject } from "node:crypto";

/** A chain ordered from the leaf up. Every member is a normalised PEM block. */
export interface CertificateChain {
  readonly leaf: string;
  /** The leaf's issuer first; never a self-signed certificate. */
  readonly intermediates: readonly string[];
  /** The self-signed root when the bundle contains one (the leaf itself for a lone self-signed certificate). */
  readonly root: string | undefined;
  /** Leaf and intermediates, the root left out: what belongs in `tls.crt`. */
  readonly chainPem: string;
}

/** The facts about one certificate that a Certificate's status and the renewal logic need. */
export interface CertificateInfo {
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly dnsNames: string[];
  readonly ipAddresses: string[];
  readonly commonName: string | undefined;
  readonly issuerCommonName: string | undefined;
  /** Lower-case hex, as the DER holds it. */
  readonly serialNumber: string;
  readonly subject: string;
  readonly issuer: string;
  readonly isCA: boolean;
  readonly selfSigned: boolean;
  readonly keyAlgorithm: KeyAlgorithm | undefined;
  /** RSA modulus bits or ECDSA curve bits; 256 for Ed25519. */
  readonly keySize: number | undefined;
  /** Lower-case hex SHA-256 of the DER. */
  readonly fingerprintSha256: string;
}

/** The outcome of `verifyChain`. */
export type ChainVerification = { readonly valid: true } | { readonly valid: false; readonly reason: string };

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

/**
 * Splits a PEM bundle into its CERTIFICATE blocks, each re-encoded canonically (64-column base64,
 * trailing newline). Other blocks and text between blocks are dropped. Throws a TerminalError
 * (`InvalidCertificate`) when there is no certificate or one does not parse.
 */
export function splitChain(pem: string | Buffer): string[] {
  const out: string[] = [];
  for (const m of pem.toString().matchAll(CERT_BLOCK)) {
    const der = Buffer.from((m[1] ?? "").replace(/\s+/g, ""), "base64");
    parseDer(der);
    out.push(derToPem(der));
  }
  if (out.length === 0) throw new TerminalError("no PEM certificate found", "InvalidCertificate");
  return out;
}

/**
 * Orders a bundle into one chain from leaf to root, whatever order it came in, dropping duplicates.
 * Throws a TerminalError (`InvalidCertificate`) when the bundle holds unrelated certificates or
 * more than one chain, as cert-manager's ParseSingleCertificateChain does.
 */
export function parseCertificateChain(pem: string | Buffer): CertificateChain {
  const unique = new Map<string, X509Certificate>();
  for (const block of splitChain(pem)) {
    const cert = new X509Certificate(block);
    unique.set(cert.raw.toString("base64"), cert);
  }
  const certs = [...unique.values()];
  // The leaf is the one certificate that issued none of the others.
  const leaves = certs.filter((c) => !certs.some((o) => o !== c && issuedBy(o, c)));
  if (leaves.length !== 1 || leaves[0] === undefined) {
    throw new TerminalError(
      "certificate bundle is not a single chain: it holds unrelated certificates or a broken chain",
      "InvalidCertificate",
    );
  }
  const ordered = [leaves[0]];
  let current = leaves[0];
  for (;;) {
    if (issuedBy(current, current)) break;
    const parent = certs.find((c) => c !== current && !ordered.includes(c) && issuedBy(current, c));
    if (!parent) break;
    ordered.push(parent);
    current = parent;
  }
  if (ordered.length !== certs.length) {
    throw new TerminalError(
      "certificate chain is broken: some certificates do not chain to the leaf",
      "InvalidCertificate",
    );
  }
  const top = ordered[ordered.length - 1];
  const root = top && isSelfSigned(top) ? top : undefined;
  const chainCerts = root && ordered.length > 1 ? ordered.slice(0, -1) : ordered;
  const pems = chainCerts.map((c) => derToPem(c.raw));
  return {
    leaf: pems[0] ?? "",
    intermediates: pems.slice(1),
    root: root ? derToPem(root.raw) : undefined,
    chainPem: pems.join(""),
  };
}

/**
 * The self-signed root for `ca.crt`, only when the CA's own chain ends in one; undefined otherwise
 * (ACME CAs normally leave the root out, and then so does cert-manager).
 */
export function rootFromChain(chain: CertificateChain | string): string | undefined {
  return (typeof chain === "string" ? parseCertificateChain(chain) : chain).root;
}

/** Facts about a certificate: the first one of a PEM bundle, which for `tls.crt` is the leaf. */
export function certificateInfo(pem: string | Buffer): CertificateInfo {
  const first = splitChain(pem)[0] ?? "";
  const cert = new X509Certificate(first);
  const parsed = new x509.X509Certificate(first);
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san ? san.names.items : [];
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  const keyAlgorithm: KeyAlgorithm | undefined =
    key.asymmetricKeyType === "rsa"
      ? "RSA"
      : key.asymmetricKeyType === "ec"
        ? "ECDSA"
        : key.asymmetricKeyType === "ed25519"
          ? "Ed25519"
          : undefined;
  const curveBits: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };
  const keySize =
    keyAlgorithm === "RSA"
      ? details.modulusLength
      : keyAlgorithm === "ECDSA"
        ? curveBits[details.namedCurve ?? ""]
        : keyAlgorithm === "Ed25519"
          ? 256
          : undefined;
  return {
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
    dnsNames: names.filter((n) => n.type === "dns").map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === "ip").map((n) => n.value),
    commonName: parsed.subjectName.getField("2.5.4.3")[0],
    issuerCommonName: parsed.issuerName.getField("2.5.4.3")[0],
    serialNumber: parsed.serialNumber.toLowerCase(),
    subject: parsed.subject,
    issuer: parsed.issuer,
    isCA: cert.ca,
    selfSigned: isSelfSigned(cert),
    keyAlgorithm,
    keySize,
    fingerprintSha256: createHash("sha256").update(cert.raw).digest("hex"),
  };
}

/** True when the certificate (first of the bundle) holds the public half of `key`. */
export function publicKeyMatches(certPem: string | Buffer, key: PrivateKey | KeyObject | string): boolean {
  const cert = new X509Certificate(splitChain(certPem)[0] ?? "");
  return cert.publicKey.export({ type: "spki", format: "der" }).equals(spkiOf(key));
}

/**
 * Checks that `leafAndIntermediates` (leaf first, each signed by the next) chains up to `rootPem`:
 * names and signatures link, every issuer is a CA, and every certificate is valid at `at` (now by
 * default). A copy of the root at the end of the bundle is allowed.
 */
export function verifyChain(
  leafAndIntermediates: string | Buffer,
  rootPem: string | Buffer,
  at: Date = new Date(),
): ChainVerification {
  let chain: X509Certificate[];
  let root: X509Certificate;
  try {
    chain = splitChain(leafAndIntermediates).map((p) => new X509Certificate(p));
    const rootBlock = splitChain(rootPem)[0] ?? "";
    root = new X509Certificate(rootBlock);
  } catch (err) {
    return { valid: false, reason: (err as Error).message };
  }
  const last = chain[chain.length - 1];
  if (chain.length > 1 && last?.raw.equals(root.raw)) chain = chain.slice(0, -1);
  const links = [...chain, root];
  for (const [i, cert] of links.entries()) {
    const from = new Date(cert.validFrom);
    const to = new Date(cert.validTo);
    if (at < from || at > to) {
      return {
        valid: false,
        reason: `certificate ${i} (${cert.subject}) is not valid at ${at.toISOString()}`,
      };
    }
    const issuer = links[i + 1];
    if (!issuer) break;
    if (!issuer.ca) return { valid: false, reason: `certificate ${i + 1} (${issuer.subject}) is not a CA` };
    if (!issuedBy(cert, issuer)) {
      return {
        valid: false,
        reason: `certificate ${i} (${cert.subject}) is not signed by ${i + 1 === chain.length ? "the root" : `certificate ${i + 1}`} (${issuer.subject})`,
      };
    }
  }
  return { valid: true };
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

function isSelfSigned(cert: X509Certificate): boolean {
  return issuedBy(cert, cert);
}

function parseDer(der: Buffer): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (err) {
    throw new TerminalError(`certificate cannot be parsed: ${(err as Error).message}`, "InvalidCertificate", {
      cause: err,
    });
  }
}

function derToPem(der: Buffer): string {
  const body = der.toString("base64").replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`;
}
