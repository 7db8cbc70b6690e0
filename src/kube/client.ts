import { createHash } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import type { Clock } from "../controllers/runtime/clock.js";
import { DEFAULT_REQUEST_RATE_LIMIT, type RequestRateLimit, TokenBucket } from "./rate-limit.js";
import type { KubeStatus, WatchEvent } from "./types.js";

/**
 * A small raw client for the Kubernetes API: JSON in, JSON out, on the credentials and TLS settings
 * of a kubeconfig (ours, src/kube/config.ts, or client-node's: both fit ConnectionConfig). The runtime uses it for list, watch, status and Lease calls, where
 * client-node's typed APIs get in the way: they turn timestamps into Date objects (and write Lease
 * MicroTimes with milliseconds), need one class per group, and client-node's `Watch` cannot be
 * aborted before the server answers, nor be told how long a silent stream may idle.
 */

/** Query parameters; undefined values are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

/** Options of one request. */
export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Content-Type of the body; defaults to application/json. */
  contentType?: string;
  signal?: AbortSignal;
  /** Per-request timeout; defaults to the client's (30 s). */
  timeoutMs?: number;
}

/** Options of one watch. */
export interface WatchOptions {
  query?: Query;
  signal?: AbortSignal;
  /** Abort when the stream carries nothing (not even a bookmark) for this long. */
  idleTimeoutMs?: number;
}

/** Content types for PATCH. */
export const PatchType = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  strategicMerge: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
} as const;

/**
 * What the client needs of a kubeconfig: the server, and the TLS material and credentials set on
 * each request's options. Our KubeConfig (src/kube/config.ts) has it, and so does client-node's,
 * which tests still build.
 */
export interface ConnectionConfig {
  getCurrentCluster(): { readonly server: string } | null;
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
  /** Forgets cached credentials (exec plugins' tokens) after the server refused them. */
  invalidateCredentials?(): void;
}

/**
 * An API error with a readable message. It has the shape of client-node's `ApiException` (`.code`
 * the HTTP status, `.body` the metav1.Status or text, `.headers`), which src/kube/api-errors.ts
 * classifies by duck typing, so errors of both clients are handled alike.
 */
export class KubeApiError extends Error {
  /** The HTTP status. */
  readonly code: number;
  readonly body: KubeStatus | string | undefined;
  readonly headers: Record<string, string>;

  constructor(
    method: string,
    path: string,
    code: number,
    body: KubeStatus | string | undefined,
    headers: Record<string, string>,
  ) {
    const detail =
      typeof body === "object" ? `${body.reason ?? ""}: ${body.message ?? ""}` : (body ?? "").slice(0, 200);
    super(`${method} ${path}: ${String(code)} ${detail}`);
    this.name = "KubeApiError";
    this.code = code;
    this.body = body;
    this.headers = headers;
  }
}

/** Options of a KubeClient. */
export interface KubeClientOptions {
  /** Per-request timeout; 30 s by default. */
  timeoutMs?: number;
  userAgent?: string;
  /**
   * The client-side limit on requests; DEFAULT_REQUEST_RATE_LIMIT by default. Watches and
   * leader election's Lease requests are not limited.
   */
  rateLimit?: RequestRateLimit;
  /** The clock the rate limit waits on (tests pass a FakeClock). */
  clock?: Clock;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** Paths the rate limit does not apply to: leader election's Leases. */
const LEASES_PREFIX = "/apis/coordination.k8s.io/";
const WATCH_HEADER_TIMEOUT_MS = 30_000;

/**
 * The raw client. One per process is enough: it holds the kubeconfig, one pooled agent, and the
 * token bucket that keeps the whole process under `--kube-api-qps`/`--kube-api-burst`.
 */
export class KubeClient {
  private readonly server: string;
  private agent: { id: string; agent: https.Agent } | undefined;
  private readonly bucket: TokenBucket;

  constructor(
    readonly kubeConfig: ConnectionConfig,
    private readonly opts: KubeClientOptions = {},
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    this.server = cluster.server.replace(/\/+$/, "");
    this.bucket = new TokenBucket(opts.rateLimit ?? DEFAULT_REQUEST_RATE_LIMIT, opts.clock);
  }

  /** GET a path; resolves with the parsed JSON body. */
  get<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>("GET", path, opts);
  }

  /** Sends one request; resolves with the parsed JSON body, rejects with KubeApiError on a non-2xx status. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    // Waiting for a token comes before the timeout starts: the timeout is the server's time.
    // Leader election is exempt: a Lease renewal queued behind a burst of reconciles would miss
    // its renew deadline, and the process would give up leadership in the middle of the burst.
    if (!path.startsWith(LEASES_PREFIX)) await this.bucket.acquire(opts.signal);
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) {
      headers["Content-Type"] = opts.contentType ?? "application/json";
      headers["Content-Length"] = String(Buffer.byteLength(body));
    }
    const res = await this.send(method, path, opts.query, headers, signal, body);
    const text = await readAll(res);
    const status = res.statusCode ?? 0;
    if (status === 401) this.kubeConfig.invalidateCredentials?.();
    if (status < 200 || status > 299) throw this.apiError(method, path, status, text, res);
    return (text === "" ? undefined : JSON.parse(text)) as T;
  }

  /**
   * Runs one watch on a collection path (`watch=true` is added). Each event goes to `onEvent`;
   * resolves when the server ends the stream, rejects on a non-200 answer (KubeApiError), on a
   * broken connection, on idling past `idleTimeoutMs` and when `signal` aborts.
   */
  async watch<T>(
    path: string,
    onEvent: (ev: WatchEvent<T & object>) => void,
    opts: WatchOptions = {},
  ): Promise<void> {
    const local = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, local.signal]) : local.signal;
    // The API server answers a watch with headers at once; a server that does not is treated as gone.
    const headerTimer = setTimeout(() => {
      local.abort(new Error(`watch ${path}: no answer within ${WATCH_HEADER_TIMEOUT_MS} ms`));
    }, WATCH_HEADER_TIMEOUT_MS);
    let res: http.IncomingMessage;
    try {
      res = await this.send(
        "GET",
        path,
        { ...opts.query, watch: true },
        { Accept: "application/json" },
        signal,
      );
    } finally {
      clearTimeout(headerTimer);
    }
    const status = res.statusCode ?? 0;
    if (status === 401) this.kubeConfig.invalidateCredentials?.();
    if (status !== 200) throw this.apiError("GET", path, status, await readAll(res), res);

    let idle: NodeJS.Timeout | undefined;
    const idleMs = opts.idleTimeoutMs;
    const armIdle = () => {
      if (idleMs === undefined) return;
      clearTimeout(idle);
      idle = setTimeout(() => {
        local.abort(new Error(`watch ${path}: nothing received for ${idleMs} ms`));
      }, idleMs);
    };
    armIdle();
    // An error of the consumer's (a 410 in an ERROR event, say) ends the stream and is passed on as it is.
    let consumerError: Error | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        let buf = "";
        const fail = (err: Error) => {
          if (consumerError !== undefined) reject(consumerError);
          else if (signal.aborted) reject(abortReason(signal));
          else reject(new Error(`watch ${path}: connection lost: ${err.message}`, { cause: err }));
        };
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          armIdle();
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line === "") continue;
            try {
              onEvent(JSON.parse(line) as WatchEvent<T & object>);
            } catch (err) {
              consumerError =
                err instanceof SyntaxError
                  ? new Error(`watch ${path}: undecodable event`, { cause: err })
                  : err instanceof Error
                    ? err
                    : new Error(String(err));
              res.destroy(consumerError);
              return;
            }
          }
        });
        res.on("end", resolve);
        res.on("error", fail);
        // A socket closed under a response that has not ended (apiserver killed) may emit only "close".
        res.on("close", () => {
          if (!res.complete) fail(new Error("closed"));
        });
      });
    } finally {
      clearTimeout(idle);
      res.destroy();
    }
  }

  private async send(
    method: string,
    path: string,
    query: Query | undefined,
    headers: Record<string, string>,
    signal: AbortSignal,
    body?: string,
  ): Promise<http.IncomingMessage> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const options: https.RequestOptions = {
      method,
      headers: { "User-Agent": this.opts.userAgent ?? "dns01-operator", ...headers },
    };
    // Sets the agent (CA, client certificate, proxy) and the Authorization header, refreshing
    // exec and OIDC tokens as needed.
    await this.kubeConfig.applyToHTTPSOptions(options);
    options.agent = this.reuse(options.agent);
    signal.throwIfAborted();
    const transport = url.protocol === "http:" ? http : https;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { ...options, signal }, resolve);
      req.on("error", (err) => {
        reject(
          signal.aborted
            ? abortReason(signal)
            : new Error(`${method} ${url.pathname}: ${err.message}`, { cause: err }),
        );
      });
      req.on("socket", (socket) => {
        socket.setKeepAlive(true, 30_000);
      });
      req.end(body);
    });
  }

  /**
   * The kubeconfig builds a new https.Agent for every request, which costs a TLS handshake per call.
   * We keep one keep-alive agent per set of TLS settings (they change only when a kubeconfig's
   * certificates rotate) and use it instead; proxy agents are passed through untouched.
   */
  private reuse(agent: https.RequestOptions["agent"]): https.RequestOptions["agent"] {
    if (!(agent instanceof https.Agent) || agent.constructor !== https.Agent) return agent;
    const o = agent.options;
    const material = (v: unknown): string =>
      Array.isArray(v)
        ? v.map(material).join("|")
        : Buffer.isBuffer(v)
          ? v.toString("base64")
          : typeof v === "string"
            ? v
            : "";
    const id = createHash("sha256")
      .update([o.ca, o.cert, o.key].map(material).join("/"))
      .update(`/${String(o.rejectUnauthorized)}/${o.servername ?? ""}`)
      .update(`/${JSON.stringify((o as { proxyEnv?: unknown }).proxyEnv ?? null)}`)
      .digest("hex");
    if (this.agent?.id !== id) {
      this.agent?.agent.destroy();
      this.agent = { id, agent: new https.Agent({ ...o, keepAlive: true }) };
    }
    agent.destroy();
    return this.agent.agent;
  }

  private apiError(
    method: string,
    path: string,
    status: number,
    text: string,
    res: http.IncomingMessage,
  ): KubeApiError {
    let body: KubeStatus | string | undefined = text === "" ? undefined : text;
    try {
      if (text !== "") body = JSON.parse(text) as KubeStatus;
    } catch {
      // Keep the text: some proxies answer in HTML.
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") headers[k] = v;
    return new KubeApiError(method, path, status, body, headers);
  }
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("end", () => {
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    res.on("error", reject);
    res.on("close", () => {
      if (!res.complete) reject(new Error("connection closed before the response ended"));
    });
  });
}

function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new Error(`aborted: ${String(r)}`);
}

/** True for the error an aborted request rejects with (our abort reasons and Node's AbortError). */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError");
}
