/**
 * Decisions as data (after cert-manager's trigger policies): each policy is a small pure function
 * that looks at a Certificate and its Secret and returns why a new certificate must be issued,
 * or null. The first that answers wins; its reason and message go straight into the `Issuing`
 * condition and an Event.
 */

/** The facts about the Certificate that the policies read. */
export interface CertificateFacts {
  readonly commonName?: string | undefined;
  readonly dnsNames: readonly string[];
  readonly issuerName: string;
  readonly issuerKind: string;
  readonly issuerGroup: string;
  readonly keyAlgorithm: string;
  readonly keySize: number;
}

/** What was found in the Secret, already parsed. */
export interface SecretFacts {
  readonly exists: boolean;
  readonly annotations: Readonly<Record<string, string>>;
  readonly hasCertificate: boolean;
  readonly hasPrivateKey: boolean;
  /** Set when tls.crt or tls.key does not parse. */
  readonly parseError?: string | undefined;
  readonly certificate?:
    | {
        readonly commonName?: string | undefined;
        readonly dnsNames: readonly string[];
        readonly notAfter: Date;
      }
    | undefined;
  readonly privateKey?: { readonly algorithm: string; readonly size: number } | undefined;
  readonly keyMatchesCertificate?: boolean | undefined;
}

/** The input of every policy. */
export interface PolicyInput {
  readonly cert: CertificateFacts;
  readonly secret: SecretFacts;
  readonly renewalTime?: Date | undefined;
  readonly now: Date;
}

/** Why issuance is needed: a CamelCase reason and a sentence for people. */
export interface Trigger {
  readonly reason: string;
  readonly message: string;
}

/** One trigger policy. */
export type Policy = (input: PolicyInput) => Trigger | null;

/** Annotation keys we write on every Secret we manage (cert-manager's names, in our group). */
export const Annotations = {
  certificateName: "dns01.io/certificate-name",
  issuerName: "dns01.io/issuer-name",
  issuerKind: "dns01.io/issuer-kind",
  issuerGroup: "dns01.io/issuer-group",
  commonName: "dns01.io/common-name",
  altNames: "dns01.io/alt-names",
} as const;

const sameSet = (a: readonly string[], b: readonly string[]): boolean => {
  const x = new Set(a.map((n) => n.toLowerCase()));
  const y = new Set(b.map((n) => n.toLowerCase()));
  return x.size === y.size && [...x].every((n) => y.has(n));
};

/** The names a certificate for this spec must carry: every dnsName, plus the commonName when set. */
export function expectedNames(cert: CertificateFacts): string[] {
  const names = [...cert.dnsNames];
  if (cert.commonName && !names.some((n) => n.toLowerCase() === cert.commonName?.toLowerCase())) {
    names.push(cert.commonName);
  }
  return names;
}

export const secretDoesNotExist: Policy = ({ secret }) =>
  secret.exists ? null : { reason: "DoesNotExist", message: "Issuing certificate as Secret does not exist" };

export const secretMissingData: Policy = ({ secret }) => {
  if (!secret.hasCertificate) {
    return { reason: "MissingData", message: "Issuing certificate as Secret does not contain a certificate" };
  }
  if (!secret.hasPrivateKey) {
    return { reason: "MissingData", message: "Issuing certificate as Secret does not contain a private key" };
  }
  return null;
};

export const secretInvalidData: Policy = ({ secret }) =>
  secret.parseError
    ? {
        reason: "InvalidData",
        message: `Issuing certificate as Secret contains invalid data: ${secret.parseError}`,
      }
    : null;

export const secretKeyPairMismatch: Policy = ({ secret }) =>
  secret.keyMatchesCertificate === false
    ? {
        reason: "InvalidKeyPair",
        message: "Issuing certificate as Secret's private key does not match its certificate",
      }
    : null;

export const issuerChanged: Policy = ({ cert, secret }) => {
  const a = secret.annotations;
  const same =
    a[Annotations.issuerName] === cert.issuerName &&
    (a[Annotations.issuerKind] ?? "Issuer") === cert.issuerKind &&
    (a[Annotations.issuerGroup] ?? cert.issuerGroup) === cert.issuerGroup;
  return same
    ? null
    : {
        reason: "IncorrectIssuer",
        message: `Issuing certificate as Secret was previously issued by ${a[Annotations.issuerKind] ?? "Issuer"}/${a[Annotations.issuerName] ?? "<unknown>"}`,
      };
};

export const namesChanged: Policy = ({ cert, secret }) => {
  const got = secret.certificate;
  if (!got) return null;
  const want = expectedNames(cert);
  if (!sameSet(got.dnsNames, want)) {
    return {
      reason: "SecretMismatch",
      message: `Issuing certificate as Secret has names [${got.dnsNames.join(", ")}], the spec asks for [${want.join(", ")}]`,
    };
  }
  if (cert.commonName && got.commonName?.toLowerCase() !== cert.commonName.toLowerCase()) {
    return {
      reason: "SecretMismatch",
      message: `Issuing certificate as Secret has common name ${got.commonName ?? "<none>"}, the spec asks for ${cert.commonName}`,
    };
  }
  return null;
};

export const privateKeyChanged: Policy = ({ cert, secret }) => {
  const key = secret.privateKey;
  if (!key) return null;
  if (key.algorithm !== cert.keyAlgorithm || key.size !== cert.keySize) {
    return {
      reason: "SecretMismatch",
      message: `Issuing certificate as Secret's private key is ${key.algorithm} ${key.size}, the spec asks for ${cert.keyAlgorithm} ${cert.keySize}`,
    };
  }
  return null;
};

export const renewalDue: Policy = ({ secret, renewalTime, now }) => {
  if (!secret.certificate) return null;
  if (secret.certificate.notAfter <= now) {
    return {
      reason: "Expired",
      message: `Issuing certificate as it expired at ${secret.certificate.notAfter.toISOString()}`,
    };
  }
  if (renewalTime && renewalTime <= now) {
    return {
      reason: "Renewing",
      message: `Renewing certificate as renewal was scheduled at ${renewalTime.toISOString()}`,
    };
  }
  return null;
};

/** The policies in the order they are asked: the cheapest, most fundamental first. */
export const triggerPolicies: readonly Policy[] = [
  secretDoesNotExist,
  secretMissingData,
  secretInvalidData,
  secretKeyPairMismatch,
  issuerChanged,
  namesChanged,
  privateKeyChanged,
  renewalDue,
];

/** Runs the policies in order and returns the first trigger, or null when the Secret is up to date. */
export function needsIssuance(
  input: PolicyInput,
  policies: readonly Policy[] = triggerPolicies,
): Trigger | null {
  for (const p of policies) {
    const t = p(input);
    if (t) return t;
  }
  return null;
}

/**
 * How long to wait after `failedAttempts` failed issuances before trying again: cert-manager's
 * exponential backoff (1h, 2h, 4h, ... capped at 32h), with the base configurable so that tests
 * and impatient operators can shorten it.
 */
export function issuanceBackoffMs(failedAttempts: number, baseMs: number, capMs = 32 * baseMs): number {
  if (failedAttempts <= 0) return 0;
  return Math.min(capMs, baseMs * 2 ** Math.min(failedAttempts - 1, 30));
}
