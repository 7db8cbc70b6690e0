import { describeError } from "../../kube/api-errors.js";
import {
  certificateInfo,
  encodePrivateKey,
  parseCertificateChain,
  parsePrivateKey,
  publicKeyMatches,
  type NormalizedKeySpec,
  type PrivateKey,
} from "../../pki/index.js";
import {
  CERTIFICATE_LABEL,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  type CertificateObj,
  type SecretObj,
} from "../kinds.js";
import type { DesiredMetadata } from "./post-issuance.js";
import { keySpecOf, requestedNames } from "./request.js";
import { Annotations, RENEW_ANNOTATION, type CertificateFacts, type SecretFacts } from "./trigger.js";

/** The Secret type and keys of a TLS Secret. */
export const TLS_SECRET_TYPE = "kubernetes.io/tls";
export const TLS_CRT = "tls.crt";
export const TLS_KEY = "tls.key";
export const CA_CRT = "ca.crt";

/** Decodes one data entry of a Secret as UTF-8 text. */
export function secretText(secret: SecretObj | undefined, key: string): string | undefined {
  const v = secret?.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
}

/**
 * The facts the trigger policies compare, taken from the Certificate's spec: the SAN set it must
 * carry, its issuer and key, the hash of its request, and the manual renewal annotation.
 */
export function certificateFacts(cert: CertificateObj, requestHash: string): CertificateFacts {
  const key = keySpecOf(cert);
  const ref = cert.spec.issuerRef;
  return {
    names: requestedNames(cert),
    issuerName: ref.name,
    issuerKind: ref.kind ?? "Issuer",
    issuerGroup: ref.group ?? "dns01.io",
    keyAlgorithm: key.algorithm,
    keySize: key.size,
    requestHash,
    renewRequest: cert.metadata.annotations?.[RENEW_ANNOTATION],
    lastManualRenewal: cert.status?.lastManualRenewal,
  };
}

/**
 * Whether the operator may write this Secret for this Certificate: it carries our
 * certificate-name annotation naming it. A Secret someone else made, or one that belongs to
 * another Certificate, is never overwritten.
 */
export function secretOwnedBy(secret: SecretObj, cert: CertificateObj): boolean {
  return secret.metadata?.annotations?.[Annotations.certificateName] === cert.metadata.name;
}

/** Parses a Secret into the facts the policies need, never throwing. */
export function secretFacts(
  secret: SecretObj | undefined,
): SecretFacts & { chainPem?: string; key?: PrivateKey } {
  if (!secret) return { exists: false, annotations: {}, hasCertificate: false, hasPrivateKey: false };
  const crt = secretText(secret, TLS_CRT);
  const keyPem = secretText(secret, TLS_KEY);
  const base = {
    exists: true,
    annotations: secret.metadata?.annotations ?? {},
    hasCertificate: crt !== undefined && crt.trim() !== "",
    hasPrivateKey: keyPem !== undefined && keyPem.trim() !== "",
  };
  if (!base.hasCertificate || !base.hasPrivateKey || crt === undefined || keyPem === undefined) return base;
  try {
    const info = certificateInfo(crt);
    const key = parsePrivateKey(keyPem);
    return {
      ...base,
      certificate: {
        commonName: info.commonName,
        dnsNames: info.dnsNames,
        notBefore: info.notBefore,
        notAfter: info.notAfter,
      },
      chainPem: crt,
      privateKey: { algorithm: key.algorithm, size: key.size },
      keyMatchesCertificate: publicKeyMatches(crt, key),
      key,
    };
  } catch (err) {
    return { ...base, parseError: describeError(err) };
  }
}

/** What goes into the TLS Secret: the chain as the CA sent it, the key, and the root if sent. */
export function tlsSecretData(
  chainPem: string,
  key: PrivateKey,
  encoding: NormalizedKeySpec["encoding"],
): Record<string, string> {
  const chain = parseCertificateChain(chainPem);
  const data: Record<string, string> = {
    [TLS_CRT]: Buffer.from(chain.chainPem).toString("base64"),
    [TLS_KEY]: Buffer.from(encodePrivateKey(key, encoding)).toString("base64"),
  };
  // ACME CAs leave the root out of the chain, and then so do we (as cert-manager does): a ca.crt
  // guessed from elsewhere would claim a trust anchor the CA never named.
  if (chain.root !== undefined && chain.root !== chain.leaf) {
    data[CA_CRT] = Buffer.from(chain.root).toString("base64");
  }
  return data;
}

/**
 * The labels and annotations our Secret carries: the secretTemplate's, then ours (ours win), the
 * request hash, and which keys came from the template (so that removing one removes it).
 */
export function desiredMetadata(
  cert: CertificateObj,
  names: { commonName?: string | undefined; dnsNames: readonly string[] },
  requestHash: string,
): DesiredMetadata {
  const ref = cert.spec.issuerRef;
  const tl = cert.spec.secretTemplate?.labels ?? {};
  const ta = cert.spec.secretTemplate?.annotations ?? {};
  const labels: Record<string, string> = {
    ...tl,
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [CERTIFICATE_LABEL]: cert.metadata.name ?? "",
  };
  const annotations: Record<string, string> = {
    ...ta,
    [Annotations.certificateName]: cert.metadata.name ?? "",
    [Annotations.issuerName]: ref.name,
    [Annotations.issuerKind]: ref.kind ?? "Issuer",
    [Annotations.issuerGroup]: ref.group ?? "dns01.io",
    [Annotations.commonName]: names.commonName ?? "",
    [Annotations.altNames]: names.dnsNames.join(","),
    [Annotations.requestHash]: requestHash,
  };
  return {
    labels,
    annotations,
    templateKeys: {
      labels: Object.keys(tl).filter((k) => labels[k] === tl[k]),
      annotations: Object.keys(ta).filter((k) => annotations[k] === ta[k]),
    },
  };
}
