/**
 * An HTTPS proxy in front of Pebble that sees every ACME request the operator makes: it counts them
 * by endpoint and keeps each request's JWS payload, decoded. A JWS body is `{ protected, payload,
 * signature }` with base64url JSON parts, so no key is needed to read what was asked (an order's
 * `replaces`, say). Used by the e2e renewal tests and by the issuance benchmark (bench/lib.ts).
 */
import { readFileSync } from "node:fs";
import { Agent, createServer, request, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, join } from "node:path";

/** One request the proxy passed on, with what it asked for. */
export interface AcmeExchange {
  /** Date.now() when the request arrived. */
  readonly at: number;
  readonly method: string;
  /** The request path, e.g. /order-plz or /draft-ietf-acme-ari-03/renewalInfo/<id>. */
  readonly path: string;
  /** Method and first path segment, as counted: `POST /order-plz`. */
  readonly endpoint: string;
  /** The JWS payload, parsed; undefined for POST-as-GET (empty payload) and unsigned requests. */
  readonly payload?: unknown;
  /** The answer's HTTP status, once it came. */
  status?: number | undefined;
}

/** Where the proxy listens from and forwards to. */
export interface AcmeProxyOptions {
  /** The CA's directory URL (Pebble's). */
  readonly directoryUrl: string;
  /** The CA bundle that verifies the CA's TLS certificate. */
  readonly ca: Buffer;
  /** The certificate and key the proxy serves with: Pebble's own, so clients keep the same caBundle. */
  readonly tlsCert: Buffer;
  readonly tlsKey: Buffer;
  /**
   * Called with each certificate chain the CA hands out, before the client receives it. A test can
   * act on the certificate at the CA (move its ARI window) before the client can ask about it.
   */
  readonly onCertificate?: (pem: string) => Promise<void>;
}

/**
 * The proxy. It terminates TLS with the rig's Pebble certificate (so the operator keeps verifying
 * the CA bundle it is given) and passes the Host header on, so Pebble's URLs point back at the
 * proxy and every later request is seen too.
 */
export class AcmeProxy {
  /** Requests so far by endpoint (`POST /order-plz`, `GET /dir`, ...). */
  readonly counts = new Map<string, number>();
  /** Every request so far, in arrival order. */
  readonly exchanges: AcmeExchange[] = [];
  /** Errors thrown by `onCertificate`; the client got its certificate anyway. */
  readonly hookErrors: unknown[] = [];
  /** TLS connections clients opened to the CA (keep-alive reuses them across requests). */
  connections = 0;
  private server: Server | undefined;
  private readonly agent: Agent;
  private readonly upstream: URL;
  private directory = "";

  private constructor(private readonly opts: AcmeProxyOptions) {
    this.upstream = new URL(opts.directoryUrl);
    this.agent = new Agent({ keepAlive: true, ca: opts.ca, maxSockets: 64 });
  }

  /** Starts a proxy; give clients its `directoryUrl` instead of the CA's. */
  static async start(opts: AcmeProxyOptions): Promise<AcmeProxy> {
    const proxy = new AcmeProxy(opts);
    const server = createServer({ key: opts.tlsKey, cert: opts.tlsCert, keepAlive: true }, (req, res) => {
      proxy.forward(req, res);
    });
    server.on("secureConnection", () => {
      proxy.connections += 1;
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    proxy.server = server;
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("the ACME proxy has no port");
    proxy.directory = `https://127.0.0.1:${address.port}${proxy.upstream.pathname}`;
    return proxy;
  }

  /**
   * Starts a proxy in front of a rig's Pebble, from the rig's variables (ACME_DIRECTORY_URL and
   * ACME_CA_FILE; Pebble's serving certificate lives beside its CA in the rig's pki directory).
   */
  static async forRig(
    env: Record<string, string | undefined>,
    onCertificate?: (pem: string) => Promise<void>,
  ): Promise<AcmeProxy> {
    const caFile = env["ACME_CA_FILE"];
    const directoryUrl = env["ACME_DIRECTORY_URL"];
    if (!caFile || !directoryUrl)
      throw new Error("ACME_CA_FILE and ACME_DIRECTORY_URL must be set: is the rig up?");
    const pki = dirname(caFile);
    return AcmeProxy.start({
      directoryUrl,
      ca: readFileSync(caFile),
      tlsCert: readFileSync(join(pki, "pebble.crt")),
      tlsKey: readFileSync(join(pki, "pebble.key")),
      ...(onCertificate ? { onCertificate } : {}),
    });
  }

  /** The directory URL to give clients. */
  get directoryUrl(): string {
    return this.directory;
  }

  /** The total so far. */
  total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  /** Counts per endpoint since `before` (a copy of `counts` taken earlier). */
  since(before: ReadonlyMap<string, number>): Map<string, number> {
    const out = new Map<string, number>();
    for (const [k, v] of this.counts) {
      const d = v - (before.get(k) ?? 0);
      if (d > 0) out.set(k, d);
    }
    return out;
  }

  /**
   * The payloads of every newOrder request the CA accepted so far (Pebble's `/order-plz` answered
   * 201), in order: a request refused for a bad nonce and sent again is counted once.
   */
  newOrders(): { at: number; identifiers?: { type: string; value: string }[]; replaces?: string }[] {
    return this.exchanges
      .filter(
        (e) =>
          e.endpoint === "POST /order-plz" &&
          e.status === 201 &&
          typeof e.payload === "object" &&
          e.payload !== null,
      )
      .map((e) => ({
        at: e.at,
        ...(e.payload as { identifiers?: { type: string; value: string }[]; replaces?: string }),
      }));
  }

  async close(): Promise<void> {
    this.agent.destroy();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((done) => {
      server.close(() => {
        done();
      });
    });
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? "/";
    const method = req.method ?? "?";
    // Pebble's paths name the endpoint in their first segment: /order-plz, /authZ/<id>, /chalZ/<id>...
    const endpoint = `${method} /${path.split("/")[1] ?? ""}`;
    this.counts.set(endpoint, (this.counts.get(endpoint) ?? 0) + 1);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const exchange: AcmeExchange = { at: Date.now(), method, path, endpoint, payload: jwsPayload(body) };
      this.exchanges.push(exchange);
      const up = request(
        {
          host: this.upstream.hostname,
          port: this.upstream.port,
          method,
          path,
          headers: req.headers,
          agent: this.agent,
        },
        (answer) => {
          exchange.status = answer.statusCode;
          const type = answer.headers["content-type"] ?? "";
          if (this.opts.onCertificate && type.startsWith("application/pem-certificate-chain")) {
            this.holdCertificate(answer, res, this.opts.onCertificate);
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      up.on("error", (err) => {
        res.destroy(err);
      });
      up.end(body);
    });
  }

  /** Reads a certificate answer whole, runs the hook on it, then hands it to the client. */
  private holdCertificate(
    answer: IncomingMessage,
    res: ServerResponse,
    hook: (pem: string) => Promise<void>,
  ): void {
    const parts: Buffer[] = [];
    answer.on("data", (c: Buffer) => parts.push(c));
    answer.on("end", () => {
      const pem = Buffer.concat(parts);
      hook(pem.toString("utf8"))
        .catch((err: unknown) => {
          this.hookErrors.push(err);
        })
        .finally(() => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(pem);
        });
    });
  }
}

/** The decoded payload of a JWS request body; undefined when there is none (POST-as-GET, GET). */
function jwsPayload(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    const jws = JSON.parse(body.toString("utf8")) as { payload?: unknown };
    if (typeof jws.payload !== "string" || jws.payload === "") return undefined;
    return JSON.parse(Buffer.from(jws.payload, "base64url").toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}
