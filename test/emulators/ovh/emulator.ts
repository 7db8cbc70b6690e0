/**
 * An OVHcloud API v1 emulator for tests, written from the public API reference: `GET /auth/time`;
 * the `/domain/zone/{zone}/record` routes (list IDs by fieldType and subDomain, read, create,
 * delete) and `POST /domain/zone/{zone}/refresh`, which alone moves records into the served zone
 * (the DnsBackend, the rig's BIND in e2e); signed calls (X-Ovh-Application, -Consumer, -Timestamp,
 * -Signature checked against the server's own clock, which may be set off by `skewSeconds`) with
 * consumer-key access rules (`{method, path}` with `*`), OAuth2 client credentials at
 * `/auth/oauth2/token` with bearer tokens; OVH's `{errorCode, httpCode, message}` errors and a
 * per-minute 429. It counts requests per route and takes injected faults.
 */
import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ovhSignature } from "../../../src/solvers/ovh/ovh.js";
import { noBackend, type DnsBackend } from "../bind-backend.js";
import { readBody, retryAfter, RouteEmulator, sendJson } from "../http-emulator.js";

/** An access rule of a consumer key or service account: a method and a path pattern (`*` any run). */
export interface AccessRule {
  readonly method: string;
  readonly path: string;
}

/** An application and one of its validated consumer keys. */
export interface EmulatedConsumer {
  readonly applicationKey: string;
  readonly applicationSecret: string;
  readonly consumerKey: string;
  /** Default: GET, POST, DELETE on /domain/zone/* */
  readonly rules?: readonly AccessRule[];
}

/** An OAuth2 service account. */
export interface EmulatedServiceAccount {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly rules?: readonly AccessRule[];
  /** Lifetime of its tokens in seconds; default 3600. */
  readonly tokenSeconds?: number;
}

/** How to set an emulator up. */
export interface OvhEmulatorOptions {
  readonly consumers?: readonly EmulatedConsumer[];
  readonly serviceAccounts?: readonly EmulatedServiceAccount[];
  readonly zones?: readonly string[];
  readonly backend?: DnsBackend;
  /** The server's clock minus the real one, in seconds. */
  readonly skewSeconds?: number;
  /** Requests per minute per credential before 429; default 600. */
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

interface ZoneRecord {
  id: number;
  zone: string;
  fieldType: string;
  subDomain: string;
  target: string;
  ttl: number;
}

interface Zone {
  records: ZoneRecord[];
  /** What the served zone holds: TXT values by fqdn as of the last refresh. */
  served: Set<string>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const HTTP_TEXT: Record<number, string> = {
  400: "400 Bad Request",
  401: "401 Unauthorized",
  403: "403 Forbidden",
  404: "404 Not Found",
  429: "429 Too Many Requests",
  500: "500 Internal Server Error",
  503: "503 Service Unavailable",
};

const DEFAULT_RULES: readonly AccessRule[] = [
  { method: "GET", path: "/domain/zone/*" },
  { method: "POST", path: "/domain/zone/*" },
  { method: "DELETE", path: "/domain/zone/*" },
];

function lower(name: string): string {
  return (name.endsWith(".") ? name.slice(0, -1) : name).toLowerCase();
}

function errorBody(status: number, code: string, message: string): unknown {
  return {
    class: `Client::${code}`,
    errorCode: code,
    httpCode: HTTP_TEXT[status] ?? String(status),
    message,
  };
}

function matches(rule: AccessRule, method: string, path: string): boolean {
  if (rule.method !== method) return false;
  const re = new RegExp(
    `^${rule.path
      .split("*")
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`,
  );
  return re.test(path);
}

/** The emulator: start it, point the solver at `apiUrl`, inspect `calls`, `values()` and `served()`. */
export class OvhEmulator extends RouteEmulator<Fault> {
  private readonly zones = new Map<string, Zone>();
  private readonly consumers = new Map<string, EmulatedConsumer>();
  private readonly accounts = new Map<string, EmulatedServiceAccount>();
  private readonly tokens = new Map<string, { account: EmulatedServiceAccount; expiresAt: number }>();
  private readonly history = new Map<string, number[]>();
  private readonly backend: DnsBackend;
  private nextId = 5_000_000;

  constructor(private readonly options: OvhEmulatorOptions = {}) {
    super();
    this.backend = options.backend ?? noBackend();
    for (const c of options.consumers ?? []) this.consumers.set(c.consumerKey, c);
    for (const a of options.serviceAccounts ?? []) this.accounts.set(a.clientId, a);
    for (const z of options.zones ?? ["example.test", "second.test"]) {
      this.zones.set(lower(z), { records: [], served: new Set() });
    }
  }

  /** The API root to point the solver at (…/1.0). */
  get apiUrl(): string {
    return `${this.url}/1.0`;
  }

  /** The OAuth2 token endpoint. */
  get tokenUrl(): string {
    return `${this.url}/auth/oauth2/token`;
  }

  /** Expires every bearer token issued so far (a token endpoint restart, a revocation). */
  expireTokens(): void {
    this.tokens.clear();
  }

  /** The TXT values the API holds at `fqdn` (refreshed or not). */
  values(fqdn: string): string[] {
    const name = lower(fqdn);
    const out: string[] = [];
    for (const [zone, z] of this.zones) {
      for (const r of z.records)
        if (r.fieldType === "TXT" && fqdnOf(r.subDomain, zone) === name) out.push(r.target);
    }
    return out;
  }

  /** The TXT values the served zone holds at `fqdn` (as of the last refresh). */
  served(fqdn: string): string[] {
    const name = lower(fqdn);
    const out: string[] = [];
    for (const z of this.zones.values()) {
      for (const k of z.served) {
        const [n = "", v = ""] = k.split("\n");
        if (n === name) out.push(v);
      }
    }
    return out;
  }

  protected internalError(res: ServerResponse, err: unknown): void {
    sendJson(res, 500, errorBody(500, "INTERNAL_ERROR", String(err)));
  }

  private routeOf(method: string, path: string): { key: string; params: string[] } {
    const parts = path.split("/").filter((p) => p !== "");
    if (parts[0] === "1.0" && parts[1] === "domain" && parts[2] === "zone" && parts.length >= 5) {
      const zone = decodeURIComponent(parts[3] ?? "");
      if (parts[4] === "record" && parts.length === 5)
        return { key: `${method} /domain/zone/:zone/record`, params: [zone] };
      if (parts[4] === "record" && parts.length === 6)
        return { key: `${method} /domain/zone/:zone/record/:id`, params: [zone, parts[5] ?? ""] };
      if (parts[4] === "refresh" && parts.length === 5)
        return { key: `${method} /domain/zone/:zone/refresh`, params: [zone] };
    }
    if (path === "/1.0/auth/time") return { key: `${method} /auth/time`, params: [] };
    if (path === "/auth/oauth2/token") return { key: `${method} /auth/oauth2/token`, params: [] };
    return { key: `${method} ${path}`, params: [] };
  }

  private serverNow(): number {
    return Math.floor(Date.now() / 1000) + (this.options.skewSeconds ?? 0);
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const method = req.method ?? "GET";
    const route = this.routeOf(method, url.pathname);
    this.counts.count(route.key);
    const body = await readBody(req);
    const fault = this.faults.take(route.key);
    if (fault !== undefined) {
      const code = fault.status === 429 ? "TOO_MANY_REQUESTS" : "INTERNAL_ERROR";
      sendJson(
        res,
        fault.status,
        fault.body ??
          errorBody(fault.status, code, fault.status === 429 ? "Too many requests" : "Internal server error"),
        {
          headers: retryAfter(fault.retryAfter),
        },
      );
      return;
    }
    try {
      if (route.key === "GET /auth/time") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(String(this.serverNow()));
        return;
      }
      if (route.key === "POST /auth/oauth2/token") {
        this.token(body, res);
        return;
      }
      const who = this.authenticate(req, method, `${this.url}${req.url ?? ""}`, body);
      this.throttle(who.id);
      // Access rules are matched against the path without /1.0 and without the query.
      const apiPath = url.pathname.replace(/^\/1\.0/, "");
      if (!who.rules.some((r) => matches(r, method, apiPath))) {
        throw new HttpError(403, "NOT_GRANTED_CALL", "This call has not been granted");
      }
      const { status, result } = await this.dispatch(route, url, body);
      sendJson(res, status, result);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      sendJson(res, err.status, errorBody(err.status, err.code, err.message));
    }
  }

  private token(body: string, res: ServerResponse): void {
    const form = new URLSearchParams(body);
    const account = this.accounts.get(form.get("client_id") ?? "");
    if (form.get("grant_type") !== "client_credentials") {
      sendJson(res, 400, {
        error: "unsupported_grant_type",
        error_description: "grant_type must be client_credentials",
      });
      return;
    }
    if (account?.clientSecret !== form.get("client_secret")) {
      sendJson(res, 401, { error: "invalid_client", error_description: "Invalid client credentials" });
      return;
    }
    const token = `eyJ${randomBytes(24).toString("base64url")}`;
    const seconds = account.tokenSeconds ?? 3600;
    this.tokens.set(token, { account, expiresAt: Date.now() + seconds * 1000 });
    sendJson(res, 200, { access_token: token, token_type: "Bearer", expires_in: seconds, scope: "all" });
  }

  private authenticate(
    req: IncomingMessage,
    method: string,
    fullUrl: string,
    body: string,
  ): { id: string; rules: readonly AccessRule[] } {
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "");
    if (bearer !== null) {
      const t = this.tokens.get(bearer[1] ?? "");
      if (t === undefined || t.expiresAt <= Date.now())
        throw new HttpError(401, "INVALID_TOKEN", "Invalid or expired token");
      return { id: `sa:${t.account.clientId}`, rules: t.account.rules ?? DEFAULT_RULES };
    }
    const header = (n: string): string => {
      const v = req.headers[n];
      return typeof v === "string" ? v : "";
    };
    const ak = header("x-ovh-application");
    const ck = header("x-ovh-consumer");
    if (ak === "") throw new HttpError(401, "MISSING_APPLICATION_KEY", "You must provide an application key");
    const consumer = this.consumers.get(ck);
    if (consumer?.applicationKey !== ak) {
      throw new HttpError(403, "INVALID_CREDENTIAL", "This credential does not exist");
    }
    const ts = Number(header("x-ovh-timestamp"));
    if (!Number.isInteger(ts) || Math.abs(ts - this.serverNow()) > 30) {
      throw new HttpError(400, "QUERY_TIME_OUT", "Query out of time");
    }
    const expected = ovhSignature(consumer.applicationSecret, ck, method, fullUrl, body, ts);
    if (header("x-ovh-signature") !== expected)
      throw new HttpError(400, "INVALID_SIGNATURE", "Invalid signature");
    return {
      id: `ck:${createHash("sha256").update(ck).digest("hex").slice(0, 8)}`,
      rules: consumer.rules ?? DEFAULT_RULES,
    };
  }

  private throttle(id: string): void {
    const now = Date.now();
    const times = (this.history.get(id) ?? []).filter((t) => t > now - 60_000);
    if (times.length >= (this.options.perMinute ?? 600))
      throw new HttpError(429, "TOO_MANY_REQUESTS", "Too many requests");
    times.push(now);
    this.history.set(id, times);
  }

  private async dispatch(
    route: { key: string; params: string[] },
    url: URL,
    body: string,
  ): Promise<{ status: number; result: unknown }> {
    const [zoneName = "", id = ""] = route.params;
    if (route.params.length === 0) throw new HttpError(404, "NOT_FOUND", "Got an invalid (or empty) URL");
    const zone = this.zones.get(lower(zoneName));
    if (zone === undefined) throw new HttpError(404, "NOT_FOUND", `This service does not exist`);
    switch (route.key) {
      case "GET /domain/zone/:zone/record": {
        const type = url.searchParams.get("fieldType");
        const sub = url.searchParams.get("subDomain");
        const ids = zone.records
          .filter(
            (r) =>
              (type === null || r.fieldType === type) && (sub === null || r.subDomain === sub.toLowerCase()),
          )
          .map((r) => r.id);
        return { status: 200, result: ids };
      }
      case "GET /domain/zone/:zone/record/:id": {
        const r = zone.records.find((x) => x.id === Number(id));
        if (r === undefined)
          throw new HttpError(404, "NOT_FOUND", `The requested object (id = ${id}) does not exist`);
        return { status: 200, result: r };
      }
      case "POST /domain/zone/:zone/record": {
        const input = parse(body) as {
          fieldType?: unknown;
          subDomain?: unknown;
          target?: unknown;
          ttl?: unknown;
        };
        if (typeof input.fieldType !== "string" || typeof input.target !== "string" || input.target === "") {
          throw new HttpError(400, "INVALID_PARAMETER", "Missing parameter(s): fieldType, target");
        }
        const ttl = input.ttl === undefined ? 0 : Number(input.ttl);
        if (!Number.isInteger(ttl) || (ttl !== 0 && ttl < 60))
          throw new HttpError(400, "INVALID_PARAMETER", "Invalid ttl");
        const record: ZoneRecord = {
          id: this.nextId++,
          zone: lower(zoneName),
          fieldType: input.fieldType,
          subDomain: typeof input.subDomain === "string" ? input.subDomain.toLowerCase() : "",
          target: input.target,
          ttl,
        };
        zone.records.push(record);
        return { status: 200, result: record };
      }
      case "DELETE /domain/zone/:zone/record/:id": {
        const i = zone.records.findIndex((x) => x.id === Number(id));
        if (i < 0) throw new HttpError(404, "NOT_FOUND", `The requested object (id = ${id}) does not exist`);
        zone.records.splice(i, 1);
        return { status: 200, result: null };
      }
      case "POST /domain/zone/:zone/refresh":
        await this.refresh(lower(zoneName), zone);
        return { status: 200, result: null };
      default:
        throw new HttpError(404, "NOT_FOUND", "Got an invalid (or empty) URL");
    }
  }

  /** Publishes the zone as it is now: what is new goes to the backend, what went is removed. */
  private async refresh(name: string, zone: Zone): Promise<void> {
    const now = new Set(
      zone.records
        .filter((r) => r.fieldType === "TXT")
        .map((r) => `${fqdnOf(r.subDomain, name)}\n${r.target}`),
    );
    for (const k of now) {
      if (zone.served.has(k)) continue;
      const [fqdn = "", value = ""] = k.split("\n");
      await this.backend.add(fqdn, name, value);
      zone.served.add(k);
    }
    for (const k of [...zone.served]) {
      if (now.has(k)) continue;
      const [fqdn = "", value = ""] = k.split("\n");
      await this.backend.remove(fqdn, name, value);
      zone.served.delete(k);
    }
  }
}

function fqdnOf(sub: string, zone: string): string {
  return sub === "" ? zone : `${sub}.${zone}`;
}

function parse(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new HttpError(400, "INVALID_BODY", "Invalid JSON body");
  }
}
