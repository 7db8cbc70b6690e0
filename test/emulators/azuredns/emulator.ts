/**
 * An Azure DNS emulator over HTTPS (the SDK sends bearer tokens over TLS only), written from the
 * public references: the Microsoft Entra ID v2.0 endpoints a confidential client uses (OpenID
 * metadata, `/{tenant}/oauth2/v2.0/token` with client_credentials and a client secret or a
 * federated client assertion), and the ARM record-set routes of Microsoft.Network/dnsZones
 * (`/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/dnsZones/{zone}/TXT/{name}`,
 * GET / PUT / DELETE with `api-version`). It checks tokens and role assignments (DNS Zone
 * Contributor on a zone, resource group or subscription scope), answers with ARM's error body
 * `{error: {code, message}}` and Entra's `{error, error_description, error_codes}`, honours ETags
 * (If-Match / If-None-Match: 412 PreconditionFailed), can be told to fail the next requests (429 with
 * Retry-After, 5xx, 403), counts requests per operation, and writes its TXT values through to a
 * DnsBackend (the rig's BIND) so that Pebble can validate them.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { issueTestCertificate } from "../../../src/pki/testing.js";
import { noBackend, type DnsBackend } from "../bind-backend.js";
import { FaultQueue, LocalServer, readBody, RequestCounter, retryAfter, sendJson } from "../http-emulator.js";

/** The operations served, named after the REST API's operation ids. */
export type AzureDnsOperation =
  "openidConfiguration" | "token" | "RecordSets_Get" | "RecordSets_CreateOrUpdate" | "RecordSets_Delete";

/** A fault to answer instead of serving: the next `count` matching requests get it. */
export interface AzureDnsFault {
  readonly status: number;
  readonly count?: number;
  readonly operation?: AzureDnsOperation;
  readonly retryAfterSeconds?: number;
  readonly code?: string;
  readonly message?: string;
}

/** Settings of one emulator. */
export interface AzureDnsEmulatorOptions {
  readonly backend?: DnsBackend;
  /** Records per record set; Azure public DNS allows 20. */
  readonly maxRecordsPerRecordSet?: number;
}

/** A TXT record set as stored. */
export interface StoredRecordSet {
  readonly ttl: number;
  /** One entry per TXT record, each the record's strings. */
  readonly txt: readonly (readonly string[])[];
  readonly metadata: Record<string, string>;
  readonly etag: string;
}

interface Zone {
  readonly subscription: string;
  readonly resourceGroup: string;
  readonly name: string;
  readonly sets: Map<string, StoredRecordSet>;
  lock: Promise<void>;
}

interface Principal {
  readonly tenant: string;
  readonly clientId: string;
  readonly objectId: string;
  readonly secrets: Set<string>;
  /** Federated tokens (workload identity) it accepts as client assertions. */
  readonly assertions: Set<string>;
  /** Scopes (resource IDs, lower case) where it holds DNS Zone Contributor. */
  readonly scopes: Set<string>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly errorCodes: number[] = [],
  ) {
    super(message);
  }
}

const DEFAULT_FAULT: Record<number, { code: string; message: string }> = {
  401: { code: "InvalidAuthenticationToken", message: "The access token is invalid." },
  403: {
    code: "AuthorizationFailed",
    message:
      "The client does not have authorization to perform action 'Microsoft.Network/dnszones/TXT/read' over the scope or the scope is invalid.",
  },
  429: {
    code: "SubscriptionRequestsThrottled",
    message: "Number of 'read' requests for subscription actor exceeded. Please try again after some time.",
  },
  500: { code: "InternalServerError", message: "Encountered internal server error." },
  502: { code: "BadGateway", message: "The gateway did not receive a response from 'Microsoft.Network'." },
  503: { code: "ServiceUnavailable", message: "The service is currently unavailable." },
};

const API_VERSIONS = new Set(["2018-05-01", "2023-07-01-preview"]);

function zoneId(subscription: string, resourceGroup: string, zone: string): string {
  return `/subscriptions/${subscription}/resourceGroups/${resourceGroup}/providers/Microsoft.Network/dnszones/${zone}`;
}

/** See the file comment. `start()` listens with a fresh self-signed certificate (see `caPem`). */
export class AzureDnsEmulator {
  private readonly http = new LocalServer(
    (req, res) => this.handle(req, res),
    (res, err) => {
      this.send(res, 500, { error: { code: "InternalServerError", message: String(err) } });
    },
  );
  private baseUrl = "";
  private certPem = "";
  private readonly zones: Zone[] = [];
  private readonly principals = new Map<string, Principal>();
  private readonly tenants = new Set<string>();
  private readonly tokens = new Map<string, { clientId: string; expiresAt: number }>();
  private readonly faults = new FaultQueue<AzureDnsFault>((f) => f.operation);
  private readonly counts = new RequestCounter<AzureDnsOperation>();
  private readonly backend: DnsBackend;
  private beforeWriteHook: (() => Promise<void> | void) | undefined;
  /** Every served request: operation, status, and the client that made it. */
  readonly log: { operation: AzureDnsOperation; status: number; clientId?: string }[] = [];

  constructor(private readonly opts: AzureDnsEmulatorOptions = {}) {
    this.backend = opts.backend ?? noBackend();
  }

  /** Listens on 127.0.0.1 with a self-signed certificate; returns the base URL. */
  async start(port = 0): Promise<string> {
    const cert = await issueTestCertificate({
      commonName: "azure-dns-emulator",
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
    });
    this.certPem = cert.certPem;
    this.baseUrl = await this.http.start(port, { key: cert.key.pem, cert: cert.certPem });
    return this.baseUrl;
  }

  /** Stops listening and closes idle keep-alive connections. */
  async stop(): Promise<void> {
    await this.http.stop();
  }

  /** The base URL: both the ARM endpoint and the Entra authority host. */
  get url(): string {
    return this.baseUrl;
  }

  /** The self-signed certificate to trust (PEM). */
  get caPem(): string {
    return this.certPem;
  }

  /** Adds a DNS zone in a subscription's resource group. */
  addZone(z: { subscription: string; resourceGroup: string; name: string }): void {
    this.zones.push({
      ...z,
      name: z.name.replace(/\.$/, "").toLowerCase(),
      sets: new Map(),
      lock: Promise.resolve(),
    });
  }

  /**
   * Registers an app (service principal) in a tenant, with client secrets and federated tokens it
   * accepts, and DNS Zone Contributor on the given resource IDs (a zone, resource group or
   * subscription scope). Returns its object id.
   */
  addServicePrincipal(p: {
    tenant: string;
    clientId: string;
    secrets?: readonly string[];
    federatedTokens?: readonly string[];
    scopes: readonly string[];
  }): string {
    this.tenants.add(p.tenant);
    const objectId = randomUUID();
    this.principals.set(p.clientId, {
      tenant: p.tenant,
      clientId: p.clientId,
      objectId,
      secrets: new Set(p.secrets ?? []),
      assertions: new Set(p.federatedTokens ?? []),
      scopes: new Set(p.scopes.map((s) => s.toLowerCase())),
    });
    return objectId;
  }

  /** Adds a client secret to an app (rotation starts). */
  addSecret(clientId: string, secret: string): void {
    this.principal(clientId).secrets.add(secret);
  }

  /** Removes a client secret; tokens already issued stay valid until they expire, as in Entra ID. */
  removeSecret(clientId: string, secret: string): void {
    this.principal(clientId).secrets.delete(secret);
  }

  /** The resource ID of a zone, for role assignments. */
  zoneScope(subscription: string, resourceGroup: string, zone: string): string {
    return zoneId(subscription, resourceGroup, zone.replace(/\.$/, "").toLowerCase());
  }

  /** Answers the next matching requests with a fault instead of serving them. */
  failNext(fault: AzureDnsFault): void {
    this.faults.push(fault, fault.count ?? 1);
  }

  /** Runs `hook` once, just before the next PUT or DELETE is checked: a concurrent writer's moment. */
  beforeNextWrite(hook: () => Promise<void> | void): void {
    this.beforeWriteHook = hook;
  }

  /** Requests served per operation (faults included), or of one operation. */
  calls(): Record<string, number>;
  calls(operation: AzureDnsOperation): number;
  calls(operation?: AzureDnsOperation): number | Record<string, number> {
    if (operation !== undefined) return this.counts.get(operation);
    return this.counts.sorted();
  }

  /** Forgets the request counts and log. */
  resetCalls(): void {
    this.counts.reset();
    this.log.length = 0;
  }

  /** The TXT record set at `relativeName` ("@" for the apex). */
  recordSet(zone: string, relativeName: string): StoredRecordSet | undefined {
    return this.zones
      .find((z) => z.name === zone.replace(/\.$/, "").toLowerCase())
      ?.sets.get(relativeName.toLowerCase());
  }

  /** The TXT values at `relativeName`, each record's strings joined. */
  txtValues(zone: string, relativeName: string): string[] {
    return (this.recordSet(zone, relativeName)?.txt ?? []).map((r) => r.join(""));
  }

  /** Writes a TXT record set directly (as another client would); an empty list deletes it. */
  async putTxt(zone: string, relativeName: string, values: readonly string[], ttl = 3600): Promise<void> {
    const z = this.zones.find((x) => x.name === zone.replace(/\.$/, "").toLowerCase());
    if (!z) throw new Error(`no zone ${zone}`);
    const rel = relativeName.toLowerCase();
    const before = z.sets.get(rel);
    const after =
      values.length === 0
        ? undefined
        : { ttl, txt: values.map((v) => [v]), metadata: {}, etag: randomUUID() };
    await this.publish(z, rel, before, after);
    if (after) z.sets.set(rel, after);
    else z.sets.delete(rel);
  }

  private principal(clientId: string): Principal {
    const p = this.principals.get(clientId);
    if (!p) throw new Error(`no principal ${clientId}`);
    return p;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.baseUrl);
    const route = this.route(req.method ?? "GET", url.pathname);
    if (!route) {
      this.send(res, 404, {
        error: { code: "NotFound", message: `No route for ${req.method} ${url.pathname}` },
      });
      return;
    }
    const op = route.operation;
    this.counts.count(op);
    const body = await readBody(req);
    let clientId: string | undefined;
    try {
      this.injectFault(op);
      if (op === "openidConfiguration") {
        this.send(res, 200, this.openidConfiguration(route.params["tenant"] ?? ""));
      } else if (op === "token") {
        this.send(res, 200, this.token(route.params["tenant"] ?? "", body));
      } else {
        if (!API_VERSIONS.has(url.searchParams.get("api-version") ?? "")) {
          throw new HttpError(
            400,
            url.searchParams.has("api-version") ? "InvalidApiVersionParameter" : "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
          );
        }
        clientId = this.authorize(req, op, route.params);
        const { status, json } = await this.serve(op, route.params, req.headers, body);
        this.send(res, status, json, json === undefined ? {} : { etag: (json as { etag: string }).etag });
      }
      this.log.push({ operation: op, status: res.statusCode, ...(clientId ? { clientId } : {}) });
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      this.log.push({ operation: op, status: err.status, ...(clientId ? { clientId } : {}) });
      if (op === "token" || op === "openidConfiguration") {
        // Entra ID's error shape (OAuth 2.0, RFC 6749 section 5.2, plus its AADSTS codes).
        this.send(
          res,
          err.status,
          {
            error: err.code,
            error_description: err.message,
            error_codes: err.errorCodes,
            timestamp: new Date().toISOString().replace("T", " ").replace("Z", "Z"),
            trace_id: randomUUID(),
            correlation_id: randomUUID(),
          },
          err.headers,
        );
        return;
      }
      this.send(res, err.status, { error: { code: err.code, message: err.message } }, err.headers);
    }
  }

  private route(
    method: string,
    path: string,
  ): { operation: AzureDnsOperation; params: Record<string, string> } | undefined {
    let m = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path);
    if (m && method === "GET") return { operation: "openidConfiguration", params: { tenant: m[1] ?? "" } };
    m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
    if (m && method === "POST") return { operation: "token", params: { tenant: m[1] ?? "" } };
    m =
      /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Network\/dnsZones\/([^/]+)\/TXT\/([^/]+)$/i.exec(
        path,
      );
    if (!m) return undefined;
    const params = {
      subscription: decodeURIComponent(m[1] ?? ""),
      resourceGroup: decodeURIComponent(m[2] ?? ""),
      zone: decodeURIComponent(m[3] ?? "").toLowerCase(),
      name: decodeURIComponent(m[4] ?? "").toLowerCase(),
    };
    const op = (
      { GET: "RecordSets_Get", PUT: "RecordSets_CreateOrUpdate", DELETE: "RecordSets_Delete" } as const
    )[method as "GET" | "PUT" | "DELETE"] as AzureDnsOperation | undefined;
    return op === undefined ? undefined : { operation: op, params };
  }

  private injectFault(operation: AzureDnsOperation): void {
    const fault = this.faults.take(operation);
    if (!fault) return;
    const d = DEFAULT_FAULT[fault.status] ?? { code: "Error", message: "Error" };
    throw new HttpError(
      fault.status,
      fault.code ?? d.code,
      fault.message ?? d.message,
      retryAfter(fault.retryAfterSeconds),
    );
  }

  private openidConfiguration(tenant: string): object {
    if (!this.tenants.has(tenant)) {
      throw new HttpError(400, "invalid_tenant", `AADSTS90002: Tenant '${tenant}' not found.`, {}, [90002]);
    }
    const base = `${this.baseUrl}/${tenant}`;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ["query", "fragment", "form_post"],
      subject_types_supported: ["pairwise"],
      id_token_signing_alg_values_supported: ["RS256"],
      response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
      scopes_supported: ["openid", "profile", "email", "offline_access"],
      issuer: `${base}/v2.0`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      tenant_region_scope: "EU",
      cloud_instance_name: "microsoftonline.com",
    };
  }

  /** The client_credentials grant with a client secret or a federated assertion. */
  private token(tenant: string, body: string): object {
    const form = new URLSearchParams(body);
    if (!this.tenants.has(tenant)) {
      throw new HttpError(
        400,
        "invalid_request",
        `AADSTS90002: Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
        {},
        [90002],
      );
    }
    if (form.get("grant_type") !== "client_credentials") {
      throw new HttpError(
        400,
        "unsupported_grant_type",
        "AADSTS70003: The app requested an unsupported grant type.",
        {},
        [70003],
      );
    }
    const clientId = form.get("client_id") ?? "";
    const p = this.principals.get(clientId);
    if (p?.tenant !== tenant) {
      throw new HttpError(
        400,
        "unauthorized_client",
        `AADSTS700016: Application with identifier '${clientId}' was not found in the directory '${tenant}'.`,
        {},
        [700016],
      );
    }
    const secret = form.get("client_secret");
    const assertion = form.get("client_assertion");
    if (secret !== null ? !p.secrets.has(secret) : assertion === null || !p.assertions.has(assertion)) {
      throw new HttpError(
        401,
        "invalid_client",
        secret !== null
          ? `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`
          : "AADSTS700213: No matching federated identity record found for presented assertion.",
        {},
        [secret !== null ? 7000215 : 700213],
      );
    }
    const scope = form.get("scope") ?? "";
    if (scope !== `${this.baseUrl}/.default` && scope !== "https://management.azure.com/.default") {
      throw new HttpError(
        400,
        "invalid_scope",
        `AADSTS500011: The resource principal named ${scope.replace(/\/\.default$/, "")} was not found in the tenant named ${tenant}.`,
        {},
        [500011],
      );
    }
    const accessToken = `eyJ0eXAiOiJKV1Qi.${randomBytes(32).toString("base64url")}`;
    this.tokens.set(accessToken, { clientId, expiresAt: Date.now() + 3600_000 });
    return { token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599, access_token: accessToken };
  }

  private authorize(req: IncomingMessage, op: AzureDnsOperation, params: Record<string, string>): string {
    const header = req.headers.authorization;
    if (header === undefined) {
      throw new HttpError(
        401,
        "AuthenticationFailed",
        "Authentication failed. The 'Authorization' header is missing.",
      );
    }
    const t = this.tokens.get(/^Bearer (.+)$/i.exec(header)?.[1] ?? "");
    if (!t || t.expiresAt < Date.now()) {
      throw new HttpError(401, "InvalidAuthenticationToken", "The access token is invalid.", {
        "www-authenticate":
          'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="The access token is invalid."',
      });
    }
    const p = this.principal(t.clientId);
    const sub = `/subscriptions/${params["subscription"] ?? ""}`.toLowerCase();
    const rg = `${sub}/resourcegroups/${params["resourceGroup"] ?? ""}`.toLowerCase();
    const zone = zoneId(
      params["subscription"] ?? "",
      params["resourceGroup"] ?? "",
      params["zone"] ?? "",
    ).toLowerCase();
    if (![sub, rg, zone].some((s) => p.scopes.has(s))) {
      const action = {
        RecordSets_Get: "read",
        RecordSets_CreateOrUpdate: "write",
        RecordSets_Delete: "delete",
      }[op as "RecordSets_Get"];
      throw new HttpError(
        403,
        "AuthorizationFailed",
        `The client '${p.clientId}' with object id '${p.objectId}' does not have authorization to perform action ` +
          `'Microsoft.Network/dnszones/TXT/${action}' over scope '${zone}/TXT/${params["name"] ?? ""}' or the scope is invalid. ` +
          "If access was recently granted, please refresh your credentials.",
      );
    }
    return p.clientId;
  }

  private findZone(params: Record<string, string>): Zone {
    const rgExists = this.zones.some(
      (z) =>
        z.subscription === params["subscription"] &&
        z.resourceGroup.toLowerCase() === (params["resourceGroup"] ?? "").toLowerCase(),
    );
    if (!rgExists) {
      throw new HttpError(
        404,
        "ResourceGroupNotFound",
        `Resource group '${params["resourceGroup"] ?? ""}' could not be found.`,
      );
    }
    const zone = this.zones.find(
      (z) =>
        z.subscription === params["subscription"] &&
        z.resourceGroup.toLowerCase() === (params["resourceGroup"] ?? "").toLowerCase() &&
        z.name === params["zone"],
    );
    if (!zone) {
      throw new HttpError(
        404,
        "ParentResourceNotFound",
        `Can not perform requested operation on nested resource. Parent resource '${params["zone"] ?? ""}' not found.`,
      );
    }
    return zone;
  }

  private json(zone: Zone, name: string, set: StoredRecordSet): object {
    return {
      id: `${zoneId(zone.subscription, zone.resourceGroup, zone.name)}/TXT/${name}`,
      name,
      type: "Microsoft.Network/dnszones/TXT",
      etag: set.etag,
      properties: {
        metadata: set.metadata,
        TTL: set.ttl,
        fqdn: name === "@" ? `${zone.name}.` : `${name}.${zone.name}.`,
        provisioningState: "Succeeded",
        targetResource: {},
        TXTRecords: set.txt.map((value) => ({ value })),
      },
    };
  }

  private async serve(
    op: AzureDnsOperation,
    params: Record<string, string>,
    headers: IncomingMessage["headers"],
    body: string,
  ): Promise<{ status: number; json?: object }> {
    const zone = this.findZone(params);
    const name = params["name"] ?? "";
    if (op === "RecordSets_Get") {
      const set = zone.sets.get(name);
      if (!set) {
        throw new HttpError(
          404,
          "NotFound",
          `The resource record '${name}' does not exist in resource group '${zone.resourceGroup}' of subscription '${zone.subscription}'.`,
        );
      }
      return { status: 200, json: this.json(zone, name, set) };
    }
    const previous = zone.lock;
    let release: (() => void) | undefined;
    zone.lock = new Promise<void>((r) => {
      release = r;
    });
    await previous;
    try {
      const hook = this.beforeWriteHook;
      this.beforeWriteHook = undefined;
      if (hook) await hook();
      return await this.write(op, zone, name, headers, body);
    } finally {
      release?.();
    }
  }

  private async write(
    op: AzureDnsOperation,
    zone: Zone,
    name: string,
    headers: IncomingMessage["headers"],
    body: string,
  ): Promise<{ status: number; json?: object }> {
    const current = zone.sets.get(name);
    const ifMatch = headers["if-match"];
    const ifNoneMatch = headers["if-none-match"];
    if (ifMatch !== undefined && (ifMatch === "*" ? !current : current?.etag !== ifMatch)) {
      throw new HttpError(
        412,
        "PreconditionFailed",
        current
          ? `The Record set ${name} has been modified (etag mismatch).`
          : `The Record set ${name} does not exist.`,
      );
    }
    if (ifNoneMatch === "*" && current) {
      throw new HttpError(
        412,
        "PreconditionFailed",
        `The Record set ${name} exists already and hence cannot be created again.`,
      );
    }
    if (op === "RecordSets_Delete") {
      if (!current) return { status: 204 };
      await this.publish(zone, name, current, undefined);
      zone.sets.delete(name);
      return { status: 200 };
    }
    let parsed: { properties?: { TTL?: unknown; TXTRecords?: unknown; metadata?: unknown } };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      throw new HttpError(
        400,
        "InvalidRequestContent",
        "The request content was invalid and could not be deserialized.",
      );
    }
    const props = parsed.properties ?? {};
    const records = Array.isArray(props.TXTRecords) ? (props.TXTRecords as { value?: unknown }[]) : [];
    const txt = records.map((r) => (Array.isArray(r.value) ? r.value.map(String) : []));
    if (txt.length === 0 || txt.some((r) => r.length === 0 || r.some((s) => s.length > 1024))) {
      throw new HttpError(
        400,
        "BadRequest",
        "The TXT record set must hold at least one record, each with a value.",
      );
    }
    const max = this.opts.maxRecordsPerRecordSet ?? 20;
    if (txt.length > max) {
      throw new HttpError(
        409,
        "RecordSetRecordLimitReached",
        `The record set '${name}' would hold ${txt.length} records; the limit is ${max} records per record set.`,
      );
    }
    const ttl = Number(props.TTL ?? 3600);
    const metadata =
      typeof props.metadata === "object" && props.metadata !== null
        ? (props.metadata as Record<string, string>)
        : {};
    const next: StoredRecordSet = { ttl, txt, metadata, etag: randomUUID() };
    await this.publish(zone, name, current, next);
    zone.sets.set(name, next);
    return { status: current ? 200 : 201, json: this.json(zone, name, next) };
  }

  private async publish(
    zone: Zone,
    name: string,
    before: StoredRecordSet | undefined,
    after: StoredRecordSet | undefined,
  ): Promise<void> {
    const fqdn = name === "@" ? `${zone.name}.` : `${name}.${zone.name}.`;
    const was = new Set((before?.txt ?? []).map((r) => r.join("")));
    const is = new Set((after?.txt ?? []).map((r) => r.join("")));
    for (const v of is) if (!was.has(v)) await this.backend.add(fqdn, `${zone.name}.`, v);
    for (const v of was) if (!is.has(v)) await this.backend.remove(fqdn, `${zone.name}.`, v);
  }

  private send(
    res: ServerResponse,
    status: number,
    body: object | undefined,
    headers: Record<string, string> = {},
  ): void {
    sendJson(res, status, body, {
      contentType: "application/json; charset=utf-8",
      noContentTypeWhenEmpty: true,
      contentLength: true,
      headers: { "x-ms-request-id": randomUUID(), ...headers },
    });
  }
}
