/**
 * A tiny certificate authority for tests: roots, intermediates and leaves with chosen names and
 * validity, so that unit tests of chain handling and renewal logic need no running CA.
 */
import { randomBytes, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { generatePrivateKey, type PrivateKey, type PrivateKeySpec } from "./keys.js";
import { importSigningKey } from "./webcrypto.js";

/** A certificate and its key, PEM. */
export interface TestCertificate {
  readonly certPem: string;
  readonly key: PrivateKey;
  readonly commonName: string;
}

/** Options for `createTestCa` and `issueTestCertificate`. */
export interface TestCertificateOptions {
  readonly commonName?: string;
  readonly dnsNames?: readonly string[];
  /** IP address SANs, e.g. `127.0.0.1` for a test server. */
  readonly ipAddresses?: readonly string[];
  /** Signs with this CA; self-signed when absent. */
  readonly issuer?: TestCertificate;
  /** Reuses this key instead of generating one (ECDSA P-256 by default). */
  readonly key?: PrivateKey;
  readonly keySpec?: PrivateKeySpec;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

const HOUR = 3_600_000;

/** A CA certificate: a self-signed root without `issuer`, an intermediate with one. */
export async function createTestCa(opts: TestCertificateOptions = {}): Promise<TestCertificate> {
  return makeCertificate({ commonName: "Test Root CA", ...opts }, true);
}

/** A leaf certificate for the DNS names, signed by `issuer` (self-signed without one). */
export async function issueTestCertificate(opts: TestCertificateOptions = {}): Promise<TestCertificate> {
  return makeCertificate(opts, false);
}

/**
 * Signs a leaf for a CSR's public key and SAN names with `issuer`, as a CA would on finalize.
 * Returns the certificate PEM alone (no chain).
 */
export async function signTestCsr(opts: {
  readonly csrPem: string;
  readonly issuer: TestCertificate;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}): Promise<string> {
  const csr = new x509.Pkcs10CertificateRequest(opts.csrPem);
  const sanExt = csr.getExtension("2.5.29.17");
  const dnsNames = sanExt
    ? new x509.SubjectAlternativeNameExtension(sanExt.rawData).names.items
        .filter((n) => n.type === "dns")
        .map((n) => n.value)
    : [];
  const publicKey = (await csr.publicKey.export(webcrypto)) as unknown as webcrypto.CryptoKey;
  return signCertificate({
    commonName: csr.subjectName.getField("2.5.4.3")[0] ?? dnsNames[0] ?? "test",
    dnsNames,
    ipAddresses: [],
    publicKey,
    issuer: opts.issuer,
    signer: opts.issuer.key,
    isCA: false,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
  });
}

async function makeCertificate(opts: TestCertificateOptions, isCA: boolean): Promise<TestCertificate> {
  const key = opts.key ?? (await generatePrivateKey(opts.keySpec ?? { algorithm: "ECDSA" }));
  const commonName = opts.commonName ?? opts.dnsNames?.[0] ?? "test";
  const certPem = await signCertificate({
    commonName,
    dnsNames: opts.dnsNames ?? [],
    ipAddresses: opts.ipAddresses ?? [],
    publicKey: (await importSigningKey(key.keyObject)).publicKey,
    issuer: opts.issuer,
    signer: opts.issuer?.key ?? key,
    isCA,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
  });
  return { certPem, key, commonName };
}

async function signCertificate(p: {
  commonName: string;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  publicKey: webcrypto.CryptoKey;
  issuer: TestCertificate | undefined;
  signer: PrivateKey;
  isCA: boolean;
  notBefore: Date | undefined;
  notAfter: Date | undefined;
}): Promise<string> {
  const signing = await importSigningKey(p.signer.keyObject);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(p.isCA, undefined, true),
    new x509.KeyUsagesExtension(
      // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- a bit set: any OR of flags is valid
      p.isCA
        ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
        : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(p.publicKey, false, webcrypto),
  ];
  if (p.issuer) {
    const issuerCert = new x509.X509Certificate(p.issuer.certPem);
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuerCert, false, webcrypto));
  }
  const sans = [
    ...p.dnsNames.map((value) => ({ type: "dns" as const, value })),
    ...p.ipAddresses.map((value) => ({ type: "ip" as const, value })),
  ];
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans));
  const notBefore = p.notBefore ?? new Date(Date.now() - HOUR);
  const cert = await x509.X509CertificateGenerator.create(
    {
      // A positive serial: the first byte's high bit clear.
      serialNumber: "01" + randomBytes(15).toString("hex"),
      subject: [{ CN: [p.commonName] }],
      issuer: p.issuer ? new x509.X509Certificate(p.issuer.certPem).subjectName : [{ CN: [p.commonName] }],
      notBefore,
      notAfter: p.notAfter ?? new Date(notBefore.getTime() + 90 * 24 * HOUR),
      signingAlgorithm: signing.signParams,
      publicKey: p.publicKey,
      signingKey: signing.privateKey,
      extensions,
    },
    webcrypto,
  );
  return cert.toString("pem") + "\n";
}
