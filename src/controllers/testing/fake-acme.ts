import type {
  AcmeAccount,
  AcmeAuthorization,
  AcmeChallenge,
  AcmeOrder,
  AuthorizationStatus,
  DownloadedCertificate,
  OrderStatus,
} from "../../acme/index.js";

/** The AcmeClient steps the controllers take, by name. */
export type AcmeStep =
  | "ensureAccount"
  | "newOrder"
  | "getOrder"
  | "getAuthorization"
  | "finalize"
  | "downloadCertificate"
  | "acceptChallenge"
  | "getChallenge";

/** One request the scripted CA received. `dns01Value` is local computation and not counted. */
export interface AcmeCall {
  readonly step: AcmeStep;
  /** The URL asked about, or the names ordered. */
  readonly target: string;
  /** The options of newOrder (profile, replaces). */
  readonly options?: Record<string, unknown>;
}

interface ScriptedOrder {
  url: string;
  status: OrderStatus;
  names: string[];
  authorizations: string[];
  certificate?: string;
}

interface ScriptedAuthz {
  url: string;
  name: string;
  wildcard: boolean;
  status: AuthorizationStatus;
  challengeUrl: string;
  challengeStatus: AcmeChallenge["status"];
  token: string;
}

/**
 * A CA at the level of AcmeClient's methods, for controller tests: it keeps orders,
 * authorizations and challenges, counts every request (the politeness tests count them), and
 * fails steps on request with the errors the ACME layer throws (TemporaryError for rateLimited,
 * TerminalError for a refusal). Its objects are plain AcmeClient answers, so controllers run
 * their real code on them. One instance stands for one account's client.
 */
export class ScriptedAcme {
  readonly calls: AcmeCall[] = [];
  readonly orders = new Map<string, ScriptedOrder>();
  readonly authorizations = new Map<string, ScriptedAuthz>();
  /** Accounts registered, by the key PEM they were registered with. */
  readonly accounts = new Map<string, string>();
  closed = 0;
  private readonly failures: { step: AcmeStep; error: () => Error; times: number }[] = [];
  private seq = 0;

  constructor(private readonly base = "https://ca.test/acme") {}

  /** Requests of one step (all when none is given). */
  count(step?: AcmeStep): number {
    return step === undefined ? this.calls.length : this.calls.filter((c) => c.step === step).length;
  }

  /** Fails the next `times` calls of `step` with the error `make()` builds. */
  failNext(step: AcmeStep, make: () => Error, times = 1): void {
    this.failures.push({ step, error: make, times });
  }

  /** Sets an authorization's state (say, valid once its challenge was accepted). */
  setAuthorization(url: string, status: AuthorizationStatus): void {
    const a = this.authorizations.get(url);
    if (!a) throw new Error(`no authorization ${url}`);
    a.status = status;
    a.challengeStatus = status === "valid" ? "valid" : status === "invalid" ? "invalid" : a.challengeStatus;
    this.recompute();
  }

  /** A client as `AcmeAccounts.clientFor` returns it, bound to the key it was built with. */
  client(accountKeyPem = "key"): ScriptedAcmeClient {
    return new ScriptedAcmeClient(this, accountKeyPem);
  }

  /** @internal */
  take(step: AcmeStep, target: string, options?: Record<string, unknown>): void {
    this.calls.push({ step, target, ...(options ? { options } : {}) });
    const i = this.failures.findIndex((f) => f.step === step && f.times > 0);
    const f = i >= 0 ? this.failures[i] : undefined;
    if (!f) return;
    f.times -= 1;
    if (f.times === 0) this.failures.splice(i, 1);
    throw f.error();
  }

  /** @internal */
  newOrder(names: readonly string[]): AcmeOrder {
    const id = ++this.seq;
    const order: ScriptedOrder = {
      url: `${this.base}/order/${id}`,
      status: "pending",
      names: [...names],
      authorizations: [],
    };
    names.forEach((n, i) => {
      const wildcard = n.startsWith("*.");
      const url = `${this.base}/authz/${id}-${i}`;
      this.authorizations.set(url, {
        url,
        name: wildcard ? n.slice(2) : n,
        wildcard,
        status: "pending",
        challengeUrl: `${this.base}/chall/${id}-${i}`,
        challengeStatus: "pending",
        token: `token-${id}-${i}`,
      });
      order.authorizations.push(url);
    });
    this.orders.set(order.url, order);
    return this.orderView(order);
  }

  /** @internal */
  order(url: string): ScriptedOrder {
    const o = this.orders.get(url);
    if (!o) throw new Error(`no order ${url}`);
    return o;
  }

  /** @internal */
  orderView(o: ScriptedOrder): AcmeOrder {
    return {
      url: o.url,
      status: o.status,
      identifiers: o.names.map((value) => ({ type: "dns", value })),
      authorizations: [...o.authorizations],
      finalize: `${o.url}/finalize`,
      ...(o.certificate !== undefined ? { certificate: o.certificate } : {}),
    };
  }

  /** @internal */
  authzView(url: string): AcmeAuthorization {
    const a = this.authorizations.get(url);
    if (!a) throw new Error(`no authorization ${url}`);
    return {
      url,
      identifier: { type: "dns", value: a.name },
      wildcard: a.wildcard,
      status: a.status,
      challenges: [{ url: a.challengeUrl, type: "dns-01", status: a.challengeStatus, token: a.token }],
    };
  }

  /** @internal */
  challengeView(url: string): AcmeChallenge {
    const a = [...this.authorizations.values()].find((x) => x.challengeUrl === url);
    if (!a) throw new Error(`no challenge ${url}`);
    return { url, type: "dns-01", status: a.challengeStatus, token: a.token };
  }

  /** @internal */
  accept(url: string): AcmeChallenge {
    const a = [...this.authorizations.values()].find((x) => x.challengeUrl === url);
    if (!a) throw new Error(`no challenge ${url}`);
    a.challengeStatus = "processing";
    return this.challengeView(url);
  }

  /** @internal */
  recompute(): void {
    for (const o of this.orders.values()) {
      if (o.status !== "pending") continue;
      const states = o.authorizations.map((u) => this.authorizations.get(u)?.status);
      if (states.some((s) => s === "invalid")) o.status = "invalid";
      else if (states.every((s) => s === "valid")) o.status = "ready";
    }
  }
}

/** The client of one account at a ScriptedAcme. */
export class ScriptedAcmeClient {
  constructor(
    readonly ca: ScriptedAcme,
    readonly accountKeyPem: string,
  ) {}

  ensureAccount(opts: { email?: string | undefined } = {}): Promise<AcmeAccount> {
    return this.step("ensureAccount", this.accountKeyPem, () => {
      let url = this.ca.accounts.get(this.accountKeyPem);
      if (url === undefined) {
        url = `https://ca.test/acme/acct/${this.ca.accounts.size + 1}`;
        this.ca.accounts.set(this.accountKeyPem, url);
      }
      return { url, status: "valid", contact: opts.email ? [`mailto:${opts.email}`] : [] };
    });
  }

  newOrder(names: readonly string[], opts: Record<string, unknown> = {}): Promise<AcmeOrder> {
    return this.step("newOrder", names.join(","), () => this.ca.newOrder(names), opts);
  }

  getOrder(url: string): Promise<AcmeOrder> {
    return this.step("getOrder", url, () => this.ca.orderView(this.ca.order(url)));
  }

  getAuthorization(url: string): Promise<AcmeAuthorization> {
    return this.step("getAuthorization", url, () => this.ca.authzView(url));
  }

  getChallenge(url: string): Promise<AcmeChallenge> {
    return this.step("getChallenge", url, () => this.ca.challengeView(url));
  }

  acceptChallenge(challenge: { readonly url: string } | string): Promise<AcmeChallenge> {
    const url = typeof challenge === "string" ? challenge : challenge.url;
    return this.step("acceptChallenge", url, () => this.ca.accept(url));
  }

  finalize(order: { readonly url: string }, _csrPem: string): Promise<AcmeOrder> {
    return this.step("finalize", order.url, () => {
      const o = this.ca.order(order.url);
      o.status = "valid";
      o.certificate = `${o.url}/cert`;
      return this.ca.orderView(o);
    });
  }

  downloadCertificate(
    order: { readonly certificate?: string | undefined } | string,
  ): Promise<DownloadedCertificate> {
    const url = typeof order === "string" ? order : (order.certificate ?? "");
    return this.step("downloadCertificate", url, () => ({
      pem: `-----BEGIN CERTIFICATE-----\nZmFrZQ==\n-----END CERTIFICATE-----\n`,
    }));
  }

  dns01Value(challenge: { readonly token: string }): Promise<string> {
    return Promise.resolve(`txt-${challenge.token}`);
  }

  close(): void {
    this.ca.closed += 1;
  }

  private step<T>(
    step: AcmeStep,
    target: string,
    run: () => T,
    options?: Record<string, unknown>,
  ): Promise<T> {
    return Promise.resolve().then(() => {
      this.ca.take(step, target, options);
      return run();
    });
  }
}
