/**
 * A GoDaddy Domains API v1 emulator for tests, written from the public API reference: the
 * records-by-type-and-name routes (GET with offset/limit, PUT replacing the set, DELETE), the
 * `sso-key KEY:SECRET` header, the `{code, message}` error bodies (401 UNABLE_TO_AUTHENTICATE,
 * 403 ACCESS_DENIED for accounts under the 10-domain threshold, 404 UNKNOWN_DOMAIN, 422), the
 * 60-per-minute limit answered by 429 TOO_MANY_REQUESTS with `retryAfterSec`. It counts requests
 * per route, takes injected faults, and publishes every TXT value it holds to a DnsBackend.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { noBackend, type DnsBackend } from "../bind-backend.js";
import { readBody, retryAfter, RouteEmulator, sendJson } from "../http-emulator.js";

/** A key the emulator accepts, and how many domains its account has (under 10: 403). */
export interface EmulatedKey {
  readonly key: string;
  readonly secret: string;
  /** Domains of the account as GoDaddy counts them for API access; default 12. */
  readonly accountDomains?: number;
}

/** How to set an emulator up. */
export interface GoDaddyEmulatorOptions {
  readonly keys?: readonly EmulatedKey[];
  /** Domains at start; default example.test and second.test. */
  readonly domains?: readonly string[];
  readonly backend?: DnsBackend;
  /** Requests per minute per key before 429s; default 60. */
  readonly perMinute?: number;
}

/** An injected fault: the next `times` requests (matching `route` if given) get this answer. */
export interface Fault {
  readonly status: number;
  readonly retryAfter?: number;
  readonly body?: unknown;
  readonly route?: string;
  readonly times?: number;
}

/** One record as GoDaddy holds it. */
interface DnsRecord {
  type: string;
  name: string;
  data: string;
  ttl: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function lower(name: string): string {
  return (name.endsWith(".") ? name.slice(0, -1) : name).toLowerCase();
}

function defaultFaultBody(status: number): unknown {
  if (status === 429)
    return {
      code: "TOO_MANY_REQUESTS",
      message: "Too many requests received within interval",
      retryAfterSec: 30,
    };
  if (status === 401) return { code: "UNABLE_TO_AUTHENTICATE", message: "Unable to authenticate" };
  if (status === 403) return { code: "ACCESS_DENIED", message: "Authenticated user is not allowed access" };
  return { code: "INTERNAL_SERVER_ERROR", message: "Internal Server Error" };
}

/** The emulator: start it, point the solver at `url`, inspect `calls` and `values()`. */
export class GoDaddyEmulator extends RouteEmulator<Fault> {
  private readonly domains = new Map<string, DnsRecord[]>();
  private readonly keys = new Map<string, EmulatedKey>();
  private readonly history = new Map<string, number[]>();
  private readonly backend: DnsBackend;

  constructor(private readonly options: GoDaddyEmulatorOptions = {}) {
    super();
    this.backend = options.backend ?? noBackend();
    for (const k of options.keys ?? []) this.keys.set(k.key, k);
    for (const d of options.domains ?? ["example.test", "second.test"]) this.domains.set(lower(d), []);
  }

  /** The TXT values held at `fqdn`. */
  values(fqdn: string): string[] {
    const name = lower(fqdn);
    const out: string[] = [];
    for (const [domain, records] of this.domains) {
      for (const r of records) if (r.type === "TXT" && fqdnOf(r.name, domain) === name) out.push(r.data);
    }
    return out;
  }

  /** Every record of a domain (for no-loss checks). */
  records(domain: string): DnsRecord[] {
    return (this.domains.get(lower(domain)) ?? []).map((r) => ({ ...r }));
  }

  /** Puts a record straight into a domain (name relative, `@` for the apex). */
  async seed(domain: string, type: string, name: string, data: string, ttl = 600): Promise<void> {
    const records = this.domains.get(lower(domain));
    if (records === undefined) throw new Error(`no domain ${domain}`);
    records.push({ type, name: name.toLowerCase(), data, ttl });
    if (type === "TXT") await this.backend.add(fqdnOf(name, lower(domain)), lower(domain), data);
  }

  protected internalError(res: ServerResponse, err: unknown): void {
    sendJson(res, 500, { code: "INTERNAL_SERVER_ERROR", message: String(err) });
  }

  private routeOf(method: string, path: string): { key: string; params: string[] } {
    const parts = path.split("/").filter((p) => p !== "");
    if (parts[0] === "v1" && parts[1] === "domains" && parts[3] === "records" && parts.length === 6) {
      return {
        key: `${method} /v1/domains/:domain/records/:type/:name`,
        params: [
          decodeURIComponent(parts[2] ?? ""),
          decodeURIComponent(parts[4] ?? ""),
          decodeURIComponent(parts[5] ?? ""),
        ],
      };
    }
    return { key: `${method} ${path}`, params: [] };
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const method = req.method ?? "GET";
    const route = this.routeOf(method, url.pathname);
    this.counts.count(route.key);
    const body = await readBody(req);
    const fault = this.faults.take(route.key);
    if (fault !== undefined) {
      sendJson(res, fault.status, fault.body ?? defaultFaultBody(fault.status), {
        headers: retryAfter(fault.retryAfter),
      });
      return;
    }
    try {
      const key = this.authenticate(req);
      this.throttle(key.key);
      // GoDaddy's 2024 restriction: the key is valid, the account too small.
      if ((key.accountDomains ?? 12) < 10) {
        throw new HttpError(403, "ACCESS_DENIED", "Authenticated user is not allowed access");
      }
      const { status, result } = await this.dispatch(route, url, body);
      sendJson(res, status, result);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      sendJson(res, err.status, { code: err.code, message: err.message, ...err.extra });
    }
  }

  private authenticate(req: IncomingMessage): EmulatedKey {
    const m = /^sso-key ([^:\s]+):(\S+)$/.exec(req.headers.authorization ?? "");
    const key = m === null ? undefined : this.keys.get(m[1] ?? "");
    if (key === undefined || key.secret !== m?.[2]) {
      throw new HttpError(401, "UNABLE_TO_AUTHENTICATE", "Unable to authenticate");
    }
    return key;
  }

  private throttle(key: string): void {
    const now = Date.now();
    const times = (this.history.get(key) ?? []).filter((t) => t > now - 60_000);
    if (times.length >= (this.options.perMinute ?? 60)) {
      const retryAfterSec = Math.max(1, Math.ceil(((times[0] ?? now) + 60_000 - now) / 1000));
      throw new HttpError(429, "TOO_MANY_REQUESTS", "Too many requests received within interval", {
        retryAfterSec,
      });
    }
    times.push(now);
    this.history.set(key, times);
  }

  private async dispatch(
    route: { key: string; params: string[] },
    url: URL,
    body: string,
  ): Promise<{ status: number; result: unknown }> {
    const [d = "", type = "", rawName = ""] = route.params;
    const domain = lower(d);
    const records = this.domains.get(domain);
    if (route.params.length === 0)
      throw new HttpError(404, "NOT_FOUND", "The requested resource was not found");
    if (records === undefined)
      throw new HttpError(
        404,
        "UNKNOWN_DOMAIN",
        `The given domain is not registered, or does not have a zone file`,
      );
    const name = rawName.toLowerCase();
    const at = (r: DnsRecord): boolean => r.type === type && r.name === name;
    switch (route.key) {
      case "GET /v1/domains/:domain/records/:type/:name": {
        const offset = Number(url.searchParams.get("offset") ?? "0") || 0;
        const limit = Number(url.searchParams.get("limit") ?? "500") || 500;
        return { status: 200, result: records.filter(at).slice(offset, offset + limit) };
      }
      case "PUT /v1/domains/:domain/records/:type/:name": {
        const input = parseRecords(body);
        const before = records.filter(at);
        const next = input.map((r) => ({ type, name, data: r.data, ttl: r.ttl ?? 3600 }));
        for (const r of before) records.splice(records.indexOf(r), 1);
        records.push(...next);
        if (type === "TXT") await this.publish(domain, name, before, next);
        return { status: 200, result: undefined };
      }
      case "DELETE /v1/domains/:domain/records/:type/:name": {
        const before = records.filter(at);
        if (before.length === 0)
          throw new HttpError(404, "NOT_FOUND", `No records of type ${type} and name ${name}`);
        for (const r of before) records.splice(records.indexOf(r), 1);
        if (type === "TXT") await this.publish(domain, name, before, []);
        return { status: 204, result: undefined };
      }
      default:
        throw new HttpError(404, "NOT_FOUND", "The requested resource was not found");
    }
  }

  private async publish(
    domain: string,
    name: string,
    before: DnsRecord[],
    after: DnsRecord[],
  ): Promise<void> {
    const fqdn = fqdnOf(name, domain);
    const was = new Set(before.map((r) => r.data));
    const now = new Set(after.map((r) => r.data));
    for (const v of now) if (!was.has(v)) await this.backend.add(fqdn, domain, v);
    for (const v of was) if (!now.has(v)) await this.backend.remove(fqdn, domain, v);
  }
}

function fqdnOf(name: string, domain: string): string {
  return name === "@" ? domain : `${name}.${domain}`;
}

function parseRecords(body: string): { data: string; ttl?: number }[] {
  let input: unknown;
  try {
    input = JSON.parse(body) as unknown;
  } catch {
    throw new HttpError(400, "INVALID_BODY", "Request body doesn't fulfill schema, see details in `fields`");
  }
  if (!Array.isArray(input)) throw new HttpError(422, "INVALID_BODY", "body must be an array of records");
  return input.map((r: unknown) => {
    const o = r as { data?: unknown; ttl?: unknown };
    if (typeof o.data !== "string" || o.data === "")
      throw new HttpError(422, "INVALID_BODY", "`data` is required");
    if (o.ttl !== undefined && (typeof o.ttl !== "number" || o.ttl < 600)) {
      throw new HttpError(422, "INVALID_BODY", "`ttl` must be at least 600", {
        fields: [{ path: "ttl", code: "UNEXPECTED_TYPE" }],
      });
    }
    return typeof o.ttl === "number" ? { data: o.data, ttl: o.ttl } : { data: o.data };
  });
}
