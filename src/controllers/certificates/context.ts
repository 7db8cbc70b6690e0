import type { KubeClient } from "../../kube/client.js";
import type { EventRecorder } from "../../kube/events.js";
import type { SecretReader } from "../../solvers/credentials.js";
import type { AcmeAccounts, AnyIssuerObj } from "../issuers/accounts.js";
import {
  Kinds,
  type CertificateObj,
  type ClusterIssuerObj,
  type IssuerObj,
  type OrderObj,
  type SecretObj,
} from "../kinds.js";
import type { IssuanceRecorder } from "../../metrics/index.js";
import {
  type Condition,
  type Informer,
  type ReconcileRequest,
  ResourceClient,
  getCondition,
  setCondition,
  statusObserved,
} from "../runtime/index.js";
import type { RenewalInfo } from "./ari.js";
import type { OutputRenderer } from "./outputs.js";

/** ACME Renewal Information for one certificate, through its issuer's ACME client. */
export interface RenewalInfoSource {
  /** The CA's window for `certPem`, or undefined when its directory lists no renewalInfo. */
  fetch(issuer: AnyIssuerObj, certPem: string, signal?: AbortSignal): Promise<RenewalInfo | undefined>;
  /** The RFC 9773 certificate identifier of `certPem` (for an Order's `replaces`). */
  certId(certPem: string): string;
}

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
  /** Reads keystore passwords (`passwordSecretRef`). */
  secretReader?: SecretReader;
  /** Writes additional output formats and keystores; without it a spec asking for them is refused. */
  outputs?: OutputRenderer;
  /** ARI; without it renewal follows renewalTime only. */
  renewalInfo?: RenewalInfoSource;
  /** Counts finished issuances by outcome (`dns01_certificate_issuances_total`). */
  recordIssuance?: IssuanceRecorder;
  now?: () => Date;
  random?: () => number;
}

/** The longest a reconcile waits before looking again: node timers overflow past ~24.8 days. */
export const MAX_REQUEUE_MS = 24 * 3_600_000;

/** A DNS-1123 name of at most `max` characters: a prefix, cut if needed, and a suffix. */
export function boundedName(prefix: string, suffix: string, max = 253): string {
  const room = max - suffix.length - 1;
  return `${prefix.length > room ? prefix.slice(0, room).replace(/[-.]+$/, "") : prefix}-${suffix}`;
}

/** Name of the Secret that holds the next private key until issuance completes. */
export function nextKeySecretName(cert: CertificateObj): string {
  return boundedName(cert.metadata.name ?? "", "next-key");
}

/** Reports a finished issuance to the metrics, if any: a renewal when an earlier revision was issued. */
export function reportIssuance(ctx: CertContext, outcome: "success" | "failure"): void {
  const cert = ctx.cert;
  ctx.deps.recordIssuance?.({
    outcome,
    renewal: (cert.status?.revision ?? 0) > 0,
    issuerName: cert.spec.issuerRef.name,
    issuerKind: cert.spec.issuerRef.kind ?? "Issuer",
  });
}

/** The state shared by the steps of one reconcile of one Certificate: clients, clock and status writes. */
export class CertContext {
  readonly now: Date;
  readonly certs: ResourceClient<CertificateObj>;
  readonly secretsApi: ResourceClient<SecretObj>;
  readonly ordersApi: ResourceClient<OrderObj>;

  constructor(
    readonly deps: CertificateControllerDeps,
    readonly req: ReconcileRequest,
    public cert: CertificateObj,
  ) {
    this.now = (deps.now ?? (() => new Date()))();
    this.certs = new ResourceClient(deps.client, Kinds.certificates);
    this.secretsApi = new ResourceClient(deps.client, Kinds.secrets);
    this.ordersApi = new ResourceClient(deps.client, Kinds.orders);
  }

  get ns(): string {
    return this.cert.metadata.namespace ?? "";
  }

  get name(): string {
    return this.cert.metadata.name ?? "";
  }

  get issuerId(): string {
    return `${this.cert.spec.issuerRef.kind ?? "Issuer"} ${this.cert.spec.issuerRef.name}`;
  }

  conditions(): Condition[] {
    return this.cert.status?.conditions ?? [];
  }

  generation(): { observedGeneration?: number } {
    const g = this.cert.metadata.generation;
    return g === undefined ? {} : { observedGeneration: g };
  }

  /** Conditions with `type` set (lastTransitionTime kept when the status is unchanged). */
  withCondition(
    conditions: Condition[],
    type: string,
    status: "True" | "False",
    reason: string,
    message: string,
  ): Condition[] {
    return setCondition(conditions, { type, status, reason, message, ...this.generation() }, this.now);
  }

  /** Sets a condition; returns true when it changed (so callers record an Event only once). */
  async setCondition(
    type: string,
    status: "True" | "False",
    reason: string,
    message: string,
  ): Promise<boolean> {
    const before = getCondition(this.conditions(), type);
    if (
      before?.status === status &&
      before.reason === reason &&
      before.message === message &&
      statusObserved(this.cert)
    )
      return false;
    await this.patchStatus({
      conditions: this.withCondition(this.conditions(), type, status, reason, message),
    });
    return true;
  }

  /** A Secret from the cache of our Secrets, or from the API server (it may not be ours yet). */
  async readSecret(name: string): Promise<SecretObj | undefined> {
    return (
      this.deps.secrets.get(`${this.ns}/${name}`) ??
      (await this.secretsApi.find(this.ns, name, this.req.signal))
    );
  }

  /** Merge-patches status (conditional on the object we read), keeping our copy current. */
  async patchStatus(status: Record<string, unknown>): Promise<void> {
    this.cert = await this.certs.patchStatus(this.cert, status, { signal: this.req.signal });
  }

  ownerRef(): {
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
      name: this.name,
      uid: this.cert.metadata.uid ?? "",
      controller: true,
      blockOwnerDeletion: true,
    };
  }

  /** Deletes the next-key Secret if it exists: a key exists in one place only, the Secret it was issued into. */
  async deleteNextKey(): Promise<void> {
    const name = nextKeySecretName(this.cert);
    const cached = this.deps.secrets.get(`${this.ns}/${name}`);
    if (!cached && !this.cert.status?.nextPrivateKeySecretName) return;
    await this.secretsApi.delete(this.ns, name, {
      ...(cached?.metadata?.uid ? { uid: cached.metadata.uid } : {}),
      signal: this.req.signal,
    });
    if (this.cert.status?.nextPrivateKeySecretName)
      await this.patchStatus({ nextPrivateKeySecretName: null });
  }
}
