import { createHash } from "node:crypto";
import { dns01Challenge, type AcmeClient, type AcmeOrder } from "../../acme/index.js";
import type { AcmeAuthorization as StoredAuthorization } from "../../crds/index.js";
import { TemporaryError, TerminalError } from "../../errors.js";
import { describeError, isAlreadyExists } from "../../kube/api-errors.js";
import type { KubeClient } from "../../kube/client.js";
import { selectSolver } from "../../solvers/select.js";
import type { AcmeAccounts } from "../issuers/accounts.js";
import { CERTIFICATE_LABEL, Kinds, type CertificateObj, type ChallengeObj, type OrderObj } from "../kinds.js";
import {
  type ControllerDefinition,
  type Informer,
  type ReconcileRequest,
  type ReconcileResult,
  ResourceClient,
  formatTime,
  isTrue,
  watch,
  watchOwned,
} from "../runtime/index.js";

/** What the Order controller needs. */
export interface OrderControllerDeps {
  client: KubeClient;
  accounts: AcmeAccounts;
  orders: Informer<OrderObj>;
  challenges: Informer<ChallengeObj>;
  certificates: Informer<CertificateObj>;
  now?: () => Date;
}

/** Index of Challenges by the Order that owns them. */
export const CHALLENGES_BY_ORDER = "order";
const FINAL = new Set(["valid", "invalid", "errored", "expired"]);
/** How soon to look at the CA again while it works (finalization, validation): short, since the CA is usually quick. */
const POLL_MS = 250;
/** A safety net while Challenges progress: their own events requeue the Order sooner. */
const PENDING_RECHECK_MS = 5000;
/** A recheck in case a watch event is slow to come; events normally bring the next run sooner. */
const SAFETY_NET_MS = 2000;

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
  return {
    name: "orders",
    concurrency: 5,
    watches: [watch(deps.orders), watchOwned(deps.challenges, { group: "dns01.io", kind: "Order" })],
    reconcile: (req) => reconcileOrder(deps, req),
  };
}

async function reconcileOrder(deps: OrderControllerDeps, req: ReconcileRequest): Promise<ReconcileResult> {
  const order = deps.orders.get(req.key);
  if (!order || order.metadata.deletionTimestamp) return;
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
      await orders.delete(ns, order.metadata.name ?? "", {
        uid: order.metadata.uid ?? "",
        signal: req.signal,
      });
      return;
    }
  }

  const state = order.status?.state;
  if (state !== undefined && FINAL.has(state)) {
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

  const writeStatus = async (status: Record<string, unknown>): Promise<void> => {
    await orders.patchStatus(order, status, { signal: req.signal });
  };
  const fail = async (err: unknown): Promise<void> => {
    const reason = describeError(err);
    await writeStatus({ state: "errored", reason, failureTime: formatTime(now()) });
    req.log.warn("order errored", { reason });
  };

  const issuer = deps.accounts.resolve(ns, order.spec.issuerRef);
  if (!issuer) throw new TemporaryError(`issuer ${order.spec.issuerRef.name} not found`, 5000);
  if (!isTrue(issuer.status?.conditions, "Ready")) {
    throw new TemporaryError(`issuer ${order.spec.issuerRef.name} is not Ready`, 2000);
  }

  try {
    const client = await deps.accounts.clientFor(issuer, req.signal);
    if (!order.status?.url) {
      const created = await client.newOrder(order.spec.dnsNames ?? [], { profile: order.spec.profile });
      await writeStatus({
        url: created.url,
        finalizeURL: created.finalize,
        state: created.status,
        authorizations: created.authorizations.map((url) => ({ url })),
      });
      req.log.info("created ACME order", { orderUrl: created.url });
      // The status write's watch event brings the next run; an immediate requeue would read a
      // cache without the URL and order again at the CA. The delay is only a safety net.
      return { requeueAfter: SAFETY_NET_MS };
    }
    const acmeOrder = await client.getOrder(order.status.url);
    switch (acmeOrder.status) {
      case "pending":
        return await ensureChallenges(deps, req, order, acmeOrder, client, ownChallenges, writeStatus);
      case "ready": {
        const csr = Buffer.from(order.spec.request, "base64").toString("utf8");
        const finalized = await client.finalize(acmeOrder, csr);
        if (finalized.status !== "valid") {
          await setState(order, finalized.status, writeStatus);
          return { requeueAfter: finalized.retryAfterMs ?? POLL_MS };
        }
        await storeCertificate(client, finalized, writeStatus, issuer.spec.acme.preferredChain);
        return;
      }
      case "processing":
        await setState(order, "processing", writeStatus);
        return { requeueAfter: acmeOrder.retryAfterMs ?? POLL_MS };
      case "valid": {
        await storeCertificate(client, acmeOrder, writeStatus, issuer.spec.acme.preferredChain);
        return;
      }
      case "invalid": {
        const reason = await invalidReason(client, acmeOrder, ownChallenges);
        await writeStatus({ state: "invalid", reason, failureTime: formatTime(now()) });
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
    throw err;
  }
}

async function setState(
  order: OrderObj,
  state: string,
  write: (s: Record<string, unknown>) => Promise<void>,
): Promise<void> {
  if (order.status?.state !== state) await write({ state });
}

/** Creates the missing Challenges of a pending order; solver chosen per name by the issuer's selectors. */
async function ensureChallenges(
  deps: OrderControllerDeps,
  req: ReconcileRequest,
  order: OrderObj,
  acmeOrder: AcmeOrder,
  client: AcmeClient,
  existing: readonly ChallengeObj[],
  writeStatus: (s: Record<string, unknown>) => Promise<void>,
): Promise<ReconcileResult> {
  const ns = order.metadata.namespace ?? "";
  const issuer = deps.accounts.resolve(ns, order.spec.issuerRef);
  const solvers = issuer?.spec.acme.solvers ?? [];
  const challengesApi = new ResourceClient<ChallengeObj>(deps.client, Kinds.challenges);
  const have = new Set(existing.map((c) => c.metadata.name));
  const stored: StoredAuthorization[] = [];
  let changed = false;
  for (const url of acmeOrder.authorizations) {
    const name = challengeName(order, url);
    const known = order.status?.authorizations?.find((a) => a.url === url);
    if (have.has(name)) {
      stored.push(known ?? { url });
      continue;
    }
    const authz = await client.getAuthorization(url);
    stored.push({
      url,
      identifier: authz.identifier.value,
      wildcard: authz.wildcard,
      initialState: authz.status === "pending" || authz.status === "valid" ? authz.status : "invalid",
      challenges: authz.challenges.slice(0, 16).map((c) => ({ url: c.url, token: c.token, type: c.type })),
    });
    changed = changed || known?.identifier === undefined;
    if (authz.status !== "pending") continue; // valid (reused) needs nothing; invalid fails the order at the CA
    const challenge = dns01Challenge(authz);
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
  // What the Challenges are waiting on (a missing Secret, propagation...), so that the Order and
  // then the Certificate can say it without anyone reading Challenges.
  const waiting = existing
    .filter((c) => c.status?.state !== "valid" && c.status?.reason)
    .map((c) => `${c.spec.wildcard === true ? "*." : ""}${c.spec.dnsName}: ${c.status?.reason ?? ""}`)
    .sort()
    .join("; ");
  const reason = waiting === "" ? null : waiting.slice(0, 4096);
  if (changed || order.status?.state !== "pending" || (order.status.reason ?? null) !== reason) {
    await writeStatus({ state: "pending", authorizations: stored, reason });
  }
  return { requeueAfter: PENDING_RECHECK_MS };
}

async function storeCertificate(
  client: AcmeClient,
  acmeOrder: AcmeOrder,
  writeStatus: (s: Record<string, unknown>) => Promise<void>,
  preferredChain: string | undefined,
): Promise<undefined> {
  const downloaded = await client.downloadCertificate(acmeOrder, preferredChain);
  await writeStatus({
    state: "valid",
    certificate: Buffer.from(downloaded.pem).toString("base64"),
    reason: null,
  });
}

/** Why an order went invalid: the first failed challenge's problem, from our Challenges or the CA. */
async function invalidReason(
  client: AcmeClient,
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
