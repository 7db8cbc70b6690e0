/**
 * Pieces the hand-written HTTP providers (ovh, godaddy, namecheap) share: one request with a
 * timeout whose network failures are TemporaryErrors, a budget of rate-limit tokens taken at once
 * per operation, a per-key lock for read-modify-write APIs, and error text helpers.
 */
import { TemporaryError } from "../errors.js";
import type { SolverContext } from "./types.js";

/** A non-2xx answer (or an API-level error in a 2xx), with the provider's code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly apiMessage: string,
    readonly headers: Headers,
  ) {
    super(
      `HTTP ${String(status)}${code === "" ? "" : ` ${code}`}${apiMessage === "" ? "" : `: ${apiMessage}`}`,
    );
  }
}

/** A response read whole. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

/**
 * Sends one request with a timeout and the call's signal. A network failure or timeout is a
 * TemporaryError prefixed with the provider's code; an abort by the caller is rethrown as it is.
 * `label` names the request in errors without its query (which may hold credentials).
 */
export async function send(
  provider: string,
  fetchFn: typeof fetch,
  url: string,
  init: RequestInit,
  ctx: SolverContext,
  timeoutMs: number,
  label: string,
): Promise<RawResponse> {
  let res: Response;
  try {
    res = await fetchFn(url, {
      ...init,
      signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]),
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    throw new TemporaryError(`${provider}: ${label}: ${errorText(err)}`, undefined, { cause: err });
  }
}

/**
 * API calls paid for in advance from an account's token bucket; calls beyond them take their own
 * token. Taken one by one, an operation of several calls could never finish while the bucket
 * refills from empty: each requeue would get one call through and be refused the next.
 */
export class CallBudget {
  private left: number;

  constructor(
    calls: number,
    private readonly take: (n: number) => void,
  ) {
    take(calls);
    this.left = calls;
  }

  spend(): void {
    if (this.left > 0) this.left--;
    else this.take(1);
  }
}

/**
 * One holder at a time per key, in arrival order: for APIs whose writes replace a whole set
 * (GoDaddy's values at a name, Namecheap's host list), so that two presents in this process never
 * read the same set and each write back a copy missing the other's value.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    let release: () => void = () => undefined;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = before.then(() => mine);
    this.tails.set(key, tail);
    await before;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** JSON, or undefined when the text is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * An error's message and its cause's, e.g. `fetch failed (connect ECONNREFUSED 127.0.0.1:443)`.
 * Duck-typed: fetch's errors may come from another realm (a test VM), where instanceof fails.
 */
export function errorText(err: unknown): string {
  const message = (e: unknown): string | undefined =>
    typeof e === "object" && e !== null && typeof (e as { message?: unknown }).message === "string"
      ? (e as { message: string }).message
      : undefined;
  const text = message(err) ?? String(err);
  const cause = message((err as { cause?: unknown } | null)?.cause);
  return cause === undefined ? text : `${text} (${cause})`;
}

/** Whether an error is an abort (the caller's signal). */
export function isAbort(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { name?: unknown }).name === "AbortError";
}

/** TXT data as written, or its one quoted string unquoted (a record someone wrote with quotes). */
export function unquoteTxt(data: string): string {
  const m = /^"((?:[^"\\]|\\.)*)"$/.exec(data.trim());
  return m === null ? data : (m[1] ?? "").replace(/\\(.)/g, "$1");
}

/** A record's name relative to its domain, `@` for the apex; lower case, no trailing dots. */
export function relativeTo(fqdn: string, domain: string): string {
  const name = (fqdn.endsWith(".") ? fqdn.slice(0, -1) : fqdn).toLowerCase();
  const d = (domain.endsWith(".") ? domain.slice(0, -1) : domain).toLowerCase();
  if (name === d) return "@";
  if (!name.endsWith(`.${d}`)) throw new Error(`${fqdn} is not in domain ${domain}`);
  return name.slice(0, -(d.length + 1));
}
