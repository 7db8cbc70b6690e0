import * as acme from "../../acme/index.js";
import { AcmeProblemError } from "../../acme/index.js";
import { TemporaryError, TerminalError } from "../../errors.js";
import { memorySecretReader } from "../../solvers/credentials.js";
import { AcmeAccounts } from "../issuers/accounts.js";
import {
  Kinds,
  type CertificateObj,
  type ChallengeObj,
  type ClusterIssuerObj,
  type IssuerObj,
  type OrderObj,
} from "../kinds.js";
import type { ControllerDefinition } from "../runtime/index.js";
import { ControllerTestRig, collectKeys } from "../testing/index.js";
import { ScriptedAcme } from "../testing/fake-acme.js";
import { NS, certificate, issuer, order, rfc2136Solver } from "../testing/fixtures.js";
import {
  PENDING_POLL_MAX_MS,
  PENDING_POLL_MIN_MS,
  SOLVER_HASH_ANNOTATION,
  orderController,
  pendingPollDelay,
  replacesRefused,
  solverHash,
} from "./controller.js";

const START = Date.parse("2026-03-01T12:00:00Z");

interface World {
  rig: ControllerTestRig;
  ca: ScriptedAcme;
  def: ControllerDefinition;
  cert: CertificateObj;
  ord: OrderObj;
  key: string;
  advance(ms: number): void;
  now(): number;
  stored(): OrderObj | undefined;
  challenges(): ChallengeObj[];
}

async function world(opts: { spec?: Partial<OrderObj["spec"]>; issuerReady?: boolean } = {}): Promise<World> {
  let now = START;
  const rig = new ControllerTestRig({ now: () => new Date(now) });
  const ca = new ScriptedAcme();
  const client = ca.client();
  rig.cluster.seed(Kinds.issuers, issuer("ca", [rfc2136Solver()], opts.issuerReady ?? true));
  const cert = rig.cluster.seed(Kinds.certificates, certificate());
  const ord = rig.cluster.seed(Kinds.orders, order(cert, "web-1-abc", opts.spec));
  const orders = rig.informer<OrderObj>(Kinds.orders);
  const challenges = rig.informer<ChallengeObj>(Kinds.challenges);
  const certificates = rig.informer<CertificateObj>(Kinds.certificates);
  const issuers = rig.informer<IssuerObj>(Kinds.issuers);
  const clusterIssuers = rig.informer<ClusterIssuerObj>(Kinds.clusterIssuers);
  const real = new AcmeAccounts({
    issuers,
    clusterIssuers,
    secrets: memorySecretReader(new Map()),
    clusterResourceNamespace: "dns01-operator",
    log: rig.log,
  });
  const def = orderController({
    client: rig.client,
    accounts: { resolve: (ns, ref) => real.resolve(ns, ref), clientFor: () => Promise.resolve(client) },
    events: rig.events,
    orders,
    challenges,
    certificates,
    issuers,
    clusterIssuers,
    now: () => new Date(now),
  });
  await rig.sync();
  return {
    rig,
    ca,
    def,
    cert,
    ord,
    key: `${NS}/web-1-abc`,
    advance(ms) {
      now += ms;
    },
    now: () => now,
    stored: () => rig.cluster.get<OrderObj>(Kinds.orders, NS, "web-1-abc"),
    challenges: () => rig.cluster.list<ChallengeObj>(Kinds.challenges, NS),
  };
}

/** Runs reconciles of the Order until it has its Challenges (new order, then authorizations). */
async function untilChallenges(w: World): Promise<number | undefined> {
  let last: number | undefined;
  for (let i = 0; i < 3 && w.challenges().length === 0; i++) {
    const out = await w.rig.reconcile(w.def, w.key);
    if (!out.ok) throw out.error;
    last = out.requeueAfter;
  }
  const out = await w.rig.reconcile(w.def, w.key);
  if (!out.ok) throw out.error;
  return out.requeueAfter ?? last;
}

function setChallengeState(w: World, c: ChallengeObj, state: string, reason = ""): void {
  w.rig.cluster.modify<ChallengeObj>(Kinds.challenges, NS, c.metadata.name ?? "", (o) => {
    o.status = { ...o.status, state: state as "pending", reason };
  });
}

let current: World | undefined;
afterEach(async () => {
  await current?.rig.stop();
  current = undefined;
});

async function start(opts?: Parameters<typeof world>[0]): Promise<World> {
  current = await world(opts);
  return current;
}

describe("pendingPollDelay", () => {
  it.each([
    [0, PENDING_POLL_MIN_MS],
    [30_000, 60_000],
    [60_000, 60_000],
    [120_000, 120_000],
    [480_000, 480_000],
    [3_600_000, PENDING_POLL_MAX_MS],
  ])("waits, for an order %i ms old, %i ms before asking the CA again", (age, delay) => {
    expect(pendingPollDelay(age)).toBe(delay);
  });
});

describe("solverHash", () => {
  it("gives equal blocks the same hash whatever their key order, and changed blocks another", () => {
    const a = rfc2136Solver("10.0.0.1:53");
    const reordered = JSON.parse(JSON.stringify({ dns01: a.dns01, selector: a.selector })) as typeof a;
    expect(solverHash(reordered)).toBe(solverHash(a));
    expect(solverHash(rfc2136Solver("10.0.0.2:53"))).not.toBe(solverHash(a));
  });
});

describe("the Order controller", () => {
  it("places one ACME order, reads each authorization once and makes one Challenge per name with its solver hash", async () => {
    const w = await start();
    await untilChallenges(w);
    expect(w.ca.count("newOrder")).toBe(1);
    expect(w.ca.count("getAuthorization")).toBe(2);
    const made = w.challenges();
    expect(made.map((c) => [c.spec.dnsName, c.spec.wildcard]).sort()).toEqual([
      ["example.test", false],
      ["example.test", true],
    ]);
    for (const c of made)
      expect(c.metadata.annotations?.[SOLVER_HASH_ANNOTATION]).toBe(solverHash(rfc2136Solver()));
    expect(w.stored()?.status?.state).toBe("pending");
  });

  it("asks the CA nothing while its Challenges work, then polls after 60 s, doubling up to 10 minutes", async () => {
    const w = await start();
    const first = await untilChallenges(w);
    expect(first).toBeGreaterThanOrEqual(PENDING_POLL_MIN_MS - 1000);
    const before = w.ca.count();
    // Challenge progress (reasons, propagation) reaches the Order as events: none costs a CA request.
    for (const [i, c] of w.challenges().entries()) {
      setChallengeState(w, c, "pending", `Waiting for DNS propagation (${String(i)})`);
      const out = await w.rig.reconcile(w.def, w.key);
      expect(out).toMatchObject({ ok: true });
    }
    expect(w.ca.count()).toBe(before);
    expect(w.stored()?.status?.reason).toContain("Waiting for DNS propagation");

    // Thirty minutes of a stuck Order, each run when the previous one asked to be run.
    const polls: number[] = [];
    let elapsed = 0;
    let delay = first ?? PENDING_POLL_MIN_MS;
    while (elapsed + delay <= 30 * 60_000) {
      w.advance(delay);
      elapsed += delay;
      const n = w.ca.count("getOrder");
      const out = await w.rig.reconcile(w.def, w.key);
      if (!out.ok) throw out.error;
      if (w.ca.count("getOrder") > n) polls.push(elapsed);
      delay = out.requeueAfter ?? 0;
      expect(delay).toBeGreaterThanOrEqual(PENDING_POLL_MIN_MS - 1000);
      expect(delay).toBeLessThanOrEqual(PENDING_POLL_MAX_MS);
    }
    // At the old 5 s this would have been 360 signed requests; now a handful, further and further apart.
    expect(polls.length).toBeGreaterThanOrEqual(4);
    expect(polls.length).toBeLessThanOrEqual(7);
    const gaps = polls.slice(1).map((t, i) => t - (polls[i] ?? 0));
    for (let i = 1; i < gaps.length; i++) expect(gaps[i] ?? 0).toBeGreaterThanOrEqual(gaps[i - 1] ?? 0);
    expect(w.ca.count()).toBe(before + polls.length);
  });

  it("asks the CA at once when every Challenge is valid, and finalizes and stores the chain", async () => {
    const w = await start();
    await untilChallenges(w);
    for (const c of w.challenges()) {
      w.ca.setAuthorization(c.spec.authorizationURL, "valid");
      setChallengeState(w, c, "valid");
    }
    const out = await w.rig.reconcile(w.def, w.key);
    expect(out).toMatchObject({ ok: true });
    expect(w.ca.count("finalize")).toBe(1);
    expect(w.stored()?.status?.state).toBe("valid");
    expect(w.stored()?.status?.certificate).toBeDefined();
  });

  it("asks the CA at once when a Challenge failed, and records why the order is invalid", async () => {
    const w = await start();
    await untilChallenges(w);
    const [bad] = w.challenges();
    if (!bad) throw new Error("no challenge");
    w.ca.setAuthorization(bad.spec.authorizationURL, "invalid");
    setChallengeState(w, bad, "invalid", "example.test: no TXT record found");
    const n = w.ca.count("getOrder");
    await w.rig.reconcile(w.def, w.key);
    expect(w.ca.count("getOrder")).toBe(n + 1);
    expect(w.stored()?.status).toMatchObject({
      state: "invalid",
      reason: "example.test: no TXT record found",
    });
  });

  it("writes a rateLimited answer into status with retryAfter, warns once on the Order and its Certificate, and waits until then", async () => {
    const w = await start();
    const limited = () =>
      new TemporaryError("creating an order: too many new orders [rateLimited]", 30_000, {
        cause: new AcmeProblemError(
          { type: "urn:ietf:params:acme:error:rateLimited", detail: "too many new orders" },
          429,
          "POST https://ca.test/acme/new-order",
        ),
      });
    w.ca.failNext("newOrder", limited, 2);
    const out = await w.rig.reconcile(w.def, w.key);
    expect(out).toMatchObject({ ok: true, requeueAfter: 30_000 });
    const status = w.stored()?.status;
    expect(status?.retryAfter).toBe(new Date(START + 30_000).toISOString().replace(/\.\d+Z$/, "Z"));
    expect(status?.reason).toContain("too many new orders");
    expect(w.rig.events.withReason("RateLimited").map((e) => [e.kind, e.type])).toEqual([
      ["Order", "Warning"],
      ["Certificate", "Warning"],
    ]);

    // Before the time the CA gave: no request at all, however often we are woken.
    w.advance(10_000);
    const quiet = await w.rig.reconcile(w.def, w.key);
    expect(quiet).toMatchObject({ ok: true, requeueAfter: 20_000 });
    expect(w.ca.count("newOrder")).toBe(1);

    // Limited again at the retry time: status moves on, but no second Warning.
    w.advance(20_000);
    await w.rig.reconcile(w.def, w.key);
    expect(w.ca.count("newOrder")).toBe(2);
    expect(w.rig.events.withReason("RateLimited")).toHaveLength(2);

    // Accepted at last: the retry time and the reason are cleared.
    w.advance(30_000);
    await w.rig.reconcile(w.def, w.key);
    expect(w.stored()?.status?.url).toBeDefined();
    expect(w.stored()?.status?.retryAfter).toBeUndefined();
    expect(w.stored()?.status?.reason).toBeUndefined();
  });

  it("clears the rate-limit note when a later poll succeeds, and shows again what the Challenges wait on", async () => {
    const w = await start();
    await untilChallenges(w);
    for (const c of w.challenges()) setChallengeState(w, c, "pending", "Waiting for DNS propagation");
    w.advance(PENDING_POLL_MIN_MS);
    w.ca.failNext(
      "getOrder",
      () =>
        new TemporaryError("reading order: slow down [rateLimited]", 10_000, {
          cause: new AcmeProblemError(
            { type: "urn:ietf:params:acme:error:rateLimited", detail: "slow down" },
            429,
            "POST https://ca.test/acme/order/1",
          ),
        }),
    );
    expect(await w.rig.reconcile(w.def, w.key)).toMatchObject({ ok: true, requeueAfter: 10_000 });
    expect(w.stored()?.status?.reason).toContain("slow down");
    w.advance(10_000);
    await w.rig.reconcile(w.def, w.key);
    expect(w.stored()?.status?.retryAfter).toBeUndefined();
    expect(w.stored()?.status?.reason).toContain("Waiting for DNS propagation");
    expect(w.stored()?.status?.reason).not.toContain("slow down");
  });

  it("backs off from a temporary error without Retry-After instead of retrying at once", async () => {
    const w = await start();
    w.ca.failNext("newOrder", () => new TemporaryError("connection reset"));
    const out = await w.rig.reconcile(w.def, w.key);
    if (!out.ok) throw out.error;
    expect(out.requeueAfter).toBeGreaterThanOrEqual(4_000);
    expect(Date.parse(w.stored()?.status?.retryAfter ?? "")).toBeGreaterThan(START);
    expect(w.rig.events.withReason("TemporaryACMEError")).toHaveLength(2);
  });

  it("fails the Order on a terminal refusal with the CA's reason", async () => {
    const w = await start();
    w.ca.failNext("newOrder", () => new TerminalError("example.test is not allowed", "RejectedIdentifier"));
    await w.rig.reconcile(w.def, w.key);
    expect(w.stored()?.status).toMatchObject({ state: "errored", reason: "example.test is not allowed" });
  });

  it("sends spec.replaces with the new order and the spec's profile", async () => {
    const w = await start({
      spec: { replaces: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", profile: "tlsserver" },
    });
    await w.rig.reconcile(w.def, w.key);
    expect(w.ca.calls.find((c) => c.step === "newOrder")?.options).toEqual({
      profile: "tlsserver",
      replaces: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
    });
    expect(w.stored()?.status?.replacesRefused).toBeUndefined();
  });

  it("orders once more without replaces when the CA refuses it, and records the refusal in status", async () => {
    const replaces = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";
    const w = await start({ spec: { replaces } });
    w.ca.failNext("newOrder", () => replacesRefusal(replaces));
    await w.rig.reconcile(w.def, w.key);
    const orders = w.ca.calls.filter((c) => c.step === "newOrder");
    expect(orders.map((c) => c.options?.["replaces"])).toEqual([replaces, undefined]);
    expect(w.stored()?.status?.url).toBeDefined();
    expect(w.stored()?.status?.replacesRefused).toContain("already been replaced");
    expect(w.rig.logs.some((r) => r.message.includes("refused replaces"))).toBe(true);
  });

  it("does not take other refusals for a refused replaces", () => {
    expect(replacesRefused(new TerminalError("example.test is not allowed", "RejectedIdentifier"))).toBe(
      false,
    );
    expect(replacesRefused(replacesRefusal("a.b"))).toBe(true);
  });

  it("deletes its Challenges and itself when a deletion of its Certificate enqueues it", async () => {
    const w = await start();
    await untilChallenges(w);
    const keys = collectKeys(w.def);
    keys.take();
    w.rig.cluster.remove(Kinds.certificates, NS, "web");
    expect(keys.take()).toContain(w.key);
    keys.stop();
    await w.rig.reconcile(w.def, w.key);
    expect(w.stored()).toBeUndefined();
    expect(w.challenges()).toEqual([]);
  });

  it("is enqueued by the initial list at startup when its Certificate went while the operator was down", async () => {
    const rig = new ControllerTestRig();
    current = { rig } as World;
    const orphan = rig.cluster.seed(
      Kinds.orders,
      order({ ...certificate(), metadata: { name: "web", namespace: NS, uid: "gone" } }),
    );
    const orders = rig.informer<OrderObj>(Kinds.orders);
    const issuers = rig.informer<IssuerObj>(Kinds.issuers);
    const clusterIssuers = rig.informer<ClusterIssuerObj>(Kinds.clusterIssuers);
    const def = orderController({
      client: rig.client,
      accounts: { resolve: () => undefined, clientFor: () => Promise.reject(new Error("unused")) },
      events: rig.events,
      orders,
      challenges: rig.informer<ChallengeObj>(Kinds.challenges),
      certificates: rig.informer<CertificateObj>(Kinds.certificates),
      issuers,
      clusterIssuers,
    });
    const keys = collectKeys(def);
    await rig.sync();
    expect(keys.take()).toContain(`${NS}/${orphan.metadata.name ?? ""}`);
    keys.stop();
    await rig.reconcile(def, `${NS}/${orphan.metadata.name ?? ""}`);
    expect(rig.cluster.list(Kinds.orders)).toEqual([]);
  });

  it("recreates a pending Challenge whose Issuer solver changed, removing the old one (and its TXT) first", async () => {
    const w = await start();
    await untilChallenges(w);
    // Give the Challenges the finalizer the Challenge controller adds, so deletion waits for cleanup.
    for (const c of w.challenges()) {
      w.rig.cluster.modify<ChallengeObj>(Kinds.challenges, NS, c.metadata.name ?? "", (o) => {
        o.metadata.finalizers = ["dns01.io/txt-cleanup"];
        o.status = {
          state: "pending",
          presented: true,
          presentedRecord: { fqdn: "_acme-challenge.example.test.", zone: "example.test." },
        };
      });
    }
    const keys = collectKeys(w.def);
    keys.take();
    const moved = rfc2136Solver("10.0.0.2:53");
    w.rig.cluster.modify<IssuerObj>(Kinds.issuers, NS, "ca", (i) => {
      i.spec.acme.solvers = [moved];
    });
    expect(keys.take()).toContain(w.key);
    keys.stop();
    const calls = w.ca.count();
    await w.rig.reconcile(w.def, w.key);
    // Marked for deletion, not gone: the Challenge controller removes the old TXT through the old solver first.
    const marked = w.challenges();
    expect(marked).toHaveLength(2);
    for (const c of marked) {
      expect(c.metadata.deletionTimestamp).toBeDefined();
      expect(c.spec.solver).toEqual(rfc2136Solver());
    }
    // The cleanup is done: the finalizers go, and so do the Challenges.
    for (const c of marked) {
      w.rig.cluster.modify<ChallengeObj>(Kinds.challenges, NS, c.metadata.name ?? "", (o) => {
        o.metadata.finalizers = [];
      });
    }
    expect(w.challenges()).toEqual([]);
    await w.rig.reconcile(w.def, w.key);
    const made = w.challenges();
    expect(made).toHaveLength(2);
    for (const c of made) {
      expect(c.spec.solver).toEqual(moved);
      expect(c.metadata.annotations?.[SOLVER_HASH_ANNOTATION]).toBe(solverHash(moved));
    }
    // Made from the stored authorizations: not one request to the CA for all of it.
    expect(w.ca.count()).toBe(calls);
  });

  it("leaves a Challenge the CA is already validating with its solver", async () => {
    const w = await start();
    await untilChallenges(w);
    for (const c of w.challenges()) setChallengeState(w, c, "processing");
    w.rig.cluster.modify<IssuerObj>(Kinds.issuers, NS, "ca", (i) => {
      i.spec.acme.solvers = [rfc2136Solver("10.0.0.2:53")];
    });
    await w.rig.reconcile(w.def, w.key);
    for (const c of w.challenges()) expect(c.metadata.deletionTimestamp).toBeUndefined();
  });

  it("waits for an Issuer that is not Ready with the queue's backoff, and is re-driven when it turns Ready", async () => {
    const w = await start({ issuerReady: false });
    const out = await w.rig.reconcile(w.def, w.key);
    expect(out.ok).toBe(false);
    if (!out.ok) {
      expect(out.error).toBeInstanceOf(TemporaryError);
      expect((out.error as TemporaryError).retryAfterMs).toBeUndefined();
    }
    expect(w.ca.count()).toBe(0);
    const keys = collectKeys(w.def);
    keys.take();
    w.rig.cluster.modify<IssuerObj>(Kinds.issuers, NS, "ca", (i) => {
      i.status = issuer().status ?? {};
    });
    expect(keys.take()).toContain(w.key);
    keys.stop();
  });
});

/** The error the ACME layer gives for a refused `replaces`: its own class once it has one. */
function replacesRefusal(replaces: string): Error {
  const cause = new AcmeProblemError(
    {
      type: "urn:ietf:params:acme:error:alreadyReplaced",
      detail: "the certificate has already been replaced",
    },
    409,
    "POST https://ca.test/acme/new-order",
  );
  const message = "creating an order: the certificate has already been replaced [alreadyReplaced]";
  const Own = (acme as Record<string, unknown>)["ReplacesRefusedError"];
  if (typeof Own === "function") {
    const Ctor = Own as new (m: string, r: string, replaces: string, o: ErrorOptions) => Error;
    return new Ctor(message, "AlreadyReplaced", replaces, { cause });
  }
  return new TerminalError(message, "AlreadyReplaced", { cause });
}
