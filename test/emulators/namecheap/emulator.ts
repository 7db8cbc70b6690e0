/**
 * A Namecheap XML API emulator for tests, written from the public API reference: one URL
 * (`/xml.response`) taking the global parameters (ApiUser, ApiKey, UserName, ClientIp, Command)
 * by GET query or POST form; `namecheap.domains.dns.getHosts` (SLD, TLD: every host with HostId,
 * Name, Type, Address, MXPref, TTL, and the domain's EmailType) and `setHosts` (the whole list
 * replaced by HostName<n>, RecordType<n>, Address<n>, MXPref<n>, TTL<n>; EmailType); the
 * `<ApiResponse Status="ERROR"><Errors><Error Number>` answers (1011102 bad key, 1011150 IP not
 * whitelisted, 2019166 unknown domain, 2050900 bad address); 20 calls a minute, then "Too many
 * requests" (HTTP 429). It counts requests by command, takes injected faults, and publishes every
 * TXT value it holds to a DnsBackend.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { encodeXml } from "../../../src/solvers/namecheap/xml.js";
import { noBackend, type DnsBackend } from "../bind-backend.js";
import { readBody, retryAfter, RouteEmulator } from "../http-emulator.js";

/** An API user the emulator accepts. */
export interface EmulatedApiUser {
  readonly apiUser: string;
  readonly apiKey: string;
  /** Whitelisted client IPs; default 127.0.0.1. */
  readonly clientIPs?: readonly string[];
}

/** How to set an emulator up. */
export interface NamecheapEmulatorOptions {
  readonly users?: readonly EmulatedApiUser[];
  /** Domains at start; default example.test and second.test. */
  readonly domains?: readonly string[];
  readonly backend?: DnsBackend;
  /** Calls per minute per user before "Too many requests"; default 20. */
  readonly perMinute?: number;
}

/** An injected fault: the next `times` requests (matching `route`, a Command, if given) get it. */
export interface Fault {
  readonly status: number;
  /** An API error to put in the body (HTTP 200 with Status="ERROR" when status is 200). */
  readonly error?: { readonly number: string; readonly message: string };
  readonly retryAfter?: number;
  readonly route?: string;
  readonly times?: number;
}

/** One host record with every attribute getHosts shows. */
export interface EmulatedHost {
  hostId: number;
  name: string;
  type: string;
  address: string;
  mxPref: number;
  ttl: number;
}

interface Domain {
  emailType: string;
  hosts: EmulatedHost[];
}

class ApiFailure extends Error {
  constructor(
    readonly number: string,
    message: string,
    readonly status = 200,
  ) {
    super(message);
  }
}

const TYPES = new Set([
  "A",
  "AAAA",
  "ALIAS",
  "CAA",
  "CNAME",
  "MX",
  "MXE",
  "NS",
  "TXT",
  "URL",
  "URL301",
  "FRAME",
]);

function lower(name: string): string {
  return (name.endsWith(".") ? name.slice(0, -1) : name).toLowerCase();
}

function errorXml(command: string, number: string, message: string): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?>\n<ApiResponse Status="ERROR" xmlns="http://api.namecheap.com/xml.response">` +
    `<Errors><Error Number="${encodeXml(number)}">${encodeXml(message)}</Error></Errors><Warnings />` +
    `<RequestedCommand>${encodeXml(command)}</RequestedCommand></ApiResponse>`
  );
}

function okXml(command: string, inner: string): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?>\n<ApiResponse Status="OK" xmlns="http://api.namecheap.com/xml.response">` +
    `<Errors /><Warnings /><RequestedCommand>${encodeXml(command)}</RequestedCommand>` +
    `<CommandResponse Type="${encodeXml(command)}">${inner}</CommandResponse>` +
    `<Server>EMULATOR</Server><GMTTimeDifference>--5:00</GMTTimeDifference><ExecutionTime>0.01</ExecutionTime></ApiResponse>`
  );
}

/** The emulator: start it, point the solver at `url`, inspect `calls`, `values()` and `hosts()`. */
export class NamecheapEmulator extends RouteEmulator<Fault> {
  private readonly domains = new Map<string, Domain>();
  private readonly users = new Map<string, EmulatedApiUser>();
  private readonly history = new Map<string, number[]>();
  private readonly backend: DnsBackend;
  private nextId = 100_000;

  constructor(private readonly options: NamecheapEmulatorOptions = {}) {
    super();
    this.backend = options.backend ?? noBackend();
    for (const u of options.users ?? []) this.users.set(u.apiUser, u);
    for (const d of options.domains ?? ["example.test", "second.test"]) {
      this.domains.set(lower(d), { emailType: "NONE", hosts: [] });
    }
  }

  /** The URL to point the solver at (…/xml.response). */
  get apiUrl(): string {
    return `${this.url}/xml.response`;
  }

  /** The TXT values held at `fqdn`. */
  values(fqdn: string): string[] {
    const name = lower(fqdn);
    const out: string[] = [];
    for (const [domain, d] of this.domains) {
      for (const h of d.hosts) if (h.type === "TXT" && fqdnOf(h.name, domain) === name) out.push(h.address);
    }
    return out;
  }

  /** A copy of a domain's hosts and EmailType. */
  hosts(domain: string): { emailType: string; hosts: EmulatedHost[] } {
    const d = this.domains.get(lower(domain));
    if (d === undefined) throw new Error(`no domain ${domain}`);
    return { emailType: d.emailType, hosts: d.hosts.map((h) => ({ ...h })) };
  }

  /** Puts hosts straight into a domain, and sets its EmailType. */
  async seed(
    domain: string,
    hosts: readonly Omit<EmulatedHost, "hostId">[],
    emailType?: string,
  ): Promise<void> {
    const d = this.domains.get(lower(domain));
    if (d === undefined) throw new Error(`no domain ${domain}`);
    if (emailType !== undefined) d.emailType = emailType;
    for (const h of hosts) {
      d.hosts.push({ ...h, hostId: this.nextId++ });
      if (h.type === "TXT") await this.backend.add(fqdnOf(h.name, lower(domain)), lower(domain), h.address);
    }
  }

  protected internalError(res: ServerResponse, err: unknown): void {
    res.writeHead(500, { "content-type": "text/xml; charset=utf-8" });
    res.end(errorXml("", "5050900", `Unhandled exception: ${String(err)}`));
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const body = await readBody(req);
    const params = new URLSearchParams(url.search);
    if (req.method === "POST") for (const [k, v] of new URLSearchParams(body)) params.set(k, v);
    const command = params.get("Command") ?? "";
    const key = url.pathname === "/xml.response" ? command : `${req.method ?? "GET"} ${url.pathname}`;
    this.counts.count(key);
    const reply = (status: number, xml: string, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { "content-type": "text/xml; charset=utf-8", ...headers });
      res.end(xml);
    };
    const fault = this.faults.take(key);
    if (fault !== undefined) {
      const e = fault.error ?? {
        number: "5050900",
        message: fault.status === 429 ? "Too many requests" : "Internal error",
      };
      reply(fault.status, errorXml(command, e.number, e.message), retryAfter(fault.retryAfter));
      return;
    }
    try {
      if (url.pathname !== "/xml.response") throw new ApiFailure("0", "Not Found", 404);
      this.authenticate(params, req);
      const inner = await this.dispatch(command, params);
      reply(200, okXml(command, inner));
    } catch (err) {
      if (!(err instanceof ApiFailure)) throw err;
      reply(err.status, errorXml(command, err.number, err.message));
    }
  }

  private authenticate(params: URLSearchParams, req: IncomingMessage): void {
    const apiUser = params.get("ApiUser") ?? "";
    const apiKey = params.get("ApiKey") ?? "";
    const userName = params.get("UserName") ?? "";
    const clientIp = params.get("ClientIp") ?? "";
    if (apiUser === "") throw new ApiFailure("1010101", "Parameter APIUser is missing");
    if (apiKey === "") throw new ApiFailure("1010102", "Parameter APIKey is missing");
    if (userName === "") throw new ApiFailure("1010104", "Parameter UserName is missing");
    if (clientIp === "") throw new ApiFailure("1010105", "Parameter ClientIp is missing");
    const user = this.users.get(apiUser);
    if (user?.apiKey !== apiKey || userName !== apiUser) {
      throw new ApiFailure("1011102", "API Key is invalid or API access has not been enabled");
    }
    // Namecheap checks the address the request came from, and that ClientIp names it.
    const from = (req.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
    const allowed = user.clientIPs ?? ["127.0.0.1"];
    if (!allowed.includes(clientIp) || !allowed.includes(from)) {
      throw new ApiFailure("1011150", `Invalid request IP: ${clientIp}`);
    }
    const now = Date.now();
    const times = (this.history.get(apiUser) ?? []).filter((t) => t > now - 60_000);
    if (times.length >= (this.options.perMinute ?? 20))
      throw new ApiFailure("500000", "Too many requests", 429);
    times.push(now);
    this.history.set(apiUser, times);
  }

  private domainOf(params: URLSearchParams): { name: string; domain: Domain } {
    const sld = params.get("SLD") ?? "";
    const tld = params.get("TLD") ?? "";
    if (sld === "") throw new ApiFailure("2010324", "SLD is missing");
    if (tld === "") throw new ApiFailure("2010325", "TLD is missing");
    const name = `${sld}.${tld}`.toLowerCase();
    const domain = this.domains.get(name);
    if (domain === undefined) {
      throw new ApiFailure(
        "2019166",
        `The domain (${name}) doesn't seem to be associated with your account.`,
      );
    }
    return { name, domain };
  }

  private async dispatch(command: string, params: URLSearchParams): Promise<string> {
    switch (command) {
      case "namecheap.domains.dns.getHosts": {
        const { name, domain } = this.domainOf(params);
        const hosts = domain.hosts
          .map(
            (h) =>
              `<host HostId="${String(h.hostId)}" Name="${encodeXml(h.name)}" Type="${h.type}" ` +
              `Address="${encodeXml(h.address)}" MXPref="${String(h.mxPref)}" TTL="${String(h.ttl)}" ` +
              `AssociatedAppTitle="" FriendlyName="" IsActive="true" IsDDNSEnabled="false" />`,
          )
          .join("");
        return (
          `<DomainDNSGetHostsResult Domain="${encodeXml(name)}" EmailType="${encodeXml(domain.emailType)}" ` +
          `IsUsingOurDNS="true">${hosts}</DomainDNSGetHostsResult>`
        );
      }
      case "namecheap.domains.dns.setHosts": {
        const { name, domain } = this.domainOf(params);
        const next = this.parseHosts(params);
        const emailType = params.get("EmailType") ?? "NONE";
        if (next.some((h) => h.type === "MX") && emailType !== "MX") {
          throw new ApiFailure("2050900", "EmailType must be MX when MX records are set");
        }
        const before = domain.hosts;
        domain.hosts = next;
        domain.emailType = emailType;
        await this.publish(name, before, next);
        return `<DomainDNSSetHostsResult Domain="${encodeXml(name)}" IsSuccess="true"><Warnings /></DomainDNSSetHostsResult>`;
      }
      default:
        throw new ApiFailure("1010900", `Invalid request: unknown command ${command}`);
    }
  }

  private parseHosts(params: URLSearchParams): EmulatedHost[] {
    const out: EmulatedHost[] = [];
    for (let i = 1; params.has(`HostName${String(i)}`); i++) {
      const n = String(i);
      const type = (params.get(`RecordType${n}`) ?? "").toUpperCase();
      const address = params.get(`Address${n}`) ?? "";
      if (!TYPES.has(type)) throw new ApiFailure("2050900", `Invalid RecordType${n}: ${type}`);
      if (address === "") throw new ApiFailure("2050900", `Address${n} is missing`);
      const ttl = Number(params.get(`TTL${n}`) ?? "1800");
      if (!Number.isInteger(ttl) || ttl < 60 || ttl > 60000)
        throw new ApiFailure("2050900", `Invalid TTL${n}`);
      const mxPref = Number(params.get(`MXPref${n}`) ?? "10");
      out.push({
        hostId: this.nextId++,
        name: (params.get(`HostName${n}`) ?? "").toLowerCase(),
        type,
        address,
        mxPref,
        ttl,
      });
    }
    if (out.length > 150) throw new ApiFailure("2050900", "No more than 150 host records");
    return out;
  }

  private async publish(domain: string, before: EmulatedHost[], after: EmulatedHost[]): Promise<void> {
    const txt = (hosts: EmulatedHost[]): Set<string> =>
      new Set(hosts.filter((h) => h.type === "TXT").map((h) => `${fqdnOf(h.name, domain)}\n${h.address}`));
    const was = txt(before);
    const now = txt(after);
    for (const k of now) {
      if (was.has(k)) continue;
      const [fqdn = "", value = ""] = k.split("\n");
      await this.backend.add(fqdn, domain, value);
    }
    for (const k of was) {
      if (now.has(k)) continue;
      const [fqdn = "", value = ""] = k.split("\n");
      await this.backend.remove(fqdn, domain, value);
    }
  }
}

function fqdnOf(name: string, domain: string): string {
  return name === "@" ? domain : `${name}.${domain}`;
}
