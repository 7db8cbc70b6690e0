/**
 * The ACME steps the controllers drive, one HTTP round trip each (plus a nonce and, once per
 * client, the directory), returning the current state and never waiting: a step that has to wait
 * for the CA returns what it saw and the caller requeues. Everything is keyed by URLs so a
 * restarted controller resumes from the URLs it stored. acme-client signs the requests; the HTTP
 * underneath is our per-client transport (see transport.ts).
 */
import { Client } from "acme-client";
import { TemporaryError, TerminalError } from "../errors.js";
import type { Logger } from "../log.js";
import { certificateInfo, splitChain } from "../pki/certificates.js";
import { parsePrivateKey } from "../pki/keys.js";
import { hasProblemType, parseRetryAfter } from "./problems.js";
import {
  toAuthorization,
  toChallenge,
  toOrder,
  type AcmeAccount,
  type AcmeAuthorization,
  type AcmeChallenge,
  type AcmeOrder,
} from "./resources.js";
import { AcmeTransport, BadNonceError, type HttpResponse } from "./transport.js";

/** How to reach a CA and as whom. */
export interface AcmeClientOptions {
  /** The directory URL (an Issuer's `spec.acme.server`). */
  readonly directoryUrl: string;
  /** The account's private key, PEM (RSA or ECDSA: acme-client cannot sign with Ed25519). */
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
  /** How many badNonce answers in a row one step absorbs before failing temporarily. Default 10. */
  readonly maxBadNonceRetries?: number | undefined;
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
}

/** The certificate chain of a valid order. */
export interface DownloadedCertificate {
  /** Leaf first, as the CA sent it, each block normalised. */
  readonly pem: string;
  /** Set when a preferred chain was asked for: whether one of the offered chains matched it. */
  readonly preferredChainFound?: boolean | undefined;
}

/** The parts of acme-client 5.4.0 we reach past its public API, checked at construction. */
interface AcmeClientInternals {
  http: {
    request: (
      url: string,
      method: string,
      opts: { data?: unknown; headers?: Record<string, string> },
    ) => Promise<HttpResponse>;
  };
  api: {
    apiRequest: (url: string, payload: unknown, validStatusCodes: number[]) => Promise<HttpResponse>;
    /** newAccount; remembers the Location as the account URL. */
    createAccount: (data: Record<string, unknown>) => Promise<HttpResponse>;
    updateAccount: (data: Record<string, unknown>) => Promise<HttpResponse>;
  };
}

function internals(client: Client): AcmeClientInternals {
  const c = client as unknown as Partial<AcmeClientInternals>;
  const api = c.api;
  if (
    typeof c.http?.request !== "function" ||
    typeof api?.apiRequest !== "function" ||
    typeof api.createAccount !== "function" ||
    typeof api.updateAccount !== "function"
  ) {
    throw new Error(
      "acme-client internals changed: http.request or api.{apiRequest,createAccount,updateAccount}",
    );
  }
  return c as AcmeClientInternals;
}

/** An ACME client for one account at one CA. Safe to share between concurrent reconciles. */
export class AcmeClient {
  readonly directoryUrl: string;
  /** badNonce answers absorbed so far (a metric; Pebble rejects 5 % of nonces on purpose). */
  badNonceRetries = 0;

  readonly #opts: AcmeClientOptions;
  readonly #transport: AcmeTransport;
  readonly #maxBadNonceRetries: number;
  readonly #log: Logger | undefined;
  #inner: Client;
  #accountUrl: string | undefined;
  #lookup: Promise<string> | undefined;

  constructor(opts: AcmeClientOptions) {
    checkAccountKey(opts.accountKeyPem);
    this.directoryUrl = opts.directoryUrl;
    this.#opts = opts;
    this.#log = opts.log?.child({ acmeServer: opts.directoryUrl });
    this.#transport = new AcmeTransport({
      caBundlePem: opts.caBundlePem,
      skipTlsVerify: opts.skipTlsVerify,
      timeoutMs: opts.timeoutMs,
      userAgent: opts.userAgent,
      log: this.#log,
    });
    this.#maxBadNonceRetries = opts.maxBadNonceRetries ?? 10;
    this.#accountUrl = opts.accountUrl;
    this.#inner = this.#build(opts.accountUrl);
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
      const data: Record<string, unknown> = { termsOfServiceAgreed: opts.termsOfServiceAgreed ?? true };
      const wantContact = opts.email ? [`mailto:${opts.email}`] : undefined;
      if (wantContact) data["contact"] = wantContact;
      if (opts.onlyReturnExisting) data["onlyReturnExisting"] = true;
      // A fresh acme-client, so newAccount is always asked even if an account URL was given: a
      // stale URL (another CA, another key) is replaced by the CA's answer. acme-client's public
      // createAccount() follows a 200 with an update carrying the same fields, which Pebble refuses
      // as an empty update; its API layer does exactly one newAccount.
      const fresh = this.#build(undefined);
      const api = internals(fresh).api;
      let account = (await api.createAccount(data)).data as Record<string, unknown>;
      const url = fresh.getAccountUrl();
      let contact = stringList(account["contact"]);
      if (wantContact && !sameSet(contact, wantContact)) {
        account = (await api.updateAccount({ contact: wantContact })).data as Record<string, unknown>;
        contact = stringList(account["contact"]);
      }
      const status = typeof account["status"] === "string" ? account["status"] : "valid";
      if (status !== "valid") {
        throw new TerminalError(`the ACME account ${url} is ${status}`, "AccountNotValid");
      }
      this.#inner = fresh;
      this.#accountUrl = url;
      return { url, status, contact };
    });
  }

  /** Creates an order for DNS names (wildcards as `*.example.test`). */
  async newOrder(dnsNames: readonly string[], opts: NewOrderOptions = {}): Promise<AcmeOrder> {
    return this.#call(`creating an order for ${dnsNames.join(", ")}`, async () => {
      await this.#ensureAccountUrl();
      const data: Record<string, unknown> = {
        identifiers: dnsNames.map((value) => ({ type: "dns", value })),
      };
      if (opts.profile) data["profile"] = opts.profile;
      if (opts.notBefore) data["notBefore"] = opts.notBefore.toISOString();
      if (opts.notAfter) data["notAfter"] = opts.notAfter.toISOString();
      const order = await this.#inner.createOrder(data as unknown as Parameters<Client["createOrder"]>[0]);
      return toOrder(order.url, order);
    });
  }

  /** The order's current state. */
  async getOrder(url: string): Promise<AcmeOrder> {
    return this.#call(`reading order ${url}`, async () => {
      const res = await this.#postAsGet(url);
      return toOrder(url, res.data, retryAfter(res));
    });
  }

  /** The authorization's current state, with its challenges. */
  async getAuthorization(url: string): Promise<AcmeAuthorization> {
    return this.#call(`reading authorization ${url}`, async () => {
      const res = await this.#postAsGet(url);
      return toAuthorization(url, res.data, retryAfter(res));
    });
  }

  /** The challenge's current state. */
  async getChallenge(url: string): Promise<AcmeChallenge> {
    return this.#call(`reading challenge ${url}`, async () => {
      const res = await this.#postAsGet(url);
      return toChallenge(res.data, url, retryAfter(res));
    });
  }

  /**
   * The TXT value for a dns-01 challenge: base64url(SHA-256(token "." thumbprint(account key))).
   * Needs no request.
   */
  async dns01Value(challenge: { readonly token: string }): Promise<string> {
    if (!challenge.token) throw new TerminalError("the challenge has no token", "InvalidChallenge");
    return this.#inner.getChallengeKeyAuthorization({
      type: "dns-01",
      token: challenge.token,
      url: "",
      status: "pending",
    });
  }

  /**
   * Tells the CA the challenge is ready to be validated. Idempotent: when the CA refuses because
   * the challenge is no longer pending (a restart after an accepted call), returns its state.
   */
  async acceptChallenge(challenge: { readonly url: string } | string): Promise<AcmeChallenge> {
    const url = typeof challenge === "string" ? challenge : challenge.url;
    return this.#call(`accepting challenge ${url}`, async () => {
      await this.#ensureAccountUrl();
      try {
        const result = await this.#inner.completeChallenge({
          url,
          type: "dns-01",
          token: "",
          status: "pending",
        });
        return toChallenge(result, url);
      } catch (err) {
        if (!(err instanceof TerminalError)) throw err;
        const current = toChallenge((await this.#postAsGet(url)).data, url);
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
      await this.#ensureAccountUrl();
      try {
        const result = await this.#inner.finalizeOrder(
          { url: order.url, finalize: order.finalize } as Parameters<Client["finalizeOrder"]>[0],
          csrPem,
        );
        return toOrder(order.url, result);
      } catch (err) {
        if (!hasProblemType(err, "orderNotReady")) throw err;
        const current = toOrder(order.url, (await this.#postAsGet(order.url)).data);
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
      const res = await this.#postAsGet(url);
      const pem = chainText(res, url);
      if (!preferredChain) return { pem };
      if (topIssuerCommonName(pem) === preferredChain) return { pem, preferredChainFound: true };
      for (const alt of alternateLinks(res.headers["link"])) {
        const altPem = chainText(await this.#postAsGet(alt), alt);
        if (topIssuerCommonName(altPem) === preferredChain) return { pem: altPem, preferredChainFound: true };
      }
      return { pem, preferredChainFound: false };
    });
  }

  /** Closes idle HTTP connections. */
  close(): void {
    this.#transport.close();
  }

  #build(accountUrl: string | undefined): Client {
    const eab = this.#opts.externalAccountBinding;
    const client = new Client({
      directoryUrl: this.#opts.directoryUrl,
      accountKey: this.#opts.accountKeyPem,
      ...(accountUrl ? { accountUrl } : {}),
      ...(eab ? { externalAccountBinding: { kid: eab.kid, hmacKey: eab.hmacKey } } : {}),
    });
    internals(client).http.request = (url, method, opts) => this.#transport.request(url, method, opts);
    return client;
  }

  /** Finds the account URL for the key once (onlyReturnExisting), when it was not given. */
  async #ensureAccountUrl(): Promise<void> {
    if (this.#accountUrl) return;
    this.#lookup ??= (async () => {
      const fresh = this.#build(undefined);
      await internals(fresh).api.createAccount({ onlyReturnExisting: true });
      const url = fresh.getAccountUrl();
      this.#inner = fresh;
      this.#accountUrl = url;
      return url;
    })().finally(() => {
      this.#lookup = undefined;
    });
    await this.#lookup;
  }

  async #postAsGet(url: string): Promise<HttpResponse> {
    await this.#ensureAccountUrl();
    return internals(this.#inner).api.apiRequest(url, null, [200]);
  }

  /**
   * Runs one step, signing it again on badNonce (the CA did nothing with a request whose nonce it
   * refused), and puts what the step was doing in front of any error's message.
   */
  async #call<T>(what: string, step: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await step();
      } catch (err) {
        if (err instanceof BadNonceError && attempt < this.#maxBadNonceRetries) {
          this.badNonceRetries++;
          this.#log?.debug("ACME server rejected a nonce; signing again", { request: err.request, attempt });
          continue;
        }
        throw inContext(what, err, attempt);
      }
    }
  }
}

function inContext(what: string, err: unknown, attempt: number): Error {
  if (err instanceof BadNonceError) {
    return new TemporaryError(`${what}: the ACME server rejected ${attempt + 1} nonces in a row`, undefined, {
      cause: err,
    });
  }
  if (err instanceof TerminalError)
    return new TerminalError(`${what}: ${err.message}`, err.reason, { cause: err });
  if (err instanceof TemporaryError) {
    return new TemporaryError(`${what}: ${err.message}`, err.retryAfterMs, { cause: err });
  }
  // acme-client's own errors: the server broke the protocol (no Location, no nonce) or the
  // library did something unexpected; worth a retry with backoff, with the message in status.
  const message = err instanceof Error ? err.message : String(err);
  return new TemporaryError(`${what}: ${message}`, undefined, { cause: err });
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

function checkAccountKey(pem: string): void {
  let algorithm: string;
  try {
    algorithm = parsePrivateKey(pem).algorithm;
  } catch (err) {
    throw new TerminalError(
      `the ACME account key is unusable: ${(err as Error).message}`,
      "InvalidAccountKey",
      {
        cause: err,
      },
    );
  }
  if (algorithm !== "RSA" && algorithm !== "ECDSA") {
    throw new TerminalError(
      `an ACME account key must be RSA or ECDSA, not ${algorithm}`,
      "InvalidAccountKey",
    );
  }
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
