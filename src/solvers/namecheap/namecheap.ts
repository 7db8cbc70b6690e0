/**
 * The `namecheap` DNS-01 provider: Namecheap's XML API (`namecheap.domains.dns.getHosts` and
 * `setHosts`), with ApiUser, ApiKey, UserName and a ClientIp that must be whitelisted.
 *
 * `setHosts` replaces the domain's whole host list, so every change is a read-modify-write of the
 * list: every host read is written back with all its attributes (name, type, address, MX
 * preference, TTL) and the domain's EmailType, plus or minus the one TXT value. The changes of one
 * domain are serialized in this process (apex and wildcard values are presented concurrently);
 * two replicas never solve at once (leader election).
 */
import { createHash } from "node:crypto";
import { TemporaryError, TerminalError } from "../../errors.js";
import { parseRetryAfter, rateLimits as processRateLimits, type RateLimits } from "../limits.js";
import { trimDot, zoneCandidates } from "../names.js";
import type { ProviderRateLimit } from "../provider.js";
import {
  ApiError,
  CallBudget,
  errorText,
  isAbort,
  KeyedLock,
  relativeTo,
  send,
  unquoteTxt,
} from "../rest.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../types.js";
import { elements, parseApiResponse } from "./xml.js";

/** The production API. */
export const NAMECHEAP_API_URL = "https://api.namecheap.com/xml.response";
/** The sandbox API (an account at sandbox.namecheap.com). */
export const NAMECHEAP_SANDBOX_API_URL = "https://api.sandbox.namecheap.com/xml.response";

/** Namecheap allows 20 calls per minute (and 700 an hour, 8000 a day) per account. */
export const NAMECHEAP_RATE_LIMIT: ProviderRateLimit = {
  requests: 20,
  perMs: 60_000,
  source: "https://www.namecheap.com/support/api/intro/",
};

/** The provider's settings, with its key already read. */
export interface NamecheapConfig {
  readonly apiUser: string;
  readonly apiKey: string;
  /** The user the commands run as; default apiUser. */
  readonly userName?: string | undefined;
  readonly clientIP: string;
  /** API URL (…/xml.response); default {@link NAMECHEAP_API_URL}. */
  readonly endpoint?: string | undefined;
  /** TTL of the TXT values written; default 60, Namecheap's minimum. */
  readonly ttl?: number | undefined;
  readonly timeoutMs?: number | undefined;
}

/** Process-wide state and the HTTP client; tests pass their own. */
export interface NamecheapDeps {
  readonly rateLimits?: RateLimits;
  readonly fetch?: typeof fetch;
  readonly lock?: KeyedLock;
}

/** One host record with every attribute setHosts takes back. */
export interface NamecheapHost {
  readonly name: string;
  readonly type: string;
  readonly address: string;
  readonly mxPref: string;
  readonly ttl: string;
}

/** A domain's host list as getHosts returns it. */
export interface HostList {
  readonly emailType: string | undefined;
  readonly hosts: readonly NamecheapHost[];
}

/** Error numbers that mean the account has no such domain (or cannot see it): try the parent. */
const DOMAIN_NOT_FOUND = new Set(["2019166", "2016166", "2030280", "2011170"]);
/** Error numbers that mean the credentials or the client IP were refused. */
const AUTH_ERRORS = new Set(["1011102", "1011150", "1010104", "1011104", "1017150", "1050900"]);

const processLock = new KeyedLock();
const DEFAULT_THROTTLE_MS = 60_000;

/** A non-secret key for the account's rate-limit bucket. */
export function namecheapAccountKey(apiUser: string, apiKey: string): string {
  return `namecheap:${createHash("sha256").update(`${apiUser}\n${apiKey}`).digest("hex").slice(0, 16)}`;
}

/** SLD and TLD of a registered domain as Namecheap takes them: the first label, and the rest. */
export function splitDomain(domain: string): { sld: string; tld: string } {
  const d = trimDot(domain).toLowerCase();
  const i = d.indexOf(".");
  if (i <= 0)
    throw new TerminalError(`namecheap: ${domain} is not a registered domain`, "InvalidConfiguration");
  return { sld: d.slice(0, i), tld: d.slice(i + 1) };
}

/** The SLD and TLD parameters of a command on a domain. */
function domainParams(domain: string): Record<string, string> {
  const { sld, tld } = splitDomain(domain);
  return { SLD: sld, TLD: tld };
}

/** The form fields of setHosts for a host list: every host with all its attributes. */
export function setHostsParams(list: HostList): Record<string, string> {
  const params: Record<string, string> = {};
  list.hosts.forEach((h, i) => {
    const n = String(i + 1);
    params[`HostName${n}`] = h.name;
    params[`RecordType${n}`] = h.type;
    params[`Address${n}`] = h.address;
    if (h.mxPref !== "") params[`MXPref${n}`] = h.mxPref;
    if (h.ttl !== "") params[`TTL${n}`] = h.ttl;
  });
  if (list.emailType !== undefined && list.emailType !== "") params["EmailType"] = list.emailType;
  return params;
}

class NamecheapSolver implements Dns01Solver {
  private readonly url: string;
  private readonly accountKey: string;
  private readonly rateLimits: RateLimits;
  private readonly fetch: typeof fetch;
  private readonly lock: KeyedLock;
  private readonly ttl: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly config: NamecheapConfig,
    deps: NamecheapDeps,
  ) {
    this.url = config.endpoint ?? NAMECHEAP_API_URL;
    this.accountKey = namecheapAccountKey(config.apiUser, config.apiKey);
    this.rateLimits = deps.rateLimits ?? processRateLimits;
    this.fetch = deps.fetch ?? globalThis.fetch;
    this.lock = deps.lock ?? processLock;
    this.ttl = config.ttl ?? 60;
    this.timeoutMs = config.timeoutMs ?? 30_000;
  }

  async present(record: TxtRecord, ctx: SolverContext): Promise<void> {
    await this.change(record, ctx, (domain, list) => {
      const name = relativeTo(record.fqdn, domain);
      if (list.hosts.some((h) => isValue(h, name, record.value))) return undefined;
      const added: NamecheapHost = {
        name,
        type: "TXT",
        address: record.value,
        mxPref: "10",
        ttl: String(this.ttl),
      };
      return { emailType: list.emailType, hosts: [...list.hosts, added] };
    });
  }

  async cleanUp(record: TxtRecord, ctx: SolverContext): Promise<void> {
    await this.change(record, ctx, (domain, list) => {
      const name = relativeTo(record.fqdn, domain);
      const hosts = list.hosts.filter((h) => !isValue(h, name, record.value));
      return hosts.length === list.hosts.length ? undefined : { emailType: list.emailType, hosts };
    });
  }

  /**
   * Reads the host list of the domain holding the record, applies `edit` (undefined: nothing to
   * change) and writes the result back, all under the domain's lock.
   */
  private async change(
    record: TxtRecord,
    ctx: SolverContext,
    edit: (domain: string, list: HostList) => HostList | undefined,
  ): Promise<void> {
    const fqdn = trimDot(record.fqdn).toLowerCase();
    const zone = trimDot(record.zone).toLowerCase();
    if (fqdn !== zone && !fqdn.endsWith(`.${zone}`)) {
      throw new TerminalError(
        `namecheap: ${record.fqdn} is not in zone ${record.zone}`,
        "InvalidConfiguration",
      );
    }
    const tried = zoneCandidates(record.zone);
    for (const domain of tried) {
      const done = await this.lock.run(`namecheap:${domain}`, async () => {
        const budget = this.budget(2);
        let list: HostList;
        try {
          list = await this.getHosts(domain, ctx, budget);
        } catch (err) {
          if (err instanceof ApiError && DOMAIN_NOT_FOUND.has(err.code)) return false;
          throw this.translate(err, "failed to read the host records");
        }
        const next = edit(domain, list);
        if (next === undefined) {
          ctx.log.debug("namecheap: nothing to change", { fqdn: record.fqdn, domain });
          return true;
        }
        try {
          await this.setHosts(domain, next, ctx, budget);
        } catch (err) {
          throw this.translate(err, "failed to write the host records");
        }
        ctx.log.info("namecheap: wrote the host records", {
          fqdn: record.fqdn,
          domain,
          before: list.hosts.length,
          after: next.hosts.length,
        });
        return true;
      });
      if (done) return;
    }
    throw new TerminalError(
      `namecheap: zone not found: the account has no domain ${tried.join(" or ")} using Namecheap's DNS`,
      "ZoneNotFound",
    );
  }

  private async getHosts(domain: string, ctx: SolverContext, budget: CallBudget): Promise<HostList> {
    const res = await this.call("namecheap.domains.dns.getHosts", domainParams(domain), ctx, budget);
    const result = elements(res, "DomainDNSGetHostsResult")[0];
    if (result === undefined)
      throw new TemporaryError("namecheap: getHosts answered without a DomainDNSGetHostsResult");
    const hosts = elements(res, "host").map((h) => ({
      name: h["Name"] ?? "",
      type: h["Type"] ?? "",
      address: h["Address"] ?? "",
      mxPref: h["MXPref"] ?? "",
      ttl: h["TTL"] ?? "",
    }));
    return { emailType: result["EmailType"], hosts };
  }

  private async setHosts(
    domain: string,
    list: HostList,
    ctx: SolverContext,
    budget: CallBudget,
  ): Promise<void> {
    const res = await this.call(
      "namecheap.domains.dns.setHosts",
      { ...domainParams(domain), ...setHostsParams(list) },
      ctx,
      budget,
    );
    const result = elements(res, "DomainDNSSetHostsResult")[0];
    if (result?.["IsSuccess"]?.toLowerCase() !== "true") {
      throw new TemporaryError(`namecheap: setHosts for ${domain} did not report success`);
    }
  }

  private budget(calls: number): CallBudget {
    return new CallBudget(calls, (k) => {
      const wait = this.rateLimits.bucket(this.accountKey, NAMECHEAP_RATE_LIMIT).take(k);
      if (wait > 0) {
        throw new TemporaryError(
          `namecheap: client-side rate limit for this account; retrying in ${String(wait)} ms`,
          wait,
        );
      }
    });
  }

  /**
   * One command, POSTed as a form (setHosts' list can be long; the key stays out of URLs and
   * logs). Resolves to the XML of an `Status="OK"` answer; throws ApiError for an error answer.
   */
  private async call(
    command: string,
    params: Record<string, string>,
    ctx: SolverContext,
    budget: CallBudget,
  ): Promise<string> {
    budget.spend();
    const form = new URLSearchParams({
      ApiUser: this.config.apiUser,
      ApiKey: this.config.apiKey,
      UserName: this.config.userName ?? this.config.apiUser,
      ClientIp: this.config.clientIP,
      Command: command,
      ...params,
    });
    const res = await send(
      "namecheap",
      this.fetch,
      this.url,
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "user-agent": "dns01-operator" },
        body: form.toString(),
      },
      ctx,
      this.timeoutMs,
      command,
    );
    let parsed;
    try {
      parsed = parseApiResponse(res.text);
    } catch {
      throw new ApiError(res.status, "", res.text.slice(0, 200).trim(), res.headers);
    }
    if (res.status >= 200 && res.status <= 299 && parsed.ok) return res.text;
    const first = parsed.errors[0];
    throw new ApiError(res.status, first?.number ?? "", first?.message ?? "unknown error", res.headers);
  }

  private translate(err: unknown, what: string): Error {
    if (!(err instanceof ApiError)) {
      if (err instanceof TemporaryError || err instanceof TerminalError || isAbort(err)) return err as Error;
      return new TemporaryError(`namecheap: ${what}: ${errorText(err)}`, undefined, { cause: err });
    }
    const text = `error ${err.code === "" ? `HTTP ${String(err.status)}` : err.code}: ${err.apiMessage}`;
    if (err.status === 429 || /too many requests/i.test(err.apiMessage)) {
      const ms = parseRetryAfter(err.headers.get("retry-after"), Date.now()) ?? DEFAULT_THROTTLE_MS;
      this.rateLimits.bucket(this.accountKey, NAMECHEAP_RATE_LIMIT).drainFor(ms);
      return new TemporaryError(`namecheap: ${what}: rate limited by Namecheap (${text})`, ms, {
        cause: err,
      });
    }
    if (err.code === "1011150") {
      return new TerminalError(
        `namecheap: ${what}: ${text}: the clientIP ${this.config.clientIP} is not whitelisted for API access ` +
          "(Profile → Tools → API Access), or is not the address the operator's requests leave from",
        "InvalidCredentials",
        { cause: err },
      );
    }
    if (AUTH_ERRORS.has(err.code) || err.status === 401 || err.status === 403) {
      return new TerminalError(
        `namecheap: ${what}: the API user or key was refused (${text})`,
        "InvalidCredentials",
        {
          cause: err,
        },
      );
    }
    // 3xxxxxx are failures of Namecheap's upstream registries, 5xxxxx its own: both pass.
    if (err.status >= 500 || err.code === "" || /^[35]/.test(err.code)) {
      return new TemporaryError(`namecheap: ${what}: ${text}`, undefined, { cause: err });
    }
    return new TerminalError(`namecheap: ${what}: ${text}`, "ProviderError", { cause: err });
  }
}

function isValue(h: NamecheapHost, name: string, value: string): boolean {
  return h.type.toUpperCase() === "TXT" && h.name.toLowerCase() === name && unquoteTxt(h.address) === value;
}

/** Builds the provider. `deps` replaces the process-wide buckets, lock and fetch (tests). */
export function createNamecheapSolver(config: NamecheapConfig, deps: NamecheapDeps = {}): Dns01Solver {
  return new NamecheapSolver(config, deps);
}
