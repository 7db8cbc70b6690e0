/**
 * What a Certificate asks the CA for, as one canonical value. Its hash is stored on the Secret at
 * issuance (`Annotations.requestHash`), and "the spec changed" is decided against it, never against
 * what the CA chose to put in the certificate: a CA may drop the CN (Let's Encrypt's tlsserver
 * profile does), shorten the lifetime, or ignore the subject.
 */
import { createHash } from "node:crypto";
import {
  certificateDnsNames,
  literalSubjectCommonName,
  normalizeKeySpec,
  type NormalizedKeySpec,
} from "../../pki/index.js";
import type { CertificateObj } from "../kinds.js";

/** Everything a CSR and an Order carry that the user chose. Order of keys is fixed: it is hashed. */
export interface IssuanceRequest {
  /** The DNS names to order, lower case, sorted; the common name included. */
  readonly names: readonly string[];
  readonly commonName: string;
  readonly subject: Readonly<Record<string, unknown>>;
  readonly literalSubject: string;
  readonly usages: readonly string[];
  readonly encodeUsagesInRequest: boolean;
  readonly duration: string;
  readonly key: { readonly algorithm: string; readonly size: number };
  readonly encoding: string;
  readonly signatureAlgorithm: string;
  readonly profile: string;
  readonly issuer: { readonly name: string; readonly kind: string; readonly group: string };
}

/** The common name a Certificate asks for: `commonName`, or the CN inside `literalSubject`. */
export function requestedCommonName(cert: CertificateObj): string | undefined {
  const s = cert.spec;
  if (s.literalSubject !== undefined) {
    try {
      return literalSubjectCommonName(s.literalSubject);
    } catch {
      return undefined; // refused when the CSR is made, with the parser's message
    }
  }
  return s.commonName;
}

/** The names the certificate must carry (its SAN set): the common name first, then dnsNames. */
export function requestedNames(cert: CertificateObj): string[] {
  return certificateDnsNames(requestedCommonName(cert), cert.spec.dnsNames ?? []);
}

/** The request a Certificate makes today; `profile` is its issuer's `spec.acme.profile`. */
export function issuanceRequest(cert: CertificateObj, profile: string | undefined): IssuanceRequest {
  const s = cert.spec;
  const key = keySpecOf(cert);
  // Sorting values that are sets makes a reordering of the YAML no change.
  const subject: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(s.subject ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    if (typeof v === "string") subject[k] = v;
    else if (Array.isArray(v) && v.length > 0) subject[k] = [...v].sort();
  }
  return {
    names: [...new Set(requestedNames(cert).map((n) => n.toLowerCase()))].sort(),
    commonName: s.commonName ?? "",
    subject,
    literalSubject: s.literalSubject ?? "",
    usages: [...new Set(s.usages ?? [])].sort(),
    encodeUsagesInRequest: s.encodeUsagesInRequest ?? true,
    duration: s.duration ?? "",
    key: { algorithm: key.algorithm, size: key.size },
    encoding: key.encoding,
    signatureAlgorithm: s.signatureAlgorithm ?? "",
    profile: profile ?? "",
    issuer: {
      name: s.issuerRef.name,
      kind: s.issuerRef.kind ?? "Issuer",
      // cert-manager.io and an empty group mean our issuers too (accounts.ts): one spelling.
      group: s.issuerRef.group === "cert-manager.io" || !s.issuerRef.group ? "dns01.io" : s.issuerRef.group,
    },
  };
}

/** A short, stable hash of a request (hex); stored on the Secret and in the Order's name. */
export function requestHash(req: IssuanceRequest): string {
  return createHash("sha256").update(JSON.stringify(req)).digest("hex").slice(0, 32);
}

/** The Certificate's key spec with cert-manager's defaults (RSA 2048, PKCS1). */
export function keySpecOf(cert: CertificateObj): NormalizedKeySpec {
  const pk = cert.spec.privateKey;
  return normalizeKeySpec({
    algorithm: pk?.algorithm,
    size: pk?.size,
    encoding: pk?.encoding,
  });
}
