/**
 * Turning what the Azure SDK throws into the operator's TemporaryError / TerminalError. ARM answers
 * with a RestError (`statusCode`, ARM's `code` such as AuthorizationFailed or
 * SubscriptionRequestsThrottled, the response headers); @azure/identity reports a refused token
 * request as an AuthenticationRequiredError whose message starts with the OAuth error code
 * (`invalid_client: ... AADSTS7000215: Invalid client secret provided ...`), without the status.
 */
import { TemporaryError, TerminalError } from "../../errors.js";
import { parseRetryAfter } from "../limits.js";

/** Default back-off after a 429 that named no Retry-After. */
export const DEFAULT_THROTTLE_MS = 5000;

/** What the solver should do with a failure. */
export type Classified =
  | { readonly kind: "conflict" }
  | { readonly kind: "notFound" }
  | { readonly kind: "throttled"; readonly retryAfterMs: number }
  | { readonly kind: "error"; readonly error: Error };

/** OAuth 2.0 error codes (RFC 6749 section 5.2) that no retry will fix. */
const REFUSED = new Set([
  "invalid_client",
  "unauthorized_client",
  "invalid_request",
  "invalid_grant",
  "invalid_scope",
  "unsupported_grant_type",
]);

/** ARM codes of a missing zone or resource group (404). */
const ZONE_MISSING = new Set(["ParentResourceNotFound", "ResourceGroupNotFound", "SubscriptionNotFound"]);

interface Facts {
  readonly name: string;
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly message: string;
  readonly retryAfterMs: number | undefined;
}

function facts(err: unknown): Facts {
  const e = (typeof err === "object" && err !== null ? err : {}) as Record<string, unknown>;
  const response = (typeof e["response"] === "object" && e["response"] !== null ? e["response"] : {}) as {
    headers?: { get?: (n: string) => string | undefined | null };
  };
  const get = (n: string) =>
    typeof response.headers?.get === "function" ? (response.headers.get(n) ?? undefined) : undefined;
  const retryMs = Number(get("retry-after-ms") ?? get("x-ms-retry-after-ms") ?? Number.NaN);
  return {
    name: typeof e["name"] === "string" ? e["name"] : "",
    status: typeof e["statusCode"] === "number" ? e["statusCode"] : undefined,
    code: typeof e["code"] === "string" ? e["code"] : undefined,
    message: (err instanceof Error ? err.message : String(err)).trim(),
    retryAfterMs: Number.isFinite(retryMs) ? retryMs : parseRetryAfter(get("retry-after")),
  };
}

/**
 * The useful part of an MSAL message: `invalid_client: Error(s): 7000215 - Timestamp: ... -
 * Description: AADSTS7000215: Invalid client secret provided. ... - Trace ID: ...` becomes
 * `invalid_client: AADSTS7000215: Invalid client secret provided. ...`.
 */
export function entraMessage(message: string): { code: string | undefined; text: string } {
  const code = /^([a-z_]+):/.exec(message)?.[1];
  const description = / - Description: (.*?)(?: - Correlation ID:| - Trace ID:|$)/s
    .exec(message)?.[1]
    ?.trim();
  return {
    code,
    text: description !== undefined && code !== undefined ? `${code}: ${description}` : message,
  };
}

/**
 * Classifies a failure of `what` (e.g. "failed to read TXT record"). 412 means the record set
 * changed under us (re-read and retry); a 404 NotFound is a missing record set, a 404 naming the
 * zone or resource group is ZoneNotFound; 429 is throttling; 401/403 and a refused token request
 * are rejected credentials; the rest is temporary.
 */
export function classify(err: unknown, what: string): Classified {
  if (err instanceof TemporaryError || err instanceof TerminalError) return { kind: "error", error: err };
  const f = facts(err);
  const cause = { cause: err };
  if (f.name === "AbortError") return { kind: "error", error: err as Error };
  if (f.name === "AuthenticationRequiredError" || f.name === "AuthenticationError") {
    const m = entraMessage(f.message);
    if (m.code !== undefined && REFUSED.has(m.code)) {
      return {
        kind: "error",
        error: new TerminalError(
          `azureDNS: ${what}: Microsoft Entra ID refused the credentials: ${m.text}`,
          "InvalidCredentials",
          cause,
        ),
      };
    }
    return {
      kind: "error",
      error: new TemporaryError(`azureDNS: ${what}: cannot get an access token: ${m.text}`, undefined, cause),
    };
  }
  if (f.name === "CredentialUnavailableError") {
    return {
      kind: "error",
      error: new TemporaryError(
        `azureDNS: ${what}: no managed identity available: ${f.message}`,
        undefined,
        cause,
      ),
    };
  }
  if (f.status === undefined) {
    return { kind: "error", error: new TemporaryError(`azureDNS: ${what}: ${f.message}`, undefined, cause) };
  }
  const text = `azureDNS: ${what}: ${f.status} ${f.code ?? ""}${f.code === undefined ? "" : ": "}${f.message}`;
  if (f.status === 412) return { kind: "conflict" };
  if (f.status === 404) {
    if (f.code !== undefined && ZONE_MISSING.has(f.code)) {
      return { kind: "error", error: new TerminalError(text, "ZoneNotFound", cause) };
    }
    return { kind: "notFound" };
  }
  if (f.status === 429) return { kind: "throttled", retryAfterMs: f.retryAfterMs ?? DEFAULT_THROTTLE_MS };
  if (f.status === 401 || f.status === 403) {
    return { kind: "error", error: new TerminalError(text, "InvalidCredentials", cause) };
  }
  if (/limit|quota|maximum number/i.test(`${f.code ?? ""} ${f.message}`) && f.status < 500) {
    return { kind: "error", error: new TerminalError(text, "QuotaExceeded", cause) };
  }
  if (f.status === 400)
    return { kind: "error", error: new TerminalError(text, "InvalidConfiguration", cause) };
  return { kind: "error", error: new TemporaryError(text, f.retryAfterMs, cause) };
}
