/**
 * A webhook emulator for tests: an HTTP server that implements the operator's webhook contract
 * (docs/webhook.md) strictly. It checks the bearer token (401 `{"message"}` for a missing or wrong
 * one, 403 for a token not allowed the zone), validates every request (400 with a reason), keeps a
 * set of TXT values per name (present adds one, cleanup removes one; both idempotent) and writes
 * them through to a DnsBackend (the rig's BIND, so that Pebble validates for real). It counts
 * requests per route, records the bodies, and takes injected faults (status, Retry-After, body,
 * and a delay for timeouts).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { noBackend, type DnsBackend } from "../bind-backend.js";
import { readBody, retryAfter, RouteEmulator, sendJsonOrText } from "../http-emulator.js";

/** The request document of docs/webhook.md, as received. */
export interface ReceivedRequest {
  readonly apiVersion: string;
  readonly action: string;
  readonly fqdn: string;
  readonly zone: string;
  readonly value: string;
  readonly domain?: string;
  readonly groupName: string;
  readonly solverName: string;
  readonly resourceNamespace: string;
  readonly config: unknown;
}

/** A token the emulator accepts, optionally limited to some zones. */
export interface WebhookToken {
  readonly token: string;
  readonly zones?: readonly string[];
}

/** How to set the emulator up. */
export interface WebhookEmulatorOptions {
  /** Accepted bearer tokens; none means no Authorization is required. */
  readonly tokens?: readonly (string | WebhookToken)[];
  /** Where values are published; default nowhere. */
  readonly backend?: DnsBackend;
}

/** An injected fault: the next `times` requests (matching `route` if given) get this answer. */
export interface WebhookFault {
  readonly status: number;
  readonly retryAfter?: number;
  /** Response body (JSON-encoded unless a string); default `{"message": ...}`. */
  readonly body?: unknown;
  /** Route key as counted: "POST /present" or "POST /cleanup". */
  readonly route?: string;
  readonly times?: number;
  /** Wait this long before answering (to make the client time out). */
  readonly delayMs?: number;
}

const API_VERSION = "dns01.io/webhook/v1";

function lower(name: string): string {
  return name.toLowerCase();
}

/** The emulator: start it, point the solver at `url`, inspect `calls`, `received` and `values()`. */
export class WebhookEmulator extends RouteEmulator<WebhookFault> {
  private readonly tokens = new Map<string, WebhookToken>();
  private readonly records = new Map<string, Set<string>>();
  private readonly backend: DnsBackend;
  private lock: Promise<unknown> = Promise.resolve();
  /** Every valid request body, in order. */
  readonly received: ReceivedRequest[] = [];

  constructor(options: WebhookEmulatorOptions = {}) {
    super();
    this.backend = options.backend ?? noBackend();
    for (const t of options.tokens ?? []) this.addToken(t);
  }

  override async stop(): Promise<void> {
    await super.stop();
    await this.lock;
  }

  addToken(token: string | WebhookToken): void {
    const t = typeof token === "string" ? { token } : token;
    this.tokens.set(t.token, t);
  }

  revokeToken(token: string): void {
    this.tokens.delete(token);
  }

  override resetCalls(): void {
    super.resetCalls();
    this.received.length = 0;
  }

  /** The values held at `fqdn`. */
  values(fqdn: string): string[] {
    return [...(this.records.get(lower(fqdn)) ?? [])];
  }

  protected internalError(res: ServerResponse, err: unknown): void {
    sendJsonOrText(res, 500, { message: String(err) });
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const action = path.endsWith("/present") ? "present" : path.endsWith("/cleanup") ? "cleanup" : undefined;
    const route = `${req.method ?? "GET"} ${action === undefined ? path : `/${action}`}`;
    this.counts.count(route);
    const body = await readBody(req);
    const fault = this.faults.take(route);
    if (fault !== undefined) {
      if (fault.delayMs !== undefined) await new Promise((r) => setTimeout(r, fault.delayMs));
      sendJsonOrText(
        res,
        fault.status,
        fault.body ?? { message: `injected fault ${String(fault.status)}` },
        retryAfter(fault.retryAfter),
      );
      return;
    }
    if (action === undefined) {
      sendJsonOrText(res, 404, { message: `no route ${path}: POST {url}/present or {url}/cleanup` });
      return;
    }
    if (req.method !== "POST") {
      sendJsonOrText(res, 405, { message: "use POST" });
      return;
    }
    const [status, answer] = await this.serve(action, req, body);
    sendJsonOrText(res, status, answer);
  }

  private async serve(action: string, req: IncomingMessage, body: string): Promise<[number, unknown]> {
    let token: WebhookToken | undefined;
    if (this.tokens.size > 0) {
      const auth = req.headers.authorization ?? "";
      const m = /^Bearer (.+)$/.exec(auth);
      token = m?.[1] === undefined ? undefined : this.tokens.get(m[1]);
      if (token === undefined) return [401, { message: "missing or invalid bearer token" }];
    }
    let r: ReceivedRequest;
    try {
      r = parseRequest(body, action);
    } catch (err) {
      return [400, { message: (err as Error).message, reason: "InvalidConfiguration" }];
    }
    const zone = lower(r.zone);
    if (token?.zones !== undefined && !token.zones.map(lower).some((z) => `${z}.` === zone || z === zone)) {
      return [403, { message: `this token may not change records in ${r.zone}` }];
    }
    this.received.push(r);
    const fqdn = lower(r.fqdn);
    const run = async (): Promise<void> => {
      const set = this.records.get(fqdn) ?? new Set<string>();
      if (action === "present" && !set.has(r.value)) {
        await this.backend.add(fqdn, zone, r.value);
        set.add(r.value);
        this.records.set(fqdn, set);
      } else if (action === "cleanup" && set.has(r.value)) {
        await this.backend.remove(fqdn, zone, r.value);
        set.delete(r.value);
        if (set.size === 0) this.records.delete(fqdn);
      }
    };
    const next = this.lock.then(run, run);
    this.lock = next.catch(() => undefined);
    await next;
    return [200, { message: `${action} done` }];
  }
}

/** Checks a request document as docs/webhook.md specifies it; throws an Error saying what is wrong. */
function parseRequest(body: string, action: string): ReceivedRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new Error("the body is not JSON");
  }
  if (typeof parsed !== "object" || parsed === null) throw new Error("the body is not a JSON object");
  const o = parsed as Record<string, unknown>;
  if (o["apiVersion"] !== API_VERSION) throw new Error(`apiVersion must be ${API_VERSION}`);
  if (o["action"] !== action) throw new Error(`action must be "${action}" on this path`);
  for (const f of ["fqdn", "zone", "value", "groupName", "solverName", "resourceNamespace"]) {
    if (typeof o[f] !== "string" || o[f] === "") throw new Error(`${f} must be a non-empty string`);
  }
  const fqdn = lower(o["fqdn"] as string);
  const zone = lower(o["zone"] as string);
  if (!fqdn.endsWith(".") || !zone.endsWith(".")) throw new Error("fqdn and zone must end with a dot");
  if (fqdn !== zone && !fqdn.endsWith(`.${zone}`)) throw new Error(`${fqdn} is not in the zone ${zone}`);
  if (!("config" in o)) throw new Error("config must be present (null when unset)");
  return o as unknown as ReceivedRequest;
}
