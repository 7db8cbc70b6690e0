/**
 * Certificate signing requests as cert-manager builds them: subject fields in Go's RDN order,
 * every DNS name (and the common name) as a SAN, key usages from cert-manager's usage names.
 */
import { webcrypto, type KeyObject } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { TerminalError } from "../errors.js";
import { parsePrivateKey, spkiOf, type PrivateKey } from "./keys.js";
import { importSigningKey, type SignatureAlgorithm } from "./webcrypto.js";

/** The subject part of a Certificate spec (`spec.subject`), common name aside. */
export interface SubjectSpec {
  readonly organizations?: readonly string[] | undefined;
  readonly countries?: readonly string[] | undefined;
  readonly organizationalUnits?: readonly string[] | undefined;
  readonly localities?: readonly string[] | undefined;
  readonly provinces?: readonly string[] | undefined;
  readonly streetAddresses?: readonly string[] | undefined;
  readonly postalCodes?: readonly string[] | undefined;
  readonly serialNumber?: string | undefined;
}

/** What goes into a CSR. */
export interface CsrOptions {
  /** The certificate's private key: parsed, a KeyObject, or PEM. */
  readonly key: PrivateKey | KeyObject | string;
  readonly commonName?: string | undefined;
  readonly dnsNames?: readonly string[] | undefined;
  readonly subject?: SubjectSpec | undefined;
  /** cert-manager usage names; default `["digital signature", "key encipherment"]`. */
  readonly usages?: readonly string[] | undefined;
  /**
   * The whole subject as an RFC 4514 string (cert-manager's `literalSubject`), written as given:
   * replaces `commonName` and `subject` in the subject (the names still come from `dnsNames`).
   */
  readonly literalSubject?: string | undefined;
  /** Write usages into the CSR (cert-manager's `encodeUsagesInRequest`, default true). */
  readonly encodeUsagesInRequest?: boolean | undefined;
  /** Defaults as cert-manager: by RSA size (SHA-256 < 3072 ≤ SHA-384 < 4096 ≤ SHA-512) or by curve. */
  readonly signatureAlgorithm?: SignatureAlgorithm | undefined;
}

/** What a CSR asks for, read back from its DER. */
export interface CsrInfo {
  readonly commonName: string | undefined;
  readonly dnsNames: string[];
  readonly subject: {
    readonly organizations: string[];
    readonly countries: string[];
    readonly organizationalUnits: string[];
    readonly localities: string[];
    readonly provinces: string[];
    readonly streetAddresses: string[];
    readonly postalCodes: string[];
    readonly serialNumber: string | undefined;
  };
  /** cert-manager usage names found in the key usage and extended key usage extensions. */
  readonly usages: string[];
  readonly signatureValid: boolean;
  /** DER SubjectPublicKeyInfo of the requested key. */
  readonly publicKeySpki: Buffer;
}

/** cert-manager's default usages. */
export const DEFAULT_USAGES: readonly string[] = ["digital signature", "key encipherment"];

const KEY_USAGE_FLAGS: Readonly<Record<string, x509.KeyUsageFlags>> = {
  signing: x509.KeyUsageFlags.digitalSignature,
  "digital signature": x509.KeyUsageFlags.digitalSignature,
  "content commitment": x509.KeyUsageFlags.nonRepudiation,
  "key encipherment": x509.KeyUsageFlags.keyEncipherment,
  "key agreement": x509.KeyUsageFlags.keyAgreement,
  "data encipherment": x509.KeyUsageFlags.dataEncipherment,
  "cert sign": x509.KeyUsageFlags.keyCertSign,
  "crl sign": x509.KeyUsageFlags.cRLSign,
  "encipher only": x509.KeyUsageFlags.encipherOnly,
  "decipher only": x509.KeyUsageFlags.decipherOnly,
};

const EXT_KEY_USAGE_OIDS: Readonly<Record<string, string>> = {
  any: "2.5.29.37.0",
  "server auth": "1.3.6.1.5.5.7.3.1",
  "client auth": "1.3.6.1.5.5.7.3.2",
  "code signing": "1.3.6.1.5.5.7.3.3",
  "email protection": "1.3.6.1.5.5.7.3.4",
  "s/mime": "1.3.6.1.5.5.7.3.4",
  "ipsec end system": "1.3.6.1.5.5.7.3.5",
  "ipsec tunnel": "1.3.6.1.5.5.7.3.6",
  "ipsec user": "1.3.6.1.5.5.7.3.7",
  timestamping: "1.3.6.1.5.5.7.3.8",
  "ocsp signing": "1.3.6.1.5.5.7.3.9",
  "microsoft sgc": "1.3.6.1.4.1.311.10.3.3",
  "netscape sgc": "2.16.840.1.113730.4.1",
};

// Attribute OIDs, and the order in which Go's pkix.Name.ToRDNSequence writes them (cert-manager's CSRs).
const OID = {
  country: "2.5.4.6",
  province: "2.5.4.8",
  locality: "2.5.4.7",
  street: "2.5.4.9",
  postalCode: "2.5.4.17",
  organization: "2.5.4.10",
  organizationalUnit: "2.5.4.11",
  commonName: "2.5.4.3",
  serialNumber: "2.5.4.5",
} as const;

const SAN_OID = "2.5.29.17";
const KEY_USAGE_OID = "2.5.29.15";
const EXT_KEY_USAGE_OID = "2.5.29.37";

/**
 * The DNS names a certificate carries, in order and without duplicates: the common name first when
 * it is set and not already listed (ACME needs it among the SANs), then every DNS name. The ACME
 * order's identifiers must be exactly this set.
 */
export function certificateDnsNames(
  commonName: string | undefined,
  dnsNames: readonly string[] = [],
): string[] {
  const out: string[] = [];
  for (const name of [commonName, ...dnsNames]) {
    if (name !== undefined && name !== "" && !out.includes(name)) out.push(name);
  }
  return out;
}

/** Builds and signs a PEM CSR. Throws a TerminalError for an unknown usage or a mismatched signature algorithm. */
export async function createCsr(opts: CsrOptions): Promise<string> {
  const key = typeof opts.key === "string" ? parsePrivateKey(opts.key) : opts.key;
  const keyObject = "keyObject" in key ? key.keyObject : key;
  const dnsNames = certificateDnsNames(opts.commonName, opts.dnsNames);
  if (dnsNames.length === 0) {
    throw new TerminalError("a CSR needs a common name or at least one DNS name", "InvalidCertificateSpec");
  }
  const { privateKey, publicKey, signParams } = await importSigningKey(keyObject, opts.signatureAlgorithm);

  const name =
    opts.literalSubject !== undefined
      ? literalName(opts.literalSubject)
      : subjectName(opts.commonName, opts.subject);
  const extensions: x509.Extension[] = [
    // RFC 5280 4.2.1.6: the SAN extension is critical when the subject is empty.
    new x509.SubjectAlternativeNameExtension(
      dnsNames.map((value) => ({ type: "dns" as const, value })),
      name.length === 0,
    ),
  ];
  if (opts.encodeUsagesInRequest ?? true) extensions.push(...usageExtensions(opts.usages ?? DEFAULT_USAGES));

  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      keys: { privateKey, publicKey },
      signingAlgorithm: signParams,
      ...(name.length > 0 ? { name } : {}),
      extensions,
    },
    webcrypto,
  );
  return csr.toString("pem") + "\n";
}

/** Reads back what a PEM CSR asks for and whether its signature verifies. */
export async function csrInfo(pem: string): Promise<CsrInfo> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (err) {
    throw new TerminalError(`CSR cannot be parsed: ${(err as Error).message}`, "InvalidCSR", { cause: err });
  }
  const field = (oid: string) => csr.subjectName.getField(oid);
  const sanExt = csr.getExtension(SAN_OID);
  const dnsNames = sanExt
    ? new x509.SubjectAlternativeNameExtension(sanExt.rawData).names.items
        .filter((n) => n.type === "dns")
        .map((n) => n.value)
    : [];
  const usages: string[] = [];
  const kuExt = csr.getExtension(KEY_USAGE_OID);
  if (kuExt) {
    const flags = new x509.KeyUsagesExtension(kuExt.rawData).usages;
    for (const [usage, flag] of Object.entries(KEY_USAGE_FLAGS)) {
      // "signing" and "digital signature" share a bit; report the canonical name only.
      if (usage !== "signing" && (flags & flag) !== 0) usages.push(usage);
    }
  }
  const ekuExt = csr.getExtension(EXT_KEY_USAGE_OID);
  if (ekuExt) {
    for (const oid of new x509.ExtendedKeyUsageExtension(ekuExt.rawData).usages) {
      const usage = Object.entries(EXT_KEY_USAGE_OIDS).find(([u, o]) => o === String(oid) && u !== "s/mime");
      usages.push(usage ? usage[0] : String(oid));
    }
  }
  return {
    commonName: field(OID.commonName)[0],
    dnsNames,
    subject: {
      organizations: field(OID.organization),
      countries: field(OID.country),
      organizationalUnits: field(OID.organizationalUnit),
      localities: field(OID.locality),
      provinces: field(OID.province),
      streetAddresses: field(OID.street),
      postalCodes: field(OID.postalCode),
      serialNumber: field(OID.serialNumber)[0],
    },
    usages,
    signatureValid: await csr.verify(webcrypto),
    publicKeySpki: Buffer.from(csr.publicKey.rawData),
  };
}

/** True when a CSR requests the public half of `key`. */
export function csrMatchesKey(pem: string, key: PrivateKey | KeyObject | string): boolean {
  const csr = new x509.Pkcs10CertificateRequest(pem);
  return Buffer.from(csr.publicKey.rawData).equals(spkiOf(key));
}

/** The common name inside an RFC 4514 subject string, if any (ACME needs it among the SANs). */
export function literalSubjectCommonName(literalSubject: string): string | undefined {
  return new x509.Name(literalName(literalSubject)).getField(OID.commonName)[0];
}

function literalName(literalSubject: string): x509.JsonName {
  try {
    const name = new x509.Name(literalSubject).toJSON();
    // The parser skips what it cannot read; a subject that yields nothing was not a DN at all.
    if (name.length === 0 && literalSubject.trim() !== "") throw new Error("no attribute=value pair found");
    return name;
  } catch (err) {
    throw new TerminalError(
      `literalSubject "${literalSubject}" is not an RFC 4514 distinguished name: ${(err as Error).message}`,
      "InvalidCertificateSpec",
      { cause: err },
    );
  }
}

function subjectName(commonName: string | undefined, subject: SubjectSpec = {}): x509.JsonName {
  const rdns: x509.JsonName = [];
  const add = (oid: string, values: readonly (string | undefined)[] | undefined) => {
    const present = (values ?? []).filter((v): v is string => v !== undefined && v !== "");
    // Go puts every value of one attribute type into one (multi-valued) RDN; so do we.
    if (present.length > 0) rdns.push({ [oid]: present });
  };
  add(OID.country, subject.countries);
  add(OID.province, subject.provinces);
  add(OID.locality, subject.localities);
  add(OID.street, subject.streetAddresses);
  add(OID.postalCode, subject.postalCodes);
  add(OID.organization, subject.organizations);
  add(OID.organizationalUnit, subject.organizationalUnits);
  add(OID.commonName, [commonName]);
  add(OID.serialNumber, [subject.serialNumber]);
  return rdns;
}

function usageExtensions(usages: readonly string[]): x509.Extension[] {
  let flags = 0;
  const ekus: string[] = [];
  for (const usage of usages) {
    const flag = KEY_USAGE_FLAGS[usage];
    const eku = EXT_KEY_USAGE_OIDS[usage];
    if (flag !== undefined) flags |= flag;
    else if (eku !== undefined) {
      if (!ekus.includes(eku)) ekus.push(eku);
    } else throw new TerminalError(`unknown key usage "${usage}"`, "InvalidCertificateSpec");
  }
  const out: x509.Extension[] = [];
  // Go (and so cert-manager) marks key usage critical and extended key usage not.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- a bit set: any OR of flags is valid
  if (flags !== 0) out.push(new x509.KeyUsagesExtension(flags, true));
  if (ekus.length > 0) out.push(new x509.ExtendedKeyUsageExtension(ekus, false));
  return out;
}
