/**
 * Turning AWS SDK failures into the operator's two kinds of error. The SDK runs with
 * `maxAttempts: 1`, so every failure arrives here at once and the work queue does the backoff.
 */
import { TemporaryError, TerminalError } from "../../errors.js";

/** The fields of an AWS SDK service exception (or a network error) this module reads. */
interface AwsErrorLike {
  readonly name?: string;
  readonly message?: string;
  readonly $fault?: "client" | "server";
  readonly $metadata?: { readonly httpStatusCode?: number };
}

/** Codes AWS answers when it refuses the caller's identity or permissions. */
const CREDENTIAL_CODES = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "InvalidClientTokenId",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "UnrecognizedClientException",
  "NotAuthorizedException",
  "MissingAuthenticationToken",
  "IncompleteSignature",
  "AuthFailure",
  "InvalidIdentityToken",
  "IDPRejectedClaim",
]);

/** Codes of account-wide rate throttling: the whole account backs off. */
const THROTTLING_CODES = new Set([
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
]);

/** Codes of a refusal that goes away on its own: retry later, at this key's backoff. */
const TRANSIENT_CODES = new Set([
  "PriorRequestNotComplete",
  "ServiceUnavailable",
  "InternalFailure",
  "InternalError",
  "RequestTimeout",
  "RequestTimeoutException",
  "ExpiredToken",
  "ExpiredTokenException",
  "RequestExpired",
  "IDPCommunicationError",
]);

function fields(err: unknown): AwsErrorLike {
  return typeof err === "object" && err !== null ? err : {};
}

/** The AWS error code of an SDK exception (its `name`), or undefined for a non-AWS error. */
export function awsCode(err: unknown): string | undefined {
  const f = fields(err);
  return f.$metadata !== undefined || f.$fault !== undefined ? f.name : undefined;
}

/** The HTTP status of an SDK exception, when a response came back. */
export function httpStatus(err: unknown): number | undefined {
  return fields(err).$metadata?.httpStatusCode;
}

/** `Code: message`, the way AWS states an error; messages never carry credential values. */
export function describeAwsError(err: unknown): string {
  const f = fields(err);
  const code = f.name ?? "Error";
  const message = f.message ?? String(err);
  return message === "" || message === code ? code : `${code}: ${message}`;
}

/** True when the failure says "slow down" for the whole account (Route 53: HTTP 400 `Throttling`). */
export function isThrottling(err: unknown): boolean {
  const code = awsCode(err);
  return (code !== undefined && THROTTLING_CODES.has(code)) || httpStatus(err) === 429;
}

/** True for an abort of the caller's signal, which must propagate as it is. */
export function isAbort(err: unknown): boolean {
  return fields(err).name === "AbortError";
}

/**
 * Maps a failed call to a TerminalError (refused credentials, a malformed request) or a
 * TemporaryError (throttling, 5xx, network), prefixed lego-style: `route53: failed to <what>: ...`.
 * Errors that are already classified pass through.
 */
export function classifyAwsError(err: unknown, what: string): Error {
  if (err instanceof TemporaryError || err instanceof TerminalError || isAbort(err)) return err as Error;
  const code = awsCode(err);
  const status = httpStatus(err);
  const message = `route53: failed to ${what}: ${describeAwsError(err)}`;
  if (
    (code !== undefined && CREDENTIAL_CODES.has(code)) ||
    status === 401 ||
    (status === 403 && !(code !== undefined && THROTTLING_CODES.has(code)))
  ) {
    return new TerminalError(message, "InvalidCredentials", { cause: err });
  }
  if (fields(err).name === "CredentialsProviderError") {
    // The default chain found nothing (no environment keys, no web identity token file, no
    // container or instance role): a setup problem, not something a retry fixes.
    return new TerminalError(message, "InvalidCredentials", { cause: err });
  }
  if (isThrottling(err)) return new TemporaryError(message, undefined, { cause: err });
  if (code !== undefined && TRANSIENT_CODES.has(code))
    return new TemporaryError(message, undefined, { cause: err });
  if (fields(err).$fault === "server" || (status !== undefined && status >= 500)) {
    return new TemporaryError(message, undefined, { cause: err });
  }
  if (code === "InvalidInput" || code === "InvalidArgument" || code === "InvalidDomainName") {
    return new TerminalError(message, "InvalidConfiguration", { cause: err });
  }
  // Network errors (no response), timeouts, and client faults nobody documented for these calls:
  // retried with the queue's backoff, which is bounded, so never a storm.
  return new TemporaryError(message, undefined, { cause: err });
}
