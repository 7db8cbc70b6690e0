/**
 * An acme-dns emulator for tests, written from acme-dns's API and source (joohoi/acme-dns):
 *
 * - `POST /register` (optional body `{"allowfrom": ["cidr", ...]}`) answers 201 with
 *   `{username, password, fulldomain, subdomain, allowfrom}`: a UUID username, a 40-character
 *   password, a UUID subdomain under the emulator's domain;
 * - `POST /update` with `X-Api-User` and `X-Api-Key` and `{"subdomain", "txt"}` (field names matched
 *   case-insensitively, as Go's JSON decoder does) answers 200 `{"txt": "<value>"}`. Any auth
 *   failure (a username that is not a UUID, a key that is not 40 characters of [A-Za-z0-9_-], an
 *   unknown user, a wrong password, an address outside `allowfrom`, or a subdomain that is not the
 *   user's) answers 401 `{"error": "forbidden"}`; an invalid subdomain 400 `bad_subdomain`; a value
 *   that is not 43 characters 400 `bad_txt`;
 * - `GET /health` answers 200.
 *
 * Each account holds two values; an update overwrites the older one (acme-dns's `txt` table has two
 * rows per subdomain and updates the row with the smallest LastUpdate). There is no delete. Every
 * value held is written through to a DnsBackend at `<subdomain>.<domain>` (the rig's BIND, so
 * that Pebble validates for real). Requests are counted per route, and faults can be injected.
 */
import { randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { BlockList, isIP } from "node:net";
import { noBackend, type DnsBackend } from "../bind-backend.js";
import { readBody, retryAfter, RouteEmulator, sendJsonOrText } from "../http-emulator.js";

/** How to set the emulator up. */
export interface AcmeDnsEmulatorOptions {
  /**
   * The acme-dns zone: accounts live at `<subdomain>.<domain>`. Default `auth.example.test`. In the
   * rig, keep it inside the zone of the names that delegate to it: BIND (recursion off) answers a
   * CNAME together with its target's TXT only when it is in the same zone, and Pebble's resolver
   * does not chase a CNAME itself.
   */
  readonly domain?: string;
  /** The zone of the backend that holds `domain` (for BIND updates). Default `example.test`. */
  readonly backendZone?: string;
  /** Where values are published; default nowhere. */
  readonly backend?: DnsBackend;
  /** Values kept per account (acme-dns's txt rows). Default 2. */
  readonly txtLimit?: number;
}

/** An injected fault: the next `times` requests (matching `route` if given) get this answer. */
export interface AcmeDnsFault {
  readonly status: number;
  /** Retry-After header value (seconds). */
  readonly retryAfter?: number;
  /** Response body (JSON-encoded unless a string); default fitting the status. */
  readonly body?: unknown;
  /** Route key as counted, e.g. "POST /update". */
  readonly route?: string;
  readonly times?: number;
}

/** The answer of `/register`, as acme-dns sends it. */
export interface AcmeDnsRegistration {
  readonly username: string;
  readonly password: string;
  readonly fulldomain: string;
  readonly subdomain: string;
  readonly allowfrom: string[];
}

interface User {
  readonly password: string;
  readonly subdomain: string;
  readonly allowfrom: string[];
  readonly allow: BlockList | undefined;
}

interface Row {
  value: string;
  lastUpdate: number;
}

const PASSWORD_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SANITIZED = /^[A-Za-z0-9_-]*$/;
const SUBDOMAIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function password(): string {
  const bytes = randomBytes(40);
  return [...bytes].map((b) => PASSWORD_ALPHABET[b % PASSWORD_ALPHABET.length]).join("");
}

function lower(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/** A BlockList of the CIDRs (acme-dns keeps only the valid entries); undefined when empty. */
function allowList(cidrs: readonly string[]): { valid: string[]; list: BlockList | undefined } {
  const list = new BlockList();
  const valid: string[] = [];
  for (const cidr of cidrs) {
    const [net, bits] = cidr.split("/");
    const family = net === undefined ? 0 : isIP(net);
    const prefix = Number(bits);
    if (family === 0 || net === undefined || !Number.isInteger(prefix)) continue;
    list.addSubnet(net, prefix, family === 4 ? "ipv4" : "ipv6");
    valid.push(cidr);
  }
  return { valid, list: valid.length === 0 ? undefined : list };
}

/** Go's encoding/json matches field names case-insensitively; so does this. */
function field(obj: unknown, name: string): unknown {
  if (typeof obj !== "object" || obj === null) return undefined;
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === name) return v;
  return undefined;
}

function defaultFaultBody(status: number): unknown {
  if (status === 401 || status === 403) return { error: "forbidden" };
  if (status === 429) return "Too Many Requests";
  if (status >= 500) return { error: "db_error" };
  return { error: "bad_request" };
}

/** The emulator: start it, register accounts, inspect `calls` and `values()`. */
export class AcmeDnsEmulator extends RouteEmulator<AcmeDnsFault> {
  private readonly users = new Map<string, User>();
  private readonly txt = new Map<string, Row[]>();
  private readonly backend: DnsBackend;
  private readonly domain: string;
  private readonly backendZone: string;
  private readonly txtLimit: number;
  private seq = 0;
  /** Serializes updates and their write-through, as acme-dns's database mutex does. */
  private lock: Promise<unknown> = Promise.resolve();
  /** Every request in order: route key and the status it got. */
  readonly requests: { route: string; status: number }[] = [];

  constructor(options: AcmeDnsEmulatorOptions = {}) {
    super();
    this.backend = options.backend ?? noBackend();
    this.domain = lower(options.domain ?? "auth.example.test");
    this.backendZone = lower(options.backendZone ?? "example.test");
    this.txtLimit = options.txtLimit ?? 2;
  }

  override async stop(): Promise<void> {
    await super.stop();
    await this.lock;
  }

  /** Registers an account directly (as `POST /register` does). */
  register(allowfrom: readonly string[] = []): AcmeDnsRegistration {
    const { valid, list } = allowList(allowfrom);
    const username = randomUUID();
    const subdomain = randomUUID();
    const pw = password();
    this.users.set(username, { password: pw, subdomain, allowfrom: valid, allow: list });
    this.txt.set(
      subdomain,
      Array.from({ length: this.txtLimit }, () => ({ value: "", lastUpdate: 0 })),
    );
    return { username, password: pw, fulldomain: `${subdomain}.${this.domain}`, subdomain, allowfrom: valid };
  }

  override resetCalls(): void {
    super.resetCalls();
    this.requests.length = 0;
  }

  /** The non-empty values an account holds, as acme-dns's DNS server would answer them. */
  values(subdomain: string): string[] {
    return (this.txt.get(lower(subdomain)) ?? []).flatMap((r) => (r.value === "" ? [] : [r.value]));
  }

  /**
   * Withdraws every value from the backend and forgets it: a test's tidy-up, since acme-dns itself
   * never deletes (its values would otherwise stay in the shared rig's BIND).
   */
  async purge(): Promise<void> {
    await this.lock;
    for (const [subdomain, rows] of this.txt) {
      for (const value of new Set(rows.map((r) => r.value))) {
        if (value !== "") await this.backend.remove(this.fqdnOf(subdomain), this.backendZone, value);
      }
      for (const r of rows) r.value = "";
    }
  }

  /** The name at which an account's values are published, with a trailing dot. */
  fqdnOf(subdomain: string): string {
    return `${lower(subdomain)}.${this.domain}.`;
  }

  protected internalError(res: ServerResponse, err: unknown): void {
    sendJsonOrText(res, 500, { error: String(err) });
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const route = `${req.method ?? "GET"} ${path}`;
    this.counts.count(route);
    const body = await readBody(req);
    const entry = { route, status: 0 };
    this.requests.push(entry);
    const fault = this.faults.take(route);
    if (fault !== undefined) {
      entry.status = fault.status;
      sendJsonOrText(
        res,
        fault.status,
        fault.body ?? defaultFaultBody(fault.status),
        retryAfter(fault.retryAfter),
      );
      return;
    }
    let status: number;
    let answer: unknown;
    if (route === "POST /register") [status, answer] = this.webRegister(body);
    else if (route === "POST /update") [status, answer] = await this.webUpdate(req, body);
    else if (route === "GET /health") [status, answer] = [200, ""];
    else if (["/register", "/update", "/health"].includes(path))
      [status, answer] = [405, "Method Not Allowed"];
    else [status, answer] = [404, "404 page not found"];
    entry.status = status;
    sendJsonOrText(res, status, answer);
  }

  private webRegister(body: string): [number, unknown] {
    let allowfrom: string[] = [];
    if (body.length > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        return [400, { error: "malformed_json_payload" }];
      }
      const af = field(parsed, "allowfrom");
      if (Array.isArray(af)) {
        allowfrom = af.filter((x): x is string => typeof x === "string");
        if (allowList(allowfrom).valid.length !== allowfrom.length)
          return [400, { error: "invalid_allowfrom_cidr" }];
      }
    }
    return [201, this.register(allowfrom)];
  }

  /** The Auth middleware, then the update handler, as acme-dns orders them. */
  private async webUpdate(req: IncomingMessage, body: string): Promise<[number, unknown]> {
    const user = this.authenticate(req);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = {}; // acme-dns logs the decoding error and goes on with an empty post
    }
    const subdomain = field(parsed, "subdomain");
    const value = field(parsed, "txt");
    if (user === undefined || typeof subdomain !== "string" || subdomain !== user.subdomain) {
      return [401, { error: "forbidden" }];
    }
    if (!SUBDOMAIN.test(subdomain)) return [400, { error: "bad_subdomain" }];
    if (typeof value !== "string" || value.length !== 43 || !SANITIZED.test(value)) {
      return [400, { error: "bad_txt" }];
    }
    await this.update(subdomain, value);
    return [200, { txt: value }];
  }

  private authenticate(req: IncomingMessage): User | undefined {
    const username = header(req, "x-api-user");
    const key = header(req, "x-api-key");
    if (!UUID.test(username) || key.length !== 40 || !SANITIZED.test(key)) return undefined;
    const user = this.users.get(username.toLowerCase());
    if (user === undefined) return undefined;
    const a = Buffer.from(key);
    const b = Buffer.from(user.password);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return undefined;
    if (user.allow !== undefined) {
      const remote = (req.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
      const family = isIP(remote);
      if (family === 0 || !user.allow.check(remote, family === 4 ? "ipv4" : "ipv6")) return undefined;
    }
    return user;
  }

  /** Overwrites the older row; publishes the new value and withdraws the one overwritten. */
  private update(subdomain: string, value: string): Promise<void> {
    const run = async (): Promise<void> => {
      const rows = this.txt.get(subdomain) ?? [];
      const oldest = rows.reduce<Row | undefined>(
        (o, r) => (o === undefined || r.lastUpdate < o.lastUpdate ? r : o),
        undefined,
      );
      if (oldest === undefined) return;
      const old = oldest.value;
      oldest.value = value;
      oldest.lastUpdate = ++this.seq;
      const fqdn = this.fqdnOf(subdomain);
      await this.backend.add(fqdn, this.backendZone, value);
      if (old !== "" && old !== value && !rows.some((r) => r.value === old)) {
        await this.backend.remove(fqdn, this.backendZone, old);
      }
    };
    const next = this.lock.then(run, run);
    this.lock = next.catch(() => undefined);
    return next;
  }
}

function header(req: IncomingMessage, name: string): string {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? "";
}
