import {
  GO_DURATION,
  conditions,
  dnsName,
  goDuration,
  issuerRef,
  objectName,
  secretKeySelector,
  type KindNames,
} from "./common.js";
import { s, type Infer } from "./schema.js";

/** Names of the Certificate kind. */
export const CERTIFICATE_NAMES: KindNames = {
  kind: "Certificate",
  listKind: "CertificateList",
  plural: "certificates",
  singular: "certificate",
  shortNames: ["dcert", "dcerts"],
  categories: ["dns01"],
};

/** RSA key sizes we generate; ECDSA sizes are the NIST curves P-256, P-384 and P-521. */
export const RSA_KEY_SIZES = [2048, 3072, 4096, 8192] as const;
/** ECDSA key sizes (curve bits). */
export const ECDSA_KEY_SIZES = [256, 384, 521] as const;

/** The x509 usages cert-manager accepts, spelled as it spells them. */
export const KEY_USAGES = [
  "signing",
  "digital signature",
  "content commitment",
  "key encipherment",
  "key agreement",
  "data encipherment",
  "cert sign",
  "crl sign",
  "encipher only",
  "decipher only",
  "any",
  "server auth",
  "client auth",
  "code signing",
  "email protection",
  "s/mime",
  "ipsec end system",
  "ipsec tunnel",
  "ipsec user",
  "timestamping",
  "ocsp signing",
  "microsoft sgc",
  "netscape sgc",
] as const;

const stringList = (description: string, maxItems = 32) =>
  s
    .array(s.string({ maxLength: 256 }), { maxItems })
    .describe(description)
    .optional();

const subject = s
  .object({
    organizations: stringList("Organizations (O)."),
    countries: stringList("Countries (C)."),
    organizationalUnits: stringList("Organizational units (OU)."),
    localities: stringList("Cities (L)."),
    provinces: stringList("States or provinces (ST)."),
    streetAddresses: stringList("Street addresses."),
    postalCodes: stringList("Postal codes."),
    serialNumber: s.string({ maxLength: 64 }).describe("Subject serial number.").optional(),
  })
  .describe(
    "Subject attributes besides the common name. Public ACME CAs ignore them; kept for cert-manager compatibility.",
  );

const privateKey = s
  .object({
    algorithm: s
      .enum(["RSA", "ECDSA", "Ed25519"])
      .describe("Key algorithm: RSA (the default), ECDSA or Ed25519.")
      .optional(),
    size: s
      .integer({ format: "int32" })
      .describe(
        `Key size in bits. RSA: ${RSA_KEY_SIZES.join(", ")} (default 2048). ECDSA: ${ECDSA_KEY_SIZES.join(", ")} ` +
          "(default 256). Ignored for Ed25519.",
      )
      .optional(),
    encoding: s
      .enum(["PKCS1", "PKCS8"])
      .describe("PEM encoding of the key in the Secret: PKCS1 (the default) or PKCS8.")
      .optional(),
    rotationPolicy: s
      .enum(["Never", "Always"])
      .describe(
        "Always (the default) makes a new key for every issuance; Never reuses the key in the Secret.",
      )
      .optional(),
  })
  .rule(
    "!has(self.size) || (has(self.algorithm) && self.algorithm == 'Ed25519') || " +
      `((!has(self.algorithm) || self.algorithm == 'RSA') ? self.size in [${RSA_KEY_SIZES.join(", ")}] ` +
      `: self.size in [${ECDSA_KEY_SIZES.join(", ")}])`,
    `size must be one of ${RSA_KEY_SIZES.join(", ")} for RSA (the default algorithm) ` +
      `and one of ${ECDSA_KEY_SIZES.join(", ")} for ECDSA`,
    { fieldPath: ".size" },
  )
  .describe("Options of the certificate's private key.");

const passwordSecretRef = () =>
  secretKeySelector().describe("The Secret key that holds the keystore password.").optional();

const keystores = s
  .object({
    jks: s
      .object({
        create: s.boolean().describe("Write keystore.jks and truststore.jks to the Secret."),
        alias: s.string({ maxLength: 256 }).describe("Alias of the key in the keystore.").optional(),
        password: s.string({ maxLength: 1024 }).describe("A literal keystore password.").optional(),
        passwordSecretRef: passwordSecretRef(),
      })
      .optional(),
    pkcs12: s
      .object({
        create: s.boolean().describe("Write keystore.p12 and truststore.p12 to the Secret."),
        password: s.string({ maxLength: 1024 }).describe("A literal keystore password.").optional(),
        passwordSecretRef: passwordSecretRef(),
        profile: s
          .enum(["LegacyRC2", "LegacyDES", "Modern2023"])
          .describe("Encryption profile of the PKCS#12 file.")
          .optional(),
      })
      .optional(),
  })
  .describe("Keystores written to the Secret beside tls.crt and tls.key, kept current on every renewal.");

const nameList = (description: string) =>
  s
    .array(s.string({ maxLength: 256 }), { maxItems: 64 })
    .describe(description)
    .optional();
const nameConstraintItems = () =>
  s
    .object({
      dnsDomains: nameList("DNS domains."),
      ipRanges: nameList("IP ranges in CIDR notation."),
      emailAddresses: nameList("Email addresses."),
      uriDomains: nameList("URI domains."),
    })
    .optional();

const certificateSpecSchema = s
  .object({
    secretName: objectName().describe(
      "Name of the kubernetes.io/tls Secret, in the Certificate's namespace, that receives the key and chain.",
    ),
    secretTemplate: s
      .object({
        labels: s
          .record(s.string({ maxLength: 63 }))
          .describe("Labels to set on the Secret.")
          .optional(),
        annotations: s.record(s.string()).describe("Annotations to set on the Secret.").optional(),
      })
      .describe("Labels and annotations copied to the Secret.")
      .optional(),
    issuerRef: issuerRef(),
    commonName: dnsName(64)
      .describe(
        "Common name of the subject, at most 64 characters. With ACME it must be one of the DNS names; " +
          "it is added to them if missing.",
      )
      .optional(),
    dnsNames: s
      .array(dnsName(), { maxItems: 100 })
      .describe("DNS names of the certificate. A wildcard is allowed only as the whole leftmost label.")
      .optional(),
    duration: goDuration("1h", "1h")
      .describe(
        "Requested lifetime as a Go duration (e.g. 2160h), at least 1h. ACME CAs may ignore it; default 90 days.",
      )
      .optional(),
    renewBefore: goDuration("5m", "5m")
      .describe(
        "Renew this long before expiry, as a Go duration, at least 5m. Default: a third of the lifetime.",
      )
      .optional(),
    renewBeforePercentage: s
      .integer({ format: "int32", minimum: 1, maximum: 99 })
      .describe("Renew when this percentage (1 to 99) of the lifetime remains. Exclusive with renewBefore.")
      .optional(),
    privateKey: privateKey.optional(),
    usages: s
      .array(s.enum(KEY_USAGES), { maxItems: KEY_USAGES.length })
      .describe("Requested key usages. Default: digital signature, key encipherment.")
      .optional(),
    revisionHistoryLimit: s
      .integer({ format: "int32", minimum: 1 })
      .describe("How many old Orders to keep per Certificate (at least 1).")
      .optional(),
    subject: subject.optional(),
    literalSubject: s
      .string({ maxLength: 1024 })
      .describe("The subject as an RFC 4514 string. Exclusive with subject and commonName.")
      .optional(),
    isCA: s
      .boolean()
      .describe(
        "Accepted for cert-manager compatibility; must be false, an ACME CA issues leaf certificates only.",
      )
      .optional(),
    ipAddresses: s
      .array(s.string({ maxLength: 45 }).rule("isIP(self)", "must be an IPv4 or IPv6 address"), {
        maxItems: 100,
      })
      .describe("IP address SANs (cert-manager field). DNS-01 cannot validate them; a CA will refuse them.")
      .optional(),
    uris: s
      .array(s.string({ maxLength: 2048 }).rule("isURL(self)", "must be a URI"), { maxItems: 100 })
      .describe("URI SANs (cert-manager field). Public ACME CAs refuse them.")
      .optional(),
    emailAddresses: s
      .array(s.string({ maxLength: 254, pattern: "^[^@\\s]+@[^@\\s]+$" }), { maxItems: 100 })
      .describe("Email SANs (cert-manager field). Public ACME CAs refuse them.")
      .optional(),
    otherNames: s
      .array(
        s.object({
          oid: s
            .string({ maxLength: 256, pattern: "^[0-9]+([.][0-9]+)+$" })
            .describe("Dotted OID.")
            .optional(),
          utf8Value: s.string({ maxLength: 1024 }).describe("UTF-8 value.").optional(),
        }),
        { maxItems: 32 },
      )
      .describe(
        "otherName SANs (cert-manager field). DNS-01 cannot validate them: refused as UnsupportedField.",
      )
      .optional(),
    keystores: keystores.optional(),
    additionalOutputFormats: s
      .array(s.object({ type: s.enum(["DER", "CombinedPEM"]).describe("Output format.") }), { maxItems: 2 })
      .describe(
        "Extra output formats in the Secret: CombinedPEM (tls-combined.pem, key then chain) and DER (key.der).",
      )
      .optional(),
    nameConstraints: s
      .object({
        critical: s.boolean().describe("Mark the extension critical.").optional(),
        permitted: nameConstraintItems(),
        excluded: nameConstraintItems(),
      })
      .describe(
        "x509 name constraints (cert-manager field; CA certificates only): refused as UnsupportedField.",
      )
      .optional(),
    signatureAlgorithm: s
      .enum([
        "SHA256WithRSA",
        "SHA384WithRSA",
        "SHA512WithRSA",
        "ECDSAWithSHA256",
        "ECDSAWithSHA384",
        "ECDSAWithSHA512",
        "PureEd25519",
      ])
      .describe("Signature algorithm of the CSR; by default chosen from the key as cert-manager does.")
      .optional(),
    encodeUsagesInRequest: s
      .boolean()
      .describe("Whether usages are encoded in the CSR (default true).")
      .optional(),
  })
  .rule(
    "has(self.commonName) || (has(self.dnsNames) && size(self.dnsNames) > 0)",
    "at least one of commonName or dnsNames must be set",
    { reason: "FieldValueRequired", fieldPath: ".dnsNames" },
  )
  .rule(
    "!(has(self.renewBefore) && has(self.renewBeforePercentage))",
    "renewBefore and renewBeforePercentage are mutually exclusive: set only one",
    { fieldPath: ".renewBeforePercentage" },
  )
  .rule(
    `!has(self.renewBefore) || !has(self.duration) || !self.renewBefore.matches('${GO_DURATION}') || ` +
      `!self.duration.matches('${GO_DURATION}') || duration(self.renewBefore) < duration(self.duration)`,
    "renewBefore must be shorter than duration",
    { fieldPath: ".renewBefore" },
  )
  .rule(
    "!has(self.literalSubject) || (!has(self.commonName) && !has(self.subject))",
    "literalSubject cannot be set together with commonName or subject",
    { fieldPath: ".literalSubject" },
  )
  .rule("!has(self.isCA) || !self.isCA", "isCA must be false: an ACME CA issues leaf certificates only", {
    fieldPath: ".isCA",
  })
  .describe("The desired certificate.");

const ariStatus = s
  .object({
    suggestedWindow: s
      .object({
        start: s.string({ format: "date-time" }).describe("Start of the window."),
        end: s.string({ format: "date-time" }).describe("End of the window."),
      })
      .describe("The renewal window the CA suggests (RFC 9773).")
      .optional(),
    explanationURL: s
      .string({ maxLength: 2048 })
      .describe("A page where the CA explains the window, e.g. after a revocation.")
      .optional(),
    lastChecked: s.string({ format: "date-time" }).describe("When the CA was last asked.").optional(),
    nextCheck: s
      .string({ format: "date-time" })
      .describe("When the CA will next be asked; honours its Retry-After.")
      .optional(),
    lastError: s
      .string({ maxLength: 4096 })
      .describe("Why the last check failed; renewal then falls back to renewalTime.")
      .optional(),
    selectedRenewalTime: s
      .string({ format: "date-time" })
      .describe("The random time inside the window chosen for renewal; kept across restarts.")
      .optional(),
  })
  .describe(
    "ACME Renewal Information (RFC 9773) for the certificate in the Secret, in cert-manager's shape plus " +
      "the chosen time. Renewal happens at the earlier of selectedRenewalTime and renewalTime.",
  );

const certificateStatusSchema = s
  .object({
    conditions: conditions().optional(),
    notBefore: s
      .string({ format: "date-time" })
      .describe("Start of validity of the certificate in the Secret.")
      .optional(),
    notAfter: s
      .string({ format: "date-time" })
      .describe("Expiry of the certificate in the Secret.")
      .optional(),
    renewalTime: s.string({ format: "date-time" }).describe("When the next renewal starts.").optional(),
    revision: s
      .integer({ minimum: 1 })
      .describe("The revision of the certificate in the Secret; each issuance adds one.")
      .optional(),
    lastFailureTime: s
      .string({ format: "date-time" })
      .describe("When the latest issuance failed; unset after a success.")
      .optional(),
    failedIssuanceAttempts: s
      .integer({ minimum: 0 })
      .describe("Consecutive failed issuances; the retry delay grows with it. Unset after a success.")
      .optional(),
    nextPrivateKeySecretName: objectName()
      .describe("The Secret that holds the private key for the issuance in progress.")
      .optional(),
    lastFailureMessage: s
      .string({ maxLength: 32768 })
      .describe("Why the latest issuance failed, as the CA or the operator said; unset after a success.")
      .optional(),
    lastFailureGeneration: s
      .integer({ format: "int64" })
      .describe(
        "metadata.generation when the latest issuance failed: a spec changed since then skips the backoff.",
      )
      .optional(),
    lastManualRenewal: s
      .string({ maxLength: 1024 })
      .describe("The value of the dns01.io/renew annotation last honoured by a completed issuance.")
      .optional(),
    ari: ariStatus.optional(),
  })
  .describe("The observed state, written by the operator.");

/** The spec schema of Certificate. */
export const certificateSpec = certificateSpecSchema;
/** The status schema of Certificate. */
export const certificateStatus = certificateStatusSchema;

/** What a Certificate asks for: names, key, lifetime, Secret and issuer. */
export type CertificateSpec = Infer<typeof certificateSpecSchema>;
/** The observed state of a Certificate. */
export type CertificateStatus = Infer<typeof certificateStatusSchema>;
/** `spec.privateKey` of a Certificate. */
export type CertificatePrivateKey = Infer<typeof privateKey>;
/** `status.ari` of a Certificate. */
export type CertificateAriStatus = Infer<typeof ariStatus>;
/** One x509 key usage. */
export type KeyUsage = (typeof KEY_USAGES)[number];
