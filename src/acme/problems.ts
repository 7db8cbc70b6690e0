/**
 * ACME problem documents (RFC 8555 section 6.7, RFC 7807) and how they map onto the project's two
 * kinds of failure: retry later (TemporaryError) or record and wait for a spec change (TerminalError).
 */
import { TemporaryError, TerminalError } from "../errors.js";

/** An RFC 7807 problem document as ACME servers send it. */
export interface AcmeProblem {
  /** e.g. `urn:ietf:params:acme:error:rejectedIdentifier`. */
  readonly type: string;
  readonly detail?: string | undefined;
  /** The HTTP status the server put in the document (or answered with). */
  readonly status?: number | undefined;
  readonly instance?: string | undefined;
  /** For `compound` problems and problems about several identifiers. */
  readonly subproblems?: readonly AcmeSubproblem[] | undefined;
}

/** One identifier's part of a compound problem. */
export interface AcmeSubproblem {
  readonly type: string;
  readonly detail?: string | undefined;
  readonly identifier?: { readonly type: string; readonly value: string } | undefined;
}

/** The URN prefix of ACME's own error types. */
export const ACME_ERROR_PREFIX = "urn:ietf:params:acme:error:";

/**
 * Problem types that are worth retrying as they are: the request was refused for now, not for good.
 * badNonce is retried inside the client and only surfaces when a whole burst of retries failed.
 */
const TEMPORARY_TYPES: ReadonlySet<string> = new Set(["badNonce", "serverInternal", "rateLimited"]);

/**
 * The error that carries a problem document as the `cause` of the Temporary/TerminalError we throw,
 * so that callers who care (e.g. for `orderNotReady` or `accountDoesNotExist`) can look at it.
 */
export class AcmeProblemError extends Error {
  override readonly name = "AcmeProblemError";
  constructor(
    readonly problem: AcmeProblem,
    /** The HTTP status of the response. */
    readonly httpStatus: number,
    /** The request, e.g. `POST https://ca/acme/new-order`. */
    readonly request: string,
  ) {
    super(describeProblem(problem));
  }
}

/** `urn:ietf:params:acme:error:rejectedIdentifier` → `RejectedIdentifier`; other types → `AcmeError`. */
export function reasonForProblemType(type: string): string {
  if (!type.startsWith(ACME_ERROR_PREFIX)) return "AcmeError";
  const short = type.slice(ACME_ERROR_PREFIX.length);
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(short)) return "AcmeError";
  return short.charAt(0).toUpperCase() + short.slice(1);
}

/** The short name of an ACME problem type (`rejectedIdentifier`), or the whole type for foreign ones. */
export function shortProblemType(type: string): string {
  return type.startsWith(ACME_ERROR_PREFIX) ? type.slice(ACME_ERROR_PREFIX.length) : type;
}

function textOr(text: string | undefined, fallback: string): string {
  const t = (text ?? "").trim();
  return t === "" ? fallback : t;
}

/** One line for a problem: the CA's detail, each subproblem's identifier and detail, and the type. */
export function describeProblem(problem: AcmeProblem): string {
  const parts = [textOr(problem.detail, "(no detail)")];
  for (const sub of problem.subproblems ?? []) {
    const who = sub.identifier ? `${sub.identifier.value}: ` : "";
    parts.push(`${who}${textOr(sub.detail, shortProblemType(sub.type))}`);
  }
  return `${parts.join("; ")} [${shortProblemType(problem.type)}]`;
}

/**
 * Maps a problem to the project's error model. Temporary: badNonce, serverInternal, rateLimited,
 * and anything the server answered with a 5xx. Terminal: everything else, with the type's short
 * name in CamelCase as reason (`RejectedIdentifier`, `Unauthorized`, `Caa`, ...). The CA's detail
 * is always in the message; the problem itself is the error's `cause` (an AcmeProblemError).
 */
export function problemToError(
  problem: AcmeProblem,
  opts: { httpStatus?: number; request?: string; retryAfterMs?: number | undefined; context?: string } = {},
): TemporaryError | TerminalError {
  const httpStatus = opts.httpStatus ?? problem.status ?? 0;
  const cause = new AcmeProblemError(problem, httpStatus, opts.request ?? "");
  const prefix = opts.context ? `${opts.context}: ` : "";
  const message = `${prefix}ACME server: ${describeProblem(problem)}`;
  const short = shortProblemType(problem.type);
  if (TEMPORARY_TYPES.has(short) || httpStatus >= 500) {
    return new TemporaryError(message, opts.retryAfterMs, { cause });
  }
  return new TerminalError(message, reasonForProblemType(problem.type), { cause });
}

/** The problem behind an error thrown by this module, following `cause` links; undefined if none. */
export function problemOf(err: unknown): AcmeProblem | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof AcmeProblemError) return e.problem;
  }
  return undefined;
}

/** True when `err` stems from a problem of this short type (e.g. `orderNotReady`). */
export function hasProblemType(err: unknown, shortType: string): boolean {
  const p = problemOf(err);
  return p !== undefined && shortProblemType(p.type) === shortType;
}

/** Reads a problem document from a parsed JSON body; undefined when it is not one. */
export function asProblem(body: unknown, httpStatus?: number): AcmeProblem | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b["type"] !== "string") return undefined;
  const subproblems = Array.isArray(b["subproblems"])
    ? (b["subproblems"] as unknown[]).flatMap((s): AcmeSubproblem[] => {
        if (typeof s !== "object" || s === null) return [];
        const r = s as Record<string, unknown>;
        const id = r["identifier"] as Record<string, unknown> | undefined;
        return [
          {
            type: typeof r["type"] === "string" ? r["type"] : "",
            detail: typeof r["detail"] === "string" ? r["detail"] : undefined,
            identifier:
              id && typeof id["type"] === "string" && typeof id["value"] === "string"
                ? { type: id["type"], value: id["value"] }
                : undefined,
          },
        ];
      })
    : undefined;
  return {
    type: b["type"],
    detail: typeof b["detail"] === "string" ? b["detail"] : undefined,
    status: typeof b["status"] === "number" ? b["status"] : httpStatus,
    instance: typeof b["instance"] === "string" ? b["instance"] : undefined,
    subproblems,
  };
}

/** Parses a Retry-After header (delay-seconds or HTTP-date) into milliseconds from `now`. */
export function parseRetryAfter(header: string | undefined, now: number = Date.now()): number | undefined {
  if (header === undefined || header.trim() === "") return undefined;
  const v = header.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
