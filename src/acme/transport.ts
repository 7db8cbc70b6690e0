/**
 * The HTTP layer under acme-client, one per client: its own TLS trust (an Issuer's caBundle, or
 * skipTLSVerify), a deadline per request, and no retry loop that sleeps. acme-client's default
 * transport is a process-wide axios instance whose interceptor sleeps and retries 5xx/429/network
 * errors for up to minutes (and for as long as a Retry-After asks); a controller worker must not.
 * Every answer that is an error becomes a TemporaryError or TerminalError here, with the ACME
 * problem document kept as its cause; only badNonce is handed back for the client to retry.
 */
import http from "node:http";
import https from "node:https";
import type { Logger } from "../log.js";
import { TemporaryError, TerminalError } from "../errors.js";
import { asProblem, parseRetryAfter, problemToError, type AcmeProblem } from "./problems.js";

/** What acme-client's HttpClient expects back from `request()`: the subset of an axios response it reads. */
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
  readonly log?: Logger | undefined;
}

/** Pooled nonces older than this are dropped: a CA may expire them (a badNonce would be retried anyway). */
const NONCE_MAX_AGE_MS = 60_000;
const NONCE_POOL_SIZE = 32;

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

/** One client's HTTP connection pool and request function. */
export class AcmeTransport {
  readonly #agent: https.Agent;
  readonly #plainAgent: http.Agent;
  readonly #timeoutMs: number;
  readonly #userAgent: string;
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
    this.#userAgent = opts.userAgent ?? "dns01-operator acme-client/5.4.0";
    this.#log = opts.log;
  }

  /**
   * Sends one request and returns the answer when it is a success (< 400). Throws BadNonceError for
   * badNonce, TemporaryError for network trouble, 5xx, 429 and retryable problems, TerminalError
   * for the rest; the CA's problem detail is in the message.
   */
  async request(
    url: string,
    method: string,
    opts: { data?: unknown; headers?: Record<string, string> } = {},
  ): Promise<HttpResponse> {
    const verb = method.toUpperCase();
    const what = `${verb} ${url}`;
    // acme-client HEADs newNonce before every signed request; a nonce from an earlier answer's
    // Replay-Nonce header serves as well (RFC 8555 section 7.2) and saves a round trip (and,
    // since node drops a keep-alive connection after such a HEAD, a TLS handshake).
    if (verb === "HEAD") {
      const pooled = this.#takeNonce();
      if (pooled !== undefined) return { status: 200, headers: { "replay-nonce": pooled }, data: "" };
    }
    const started = Date.now();
    const res = await this.#send(url, verb, opts);
    const fresh = res.headers["replay-nonce"];
    if (verb !== "HEAD" && fresh) this.#putNonce(fresh);
    this.#log?.debug("ACME request", { method: verb, url, status: res.status, ms: Date.now() - started });
    if (res.status < 400) return res;

    const retryAfterMs = parseRetryAfter(res.headers["retry-after"]);
    const problem = asProblem(res.data, res.status);
    if (problem) {
      if (problem.type === "urn:ietf:params:acme:error:badNonce") throw new BadNonceError(problem, what);
      throw problemToError(problem, { httpStatus: res.status, request: what, retryAfterMs });
    }
    const message = `ACME server answered ${what} with HTTP ${res.status}`;
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      throw new TemporaryError(message, retryAfterMs);
    }
    throw new TerminalError(message, "UnexpectedResponse");
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

  #send(
    url: string,
    verb: string,
    opts: { data?: unknown; headers?: Record<string, string> },
  ): Promise<HttpResponse> {
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
    const body =
      opts.data === undefined || opts.data === null ? undefined : Buffer.from(JSON.stringify(opts.data));
    const headers: Record<string, string> = {
      "User-Agent": this.#userAgent,
      Accept: "application/json, application/problem+json, application/pem-certificate-chain, */*",
      ...(opts.headers ?? {}),
    };
    // acme-client's own request() sets this; we replace that function, so we set it (RFC 8555 6.2).
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
