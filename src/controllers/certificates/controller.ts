/**
 * The Certificate controller: one entry (`reconcile`) that runs cert-manager's concerns in order,
 * each a small module of its own: readiness (readiness.ts, every reconcile, whatever the backoff),
 * trigger (trigger.ts, against the request hash in request.ts), issuing (issuing.ts),
 * post-issuance (post-issuance.ts) and ARI (ari.ts). The decisions are pure functions; this file
 * reads the state they need and writes what they decide.
 */
import { TemporaryError, TerminalError } from "../../errors.js";
import { describeError } from "../../kube/api-errors.js";
import type { AnyIssuerObj } from "../issuers/accounts.js";
import {
  CERTIFICATE_LABEL,
  Kinds,
  type CertificateObj,
  type ClusterIssuerObj,
  type IssuerObj,
  type SecretObj,
} from "../kinds.js";
import {
  type ControllerDefinition,
  type ReconcileRequest,
  type ReconcileResult,
  ResourceClient,
  type WatchEventInfo,
  formatTime,
  generationChanged,
  getCondition,
  isTrue,
  removeCondition,
  statusObserved,
  watch,
  watchOwned,
} from "../runtime/index.js";
import { ariCheckDue, ariStatusAfterCheck, ariStatusAfterError, effectiveRenewalTime } from "./ari.js";
import { CertContext, MAX_REQUEUE_MS, boundedName, type CertificateControllerDeps } from "./context.js";
import {
  ORDERS_BY_CERTIFICATE,
  ORDER_FINAL_STATES,
  createOrder,
  nextPrivateKey,
  orderName,
  recordFailure,
  renewalOf,
  writeSecret,
} from "./issuing.js";
import { outputOptions, wantsOutputs } from "./outputs.js";
import { postIssuanceFixes, updatedSecret } from "./post-issuance.js";
import { notReady, readyState } from "./readiness.js";
import { issuanceRequest, requestHash, type IssuanceRequest } from "./request.js";
import { certificateFacts, desiredMetadata, secretFacts, secretOwnedBy } from "./secret.js";
import { RENEWAL_REASONS, RENEW_ANNOTATION, backoffUntil, needsIssuance, type Trigger } from "./trigger.js";
import { OUTPUTS_UNAVAILABLE, unsupportedFields } from "./unsupported.js";

export { type CertificateControllerDeps, type RenewalInfoSource, nextKeySecretName } from "./context.js";
export { ORDERS_BY_CERTIFICATE } from "./issuing.js";

/** Index of Certificates by the issuer they name, so an issuer change requeues its Certificates. */
const BY_ISSUER = "issuer";
/** How often a Certificate blocked by a foreign Secret looks again (that Secret is not watched). */
const FOREIGN_SECRET_RECHECK_MS = 5 * 60_000;

function issuerIndexKey(kind: string, namespace: string | undefined, name: string): string {
  return kind === "ClusterIssuer" ? `ClusterIssuer//${name}` : `Issuer/${namespace ?? ""}/${name}`;
}

/** Certificate events worth a reconcile: a spec change, a deletion, or a new renew annotation. */
export function certificateChanged(ev: WatchEventInfo<CertificateObj>): boolean {
  if (generationChanged(ev)) return true;
  return ev.obj.metadata.annotations?.[RENEW_ANNOTATION] !== ev.old?.metadata.annotations?.[RENEW_ANNOTATION];
}

/** The Certificate controller's definition: its watches and its reconcile. */
export function certificateController(deps: CertificateControllerDeps): ControllerDefinition {
  deps.certificates.addIndex(BY_ISSUER, (c) => [
    issuerIndexKey(c.spec.issuerRef.kind ?? "Issuer", c.metadata.namespace, c.spec.issuerRef.name),
  ]);
  deps.orders.addIndex(ORDERS_BY_CERTIFICATE, (o) => {
    const name = o.metadata.labels?.[CERTIFICATE_LABEL];
    return name ? [`${o.metadata.namespace ?? ""}/${name}`] : [];
  });
  const byIssuer = (kind: string) => (i: IssuerObj | ClusterIssuerObj) =>
    deps.certificates
      .byIndex(BY_ISSUER, issuerIndexKey(kind, i.metadata.namespace, i.metadata.name ?? ""))
      .map((c) => `${c.metadata.namespace ?? ""}/${c.metadata.name ?? ""}`);
  return {
    name: "certificates",
    concurrency: 5,
    watches: [
      watch(deps.certificates, { filter: certificateChanged }),
      watchOwned(deps.orders, { group: "dns01.io", kind: "Certificate" }),
      watch(deps.secrets, {
        map: (s) => {
          const name = s.metadata?.labels?.[CERTIFICATE_LABEL];
          return name ? [`${s.metadata?.namespace ?? ""}/${name}`] : [];
        },
      }),
      watch(deps.issuers, { map: byIssuer("Issuer") }),
      watch(deps.clusterIssuers, { map: byIssuer("ClusterIssuer") }),
    ],
    reconcile: (req) => reconcileCertificate(deps, req),
  };
}

/** Everything one reconcile learned before it decides. */
interface Observed {
  secret: SecretObj | undefined;
  facts: ReturnType<typeof secretFacts>;
  issuer: AnyIssuerObj | undefined;
  request: IssuanceRequest;
  hash: string;
  renewal: Date | undefined;
  trigger: Trigger | null;
}

/** Reconciles one Certificate. */
export async function reconcileCertificate(
  deps: CertificateControllerDeps,
  req: ReconcileRequest,
): Promise<ReconcileResult> {
  const cached = deps.certificates.get(req.key);
  if (!cached) return deleteOrphanNextKey(deps, req);
  if (cached.metadata.deletionTimestamp) return;
  const ctx = new CertContext(deps, req, cached);
  const cert = ctx.cert;

  const unsupported =
    unsupportedFields(cert) ?? (wantsOutputs(cert) && !deps.outputs ? OUTPUTS_UNAVAILABLE : undefined);
  if (unsupported) {
    await ctx.deleteNextKey();
    if (await ctx.setCondition("Ready", "False", "UnsupportedField", unsupported)) {
      void deps.events.record(cert, "Warning", "UnsupportedField", unsupported);
    }
    return;
  }

  const secretName = cert.spec.secretName;
  const secret = await ctx.readSecret(secretName);
  if (secret && !secretOwnedBy(secret, cert)) {
    const message =
      `Secret ${secretName} exists and was not written for this Certificate (its annotation ` +
      `dns01.io/certificate-name does not name ${ctx.name}); it will not be overwritten. ` +
      `Choose another secretName, delete the Secret, or annotate it to hand it over.`;
    if (await ctx.setCondition("Ready", "False", "SecretNotOwned", message)) {
      void deps.events.record(cert, "Warning", "SecretNotOwned", message);
    }
    return { requeueAfter: FOREIGN_SECRET_RECHECK_MS };
  }

  const obs = observe(ctx, secret);
  if (obs.trigger === null && secret) return upToDate(ctx, obs, secret);
  if (obs.trigger === null) return;
  return issue(ctx, obs);
}

/**
 * A deleted Certificate leaves no private key behind: its next-key Secret (an attempt in flight)
 * is deleted here rather than left to a garbage collector, which the rig and some clusters lack.
 */
async function deleteOrphanNextKey(deps: CertificateControllerDeps, req: ReconcileRequest): Promise<void> {
  const name = boundedName(req.name, "next-key"); // as nextKeySecretName names it
  const orphan = deps.secrets.get(`${req.namespace ?? ""}/${name}`);
  if (orphan?.metadata?.labels?.[CERTIFICATE_LABEL] !== req.name) return;
  await new ResourceClient<SecretObj>(deps.client, Kinds.secrets).delete(req.namespace, name, {
    uid: orphan.metadata.uid ?? "",
    signal: req.signal,
  });
  req.log.info("deleted the next private key of a deleted Certificate", { secret: name });
}

/** Reads what the decisions need and runs the trigger chain. */
function observe(ctx: CertContext, secret: SecretObj | undefined): Observed {
  const cert = ctx.cert;
  const facts = secretFacts(secret);
  const issuer = ctx.deps.accounts.resolve(ctx.ns, cert.spec.issuerRef);
  const request = issuanceRequest(cert, issuer?.spec.acme.profile);
  const hash = requestHash(request);
  const c = facts.certificate;
  const base = c?.notBefore ? renewalOf(ctx, c.notBefore, c.notAfter) : undefined;
  const ari = ariEnabled(ctx, issuer) ? cert.status?.ari : undefined;
  const eff = effectiveRenewalTime(base, ari);
  const trigger = needsIssuance({
    cert: certificateFacts(cert, hash),
    secret: facts,
    renewalTime: eff.at,
    renewalFromAri: eff.fromAri,
    now: ctx.now,
  });
  return { secret, facts, issuer, request, hash, renewal: eff.at, trigger };
}

function ariEnabled(ctx: CertContext, issuer: AnyIssuerObj | undefined): boolean {
  return ctx.deps.renewalInfo !== undefined && issuer?.spec.acme.renewalInformationSource !== "None";
}

/** The message of the last failed attempt, kept through the backoff and the next attempts until a success. */
function lastFailure(ctx: CertContext): string | undefined {
  const st = ctx.cert.status;
  if ((st?.failedIssuanceAttempts ?? 0) === 0) return undefined;
  if (st?.lastFailureMessage) return st.lastFailureMessage;
  // Written before lastFailureMessage existed: the Issuing condition still holds it.
  const issuing = getCondition(ctx.conditions(), "Issuing");
  return issuing?.reason === "Failed" ? issuing.message : undefined;
}

/** Writes Ready as the readiness chain and the trigger decide; returns true when it changed. */
async function applyReadiness(ctx: CertContext, obs: Observed): Promise<boolean> {
  const r = readyState({
    notReady: notReady({ secret: obs.facts, now: ctx.now }),
    trigger: obs.trigger,
    lastFailure: lastFailure(ctx),
  });
  return ctx.setCondition("Ready", r.status, r.reason, r.message);
}

/** The delay until the next thing that changes a decision: renewal, expiry, an ARI check. */
function nextWake(ctx: CertContext, ...times: (Date | string | undefined)[]): number {
  const now = ctx.now.getTime();
  const due = times
    .map((t) => (t === undefined ? undefined : typeof t === "string" ? Date.parse(t) : t.getTime()))
    .filter((t): t is number => t !== undefined && !Number.isNaN(t));
  const first = due.length > 0 ? Math.min(...due) : now + MAX_REQUEUE_MS;
  return Math.min(MAX_REQUEUE_MS, Math.max(1000, first - now));
}

/**
 * The certificate in the Secret is what the spec asks for: bring metadata and outputs up to date
 * (post-issuance), ask the CA for its renewal window when due (ARI), drop a leftover next key,
 * and write status. Looks again at the renewal time, at notAfter and at the next ARI check.
 */
async function upToDate(ctx: CertContext, obs: Observed, secret: SecretObj): Promise<ReconcileResult> {
  const cert = ctx.cert;
  const c = obs.facts.certificate;
  const key = obs.facts.key;
  if (!c?.notBefore || !key || obs.facts.chainPem === undefined) return;
  await postIssuance(ctx, obs, secret);
  await ctx.deleteNextKey();

  let ari = cert.status?.ari;
  if (
    ariEnabled(ctx, obs.issuer) &&
    obs.issuer &&
    isTrue(obs.issuer.status?.conditions, "Ready") &&
    ariCheckDue(ari, ctx.now)
  ) {
    ari = await checkAri(ctx, obs.issuer, obs.facts.chainPem);
  }
  const base = renewalOf(ctx, c.notBefore, c.notAfter);
  const eff = effectiveRenewalTime(base, ariEnabled(ctx, obs.issuer) ? ari : undefined);
  if (eff.at && eff.at <= ctx.now) {
    // The window just opened: keep what the CA said, and let the trigger see it at once.
    if (JSON.stringify(cert.status?.ari ?? null) !== JSON.stringify(ari ?? null)) {
      await ctx.patchStatus({ ari: ari ?? null });
    }
    return { requeueAfter: 1000 };
  }

  // Current is not yet usable: a certificate whose notBefore is still ahead is not Ready.
  const ready = readyState({ notReady: notReady({ secret: obs.facts, now: ctx.now }), trigger: null });
  let conditions = ctx.withCondition(ctx.conditions(), "Ready", ready.status, ready.reason, ready.message);
  conditions = removeCondition(conditions, "Issuing");
  const want = {
    notBefore: formatTime(c.notBefore),
    notAfter: formatTime(c.notAfter),
    renewalTime: formatTime(base),
    revision: cert.status?.revision ?? 1,
  };
  const st = cert.status ?? {};
  if (
    !statusObserved(cert) ||
    JSON.stringify(st.conditions ?? []) !== JSON.stringify(conditions) ||
    st.notBefore !== want.notBefore ||
    st.notAfter !== want.notAfter ||
    st.renewalTime !== want.renewalTime ||
    st.revision !== want.revision ||
    JSON.stringify(st.ari ?? null) !== JSON.stringify(ari ?? null)
  ) {
    await ctx.patchStatus({ ...want, conditions, ari: ari ?? null });
  }
  return {
    requeueAfter: nextWake(
      ctx,
      ready.status === "False" ? c.notBefore : undefined,
      eff.at,
      c.notAfter,
      ariEnabled(ctx, obs.issuer) ? ari?.nextCheck : undefined,
    ),
  };
}

/** Asks the CA for the certificate's window; an unreachable CA keeps the last answer and says why. */
async function checkAri(ctx: CertContext, issuer: AnyIssuerObj, chainPem: string) {
  const previous = ctx.cert.status?.ari;
  const source = ctx.deps.renewalInfo;
  if (!source) return previous;
  try {
    const info = await source.fetch(issuer, chainPem, ctx.req.signal);
    if (!info) return undefined; // the CA lists no renewalInfo: renewalTime alone
    const next = ariStatusAfterCheck(previous, info, ctx.now, ctx.deps.random);
    ctx.req.log.info("renewal window checked", {
      start: next.suggestedWindow?.start,
      end: next.suggestedWindow?.end,
      selected: next.selectedRenewalTime,
    });
    return next;
  } catch (err) {
    if (ctx.req.signal.aborted) throw err;
    const retryAfterMs = err instanceof TemporaryError ? err.retryAfterMs : undefined;
    ctx.req.log.warn("renewal information unavailable; renewing at renewalTime", {
      error: describeError(err),
    });
    return ariStatusAfterError(
      previous,
      `${describeError(err)}; renewing at renewalTime until it answers`,
      ctx.now,
      retryAfterMs,
    );
  }
}

/** Runs the post-issuance chain and applies every fix in one write. */
async function postIssuance(ctx: CertContext, obs: Observed, secret: SecretObj): Promise<void> {
  const cert = ctx.cert;
  const c = obs.facts.certificate;
  const desired = desiredMetadata(cert, { commonName: c?.commonName, dnsNames: c?.dnsNames ?? [] }, obs.hash);
  const renderer = ctx.deps.outputs;
  const managedOutputKeys = renderer?.managedKeys ?? [];
  const material = {
    chainPem: obs.facts.chainPem ?? "",
    keyPem: Buffer.from(secret.data?.["tls.key"] ?? "", "base64").toString("utf8"),
    caPem: secret.data?.["ca.crt"]
      ? Buffer.from(secret.data["ca.crt"], "base64").toString("utf8")
      : undefined,
  };
  let options;
  let current = true;
  let wanted: readonly string[] = [];
  if (renderer && wantsOutputs(cert)) {
    try {
      options = await outputOptions(cert, ctx.deps.secretReader ?? missingReader, ctx.req.signal);
      wanted = renderer.keysFor(material, options);
      current = await renderer.current(secret.data ?? {}, material, options);
    } catch (err) {
      throw await outputsFailed(ctx, err);
    }
  }
  const fixes = postIssuanceFixes({
    secret,
    desired,
    outputsCurrent: current,
    managedOutputKeys,
    wantedOutputKeys: wanted,
  });
  if (fixes.length === 0) return;
  const rewriteData = fixes.some((f) => f.reason === "OutputsOutdated" || f.reason === "StaleOutputs");
  let data: Record<string, string> | undefined;
  if (rewriteData && renderer && options) {
    try {
      data = await renderer.render(material, options);
    } catch (err) {
      throw await outputsFailed(ctx, err);
    }
  } else if (rewriteData) {
    data = {}; // nothing wanted: the stale keys go
  }
  const next = updatedSecret(secret, desired, { managedOutputKeys, data });
  await ctx.secretsApi.replace(next, ctx.req.signal);
  ctx.req.log.info("secret updated without reissuing", { fixes: fixes.map((f) => f.reason) });
}

/**
 * Shows why the outputs cannot be written (a missing password Secret, an empty password) as
 * Ready=False with the error's reason, and returns the error for the queue: terminal errors wait
 * for a change (the password Secret is read again on the next spec or Secret event).
 */
async function outputsFailed(ctx: CertContext, err: unknown): Promise<unknown> {
  if (err instanceof TerminalError) {
    await ctx.setCondition(
      "Ready",
      "False",
      err.reason,
      `Cannot write additionalOutputFormats or keystores into Secret ${ctx.cert.spec.secretName}: ${err.message}`,
    );
  }
  return err;
}

const missingReader = {
  read(): Promise<string> {
    return Promise.reject(
      new TerminalError("no Secret reader is configured for keystore passwords", "SecretNotFound"),
    );
  },
};

/** Drives one issuance: readiness, issuer check, backoff, next key, Order, and the Secret once valid. */
async function issue(ctx: CertContext, obs: Observed): Promise<ReconcileResult> {
  const trigger = obs.trigger;
  if (!trigger) return;
  await applyReadiness(ctx, obs);
  const cert = ctx.cert;
  const notAfter = obs.facts.certificate?.notAfter;

  const issuer = obs.issuer;
  if (!issuer) {
    await ctx.setCondition(
      "Issuing",
      "False",
      "IssuerNotFound",
      `Waiting for ${ctx.issuerId}, which does not exist: create it or fix issuerRef`,
    );
    // The Issuer watch re-drives this when it appears; the growing retry is a safety net.
    throw new TemporaryError(`${ctx.issuerId} does not exist`);
  }
  if (!isTrue(issuer.status?.conditions, "Ready")) {
    await ctx.setCondition(
      "Issuing",
      "False",
      "IssuerNotReady",
      `Waiting for ${ctx.issuerId} to become Ready (see its Ready condition)`,
    );
    throw new TemporaryError(`${ctx.issuerId} is not Ready`);
  }

  const status = cert.status ?? {};
  const attempts = status.failedIssuanceAttempts ?? 0;
  const issuing = getCondition(status.conditions, "Issuing");
  if (issuing?.status !== "True") {
    const retryAt = backoffUntil({
      failedAttempts: attempts,
      lastFailureTime: status.lastFailureTime,
      lastFailureGeneration: status.lastFailureGeneration,
      generation: cert.metadata.generation,
      baseMs: ctx.deps.issuanceBackoffBaseMs,
    });
    if (retryAt && retryAt > ctx.now) return { requeueAfter: nextWake(ctx, retryAt, notAfter) };
    // The caches may lag behind our own last write (a Secret just issued): confirm from the API
    // server before starting, so a stale read never orders a second certificate.
    const fresh = await ctx.secretsApi.find(ctx.ns, cert.spec.secretName, ctx.req.signal);
    if (fresh?.metadata?.resourceVersion !== obs.secret?.metadata?.resourceVersion) {
      throw new TemporaryError("the Secret changed since the cache was read; looking again", 500);
    }
    await ctx.setCondition("Issuing", "True", trigger.reason, trigger.message);
    void ctx.deps.events.record(cert, "Normal", "Issuing", trigger.message);
  }

  const key = await nextPrivateKey(ctx, obs.secret);
  const revision = (status.revision ?? 0) + 1;
  const name = orderName(ctx, revision, attempts, obs.hash, key);
  const order =
    ctx.deps.orders.get(`${ctx.ns}/${name}`) ?? (await ctx.ordersApi.find(ctx.ns, name, ctx.req.signal));
  if (!order) {
    // Only a renewal names its predecessor: a changed spec asks for another certificate, which a
    // CA may refuse to treat as a replacement.
    const replaces =
      ariEnabled(ctx, issuer) && RENEWAL_REASONS.has(trigger.reason) && obs.facts.chainPem
        ? safeCertId(ctx, obs.facts.chainPem)
        : undefined;
    await createOrder(ctx, { name, revision, key, request: obs.request, issuer, replaces });
    return notAfter ? { requeueAfter: nextWake(ctx, notAfter) } : undefined;
  }
  const state = order.status?.state;
  if (state === "valid" && order.status?.certificate) {
    try {
      await writeSecret(ctx, { current: obs.secret, order, key, revision, request: obs.request });
    } catch (err) {
      throw await outputsFailed(ctx, err);
    }
    return;
  }
  if (state !== undefined && ORDER_FINAL_STATES.has(state)) {
    const failed = await recordFailure(ctx, order, (failure) =>
      readyState({
        notReady: notReady({ secret: obs.facts, now: ctx.now }),
        trigger: obs.trigger,
        lastFailure: failure,
      }),
    );
    const retryAt = backoffUntil({
      failedAttempts: failed,
      lastFailureTime: formatTime(ctx.now),
      baseMs: ctx.deps.issuanceBackoffBaseMs,
    });
    return { requeueAfter: nextWake(ctx, retryAt, notAfter) };
  }
  if (order.status?.reason) {
    await ctx.setCondition(
      "Issuing",
      "True",
      trigger.reason,
      `${trigger.message}; waiting on ${order.status.reason}`,
    );
  }
  // Order events drive progress; notAfter is when Ready must turn False if it never completes.
  return notAfter ? { requeueAfter: nextWake(ctx, notAfter) } : undefined;
}

function safeCertId(ctx: CertContext, chainPem: string): string | undefined {
  try {
    return ctx.deps.renewalInfo?.certId(chainPem);
  } catch (err) {
    ctx.req.log.warn("cannot compute the ARI certID of the current certificate", {
      error: describeError(err),
    });
    return undefined;
  }
}
