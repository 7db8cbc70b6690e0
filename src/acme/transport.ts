/**
 * The HTTP layer under the ACME client, one per client: its own TLS trust (an Issuer's caBundle,
 * or skipTLSVerify), keep-alive connections, a deadline per request, the pool of unused nonces
 * from Replay-Nonce headers, the request observer, and no retry loop that sleeps: a controller
 * worker must never wait out a Retry-After. Every answer that is an error becomes a
 * TemporaryError or TerminalError here, with the ACME problem document kept as its cause; only
 * badNonce is handed back (as BadNonceError) for the client to sign again.
 */
import http from "node:http";
import https from "node:https";
import type { Logger } from "../log.js";
import { TemporaryError, TerminalError } from "../errors.js";
import type { AcmeAction, AcmeRequestRecord } from "./actions.js";
import { asProblem, parseRetryAfter, problemToError, type AcmeProblem } from "./problems.js";

/** An answer: status, lower-case headers, and the body (parsed when it is JSON, text otherwise). */
export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly data: unknown;
}

/** Options of a transport; all optional. */
export interface TransportOptions {
  /** PEM bundle of CAs to trust instead of the system's (an Issuer's `caBundle`). */
  readonly caBundlePem?: string | undefined;
  /** Do not verify the server's certificate (an Issuer's `skipTLSVerify`). */
  readonly skipTlsVerify?: boolean | undefined;
  /** Deadline for one request, connection included. Default 30 s. */
  readonly timeoutMs?: number | undefined;
  readonly userAgent?: string | undefined;
  /** Called once per HTTP request, after its answer (or its failure). Must not throw. */
  readonly onRequest?: ((r: AcmeRequestRecord) => void) | undefined;
  readonly log?: Logger | undefined;
}

/** One request: what it is for (the metric's action), an optional JSON body and extra headers. */
export interface RequestOptions {
  readonly action: AcmeAction;
  /** Sent as JSON; with it the Content-Type is `application/jose+json` (RFC 8555 section 6.2). */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Return error answers (>= 400, badNonce included) instead of throwing; `answerError` maps them. */
  readonly returnErrors?: boolean;
  /** Leave this answer's Replay-Nonce out of the pool: the caller uses it itself (newNonce). */
  readonly keepNonce?: boolean;
}

/** Pooled nonces older than this are dropped: a CA may expire them (a badNonce would be retried anyway). */
const NONCE_MAX_AGE_MS = 60_000;
const NONCE_POOL_SIZE = 32;
const BAD_NONCE = "urn:ietf:params:acme:error:badNonce";

/** Thrown for a badNonce answer: the request had no effect and can be signed again with a new nonce. */
export class BadNonceError extends Error {
  override readonly name = "BadNonceError";
  constructor(
    readonly problem: AcmeProblem,
    readonly request: string,
  ) {
    super(`ACME server rejected the nonce: ${problem.detail ?? "badNonce"}`);
  }
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;
const NETWORK_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EPIPE",
  "ECONNABORTED",
]);

/** One client's HTTP connection pool, nonce pool and request function. */
export class AcmeTransport {
  readonly #agent: https.Agent;
  readonly #plainAgent: http.Agent;
  readonly #timeoutMs: number;
  readonly #userAgent: string;
  readonly #onRequest: ((r: AcmeRequestRecord) => void) | undefined;
  readonly #log: Logger | undefined;
  /** Unused nonces from Replay-Nonce headers, newest last. */
  readonly #nonces: { value: string; at: number }[] = [];

  constructor(opts: TransportOptions = {}) {
    this.#agent = new https.Agent({
      keepAlive: true,
      maxSockets: 8,
      ...(opts.caBundlePem ? { ca: opts.caBundlePem } : {}),
      rejectUnauthorized: !opts.skipTlsVerify,
    });
    this.#plainAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#userAgent = opts.userAgent ?? "dns01-operator";
    this.#onRequest = opts.onRequest;
    this.#log = opts.log;
  }

  /**
   * Sends one request and returns the answer when it is a success (< 400). Throws BadNonceError for
   * badNonce, TemporaryError for network trouble, 5xx, 429 and retryable problems (with the
   * server's Retry-After), TerminalError for the rest; the CA's problem detail is in the message.
   * Every answer's Replay-Nonce goes into the pool, error answers' too (RFC 8555 section 6.5).
   */
  async request(url: string, method: string, opts: RequestOptions): Promise<HttpResponse> {
    const verb = method.toUpperCase();
    const what = `${verb} ${url}`;
    const started = process.hrtime.bigint();
    let res: HttpResponse;
    try {
      res = await this.#send(url, verb, opts);
    } catch (err) {
      this.#observe(opts.action, verb, url, undefined, started);
      throw err;
    }
    this.#observe(opts.action, verb, url, res.status, started);
    this.#log?.debug("ACME request", { action: opts.action, method: verb, url, status: res.status });

    const problem = res.status >= 400 ? asProblem(res.data, res.status) : undefined;
    // After a badNonce the pooled nonces are suspect (the CA may have restarted and forgotten
    // them all); the one in this answer is fresh.
    if (problem?.type === BAD_NONCE) this.#nonces.length = 0;
    const fresh = res.headers["replay-nonce"];
    if (fresh && !opts.keepNonce) this.#putNonce(fresh);
    if (res.status < 400 || opts.returnErrors) return res;
    throw answerError(res, what);
  }

  /** An unused nonce from an earlier answer, if a fresh one is pooled (RFC 8555 section 7.2). */
  takeNonce(): string | undefined {
    return this.#takeNonce();
  }

  #observe(
    action: AcmeAction,
    method: string,
    url: string,
    status: number | undefined,
    started: bigint,
  ): void {
    if (!this.#onRequest) return;
    const durationSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    try {
      this.#onRequest({ action, method, url, status, durationSeconds });
    } catch (err) {
      // An observer's bug must not fail an ACME step; say so once per occurrence.
      this.#log?.warn("ACME request observer failed", { error: (err as Error).message });
    }
  }

  #takeNonce(): string | undefined {
    const now = Date.now();
    for (;;) {
      const n = this.#nonces.pop();
      if (n === undefined) return undefined;
      if (now - n.at < NONCE_MAX_AGE_MS) return n.value;
    }
  }

  #putNonce(value: string): void {
    this.#nonces.push({ value, at: Date.now() });
    if (this.#nonces.length > NONCE_POOL_SIZE) this.#nonces.shift();
  }

  /** Closes idle connections. Requests after this still work, on new connections. */
  close(): void {
    this.#agent.destroy();
    this.#plainAgent.destroy();
  }

  #send(url: string, verb: string, opts: RequestOptions): Promise<HttpResponse> {
    let target: URL;
    try {
      target = new URL(url);
    } catch (err) {
      return Promise.reject(new TerminalError(`invalid ACME URL "${url}"`, "InvalidURL", { cause: err }));
    }
    const secure = target.protocol === "https:";
    if (!secure && target.protocol !== "http:") {
      return Promise.reject(new TerminalError(`unsupported ACME URL scheme in "${url}"`, "InvalidURL"));
    }
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = {
      "User-Agent": this.#userAgent,
      Accept: "application/json, application/problem+json, application/pem-certificate-chain, */*",
      ...(opts.headers ?? {}),
    };
    if (body) {
      headers["Content-Type"] ??= "application/jose+json";
      headers["Content-Length"] = String(body.length);
    }

    return new Promise<HttpResponse>((resolve, reject) => {
      const req = (secure ? https : http).request(target, {
        method: verb,
        headers,
        agent: secure ? this.#agent : this.#plainAgent,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      req.on("error", (err) => {
        reject(networkError(err, `${verb} ${url}`, this.#timeoutMs));
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            res.destroy(new Error(`response larger than ${MAX_BODY_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on("error", (err) => {
          reject(networkError(err, `${verb} ${url}`, this.#timeoutMs));
        });
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          const headersOut: Record<string, string | undefined> = {};
          for (const [k, v] of Object.entries(res.headers))
            headersOut[k] = Array.isArray(v) ? v.join(", ") : v;
          const text = Buffer.concat(chunks).toString("utf8");
          const type = headersOut["content-type"] ?? "";
          let data: unknown = text;
          if (/json/i.test(type) && text.trim() !== "") {
            try {
              data = JSON.parse(text);
            } catch {
              if (status < 400) {
                reject(new TemporaryError(`ACME server sent invalid JSON for ${verb} ${url}`));
                return;
              }
            }
          }
          resolve({ status, headers: headersOut, data });
        });
      });
      req.end(body);
    });
  }
}

/**
 * The error for an answer >= 400: BadNonceError for badNonce, TemporaryError for 5xx, 429, 408
 * and retryable problems (with the answer's Retry-After), TerminalError for the rest.
 */
export function answerError(res: HttpResponse, what: string): Error {
  const retryAfterMs = parseRetryAfter(res.headers["retry-after"]);
  const problem = asProblem(res.data, res.status);
  if (problem) {
    if (problem.type === BAD_NONCE) return new BadNonceError(problem, what);
    return problemToError(problem, { httpStatus: res.status, request: what, retryAfterMs });
  }
  const message = `ACME server answered ${what} with HTTP ${res.status}`;
  if (res.status >= 500 || res.status === 429 || res.status === 408) {
    return new TemporaryError(message, retryAfterMs);
  }
  return new TerminalError(message, "UnexpectedResponse");
}

function networkError(err: Error, what: string, timeoutMs: number): Error {
  const code = (err as NodeJS.ErrnoException).code ?? "";
  if (err.name === "AbortError" || err.name === "TimeoutError" || code === "ABORT_ERR") {
    return new TemporaryError(`ACME server did not answer ${what} within ${timeoutMs} ms`, undefined, {
      cause: err,
    });
  }
  if (NETWORK_ERROR_CODES.has(code)) {
    return new TemporaryError(`cannot reach the ACME server for ${what}: ${code}`, undefined, { cause: err });
  }
  // TLS failures (unknown CA, name mismatch, expired certificate) land here too: retried, with
  // the reason in the message, because the CA's certificate or the Issuer's caBundle may change.
  return new TemporaryError(`request ${what} failed: ${err.message}`, undefined, { cause: err });
}
