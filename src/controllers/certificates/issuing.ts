/**
 * The issuing steps (cert-manager's key manager, request manager and issuing controller as
 * functions of one reconcile): the next private key, kept in a Secret of its own so a restart
 * reuses it; one Order per revision and attempt, named from a hash of the request so a restart
 * finds the same Order; the Secret written in one update once the Order is valid; and a failure
 * recorded with the backoff that follows it. The old certificate stays in the Secret until its
 * successor is complete.
 */
import { createHash } from "node:crypto";
import { TemporaryError } from "../../errors.js";
import { isAlreadyExists } from "../../kube/api-errors.js";
import {
  certificateInfo,
  createCsr,
  generatePrivateKey,
  keyMatchesSpec,
  parseGoDuration,
  parsePrivateKey,
  publicKeyMatches,
  renewalTime,
  spkiOf,
  type PrivateKey,
} from "../../pki/index.js";
import type { AnyIssuerObj } from "../issuers/accounts.js";
import { CERTIFICATE_LABEL, MANAGED_BY, MANAGED_BY_LABEL, type OrderObj, type SecretObj } from "../kinds.js";
import { formatTime, removeCondition } from "../runtime/index.js";
import { type CertContext, boundedName, nextKeySecretName, reportIssuance } from "./context.js";
import { outputOptions, wantsOutputs } from "./outputs.js";
import { updatedSecret } from "./post-issuance.js";
import { READY_MESSAGE, notYetValid } from "./readiness.js";
import {
  type IssuanceRequest,
  keySpecOf,
  requestHash,
  requestedCommonName,
  requestedNames,
} from "./request.js";
import { TLS_KEY, TLS_SECRET_TYPE, desiredMetadata, secretText, tlsSecretData } from "./secret.js";
import { RENEW_ANNOTATION } from "./trigger.js";

/** Index of Orders by the Certificate that owns them. */
export const ORDERS_BY_CERTIFICATE = "certificate";
/** Order states after which nothing more happens. */
export const ORDER_FINAL_STATES: ReadonlySet<string> = new Set(["valid", "invalid", "errored", "expired"]);

/** The renewal time of a certificate under this Certificate's renewBefore settings. */
export function renewalOf(ctx: CertContext, notBefore: Date, notAfter: Date): Date {
  const s = ctx.cert.spec;
  return renewalTime({
    notBefore,
    notAfter,
    renewBefore: s.renewBefore ? parseGoDuration(s.renewBefore) : undefined,
    renewBeforePercentage: s.renewBeforePercentage,
  });
}

/** The key the next certificate will carry: reused under rotationPolicy Never, else a new one kept until issued. */
export async function nextPrivateKey(ctx: CertContext, current: SecretObj | undefined): Promise<PrivateKey> {
  const cert = ctx.cert;
  const spec = keySpecOf(cert);
  if (cert.spec.privateKey?.rotationPolicy === "Never") {
    const pem = secretText(current, TLS_KEY);
    if (pem) {
      try {
        const key = parsePrivateKey(pem);
        if (keyMatchesSpec(key, spec)) return key;
      } catch {
        // An unreadable key is replaced, as cert-manager does.
      }
    }
  }
  const name = nextKeySecretName(cert);
  const existing = await ctx.readSecret(name);
  const pem = secretText(existing, TLS_KEY);
  if (existing && pem) {
    try {
      const key = parsePrivateKey(pem);
      if (keyMatchesSpec(key, spec)) return key;
    } catch {
      // fall through: replace it
    }
    await ctx.secretsApi.delete(ctx.ns, name, { uid: existing.metadata?.uid ?? "", signal: ctx.req.signal });
    throw new TemporaryError("the stored next private key does not match the spec; replacing it", 100);
  }
  const key = await generatePrivateKey(spec);
  try {
    await ctx.secretsApi.create(
      {
        metadata: {
          name,
          namespace: ctx.ns,
          labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [CERTIFICATE_LABEL]: ctx.name },
          ownerReferences: [ctx.ownerRef()],
        },
        type: "Opaque",
        data: { [TLS_KEY]: Buffer.from(key.pem).toString("base64") },
      },
      ctx.req.signal,
    );
  } catch (err) {
    if (isAlreadyExists(err)) throw new TemporaryError("the next private key was created meanwhile", 100);
    throw err;
  }
  await ctx.patchStatus({ nextPrivateKeySecretName: name });
  return key;
}

/** Order name: Certificate, revision, and a hash of the request, the key and the attempt. */
export function orderName(
  ctx: CertContext,
  revision: number,
  attempt: number,
  hash: string,
  key: PrivateKey,
): string {
  const h = createHash("sha256")
    .update(JSON.stringify([hash, spkiOf(key).toString("base64"), attempt]))
    .digest("hex")
    .slice(0, 8);
  return boundedName(ctx.name, `${revision}-${h}`);
}

/**
 * Creates the Order for this revision. Orders of an older request still in flight are abandoned
 * first (their Challenges clean up on deletion). `replaces` is the ARI certID of the certificate
 * being renewed, so the CA can exempt the successor from rate limits.
 */
export async function createOrder(
  ctx: CertContext,
  opts: {
    name: string;
    revision: number;
    key: PrivateKey;
    request: IssuanceRequest;
    issuer: AnyIssuerObj;
    replaces?: string | undefined;
  },
): Promise<void> {
  const cert = ctx.cert;
  for (const old of ctx.deps.orders.byIndex(ORDERS_BY_CERTIFICATE, `${ctx.ns}/${ctx.name}`)) {
    const st = old.status?.state;
    if (old.metadata.name !== opts.name && (st === undefined || !ORDER_FINAL_STATES.has(st))) {
      await ctx.ordersApi.delete(ctx.ns, old.metadata.name ?? "", {
        uid: old.metadata.uid ?? "",
        signal: ctx.req.signal,
      });
    }
  }
  const s = cert.spec;
  const commonName = requestedCommonName(cert);
  const csr = await createCsr({
    key: opts.key,
    commonName,
    dnsNames: s.dnsNames ?? [],
    subject: s.subject,
    literalSubject: s.literalSubject,
    usages: s.usages,
    encodeUsagesInRequest: s.encodeUsagesInRequest,
    signatureAlgorithm: s.signatureAlgorithm,
  });
  const spec: OrderObj["spec"] & { replaces?: string } = {
    request: Buffer.from(csr).toString("base64"),
    issuerRef: s.issuerRef,
    ...(commonName ? { commonName } : {}),
    dnsNames: requestedNames(cert),
    ...(s.duration ? { duration: s.duration } : {}),
    ...(opts.request.profile ? { profile: opts.request.profile } : {}),
    ...(opts.replaces ? { replaces: opts.replaces } : {}),
  };
  try {
    await ctx.ordersApi.create(
      {
        apiVersion: "dns01.io/v1alpha1",
        kind: "Order",
        metadata: {
          name: opts.name,
          namespace: ctx.ns,
          labels: { ...(cert.metadata.labels ?? {}), [CERTIFICATE_LABEL]: ctx.name },
          annotations: { "dns01.io/certificate-revision": String(opts.revision) },
          ownerReferences: [ctx.ownerRef()],
        },
        spec,
      },
      ctx.req.signal,
    );
    ctx.req.log.info("created order", { order: opts.name, revision: opts.revision, replaces: opts.replaces });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
}

/**
 * Writes the issued chain, key, metadata and outputs into the Secret in one update; then deletes
 * the next-key Secret (the key now lives in the Secret only), writes status and prunes old Orders.
 */
export async function writeSecret(
  ctx: CertContext,
  opts: {
    current: SecretObj | undefined;
    order: OrderObj;
    key: PrivateKey;
    revision: number;
    request: IssuanceRequest;
  },
): Promise<void> {
  const cert = ctx.cert;
  const { current, order, key, revision } = opts;
  const chain = Buffer.from(order.status?.certificate ?? "", "base64").toString("utf8");
  if (!publicKeyMatches(chain, key)) {
    throw new TemporaryError(`order ${order.metadata.name ?? ""} holds a certificate for another key`);
  }
  const info = certificateInfo(chain);
  const encoding = keySpecOf(cert).encoding;
  const tls = tlsSecretData(chain, key, encoding);
  const desired = desiredMetadata(
    cert,
    { commonName: info.commonName, dnsNames: info.dnsNames },
    requestHash(opts.request),
  );
  let outputs: Record<string, string> = {};
  const renderer = ctx.deps.outputs;
  if (renderer && wantsOutputs(cert)) {
    const options = await outputOptions(cert, ctx.deps.secretReader ?? noSecrets, ctx.req.signal);
    outputs = await renderer.render(
      {
        chainPem: Buffer.from(tls["tls.crt"] ?? "", "base64").toString("utf8"),
        keyPem: Buffer.from(tls["tls.key"] ?? "", "base64").toString("utf8"),
        caPem: tls["ca.crt"] ? Buffer.from(tls["ca.crt"], "base64").toString("utf8") : undefined,
      },
      options,
    );
  }
  const managedOutputKeys = renderer?.managedKeys ?? [];
  const base: SecretObj = current ?? {
    metadata: { name: cert.spec.secretName, namespace: ctx.ns },
    type: TLS_SECRET_TYPE,
  };
  const next = updatedSecret(base, desired, { managedOutputKeys, data: outputs });
  const data = { ...(next.data ?? {}) };
  delete data["ca.crt"]; // a root from an earlier chain must not outlive it
  next.data = { ...data, ...tls };
  next.type = current?.type ?? TLS_SECRET_TYPE;
  if (current) await ctx.secretsApi.replace(next, ctx.req.signal);
  else await ctx.secretsApi.create(next, ctx.req.signal);

  await ctx.deleteNextKey();
  const early = notYetValid({
    secret: { exists: true, annotations: {}, hasCertificate: true, hasPrivateKey: true, certificate: info },
    now: ctx.now,
  });
  let conditions = early
    ? ctx.withCondition(ctx.conditions(), "Ready", "False", early.reason, early.message)
    : ctx.withCondition(ctx.conditions(), "Ready", "True", "Ready", READY_MESSAGE);
  conditions = removeCondition(conditions, "Issuing");
  const renew = cert.metadata.annotations?.[RENEW_ANNOTATION];
  reportIssuance(ctx, "success"); // before the write, which moves status.revision
  await ctx.patchStatus({
    conditions,
    revision,
    notBefore: formatTime(info.notBefore),
    notAfter: formatTime(info.notAfter),
    renewalTime: formatTime(renewalOf(ctx, info.notBefore, info.notAfter)),
    lastFailureTime: null,
    lastFailureMessage: null,
    lastFailureGeneration: null,
    failedIssuanceAttempts: null,
    nextPrivateKeySecretName: null,
    // The ARI window belonged to the predecessor; the successor's is fetched afresh.
    ari: null,
    ...(renew !== undefined ? { lastManualRenewal: renew } : {}),
  });
  await pruneOrders(ctx, order.metadata.name ?? "");
  void ctx.deps.events.record(cert, "Normal", "Issued", "The certificate has been successfully issued");
  ctx.req.log.info("certificate issued", { revision, notAfter: formatTime(info.notAfter) });
}

const noSecrets = {
  read(): Promise<string> {
    return Promise.reject(new Error("no Secret reader configured for keystore passwords"));
  },
};

/**
 * Records a failed Order: Issuing=False with the CA's reason, the attempt count and generation
 * (a spec change skips the backoff), Ready as `readyAfter` decides from the new failure, and
 * deletes the next key so the retry starts afresh.
 */
export async function recordFailure(
  ctx: CertContext,
  order: OrderObj,
  readyAfter?: (lastFailure: string) => { status: "True" | "False"; reason: string; message: string },
): Promise<number> {
  const cert = ctx.cert;
  const reason =
    order.status?.reason ?? `order ${order.metadata.name ?? ""} is ${order.status?.state ?? "failed"}`;
  const message = `The certificate request has failed to complete and will be retried: ${reason}`;
  const attempts = (cert.status?.failedIssuanceAttempts ?? 0) + 1;
  let conditions = ctx.withCondition(ctx.conditions(), "Issuing", "False", "Failed", message);
  // Ready moves in the same write: a watcher must never see the failure recorded with Ready still
  // telling the story from before the attempt.
  const ready = readyAfter?.(message);
  if (ready) conditions = ctx.withCondition(conditions, "Ready", ready.status, ready.reason, ready.message);
  await ctx.patchStatus({
    conditions,
    lastFailureTime: formatTime(ctx.now),
    lastFailureMessage: message,
    failedIssuanceAttempts: attempts,
    ...(cert.metadata.generation !== undefined ? { lastFailureGeneration: cert.metadata.generation } : {}),
  });
  reportIssuance(ctx, "failure"); // after the write: a conflict retried must not count twice
  void ctx.deps.events.record(cert, "Warning", "Failed", message);
  await ctx.deleteNextKey();
  await pruneOrders(ctx, order.metadata.name ?? "");
  ctx.req.log.warn("issuance failed", { order: order.metadata.name, attempts, reason });
  return attempts;
}

/** Keeps the newest `revisionHistoryLimit` (default 1) finished Orders, besides `keep`. */
export async function pruneOrders(ctx: CertContext, keep: string): Promise<void> {
  const limit = ctx.cert.spec.revisionHistoryLimit ?? 1;
  const finished = ctx.deps.orders
    .byIndex(ORDERS_BY_CERTIFICATE, `${ctx.ns}/${ctx.name}`)
    .filter((o) => o.metadata.name !== keep && ORDER_FINAL_STATES.has(o.status?.state ?? ""))
    .sort((a, b) => (b.metadata.creationTimestamp ?? "").localeCompare(a.metadata.creationTimestamp ?? ""));
  for (const o of finished.slice(Math.max(0, limit - 1))) {
    await ctx.ordersApi.delete(ctx.ns, o.metadata.name ?? "", {
      uid: o.metadata.uid ?? "",
      signal: ctx.req.signal,
    });
  }
}
