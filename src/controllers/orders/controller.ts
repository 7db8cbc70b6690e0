import { createHash } from "node:crypto";
import * as acme from "../../acme/index.js";
import {
  AcmeProblemError,
  reasonForProblemType,
  type AcmeClient,
  type AcmeAuthorization,
  type AcmeOrder,
  type NewOrderOptions,
} from "../../acme/index.js";
import type { AcmeAuthorization as StoredAuthorization, AcmeSolver } from "../../crds/index.js";
import { TemporaryError, TerminalError } from "../../errors.js";
import { describeError, isAlreadyExists } from "../../kube/api-errors.js";
import type { KubeClient } from "../../kube/client.js";
import type { EventRecorder } from "../../kube/events.js";
import { selectSolver } from "../../solvers/select.js";
import { stateReadyConditions } from "../state-ready.js";
import type { AcmeAccounts, AnyIssuerObj } from "../issuers/accounts.js";
import {
  CERTIFICATE_LABEL,
  Kinds,
  type CertificateObj,
  type ChallengeObj,
  type ClusterIssuerObj,
  type IssuerObj,
  type OrderObj,
} from "../kinds.js";
import {
  type ControllerDefinition,
  type Informer,
  type ReconcileRequest,
  type ReconcileResult,
  ResourceClient,
  backoffDelay,
  formatTime,
  getCondition,
  isTrue,
  objectKey,
  watch,
  watchOwned,
} from "../runtime/index.js";

/** The ACME steps the Order controller takes (AcmeClient's; tests pass a scripted CA). */
export type OrderAcmeClient = Pick<
  AcmeClient,
  "newOrder" | "getOrder" | "getAuthorization" | "finalize" | "downloadCertificate" | "dns01Value"
>;

/** What the Order controller needs of the issuers' accounts (AcmeAccounts). */
export interface OrderAccounts {
  resolve: AcmeAccounts["resolve"];
  clientFor(issuer: AnyIssuerObj, signal?: AbortSignal): Promise<OrderAcmeClient>;
}

/** What the Order controller needs. */
export interface OrderControllerDeps {
  client: KubeClient;
  accounts: OrderAccounts;
  events: EventRecorder;
  orders: Informer<OrderObj>;
  challenges: Informer<ChallengeObj>;
  certificates: Informer<CertificateObj>;
  issuers: Informer<IssuerObj>;
  clusterIssuers: Informer<ClusterIssuerObj>;
  now?: () => Date;
}

/** Index of Challenges by the Order that owns them. */
export const CHALLENGES_BY_ORDER = "order";
/** Index of Orders by the key of the Certificate that owns them. */
export const ORDERS_BY_CERTIFICATE = "orders-by-certificate";
/** Index of Orders by their issuer: `Issuer/ns/name` or `ClusterIssuer/name`. */
export const ORDERS_BY_ISSUER = "orders-by-issuer";
/** Annotation on a Challenge: the hash of the Issuer's solver block it was made with. */
export const SOLVER_HASH_ANNOTATION = "dns01.io/solver-hash";
const FINAL = new Set(["valid", "invalid", "errored", "expired"]);
/** How soon to look at the CA again while it works (finalization, validation): short, since the CA is usually quick. */
const POLL_MS = 250;
/**
 * A pending Order is driven by its Challenges' events; the CA is asked about it without one only as
 * a safety net, first after a minute, then about as long again as the order is old (so the interval
 * doubles), up to ten minutes. 200 stuck Orders cost at most 3.3 requests a second, then 0.33.
 */
export const PENDING_POLL_MIN_MS = 60_000;
export const PENDING_POLL_MAX_MS = 600_000;
/** A recheck in case a watch event is slow to come; events normally bring the next run sooner. */
const SAFETY_NET_MS = 2000;
/** Backoff of temporary CA errors that came without a Retry-After. */
const TEMPORARY_BACKOFF = { baseMs: 5_000, maxMs: 600_000, jitter: 0.1 };

/** The delay before the safety-net poll of a pending order of age `ageMs`. */
export function pendingPollDelay(ageMs: number): number {
  return Math.min(PENDING_POLL_MAX_MS, Math.max(PENDING_POLL_MIN_MS, ageMs));
}

/** Canonical JSON (sorted keys), so that equal solver blocks hash alike whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (typeof v === "object" && v !== null) {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/** A short hash of a solver block: a Challenge made with another block than the one now selected is stale. */
export function solverHash(solver: AcmeSolver): string {
  return createHash("sha256").update(canonical(solver)).digest("hex").slice(0, 16);
}

/** The issuer index value of an Order or Challenge's issuerRef. */
function issuerIndexKey(namespace: string, ref: { name: string; kind?: string | undefined }): string {
  return ref.kind === "ClusterIssuer" ? `ClusterIssuer/${ref.name}` : `Issuer/${namespace}/${ref.name}`;
}

/**
 * Whether an error says the CA refused a new order's `replaces`. Uses the ACME layer's
 * `isReplacesRefused` when it has one; until then, an AlreadyReplaced problem in the cause chain.
 */
export function replacesRefused(err: unknown): boolean {
  const own = (acme as Record<string, unknown>)["isReplacesRefused"];
  if (typeof own === "function") return (own as (e: unknown) => boolean)(err);
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof AcmeProblemError && /alreadyReplaced|replaces/i.test(`${e.problem.type} ${e.message}`)) {
      return true;
    }
  }
  return false;
}

/** The condition reason for a temporary CA error: the problem type (RateLimited...) when there is one. */
function temporaryReason(err: unknown): string {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof AcmeProblemError) return reasonForProblemType(e.problem.type);
  }
  return "TemporaryACMEError";
}

/** The Challenge name for one authorization of an Order: stable, so a restart never makes a second. */
export function challengeName(order: OrderObj, authzUrl: string): string {
  const hash = createHash("sha256").update(authzUrl).digest("hex").slice(0, 10);
  const base = order.metadata.name ?? "";
  return `${base.length > 241 ? base.slice(0, 241).replace(/[-.]+$/, "") : base}-${hash}`;
}

/**
 * The Order controller: creates the ACME order, one Challenge per pending authorization (apex and
 * wildcard alike, all at once), finalizes with the Order's CSR when every authorization is valid,
 * and stores the chain. Its state (pending, ready, processing, valid, invalid, errored) and the
 * CA's reason live in `status`, so a restart resumes from the order URL it stored.
 */
export function orderController(deps: OrderControllerDeps): ControllerDefinition {
  deps.challenges.addIndex(CHALLENGES_BY_ORDER, (c) =>
    (c.metadata.ownerReferences ?? [])
      .filter((r) => r.kind === "Order" && r.controller === true)
      .map((r) => `${c.metadata.namespace ?? ""}/${r.name}`),
  );
  deps.orders.addIndex(ORDERS_BY_CERTIFICATE, (o) =>
    (o.metadata.ownerReferences ?? [])
      .filter((r) => r.kind === "Certificate" && r.controller === true)
      .map((r) => `${o.metadata.namespace ?? ""}/${r.name}`),
  );
  deps.orders.addIndex(ORDERS_BY_ISSUER, (o) =>
    FINAL.has(o.status?.state ?? "") ? [] : [issuerIndexKey(o.metadata.namespace ?? "", o.spec.issuerRef)],
  );
  const state = new PollState();
  // A deleted Certificate (or one replaced by a namesake with a new uid) concerns its Orders, which
  // then delete themselves: nothing else would, as the rig has no garbage collector. The initial
  // list of Orders enqueues every Order, so one orphaned while we were down goes at startup.
  const ownerGone = watch(deps.certificates, {
    filter: (ev) =>
      ev.type === "delete" ||
      (ev.type === "add" &&
        deps.orders
          .byIndex(ORDERS_BY_CERTIFICATE, objectKey(ev.obj))
          .some((o) =>
            o.metadata.ownerReferences?.some(
              (r) => r.kind === "Certificate" && r.uid !== ev.obj.metadata.uid,
            ),
          )),
    map: (cert) => deps.orders.byIndex(ORDERS_BY_CERTIFICATE, objectKey(cert)).map((o) => objectKey(o)),
  });
  // A changed Issuer (its solvers, or becoming Ready) re-drives its unfinished Orders.
  const issuerChanged = <T extends IssuerObj | ClusterIssuerObj>(
    informer: Informer<T>,
    indexKey: (issuer: T) => string,
  ) =>
    watch(informer, {
      filter: (ev) =>
        ev.old === undefined ||
        ev.old.metadata.generation !== ev.obj.metadata.generation ||
        getCondition(ev.old.status?.conditions, "Ready")?.status !==
          getCondition(ev.obj.status?.conditions, "Ready")?.status,
      map: (issuer) => deps.orders.byIndex(ORDERS_BY_ISSUER, indexKey(issuer)).map((o) => objectKey(o)),
    });
  return {
    name: "orders",
    concurrency: 5,
    watches: [
      watch(deps.orders),
      watchOwned(deps.challenges, { group: "dns01.io", kind: "Order" }),
      ownerGone,
      issuerChanged(deps.issuers, (i) =>
        issuerIndexKey(i.metadata.namespace ?? "", { name: i.metadata.name ?? "" }),
      ),
      issuerChanged(deps.clusterIssuers, (i) =>
        issuerIndexKey("", { name: i.metadata.name ?? "", kind: "ClusterIssuer" }),
      ),
    ],
    reconcile: (req) => reconcileOrder(deps, state, req),
  };
}

/**
 * What the controller remembers between runs, per Order uid: when the safety-net poll is due and
 * how many temporary CA errors came in a row. Lost at a restart, which costs one poll per order.
 */
class PollState {
  private readonly nextPoll = new Map<string, number>();
  private readonly failures = new Map<string, number>();

  /** Whether the safety-net poll is due; a first sighting schedules it instead of polling at once. */
  pollDue(uid: string, now: number, ageMs: number): boolean {
    const due = this.nextPoll.get(uid);
    if (due === undefined) {
      this.nextPoll.set(uid, now + pendingPollDelay(ageMs));
      return false;
    }
    return now >= due;
  }

  /** Milliseconds until the safety-net poll. */
  untilPoll(uid: string, now: number): number {
    return Math.max(0, (this.nextPoll.get(uid) ?? now) - now);
  }

  /** Records a poll at the CA. */
  polled(uid: string, now: number, ageMs: number): void {
    this.nextPoll.set(uid, now + pendingPollDelay(ageMs));
  }

  /** One more temporary failure; returns how many in a row. */
  failed(uid: string): number {
    const n = (this.failures.get(uid) ?? 0) + 1;
    this.failures.set(uid, n);
    return n;
  }

  succeeded(uid: string): void {
    this.failures.delete(uid);
  }

  forget(uid: string): void {
    this.nextPoll.delete(uid);
    this.failures.delete(uid);
  }
}

async function reconcileOrder(
  deps: OrderControllerDeps,
  memory: PollState,
  req: ReconcileRequest,
): Promise<ReconcileResult> {
  const order = deps.orders.get(req.key);
  if (!order || order.metadata.deletionTimestamp) return;
  const uid = order.metadata.uid ?? "";
  const orders = new ResourceClient<OrderObj>(deps.client, Kinds.orders);
  const challengesApi = new ResourceClient<ChallengeObj>(deps.client, Kinds.challenges);
  const now = deps.now ?? (() => new Date());
  const ns = order.metadata.namespace ?? "";
  const ownChallenges = deps.challenges.byIndex(CHALLENGES_BY_ORDER, req.key);

  // Without a garbage collector (our rig has none) owned objects would linger: an Order whose
  // Certificate is gone deletes itself, and its Challenges go with it (they clean up their TXT).
  const owner = order.metadata.ownerReferences?.find(
    (r) => r.kind === "Certificate" && r.controller === true,
  );
  if (owner && deps.certificates.hasSynced()) {
    const cert = deps.certificates.get(`${ns}/${owner.name}`);
    if (cert?.metadata.uid !== owner.uid) {
      req.log.info("the order's certificate is gone; deleting the order and its challenges", {
        certificate: owner.name,
      });
      memory.forget(uid);
      for (const c of ownChallenges) {
        if (!c.metadata.deletionTimestamp) {
          await challengesApi.delete(ns, c.metadata.name ?? "", {
            uid: c.metadata.uid ?? "",
            signal: req.signal,
          });
        }
      }
      await orders.delete(ns, order.metadata.name ?? "", {
        uid: order.metadata.uid ?? "",
        signal: req.signal,
      });
      return;
    }
  }

  const state = order.status?.state;
  if (state !== undefined && FINAL.has(state)) {
    memory.forget(uid);
    for (const c of ownChallenges) {
      if (!c.metadata.deletionTimestamp) {
        await challengesApi.delete(ns, c.metadata.name ?? "", {
          uid: c.metadata.uid ?? "",
          signal: req.signal,
        });
      }
    }
    return;
  }

  // Every status write keeps the Ready condition in step with the state and reason it writes.
  const writeStatus = async (status: Record<string, unknown>): Promise<void> => {
    const cur = order.status;
    const state = "state" in status ? (status["state"] as string | undefined) : cur?.state;
    const reason = "reason" in status ? (status["reason"] as string | undefined) : cur?.reason;
    const conditions = stateReadyConditions(
      "Order",
      cur?.conditions,
      state,
      reason,
      order.metadata.generation,
      now(),
    );
    await orders.patchStatus(order, { ...status, conditions }, { signal: req.signal });
  };
  const fail = async (err: unknown): Promise<void> => {
    const reason = describeError(err);
    await writeStatus({ state: "errored", reason, failureTime: formatTime(now()), retryAfter: null });
    req.log.warn("order errored", { reason });
  };

  // The Issuer's watch re-drives this Order when it appears or turns Ready, so the queue's growing
  // backoff (no fixed delay) is only a safety net.
  const issuer = deps.accounts.resolve(ns, order.spec.issuerRef);
  if (!issuer) throw new TemporaryError(`issuer ${order.spec.issuerRef.name} not found`);
  if (!isTrue(issuer.status?.conditions, "Ready")) {
    throw new TemporaryError(`issuer ${order.spec.issuerRef.name} is not Ready`);
  }

  // The CA asked us to wait (rateLimited, an outage): no request before the time it gave.
  const nowMs = now().getTime();
  const retryAt = order.status?.retryAfter ? Date.parse(order.status.retryAfter) : NaN;
  if (retryAt > nowMs) return { requeueAfter: retryAt - nowMs };

  // A pending Challenge made with a solver that is no longer the Issuer's choice goes first: its
  // finalizer removes its TXT value through the old solver, then its deletion brings this Order
  // back to make a new one with the new solver.
  if (order.status?.url && (state === "pending" || state === undefined)) {
    const stale = staleChallenges(issuer, order, ownChallenges);
    for (const c of stale) {
      req.log.info("solver changed; recreating challenge", {
        challenge: c.metadata.name,
        dnsName: c.spec.dnsName,
        wildcard: c.spec.wildcard === true,
      });
      await challengesApi.delete(ns, c.metadata.name ?? "", {
        uid: c.metadata.uid ?? "",
        signal: req.signal,
      });
    }
    if (stale.length > 0) return { requeueAfter: SAFETY_NET_MS };
  }

  const ageMs = nowMs - Date.parse(order.metadata.creationTimestamp ?? now().toISOString());
  const client = await deps.accounts.clientFor(issuer, req.signal);
  try {
    if (order.status?.url && state === "pending" && !needsCa(order, ownChallenges)) {
      // Nothing the CA could tell us yet: the Challenges' events bring us back when they settle.
      // A missing Challenge is made from the stored authorization, with no request to the CA.
      if (!memory.pollDue(uid, nowMs, ageMs)) {
        const urls = (order.status.authorizations ?? []).map((a) => a.url);
        await ensureChallenges(deps, req, order, urls, client, ownChallenges, writeStatus, {});
        return { requeueAfter: memory.untilPoll(uid, nowMs) };
      }
    }
    if (!order.status?.url) {
      const created = await createAcmeOrder(client, order, req);
      memory.succeeded(uid);
      await writeStatus({
        url: created.order.url,
        finalizeURL: created.order.finalize,
        state: created.order.status,
        authorizations: created.order.authorizations.map((url) => ({ url })),
        ...(created.replacesRefused !== undefined ? { replacesRefused: created.replacesRefused } : {}),
        retryAfter: null,
        reason: null,
      });
      memory.polled(uid, nowMs, 0);
      req.log.info("created ACME order", { orderUrl: created.order.url });
      // The status write's watch event brings the next run; an immediate requeue would read a
      // cache without the URL and order again at the CA. The delay is only a safety net.
      return { requeueAfter: SAFETY_NET_MS };
    }
    const acmeOrder = await client.getOrder(order.status.url);
    memory.polled(uid, nowMs, ageMs);
    memory.succeeded(uid);
    const cleared = order.status.retryAfter ? { retryAfter: null, reason: null } : {};
    switch (acmeOrder.status) {
      case "pending": {
        await ensureChallenges(
          deps,
          req,
          order,
          acmeOrder.authorizations,
          client,
          ownChallenges,
          writeStatus,
          cleared,
        );
        return { requeueAfter: memory.untilPoll(uid, nowMs) };
      }
      case "ready": {
        const csr = Buffer.from(order.spec.request, "base64").toString("utf8");
        const finalized = await client.finalize(acmeOrder, csr);
        if (finalized.status !== "valid") {
          await setState(order, finalized.status, writeStatus, cleared);
          return { requeueAfter: finalized.retryAfterMs ?? POLL_MS };
        }
        await storeCertificate(client, finalized, writeStatus, issuer.spec.acme.preferredChain);
        return;
      }
      case "processing":
        await setState(order, "processing", writeStatus, cleared);
        return { requeueAfter: acmeOrder.retryAfterMs ?? POLL_MS };
      case "valid": {
        await storeCertificate(client, acmeOrder, writeStatus, issuer.spec.acme.preferredChain);
        return;
      }
      case "invalid": {
        const reason = await invalidReason(client, acmeOrder, ownChallenges);
        await writeStatus({ state: "invalid", reason, failureTime: formatTime(now()), retryAfter: null });
        req.log.warn("order invalid", { reason });
        return;
      }
    }
  } catch (err) {
    // The CA refused (rejected identifier, unauthorized, bad CSR...): the Order is done for; the
    // Certificate controller records why and retries with its own backoff under a new Order.
    if (err instanceof TerminalError) {
      await fail(err);
      return;
    }
    // The CA refused for now (rateLimited above all): say so in status with the time we ask
    // again, warn once per episode, and wait until then instead of hammering it.
    if (err instanceof TemporaryError)
      return await waitForCa(deps, memory, req, order, err, nowMs, writeStatus);
    throw err;
  }
}

/**
 * The CA refused for now (rateLimited above all): says so in status with the time we ask again,
 * warns once per episode (on the Order and its Certificate), and waits until then.
 */
async function waitForCa(
  deps: OrderControllerDeps,
  memory: PollState,
  req: ReconcileRequest,
  order: OrderObj,
  err: TemporaryError,
  nowMs: number,
  writeStatus: (s: Record<string, unknown>) => Promise<void>,
): Promise<ReconcileResult> {
  const uid = order.metadata.uid ?? "";
  const failures = memory.failed(uid);
  const delayMs = Math.round(err.retryAfterMs ?? backoffDelay(failures, TEMPORARY_BACKOFF));
  const retryAfter = formatTime(new Date(nowMs + delayMs));
  const reason = `${describeError(err)}; asking the CA again at ${retryAfter}`;
  const firstOfEpisode = !order.status?.retryAfter;
  await writeStatus({ reason: reason.slice(0, 32768), retryAfter });
  req.log.warn("the ACME server refused for now; waiting", {
    reason: describeError(err),
    retryAfter,
    delayMs,
    failures,
  });
  if (firstOfEpisode) {
    const eventReason = temporaryReason(err);
    const message = `The ACME server refused for now: ${describeError(err)}; retrying at ${retryAfter}`;
    void deps.events.record(order, "Warning", eventReason, message);
    const cert = owningCertificate(deps, order);
    if (cert) {
      void deps.events.record(cert, "Warning", eventReason, `Order ${order.metadata.name ?? ""}: ${message}`);
    }
  }
  return { requeueAfter: delayMs };
}

/** The Certificate that owns an Order (same uid), if it exists. */
function owningCertificate(deps: OrderControllerDeps, order: OrderObj): CertificateObj | undefined {
  const ref = order.metadata.ownerReferences?.find((r) => r.kind === "Certificate" && r.controller === true);
  if (!ref) return undefined;
  const cert = deps.certificates.get(`${order.metadata.namespace ?? ""}/${ref.name}`);
  return cert?.metadata.uid === ref.uid ? cert : undefined;
}

/**
 * Places the ACME order, with `replaces` when the spec has it. A CA that refuses `replaces` (the
 * predecessor already replaced, unknown to it) gets the order once more without it: renewing
 * matters more than the rate-limit exemption `replaces` buys.
 */
async function createAcmeOrder(
  client: OrderAcmeClient,
  order: OrderObj,
  req: ReconcileRequest,
): Promise<{ order: AcmeOrder; replacesRefused?: string }> {
  const replaces = order.spec.replaces;
  // An options object, so that this compiles against an ACME layer with or without `replaces`.
  const opts: NewOrderOptions & { readonly replaces?: string | undefined } = {
    profile: order.spec.profile,
    ...(replaces !== undefined ? { replaces } : {}),
  };
  try {
    return { order: await client.newOrder(order.spec.dnsNames ?? [], opts) };
  } catch (err) {
    if (replaces === undefined || !replacesRefused(err)) throw err;
    const why = describeError(err);
    req.log.warn("the CA refused replaces; ordering without it", { replaces, reason: why });
    const created = await client.newOrder(order.spec.dnsNames ?? [], { profile: order.spec.profile });
    return { order: created, replacesRefused: why.slice(0, 4096) };
  }
}

/**
 * Whether only the CA can tell what comes next: an authorization not yet read, or every Challenge
 * settled (all valid: the order turns ready; one failed: it turns invalid). Otherwise the
 * Challenges are still at work (or yet to be made from stored authorizations) and we wait.
 */
function needsCa(order: OrderObj, challenges: readonly ChallengeObj[]): boolean {
  const auths = order.status?.authorizations ?? [];
  if (auths.length === 0) return true;
  const live = challenges.filter((c) => !c.metadata.deletionTimestamp);
  const byAuthz = new Map(live.map((c) => [c.spec.authorizationURL, c]));
  let allValid = true;
  for (const a of auths) {
    if (a.identifier === undefined || a.challenges === undefined) return true;
    if (a.initialState !== "pending") continue;
    const c = byAuthz.get(a.url);
    if (!c) {
      allValid = false;
      continue;
    }
    const st = c.status?.state;
    if (st === "invalid" || st === "errored" || st === "expired") return true;
    if (st !== "valid") allValid = false;
  }
  return allValid;
}

/**
 * Challenges still waiting for DNS (not yet handed to the CA) whose solver block is no longer the
 * one the Issuer's selectors choose for their name.
 */
function staleChallenges(
  issuer: AnyIssuerObj,
  order: OrderObj,
  challenges: readonly ChallengeObj[],
): ChallengeObj[] {
  const solvers = issuer.spec.acme.solvers ?? [];
  return challenges.filter((c) => {
    if (c.metadata.deletionTimestamp) return false;
    const st = c.status?.state;
    if (st !== undefined && st !== "pending") return false;
    const index = selectSolver(solvers, {
      dnsName: c.spec.dnsName,
      wildcard: c.spec.wildcard === true,
      labels: order.metadata.labels ?? {},
    });
    const selected = solvers[index];
    if (!selected) return false; // no solver matches now: the Challenge keeps its own until the order fails or ends
    const had = c.metadata.annotations?.[SOLVER_HASH_ANNOTATION] ?? solverHash(c.spec.solver);
    return had !== solverHash(selected);
  });
}

/**
 * What the Challenges are waiting on (a missing Secret, propagation...), so that the Order and
 * then the Certificate can say it without anyone reading Challenges.
 */
function waitingReason(challenges: readonly ChallengeObj[]): string | null {
  const waiting = challenges
    .filter((c) => c.status?.state !== "valid" && c.status?.reason)
    .map((c) => `${c.spec.wildcard === true ? "*." : ""}${c.spec.dnsName}: ${c.status?.reason ?? ""}`)
    .sort()
    .join("; ");
  return waiting === "" ? null : waiting.slice(0, 4096);
}

async function setState(
  order: OrderObj,
  state: string,
  write: (s: Record<string, unknown>) => Promise<void>,
  extra: Record<string, unknown> = {},
): Promise<void> {
  if (order.status?.state !== state || Object.keys(extra).length > 0) await write({ state, ...extra });
}

/** Creates the missing Challenges of a pending order; solver chosen per name by the issuer's selectors. */
async function ensureChallenges(
  deps: OrderControllerDeps,
  req: ReconcileRequest,
  order: OrderObj,
  authorizationUrls: readonly string[],
  client: OrderAcmeClient,
  existing: readonly ChallengeObj[],
  writeStatus: (s: Record<string, unknown>) => Promise<void>,
  extra: Record<string, unknown>,
): Promise<void> {
  const ns = order.metadata.namespace ?? "";
  const issuer = deps.accounts.resolve(ns, order.spec.issuerRef);
  const solvers = issuer?.spec.acme.solvers ?? [];
  const challengesApi = new ResourceClient<ChallengeObj>(deps.client, Kinds.challenges);
  const have = new Set(existing.map((c) => c.metadata.name));
  const stored: StoredAuthorization[] = [];
  let changed = false;
  for (const url of authorizationUrls) {
    const name = challengeName(order, url);
    const known = order.status?.authorizations?.find((a) => a.url === url);
    if (have.has(name)) {
      stored.push(known ?? { url });
      continue;
    }
    // What the CA said about this authorization: stored when we read it first, so that a Challenge
    // made again (its solver changed, or it was deleted) costs no request to the CA.
    let authz: Pick<AcmeAuthorization, "identifier" | "wildcard" | "status" | "challenges">;
    if (known?.identifier !== undefined && known.challenges !== undefined) {
      authz = {
        identifier: { type: "dns", value: known.identifier },
        wildcard: known.wildcard === true,
        status:
          known.initialState === "valid" ? "valid" : known.initialState === "invalid" ? "invalid" : "pending",
        challenges: known.challenges.map((c) => ({ ...c, status: "pending" })),
      };
      stored.push(known);
    } else {
      authz = await client.getAuthorization(url);
      stored.push({
        url,
        identifier: authz.identifier.value,
        wildcard: authz.wildcard,
        initialState: authz.status === "pending" || authz.status === "valid" ? authz.status : "invalid",
        challenges: authz.challenges.slice(0, 16).map((c) => ({ url: c.url, token: c.token, type: c.type })),
      });
      changed = true;
    }
    if (authz.status !== "pending") continue; // valid (reused) needs nothing; invalid fails the order at the CA
    const challenge = authz.challenges.find((c) => c.type === "dns-01");
    if (!challenge) {
      throw new TerminalError(
        `the CA offered no dns-01 challenge for ${authz.identifier.value}`,
        "NoDNS01Challenge",
      );
    }
    const index = selectSolver(solvers, {
      dnsName: authz.identifier.value,
      wildcard: authz.wildcard,
      labels: order.metadata.labels ?? {},
    });
    const solver = solvers[index];
    if (!solver) {
      const display = authz.wildcard ? `*.${authz.identifier.value}` : authz.identifier.value;
      throw new TerminalError(
        `no solver of ${order.spec.issuerRef.kind ?? "Issuer"} ${order.spec.issuerRef.name} matches ${display}: check the solvers' selectors`,
        "NoMatchingSolver",
      );
    }
    const key = await client.dns01Value(challenge);
    try {
      await challengesApi.create(
        {
          apiVersion: "dns01.io/v1alpha1",
          kind: "Challenge",
          metadata: {
            name,
            namespace: ns,
            labels: { [CERTIFICATE_LABEL]: order.metadata.labels?.[CERTIFICATE_LABEL] ?? "" },
            annotations: { [SOLVER_HASH_ANNOTATION]: solverHash(solver) },
            ownerReferences: [
              {
                apiVersion: "dns01.io/v1alpha1",
                kind: "Order",
                name: order.metadata.name ?? "",
                uid: order.metadata.uid ?? "",
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          },
          spec: {
            url: challenge.url,
            authorizationURL: url,
            dnsName: authz.identifier.value,
            wildcard: authz.wildcard,
            type: "DNS-01",
            token: challenge.token,
            key,
            solver,
            issuerRef: order.spec.issuerRef,
          },
        },
        req.signal,
      );
      req.log.info("created challenge", {
        challenge: name,
        dnsName: authz.identifier.value,
        wildcard: authz.wildcard,
      });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }
  const reason = waitingReason(existing);
  if (
    changed ||
    order.status?.state !== "pending" ||
    (order.status.reason ?? null) !== reason ||
    Object.keys(extra).length > 0
  ) {
    await writeStatus({ ...extra, state: "pending", authorizations: stored, reason });
  }
}

async function storeCertificate(
  client: OrderAcmeClient,
  acmeOrder: AcmeOrder,
  writeStatus: (s: Record<string, unknown>) => Promise<void>,
  preferredChain: string | undefined,
): Promise<undefined> {
  const downloaded = await client.downloadCertificate(acmeOrder, preferredChain);
  await writeStatus({
    state: "valid",
    certificate: Buffer.from(downloaded.pem).toString("base64"),
    reason: null,
    retryAfter: null,
  });
}

/** Why an order went invalid: the first failed challenge's problem, from our Challenges or the CA. */
async function invalidReason(
  client: OrderAcmeClient,
  acmeOrder: AcmeOrder,
  challenges: readonly ChallengeObj[],
): Promise<string> {
  const failed = challenges.find((c) => c.status?.state === "invalid" && c.status.reason);
  if (failed?.status?.reason) return failed.status.reason;
  for (const url of acmeOrder.authorizations) {
    try {
      const authz = await client.getAuthorization(url);
      const bad = authz.challenges.find((c) => c.status === "invalid" && c.error);
      if (bad?.error) {
        return `${authz.wildcard ? "*." : ""}${authz.identifier.value}: ${bad.error.detail ?? bad.error.type}`;
      }
    } catch {
      // fall back to the order's own error
    }
  }
  return acmeOrder.error?.detail ?? "the ACME order became invalid";
}
