/**
 * Additional output formats and keystores (`spec.additionalOutputFormats`, `spec.keystores`): the
 * options read from the spec (passwords from their Secrets) and the renderer that writes them,
 * which the PKI layer provides (CombinedPEM, DER, PKCS#12 in three profiles, JKS).
 */
import {
  MANAGED_OUTPUT_KEYS,
  OUTPUT_KEYS,
  outputsCurrent,
  renderOutputs,
  type OutputOptions as PkiOutputOptions,
} from "../../pki/index.js";
import type { SecretReader } from "../../solvers/credentials.js";
import type { CertificateObj } from "../kinds.js";

/** What the outputs are made from. */
export interface OutputMaterial {
  /** Leaf and intermediates, PEM (tls.crt). */
  readonly chainPem: string;
  /** The private key, PEM as written to tls.key. */
  readonly keyPem: string;
  /** The root, when the CA sent one (ca.crt). */
  readonly caPem?: string | undefined;
}

/** The outputs the spec asks for, passwords resolved. */
export interface OutputOptions {
  readonly additionalOutputFormats: readonly ("DER" | "CombinedPEM")[];
  readonly pkcs12?:
    | { readonly password: string; readonly profile?: "LegacyRC2" | "LegacyDES" | "Modern2023" | undefined }
    | undefined;
  readonly jks?: { readonly password: string; readonly alias?: string | undefined } | undefined;
}

/** Renders and checks outputs; data values are base64, as in a Secret. */
export interface OutputRenderer {
  /** Every key an output may write (cert-manager's names: tls-combined.pem, key.der, keystore.p12, ...). */
  readonly managedKeys: readonly string[];
  /** The data keys `options` ask for with this material (trust stores only when the CA is known). */
  keysFor(material: OutputMaterial, options: OutputOptions): readonly string[];
  render(material: OutputMaterial, options: OutputOptions): Promise<Record<string, string>>;
  /** Whether `data` already holds outputs for this material and these options (keystores are salted). */
  current(
    data: Readonly<Record<string, string>>,
    material: OutputMaterial,
    options: OutputOptions,
  ): Promise<boolean>;
}

/** Whether the spec asks for any output beyond tls.crt and tls.key. */
export function wantsOutputs(cert: CertificateObj): boolean {
  const s = cert.spec;
  return (
    (s.additionalOutputFormats?.length ?? 0) > 0 ||
    s.keystores?.pkcs12?.create === true ||
    s.keystores?.jks?.create === true
  );
}

/**
 * The output options of a Certificate, reading keystore passwords from `passwordSecretRef` in its
 * namespace. A missing Secret or key throws the reader's TerminalError, which says what to create.
 */
export async function outputOptions(
  cert: CertificateObj,
  secrets: SecretReader,
  signal?: AbortSignal,
): Promise<OutputOptions> {
  const s = cert.spec;
  const ns = cert.metadata.namespace ?? "";
  const password = async (ks: {
    password?: string | undefined;
    passwordSecretRef?: { name: string; key?: string | undefined } | undefined;
  }) => {
    if (ks.passwordSecretRef) {
      return secrets.read(
        ns,
        { name: ks.passwordSecretRef.name, key: ks.passwordSecretRef.key ?? "password" },
        signal,
      );
    }
    return ks.password ?? "";
  };
  const p12 = s.keystores?.pkcs12;
  const jks = s.keystores?.jks;
  return {
    additionalOutputFormats: [...new Set((s.additionalOutputFormats ?? []).map((f) => f.type))].sort(),
    ...(p12?.create ? { pkcs12: { password: await password(p12), profile: p12.profile } } : {}),
    ...(jks?.create ? { jks: { password: await password(jks), alias: jks.alias } } : {}),
  };
}

function pkiOptions(o: OutputOptions): PkiOutputOptions {
  return {
    combinedPem: o.additionalOutputFormats.includes("CombinedPEM"),
    der: o.additionalOutputFormats.includes("DER"),
    ...(o.pkcs12 ? { pkcs12: o.pkcs12 } : {}),
    ...(o.jks ? { jks: o.jks } : {}),
  };
}

const pkiMaterial = (m: OutputMaterial) => ({
  chainPem: m.chainPem,
  privateKeyPem: m.keyPem,
  caPem: m.caPem,
});

/** The renderer of the PKI layer (src/pki/outputs.ts), over Secret data in base64. */
export const pkiOutputRenderer: OutputRenderer = {
  managedKeys: MANAGED_OUTPUT_KEYS,
  keysFor(material, o) {
    const ca = material.caPem !== undefined && material.caPem.trim() !== "";
    const keys: string[] = [];
    if (o.additionalOutputFormats.includes("CombinedPEM")) keys.push(OUTPUT_KEYS.combinedPem);
    if (o.additionalOutputFormats.includes("DER")) keys.push(OUTPUT_KEYS.der);
    if (o.pkcs12) keys.push(OUTPUT_KEYS.pkcs12Keystore, ...(ca ? [OUTPUT_KEYS.pkcs12Truststore] : []));
    if (o.jks) keys.push(OUTPUT_KEYS.jksKeystore, ...(ca ? [OUTPUT_KEYS.jksTruststore] : []));
    return keys;
  },
  render(material, o) {
    const out = renderOutputs(pkiMaterial(material), pkiOptions(o));
    return Promise.resolve(
      Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.toString("base64")])),
    );
  },
  current(data, material, o) {
    const bytes = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64")]));
    return Promise.resolve(outputsCurrent(bytes, pkiMaterial(material), pkiOptions(o)));
  },
};
