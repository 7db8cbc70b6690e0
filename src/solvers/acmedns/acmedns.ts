/**
 * The `acmeDNS` DNS-01 provider: the acme-dns protocol (https://github.com/joohoi/acme-dns), with
 * cert-manager's fields. Each domain delegates `_acme-challenge.<domain>` by a CNAME to the
 * `fulldomain` of an acme-dns account; presenting a value is one `POST {host}/update` with the
 * account's credentials. acme-dns keeps the last two values of each account (so the apex and the
 * wildcard authorization of one domain both fit) and has no delete: cleanUp changes nothing on
 * the server, and the stale values are replaced by the next two updates.
 */
import { domainToASCII } from "node:url";
import { TemporaryError, TerminalError } from "../../errors.js";
import type { SecretReader } from "../credentials.js";
import { parseRetryAfter } from "../limits.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../types.js";
import {
  excerpt,
  header,
  HttpTimeoutError,
  isCertificateError,
  postJson,
  type HttpPost,
  type HttpResponse,
} from "../webhook/http.js";

/** One acme-dns account, as its `/register` answer (and cert-manager's, lego's JSON) has it. */
export interface AcmeDnsAccount {
  readonly username: string;
  readonly password: string;
  /** `<subdomain>.<acme-dns zone>`: where `_acme-challenge.<domain>` points by CNAME. */
  readonly fulldomain: string;
  readonly subdomain: string;
  /** lego's storage notes the server an account was registered with; the Issuer's host wins. */
  readonly serverUrl?: string | undefined;
}

/**
 * A TxtRecord that may carry the challenge's domain (its dnsName, without `*.`). The account is
 * looked up by it; without it, by the record name (`_acme-challenge.<domain>.`), or, once a CNAME
 * was followed, by the account whose `fulldomain` is the record name.
 */
export type AcmeDnsRecord = TxtRecord & { readonly domain?: string | undefined };

/** Where the accounts come from: the Secret key that `accountSecretRef` names. */
export interface AcmeDnsAccountSource {
  readonly secrets: SecretReader;
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
}

/** The provider's settings: cert-manager's `acmeDNS` block, resolved. */
export interface AcmeDnsConfig {
  /** Base URL of the acme-dns API, e.g. `https://auth.acme-dns.io` (a path prefix is kept). */
  readonly host: string;
  /** The account JSON is read from here on every present, so a rotated Secret is used at once. */
  readonly accounts: AcmeDnsAccountSource;
  /** Timeout of one update. Default 30 s (as goacmedns). */
  readonly timeoutMs?: number | undefined;
}

/** What a test may replace. */
export interface AcmeDnsDeps {
  readonly post?: HttpPost;
  /** Defaults to the process-wide one; tests pass their own. */
  readonly recent?: RecentUpdates;
  readonly now?: () => number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** How many values acme-dns keeps per account (its `txt` table has two rows per subdomain). */
export const ACME_DNS_VALUES_KEPT = 2;
/** The longest Retry-After we honour; a longer one is usually a misconfigured proxy. */
const MAX_RETRY_AFTER_MS = 15 * 60_000;

function invalid(message: string): TerminalError {
  return new TerminalError(`acmeDNS: ${message}`, "InvalidConfiguration");
}

/** A domain as the accounts are keyed: A-labels, lower case, no trailing dot. */
export function normalizeDomain(domain: string): string {
  const bare = domain.trim().replace(/\.$/, "").toLowerCase();
  const wildcard = bare.startsWith("*.");
  const name = wildcard ? bare.slice(2) : bare;
  const ascii = domainToASCII(name);
  return `${wildcard ? "*." : ""}${ascii === "" ? name : ascii}`;
}

function str(obj: Record<string, unknown>, field: string): string | undefined {
  const v = obj[field];
  return typeof v === "string" && v !== "" ? v : undefined;
}

/**
 * Parses the account JSON: an object mapping each domain to its account. `where` names the Secret
 * key in errors (TerminalError `InvalidConfiguration`); no error carries any part of the text,
 * since it holds passwords.
 */
export function parseAccounts(text: string, where: string): Map<string, AcmeDnsAccount> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The parser's message quotes the text around the error, which may be a password.
    throw invalid(`${where} is not valid JSON`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw invalid(`${where} must be a JSON object that maps each domain to its acme-dns account`);
  }
  const accounts = new Map<string, AcmeDnsAccount>();
  for (const [domain, raw] of Object.entries(parsed)) {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw invalid(`${where}: the entry for "${domain}" is not an object`);
    }
    const obj = raw as Record<string, unknown>;
    const missing = ["username", "password", "subdomain"].filter((f) => str(obj, f) === undefined);
    if (missing.length > 0) {
      throw invalid(`${where}: the account for "${domain}" lacks ${missing.map((f) => `"${f}"`).join(", ")}`);
    }
    const serverUrl = str(obj, "server_url");
    accounts.set(normalizeDomain(domain), {
      username: str(obj, "username") ?? "",
      password: str(obj, "password") ?? "",
      subdomain: str(obj, "subdomain") ?? "",
      fulldomain: str(obj, "fulldomain") ?? "",
      ...(serverUrl === undefined ? {} : { serverUrl }),
    });
  }
  return accounts;
}

const CHALLENGE_LABEL = "_acme-challenge.";

/**
 * The account for a record: by the challenge's domain when the record carries it, else by the
 * domain under `_acme-challenge.` in the record name, trying `<domain>` then `*.<domain>`; else the
 * account whose `fulldomain` is the record name (what following the CNAME gives). Throws
 * TerminalError `InvalidConfiguration` naming the domains the Secret has accounts for.
 */
export function findAccount(
  accounts: ReadonlyMap<string, AcmeDnsAccount>,
  record: AcmeDnsRecord,
  where: string,
): AcmeDnsAccount {
  const fqdn = normalizeDomain(record.fqdn);
  const domains: string[] = [];
  if (record.domain !== undefined && record.domain !== "") domains.push(normalizeDomain(record.domain));
  if (fqdn.startsWith(CHALLENGE_LABEL)) domains.push(fqdn.slice(CHALLENGE_LABEL.length));
  for (const d of domains) {
    const base = d.replace(/^\*\./, "");
    const found = accounts.get(base) ?? accounts.get(`*.${base}`);
    if (found) return found;
  }
  for (const account of accounts.values()) {
    if (account.fulldomain !== "" && normalizeDomain(account.fulldomain) === fqdn) return account;
  }
  const known = [...accounts.keys()].sort();
  const wanted = domains[0] ?? fqdn;
  throw invalid(
    `${where} has no account for ${wanted}` +
      (domains.length === 0 ? "" : ` (nor one whose fulldomain is ${fqdn})`) +
      `; it has accounts for ${known.length === 0 ? "no domain" : known.join(", ")}`,
  );
}

/**
 * The values this process pushed last to each acme-dns account, newest last, kept for a minute.
 * It only serves to make a repeated present of the same value a no-op: acme-dns replaces its
 * older value on every update, so pushing a value again would push out the other authorization's.
 * It is a hint, never a source of truth: it is forgotten on any failed update and after its TTL,
 * and a restart empties it (then the value is simply pushed again).
 */
export class RecentUpdates {
  private readonly entries = new Map<string, { values: string[]; at: number }>();

  constructor(
    private readonly ttlMs = 60_000,
    private readonly maxEntries = 4096,
  ) {}

  /** True when `value` is among the last two values this process pushed to `account` lately. */
  has(account: string, value: string, now: number): boolean {
    const e = this.entries.get(account);
    if (e === undefined) return false;
    if (now - e.at > this.ttlMs) {
      this.entries.delete(account);
      return false;
    }
    return e.values.includes(value);
  }

  /** Notes a successful update. */
  pushed(account: string, value: string, now: number): void {
    const e = this.entries.get(account);
    // acme-dns overwrites its older row, so a value pushed again becomes the newer one.
    const prior = e !== undefined && now - e.at <= this.ttlMs ? e.values.filter((v) => v !== value) : [];
    const values = [...prior, value].slice(-ACME_DNS_VALUES_KEPT);
    this.entries.delete(account);
    this.entries.set(account, { values, at: now });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(oldest);
    }
  }

  /** Forgets an account: an update failed, and may or may not have been applied. */
  forget(account: string): void {
    this.entries.delete(account);
  }
}

/** The process-wide memory of recent updates. */
export const recentUpdates = new RecentUpdates();

/** `{"error": "forbidden"}` → "forbidden"; anything else as a short excerpt. */
function errorText(res: HttpResponse): string {
  try {
    const parsed = JSON.parse(res.body) as unknown;
    if (typeof parsed === "object" && parsed !== null && "error" in parsed) {
      const e = parsed.error;
      if (typeof e === "string") return excerpt(e);
    }
  } catch {
    // not JSON: use the text
  }
  return excerpt(res.body) || "(empty body)";
}

/** Explanations of the errors acme-dns answers, for the Challenge's status. */
const HINTS: Readonly<Record<string, string>> = {
  forbidden:
    "acme-dns answers this for an unknown username, a wrong password, a subdomain that is not the account's, " +
    "or a client address outside the account's allowfrom",
  bad_txt: "acme-dns takes only 43-character values (a DNS-01 key authorization digest)",
  bad_subdomain: "the account's subdomain is not a valid DNS label",
};

function describe(res: HttpResponse): string {
  const text = errorText(res);
  const hint = HINTS[text];
  return `HTTP ${res.status}: ${text}${hint === undefined ? "" : ` (${hint})`}`;
}

/** Maps a non-200 answer to the error the queue and the status need. */
function failure(res: HttpResponse, what: string, now: number): Error {
  const status = res.status;
  const message = `acmeDNS: ${what}: ${describe(res)}`;
  if (status === 401 || status === 403) return new TerminalError(message, "InvalidCredentials");
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    const after = parseRetryAfter(header(res, "retry-after"), now);
    return new TemporaryError(message, after === undefined ? undefined : Math.min(after, MAX_RETRY_AFTER_MS));
  }
  // 400 (bad value or subdomain), 404 (host is not an acme-dns API), a redirect, ...: retrying
  // would get the same answer.
  return new TerminalError(
    status >= 300 && status < 400
      ? `${message}; redirects are not followed: set host to the address that answers`
      : message,
    "InvalidConfiguration",
  );
}

/** `host` checked and without trailing slashes; TerminalError `InvalidConfiguration` if unusable. */
export function parseHost(host: string): string {
  let url: URL;
  try {
    url = new URL(host.trim());
  } catch {
    throw invalid(`host "${host}" is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw invalid(`host "${host}" must be an http:// or https:// URL`);
  }
  if (url.username !== "" || url.password !== "") throw invalid("host must not carry credentials");
  return url.href.replace(/\/+$/, "");
}

/**
 * Builds the acme-dns provider. The account JSON is read from its Secret on each present (and
 * parsed there), so a rotated Secret counts at once and cleanUp, which needs no account, never
 * fails because the Secret is gone.
 */
export function createAcmeDnsSolver(config: AcmeDnsConfig, deps: AcmeDnsDeps = {}): Dns01Solver {
  const base = parseHost(config.host);
  const post = deps.post ?? postJson;
  const recent = deps.recent ?? recentUpdates;
  const now = deps.now ?? Date.now;
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const src = config.accounts;
  const where = `Secret ${src.namespace}/${src.name} key "${src.key}"`;

  async function present(record: AcmeDnsRecord, ctx: SolverContext): Promise<void> {
    let text: string;
    try {
      text = await src.secrets.read(src.namespace, { name: src.name, key: src.key }, ctx.signal);
    } catch (err) {
      if (err instanceof TerminalError) {
        throw new TerminalError(`acmeDNS: accountSecretRef: ${err.message}`, err.reason, { cause: err });
      }
      throw err;
    }
    const account = findAccount(parseAccounts(text, where), record, where);
    const memoryKey = `${base}|${account.subdomain.toLowerCase()}`;
    const log = ctx.log.child({
      provider: "acmeDNS",
      host: base,
      subdomain: account.subdomain,
      fqdn: record.fqdn,
    });
    if (recent.has(memoryKey, record.value, now())) {
      // Pushing it again would replace the other value the account holds (the other authorization's).
      log.debug("acme-dns already holds this value from a recent update; not sending it again");
      return;
    }
    const what = `failed to update the TXT record of ${account.subdomain} at ${base}`;
    let res: HttpResponse;
    try {
      res = await post(
        new URL(`${base}/update`),
        JSON.stringify({ subdomain: account.subdomain, txt: record.value }),
        {
          headers: { "x-api-user": account.username, "x-api-key": account.password },
          timeoutMs,
          signal: ctx.signal,
        },
      );
    } catch (err) {
      recent.forget(memoryKey);
      if (ctx.signal.aborted) throw err;
      const detail = err instanceof HttpTimeoutError ? err.message : (err as Error).message;
      if (isCertificateError(err)) {
        throw new TerminalError(
          `acmeDNS: ${what}: the server's certificate is not trusted (${detail}): ` +
            "add its CA to the operator's trust (NODE_EXTRA_CA_CERTS)",
          "InvalidConfiguration",
          { cause: err },
        );
      }
      throw new TemporaryError(`acmeDNS: ${what}: ${detail}`, undefined, { cause: err });
    }
    if (res.status !== 200) {
      recent.forget(memoryKey);
      throw failure(res, what, now());
    }
    recent.pushed(memoryKey, record.value, now());
    log.debug("updated the acme-dns TXT record");
  }

  return {
    present,
    cleanUp(record: AcmeDnsRecord, ctx: SolverContext): Promise<void> {
      // acme-dns has no delete: the value stays until two newer updates replace it. It is a
      // digest bound to a finished challenge, worthless to anyone else.
      ctx.log.debug("acme-dns keeps the value until two newer updates replace it; nothing to remove", {
        provider: "acmeDNS",
        fqdn: record.fqdn,
      });
      return Promise.resolve();
    },
  };
}
