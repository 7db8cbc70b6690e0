import { describeError } from "../../kube/api-errors.js";
import {
  certificateInfo,
  encodePrivateKey,
  normalizeKeySpec,
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
import { Annotations, type CertificateFacts, type SecretFacts } from "./policies.js";

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

/** The Certificate's key spec with cert-manager's defaults (RSA 2048, PKCS1). */
export function keySpecOf(cert: CertificateObj): NormalizedKeySpec {
  const pk = cert.spec.privateKey;
  return normalizeKeySpec({
    algorithm: pk?.algorithm,
    size: pk?.size,
    encoding: pk?.encoding,
  });
}

/** The facts the trigger policies compare, taken from the Certificate's spec. */
export function certificateFacts(cert: CertificateObj): CertificateFacts {
  const key = keySpecOf(cert);
  const ref = cert.spec.issuerRef;
  return {
    commonName: cert.spec.commonName,
    dnsNames: cert.spec.dnsNames ?? [],
    issuerName: ref.name,
    issuerKind: ref.kind ?? "Issuer",
    issuerGroup: ref.group ?? "dns01.io",
    keyAlgorithm: key.algorithm,
    keySize: key.size,
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
): SecretFacts & { notBefore?: Date; key?: PrivateKey } {
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
      certificate: { commonName: info.commonName, dnsNames: info.dnsNames, notAfter: info.notAfter },
      notBefore: info.notBefore,
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

/** The labels and annotations our Secret carries: ours, then the Certificate's secretTemplate. */
export function tlsSecretMetadata(
  cert: CertificateObj,
  names: { commonName?: string | undefined; dnsNames: readonly string[] },
): { labels: Record<string, string>; annotations: Record<string, string> } {
  const ref = cert.spec.issuerRef;
  return {
    labels: {
      ...(cert.spec.secretTemplate?.labels ?? {}),
      [MANAGED_BY_LABEL]: MANAGED_BY,
      [CERTIFICATE_LABEL]: cert.metadata.name ?? "",
    },
    annotations: {
      ...(cert.spec.secretTemplate?.annotations ?? {}),
      [Annotations.certificateName]: cert.metadata.name ?? "",
      [Annotations.issuerName]: ref.name,
      [Annotations.issuerKind]: ref.kind ?? "Issuer",
      [Annotations.issuerGroup]: ref.group ?? "dns01.io",
      [Annotations.commonName]: names.commonName ?? "",
      [Annotations.altNames]: names.dnsNames.join(","),
    },
  };
}

/** True when every label and annotation in `want` is already on the Secret. */
export function hasMetadata(
  secret: SecretObj,
  want: { labels: Record<string, string>; annotations: Record<string, string> },
): boolean {
  const l = secret.metadata?.labels ?? {};
  const a = secret.metadata?.annotations ?? {};
  return (
    Object.entries(want.labels).every(([k, v]) => l[k] === v) &&
    Object.entries(want.annotations).every(([k, v]) => a[k] === v)
  );
}
