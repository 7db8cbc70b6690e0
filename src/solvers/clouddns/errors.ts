/**
 * Turning what the Cloud DNS SDK throws into the operator's TemporaryError / TerminalError. Three
 * kinds reach us: the API's errors (@google-cloud/common's ApiError: a numeric `code`, Google's
 * `errors[].reason`, the response headers), the token endpoint's (a GaxiosError from
 * google-auth-library, `invalid_grant: ...`), and network failures (no HTTP status at all).
 */
import { TemporaryError, TerminalError } from "../../errors.js";
import { parseRetryAfter } from "../limits.js";

/** Default back-off after a 429 that named no Retry-After. */
export const DEFAULT_THROTTLE_MS = 5000;

/** The parts of an error the mapping reads. */
export interface ErrorFacts {
  /** HTTP status, if there was a response. */
  readonly status: number | undefined;
  /** Google's first `errors[].reason` (e.g. `forbidden`, `quotaExceeded`, `rateLimitExceeded`). */
  readonly reason: string | undefined;
  readonly message: string;
  /** True when the token endpoint (not the DNS API) answered. */
  readonly fromTokenEndpoint: boolean;
  readonly retryAfterMs: number | undefined;
}

function header(headers: unknown, name: string): string | undefined {
  if (headers === null || typeof headers !== "object") return undefined;
  if (typeof (headers as { get?: unknown }).get === "function") {
    return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  }
  const v = (headers as Record<string, unknown>)[name];
  return typeof v === "string" ? v : Array.isArray(v) && typeof v[0] === "string" ? v[0] : undefined;
}

/** Reads status, reason, message and Retry-After from whatever the SDK threw. */
export function errorFacts(err: unknown): ErrorFacts {
  const e = (typeof err === "object" && err !== null ? err : {}) as Record<string, unknown>;
  const message = err instanceof Error ? err.message : String(err);
  const response = (
    typeof e["response"] === "object" && e["response"] !== null ? e["response"] : {}
  ) as Record<string, unknown>;
  const fromTokenEndpoint = e["name"] === "GaxiosError" || typeof e["config"] === "object";
  let status: number | undefined;
  if (typeof e["code"] === "number") status = e["code"];
  else if (typeof e["status"] === "number") status = e["status"];
  else if (typeof response["status"] === "number") status = response["status"];
  else if (typeof response["statusCode"] === "number") status = response["statusCode"];
  const errors = Array.isArray(e["errors"]) ? (e["errors"] as unknown[]) : [];
  const first = errors[0] as { reason?: unknown } | undefined;
  const reason = typeof first?.reason === "string" ? first.reason : undefined;
  return {
    status,
    reason,
    message: message.trim() === "" ? `HTTP ${status ?? "error"}` : message.trim(),
    fromTokenEndpoint,
    retryAfterMs: parseRetryAfter(header(response["headers"], "retry-after")),
  };
}

/** What the solver should do with a failure. */
export type Classified =
  | { readonly kind: "conflict" }
  | { readonly kind: "zoneGone" }
  | { readonly kind: "throttled"; readonly retryAfterMs: number }
  | { readonly kind: "error"; readonly error: Error };

const RATE_REASONS = new Set(["rateLimitExceeded", "userRateLimitExceeded"]);

/**
 * Classifies a failure of `what` (e.g. "failed to create TXT record"). 409 and 412 from
 * changes.create, and a 404 naming a deletion, mean the record set changed under us (re-read and
 * retry); a 404 naming the managed zone means it is gone; 429 (and 403 `rateLimitExceeded`, which
 * older Google front ends send) is throttling; 401/403 are rejected credentials; 403
 * `quotaExceeded` is a quota; 400 is a request Cloud DNS will never accept; the rest is temporary.
 */
export function classify(err: unknown, what: string): Classified {
  if (err instanceof TemporaryError || err instanceof TerminalError) return { kind: "error", error: err };
  const f = errorFacts(err);
  const cause = { cause: err };
  if (f.fromTokenEndpoint) {
    if (f.status === 429) return { kind: "throttled", retryAfterMs: f.retryAfterMs ?? DEFAULT_THROTTLE_MS };
    if (f.status !== undefined && f.status >= 400 && f.status < 500) {
      return {
        kind: "error",
        error: new TerminalError(
          `cloudDNS: ${what}: the token endpoint rejected the service account key: ${f.message}`,
          "InvalidCredentials",
          cause,
        ),
      };
    }
    return {
      kind: "error",
      error: new TemporaryError(
        `cloudDNS: ${what}: cannot get an access token: ${f.message}`,
        undefined,
        cause,
      ),
    };
  }
  if (f.status === undefined) {
    if (/Could not load the default credentials/i.test(f.message)) {
      return {
        kind: "error",
        error: new TerminalError(
          `cloudDNS: ${what}: no ambient Google credentials were found (workload identity, ` +
            `GOOGLE_APPLICATION_CREDENTIALS or a metadata server); set serviceAccountSecretRef`,
          "InvalidCredentials",
          cause,
        ),
      };
    }
    return { kind: "error", error: new TemporaryError(`cloudDNS: ${what}: ${f.message}`, undefined, cause) };
  }
  const text = `cloudDNS: ${what}: ${f.status} ${f.message}`;
  if (f.status === 409 || f.status === 412) return { kind: "conflict" };
  if (f.status === 404) {
    if (f.message.includes("entity.change.deletions")) return { kind: "conflict" };
    if (f.message.includes("managedZone")) return { kind: "zoneGone" };
    return { kind: "error", error: new TerminalError(text, "ZoneNotFound", cause) };
  }
  if (f.status === 429 || (f.status === 403 && f.reason !== undefined && RATE_REASONS.has(f.reason))) {
    return { kind: "throttled", retryAfterMs: f.retryAfterMs ?? DEFAULT_THROTTLE_MS };
  }
  if (f.status === 403 && f.reason === "quotaExceeded") {
    return { kind: "error", error: new TerminalError(text, "QuotaExceeded", cause) };
  }
  if (f.status === 401 || f.status === 403) {
    return { kind: "error", error: new TerminalError(text, "InvalidCredentials", cause) };
  }
  if (f.status === 400)
    return { kind: "error", error: new TerminalError(text, "InvalidConfiguration", cause) };
  return { kind: "error", error: new TemporaryError(text, f.retryAfterMs, cause) };
}
