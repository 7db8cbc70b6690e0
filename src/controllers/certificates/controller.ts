import { createHash } from "node:crypto";
import { TemporaryError } from "../../errors.js";
import { isAlreadyExists } from "../../kube/api-errors.js";
import type { KubeClient } from "../../kube/client.js";
import type { EventRecorder } from "../../kube/events.js";
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
import type { AcmeAccounts } from "../issuers/accounts.js";
import {
  CERTIFICATE_LABEL,
  Kinds,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  type CertificateObj,
  type ClusterIssuerObj,
  type IssuerObj,
  type OrderObj,
  type SecretObj,
} from "../kinds.js";
import {
  type Condition,
  type ControllerDefinition,
  type Informer,
  type ReconcileRequest,
  type ReconcileResult,
  ResourceClient,
  formatTime,
  generationChanged,
  getCondition,
  isTrue,
  removeCondition,
  setCondition,
  watch,
  watchOwned,
} from "../runtime/index.js";
import { expectedNames, issuanceBackoffMs, needsIssuance, type Trigger } from "./policies.js";
import {
  TLS_KEY,
  TLS_SECRET_TYPE,
  certificateFacts,
  hasMetadata,
  keySpecOf,
  secretFacts,
  secretOwnedBy,
  secretText,
  tlsSecretData,
  tlsSecretMetadata,
} from "./secret.js";

/** What the Certificate controller needs. */
export interface CertificateControllerDeps {
  client: KubeClient;
  accounts: AcmeAccounts;
  events: EventRecorder;
  certificates: Informer<CertificateObj>;
  orders: Informer<OrderObj>;
  /** Secrets labelled as ours (TLS Secrets and next private keys). */
  secrets: Informer<SecretObj>;
  issuers: Informer<IssuerObj>;
  clusterIssuers: Informer<ClusterIssuerObj>;
  /** First wait after a failed issuance; doubles per failure, capped at 32 times this. */
  issuanceBackoffBaseMs: number;
  now?: () => Date;
}

/** Index of Certificates by the issuer they name, so an issuer change requeues its Certificates. */
const BY_ISSUER = "issuer";
/** Index of Orders by the Certificate that owns them. */
export const ORDERS_BY_CERTIFICATE = "certificate";
/** The longest a reconcile waits before looking again: node timers overflow past ~24.8 days. */
const MAX_REQUEUE_MS = 24 * 3_600_000;
/** How often a Certificate blocked by a foreign Secret looks again (that Secret is not watched). */
const FOREIGN_SECRET_RECHECK_MS = 5 * 60_000;
const ORDER_FINAL_STATES = new Set(["valid", "invalid", "errored", "expired"]);

function issuerIndexKey(kind: string, namespace: string | undefined, name: string): string {
  return kind === "ClusterIssuer" ? `ClusterIssuer//${name}` : `Issuer/${namespace ?? ""}/${name}`;
}

/** A DNS-1123 name of at most `max` characters: a prefix, cut if needed, and a suffix. */
function boundedName(prefix: string, suffix: string, max = 253): string {
  const room = max - suffix.length - 1;
  return `${prefix.length > room ? prefix.slice(0, room).replace(/[-.]+$/, "") : prefix}-${suffix}`;
}

/**
 * The Certificate controller. One reconcile decides (the trigger policies), prepares (the next
 * private key, kept in a Secret of its own so a restart reuses it), requests (one Order per
 * revision and attempt, named from a hash of what it asks for, so a restart finds the same Order
 * instead of making a second), and issues (the Secret written in one update once the Order is
 * valid). The old certificate stays in the Secret until its successor is complete.
 */
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
      watch(deps.certificates, { filter: generationChanged }),
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
    reconcile: (req) => new CertificateReconcile(deps, req).run(),
  };
}

/** The state of one reconcile of one Certificate. */
class CertificateReconcile {
  private readonly now: Date;
  private readonly certs: ResourceClient<CertificateObj>;
  private readonly secretsApi: ResourceClient<SecretObj>;
  private readonly ordersApi: ResourceClient<OrderObj>;
  private cert!: CertificateObj;

  constructor(
    private readonly deps: CertificateControllerDeps,
    private readonly req: ReconcileRequest,
  ) {
    this.now = (deps.now ?? (() => new Date()))();
    this.certs = new ResourceClient(deps.client, Kinds.certificates);
    this.secretsApi = new ResourceClient(deps.client, Kinds.secrets);
    this.ordersApi = new ResourceClient(deps.client, Kinds.orders);
  }

  async run(): Promise<ReconcileResult> {
    const cert = this.deps.certificates.get(this.req.key);
    if (!cert || cert.metadata.deletionTimestamp) return;
    this.cert = cert;

    const unsupported = unsupportedFields(cert);
    if (unsupported) {
      await this.setReady("False", "UnsupportedField", unsupported);
      return;
    }

    const secretName = cert.spec.secretName;
    const secret = await this.readSecret(secretName);
    if (secret && !secretOwnedBy(secret, cert)) {
      const message =
        `Secret ${secretName} exists and was not written for this Certificate (its annotation ` +
        `dns01.io/certificate-name does not name ${cert.metadata.name ?? ""}); it will not be overwritten. ` +
        `Choose another secretName, delete the Secret, or annotate it to hand it over.`;
      if (await this.setReady("False", "SecretNotOwned", message)) {
        void this.deps.events.record(cert, "Warning", "SecretNotOwned", message);
      }
      return { requeueAfter: FOREIGN_SECRET_RECHECK_MS };
    }

    const facts = secretFacts(secret);
    const renewal =
      facts.certificate && facts.notBefore
        ? renewalTime({
            notBefore: facts.notBefore,
            notAfter: facts.certificate.notAfter,
            renewBefore: cert.spec.renewBefore ? parseGoDuration(cert.spec.renewBefore) : undefined,
            renewBeforePercentage: cert.spec.renewBeforePercentage,
          })
        : undefined;
    const trigger = needsIssuance({
      cert: certificateFacts(cert),
      secret: facts,
      renewalTime: renewal,
      now: this.now,
    });

    if (trigger === null && secret && facts.certificate && facts.notBefore && renewal) {
      await this.upToDate(secret, {
        notBefore: facts.notBefore,
        notAfter: facts.certificate.notAfter,
        renewal,
      });
      return {
        requeueAfter: Math.min(MAX_REQUEUE_MS, Math.max(1000, renewal.getTime() - this.now.getTime())),
      };
    }
    if (trigger === null) return;

    // While renewing, the current certificate is still good: Ready stays True until it expires.
    const stillValid = trigger.reason === "Renewing";
    // After a failed attempt, Ready keeps the last failure (the CA's message) through the backoff
    // and the next attempts, until an issuance succeeds: that is what a person needs to read.
    const failedBefore = (cert.status?.failedIssuanceAttempts ?? 0) > 0;
    if (!stillValid && !failedBefore) await this.setReady("False", trigger.reason, trigger.message);
    return this.issue(trigger, secret, stillValid);
  }

  /** Drives one issuance: issuer check, backoff, next key, Order, and the Secret once it is valid. */
  private async issue(
    trigger: Trigger,
    secret: SecretObj | undefined,
    stillValid: boolean,
  ): Promise<ReconcileResult> {
    const cert = this.cert;
    const issuer = this.deps.accounts.resolve(cert.metadata.namespace ?? "", cert.spec.issuerRef);
    const issuerId = `${cert.spec.issuerRef.kind ?? "Issuer"} ${cert.spec.issuerRef.name}`;
    if (!issuer) {
      await this.setIssuing("False", "IssuerNotFound", `Waiting for ${issuerId}, which does not exist`);
      return;
    }
    if (!isTrue(issuer.status?.conditions, "Ready")) {
      await this.setIssuing("False", "IssuerNotReady", `Waiting for ${issuerId} to become Ready`);
      return;
    }

    const status = cert.status ?? {};
    const attempts = status.failedIssuanceAttempts ?? 0;
    const issuing = getCondition(status.conditions, "Issuing");
    if (attempts > 0 && status.lastFailureTime && issuing?.status !== "True") {
      const retryAt =
        Date.parse(status.lastFailureTime) + issuanceBackoffMs(attempts, this.deps.issuanceBackoffBaseMs);
      if (retryAt > this.now.getTime()) {
        return { requeueAfter: Math.min(MAX_REQUEUE_MS, retryAt - this.now.getTime()) };
      }
    }

    if (issuing?.status !== "True") {
      await this.setIssuing("True", trigger.reason, trigger.message);
      void this.deps.events.record(cert, "Normal", "Issuing", trigger.message);
    }

    const key = await this.nextPrivateKey(secret);
    const revision = (status.revision ?? 0) + 1;
    const orderName = this.orderName(revision, attempts, key);
    const order =
      this.deps.orders.get(`${cert.metadata.namespace ?? ""}/${orderName}`) ??
      (await this.ordersApi.find(cert.metadata.namespace, orderName, this.req.signal));
    if (!order) {
      await this.createOrder(orderName, revision, key);
      return;
    }
    const state = order.status?.state;
    if (state === "valid" && order.status?.certificate) {
      await this.writeSecret(secret, order, key, revision);
      return;
    }
    if (state !== undefined && ORDER_FINAL_STATES.has(state)) {
      return this.failed(order, stillValid);
    }
    if (order.status?.reason) {
      await this.setIssuing("True", trigger.reason, `${trigger.message}; waiting on ${order.status.reason}`);
    }
    return;
  }

  /** The Secret from the cache of our Secrets, or from the API server (it may not be ours yet). */
  private async readSecret(name: string): Promise<SecretObj | undefined> {
    const ns = this.cert.metadata.namespace ?? "";
    return this.deps.secrets.get(`${ns}/${name}`) ?? (await this.secretsApi.find(ns, name, this.req.signal));
  }

  /** The key the next certificate will carry: reused under rotationPolicy Never, else a new one kept until issued. */
  private async nextPrivateKey(current: SecretObj | undefined): Promise<PrivateKey> {
    const cert = this.cert;
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
    const ns = cert.metadata.namespace ?? "";
    const existing =
      this.deps.secrets.get(`${ns}/${name}`) ?? (await this.secretsApi.find(ns, name, this.req.signal));
    const pem = secretText(existing, TLS_KEY);
    if (existing && pem) {
      try {
        const key = parsePrivateKey(pem);
        if (keyMatchesSpec(key, spec)) return key;
      } catch {
        // fall through: replace it
      }
      await this.secretsApi.delete(ns, name, { uid: existing.metadata?.uid ?? "", signal: this.req.signal });
      throw new TemporaryError("the stored next private key does not match the spec; replacing it", 100);
    }
    const key = await generatePrivateKey(spec);
    try {
      await this.secretsApi.create(
        {
          metadata: {
            name,
            namespace: ns,
            labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [CERTIFICATE_LABEL]: cert.metadata.name ?? "" },
            ownerReferences: [this.ownerRef()],
          },
          type: "Opaque",
          data: { [TLS_KEY]: Buffer.from(key.pem).toString("base64") },
        },
        this.req.signal,
      );
    } catch (err) {
      if (isAlreadyExists(err)) throw new TemporaryError("the next private key was created meanwhile", 100);
      throw err;
    }
    await this.patchStatus({ nextPrivateKeySecretName: name });
    return key;
  }

  /** Order name: Certificate, revision, and a hash of what is asked (names, issuer, key, attempt). */
  private orderName(revision: number, attempt: number, key: PrivateKey): string {
    const s = this.cert.spec;
    const hash = createHash("sha256")
      .update(
        JSON.stringify([
          [...(s.dnsNames ?? [])].sort(),
          s.commonName ?? "",
          s.issuerRef,
          s.duration ?? "",
          s.usages ?? [],
          s.subject ?? {},
          spkiOf(key).toString("base64"),
          attempt,
        ]),
      )
      .digest("hex")
      .slice(0, 8);
    return boundedName(this.cert.metadata.name ?? "", `${revision}-${hash}`);
  }

  private ownerRef(): {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller: boolean;
    blockOwnerDeletion: boolean;
  } {
    return {
      apiVersion: "dns01.io/v1alpha1",
      kind: "Certificate",
      name: this.cert.metadata.name ?? "",
      uid: this.cert.metadata.uid ?? "",
      controller: true,
      blockOwnerDeletion: true,
    };
  }

  private async createOrder(name: string, revision: number, key: PrivateKey): Promise<void> {
    const cert = this.cert;
    const ns = cert.metadata.namespace ?? "";
    // An Order of an older spec still in flight is abandoned: its challenges clean up on deletion.
    for (const old of this.deps.orders.byIndex(ORDERS_BY_CERTIFICATE, `${ns}/${cert.metadata.name ?? ""}`)) {
      const st = old.status?.state;
      if (old.metadata.name !== name && (st === undefined || !ORDER_FINAL_STATES.has(st))) {
        await this.ordersApi.delete(ns, old.metadata.name ?? "", {
          uid: old.metadata.uid ?? "",
          signal: this.req.signal,
        });
      }
    }
    const csr = await createCsr({
      key,
      commonName: cert.spec.commonName,
      dnsNames: cert.spec.dnsNames ?? [],
      subject: cert.spec.subject,
      usages: cert.spec.usages,
    });
    const issuer = this.deps.accounts.resolve(ns, cert.spec.issuerRef);
    try {
      await this.ordersApi.create(
        {
          apiVersion: "dns01.io/v1alpha1",
          kind: "Order",
          metadata: {
            name,
            namespace: ns,
            labels: { ...(cert.metadata.labels ?? {}), [CERTIFICATE_LABEL]: cert.metadata.name ?? "" },
            annotations: { "dns01.io/certificate-revision": String(revision) },
            ownerReferences: [this.ownerRef()],
          },
          spec: {
            request: Buffer.from(csr).toString("base64"),
            issuerRef: cert.spec.issuerRef,
            ...(cert.spec.commonName ? { commonName: cert.spec.commonName } : {}),
            dnsNames: expectedNames(certificateFacts(cert)),
            ...(cert.spec.duration ? { duration: cert.spec.duration } : {}),
            ...(issuer?.spec.acme.profile ? { profile: issuer.spec.acme.profile } : {}),
          },
        },
        this.req.signal,
      );
      this.req.log.info("created order", { order: name, revision });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  /** Writes the issued chain and key into the Secret in one update, then the status. */
  private async writeSecret(
    current: SecretObj | undefined,
    order: OrderObj,
    key: PrivateKey,
    revision: number,
  ): Promise<void> {
    const cert = this.cert;
    const ns = cert.metadata.namespace ?? "";
    const chain = Buffer.from(order.status?.certificate ?? "", "base64").toString("utf8");
    if (!publicKeyMatches(chain, key)) {
      throw new TemporaryError(`order ${order.metadata.name ?? ""} holds a certificate for another key`);
    }
    const info = certificateInfo(chain);
    const meta = tlsSecretMetadata(cert, { commonName: info.commonName, dnsNames: info.dnsNames });
    const data = tlsSecretData(chain, key, keySpecOf(cert).encoding);
    if (current) {
      const next: SecretObj = structuredClone(current);
      next.metadata = {
        ...next.metadata,
        labels: { ...(next.metadata?.labels ?? {}), ...meta.labels },
        annotations: { ...(next.metadata?.annotations ?? {}), ...meta.annotations },
      };
      const keep = { ...(next.data ?? {}) };
      delete keep["ca.crt"];
      next.data = { ...keep, ...data };
      next.type = current.type ?? TLS_SECRET_TYPE;
      await this.secretsApi.replace(next, this.req.signal);
    } else {
      await this.secretsApi.create(
        { metadata: { name: cert.spec.secretName, namespace: ns, ...meta }, type: TLS_SECRET_TYPE, data },
        this.req.signal,
      );
    }
    const renewal = renewalTime({
      notBefore: info.notBefore,
      notAfter: info.notAfter,
      renewBefore: cert.spec.renewBefore ? parseGoDuration(cert.spec.renewBefore) : undefined,
      renewBeforePercentage: cert.spec.renewBeforePercentage,
    });
    let conditions = this.conditions();
    conditions = setCondition(
      conditions,
      this.ready("True", "Ready", "Certificate is up to date and has not expired"),
      this.now,
    );
    conditions = removeCondition(conditions, "Issuing");
    await this.patchStatus({
      conditions,
      revision,
      notBefore: formatTime(info.notBefore),
      notAfter: formatTime(info.notAfter),
      renewalTime: formatTime(renewal),
      lastFailureTime: null,
      failedIssuanceAttempts: null,
      nextPrivateKeySecretName: null,
    });
    await this.secretsApi.delete(ns, nextKeySecretName(cert), { signal: this.req.signal });
    await this.pruneOrders(order.metadata.name ?? "");
    void this.deps.events.record(cert, "Normal", "Issued", "The certificate has been successfully issued");
    this.req.log.info("certificate issued", { revision, notAfter: formatTime(info.notAfter) });
  }

  /** Records a failed Order and schedules the next attempt after the backoff. */
  private async failed(order: OrderObj, stillValid: boolean): Promise<ReconcileResult> {
    const cert = this.cert;
    const reason =
      order.status?.reason ?? `order ${order.metadata.name ?? ""} is ${order.status?.state ?? "failed"}`;
    const message = `The certificate request has failed to complete and will be retried: ${reason}`;
    const attempts = (cert.status?.failedIssuanceAttempts ?? 0) + 1;
    let conditions = setCondition(
      this.conditions(),
      { type: "Issuing", status: "False", reason: "Failed", message, ...this.generation() },
      this.now,
    );
    if (!stillValid) conditions = setCondition(conditions, this.ready("False", "Failed", message), this.now);
    await this.patchStatus({
      conditions,
      lastFailureTime: formatTime(this.now),
      failedIssuanceAttempts: attempts,
    });
    void this.deps.events.record(cert, "Warning", "Failed", message);
    await this.pruneOrders(order.metadata.name ?? "");
    this.req.log.warn("issuance failed", { order: order.metadata.name, attempts, reason });
    return {
      requeueAfter: Math.min(MAX_REQUEUE_MS, issuanceBackoffMs(attempts, this.deps.issuanceBackoffBaseMs)),
    };
  }

  /** Keeps the newest `revisionHistoryLimit` (default 1) finished Orders, besides `keep`. */
  private async pruneOrders(keep: string): Promise<void> {
    const ns = this.cert.metadata.namespace ?? "";
    const limit = this.cert.spec.revisionHistoryLimit ?? 1;
    const finished = this.deps.orders
      .byIndex(ORDERS_BY_CERTIFICATE, `${ns}/${this.cert.metadata.name ?? ""}`)
      .filter((o) => o.metadata.name !== keep && ORDER_FINAL_STATES.has(o.status?.state ?? ""))
      .sort((a, b) => (b.metadata.creationTimestamp ?? "").localeCompare(a.metadata.creationTimestamp ?? ""));
    for (const o of finished.slice(Math.max(0, limit - 1))) {
      await this.ordersApi.delete(ns, o.metadata.name ?? "", {
        uid: o.metadata.uid ?? "",
        signal: this.req.signal,
      });
    }
  }

  /** The Secret is current: refresh its template metadata if it changed, and the status. */
  private async upToDate(
    secret: SecretObj,
    t: { notBefore: Date; notAfter: Date; renewal: Date },
  ): Promise<void> {
    const cert = this.cert;
    const facts = secretFacts(secret);
    const meta = tlsSecretMetadata(cert, {
      commonName: facts.certificate?.commonName,
      dnsNames: facts.certificate?.dnsNames ?? [],
    });
    if (!hasMetadata(secret, meta)) {
      await this.secretsApi.patch(
        cert.metadata.namespace,
        secret.metadata?.name ?? "",
        { metadata: meta },
        { signal: this.req.signal },
      );
    }
    let conditions = setCondition(
      this.conditions(),
      this.ready("True", "Ready", "Certificate is up to date and has not expired"),
      this.now,
    );
    conditions = removeCondition(conditions, "Issuing");
    const want = {
      conditions,
      notBefore: formatTime(t.notBefore),
      notAfter: formatTime(t.notAfter),
      renewalTime: formatTime(t.renewal),
      revision: cert.status?.revision ?? 1,
    };
    const st = cert.status ?? {};
    if (
      JSON.stringify(st.conditions ?? []) !== JSON.stringify(conditions) ||
      st.notBefore !== want.notBefore ||
      st.notAfter !== want.notAfter ||
      st.renewalTime !== want.renewalTime ||
      st.revision !== want.revision
    ) {
      await this.patchStatus(want);
    }
  }

  private conditions(): Condition[] {
    return this.cert.status?.conditions ?? [];
  }

  private generation(): { observedGeneration?: number } {
    const g = this.cert.metadata.generation;
    return g === undefined ? {} : { observedGeneration: g };
  }

  private ready(status: "True" | "False", reason: string, message: string) {
    return { type: "Ready", status, reason, message, ...this.generation() } as const;
  }

  /** Sets Ready; returns true when it changed (so callers record an Event only once). */
  private async setReady(status: "True" | "False", reason: string, message: string): Promise<boolean> {
    const before = getCondition(this.conditions(), "Ready");
    if (before?.status === status && before.reason === reason && before.message === message) return false;
    await this.patchStatus({
      conditions: setCondition(this.conditions(), this.ready(status, reason, message), this.now),
    });
    return true;
  }

  private async setIssuing(status: "True" | "False", reason: string, message: string): Promise<void> {
    const before = getCondition(this.conditions(), "Issuing");
    if (before?.status === status && before.reason === reason && before.message === message) return;
    const conditions = setCondition(
      this.conditions(),
      { type: "Issuing", status, reason, message, ...this.generation() },
      this.now,
    );
    await this.patchStatus({ conditions });
  }

  /** Merge-patches status (conditional on the object we read), keeping our copy current. */
  private async patchStatus(status: Record<string, unknown>): Promise<void> {
    this.cert = await this.certs.patchStatus(this.cert, status, { signal: this.req.signal });
  }
}

/** Name of the Secret that holds the next private key until issuance completes. */
export function nextKeySecretName(cert: CertificateObj): string {
  return boundedName(cert.metadata.name ?? "", "next-key");
}

/** Fields a DNS-01 ACME issuer cannot put in a certificate, explained; undefined when all is fine. */
export function unsupportedFields(cert: CertificateObj): string | undefined {
  const s = cert.spec;
  const bad: string[] = [];
  if ((s.ipAddresses?.length ?? 0) > 0) bad.push("ipAddresses");
  if ((s.uris?.length ?? 0) > 0) bad.push("uris");
  if ((s.emailAddresses?.length ?? 0) > 0) bad.push("emailAddresses");
  if ((s.otherNames?.length ?? 0) > 0) bad.push("otherNames");
  if (bad.length === 0) return undefined;
  return `ACME DNS-01 validates DNS names only; remove ${bad.join(", ")} from the spec`;
}
