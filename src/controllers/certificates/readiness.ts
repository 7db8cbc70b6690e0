/**
 * The readiness chain (after cert-manager's readiness controller): is the certificate in the
 * Secret usable right now? It runs on every reconcile, whatever the issuance backoff, so `Ready`
 * turns False the moment the certificate expires or the Secret goes, also while renewals fail.
 */
import { RENEWAL_REASONS, type SecretFacts, type Trigger } from "./trigger.js";

/** The input of the readiness policies. */
export interface ReadinessInput {
  readonly secret: SecretFacts;
  readonly now: Date;
}

/** Why the certificate in the Secret cannot be used now. */
export interface NotReady {
  readonly reason: string;
  readonly message: string;
}

/** One readiness policy. */
export type ReadinessPolicy = (input: ReadinessInput) => NotReady | null;

export const secretMissing: ReadinessPolicy = ({ secret }) =>
  secret.exists ? null : { reason: "DoesNotExist", message: "The Secret does not exist" };

export const secretIncomplete: ReadinessPolicy = ({ secret }) => {
  if (!secret.hasCertificate) return { reason: "MissingData", message: "The Secret has no certificate" };
  if (!secret.hasPrivateKey) return { reason: "MissingData", message: "The Secret has no private key" };
  return null;
};

export const secretUnparsable: ReadinessPolicy = ({ secret }) =>
  secret.parseError
    ? { reason: "InvalidData", message: `The Secret holds invalid data: ${secret.parseError}` }
    : null;

export const keyMismatch: ReadinessPolicy = ({ secret }) =>
  secret.keyMatchesCertificate === false
    ? { reason: "InvalidKeyPair", message: "The Secret's private key does not match its certificate" }
    : null;

export const expired: ReadinessPolicy = ({ secret, now }) => {
  const c = secret.certificate;
  return c && c.notAfter <= now
    ? { reason: "Expired", message: `The certificate expired at ${c.notAfter.toISOString()}` }
    : null;
};

export const notYetValid: ReadinessPolicy = ({ secret, now }) => {
  const nb = secret.certificate?.notBefore;
  return nb && nb > now
    ? { reason: "NotYetValid", message: `The certificate is not valid before ${nb.toISOString()}` }
    : null;
};

/** The readiness policies, in order. */
export const readinessPolicies: readonly ReadinessPolicy[] = [
  secretMissing,
  secretIncomplete,
  secretUnparsable,
  keyMismatch,
  expired,
  notYetValid,
];

/** Runs the readiness chain: null when the certificate in the Secret is usable now. */
export function notReady(
  input: ReadinessInput,
  policies: readonly ReadinessPolicy[] = readinessPolicies,
): NotReady | null {
  for (const p of policies) {
    const r = p(input);
    if (r) return r;
  }
  return null;
}

/** The Ready condition's status, reason and message. */
export interface ReadyState {
  readonly status: "True" | "False";
  readonly reason: string;
  readonly message: string;
}

/** Readiness reasons that mean there is no certificate at all. */
const NOTHING_THERE: ReadonlySet<string> = new Set(["DoesNotExist", "MissingData"]);

/** The message of a Ready=True condition. */
export const READY_MESSAGE = "Certificate is up to date and has not expired";

/**
 * Ready from the readiness chain, the trigger and the last failure. Unusable is False with the
 * readiness reason (and the last failure, which says what to fix); no certificate at all after a
 * failure is False with reason Failed and the failure's message. Usable but not what the spec
 * asks for is False with the trigger's reason, or the last failure when an attempt failed. A
 * renewal (scheduled or manual) leaves a usable certificate Ready.
 */
export function readyState(input: {
  notReady: NotReady | null;
  trigger: Trigger | null;
  /** The Issuing condition's message after a failed attempt, until an issuance succeeds. */
  lastFailure?: string | undefined;
}): ReadyState {
  const { notReady: nr, trigger, lastFailure } = input;
  // Nothing usable was ever there (or it is gone): the failure is the news, as the CA worded it.
  if (nr && lastFailure && NOTHING_THERE.has(nr.reason)) {
    return { status: "False", reason: "Failed", message: lastFailure };
  }
  if (nr) {
    return {
      status: "False",
      reason: nr.reason,
      message: lastFailure ? `${nr.message}; the last issuance failed: ${lastFailure}` : nr.message,
    };
  }
  if (trigger && !RENEWAL_REASONS.has(trigger.reason)) {
    return lastFailure
      ? { status: "False", reason: "Failed", message: lastFailure }
      : { status: "False", reason: trigger.reason, message: trigger.message };
  }
  return { status: "True", reason: "Ready", message: READY_MESSAGE };
}
