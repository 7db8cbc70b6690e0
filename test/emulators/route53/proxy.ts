/**
 * A small HTTP proxy in front of moto, for what moto cannot do by itself:
 * - count requests per Route 53 operation and access key (the "no retry storm" assertions, and
 *   the API calls an issuance costs);
 * - inject faults answered in Route 53's error format: Throttling (HTTP 400, as Route 53 sends
 *   it), PriorRequestNotComplete, 5xx, AccessDenied (403), InvalidChangeBatch;
 * - report changes as PENDING for a few GetChange polls (moto always says INSYNC);
 * - rewrite moto's `<ErrorResponse><Errors><Error>` auth errors into Route 53's
 *   `<ErrorResponse><Error>` envelope, which the SDK can parse (it reports moto's as UnknownError);
 * - mirror every successful ChangeResourceRecordSets on TXT records into a DNS backend (the rig's
 *   BIND), before answering, so that in e2e Pebble resolves what Route 53 "published": INSYNC
 *   then means what it means on AWS.
 * `/_proxy/counts`, `/_proxy/calls` and `POST /_proxy/reset` expose the counts to another process.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { randomUUID } from "node:crypto";
import { canonicalRoute53Name, decodeTxt } from "../../../src/solvers/route53/names.js";
import type { DnsBackend } from "../bind-backend.js";

/**
 * The operation of a request: a Route 53 operation name (ListHostedZonesByName,
 * ListResourceRecordSets, ChangeResourceRecordSets, GetChange, CreateHostedZone, ListHostedZones,
 * GetHostedZone), an STS or IAM Action (AssumeRole, ...), or "moto-api" for moto's own endpoints.
 */
export type Route53Operation = string;

/** A fault the proxy answers instead of forwarding. */
export type Route53Fault =
  | { kind: "throttling"; status?: number }
  | { kind: "priorRequestNotComplete" }
  | { kind: "serverError"; status?: number }
  | { kind: "accessDenied"; message?: string }
  | { kind: "invalidChangeBatch"; message?: string };

/** One request the proxy saw. */
export interface ProxiedCall {
  readonly operation: Route53Operation;
  readonly method: string;
  readonly path: string;
  /** The access key ID of the signature, if any. */
  readonly accessKeyId: string | undefined;
  /** The status answered (a fault's, or moto's). */
  status: number;
  readonly injected: boolean;
}

/** Options of the proxy. */
export interface Route53ProxyOptions {
  /** moto's base URL. */
  readonly upstream: string;
  /** Where to mirror TXT changes; none by default. */
  readonly backend?: DnsBackend;
  /** Zones (e.g. `example.test.`) whose TXT changes are mirrored into the backend. */
  readonly mirrorZones?: readonly string[];
}

const XMLNS = "https://route53.amazonaws.com/doc/2013-04-01/";

function operationOf(method: string, path: string, body: string): Route53Operation {
  const p = path.split("?")[0] ?? "";
  if (p.startsWith("/moto-api")) return "moto-api";
  if (p === "/2013-04-01/hostedzonesbyname") return "ListHostedZonesByName";
  if (/^\/2013-04-01\/hostedzone\/[^/]+\/rrset\/?$/.test(p)) {
    return method === "POST" ? "ChangeResourceRecordSets" : "ListResourceRecordSets";
  }
  if (/^\/2013-04-01\/change\/[^/]+$/.test(p)) return "GetChange";
  if (p === "/2013-04-01/hostedzone") return method === "POST" ? "CreateHostedZone" : "ListHostedZones";
  if (/^\/2013-04-01\/hostedzone\/[^/]+$/.test(p)) return "GetHostedZone";
  const action = new URLSearchParams(body).get("Action");
  return action ?? `${method} ${p}`;
}

function accessKeyOf(headers: IncomingMessage["headers"]): string | undefined {
  return /Credential=([^/,\s]+)\//.exec(headers.authorization ?? "")?.[1];
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function xmlUnescape(s: string): string {
  return s
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d: string) => String.fromCodePoint(parseInt(d, 10)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

/** Route 53's error document. */
export function route53Error(code: string, message: string): string {
  return (
    `<?xml version="1.0"?>\n<ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type>` +
    `<Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error>` +
    `<RequestId>${randomUUID()}</RequestId></ErrorResponse>`
  );
}

function faultResponse(
  fault: Route53Fault,
  operation: string,
  path: string,
): { status: number; body: string } {
  const zone = /hostedzone\/([^/]+)/.exec(path)?.[1] ?? "*";
  switch (fault.kind) {
    case "throttling":
      return { status: fault.status ?? 400, body: route53Error("Throttling", "Rate exceeded") };
    case "priorRequestNotComplete":
      return {
        status: 400,
        body: route53Error(
          "PriorRequestNotComplete",
          "The request was rejected because Route 53 was still processing a prior request.",
        ),
      };
    case "serverError":
      return {
        status: fault.status ?? 500,
        body: route53Error("InternalFailure", "An internal error occurred. Try again."),
      };
    case "accessDenied":
      return {
        status: 403,
        body: route53Error(
          "AccessDenied",
          fault.message ??
            `User: arn:aws:iam::123456789012:user/dns01 is not authorized to perform: route53:${operation} ` +
              `on resource: arn:aws:route53:::hostedzone/${zone} because no identity-based policy allows ` +
              `the route53:${operation} action`,
        ),
      };
    case "invalidChangeBatch":
      return {
        status: 400,
        body: route53Error(
          "InvalidChangeBatch",
          fault.message ??
            "[Tried to delete resource record set but the values provided do not match the current values]",
        ),
      };
  }
}

/** The TXT changes of a ChangeResourceRecordSets request body. */
export function parseTxtChanges(xml: string): { action: string; name: string; values: string[] }[] {
  const out: { action: string; name: string; values: string[] }[] = [];
  for (const m of xml.matchAll(/<Change>([\s\S]*?)<\/Change>/g)) {
    const change = m[1] ?? "";
    const type = /<Type>([^<]*)<\/Type>/.exec(change)?.[1];
    if (type !== "TXT") continue;
    const action = /<Action>([^<]*)<\/Action>/.exec(change)?.[1] ?? "";
    const name = xmlUnescape(/<Name>([^<]*)<\/Name>/.exec(change)?.[1] ?? "");
    const values = [...change.matchAll(/<Value>([\s\S]*?)<\/Value>/g)].map((v) =>
      decodeTxt(xmlUnescape(v[1] ?? "")),
    );
    out.push({ action, name: canonicalRoute53Name(name), values });
  }
  return out;
}

/** The counting, fault-injecting, BIND-mirroring proxy in front of moto. */
export class Route53Proxy {
  /** Every request, in order. */
  readonly calls: ProxiedCall[] = [];
  /** How many GetChange polls of each change answer PENDING (and the change itself says PENDING). */
  pendingPolls = 0;
  private readonly faults: {
    fault: Route53Fault;
    remaining: number;
    operation: Route53Operation | undefined;
  }[] = [];
  private readonly polls = new Map<string, number>();
  /** What the proxy has published into the backend, by name. */
  private readonly mirrored = new Map<string, Set<string>>();
  private mirrorChain: Promise<void> = Promise.resolve();
  private server: Server | undefined;
  private hooks: ((operation: Route53Operation) => Promise<void>)[] = [];

  constructor(private readonly opts: Route53ProxyOptions) {}

  /** Listens on 127.0.0.1 (a free port by default); returns the base URL. */
  async start(port = 0): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        process.stderr.write(`route53 proxy: ${String(err)}\n`);
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        resolve();
      });
    });
    const addr = server.address();
    return `http://127.0.0.1:${typeof addr === "object" && addr !== null ? addr.port : port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
    this.server = undefined;
  }

  /** Answers the next `count` requests (of `operation`, or any Route 53 request) with `fault`. */
  failNext(count: number, fault: Route53Fault, operation?: Route53Operation): void {
    this.faults.push({ fault, remaining: count, operation });
  }

  /** Runs `hook` before the next request of `operation` is forwarded (once). */
  beforeNext(operation: Route53Operation, hook: () => Promise<void>): void {
    const once = async (op: Route53Operation): Promise<void> => {
      if (op !== operation) return;
      this.hooks = this.hooks.filter((h) => h !== once);
      await hook();
    };
    this.hooks.push(once);
  }

  /** Requests seen, of one operation or all Route 53 ones (moto-api excluded). */
  count(operation?: Route53Operation): number {
    return this.calls.filter((c) =>
      operation === undefined ? c.operation !== "moto-api" : c.operation === operation,
    ).length;
  }

  /** Counts per operation, e.g. `{ ListResourceRecordSets: 2, ChangeResourceRecordSets: 1 }`. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.calls)
      if (c.operation !== "moto-api") out[c.operation] = (out[c.operation] ?? 0) + 1;
    return out;
  }

  /** Forgets the calls seen and the faults not yet used. */
  resetCounts(): void {
    this.calls.length = 0;
    this.faults.length = 0;
    this.polls.clear();
  }

  private takeFault(operation: Route53Operation): Route53Fault | undefined {
    if (operation === "moto-api") return undefined;
    const i = this.faults.findIndex(
      (f) => f.remaining > 0 && (f.operation === undefined || f.operation === operation),
    );
    const entry = this.faults[i];
    if (!entry) return undefined;
    entry.remaining--;
    if (entry.remaining === 0) this.faults.splice(i, 1);
    return entry.fault;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    if (path.startsWith("/_proxy/")) {
      this.control(method, path, res);
      return;
    }
    const operation = operationOf(method, path, body.toString("utf8"));
    const call: ProxiedCall = {
      operation,
      method,
      path,
      accessKeyId: accessKeyOf(req.headers),
      status: 0,
      injected: false,
    };
    this.calls.push(call);

    const fault = this.takeFault(operation);
    if (fault) {
      const answer = faultResponse(fault, operation, path);
      call.status = answer.status;
      (call as { injected: boolean }).injected = true;
      res.writeHead(answer.status, { "content-type": "text/xml", "x-amzn-requestid": randomUUID() });
      res.end(answer.body);
      return;
    }
    for (const hook of [...this.hooks]) await hook(operation);

    const upstream = await this.forward(req, method, path, body);
    let text = upstream.body.toString("utf8");
    const status = upstream.status;
    const headers = { ...upstream.headers };
    delete headers["content-length"];
    delete headers["transfer-encoding"];
    delete headers["connection"];

    if (status >= 400 && /<ErrorResponse>\s*<Errors>/.test(text)) {
      // moto's auth errors use the EC2-style envelope; Route 53 (and the SDK's parser) expect this one.
      const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? "AccessDenied";
      const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? "";
      text = route53Error(xmlUnescape(code), xmlUnescape(message));
      headers["content-type"] = "text/xml";
    }
    if (status === 200 && operation === "ChangeResourceRecordSets") {
      await this.mirror(body.toString("utf8"));
      if (this.pendingPolls > 0) text = text.replace(/<Status>INSYNC<\/Status>/, "<Status>PENDING</Status>");
    }
    if (status === 200 && operation === "GetChange" && this.pendingPolls > 0) {
      const id = /\/change\/([^/?]+)/.exec(path)?.[1] ?? "";
      const n = (this.polls.get(id) ?? 0) + 1;
      this.polls.set(id, n);
      if (n <= this.pendingPolls) text = text.replace(/<Status>INSYNC<\/Status>/, "<Status>PENDING</Status>");
    }
    call.status = status;
    res.writeHead(status, headers);
    res.end(text);
  }

  /**
   * The proxy's own endpoints, for a harness in another process: `GET /_proxy/counts` (calls per
   * operation, JSON), `GET /_proxy/calls` (every call), `POST /_proxy/reset` (forget them).
   */
  private control(method: string, path: string, res: ServerResponse): void {
    const json = (status: number, value: unknown): void => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if (method === "GET" && path === "/_proxy/counts") {
      json(200, this.counts());
      return;
    }
    if (method === "GET" && path === "/_proxy/calls") {
      json(200, this.calls);
      return;
    }
    if (method === "POST" && path === "/_proxy/reset") {
      this.resetCounts();
      json(200, { status: "ok" });
      return;
    }
    json(404, { error: `no ${method} ${path}` });
  }

  private forward(
    req: IncomingMessage,
    method: string,
    path: string,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
    const target = new URL(path, this.opts.upstream);
    return new Promise((resolve, reject) => {
      // The Host header is kept: the request is signed over it, and moto checks signatures when
      // its auth is on.
      const out = httpRequest(
        target,
        { method, headers: { ...req.headers, "content-length": String(body.length) } },
        (up) => {
          const chunks: Buffer[] = [];
          up.on("data", (c: Buffer) => chunks.push(c));
          up.on("end", () => {
            resolve({ status: up.statusCode ?? 502, headers: up.headers, body: Buffer.concat(chunks) });
          });
          up.on("error", reject);
        },
      );
      out.on("error", reject);
      out.end(body);
    });
  }

  /** Publishes the TXT changes of one accepted request into the backend, one request at a time. */
  private mirror(xml: string): Promise<void> {
    const { backend, mirrorZones } = this.opts;
    if (!backend || !mirrorZones || mirrorZones.length === 0) return Promise.resolve();
    const zones = mirrorZones.map(canonicalRoute53Name);
    const run = this.mirrorChain.then(async () => {
      for (const change of parseTxtChanges(xml)) {
        const zone = zones
          .filter((z) => change.name === z || change.name.endsWith(`.${z}`))
          .sort((a, b) => b.length - a.length)[0];
        if (zone === undefined) continue;
        const before = this.mirrored.get(change.name) ?? new Set<string>();
        const after = new Set(change.action === "DELETE" ? [] : change.values);
        for (const v of after) if (!before.has(v)) await backend.add(change.name, zone, v);
        for (const v of before) if (!after.has(v)) await backend.remove(change.name, zone, v);
        if (after.size === 0) this.mirrored.delete(change.name);
        else this.mirrored.set(change.name, after);
      }
    });
    this.mirrorChain = run.catch((err: unknown) => {
      process.stderr.write(`route53 proxy: mirroring into DNS failed: ${String(err)}\n`);
    });
    return this.mirrorChain;
  }
}
