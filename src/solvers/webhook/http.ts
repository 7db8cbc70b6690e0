/**
 * A small JSON-over-HTTP(S) client for the providers that speak plain HTTP (acme-dns and the
 * webhook): one POST, a whole-request timeout, an optional CA bundle, an abort signal and a bounded
 * response body. It never follows redirects and never retries: the caller maps the answer to a
 * temporary or terminal error, and the work queue does the retrying.
 */
import http from "node:http";
import https from "node:https";

/** What came back: the status, the headers (lower-case names) and the body as text. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** Options of one POST. */
export interface PostOptions {
  readonly headers?: Readonly<Record<string, string>>;
  /** The whole exchange (connect, send, receive) must end within this. */
  readonly timeoutMs: number;
  /** PEM certificates to trust instead of the system's roots (https only). */
  readonly ca?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Bytes of the response body kept; the rest is dropped. Default 64 KiB. */
  readonly maxBodyBytes?: number;
}

/** Sends one POST; injected by unit tests, which answer without a network. */
export type HttpPost = (url: URL, body: string, opts: PostOptions) => Promise<HttpResponse>;

/** The request did not complete within its timeout. */
export class HttpTimeoutError extends Error {
  override readonly name = "HttpTimeoutError";
}

const DEFAULT_MAX_BODY = 64 * 1024;

/** Agents by CA bundle, so that connections to one webhook are reused; few bundles exist. */
const caAgents = new Map<string, https.Agent>();
const MAX_CA_AGENTS = 32;

function agentFor(url: URL, ca: string | undefined): http.Agent | undefined {
  if (url.protocol !== "https:" || ca === undefined) return undefined;
  let agent = caAgents.get(ca);
  if (agent === undefined) {
    if (caAgents.size >= MAX_CA_AGENTS) {
      const [oldest] = caAgents.keys();
      if (oldest !== undefined) {
        caAgents.get(oldest)?.destroy();
        caAgents.delete(oldest);
      }
    }
    agent = new https.Agent({ ca, keepAlive: true });
    caAgents.set(ca, agent);
  }
  return agent;
}

/**
 * POSTs `body` (JSON text) to `url`. Resolves with any HTTP answer, whatever its status; rejects
 * with HttpTimeoutError after `timeoutMs`, with the signal's reason when it aborts, and with the
 * socket's error (ECONNREFUSED, a TLS failure, ...) otherwise.
 */
export const postJson: HttpPost = (url, body, opts) =>
  new Promise<HttpResponse>((resolve, reject) => {
    const { signal } = opts;
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const payload = Buffer.from(body, "utf8");
    const lib = url.protocol === "https:" ? https : http;
    const agent = agentFor(url, opts.ca);
    const max = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
    let settled = false;
    const finish = (err: Error | undefined, res?: HttpResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else if (res) resolve(res);
    };
    const req = lib.request(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        "content-length": String(payload.length),
        ...opts.headers,
      },
      ...(agent ? { agent } : {}),
    });
    const onAbort = (): void => {
      req.destroy();
      finish(signal?.reason as Error);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => {
      const err = new HttpTimeoutError(`no answer from ${url.origin} within ${opts.timeoutMs} ms`);
      req.destroy(err);
      finish(err);
    }, opts.timeoutMs);
    req.on("error", (err) => {
      finish(err);
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = (): void => {
        finish(undefined, {
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        });
      };
      res.on("data", (chunk: Buffer) => {
        if (size >= max) return;
        const room = max - size;
        chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
        size += Math.min(chunk.length, room);
        if (size >= max) {
          // Enough to tell what happened; a larger body is not worth waiting for.
          done();
          res.destroy();
        }
      });
      res.on("end", done);
      res.on("error", (err) => {
        finish(err);
      });
    });
    req.end(payload);
  });

/** Node's codes for a server certificate that is untrusted, expired, or for another name. */
const CERTIFICATE_ERRORS = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * True when a request failed because the server's certificate could not be verified: a setting to
 * fix (a CA to trust), not a passing network failure.
 */
export function isCertificateError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && CERTIFICATE_ERRORS.has(code);
}

/** The first value of a response header. */
export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * A short, printable excerpt of an error body for a status message: control characters become
 * spaces and the text is cut at `max` characters.
 */
export function excerpt(text: string, max = 300): string {
  // eslint-disable-next-line no-control-regex -- stripping control characters is the point
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
