/**
 * Additional output formats and keystores (`spec.additionalOutputFormats`, `spec.keystores`): the
 * options read from the spec (passwords from their Secrets) and the renderer that writes them,
 * which the PKI layer provides (CombinedPEM, DER, PKCS#12 in three profiles, JKS).
 */
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
  /** The data keys `options` asks for. */
  keysFor(options: OutputOptions): readonly string[];
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
