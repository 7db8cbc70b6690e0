/**
 * A small in-process ACME CA for unit tests: it checks what a real CA checks (JWS signatures and
 * that `alg` fits the key, one-time nonces, the `url` header, `jwk` only for newAccount and `kid`
 * otherwise, empty POST-as-GET payloads, external account binding MACs), issues real chains from
 * a test CA, serves ARI renewal windows (RFC 9773) and honours `replaces`, while tests can script
 * faults (badNonce bursts, rate limits with Retry-After, 5xx, hanging connections) and decide
 * when challenges turn valid. Not for production use.
 */
import { createHash, createHmac, createPublicKey, randomBytes, verify, type JsonWebKey } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import * as x509 from "@peculiar/x509";
import { createTestCa, signTestCsr, type TestCertificate } from "../pki/testing.js";

/** One request as the fake saw it, JWS decoded. */
export interface FakeRequest {
  readonly method: string;
  readonly path: string;
  readonly protectedHeader?: Record<string, unknown>;
  /** The decoded payload; `""` for POST-as-GET. */
  readonly payload?: unknown;
}

/** A scripted answer. An object body is sent as JSON (problem+json when it has a `type`). */
export interface FakeResponse {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
  /** Never answer (to test client timeouts). */
  readonly hang?: boolean;
  /** This is a newNonce answer: it carries a Replay-Nonce even with `nonceOnlyFromNewNonce`. */
  readonly nonce?: boolean;
}

interface Script {
  method: string;
  pathPrefix: string;
  respond: (req: FakeRequest) => FakeResponse;
  times: number;
}

interface FakeOrder {
  status: string;
  identifiers: { type: string; value: string }[];
  authorizations: string[];
  certificate?: string;
  error?: unknown;
  profile?: string;
  replaces?: string;
  account: string;
}

interface FakeIssued {
  readonly leafPem: string;
  readonly account: string;
  replaced: boolean;
  /** A scripted renewalInfo answer (`setRenewalInfo`), instead of the computed window. */
  renewalInfo?: { body: unknown; headers: Record<string, string> };
}

interface FakeAuthz {
  identifier: { type: string; value: string };
  wildcard: boolean;
  status: string;
  challenges: string[];
}

interface FakeChallenge {
  type: string;
  token: string;
  status: string;
  authz: string;
  error?: unknown;
}

/** Options of `FakeAcmeServer.start`. */
export interface FakeAcmeServerOptions {
  /** Serve HTTPS with this certificate and key (PEM) instead of plain HTTP. */
  readonly tls?: { readonly certPem: string; readonly keyPem: string };
  /** Require external account binding: map of key ID to base64url HMAC key. */
  readonly eabKeys?: Record<string, string>;
  /**
   * What accepting a challenge leads to. Default: it becomes valid on the next read; "invalid"
   * fails it with an incorrectResponse problem; "processing" leaves it processing.
   */
  readonly challengeOutcome?: "valid" | "invalid" | "processing";
  /** Leave `renewalInfo` out of the directory, as a CA without ARI does. Default false. */
  readonly noRenewalInfo?: boolean;
  /** Send Replay-Nonce only from newNonce, so that every signed request needs a newNonce first. */
  readonly nonceOnlyFromNewNonce?: boolean;
}

const P = "urn:ietf:params:acme:error:";

/** A fake ACME server on 127.0.0.1. */
export class FakeAcmeServer {
  /** Every request received, in order. */
  readonly requests: FakeRequest[] = [];
  /** Nonces handed out and not yet used. */
  readonly #nonces = new Set<string>();
  readonly #accounts = new Map<string, { jwk: JsonWebKey; contact: string[]; thumb: string }>();
  readonly #orders = new Map<string, FakeOrder>();
  readonly #authzs = new Map<string, FakeAuthz>();
  readonly #challenges = new Map<string, FakeChallenge>();
  readonly #certs = new Map<string, string[]>();
  /** Issued leaves by their RFC 9773 certID, computed from the DER independently of the client. */
  readonly #issued = new Map<string, FakeIssued>();
  readonly #scripts: Script[] = [];
  #seq = 0;
  readonly #pending = new Set<http.ServerResponse>();

  private constructor(
    readonly server: http.Server,
    readonly baseUrl: string,
    readonly opts: FakeAcmeServerOptions,
    /** The root the default chain ends under (`Fake Root X`). */
    readonly root: TestCertificate,
    /** The root of the alternate chain (`Fake Root Y`), which cross-signs the same intermediate. */
    readonly altRoot: TestCertificate,
    readonly intermediate: TestCertificate,
    readonly crossIntermediate: TestCertificate,
  ) {}

  /** Starts a fake on a free loopback port. */
  static async start(opts: FakeAcmeServerOptions = {}): Promise<FakeAcmeServer> {
    const root = await createTestCa({ commonName: "Fake Root X" });
    const altRoot = await createTestCa({ commonName: "Fake Root Y" });
    const intermediate = await createTestCa({ commonName: "Fake Intermediate", issuer: root });
    const crossIntermediate = await createTestCa({
      commonName: "Fake Intermediate",
      issuer: altRoot,
      key: intermediate.key,
    });
    const holder: { self?: FakeAcmeServer } = {};
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const self = holder.self;
      if (self) self.#handle(req, res);
    };
    const server = opts.tls
      ? https.createServer({ cert: opts.tls.certPem, key: opts.tls.keyPem }, handler)
      : http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const baseUrl = `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`;
    const self = new FakeAcmeServer(server, baseUrl, opts, root, altRoot, intermediate, crossIntermediate);
    holder.self = self;
    return self;
  }

  /** The directory URL to give a client. */
  get directoryUrl(): string {
    return `${this.baseUrl}/dir`;
  }

  /** Answers the next `times` requests whose method and path match with `response`, ahead of normal handling. */
  script(
    method: string,
    pathPrefix: string,
    response: FakeResponse | ((req: FakeRequest) => FakeResponse),
    times = 1,
  ): void {
    this.#scripts.push({
      method: method.toUpperCase(),
      pathPrefix,
      respond: typeof response === "function" ? response : () => response,
      times,
    });
  }

  /** Rejects the next `times` signed requests whose path starts with `pathPrefix` as badNonce. */
  rejectNonces(times: number, pathPrefix = "/"): void {
    this.script(
      "POST",
      pathPrefix,
      () => ({ status: 400, body: { type: `${P}badNonce`, detail: "JWS has an invalid anti-replay nonce" } }),
      times,
    );
  }

  /** Answers the next `times` requests to `pathPrefix` with 429 rateLimited and a Retry-After. */
  rateLimit(method: string, pathPrefix: string, retryAfterSeconds: number, times = 1): void {
    this.script(
      method,
      pathPrefix,
      {
        status: 429,
        headers: { "Retry-After": String(retryAfterSeconds) },
        body: { type: `${P}rateLimited`, detail: "too many requests for this account, retry later" },
      },
      times,
    );
  }

  /**
   * Overrides the renewalInfo answer for an issued certificate, as Pebble's management
   * `POST /set-renewal-info/` does. `body` is sent as JSON; headers default to a 6 h Retry-After.
   */
  setRenewalInfo(
    certPem: string,
    body: unknown,
    headers: Record<string, string> = { "Retry-After": "21600" },
  ): void {
    const issued = this.#issued.get(fakeCertId(certPem));
    if (!issued) throw new Error("setRenewalInfo: this fake did not issue that certificate");
    issued.renewalInfo = { body, headers };
  }

  /** The certIDs of certificates replaced by a finalized order, as the CA records them. */
  get replacedCertIds(): string[] {
    return [...this.#issued.entries()].filter(([, c]) => c.replaced).map(([id]) => id);
  }

  /** Forgets every nonce handed out, as a restarted CA does: each one is a badNonce from now on. */
  forgetNonces(): void {
    this.#nonces.clear();
  }

  /** The signed requests (POSTs) received so far. */
  get signedRequests(): FakeRequest[] {
    return this.requests.filter((r) => r.method === "POST");
  }

  /** Stops the server and drops hanging requests. */
  async close(): Promise<void> {
    for (const res of this.#pending) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  #url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  #id(): string {
    this.#seq += 1;
    return `${this.#seq}-${randomBytes(4).toString("hex")}`;
  }

  #nonce(): string {
    const n = randomBytes(12).toString("base64url");
    this.#nonces.add(n);
    return n;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = new URL(req.url ?? "/", this.baseUrl).pathname;
      const method = req.method ?? "GET";
      let parsed: FakeRequest = { method, path };
      let jws: { protected: string; payload: string; signature: string } | undefined;
      if (method === "POST") {
        try {
          jws = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof jws;
          const header = JSON.parse(Buffer.from(jws?.protected ?? "", "base64url").toString()) as Record<
            string,
            unknown
          >;
          const payloadText = Buffer.from(jws?.payload ?? "", "base64url").toString();
          parsed = {
            method,
            path,
            protectedHeader: header,
            payload: payloadText === "" ? "" : JSON.parse(payloadText),
          };
        } catch {
          this.#send(res, { status: 400, body: { type: `${P}malformed`, detail: "unparseable JWS" } });
          return;
        }
      }
      this.requests.push(parsed);
      const script = this.#scripts.find(
        (s) => s.method === method && path.startsWith(s.pathPrefix) && s.times > 0,
      );
      if (script) {
        script.times -= 1;
        // A scripted answer consumes the nonce like a real rejection would.
        const n = parsed.protectedHeader?.["nonce"];
        if (typeof n === "string") this.#nonces.delete(n);
        this.#send(res, script.respond(parsed));
        return;
      }
      this.#send(res, this.#route(parsed, req, jws));
    });
  }

  #send(res: http.ServerResponse, r: FakeResponse): void {
    if (r.hang) {
      this.#pending.add(res);
      return;
    }
    const headers: Record<string, string> = { ...(r.headers ?? {}) };
    if (!this.opts.nonceOnlyFromNewNonce || r.nonce) headers["Replay-Nonce"] = this.#nonce();
    let body = "";
    if (typeof r.body === "string") {
      body = r.body;
      headers["Content-Type"] ??= "application/pem-certificate-chain";
    } else if (r.body !== undefined) {
      body = JSON.stringify(r.body);
      const isProblem = typeof (r.body as Record<string, unknown>)["type"] === "string" && r.status >= 400;
      headers["Content-Type"] ??= isProblem ? "application/problem+json" : "application/json";
    }
    res.writeHead(r.status, headers);
    res.end(body);
  }

  #route(
    r: FakeRequest,
    req: http.IncomingMessage,
    jws?: { protected: string; payload: string; signature: string },
  ): FakeResponse {
    if (r.method === "GET" && r.path === "/dir") {
      return {
        status: 200,
        body: {
          newNonce: this.#url("/nonce"),
          newAccount: this.#url("/new-acct"),
          newOrder: this.#url("/new-order"),
          revokeCert: this.#url("/revoke"),
          keyChange: this.#url("/key-change"),
          ...(this.opts.noRenewalInfo ? {} : { renewalInfo: this.#url("/renewal-info") }),
          meta: { externalAccountRequired: this.opts.eabKeys !== undefined },
        },
      };
    }
    if ((r.method === "HEAD" || r.method === "GET") && r.path === "/nonce") {
      return {
        status: r.method === "HEAD" ? 200 : 204,
        headers: { "Cache-Control": "no-store" },
        nonce: true,
      };
    }
    if (r.method === "GET" && r.path.startsWith("/renewal-info/") && !this.opts.noRenewalInfo) {
      return this.#renewalInfo(r.path.slice("/renewal-info/".length));
    }
    if (r.method !== "POST" || !jws || !r.protectedHeader) {
      return { status: 405, body: { type: `${P}malformed`, detail: `${r.method} ${r.path} is not allowed` } };
    }
    if (req.headers["content-type"] !== "application/jose+json") {
      return {
        status: 415,
        body: { type: `${P}malformed`, detail: "Content-Type must be application/jose+json" },
      };
    }
    const h = r.protectedHeader;
    if (typeof h["nonce"] !== "string" || !this.#nonces.delete(h["nonce"])) {
      return { status: 400, body: { type: `${P}badNonce`, detail: "unknown or reused nonce" } };
    }
    if (h["url"] !== this.#url(r.path)) {
      return {
        status: 400,
        body: { type: `${P}unauthorized`, detail: "JWS url header does not match the request" },
      };
    }
    if ((h["jwk"] === undefined) === (h["kid"] === undefined)) {
      return {
        status: 400,
        body: { type: `${P}malformed`, detail: "JWS must carry exactly one of jwk and kid" },
      };
    }
    if (r.path !== "/new-acct" && h["jwk"] !== undefined) {
      return {
        status: 400,
        body: { type: `${P}malformed`, detail: `${r.path} must be signed with kid, not jwk` },
      };
    }
    let jwk: JsonWebKey | undefined;
    let accountId: string | undefined;
    if (r.path === "/new-acct") {
      jwk = h["jwk"] as JsonWebKey | undefined;
      if (jwk && "d" in jwk) {
        return { status: 400, body: { type: `${P}malformed`, detail: "the jwk header holds a private key" } };
      }
    } else {
      const kid = typeof h["kid"] === "string" ? h["kid"] : "";
      accountId = kid.startsWith(this.#url("/acct/")) ? kid.slice(this.#url("/acct/").length) : undefined;
      jwk = accountId ? this.#accounts.get(accountId)?.jwk : undefined;
      if (!jwk)
        return { status: 400, body: { type: `${P}accountDoesNotExist`, detail: `no account ${kid}` } };
    }
    if (!jwk || expectedAlg(jwk) !== h["alg"]) {
      return {
        status: 400,
        body: {
          type: `${P}badSignatureAlgorithm`,
          detail: `alg ${String(h["alg"])} does not fit the account key`,
        },
      };
    }
    if (!verifyJws(jws, jwk, String(h["alg"]))) {
      return { status: 400, body: { type: `${P}malformed`, detail: "JWS verification error" } };
    }
    if (r.path === "/new-acct") return this.#newAccount(r, jwk);
    return this.#resource(r, accountId ?? "");
  }

  #newAccount(r: FakeRequest, jwk: JsonWebKey): FakeResponse {
    const payload = (r.payload ?? {}) as Record<string, unknown>;
    const thumb = thumbprint(jwk);
    const existing = [...this.#accounts.entries()].find(([, a]) => a.thumb === thumb);
    if (existing) {
      return {
        status: 200,
        headers: { Location: this.#url(`/acct/${existing[0]}`) },
        body: this.#accountBody(existing[0]),
      };
    }
    if (payload["onlyReturnExisting"] === true) {
      return { status: 400, body: { type: `${P}accountDoesNotExist`, detail: "no account for this key" } };
    }
    if (this.opts.eabKeys) {
      const eab = payload["externalAccountBinding"] as
        { protected: string; payload: string; signature: string } | undefined;
      if (!eab) return { status: 400, body: { type: `${P}externalAccountRequired`, detail: "EAB required" } };
      const eh = JSON.parse(Buffer.from(eab.protected, "base64url").toString()) as Record<string, unknown>;
      const key = this.opts.eabKeys[String(eh["kid"])];
      const mac = key
        ? createHmac("sha256", Buffer.from(key, "base64url"))
            .update(`${eab.protected}.${eab.payload}`)
            .digest("base64url")
        : "";
      const boundJwk = JSON.parse(Buffer.from(eab.payload, "base64url").toString()) as JsonWebKey;
      if (
        !key ||
        mac !== eab.signature ||
        thumbprint(boundJwk) !== thumb ||
        eh["url"] !== this.#url("/new-acct")
      ) {
        return {
          status: 400,
          body: { type: `${P}unauthorized`, detail: "external account binding is invalid" },
        };
      }
    }
    const id = this.#id();
    const contact = Array.isArray(payload["contact"]) ? (payload["contact"] as string[]) : [];
    this.#accounts.set(id, { jwk, contact, thumb });
    return { status: 201, headers: { Location: this.#url(`/acct/${id}`) }, body: this.#accountBody(id) };
  }

  #accountBody(id: string): Record<string, unknown> {
    return {
      status: "valid",
      contact: this.#accounts.get(id)?.contact ?? [],
      orders: this.#url(`/acct/${id}/orders`),
    };
  }

  #resource(r: FakeRequest, accountId: string): FakeResponse {
    const [, kind, id = ""] = r.path.split("/");
    const payload = r.payload;
    switch (kind) {
      case "acct": {
        const acct = this.#accounts.get(id);
        if (!acct || id !== accountId) return notFound(r.path);
        const p = (typeof payload === "object" && payload !== null ? payload : {}) as Record<string, unknown>;
        if (Array.isArray(p["contact"])) acct.contact = p["contact"] as string[];
        return { status: 200, body: this.#accountBody(id) };
      }
      case "new-order":
        return this.#newOrder(payload as Record<string, unknown>, accountId);
      case "order":
        if (payload !== "") return postAsGetOnly(r.path);
        return this.#orderResponse(id);
      case "authz": {
        if (payload !== "") return postAsGetOnly(r.path);
        const a = this.#authzs.get(id);
        if (!a) return notFound(r.path);
        return { status: 200, body: this.#authzBody(id) };
      }
      case "chall":
        if (payload === "") return this.#challengeGet(id);
        // RFC 8555 section 7.5.1: the client responds with an empty JSON object.
        if (typeof payload !== "object" || payload === null || Object.keys(payload).length > 0) {
          return { status: 400, body: { type: `${P}malformed`, detail: "a challenge response must be {}" } };
        }
        return this.#challengeAccept(id);
      case "finalize":
        return this.#finalize(id, payload as Record<string, unknown>);
      case "cert": {
        if (payload !== "") return postAsGetOnly(r.path);
        const chains = this.#certs.get(id);
        if (!chains) return notFound(r.path);
        const alt = r.path.split("/")[3];
        if (alt !== undefined) return { status: 200, body: chains[Number(alt) + 1] ?? "" };
        const links = chains.slice(1).map((_, i) => `<${this.#url(`/cert/${id}/${i}`)}>;rel="alternate"`);
        return { status: 200, headers: links.length ? { Link: links.join(", ") } : {}, body: chains[0] };
      }
      default:
        return notFound(r.path);
    }
  }

  #newOrder(payload: Record<string, unknown>, account: string): FakeResponse {
    const identifiers = (payload["identifiers"] ?? []) as { type: string; value: string }[];
    const replaces = payload["replaces"];
    if (replaces !== undefined) {
      if (typeof replaces !== "string" || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(replaces)) {
        return {
          status: 400,
          body: {
            type: `${P}malformed`,
            detail: `replaces ${JSON.stringify(replaces)} is not an ARI certID`,
          },
        };
      }
      const old = this.#issued.get(replaces);
      if (!old) {
        return {
          status: 404,
          body: { type: `${P}malformed`, detail: `no certificate ${replaces} to replace` },
        };
      }
      if (old.account !== account) {
        return {
          status: 403,
          body: { type: `${P}unauthorized`, detail: "the certificate to replace belongs to another account" },
        };
      }
      if (old.replaced) {
        return {
          status: 409,
          body: {
            type: `${P}alreadyReplaced`,
            detail: `certificate ${replaces} already has a replacement order`,
          },
        };
      }
    }
    for (const i of identifiers) {
      if (i.type !== "dns" || !/^(\*\.)?([a-z0-9-]+\.)+[a-z0-9-]+$/i.test(i.value)) {
        return {
          status: 400,
          body: { type: `${P}rejectedIdentifier`, detail: `cannot issue for "${i.value}"` },
        };
      }
    }
    const id = this.#id();
    const authorizations = identifiers.map((i) => {
      const aid = this.#id();
      const wildcard = i.value.startsWith("*.");
      const cid = this.#id();
      this.#challenges.set(cid, {
        type: "dns-01",
        token: randomBytes(16).toString("base64url"),
        status: "pending",
        authz: aid,
      });
      this.#authzs.set(aid, {
        identifier: { type: "dns", value: wildcard ? i.value.slice(2) : i.value },
        wildcard,
        status: "pending",
        challenges: [cid],
      });
      return this.#url(`/authz/${aid}`);
    });
    this.#orders.set(id, {
      status: "pending",
      identifiers,
      authorizations,
      account,
      ...(typeof payload["profile"] === "string" ? { profile: payload["profile"] } : {}),
      ...(typeof replaces === "string" ? { replaces } : {}),
    });
    const res = this.#orderResponse(id);
    return { ...res, status: 201, headers: { Location: this.#url(`/order/${id}`) } };
  }

  #orderResponse(id: string): FakeResponse {
    const o = this.#orders.get(id);
    if (!o) return notFound(`/order/${id}`);
    if (
      o.status === "pending" &&
      o.authorizations.every((u) => this.#authzs.get(u.split("/").pop() ?? "")?.status === "valid")
    ) {
      o.status = "ready";
    }
    return {
      status: 200,
      body: {
        status: o.status,
        identifiers: o.identifiers,
        authorizations: o.authorizations,
        finalize: this.#url(`/finalize/${id}`),
        expires: new Date(Date.now() + 86_400_000).toISOString(),
        ...(o.certificate ? { certificate: o.certificate } : {}),
        ...(o.error ? { error: o.error } : {}),
        ...(o.profile ? { profile: o.profile } : {}),
        ...(o.replaces ? { replaces: o.replaces } : {}),
      },
    };
  }

  #authzBody(id: string): Record<string, unknown> {
    const a = this.#authzs.get(id);
    if (!a) return {};
    return {
      identifier: a.identifier,
      status: a.status,
      ...(a.wildcard ? { wildcard: true } : {}),
      challenges: a.challenges.map((cid) => this.#challengeBody(cid)),
    };
  }

  #challengeBody(id: string): Record<string, unknown> {
    const c = this.#challenges.get(id);
    if (!c) return {};
    return {
      type: c.type,
      url: this.#url(`/chall/${id}`),
      status: c.status,
      token: c.token,
      ...(c.error ? { error: c.error } : {}),
    };
  }

  #challengeGet(id: string): FakeResponse {
    const c = this.#challenges.get(id);
    if (!c) return notFound(`/chall/${id}`);
    if (c.status === "processing" && (this.opts.challengeOutcome ?? "valid") !== "processing") {
      const a = this.#authzs.get(c.authz);
      if (this.opts.challengeOutcome === "invalid") {
        c.status = "invalid";
        c.error = { type: `${P}incorrectResponse`, detail: "no TXT record with the expected value" };
        if (a) a.status = "invalid";
      } else {
        c.status = "valid";
        if (a) a.status = "valid";
      }
    }
    return { status: 200, body: this.#challengeBody(id) };
  }

  #challengeAccept(id: string): FakeResponse {
    const c = this.#challenges.get(id);
    if (!c) return notFound(`/chall/${id}`);
    if (c.status !== "pending") {
      return {
        status: 400,
        body: { type: `${P}malformed`, detail: `challenge is ${c.status}, not pending` },
      };
    }
    c.status = "processing";
    return { status: 200, body: this.#challengeBody(id) };
  }

  #renewalInfo(certId: string): FakeResponse {
    const issued = this.#issued.get(certId);
    if (!issued) {
      return { status: 404, body: { type: `${P}malformed`, detail: `no certificate ${certId}` } };
    }
    if (issued.renewalInfo) {
      return { status: 200, headers: issued.renewalInfo.headers, body: issued.renewalInfo.body };
    }
    // Like Pebble: a two-day window around the point two thirds into the validity.
    const cert = new x509.X509Certificate(issued.leafPem);
    const from = cert.notBefore.getTime();
    const ideal = from + ((cert.notAfter.getTime() - from) * 2) / 3;
    return {
      status: 200,
      headers: { "Retry-After": "21600" },
      body: {
        suggestedWindow: {
          start: new Date(Math.max(from, ideal - 86_400_000)).toISOString(),
          end: new Date(Math.min(cert.notAfter.getTime(), ideal + 86_400_000)).toISOString(),
        },
      },
    };
  }

  #finalize(id: string, payload: Record<string, unknown>): FakeResponse {
    const o = this.#orders.get(id);
    if (!o) return notFound(`/finalize/${id}`);
    this.#orderResponse(id);
    if (o.status !== "ready") {
      return { status: 403, body: { type: `${P}orderNotReady`, detail: `order is ${o.status}, not ready` } };
    }
    const der =
      typeof payload["csr"] === "string" ? Buffer.from(payload["csr"], "base64url") : Buffer.alloc(0);
    let csrPem: string;
    try {
      csrPem = new x509.Pkcs10CertificateRequest(der).toString("pem");
    } catch {
      return { status: 400, body: { type: `${P}badCSR`, detail: "CSR cannot be parsed" } };
    }
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    const sanExt = csr.getExtension("2.5.29.17");
    const names = sanExt
      ? new x509.SubjectAlternativeNameExtension(sanExt.rawData).names.items.map((n) => n.value).sort()
      : [];
    const want = o.identifiers.map((i) => i.value).sort();
    if (JSON.stringify(names) !== JSON.stringify(want)) {
      return {
        status: 400,
        body: { type: `${P}badCSR`, detail: `CSR names ${names.join(",")} differ from the order's` },
      };
    }
    o.status = "processing";
    const certId = this.#id();
    signTestCsr({ csrPem, issuer: this.intermediate }).then(
      (leaf) => {
        this.#certs.set(certId, [leaf + this.intermediate.certPem, leaf + this.crossIntermediate.certPem]);
        this.#issued.set(fakeCertId(leaf), { leafPem: leaf, account: o.account, replaced: false });
        // As Pebble does, the predecessor counts as replaced once its successor is finalized.
        const old = o.replaces ? this.#issued.get(o.replaces) : undefined;
        if (old) old.replaced = true;
        o.certificate = this.#url(`/cert/${certId}`);
        o.status = "valid";
      },
      (err: unknown) => {
        o.status = "invalid";
        o.error = { type: `${P}serverInternal`, detail: `signing failed: ${String(err)}` };
      },
    );
    return { ...this.#orderResponse(id), headers: { Location: this.#url(`/order/${id}`) } };
  }
}

function postAsGetOnly(path: string): FakeResponse {
  return {
    status: 400,
    body: { type: `${P}malformed`, detail: `POST-as-GET to ${path} must have an empty payload` },
  };
}

/** The JWS alg a key must use (RFC 7518): RS256 for RSA here, ES256/384/512 by curve. */
function expectedAlg(jwk: JsonWebKey): string | undefined {
  if (jwk.kty === "RSA") return "RS256";
  return { "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" }[jwk.crv ?? ""];
}

/**
 * The RFC 9773 certID of a PEM leaf, read straight from the DER (Certificate → TBSCertificate →
 * [0] version → serialNumber INTEGER, content bytes as they are), so that a client computing it
 * another way is checked, not copied.
 */
export function fakeCertId(certPem: string): string {
  const der = new x509.X509Certificate(certPem).rawData;
  const buf = Buffer.from(der);
  const cert = tlv(buf, 0);
  const tbs = tlv(buf, cert.start);
  let field = tlv(buf, tbs.start);
  if (field.tag === 0xa0) field = tlv(buf, field.end);
  if (field.tag !== 0x02) throw new Error("fakeCertId: no serialNumber INTEGER");
  const serial = buf.subarray(field.start, field.end);
  const aki = new x509.X509Certificate(certPem).getExtension(x509.AuthorityKeyIdentifierExtension);
  if (!aki?.keyId) throw new Error("fakeCertId: no AKI");
  return `${Buffer.from(aki.keyId, "hex").toString("base64url")}.${serial.toString("base64url")}`;
}

/** One DER tag-length-value at `at`: its tag, where its content starts and where it ends. */
function tlv(buf: Buffer, at: number): { tag: number; start: number; end: number } {
  const tag = buf[at] ?? 0;
  let len = buf[at + 1] ?? 0;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] ?? 0);
    start += n;
  }
  return { tag, start, end: start + len };
}

function notFound(path: string): FakeResponse {
  return { status: 404, body: { type: `${P}malformed`, detail: `no resource at ${path}` } };
}

/** RFC 7638 thumbprint of a public JWK (RSA or EC). */
export function thumbprint(jwk: JsonWebKey): string {
  const members =
    jwk.kty === "RSA"
      ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
      : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return createHash("sha256").update(JSON.stringify(members)).digest("base64url");
}

function verifyJws(
  jws: { protected: string; payload: string; signature: string },
  jwk: JsonWebKey,
  alg: string,
): boolean {
  const hash = { RS256: "sha256", ES256: "sha256", ES384: "sha384", ES512: "sha512" }[alg];
  if (!hash) return false;
  try {
    const key = createPublicKey({ key: jwk, format: "jwk" });
    return verify(
      hash,
      Buffer.from(`${jws.protected}.${jws.payload}`),
      { key, dsaEncoding: "ieee-p1363" },
      Buffer.from(jws.signature, "base64url"),
    );
  } catch {
    return false;
  }
}
