/**
 * The ACME steps the controllers drive, one HTTP round trip each (plus a nonce when none is
 * pooled, and the directory once a day), returning the current state and never waiting: a step
 * that has to wait for the CA returns what it saw and the caller requeues. Everything is keyed by
 * URLs so a restarted controller resumes from the URLs it stored. Requests are signed here
 * (jws.ts) and sent by our own transport (transport.ts); no ACME library sits in between.
 */
import { TemporaryError, TerminalError } from "../errors.js";
import type { Logger } from "../log.js";
import { certificateInfo, splitChain } from "../pki/certificates.js";
import type { AcmeAction, AcmeRequestRecord } from "./actions.js";
import { ariCertId, toRenewalInfo, type RenewalInfo } from "./ari.js";
import { AccountKey, type JwsSigner } from "./jws.js";
import { hasProblemType, parseRetryAfter, problemOf, shortProblemType } from "./problems.js";
import {
  toAuthorization,
  toChallenge,
  toOrder,
  type AcmeAccount,
  type AcmeAuthorization,
  type AcmeChallenge,
  type AcmeOrder,
} from "./resources.js";
import { AcmeTransport, answerError, BadNonceError, type HttpResponse } from "./transport.js";

/** How to reach a CA and as whom. */
export interface AcmeClientOptions {
  /** The directory URL (an Issuer's `spec.acme.server`). */
  readonly directoryUrl: string;
  /** The account's private key, PEM: RSA (2048 bits or more) or ECDSA P-256, P-384 or P-521. */
  readonly accountKeyPem: string;
  /** The account URL when known (an Issuer's `status.acme.uri`); found with the key otherwise. */
  readonly accountUrl?: string | undefined;
  /** External account binding: key ID and the base64url HMAC key (HS256). */
  readonly externalAccountBinding?: { readonly kid: string; readonly hmacKey: string } | undefined;
  /** PEM CAs to trust for the CA's HTTPS instead of the system's (an Issuer's `caBundle`). */
  readonly caBundlePem?: string | undefined;
  /** Skip verifying the CA's HTTPS certificate (an Issuer's `skipTLSVerify`). */
  readonly skipTlsVerify?: boolean | undefined;
  /** Deadline per HTTP request. Default 30 s. */
  readonly timeoutMs?: number | undefined;
  readonly userAgent?: string | undefined;
  /** How many badNonce answers in a row one request absorbs before failing temporarily. Default 10. */
  readonly maxBadNonceRetries?: number | undefined;
  /**
   * Called once per HTTP request to the CA (nonces and the directory included), for metrics
   * such as `certmanager_http_acme_client_request_count{scheme,host,action,method,status}`.
   */
  readonly onRequest?: ((r: AcmeRequestRecord) => void) | undefined;
  readonly log?: Logger | undefined;
}

/** What `ensureAccount` registers or looks up. */
export interface EnsureAccountOptions {
  /** Contact email (becomes `mailto:`); left as it is on the CA when unset. */
  readonly email?: string | undefined;
  /** Default true: the Issuer's existence is the user's agreement, as in cert-manager. */
  readonly termsOfServiceAgreed?: boolean | undefined;
  /** Only find an existing account for the key; never register one (RFC 8555 section 7.3.1). */
  readonly onlyReturnExisting?: boolean | undefined;
}

/** Optional fields of a new order. */
export interface NewOrderOptions {
  /** An ACME profile name (draft-aaron-acme-profiles), e.g. `tlsserver` or `shortlived`. */
  readonly profile?: string | undefined;
  readonly notBefore?: Date | undefined;
  /** Requested expiry (cert-manager's `enableDurationFeature`); many CAs refuse or ignore it. */
  readonly notAfter?: Date | undefined;
  /**
   * The ARI certID (`ariCertId`) of the certificate this order renews (RFC 9773 section 5).
   * Let's Encrypt exempts such orders from its rate limits. A CA that refuses the value makes
   * `newOrder` throw an error for which `isReplacesRefused` is true.
   */
  readonly replaces?: string | undefined;
}

/** The certificate chain of a valid order. */
export interface DownloadedCertificate {
  /** Leaf first, as the CA sent it, each block normalised. */
  readonly pem: string;
  /** Set when a preferred chain was asked for: whether one of the offered chains matched it. */
  readonly preferredChainFound?: boolean | undefined;
}

/** The directory fields we use (RFC 8555 section 7.1.1, RFC 9773 section 4). */
interface Directory {
  readonly newNonce: string;
  readonly newAccount: string;
  readonly newOrder: string;
  readonly renewalInfo?: string | undefined;
}

/** The directory is read again after this long, so that a CA adding ARI is noticed without a restart. */
const DIRECTORY_TTL_MS = 24 * 3_600_000;

/**
 * Thrown by `newOrder` when the CA refused its `replaces` value: the predecessor is already
 * replaced (`alreadyReplaced`), unknown to the CA, or not this account's. Ordering again without
 * `replaces` is the way on; use `isReplacesRefused` to recognise it.
 */
export class ReplacesRefusedError extends TerminalError {
  constructor(
    message: string,
    reason: string,
    /** The certID that was refused. */
    readonly replaces: string,
    options?: ErrorOptions,
  ) {
    super(message, reason, options);
  }
}

/** True when `err` (or its cause chain) says the CA refused a new order's `replaces` value. */
export function isReplacesRefused(err: unknown): err is ReplacesRefusedError {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof ReplacesRefusedError) return true;
  }
  return false;
}

/** An ACME client for one account at one CA. Safe to share between concurrent reconciles. */
export class AcmeClient {
  readonly directoryUrl: string;
  /** badNonce answers absorbed so far (a metric; Pebble rejects 5 % of nonces on purpose). */
  badNonceRetries = 0;

  readonly #key: AccountKey;
  readonly #eab: { readonly kid: string; readonly hmacKey: string } | undefined;
  readonly #transport: AcmeTransport;
  readonly #maxBadNonceRetries: number;
  readonly #log: Logger | undefined;
  #accountUrl: string | undefined;
  #lookup: Promise<string> | undefined;
  #directory: { value: Directory; at: number } | undefined;
  #directoryFetch: Promise<Directory> | undefined;

  constructor(opts: AcmeClientOptions) {
    this.#key = AccountKey.fromPem(opts.accountKeyPem);
    this.directoryUrl = opts.directoryUrl;
    this.#eab = opts.externalAccountBinding;
    this.#log = opts.log?.child({ acmeServer: opts.directoryUrl });
    this.#transport = new AcmeTransport({
      caBundlePem: opts.caBundlePem,
      skipTlsVerify: opts.skipTlsVerify,
      timeoutMs: opts.timeoutMs,
      userAgent: opts.userAgent,
      onRequest: opts.onRequest,
      log: this.#log,
    });
    this.#maxBadNonceRetries = opts.maxBadNonceRetries ?? 10;
    this.#accountUrl = opts.accountUrl;
  }

  /** The account URL, once known (given, registered or looked up). */
  get accountUrl(): string | undefined {
    return this.#accountUrl;
  }

  /**
   * Registers the account key with the CA, or finds the account it already has (newAccount is
   * idempotent per key), and updates its contact when an email is given. With
   * `onlyReturnExisting` it never registers: a key without an account gives a TerminalError with
   * reason `AccountDoesNotExist`. Uses the external account binding when one is configured.
   */
  async ensureAccount(opts: EnsureAccountOptions = {}): Promise<AcmeAccount> {
    return this.#call("registering the ACME account", async () => {
      const dir = await this.#getDirectory();
      const wantContact = opts.email ? [`mailto:${opts.email}`] : undefined;
      const payload: Record<string, unknown> = { termsOfServiceAgreed: opts.termsOfServiceAgreed ?? true };
      if (wantContact) payload["contact"] = wantContact;
      if (opts.onlyReturnExisting) {
        payload["onlyReturnExisting"] = true;
      } else if (this.#eab) {
        payload["externalAccountBinding"] = await this.#key.externalAccountBinding(
          this.#eab.kid,
          this.#eab.hmacKey,
          dir.newAccount,
        );
      }
      // newAccount is always asked, even when an account URL was given: a stale URL (another CA,
      // another key) is replaced by the CA's answer.
      const res = await this.#post(
        dir.newAccount,
        payload,
        opts.onlyReturnExisting ? "get_registration" : "register_account",
        { jwk: true },
      );
      const url = location(res, "account");
      let account = asObject(res.data);
      let contact = stringList(account["contact"]);
      if (wantContact && !sameSet(contact, wantContact)) {
        const updated = await this.#post(url, { contact: wantContact }, "update_registration", { kid: url });
        account = asObject(updated.data);
        contact = stringList(account["contact"]);
      }
      const status = typeof account["status"] === "string" ? account["status"] : "valid";
      if (status !== "valid") {
        throw new TerminalError(`the ACME account ${url} is ${status}`, "AccountNotValid");
      }
      this.#accountUrl = url;
      return { url, status, contact };
    });
  }

  /** Creates an order for DNS names (wildcards as `*.example.test`). */
  async newOrder(dnsNames: readonly string[], opts: NewOrderOptions = {}): Promise<AcmeOrder> {
    return this.#call(`creating an order for ${dnsNames.join(", ")}`, async () => {
      const dir = await this.#getDirectory();
      const kid = await this.#ensureAccountUrl();
      const payload: Record<string, unknown> = {
        identifiers: dnsNames.map((value) => ({ type: "dns", value })),
      };
      if (opts.profile) payload["profile"] = opts.profile;
      if (opts.notBefore) payload["notBefore"] = opts.notBefore.toISOString();
      if (opts.notAfter) payload["notAfter"] = opts.notAfter.toISOString();
      if (opts.replaces) payload["replaces"] = opts.replaces;
      let res: HttpResponse;
      try {
        res = await this.#post(dir.newOrder, payload, "authorize_order", { kid });
      } catch (err) {
        if (opts.replaces && refusesReplaces(err)) {
          const terminal = err instanceof TerminalError ? err.reason : "ReplacesRefused";
          throw new ReplacesRefusedError(
            `the CA refused to let this order replace certificate ${opts.replaces}: ${(err as Error).message}`,
            terminal,
            opts.replaces,
            { cause: err },
          );
        }
        throw err;
      }
      const url = location(res, "order");
      return toOrder(url, res.data, retryAfter(res));
    });
  }

  /** The order's current state. */
  async getOrder(url: string): Promise<AcmeOrder> {
    return this.#call(`reading order ${url}`, async () => {
      const res = await this.#postAsGet(url, "get_order");
      return toOrder(url, res.data, retryAfter(res));
    });
  }

  /** The authorization's current state, with its challenges. */
  async getAuthorization(url: string): Promise<AcmeAuthorization> {
    return this.#call(`reading authorization ${url}`, async () => {
      const res = await this.#postAsGet(url, "get_authorization");
      return toAuthorization(url, res.data, retryAfter(res));
    });
  }

  /** The challenge's current state. */
  async getChallenge(url: string): Promise<AcmeChallenge> {
    return this.#call(`reading challenge ${url}`, async () => {
      const res = await this.#postAsGet(url, "get_challenge");
      return toChallenge(res.data, url, retryAfter(res));
    });
  }

  /**
   * The TXT value for a dns-01 challenge: base64url(SHA-256(token "." thumbprint(account key))).
   * Needs no request.
   */
  async dns01Value(challenge: { readonly token: string }): Promise<string> {
    if (!challenge.token) throw new TerminalError("the challenge has no token", "InvalidChallenge");
    return this.#key.dns01Value(challenge.token);
  }

  /**
   * Tells the CA the challenge is ready to be validated. Idempotent: when the CA refuses because
   * the challenge is no longer pending (a restart after an accepted call), returns its state.
   */
  async acceptChallenge(challenge: { readonly url: string } | string): Promise<AcmeChallenge> {
    const url = typeof challenge === "string" ? challenge : challenge.url;
    return this.#call(`accepting challenge ${url}`, async () => {
      const kid = await this.#ensureAccountUrl();
      try {
        // The payload is an empty object (RFC 8555 section 7.5.1), not POST-as-GET's empty string.
        const res = await this.#post(url, {}, "accept_challenge", { kid });
        return toChallenge(res.data, url, retryAfter(res));
      } catch (err) {
        if (!(err instanceof TerminalError)) throw err;
        const current = toChallenge((await this.#postAsGet(url, "get_challenge")).data, url);
        if (current.status !== "pending") return current;
        throw err;
      }
    });
  }

  /**
   * Finalizes a ready order with a PEM CSR and returns the order (processing or valid). Idempotent:
   * when the CA answers orderNotReady because the order was already finalized, returns its state.
   * An order still pending gives a TemporaryError; an invalid one a TerminalError with its problem.
   */
  async finalize(
    order: { readonly url: string; readonly finalize: string },
    csrPem: string,
  ): Promise<AcmeOrder> {
    return this.#call(`finalizing order ${order.url}`, async () => {
      const kid = await this.#ensureAccountUrl();
      const csr = csrDer(csrPem).toString("base64url");
      try {
        const res = await this.#post(order.finalize, { csr }, "create_order_cert", { kid });
        return toOrder(order.url, res.data, retryAfter(res));
      } catch (err) {
        if (!hasProblemType(err, "orderNotReady")) throw err;
        const current = toOrder(order.url, (await this.#postAsGet(order.url, "get_order")).data);
        if (current.status === "processing" || current.status === "valid") return current;
        if (current.status === "invalid") {
          throw new TerminalError(
            `order ${order.url} is invalid: ${current.error?.detail ?? "no detail"}`,
            "OrderInvalid",
            { cause: err },
          );
        }
        throw new TemporaryError(
          `order ${order.url} is ${current.status}, not ready to finalize`,
          undefined,
          {
            cause: err,
          },
        );
      }
    });
  }

  /**
   * Downloads the certificate chain of a valid order (or from its certificate URL). With
   * `preferredChain`, picks the first of the default and alternate chains whose topmost
   * certificate's issuer common name is that name, as cert-manager does; the default chain otherwise.
   */
  async downloadCertificate(
    order: { readonly certificate?: string | undefined; readonly status?: string } | string,
    preferredChain?: string,
  ): Promise<DownloadedCertificate> {
    const url = typeof order === "string" ? order : order.certificate;
    if (!url) {
      const status = typeof order === "string" ? "unknown" : (order.status ?? "unknown");
      throw new TemporaryError(`the order has no certificate yet (status ${status})`);
    }
    return this.#call(`downloading certificate ${url}`, async () => {
      const res = await this.#postAsGet(url, "fetch_cert");
      const pem = chainText(res, url);
      if (!preferredChain) return { pem };
      if (topIssuerCommonName(pem) === preferredChain) return { pem, preferredChainFound: true };
      for (const alt of alternateLinks(res.headers["link"])) {
        const altPem = chainText(await this.#postAsGet(alt, "fetch_cert"), alt);
        if (topIssuerCommonName(altPem) === preferredChain) return { pem: altPem, preferredChainFound: true };
      }
      return { pem, preferredChainFound: false };
    });
  }

  /** Whether the CA's directory offers ACME Renewal Information (RFC 9773). */
  async supportsRenewalInfo(): Promise<boolean> {
    const dir = await this.#call("reading the ACME directory", () => this.#getDirectory());
    return dir.renewalInfo !== undefined;
  }

  /**
   * The CA's suggested renewal window for a PEM certificate (the leaf, when a chain is given),
   * by an unauthenticated GET of `<renewalInfo>/<certID>` (RFC 9773 section 4.1). Undefined when
   * the directory has no `renewalInfo`. Any failure, the CA's 4xx included, is a TemporaryError
   * with the answer's Retry-After, so that the caller falls back to its own renewal time and asks
   * again later; a certificate ARI cannot name (no Authority Key Identifier) is a TerminalError.
   */
  async getRenewalInfo(certPem: string): Promise<RenewalInfo | undefined> {
    const certId = ariCertId(certPem);
    return this.#call(`fetching renewal information for certificate ${certId}`, async () => {
      const dir = await this.#getDirectory();
      if (dir.renewalInfo === undefined) return undefined;
      const url = `${dir.renewalInfo.replace(/\/+$/, "")}/${certId}`;
      const res = await this.#transport.request(url, "GET", {
        action: "get_renewal_info",
        returnErrors: true,
      });
      if (res.status >= 400) {
        // Temporary whatever the CA said: without ARI the caller still has its own renewal time,
        // and asks again after the Retry-After (or its backoff).
        const err = answerError(res, `GET ${url}`);
        throw new TemporaryError(err.message, retryAfter(res), { cause: err });
      }
      return toRenewalInfo(res.data, url, retryAfter(res));
    });
  }

  /** Closes idle HTTP connections. */
  close(): void {
    this.#transport.close();
  }

  /** The directory, fetched once and then once a day; concurrent callers share one fetch. */
  async #getDirectory(): Promise<Directory> {
    const cached = this.#directory;
    if (cached && Date.now() - cached.at < DIRECTORY_TTL_MS) return cached.value;
    this.#directoryFetch ??= (async () => {
      const res = await this.#transport.request(this.directoryUrl, "GET", { action: "discover" });
      const value = toDirectory(res.data, this.directoryUrl);
      this.#directory = { value, at: Date.now() };
      return value;
    })().finally(() => {
      this.#directoryFetch = undefined;
    });
    return this.#directoryFetch;
  }

  /** The account URL, found once for the key (newAccount with onlyReturnExisting) when not given. */
  async #ensureAccountUrl(): Promise<string> {
    if (this.#accountUrl) return this.#accountUrl;
    this.#lookup ??= (async () => {
      const dir = await this.#getDirectory();
      const res = await this.#post(dir.newAccount, { onlyReturnExisting: true }, "get_registration", {
        jwk: true,
      });
      const url = location(res, "account");
      this.#accountUrl = url;
      return url;
    })().finally(() => {
      this.#lookup = undefined;
    });
    return this.#lookup;
  }

  async #postAsGet(url: string, action: AcmeAction): Promise<HttpResponse> {
    const kid = await this.#ensureAccountUrl();
    return this.#post(url, undefined, action, { kid });
  }

  /**
   * One signed POST. A badNonce answer means the CA did nothing with the request, so it is signed
   * again at once with the nonce that answer carried; only a long run of them fails (temporarily).
   */
  async #post(url: string, payload: unknown, action: AcmeAction, signer: JwsSigner): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const nonce = await this.#nonce(action);
      const body = await this.#key.sign(url, nonce, signer, payload);
      try {
        return await this.#transport.request(url, "POST", { action, body });
      } catch (err) {
        if (!(err instanceof BadNonceError)) throw err;
        if (attempt >= this.#maxBadNonceRetries) {
          throw new TemporaryError(`the ACME server rejected ${attempt + 1} nonces in a row`, undefined, {
            cause: err,
          });
        }
        this.badNonceRetries++;
        this.#log?.debug("ACME server rejected a nonce; signing again", { request: err.request, attempt });
      }
    }
  }

  /** A nonce from the pool, or a fresh one from newNonce (labelled with the action it is for). */
  async #nonce(action: AcmeAction): Promise<string> {
    const pooled = this.#transport.takeNonce();
    if (pooled !== undefined) return pooled;
    const dir = await this.#getDirectory();
    // This answer's nonce is ours: through the pool, a concurrent request could take it first.
    const res = await this.#transport.request(dir.newNonce, "HEAD", { action, keepNonce: true });
    const fresh = res.headers["replay-nonce"];
    if (!fresh) {
      throw new TemporaryError(`ACME server sent no Replay-Nonce header from ${dir.newNonce}`);
    }
    return fresh;
  }

  /** Runs one step and puts what the step was doing in front of any error's message. */
  async #call<T>(what: string, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      throw inContext(what, err);
    }
  }
}

/**
 * Whether a failed newOrder that carried `replaces` failed because of it: RFC 9773's
 * `alreadyReplaced`, or a refusal whose detail is about the replaced certificate (Pebble and
 * Boulder answer malformed, unauthorized or serverInternal for an unknown certID, another
 * account's certificate or no shared identifier). Rate limits and outages are not refusals.
 */
function refusesReplaces(err: unknown): boolean {
  const problem = problemOf(err);
  if (!problem) return false;
  const type = shortProblemType(problem.type);
  if (type === "alreadyReplaced") return true;
  if (!["malformed", "unauthorized", "serverInternal", "conflict"].includes(type)) return false;
  return /replace|\bARI\b|cert ?ID|certificate|identifier in the new order/i.test(problem.detail ?? "");
}

function inContext(what: string, err: unknown): Error {
  if (err instanceof ReplacesRefusedError) {
    return new ReplacesRefusedError(`${what}: ${err.message}`, err.reason, err.replaces, { cause: err });
  }
  if (err instanceof TerminalError) {
    return new TerminalError(`${what}: ${err.message}`, err.reason, { cause: err });
  }
  if (err instanceof TemporaryError) {
    return new TemporaryError(`${what}: ${err.message}`, err.retryAfterMs, { cause: err });
  }
  // Our own bugs or the server breaking the protocol in a way nothing above caught: worth a
  // retry with backoff, with the message in status.
  const message = err instanceof Error ? err.message : String(err);
  return new TemporaryError(`${what}: ${message}`, undefined, { cause: err });
}

function toDirectory(data: unknown, url: string): Directory {
  const o = asObject(data);
  const need = (field: string): string => {
    const v = o[field];
    if (typeof v !== "string" || v === "") {
      throw new TemporaryError(`ACME server sent a directory without "${field}" at ${url}`);
    }
    return v;
  };
  const renewalInfo = o["renewalInfo"];
  return {
    newNonce: need("newNonce"),
    newAccount: need("newAccount"),
    newOrder: need("newOrder"),
    ...(typeof renewalInfo === "string" && renewalInfo !== "" ? { renewalInfo } : {}),
  };
}

function location(res: HttpResponse, what: string): string {
  const url = res.headers["location"];
  if (!url) throw new TemporaryError(`ACME server sent no Location header for the new ${what}`);
  return url;
}

function asObject(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((c): c is string => typeof c === "string") : [];
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function retryAfter(res: HttpResponse): number | undefined {
  return parseRetryAfter(res.headers["retry-after"]);
}

function csrDer(pem: string): Buffer {
  const m =
    /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]*?)-----END (?:NEW )?CERTIFICATE REQUEST-----/.exec(
      pem,
    );
  if (!m?.[1]) throw new TerminalError("the CSR is not a PEM certificate request", "InvalidCSR");
  return Buffer.from(m[1].replace(/\s+/g, ""), "base64");
}

function chainText(res: HttpResponse, url: string): string {
  if (typeof res.data !== "string") {
    throw new TemporaryError(`ACME server sent no PEM certificate chain at ${url}`);
  }
  try {
    return splitChain(res.data).join("");
  } catch (err) {
    throw new TemporaryError(`ACME server sent an unreadable certificate chain at ${url}`, undefined, {
      cause: err,
    });
  }
}

function topIssuerCommonName(pem: string): string | undefined {
  const blocks = splitChain(pem);
  const top = blocks[blocks.length - 1];
  return top === undefined ? undefined : certificateInfo(top).issuerCommonName;
}

/** URLs of `Link: <url>;rel="alternate"` entries (RFC 8555 section 7.4.2), in order. */
export function alternateLinks(header: string | undefined): string[] {
  if (!header) return [];
  const out: string[] = [];
  for (const m of header.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]+)*)/g)) {
    const params = m[2] ?? "";
    if (/;\s*rel\s*=\s*"?alternate"?/i.test(params) && m[1]) out.push(m[1]);
  }
  return out;
}
