/**
 * A small DigitalOcean API v2 emulator for tests, written from the public API reference: the
 * Domain Records routes a DNS-01 solver uses (list by type and fully qualified name, create with a
 * name relative to the domain, delete by ID), bearer-token auth with scopes, page-based pagination
 * with `links.pages` and `meta.total`, the `{id, message}` error bodies, the RateLimit-* headers
 * and a 429 with Retry-After. It counts requests per route, takes injected faults, and writes every
 * TXT value it holds through to a DnsBackend (the rig's BIND in e2e).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { noBackend, type DnsBackend } from "../bind-backend.js";
import { readBody, retryAfter, RouteEmulator, sendJson } from "../http-emulator.js";

/**
 * A token the emulator accepts, with its scopes: the legacy `read` / `write`, or custom ones
 * (`domain:read`, `domain:create`, `domain:update`, `domain:delete`). Default: read and write.
 */
export interface EmulatedToken {
  readonly token: string;
  readonly scopes?: readonly string[];
}

/** How to set an emulator up. */
export interface DigitalOceanEmulatorOptions {
  readonly tokens?: readonly (string | EmulatedToken)[];
  /** Domains created at start; default example.test and second.test. */
  readonly domains?: readonly string[];
  /** Where TXT values are published; default nowhere. */
  readonly backend?: DnsBackend;
  /** The most records a page holds, whatever per_page asks (forces pagination in tests). */
  readonly maxPerPage?: number;
  /** Requests allowed per hour per token before 429s (the API's is 5000). */
  readonly hourlyLimit?: number;
}

/** An injected fault: the next `times` requests (matching `route` if given) get this answer. */
export interface Fault {
  readonly status: number;
  /** Retry-After header value (seconds). */
  readonly retryAfter?: number;
  readonly body?: unknown;
  /** Route key as counted, e.g. "POST /v2/domains/:domain/records". */
  readonly route?: string;
  readonly times?: number;
}

/** One domain record as the API shows it. */
interface DomainRecord {
  id: number;
  type: string;
  name: string;
  data: string;
  priority: number | null;
  port: number | null;
  ttl: number;
  weight: number | null;
  flags: number | null;
  tag: string | null;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly id: string,
    message: string,
  ) {
    super(message);
  }
}

const UNAUTHORIZED = (): HttpError => new HttpError(401, "Unauthorized", "Unable to authenticate you");
const FORBIDDEN = (): HttpError =>
  new HttpError(403, "Forbidden", "You are not authorized to perform this operation");
const NOT_FOUND = (): HttpError =>
  new HttpError(404, "not_found", "The resource you were accessing could not be found.");

function lower(name: string): string {
  return (name.endsWith(".") ? name.slice(0, -1) : name).toLowerCase();
}

function defaultFaultBody(status: number): unknown {
  if (status === 429) return { id: "too_many_requests", message: "API Rate limit exceeded." };
  if (status === 401) return { id: "Unauthorized", message: "Unable to authenticate you" };
  if (status === 403) return { id: "Forbidden", message: "You are not authorized to perform this operation" };
  return { id: "server_error", message: "Unexpected server-side error" };
}

/** The scope a route needs, and the legacy scope that also grants it. */
const ROUTE_SCOPES: Record<string, readonly [string, string]> = {
  "GET /v2/domains/:domain/records": ["domain:read", "read"],
  "POST /v2/domains/:domain/records": ["domain:create", "write"],
  "DELETE /v2/domains/:domain/records/:id": ["domain:delete", "write"],
};

/** The emulator: start it, point the solver at `url`, inspect `calls` and `values()`. */
export class DigitalOceanEmulator extends RouteEmulator<Fault> {
  private readonly domains = new Map<string, DomainRecord[]>();
  private readonly tokens = new Map<string, EmulatedToken>();
  private readonly history = new Map<string, number[]>();
  private readonly backend: DnsBackend;
  private nextId = 3_000_000;

  constructor(private readonly options: DigitalOceanEmulatorOptions = {}) {
    super();
    this.backend = options.backend ?? noBackend();
    for (const t of options.tokens ?? []) this.addToken(t);
    for (const d of options.domains ?? ["example.test", "second.test"]) this.addDomain(d);
  }

  addDomain(name: string): void {
    this.domains.set(lower(name), []);
  }

  addToken(token: string | EmulatedToken): void {
    const t = typeof token === "string" ? { token } : token;
    this.tokens.set(t.token, t);
  }

  revokeToken(token: string): void {
    this.tokens.delete(token);
  }

  /** The TXT values held at `fqdn`. */
  values(fqdn: string): string[] {
    const name = lower(fqdn);
    const out: string[] = [];
    for (const [domain, records] of this.domains) {
      for (const r of records) if (r.type === "TXT" && this.fqdnOf(r, domain) === name) out.push(r.data);
    }
    return out;
  }

  /** Puts a TXT record straight into a domain (name relative, `@` for the apex). */
  async seed(domain: string, name: string, data: string): Promise<void> {
    const records = this.domains.get(lower(domain));
    if (records === undefined) throw new Error(`no domain ${domain}`);
    const record = this.newRecord("TXT", name, data, 30);
    records.push(record);
    await this.backend.add(this.fqdnOf(record, lower(domain)), lower(domain), data);
  }

  private fqdnOf(r: DomainRecord, domain: string): string {
    return r.name === "@" ? domain : `${r.name}.${domain}`;
  }

  private newRecord(type: string, name: string, data: string, ttl: number): DomainRecord {
    return {
      id: this.nextId++,
      type,
      name,
      data,
      priority: null,
      port: null,
      ttl,
      weight: null,
      flags: null,
      tag: null,
    };
  }

  private send(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    sendJson(res, status, body, { headers, contentType: "application/json; charset=utf-8" });
  }

  private routeOf(method: string, path: string): { key: string; params: string[] } {
    const parts = path.split("/").filter((p) => p !== "");
    if (parts[0] === "v2" && parts[1] === "domains" && parts[3] === "records") {
      const domain = decodeURIComponent(parts[2] ?? "");
      if (parts.length === 4) return { key: `${method} /v2/domains/:domain/records`, params: [domain] };
      if (parts.length === 5)
        return { key: `${method} /v2/domains/:domain/records/:id`, params: [domain, parts[4] ?? ""] };
    }
    return { key: `${method} ${path}`, params: [] };
  }

  /** RateLimit-* headers for a token, counting its requests of the last hour (each expires on its own). */
  private rateHeaders(token: string): { headers: Record<string, string>; exceeded: boolean } {
    const now = Date.now();
    const limit = this.options.hourlyLimit ?? 5000;
    const times = (this.history.get(token) ?? []).filter((t) => t > now - 3_600_000);
    const exceeded = times.length >= limit;
    if (!exceeded) times.push(now);
    this.history.set(token, times);
    const oldest = times[0] ?? now;
    return {
      exceeded,
      headers: {
        "ratelimit-limit": String(limit),
        "ratelimit-remaining": String(Math.max(0, limit - times.length)),
        "ratelimit-reset": String(Math.ceil((oldest + 3_600_000) / 1000)),
      },
    };
  }

  protected internalError(res: ServerResponse, err: unknown): void {
    this.send(res, 500, { id: "server_error", message: String(err) });
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "127.0.0.1"}`);
    const method = req.method ?? "GET";
    const route = this.routeOf(method, url.pathname);
    this.counts.count(route.key);
    const body = await readBody(req);

    const fault = this.faults.take(route.key);
    if (fault !== undefined) {
      this.send(
        res,
        fault.status,
        fault.body ?? defaultFaultBody(fault.status),
        retryAfter(fault.retryAfter),
      );
      return;
    }
    let headers: Record<string, string> = {};
    try {
      const token = this.authenticate(req);
      const rate = this.rateHeaders(token.token);
      headers = rate.headers;
      if (rate.exceeded) throw new HttpError(429, "too_many_requests", "API Rate limit exceeded.");
      const scopes = ROUTE_SCOPES[route.key];
      const granted = token.scopes ?? ["read", "write"];
      if (scopes !== undefined && !scopes.some((s) => granted.includes(s))) throw FORBIDDEN();
      const { status, result } = await this.dispatch(route, url, body);
      this.send(res, status, result, headers);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      this.send(res, err.status, { id: err.id, message: err.message }, headers);
    }
  }

  private authenticate(req: IncomingMessage): EmulatedToken {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "");
    const token = m === null ? undefined : this.tokens.get(m[1] ?? "");
    if (token === undefined) throw UNAUTHORIZED();
    return token;
  }

  private async dispatch(
    route: { key: string; params: string[] },
    url: URL,
    body: string,
  ): Promise<{ status: number; result: unknown }> {
    const [domain = "", id = ""] = route.params;
    const records = this.domains.get(lower(domain));
    if (records === undefined) throw NOT_FOUND();
    switch (route.key) {
      case "GET /v2/domains/:domain/records":
        return { status: 200, result: this.list(lower(domain), records, url) };
      case "POST /v2/domains/:domain/records":
        return { status: 201, result: { domain_record: await this.create(lower(domain), records, body) } };
      case "DELETE /v2/domains/:domain/records/:id":
        await this.remove(lower(domain), records, Number(id));
        return { status: 204, result: undefined };
      default:
        throw NOT_FOUND();
    }
  }

  private list(domain: string, records: DomainRecord[], url: URL) {
    const q = url.searchParams;
    const type = q.get("type");
    const name = q.get("name");
    const matching = records.filter(
      (r) => (type === null || r.type === type) && (name === null || this.fqdnOf(r, domain) === lower(name)),
    );
    const page = Math.max(1, Number(q.get("page") ?? "1") || 1);
    const asked = Number(q.get("per_page") ?? "20") || 20;
    const perPage = Math.max(1, Math.min(asked, 200, this.options.maxPerPage ?? Infinity));
    const last = Math.max(1, Math.ceil(matching.length / perPage));
    const link = (p: number): string => {
      const u = new URL(url.toString());
      u.searchParams.set("page", String(p));
      u.searchParams.set("per_page", String(perPage));
      return u.toString();
    };
    const pages: Record<string, string> = {};
    if (page > 1) Object.assign(pages, { first: link(1), prev: link(page - 1) });
    if (page < last) Object.assign(pages, { last: link(last), next: link(page + 1) });
    return {
      domain_records: matching.slice((page - 1) * perPage, page * perPage),
      links: Object.keys(pages).length === 0 ? {} : { pages },
      meta: { total: matching.length },
    };
  }

  private async create(domain: string, records: DomainRecord[], body: string): Promise<DomainRecord> {
    let input: { type?: unknown; name?: unknown; data?: unknown; ttl?: unknown };
    try {
      input = JSON.parse(body) as typeof input;
    } catch {
      throw new HttpError(400, "bad_request", "unable to parse request body");
    }
    if (typeof input.type !== "string" || typeof input.name !== "string" || typeof input.data !== "string") {
      throw new HttpError(422, "unprocessable_entity", "Type, name and data are required");
    }
    // A name ending in a dot is absolute and must be in the domain; anything else is relative.
    let name = input.name.toLowerCase();
    if (name.endsWith(".")) {
      const abs = lower(name);
      if (abs === domain) name = "@";
      else if (abs.endsWith(`.${domain}`)) name = abs.slice(0, -(domain.length + 1));
      else throw new HttpError(422, "unprocessable_entity", `Name is not in the domain ${domain}`);
    }
    if (name === "" || !/^(@|[*a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?)$/.test(name)) {
      throw new HttpError(422, "unprocessable_entity", "Name Only valid hostname characters are allowed");
    }
    const ttl = input.ttl === undefined ? 1800 : Number(input.ttl);
    if (!Number.isInteger(ttl) || ttl < 30) {
      throw new HttpError(422, "unprocessable_entity", "Ttl must be greater than or equal to 30");
    }
    const record = this.newRecord(input.type, name, input.data, ttl);
    records.push(record);
    if (record.type === "TXT") {
      try {
        await this.backend.add(this.fqdnOf(record, domain), domain, record.data);
      } catch (err) {
        records.splice(records.indexOf(record), 1);
        throw new HttpError(500, "server_error", `publishing failed: ${String(err)}`);
      }
    }
    return record;
  }

  private async remove(domain: string, records: DomainRecord[], id: number): Promise<void> {
    const i = records.findIndex((r) => r.id === id);
    const record = i < 0 ? undefined : records[i];
    if (record === undefined) throw NOT_FOUND();
    records.splice(i, 1);
    const fqdn = this.fqdnOf(record, domain);
    // Duplicates stand for one DNS value: unpublish with the last of them.
    const stillThere = records.some(
      (r) => r.type === "TXT" && this.fqdnOf(r, domain) === fqdn && r.data === record.data,
    );
    if (record.type === "TXT" && !stillThere) await this.backend.remove(fqdn, domain, record.data);
  }
}
