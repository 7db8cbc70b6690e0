/**
 * The scaffolding the DNS-provider emulators share: a local HTTP(S) server with start and stop, a
 * queue of injected faults, per-route request counters and body reading and writing. What each
 * provider answers (its routes, auth and error bodies) stays in its own emulator.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Server as HttpServer } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";

/** Serves one request; a rejection is answered by the server's `onError`. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** A certificate and key (PEM) to serve HTTPS with. */
export interface TlsIdentity {
  readonly key: string;
  readonly cert: string;
}

/**
 * A server on 127.0.0.1. A handler that throws before answering gets `onError`'s answer (an
 * emulator's 500 in its provider's error shape); after answering, the error is dropped, since the
 * response can no longer change.
 */
export class LocalServer {
  private server: HttpServer | HttpsServer | undefined;

  constructor(
    private readonly handler: RequestHandler,
    private readonly onError: (res: ServerResponse, err: unknown) => void,
  ) {}

  /** Listens (`port` 0 picks a free one), with TLS when given; resolves to the origin, e.g. `http://127.0.0.1:4321`. */
  async start(port = 0, tls?: TlsIdentity): Promise<string> {
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      this.handler(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.onError(res, err);
      });
    };
    const server =
      tls === undefined
        ? createHttpServer(listener)
        : createHttpsServer({ key: tls.key, cert: tls.cert }, listener);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        resolve();
      });
    });
    this.server = server;
    const scheme = tls === undefined ? "http" : "https";
    return `${scheme}://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  }

  /** Stops listening and drops open (keep-alive) connections, so that stopping never waits on a client. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  }
}

/**
 * Injected faults, answered in order of injection: each stands for its next `times` requests whose
 * key (route or operation) it matches, or any request when it names none.
 */
export class FaultQueue<F> {
  private readonly queue: { fault: F; left: number }[] = [];

  /** `keyOf` gives the route or operation a fault is limited to, undefined for any. */
  constructor(private readonly keyOf: (fault: F) => string | undefined) {}

  push(fault: F, times = 1): void {
    this.queue.push({ fault, left: times });
  }

  /** The fault for a request with this key, if one is queued (and counts the request against it). */
  take(key: string): F | undefined {
    const i = this.queue.findIndex((f) => {
      const k = this.keyOf(f.fault);
      return k === undefined || k === key;
    });
    const f = i < 0 ? undefined : this.queue[i];
    if (f === undefined) return undefined;
    f.left -= 1;
    if (f.left <= 0) this.queue.splice(i, 1);
    return f.fault;
  }
}

/** Requests counted per route or operation key. */
export class RequestCounter<K extends string = string> {
  private readonly counts = new Map<K, number>();

  count(key: K): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  get(key: K): number {
    return this.counts.get(key) ?? 0;
  }

  /** The counts by key, in the order keys were first seen. */
  byKey(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  /** The counts by key, keys sorted. */
  sorted(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Requests counted, all keys. */
  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  reset(): void {
    this.counts.clear();
  }
}

/** The `retry-after` header for a fault's seconds, or none. */
export function retryAfter(seconds: number | undefined): Record<string, string> {
  return seconds === undefined ? {} : { "retry-after": String(seconds) };
}

/** A request's whole body as UTF-8 text. */
export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** How `sendJson` frames a body. */
export interface SendJsonOptions {
  readonly headers?: Record<string, string>;
  /** The content-type of a JSON body; default `application/json`. */
  readonly contentType?: string;
  /** Send no content-type when there is no body (some APIs do not). */
  readonly noContentTypeWhenEmpty?: boolean;
  /** Send a content-length header rather than chunked encoding. */
  readonly contentLength?: boolean;
}

/** Answers with `body` JSON-encoded (no body when undefined). */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  options: SendJsonOptions = {},
): void {
  const text = body === undefined ? "" : JSON.stringify(body);
  const typed = !(body === undefined && options.noContentTypeWhenEmpty === true);
  res.writeHead(status, {
    ...(typed ? { "content-type": options.contentType ?? "application/json" } : {}),
    ...(options.contentLength === true ? { "content-length": Buffer.byteLength(text) } : {}),
    ...options.headers,
  });
  res.end(text);
}

/** Answers with a string as plain text and anything else JSON-encoded; nothing once the client is gone. */
export function sendJsonOrText(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed) return;
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, {
    "content-type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json",
    ...headers,
  });
  res.end(text);
}

/** What a fault of a route-keyed emulator carries besides its answer. */
export interface RouteFault {
  /** Route key as counted, e.g. "POST /update"; any route when absent. */
  readonly route?: string;
  /** How many requests get it; default 1. */
  readonly times?: number;
}

/**
 * The common half of an emulator whose requests are counted and faulted by route key (e.g.
 * "POST /present"): its server, `start` / `stop`, `inject`, `calls`, `total` and `resetCalls`.
 * Subclasses serve the requests and say how an unexpected error is answered.
 */
export abstract class RouteEmulator<F extends RouteFault> {
  protected readonly http = new LocalServer(
    (req, res) => this.handle(req, res),
    (res, err) => {
      this.internalError(res, err);
    },
  );
  protected readonly faults = new FaultQueue<F>((f) => f.route);
  protected readonly counts = new RequestCounter();
  url = "";

  /** Serves one request. */
  protected abstract handle(req: IncomingMessage, res: ServerResponse): Promise<void>;

  /** Answers a request whose handler failed unexpectedly (a 500 in the provider's error shape). */
  protected abstract internalError(res: ServerResponse, err: unknown): void;

  /** Listens on 127.0.0.1 (`port` 0 picks a free one); resolves to the URL to point clients at. */
  async start(port = 0): Promise<string> {
    this.url = await this.http.start(port);
    return this.url;
  }

  async stop(): Promise<void> {
    await this.http.stop();
  }

  /** Queues a fault for the next matching requests. */
  inject(fault: F): void {
    this.faults.push(fault, fault.times ?? 1);
  }

  /** Requests per route key, e.g. `{ "POST /present": 2 }`. */
  get calls(): Record<string, number> {
    return this.counts.byKey();
  }

  /** Requests counted so far, all routes. */
  get total(): number {
    return this.counts.total;
  }

  resetCalls(): void {
    this.counts.reset();
  }
}
