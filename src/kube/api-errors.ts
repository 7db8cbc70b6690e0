import type { KubeStatus } from "./types.js";

/**
 * Classifying API errors, whichever client raised them: client-node 1.4's typed APIs throw
 * `ApiException` and our raw client (src/kube/client.ts) `KubeApiError`, both Errors with the HTTP
 * status in `.code` and a `.body` that is a metav1.Status (parsed, or as a JSON string from the
 * typed APIs). They are recognised by that shape, so that the operator need not import client-node
 * (about 68 MiB of RSS) for its class.
 */

/** An Error with an HTTP status in `code` and a response `body`: ApiException and KubeApiError. */
function isApiError(err: unknown): err is Error & { code: number; body: unknown } {
  if (!(err instanceof Error) || !("body" in err)) return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === "number" && code >= 100 && code < 600;
}

/** The HTTP status of an API error, or undefined for anything else (network errors included). */
export function apiStatusCode(err: unknown): number | undefined {
  if (isApiError(err)) return err.code;
  if (typeof err === "object" && err !== null) {
    // Errors from client-node's Watch carry `statusCode`; keep accepting them.
    const { code, statusCode } = err as { code?: unknown; statusCode?: unknown };
    if (typeof statusCode === "number") return statusCode;
    if (err instanceof Error && typeof code === "number" && code >= 100 && code < 600) return code;
  }
  return undefined;
}

/** The metav1.Status in an API error's body, when there is one. */
export function apiStatus(err: unknown): KubeStatus | undefined {
  if (!isApiError(err)) return undefined;
  const body: unknown = err.body;
  if (typeof body === "object" && body !== null) return body;
  if (typeof body === "string") {
    try {
      const parsed: unknown = JSON.parse(body);
      if (typeof parsed === "object" && parsed !== null) return parsed;
    } catch {
      // Not JSON: no Status to report.
    }
  }
  return undefined;
}

/** 409: an optimistic-concurrency conflict (stale resourceVersion) or an AlreadyExists on create. */
export function isConflict(err: unknown): boolean {
  return apiStatusCode(err) === 409;
}

/** 409 with reason AlreadyExists: a create of a name that is taken. */
export function isAlreadyExists(err: unknown): boolean {
  return isConflict(err) && apiStatus(err)?.reason === "AlreadyExists";
}

/** 404: the object (or its namespace, or the resource type) does not exist. */
export function isNotFound(err: unknown): boolean {
  return apiStatusCode(err) === 404;
}

/** 410 Gone: a resourceVersion or continue token that etcd has compacted away. */
export function isGone(err: unknown): boolean {
  return apiStatusCode(err) === 410;
}

/** 422: the object failed validation; retrying the same write will not help. */
export function isInvalid(err: unknown): boolean {
  return apiStatusCode(err) === 422;
}

/**
 * A short human description of any error, with its cause chain, for logs and status messages.
 * API errors give the server's message rather than client-node's multi-line dump.
 */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    const status = apiStatus(cur);
    const code = apiStatusCode(cur);
    if (status?.message !== undefined) parts.push(`${code ?? ""} ${status.message}`.trim());
    else if (cur instanceof Error) parts.push(cur.message);
    else parts.push(typeof cur === "string" ? cur : JSON.stringify(cur));
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return parts.join(": ");
}
