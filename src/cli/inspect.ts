/**
 * `dns01ctl inspect secret NAME`: what a TLS Secret holds, read with src/pki: the leaf's names,
 * issuer, validity and key type, the chain in order, whether `tls.key` belongs to the leaf, and
 * whether the chain verifies against `ca.crt` when there is one.
 */
import { Kinds, type SecretObj } from "../controllers/kinds.js";
import { isNotFound } from "../kube/api-errors.js";
import type { KubeClient } from "../kube/client.js";
import { objectPath } from "../kube/resources.js";
import {
  certificateInfo,
  parseCertificateChain,
  parsePrivateKey,
  publicKeyMatches,
  splitChain,
  verifyChain,
  type CertificateInfo,
} from "../pki/index.js";
import { formatTime } from "../controllers/runtime/index.js";
import { relativeTime } from "./output.js";

/** One certificate of the chain, as shown. */
export interface CertificateView {
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly serialNumber: string;
  readonly fingerprintSha256: string;
  readonly keyAlgorithm?: string | undefined;
  readonly keySize?: number | undefined;
  readonly isCA: boolean;
}

/** Everything `inspect secret` found. */
export interface InspectReport {
  readonly namespace: string;
  readonly name: string;
  readonly type: string;
  /** The Certificate the operator wrote it for (annotation dns01.io/certificate-name). */
  readonly certificate?: string | undefined;
  readonly issuerName?: string | undefined;
  readonly leaf?:
    | (CertificateView & {
        readonly dnsNames: readonly string[];
        readonly ipAddresses: readonly string[];
        readonly commonName?: string | undefined;
        /** valid, expired or notYetValid at the time of the inspection. */
        readonly validity: "valid" | "expired" | "notYetValid";
      })
    | undefined;
  /** Intermediates, leaf's issuer first. */
  readonly chain: readonly CertificateView[];
  readonly chainError?: string | undefined;
  readonly privateKey?:
    { readonly algorithm: string; readonly size: number; readonly encoding: string } | undefined;
  readonly privateKeyError?: string | undefined;
  /** Whether tls.key holds the private half of the leaf's public key. */
  readonly keyMatches: boolean | undefined;
  /** Verification of the chain against ca.crt, when the Secret has one. */
  readonly caVerification?: { readonly valid: boolean; readonly reason?: string | undefined } | undefined;
  /** The Secret is usable now: a leaf valid now and a matching key. */
  readonly ok: boolean;
  readonly problems: readonly string[];
}

const text = (s: SecretObj, key: string): string | undefined => {
  const v = s.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
};

function certView(info: CertificateInfo): CertificateView {
  return {
    subject: info.subject,
    issuer: info.issuer,
    notBefore: formatTime(info.notBefore),
    notAfter: formatTime(info.notAfter),
    serialNumber: info.serialNumber,
    fingerprintSha256: info.fingerprintSha256,
    keyAlgorithm: info.keyAlgorithm,
    keySize: info.keySize,
    isCA: info.isCA,
  };
}

/** Reads the Secret; throws an Error naming it when it does not exist. */
export async function readSecret(client: KubeClient, namespace: string, name: string): Promise<SecretObj> {
  try {
    return await client.get<SecretObj>(objectPath(Kinds.secrets, namespace, name));
  } catch (err) {
    if (isNotFound(err)) throw new Error(`secret ${name} not found in namespace ${namespace}`);
    throw err;
  }
}

/** Inspects a Secret's contents at `now`. Pure: every parsing failure becomes a problem in the report. */
export function inspectSecret(secret: SecretObj, now: Date): InspectReport {
  const problems: string[] = [];
  const crt = text(secret, "tls.crt");
  const keyPem = text(secret, "tls.key");
  const caPem = text(secret, "ca.crt");
  let leaf: InspectReport["leaf"];
  let chain: CertificateView[] = [];
  let chainError: string | undefined;
  let chainPem: string | undefined;
  if (crt === undefined || crt.trim() === "") {
    problems.push("tls.crt is missing or empty");
  } else {
    try {
      const info = certificateInfo(crt);
      const validity = now < info.notBefore ? "notYetValid" : now > info.notAfter ? "expired" : "valid";
      leaf = {
        ...certView(info),
        dnsNames: info.dnsNames,
        ipAddresses: info.ipAddresses,
        commonName: info.commonName,
        validity,
      };
      if (validity === "expired")
        problems.push(`the certificate expired ${relativeTime(info.notAfter, now)}`);
      if (validity === "notYetValid") {
        problems.push(`the certificate is not valid until ${formatTime(info.notBefore)}`);
      }
      try {
        const parsed = parseCertificateChain(crt);
        chainPem = parsed.chainPem;
        chain = [
          ...parsed.intermediates,
          ...(parsed.root && parsed.root !== parsed.leaf ? [parsed.root] : []),
        ].map((p) => certView(certificateInfo(p)));
      } catch (err) {
        chainError = (err as Error).message;
        chain = splitChain(crt)
          .slice(1)
          .map((p) => certView(certificateInfo(p)));
        problems.push(`tls.crt: ${chainError}`);
      }
    } catch (err) {
      problems.push(`tls.crt cannot be read: ${(err as Error).message}`);
    }
  }
  let privateKey: InspectReport["privateKey"];
  let privateKeyError: string | undefined;
  let keyMatches: boolean | undefined;
  if (keyPem === undefined || keyPem.trim() === "") {
    problems.push("tls.key is missing or empty");
  } else {
    try {
      const key = parsePrivateKey(keyPem);
      privateKey = { algorithm: key.algorithm, size: key.size, encoding: key.encoding };
      if (crt !== undefined && leaf !== undefined) {
        keyMatches = publicKeyMatches(crt, key);
        if (!keyMatches) problems.push("tls.key does not belong to the certificate in tls.crt");
      }
    } catch (err) {
      privateKeyError = (err as Error).message;
      problems.push(`tls.key cannot be read: ${privateKeyError}`);
    }
  }
  let caVerification: InspectReport["caVerification"];
  if (caPem !== undefined && caPem.trim() !== "" && chainPem !== undefined) {
    const v = verifyChain(chainPem, caPem, now);
    caVerification = v.valid ? { valid: true } : { valid: false, reason: v.reason };
    if (!v.valid) problems.push(`the chain does not verify against ca.crt: ${v.reason}`);
  }
  const annotations = secret.metadata?.annotations ?? {};
  return {
    namespace: secret.metadata?.namespace ?? "",
    name: secret.metadata?.name ?? "",
    type: secret.type ?? "Opaque",
    certificate: annotations["dns01.io/certificate-name"],
    issuerName: annotations["dns01.io/issuer-name"],
    leaf,
    chain,
    chainError,
    privateKey,
    privateKeyError,
    keyMatches,
    caVerification,
    ok: problems.length === 0,
    problems,
  };
}

/** The human form of an inspection. */
export function renderInspect(r: InspectReport, now: Date): string {
  const lines = [`Secret ${r.namespace}/${r.name} (${r.type})`];
  if (r.certificate !== undefined) {
    lines.push(
      `  Written for: Certificate ${r.certificate}${r.issuerName ? `, issuer ${r.issuerName}` : ""}`,
    );
  }
  const l = r.leaf;
  if (l !== undefined) {
    lines.push(`  DNS names:   ${l.dnsNames.join(", ") || "(none)"}`);
    if (l.ipAddresses.length > 0) lines.push(`  IPs:         ${l.ipAddresses.join(", ")}`);
    lines.push(`  Subject:     ${l.subject || "(empty)"}`);
    lines.push(`  Issuer:      ${l.issuer}`);
    lines.push(`  Valid from:  ${l.notBefore} (${relativeTime(new Date(l.notBefore), now)})`);
    lines.push(
      `  Valid until: ${l.notAfter} (${relativeTime(new Date(l.notAfter), now)})${l.validity === "valid" ? "" : ` ${l.validity.toUpperCase()}`}`,
    );
    lines.push(`  Public key:  ${l.keyAlgorithm ?? "unknown"} ${l.keySize ?? ""}`.trimEnd());
    lines.push(`  Serial:      ${l.serialNumber}`);
    lines.push(`  SHA-256:     ${l.fingerprintSha256}`);
  }
  if (r.privateKey !== undefined) {
    lines.push(`  Private key: ${r.privateKey.algorithm} ${r.privateKey.size}, ${r.privateKey.encoding}`);
  }
  lines.push(`  Key matches: ${r.keyMatches === undefined ? "unknown" : r.keyMatches ? "yes" : "NO"}`);
  lines.push(`  Chain:       ${r.chain.length === 0 ? "the leaf only" : `${r.chain.length} more`}`);
  r.chain.forEach((c, i) => {
    lines.push(`    ${i + 1}. ${c.subject} (issued by ${c.issuer}, until ${c.notAfter})`);
  });
  if (r.caVerification !== undefined) {
    lines.push(
      `  ca.crt:      ${r.caVerification.valid ? "the chain verifies" : `does not verify: ${r.caVerification.reason ?? ""}`}`,
    );
  }
  lines.push(r.ok ? "OK" : `Problems:\n${r.problems.map((p) => `  - ${p}`).join("\n")}`);
  return lines.join("\n");
}
