/**
 * A small Cloudflare API v4 emulator for tests, written from the public API reference: the routes
 * a DNS-01 solver uses (zones by name; DNS records list, create, delete), its auth headers (API
 * token as `Authorization: Bearer`, or the legacy X-Auth-Email + X-Auth-Key), its page-based
 * pagination (`page`, `per_page`, `result_info`), its `{success:false, errors:[{code, message}]}`
 * error bodies and its 429 with Retry-After. It counts requests per route, takes injected faults,
 * and writes every TXT value it holds through to a DnsBackend (the rig's BIND in e2e).
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { noBackend, type DnsBackend } from "../bind-backend.js";
import { readBody, retryAfter, RouteEmulator, sendJson } from "../http-emulator.js";

/** A token the emulator accepts, optionally limited to some zones (as a token's Zone Resources are). */
export interface EmulatedToken {
  readonly token: string;
  readonly zones?: readonly string[];
}

/** How to set an emulator up. */
export interface CloudflareEmulatorOptions {
  /** Accepted API tokens. */
  readonly tokens?: readonly (string | EmulatedToken)[];
  /** Accepted legacy global API keys, by account email. */
  readonly globalKeys?: readonly { readonly email: string; readonly key: string }[];
  /** Zones created at start; default example.test and second.test. */
  readonly zones?: readonly string[];
  /** Where TXT values are published; default nowhere. */
  readonly backend?: DnsBackend;
  /** The most records a list page holds, whatever per_page asks (forces pagination in tests). */
  readonly maxPerPage?: number;
  /** The most records a zone may hold; more is refused with 81045 "Record quota exceeded." */
  readonly recordQuota?: number;
  /** Store bare TXT content quoted, as Cloudflare's newer API versions and dashboard do. */
  readonly quoteTxt?: boolean;
}

/** An injected fault: the next `times` requests (matching `route` if given) get this answer. */
export interface Fault {
  readonly status: number;
  /** Retry-After header value (seconds). */
  readonly retryAfter?: number;
  /** Response body; default a Cloudflare error body fitting the status. */
  readonly body?: unknown;
  /** Route key as counted, e.g. "POST /zones/:zone_id/dns_records". */
  readonly route?: string;
  readonly times?: number;
}

/** One DNS record as the API shows it. */
interface DnsRecord {
  id: string;
  zone_id: string;
  zone_name: string;
  name: string;
  type: string;
  content: string;
  ttl: number;
  proxied: boolean;
  proxiable: boolean;
  comment: string | null;
  tags: string[];
  settings: Record<string, unknown>;
  meta: Record<string, unknown>;
  created_on: string;
  modified_on: string;
}

interface Zone {
  readonly id: string;
  readonly name: string;
  readonly records: DnsRecord[];
}

interface ErrorItem {
  code: number;
  message: string;
  error_chain?: { code: number; message: string }[];
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errors: ErrorItem[],
  ) {
    super(errors.map((e) => e.message).join("; "));
  }
}

const BASE = "/client/v4";
const AUTH_ERROR: ErrorItem = { code: 10000, message: "Authentication error" };

function hexId(): string {
  return randomBytes(16).toString("hex");
}

function lower(name: string): string {
  return (name.endsWith(".") ? name.slice(0, -1) : name).toLowerCase();
}

/** The text of TXT content: the concatenation of its quoted strings, or the content itself when bare. */
export function unquoteTxt(content: string): string {
  const t = content.trim();
  if (!t.startsWith('"')) return content;
  const strings = [...t.matchAll(/"((?:[^"\\]|\\.)*)"\s*/g)];
  if (strings.map((m) => m[0]).join("") !== t) return content;
  return strings.map((m) => (m[1] ?? "").replace(/\\(.)/g, "$1")).join("");
}

function defaultFaultBody(status: number): unknown {
  const error: ErrorItem =
    status === 429
      ? { code: 971, message: "Please wait and consider throttling your request speed" }
      : status === 401 || status === 403
        ? AUTH_ERROR
        : { code: 10001, message: "Internal server error" };
  return { success: false, errors: [error], messages: [], result: null };
}

/** The emulator: start it, point the solver at `url`, inspect `calls` and `values()`. */
export class CloudflareEmulator extends RouteEmulator<Fault> {
  private readonly zones = new Map<string, Zone>();
  private readonly tokens = new Map<string, EmulatedToken>();
  private readonly keys = new Map<string, string>();
  private readonly backend: DnsBackend;
  /** Every request in order: route key and the kind of credentials it carried. */
  readonly requests: { route: string; auth: "token" | "key" | "none"; status: number }[] = [];

  constructor(private readonly options: CloudflareEmulatorOptions = {}) {
    super();
    this.backend = options.backend ?? noBackend();
    for (const t of options.tokens ?? []) {
      const token = typeof t === "string" ? { token: t } : t;
      this.tokens.set(token.token, token);
    }
    for (const k of options.globalKeys ?? []) this.keys.set(k.email.toLowerCase(), k.key);
    for (const z of options.zones ?? ["example.test", "second.test"]) this.addZone(z);
  }

  /** Listens on 127.0.0.1 (`port` 0 picks a free one); resolves to the API base URL. */
  override async start(port = 0): Promise<string> {
    this.url = `${await super.start(port)}${BASE}`;
    return this.url;
  }

  /** Creates a zone; returns its ID. */
  addZone(name: string): string {
    const id = hexId();
    this.zones.set(id, { id, name: lower(name), records: [] });
    return id;
  }

  /** Deletes a zone and its records (records are not unpublished: a test of stale zone IDs). */
  removeZone(name: string): void {
    for (const [id, z] of this.zones) if (z.name === lower(name)) this.zones.delete(id);
  }

  /** Adds an accepted token (e.g. the rotated one). */
  addToken(token: string | EmulatedToken): void {
    const t = typeof token === "string" ? { token } : token;
    this.tokens.set(t.token, t);
  }

  /** Stops accepting a token (revoked). */
  revokeToken(token: string): void {
    this.tokens.delete(token);
  }

  override resetCalls(): void {
    super.resetCalls();
    this.requests.length = 0;
  }

  /** The TXT values (unquoted) held at `fqdn`. */
  values(fqdn: string): string[] {
    const name = lower(fqdn);
    return this.allRecords()
      .filter((r) => r.type === "TXT" && r.name === name)
      .map((r) => unquoteTxt(r.content));
  }

  /** The raw records at `fqdn`, as the API returns them. */
  records(fqdn: string): readonly DnsRecord[] {
    const name = lower(fqdn);
    return this.allRecords().filter((r) => r.name === name);
  }

  /** Puts a TXT record straight into a zone, its content as given (e.g. bare, as older clients wrote). */
  async seed(fqdn: string, content: string): Promise<void> {
    const zone = this.zoneOf(lower(fqdn));
    if (zone === undefined) throw new Error(`no zone holds ${fqdn}`);
    zone.records.push(this.newRecord(zone, lower(fqdn), "TXT", content, 60, null));
    await this.backend.add(lower(fqdn), zone.name, unquoteTxt(content));
  }

  private allRecords(): DnsRecord[] {
    return [...this.zones.values()].flatMap((z) => z.records);
  }

  private zoneOf(name: string): Zone | undefined {
    let best: Zone | undefined;
    for (const z of this.zones.values()) {
      if (
        (name === z.name || name.endsWith(`.${z.name}`)) &&
        (best === undefined || z.name.length > best.name.length)
      ) {
        best = z;
      }
    }
    return best;
  }

  private newRecord(
    zone: Zone,
    name: string,
    type: string,
    content: string,
    ttl: number,
    comment: string | null,
  ): DnsRecord {
    const now = new Date().toISOString();
    return {
      id: hexId(),
      zone_id: zone.id,
      zone_name: zone.name,
      name,
      type,
      content,
      ttl,
      proxied: false,
      proxiable: false,
      comment,
      tags: [],
      settings: {},
      meta: {},
      created_on: now,
      modified_on: now,
    };
  }

  private routeOf(method: string, path: string): { key: string; params: string[] } {
    const rel = path.startsWith(BASE) ? path.slice(BASE.length) : path;
    const parts = rel.split("/").filter((p) => p !== "");
    if (parts[0] === "zones") {
      if (parts.length === 1) return { key: `${method} /zones`, params: [] };
      const zoneId = parts[1] ?? "";
      if (parts.length === 2) return { key: `${method} /zones/:zone_id`, params: [zoneId] };
      if (parts[2] === "dns_records" && parts.length === 3) {
        return { key: `${method} /zones/:zone_id/dns_records`, params: [zoneId] };
      }
      if (parts[2] === "dns_records" && parts.length === 4) {
        return { key: `${method} /zones/:zone_id/dns_records/:id`, params: [zoneId, parts[3] ?? ""] };
      }
    }
    return { key: `${method} ${rel}`, params: [] };
  }

  protected internalError(res: ServerResponse, err: unknown): void {
    sendJson(res, 500, { success: false, errors: [{ code: 10001, message: String(err) }] });
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const method = req.method ?? "GET";
    const route = this.routeOf(method, url.pathname);
    this.counts.count(route.key);
    const body = await readBody(req);
    const entry = { route: route.key, auth: authKind(req), status: 0 };
    this.requests.push(entry);

    const fault = this.faults.take(route.key);
    if (fault !== undefined) {
      entry.status = fault.status;
      sendJson(res, fault.status, fault.body ?? defaultFaultBody(fault.status), {
        headers: retryAfter(fault.retryAfter),
      });
      return;
    }
    try {
      const token = this.authenticate(req);
      const result = await this.dispatch(route, url.searchParams, body, token);
      entry.status = 200;
      sendJson(res, 200, { success: true, errors: [], messages: [], ...result });
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      entry.status = err.status;
      sendJson(res, err.status, { success: false, errors: err.errors, messages: [], result: null });
    }
  }

  /** The token used (undefined for a global key); throws Cloudflare's errors for bad credentials. */
  private authenticate(req: IncomingMessage): EmulatedToken | undefined {
    const authorization = req.headers.authorization;
    const email = header(req, "x-auth-email");
    const key = header(req, "x-auth-key");
    if (authorization !== undefined) {
      const m = /^Bearer ([A-Za-z0-9_-]+)$/.exec(authorization);
      if (m === null) {
        throw new HttpError(400, [
          {
            code: 6003,
            message: "Invalid request headers",
            error_chain: [{ code: 6111, message: "Invalid format for Authorization header" }],
          },
        ]);
      }
      const token = this.tokens.get(m[1] ?? "");
      if (token === undefined) throw new HttpError(403, [AUTH_ERROR]);
      return token;
    }
    if (email !== undefined || key !== undefined) {
      if (email === undefined || key === undefined || !/^[0-9a-f]+$/i.test(key)) {
        const chain = [];
        if (email === undefined)
          chain.push({ code: 6102, message: "Invalid format for X-Auth-Email header" });
        if (key === undefined || !/^[0-9a-f]+$/i.test(key)) {
          chain.push({ code: 6103, message: "Invalid format for X-Auth-Key header" });
        }
        throw new HttpError(400, [{ code: 6003, message: "Invalid request headers", error_chain: chain }]);
      }
      if (this.keys.get(email.toLowerCase()) !== key) {
        throw new HttpError(403, [{ code: 9103, message: "Unknown X-Auth-Key or X-Auth-Email" }]);
      }
      return undefined;
    }
    throw new HttpError(400, [
      { code: 9106, message: "Missing X-Auth-Key, X-Auth-Email or Authorization headers" },
    ]);
  }

  private visible(zone: Zone, token: EmulatedToken | undefined): boolean {
    return token?.zones === undefined || token.zones.some((z) => lower(z) === zone.name);
  }

  private zoneFor(id: string, path: string, token: EmulatedToken | undefined): Zone {
    const zone = this.zones.get(id);
    if (zone === undefined) {
      throw new HttpError(404, [
        { code: 7003, message: `Could not route to ${path}, perhaps your object identifier is invalid?` },
      ]);
    }
    if (!this.visible(zone, token)) throw new HttpError(403, [AUTH_ERROR]);
    return zone;
  }

  private async dispatch(
    route: { key: string; params: string[] },
    query: URLSearchParams,
    body: string,
    token: EmulatedToken | undefined,
  ): Promise<{ result: unknown; result_info?: unknown }> {
    const [zoneId = "", recordId = ""] = route.params;
    switch (route.key) {
      case "GET /zones":
        return this.listZones(query, token);
      case "GET /zones/:zone_id/dns_records":
        return this.listRecords(this.zoneFor(zoneId, `/zones/${zoneId}/dns_records`, token), query);
      case "POST /zones/:zone_id/dns_records":
        return {
          result: await this.createRecord(this.zoneFor(zoneId, `/zones/${zoneId}/dns_records`, token), body),
        };
      case "DELETE /zones/:zone_id/dns_records/:id":
        return {
          result: await this.deleteRecord(
            this.zoneFor(zoneId, `/zones/${zoneId}/dns_records`, token),
            recordId,
          ),
        };
      default:
        throw new HttpError(404, [{ code: 7000, message: "No route for that URI" }]);
    }
  }

  private page<T>(items: T[], query: URLSearchParams, defaultPerPage: number, maxPerPage: number) {
    const page = Math.max(1, Number(query.get("page") ?? "1") || 1);
    const asked = Number(query.get("per_page") ?? String(defaultPerPage)) || defaultPerPage;
    const perPage = Math.max(1, Math.min(asked, maxPerPage, this.options.maxPerPage ?? Infinity));
    const slice = items.slice((page - 1) * perPage, page * perPage);
    return {
      result: slice,
      result_info: {
        page,
        per_page: perPage,
        count: slice.length,
        total_count: items.length,
        total_pages: Math.ceil(items.length / perPage),
      },
    };
  }

  private listZones(query: URLSearchParams, token: EmulatedToken | undefined) {
    const name = query.get("name");
    const zones = [...this.zones.values()]
      .filter((z) => this.visible(z, token))
      .filter((z) => name === null || z.name === lower(name))
      .map((z) => ({ id: z.id, name: z.name, status: "active", paused: false, type: "full" }));
    return this.page(zones, query, 20, 50);
  }

  private listRecords(zone: Zone, query: URLSearchParams) {
    const type = query.get("type");
    const name = query.get("name.exact") ?? query.get("name");
    const content = query.get("content.exact") ?? query.get("content");
    // Cloudflare's name and content filters are case-insensitive.
    const records = zone.records.filter(
      (r) =>
        (type === null || r.type === type) &&
        (name === null || r.name === lower(name)) &&
        (content === null || r.content.toLowerCase() === content.toLowerCase()),
    );
    return this.page(records, query, 100, 5_000_000);
  }

  private async createRecord(zone: Zone, body: string): Promise<DnsRecord> {
    let input: { type?: unknown; name?: unknown; content?: unknown; ttl?: unknown; comment?: unknown };
    try {
      input = JSON.parse(body) as typeof input;
    } catch {
      throw new HttpError(400, [{ code: 9207, message: "Request body is invalid." }]);
    }
    if (
      typeof input.type !== "string" ||
      typeof input.name !== "string" ||
      typeof input.content !== "string"
    ) {
      throw new HttpError(400, [{ code: 9000, message: "DNS record type, name and content are required." }]);
    }
    const rawName = lower(input.name);
    const name =
      rawName === "@"
        ? zone.name
        : rawName === zone.name || rawName.endsWith(`.${zone.name}`)
          ? rawName
          : `${rawName}.${zone.name}`;
    const ttl = input.ttl === undefined ? 1 : Number(input.ttl);
    if (!(ttl === 1 || (Number.isInteger(ttl) && ttl >= 60 && ttl <= 86400))) {
      throw new HttpError(400, [
        {
          code: 1004,
          message: "DNS Validation Error",
          error_chain: [
            {
              code: 9021,
              message: "Invalid TTL. Must be between 60 and 86,400 seconds, or 1 for Automatic.",
            },
          ],
        },
      ]);
    }
    let content = input.content;
    if (input.type === "TXT" && this.options.quoteTxt === true && !content.trim().startsWith('"'))
      content = `"${content}"`;
    const value = input.type === "TXT" ? unquoteTxt(content) : content;
    if (
      zone.records.some(
        (r) =>
          r.type === input.type &&
          r.name === name &&
          (r.type === "TXT" ? unquoteTxt(r.content) : r.content) === value,
      )
    ) {
      throw new HttpError(400, [{ code: 81058, message: "An identical record already exists." }]);
    }
    if (this.options.recordQuota !== undefined && zone.records.length >= this.options.recordQuota) {
      throw new HttpError(400, [{ code: 81045, message: "Record quota exceeded." }]);
    }
    const comment = typeof input.comment === "string" ? input.comment : null;
    const record = this.newRecord(zone, name, input.type, content, ttl, comment);
    zone.records.push(record);
    if (record.type === "TXT") {
      try {
        await this.backend.add(name, zone.name, value);
      } catch (err) {
        zone.records.splice(zone.records.indexOf(record), 1);
        throw new HttpError(500, [{ code: 10001, message: `publishing failed: ${String(err)}` }]);
      }
    }
    return record;
  }

  private async deleteRecord(zone: Zone, id: string): Promise<{ id: string }> {
    const i = zone.records.findIndex((r) => r.id === id);
    const record = i < 0 ? undefined : zone.records[i];
    if (record === undefined) throw new HttpError(404, [{ code: 81044, message: "Record does not exist." }]);
    zone.records.splice(i, 1);
    const value = unquoteTxt(record.content);
    // Two API records may stand for one DNS value (one quoted, one bare): unpublish with the last.
    const stillThere = zone.records.some(
      (r) => r.type === "TXT" && r.name === record.name && unquoteTxt(r.content) === value,
    );
    if (record.type === "TXT" && !stillThere) await this.backend.remove(record.name, zone.name, value);
    return { id };
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function authKind(req: IncomingMessage): "token" | "key" | "none" {
  if (req.headers.authorization !== undefined) return "token";
  if (header(req, "x-auth-key") !== undefined) return "key";
  return "none";
}
