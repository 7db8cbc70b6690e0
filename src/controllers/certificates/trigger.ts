/**
 * The trigger chain (after cert-manager's trigger policies): should a new certificate be issued?
 * Each policy is a small pure function of the Certificate's wishes and the Secret's facts that
 * returns why, or null. The first that answers wins; its reason and message go straight into the
 * `Issuing` condition and an Event.
 *
 * "The spec changed" is judged against the hash of what was requested, stored on the Secret. The
 * issued certificate is compared with the spec only where the CA must honour it: the SAN set and
 * the public key. A CA that leaves the CN out (Let's Encrypt's tlsserver, Pebble's default) or
 * shortens the lifetime does not cause a reissue.
 */

/** The facts about the Certificate that the policies read. */
export interface CertificateFacts {
  /** The SAN set the certificate must carry (dnsNames plus the common name). */
  readonly names: readonly string[];
  readonly issuerName: string;
  readonly issuerKind: string;
  readonly issuerGroup: string;
  readonly keyAlgorithm: string;
  readonly keySize: number;
  /** Hash of what the spec asks for today (see request.ts). */
  readonly requestHash: string;
  /** The `dns01.io/renew` annotation, if set. */
  readonly renewRequest?: string | undefined;
  /** The renew annotation value the last completed issuance honoured (`status.lastManualRenewal`). */
  readonly lastManualRenewal?: string | undefined;
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
        readonly notBefore?: Date | undefined;
        readonly notAfter: Date;
      }
    | undefined;
  readonly privateKey?: { readonly algorithm: string; readonly size: number } | undefined;
  readonly keyMatchesCertificate?: boolean | undefined;
}

/** The input of every trigger policy. */
export interface PolicyInput {
  readonly cert: CertificateFacts;
  readonly secret: SecretFacts;
  /** When to renew: the earlier of renewalTime and the time chosen inside the ARI window. */
  readonly renewalTime?: Date | undefined;
  /** Set when renewalTime comes from the CA's ARI window rather than from the lifetime. */
  readonly renewalFromAri?: boolean | undefined;
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
  requestHash: "dns01.io/request-hash",
} as const;

/** Annotation on a Certificate: a new value asks for one reissue (`dns01ctl renew` sets it). */
export const RENEW_ANNOTATION = "dns01.io/renew";

/** Trigger reasons that leave the current certificate in use (Ready stays as readiness says). */
export const RENEWAL_REASONS: ReadonlySet<string> = new Set(["Renewing", "ManuallyTriggered"]);

const sameSet = (a: readonly string[], b: readonly string[]): boolean => {
  const x = new Set(a.map((n) => n.toLowerCase()));
  const y = new Set(b.map((n) => n.toLowerCase()));
  return x.size === y.size && [...x].every((n) => y.has(n));
};

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

/** The SAN set is what the CA must honour; the CN is not (a CA may leave it out). */
export const sanSetChanged: Policy = ({ cert, secret }) => {
  const got = secret.certificate;
  if (!got || sameSet(got.dnsNames, cert.names)) return null;
  return {
    reason: "SecretMismatch",
    message: `Issuing certificate as Secret has names [${got.dnsNames.join(", ")}], the spec asks for [${cert.names.join(", ")}]`,
  };
};

/** The key in the Secret (which the certificate's public key matches) is not of the spec's kind. */
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

/**
 * The spec asks for something else than what was requested for the certificate in the Secret.
 * A Secret from before the request hash existed (or from cert-manager) has none: the policies
 * above judge it, and post-issuance stamps the hash once they are satisfied.
 */
export const requestChanged: Policy = ({ cert, secret }) => {
  const stored = secret.annotations[Annotations.requestHash];
  if (stored === undefined || stored === cert.requestHash) return null;
  return {
    reason: "RequestChanged",
    message:
      "Issuing certificate as the spec changed since the certificate in the Secret was requested " +
      "(names, subject, usages, duration, private key, signature algorithm, profile or issuer)",
  };
};

/** A new value of the `dns01.io/renew` annotation asks for one reissue. */
export const manualRenewal: Policy = ({ cert }) =>
  cert.renewRequest !== undefined && cert.renewRequest !== cert.lastManualRenewal
    ? {
        reason: "ManuallyTriggered",
        message: `Renewing certificate as requested by the ${RENEW_ANNOTATION} annotation ("${cert.renewRequest}")`,
      }
    : null;

export const renewalDue: Policy = ({ secret, renewalTime, renewalFromAri, now }) => {
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
      message: `Renewing certificate as renewal was scheduled at ${renewalTime.toISOString()}${renewalFromAri ? ", inside the renewal window the CA suggests (ARI)" : ""}`,
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
  sanSetChanged,
  privateKeyChanged,
  requestChanged,
  renewalDue,
  manualRenewal,
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

/**
 * Whether a failed issuance's backoff still holds: not when the spec changed since that failure
 * (the user fixed something; `lastFailureGeneration` is the generation it failed at).
 */
export function backoffUntil(input: {
  failedAttempts: number;
  lastFailureTime?: string | undefined;
  lastFailureGeneration?: number | undefined;
  generation?: number | undefined;
  baseMs: number;
}): Date | undefined {
  if (input.failedAttempts <= 0 || input.lastFailureTime === undefined) return undefined;
  if (
    input.lastFailureGeneration !== undefined &&
    input.generation !== undefined &&
    input.generation !== input.lastFailureGeneration
  ) {
    return undefined;
  }
  return new Date(Date.parse(input.lastFailureTime) + issuanceBackoffMs(input.failedAttempts, input.baseMs));
}
