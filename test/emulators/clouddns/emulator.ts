/**
 * A Google Cloud DNS emulator, written from the public REST reference (dns/v1: managedZones.list,
 * managedZones.get, resourceRecordSets.list, changes.create, changes.get) and Google's OAuth 2.0
 * service-account flow (a JWT assertion signed with the key, exchanged at the token endpoint). It
 * checks access tokens, answers with Google's error body shape, pages lists with `nextPageToken`,
 * applies changes atomically with Cloud DNS's preconditions (a deletion must match the record set
 * exactly: 412 `conditionNotMet` / 404 `notFound`; an addition must not exist: 409
 * `alreadyExists`), enforces per-rrset quotas (403 `quotaExceeded`), can be told to fail the next
 * requests (429 with Retry-After, 5xx, 403), counts requests per operation, and writes the TXT
 * values it holds through to a DnsBackend (the rig's BIND) so that Pebble can validate them.
 */
import { createPublicKey, createVerify, randomBytes, type KeyObject } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { noBackend, type DnsBackend } from "../bind-backend.js";
import { FaultQueue, LocalServer, readBody, RequestCounter, retryAfter, sendJson } from "../http-emulator.js";

/** The API operations the emulator serves, as Google names them; `token` is the OAuth endpoint. */
export type CloudDnsOperation =
  | "token"
  | "metadata.instance"
  | "metadata.token"
  | "managedZones.list"
  | "managedZones.get"
  | "resourceRecordSets.list"
  | "changes.create"
  | "changes.get";

/** One resource record set, as the API shows it. */
export interface ResourceRecordSet {
  readonly name: string;
  readonly type: string;
  readonly ttl: number;
  readonly rrdatas: readonly string[];
}

/** A fault to answer instead of serving: the next `count` matching requests get it. */
export interface CloudDnsFault {
  readonly status: number;
  readonly count?: number;
  /** Only requests of this operation; any operation when absent. */
  readonly operation?: CloudDnsOperation;
  /** Sent as the Retry-After header (seconds). */
  readonly retryAfterSeconds?: number;
  readonly message?: string;
  /** Google's `errors[].reason`, e.g. `rateLimitExceeded`, `forbidden`. */
  readonly reason?: string;
}

/** Settings of one emulator. */
export interface CloudDnsEmulatorOptions {
  /** Where TXT values are published (the rig's BIND in integration and e2e tests). */
  readonly backend?: DnsBackend;
  /** The most items one list page holds, whatever maxResults asks (to exercise paging). */
  readonly pageSize?: number;
  /** Records per rrset; Cloud DNS's limit is 100. */
  readonly maxRrdatasPerRrset?: number;
}

interface Zone {
  readonly project: string;
  readonly name: string;
  readonly dnsName: string;
  readonly id: string;
  readonly visibility: "public" | "private";
  readonly creationTime: string;
  readonly rrsets: Map<string, ResourceRecordSet>;
  readonly changes: object[];
  /** Serializes changes, so that validation and commit see one state. */
  lock: Promise<void>;
}

interface Account {
  readonly email: string;
  readonly publicKey: KeyObject;
  readonly projects: Set<string>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const GOOGLE_STATUS: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ALREADY_EXISTS",
  412: "FAILED_PRECONDITION",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  502: "UNAVAILABLE",
  503: "UNAVAILABLE",
};

const DEFAULT_REASON: Record<number, string> = {
  401: "authError",
  403: "forbidden",
  429: "rateLimitExceeded",
  500: "backendError",
  502: "backendError",
  503: "backendError",
};

const DEFAULT_MESSAGE: Record<number, string> = {
  401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
  403: "Forbidden",
  429: "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of service 'dns.googleapis.com'.",
  500: "Internal Error",
  502: "Bad Gateway",
  503: "The service is currently unavailable.",
};

const DNS_SCOPES = [
  "https://www.googleapis.com/auth/ndev.clouddns.readwrite",
  "https://www.googleapis.com/auth/cloud-platform",
];

const key = (name: string, type: string) => `${name} ${type}`;
const fqdn = (name: string) => (name.endsWith(".") ? name : `${name}.`).toLowerCase();

/** Quotes a TXT rrdata as Cloud DNS stores it (a quoted character-string) unless it already is. */
export function normalizeTxt(rrdata: string): string {
  return rrdata.startsWith('"') ? rrdata : `"${rrdata.replace(/(["\\])/g, "\\$1")}"`;
}

/** The text of a TXT rrdata: its quoted character-strings unquoted and joined. */
export function txtText(rrdata: string): string {
  if (!rrdata.startsWith('"')) return rrdata;
  let out = "";
  for (const m of rrdata.matchAll(/"((?:[^"\\]|\\.)*)"/g)) out += (m[1] ?? "").replace(/\\(.)/g, "$1");
  return out;
}

function sameRrset(a: ResourceRecordSet, b: ResourceRecordSet): boolean {
  const norm = (r: ResourceRecordSet) =>
    [...r.rrdatas].map((d) => (r.type === "TXT" ? normalizeTxt(d) : d)).sort();
  return a.ttl === b.ttl && JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}

function b64urlJson(part: string): Record<string, unknown> {
  const v: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  if (typeof v !== "object" || v === null) throw new Error("not an object");
  return v as Record<string, unknown>;
}

/** See the file comment. Start with `start()`, stop with `stop()`. */
export class CloudDnsEmulator {
  private readonly http = new LocalServer(
    (req, res) => this.handle(req, res),
    (res, err) => {
      this.send(res, 500, { error: { code: 500, message: String(err) } });
    },
  );
  private baseUrl = "";
  private readonly zones: Zone[] = [];
  private readonly accounts = new Map<string, Account>();
  private readonly tokens = new Map<string, { email: string; expiresAt: number }>();
  private readonly faults = new FaultQueue<CloudDnsFault>((f) => f.operation);
  private readonly counts = new RequestCounter<CloudDnsOperation>();
  private readonly backend: DnsBackend;
  private nextChangeHook: (() => Promise<void> | void) | undefined;
  private metadataAccount: string | undefined;
  /** Every served request in order: operation, status and the service account that made it. */
  readonly log: { operation: CloudDnsOperation; status: number; account?: string }[] = [];

  constructor(private readonly opts: CloudDnsEmulatorOptions = {}) {
    this.backend = opts.backend ?? noBackend();
  }

  /** Listens on 127.0.0.1 (a free port by default) and returns the base URL, e.g. `http://127.0.0.1:4321`. */
  async start(port = 0): Promise<string> {
    this.baseUrl = await this.http.start(port);
    return this.baseUrl;
  }

  /** Stops listening and closes idle keep-alive connections. */
  async stop(): Promise<void> {
    await this.http.stop();
  }

  /** The base URL the SDK is pointed at (it appends `/dns/v1`). */
  get url(): string {
    return this.baseUrl;
  }

  /** The OAuth 2.0 token endpoint, for a service-account key's `token_uri`. */
  get tokenUri(): string {
    return `${this.baseUrl}/token`;
  }

  /** Adds a managed zone with its apex SOA and NS record sets. */
  addZone(z: { project: string; name: string; dnsName: string; visibility?: "public" | "private" }): void {
    const dnsName = fqdn(z.dnsName);
    const zone: Zone = {
      project: z.project,
      name: z.name,
      dnsName,
      id: String(1000000000000000000n + BigInt(`0x${randomBytes(6).toString("hex")}`)),
      visibility: z.visibility ?? "public",
      creationTime: new Date().toISOString(),
      rrsets: new Map(),
      changes: [],
      lock: Promise.resolve(),
    };
    zone.rrsets.set(key(dnsName, "NS"), {
      name: dnsName,
      type: "NS",
      ttl: 21600,
      rrdatas: ["ns-cloud-a1.googledomains.com.", "ns-cloud-a2.googledomains.com."],
    });
    zone.rrsets.set(key(dnsName, "SOA"), {
      name: dnsName,
      type: "SOA",
      ttl: 21600,
      rrdatas: ["ns-cloud-a1.googledomains.com. cloud-dns-hostmaster.google.com. 1 21600 3600 259200 300"],
    });
    this.zones.push(zone);
  }

  /** Registers a service account (its public key) with DNS admin rights on `projects`. */
  addServiceAccount(a: { email: string; publicKeyPem: string; projects: readonly string[] }): void {
    this.accounts.set(a.email, {
      email: a.email,
      publicKey: createPublicKey(a.publicKeyPem),
      projects: new Set(a.projects),
    });
  }

  /** Deletes a service account (as deleting its key would): its tokens stop working at once. */
  removeServiceAccount(email: string): void {
    this.accounts.delete(email);
    for (const [t, v] of this.tokens) if (v.email === email) this.tokens.delete(t);
  }

  /**
   * Serves the GCE / GKE metadata server's token endpoint (`GCE_METADATA_HOST` pointing here) for
   * this service account, as GKE Workload Identity does for a pod's Google service account.
   */
  serveMetadataFor(email: string): void {
    this.metadataAccount = email;
  }

  /** Answers the next matching requests with a fault instead of serving them. */
  failNext(fault: CloudDnsFault): void {
    this.faults.push(fault, fault.count ?? 1);
  }

  /** Runs `hook` once, just before the next changes.create is checked: a concurrent writer's moment. */
  beforeNextChange(hook: () => Promise<void> | void): void {
    this.nextChangeHook = hook;
  }

  /** Requests served per operation (faults included), or of one operation. */
  calls(): Record<string, number>;
  calls(operation: CloudDnsOperation): number;
  calls(operation?: CloudDnsOperation): number | Record<string, number> {
    if (operation !== undefined) return this.counts.get(operation);
    return this.counts.sorted();
  }

  /** Forgets the request counts and log. */
  resetCalls(): void {
    this.counts.reset();
    this.log.length = 0;
  }

  /** The record set `name`/`type` of a zone, as stored. */
  rrset(zoneName: string, name: string, type = "TXT"): ResourceRecordSet | undefined {
    return this.zones.find((z) => z.name === zoneName)?.rrsets.get(key(fqdn(name), type));
  }

  /** The TXT values at `name` in a zone, unquoted. */
  txtValues(zoneName: string, name: string): string[] {
    return (this.rrset(zoneName, name)?.rrdatas ?? []).map(txtText);
  }

  /**
   * Writes a record set directly (as another client of the API would), publishing TXT changes to
   * the backend; `rrdatas` empty deletes it.
   */
  async putRrset(zoneName: string, rrset: ResourceRecordSet): Promise<void> {
    const zone = this.zones.find((z) => z.name === zoneName);
    if (!zone) throw new Error(`no zone ${zoneName}`);
    const name = fqdn(rrset.name);
    const before = zone.rrsets.get(key(name, rrset.type));
    const after =
      rrset.rrdatas.length === 0
        ? undefined
        : {
            ...rrset,
            name,
            rrdatas: rrset.type === "TXT" ? rrset.rrdatas.map(normalizeTxt) : rrset.rrdatas,
          };
    await this.publish(zone, before ? [before] : [], after ? [after] : []);
    if (after) zone.rrsets.set(key(name, rrset.type), after);
    else zone.rrsets.delete(key(name, rrset.type));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.baseUrl);
    const route = this.route(req.method ?? "GET", url.pathname);
    if (!route) {
      this.send(res, 404, { error: { code: 404, message: `Not Found: ${req.method} ${url.pathname}` } });
      return;
    }
    this.counts.count(route.operation);
    const body = await readBody(req);
    let account: string | undefined;
    try {
      this.injectFault(route.operation);
      if (route.operation === "token") {
        this.send(res, 200, this.token(body));
        this.log.push({ operation: "token", status: 200 });
        return;
      }
      if (route.operation === "metadata.instance" || route.operation === "metadata.token") {
        this.metadata(req, res, route.operation);
        return;
      }
      account = this.authenticate(req, route.params["project"] ?? "");
      const result = await this.serve(route.operation, route.params, url.searchParams, body);
      this.send(res, 200, result);
      this.log.push({ operation: route.operation, status: 200, account });
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      this.log.push({ operation: route.operation, status: err.status, ...(account ? { account } : {}) });
      if (route.operation === "token") {
        // The token endpoint answers in OAuth 2.0's error shape (RFC 6749 section 5.2).
        this.send(res, err.status, { error: err.reason, error_description: err.message }, err.headers);
        return;
      }
      this.send(
        res,
        err.status,
        {
          error: {
            code: err.status,
            message: err.message,
            errors: [{ message: err.message, domain: "global", reason: err.reason }],
            status: GOOGLE_STATUS[err.status] ?? "UNKNOWN",
          },
        },
        err.headers,
      );
    }
  }

  private route(
    method: string,
    path: string,
  ): { operation: CloudDnsOperation; params: Record<string, string> } | undefined {
    if (method === "POST" && path === "/token") return { operation: "token", params: {} };
    if (method === "GET" && path === "/computeMetadata/v1/instance")
      return { operation: "metadata.instance", params: {} };
    if (method === "GET" && path === "/computeMetadata/v1/instance/service-accounts/default/token") {
      return { operation: "metadata.token", params: {} };
    }
    const m =
      /^\/dns\/v1\/projects\/([^/]+)\/managedZones(?:\/([^/]+)(?:\/(rrsets|changes)(?:\/([^/]+))?)?)?$/.exec(
        path,
      );
    if (!m) return undefined;
    const [, project = "", zone, sub, id] = m;
    const params: Record<string, string> = { project: decodeURIComponent(project) };
    if (zone !== undefined) params["zone"] = decodeURIComponent(zone);
    if (id !== undefined) params["id"] = decodeURIComponent(id);
    if (zone === undefined) return method === "GET" ? { operation: "managedZones.list", params } : undefined;
    if (sub === undefined) return method === "GET" ? { operation: "managedZones.get", params } : undefined;
    if (sub === "rrsets")
      return method === "GET" && id === undefined
        ? { operation: "resourceRecordSets.list", params }
        : undefined;
    if (id === undefined) return method === "POST" ? { operation: "changes.create", params } : undefined;
    return method === "GET" ? { operation: "changes.get", params } : undefined;
  }

  private injectFault(operation: CloudDnsOperation): void {
    const fault = this.faults.take(operation);
    if (!fault) return;
    throw new HttpError(
      fault.status,
      fault.reason ?? DEFAULT_REASON[fault.status] ?? "error",
      fault.message ?? DEFAULT_MESSAGE[fault.status] ?? "Error",
      retryAfter(fault.retryAfterSeconds),
    );
  }

  /** The OAuth 2.0 JWT-bearer grant (RFC 7523) as Google's token endpoint serves it. */
  private token(body: string): object {
    const form = new URLSearchParams(body);
    if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") {
      throw new HttpError(
        400,
        "unsupported_grant_type",
        "Invalid grant_type: " + (form.get("grant_type") ?? ""),
      );
    }
    const [h, p, s] = (form.get("assertion") ?? "").split(".");
    if (h === undefined || p === undefined || s === undefined) {
      throw new HttpError(400, "invalid_request", "Invalid JWT: malformed assertion.");
    }
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = b64urlJson(h);
      claims = b64urlJson(p);
    } catch {
      throw new HttpError(400, "invalid_request", "Invalid JWT: malformed assertion.");
    }
    const account = typeof claims["iss"] === "string" ? this.accounts.get(claims["iss"]) : undefined;
    if (!account) throw new HttpError(400, "invalid_grant", "Invalid grant: account not found");
    const verify = createVerify("RSA-SHA256");
    verify.update(`${h}.${p}`);
    if (header["alg"] !== "RS256" || !verify.verify(account.publicKey, Buffer.from(s, "base64url"))) {
      throw new HttpError(400, "invalid_grant", "Invalid JWT Signature.");
    }
    const now = Math.floor(Date.now() / 1000);
    const iat = Number(claims["iat"]);
    const exp = Number(claims["exp"]);
    if (!(iat <= now + 300 && exp > now && exp - iat <= 3600)) {
      throw new HttpError(
        400,
        "invalid_grant",
        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
      );
    }
    const aud = claims["aud"];
    if (aud !== "https://oauth2.googleapis.com/token" && aud !== this.tokenUri) {
      throw new HttpError(400, "invalid_grant", "Invalid JWT: Failed audience check.");
    }
    const scopes = (typeof claims["scope"] === "string" ? claims["scope"] : "").split(" ");
    if (!scopes.some((sc) => DNS_SCOPES.includes(sc))) {
      throw new HttpError(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.");
    }
    const accessToken = `ya29.${randomBytes(24).toString("base64url")}`;
    this.tokens.set(accessToken, { email: account.email, expiresAt: Date.now() + 3600_000 });
    return { access_token: accessToken, expires_in: 3599, token_type: "Bearer" };
  }

  /** The metadata server: only with `Metadata-Flavor: Google`, and only when serving an account. */
  private metadata(req: IncomingMessage, res: ServerResponse, operation: CloudDnsOperation): void {
    const email = this.metadataAccount;
    const flavor = { "metadata-flavor": "Google" };
    if (req.headers["metadata-flavor"] !== "Google" || email === undefined) {
      res.writeHead(email === undefined ? 404 : 403, flavor).end();
      this.log.push({ operation, status: email === undefined ? 404 : 403 });
      return;
    }
    if (operation === "metadata.instance") {
      res
        .writeHead(200, { ...flavor, "content-type": "application/text" })
        .end("attributes/\nid\nservice-accounts/\n");
    } else {
      const accessToken = `ya29.md.${randomBytes(24).toString("base64url")}`;
      this.tokens.set(accessToken, { email, expiresAt: Date.now() + 3600_000 });
      this.send(res, 200, { access_token: accessToken, expires_in: 3599, token_type: "Bearer" }, flavor);
    }
    this.log.push({ operation, status: 200, account: email });
  }

  private authenticate(req: IncomingMessage, project: string): string {
    const m = /^Bearer (.+)$/i.exec(req.headers.authorization ?? "");
    const t = m?.[1] === undefined ? undefined : this.tokens.get(m[1]);
    if (!t || t.expiresAt < Date.now()) {
      throw new HttpError(401, "authError", DEFAULT_MESSAGE[401] ?? "", {
        "www-authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"',
      });
    }
    const account = this.accounts.get(t.email);
    if (!account?.projects.has(project)) throw new HttpError(403, "forbidden", "Forbidden");
    return account.email;
  }

  private zone(project: string, name: string): Zone {
    const zone = this.zones.find((z) => z.project === project && z.name === name);
    if (!zone) {
      throw new HttpError(
        404,
        "notFound",
        `The 'parameters.managedZone' resource named '${name}' does not exist.`,
      );
    }
    return zone;
  }

  private async serve(
    operation: CloudDnsOperation,
    params: Record<string, string>,
    query: URLSearchParams,
    body: string,
  ): Promise<object> {
    const project = params["project"] ?? "";
    switch (operation) {
      case "managedZones.list": {
        const dnsName = query.get("dnsName");
        const zones = this.zones.filter(
          (z) => z.project === project && (dnsName === null || z.dnsName === fqdn(dnsName)),
        );
        const page = this.page(zones, query);
        return {
          kind: "dns#managedZonesListResponse",
          managedZones: page.items.map((z) => this.zoneJson(z)),
          ...(page.next === undefined ? {} : { nextPageToken: page.next }),
        };
      }
      case "managedZones.get":
        return this.zoneJson(this.zone(project, params["zone"] ?? ""));
      case "resourceRecordSets.list": {
        const zone = this.zone(project, params["zone"] ?? "");
        const name = query.get("name");
        const type = query.get("type");
        if (type !== null && name === null) {
          throw new HttpError(400, "invalid", "Invalid value for 'parameters.name': ''");
        }
        const all = [...zone.rrsets.values()]
          .filter((r) => (name === null || r.name === fqdn(name)) && (type === null || r.type === type))
          .sort((a, b) => a.name.localeCompare(b.name) || a.type.localeCompare(b.type));
        const page = this.page(all, query);
        return {
          kind: "dns#resourceRecordSetsListResponse",
          rrsets: page.items.map((r) => ({ kind: "dns#resourceRecordSet", ...r })),
          ...(page.next === undefined ? {} : { nextPageToken: page.next }),
        };
      }
      case "changes.create":
        return this.createChange(this.zone(project, params["zone"] ?? ""), body);
      case "changes.get": {
        const zone = this.zone(project, params["zone"] ?? "");
        const change = zone.changes.find((c) => (c as { id: string }).id === params["id"]);
        if (!change) {
          throw new HttpError(
            404,
            "notFound",
            `The 'parameters.changeId' resource named '${params["id"] ?? ""}' does not exist.`,
          );
        }
        return change;
      }
      case "token":
      case "metadata.instance":
      case "metadata.token":
        throw new Error(`${operation} is served before authentication`);
    }
  }

  private page<T>(items: readonly T[], query: URLSearchParams): { items: T[]; next?: string } {
    const start = Number(Buffer.from(query.get("pageToken") ?? "", "base64url").toString() || "0");
    const asked = Number(query.get("maxResults") ?? "0") || 1000;
    const size = Math.min(asked, this.opts.pageSize ?? 1000);
    const end = start + size;
    return {
      items: items.slice(start, end),
      ...(end < items.length ? { next: Buffer.from(String(end)).toString("base64url") } : {}),
    };
  }

  private zoneJson(z: Zone): object {
    return {
      kind: "dns#managedZone",
      name: z.name,
      dnsName: z.dnsName,
      id: z.id,
      description: "",
      visibility: z.visibility,
      creationTime: z.creationTime,
      nameServers: ["ns-cloud-a1.googledomains.com.", "ns-cloud-a2.googledomains.com."],
    };
  }

  private async createChange(zone: Zone, body: string): Promise<object> {
    const previous = zone.lock;
    let release: (() => void) | undefined;
    zone.lock = new Promise<void>((r) => {
      release = r;
    });
    await previous;
    try {
      const hook = this.nextChangeHook;
      this.nextChangeHook = undefined;
      if (hook) await hook();
      return await this.applyChange(zone, body);
    } finally {
      release?.();
    }
  }

  private async applyChange(zone: Zone, body: string): Promise<object> {
    let parsed: { additions?: unknown; deletions?: unknown };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      throw new HttpError(400, "parseError", "Parse Error");
    }
    const additions = this.rrsetList(zone, parsed.additions, "additions");
    const deletions = this.rrsetList(zone, parsed.deletions, "deletions");
    if (additions.length === 0 && deletions.length === 0) {
      throw new HttpError(400, "required", "The 'entity.change' parameter is required but was missing.");
    }
    const next = new Map(zone.rrsets);
    deletions.forEach((d, i) => {
      const current = next.get(key(d.name, d.type));
      const label = `'entity.change.deletions[${i}]'`;
      if (!current) {
        throw new HttpError(
          404,
          "notFound",
          `The ${label} resource named '${d.name} (${d.type})' does not exist.`,
        );
      }
      if (!sameRrset(current, d))
        throw new HttpError(412, "conditionNotMet", `Precondition not met for ${label}`);
      next.delete(key(d.name, d.type));
    });
    additions.forEach((a, i) => {
      if (next.has(key(a.name, a.type))) {
        throw new HttpError(
          409,
          "alreadyExists",
          `The resource 'entity.change.additions[${i}]' named '${a.name} (${a.type})' already exists`,
        );
      }
      next.set(key(a.name, a.type), a);
    });
    await this.publish(zone, deletions, additions);
    zone.rrsets.clear();
    for (const [k, v] of next) zone.rrsets.set(k, v);
    const change = {
      kind: "dns#change",
      id: String(zone.changes.length + 1),
      startTime: new Date().toISOString(),
      status: "done",
      additions: additions.map((r) => ({ kind: "dns#resourceRecordSet", ...r })),
      deletions: deletions.map((r) => ({ kind: "dns#resourceRecordSet", ...r })),
    };
    zone.changes.push(change);
    return change;
  }

  private rrsetList(zone: Zone, raw: unknown, field: string): ResourceRecordSet[] {
    if (raw === undefined) return [];
    if (!Array.isArray(raw))
      throw new HttpError(400, "invalid", `Invalid value for 'entity.change.${field}'`);
    return raw.map((r: unknown, i) => {
      const label = `entity.change.${field}[${i}]`;
      const o = (typeof r === "object" && r !== null ? r : {}) as Partial<Record<string, unknown>>;
      const name = typeof o["name"] === "string" ? fqdn(o["name"]) : "";
      const type = typeof o["type"] === "string" ? o["type"] : "";
      const rrdatas = Array.isArray(o["rrdatas"]) ? (o["rrdatas"] as unknown[]).map(String) : [];
      const ttl = Number(o["ttl"] ?? 0);
      if (name !== zone.dnsName && !name.endsWith(`.${zone.dnsName}`)) {
        throw new HttpError(400, "invalid", `Invalid value for '${label}.name': '${name}'`);
      }
      if (type === "") throw new HttpError(400, "required", `Required field '${label}.type' not specified`);
      if (rrdatas.length === 0)
        throw new HttpError(400, "required", `Required field '${label}.rrdata' not specified`);
      if (!Number.isInteger(ttl) || ttl < 0)
        throw new HttpError(400, "invalid", `Invalid value for '${label}.ttl'`);
      if (rrdatas.length > (this.opts.maxRrdatasPerRrset ?? 100)) {
        throw new HttpError(
          403,
          "quotaExceeded",
          "The change would exceed quota for resource records per rrset.",
        );
      }
      return { name, type, ttl, rrdatas: type === "TXT" ? rrdatas.map(normalizeTxt) : rrdatas };
    });
  }

  /** Writes the TXT values a change adds and removes through to the backend. */
  private async publish(
    zone: Zone,
    deletions: readonly ResourceRecordSet[],
    additions: readonly ResourceRecordSet[],
  ): Promise<void> {
    const values = (list: readonly ResourceRecordSet[], name: string) =>
      new Set(list.filter((r) => r.type === "TXT" && r.name === name).flatMap((r) => r.rrdatas.map(txtText)));
    const names = new Set([...deletions, ...additions].filter((r) => r.type === "TXT").map((r) => r.name));
    for (const name of names) {
      const before = values(deletions, name);
      const after = values(additions, name);
      for (const v of after) if (!before.has(v)) await this.backend.add(name, zone.dnsName, v);
      for (const v of before) if (!after.has(v)) await this.backend.remove(name, zone.dnsName, v);
    }
  }

  private send(
    res: ServerResponse,
    status: number,
    body: object,
    headers: Record<string, string> = {},
  ): void {
    sendJson(res, status, body, {
      contentType: "application/json; charset=UTF-8",
      contentLength: true,
      headers,
    });
  }
}
