import { TemporaryError, TerminalError } from "../../errors.js";
import { describeError } from "../../kube/api-errors.js";
import type { KubeClient } from "../../kube/client.js";
import { PatchType } from "../../kube/client.js";
import type { AcmeChallenge } from "../../acme/index.js";
import type { SecretReader } from "../../solvers/credentials.js";
import type { EventRecorder } from "../../kube/events.js";
import type { Dns01Dispatcher } from "../../solvers/dispatcher.js";
import { createSolver, providerName } from "../../solvers/registry.js";
import { stateReadyConditions } from "../state-ready.js";
import type { Dns01Solver, TxtRecord } from "../../solvers/types.js";
import type { AcmeAccounts } from "../issuers/accounts.js";
import {
  CERTIFICATE_LABEL,
  CHALLENGE_FINALIZER,
  Kinds,
  type CertificateObj,
  type ChallengeObj,
  type OrderObj,
} from "../kinds.js";
import {
  type ControllerDefinition,
  type Informer,
  type ReconcileRequest,
  type ReconcileResult,
  ResourceClient,
  objectKey,
  watch,
} from "../runtime/index.js";

/** A TXT value written or removed, for the audit trail and metrics. No credential, ever. */
export interface RecordChange {
  readonly action: "present" | "cleanup";
  /** The provider field of the solver: `rfc2136`, `cloudflare`, ... */
  readonly provider: string;
  readonly fqdn: string;
  readonly zone: string;
  /** The acting issuer: `Issuer ns/name` or `ClusterIssuer name`. */
  readonly issuer: string;
  readonly namespace: string;
  readonly challenge: string;
  readonly certificate: string | undefined;
}

/** What the Challenge controller needs of the issuers' accounts (AcmeAccounts). */
export type ChallengeAccounts = Pick<AcmeAccounts, "resolve" | "secretNamespaceOf"> & {
  clientFor(
    issuer: Parameters<AcmeAccounts["clientFor"]>[0],
    signal?: AbortSignal,
  ): Promise<Pick<Awaited<ReturnType<AcmeAccounts["clientFor"]>>, "acceptChallenge" | "getChallenge">>;
};

/** What the Challenge controller needs. */
export interface ChallengeControllerDeps {
  client: KubeClient;
  accounts: ChallengeAccounts;
  dispatcher: Pick<Dns01Dispatcher, "resolveRecord" | "checkPropagation"> &
    Partial<Pick<Dns01Dispatcher, "instrument">>;
  secrets: SecretReader;
  events: EventRecorder;
  challenges: Informer<ChallengeObj>;
  orders: Informer<OrderObj>;
  /** For the audit Events on the Certificate a Challenge works for. */
  certificates: Informer<CertificateObj>;
  /** Called after every TXT value presented or removed (a hook for metrics); must not throw. */
  onRecordChange?: (change: RecordChange) => void;
  /** Builds the provider of a solver block; tests pass fakes. Default: the registry's createSolver. */
  createSolver?: typeof createSolver;
}

/** Index of Challenges by the key of the Order that owns them (the Challenge controller's own). */
const CHALLENGES_BY_OWNER = "challenges-by-owner-order";
/** First wait between propagation checks; grows to PROPAGATION_MAX_MS. */
const PROPAGATION_FIRST_MS = 200;
const PROPAGATION_MAX_MS = 10_000;
/** How soon to ask the CA again about a challenge it is validating. */
const VALIDATION_POLL_MS = 250;
/** A recheck in case a watch event is slow to come; events normally bring the next run sooner. */
const SAFETY_NET_MS = 2000;

/**
 * The Challenge controller: picks the provider from the Challenge's solver, presents the TXT
 * value, waits (by requeueing, never sleeping) until the servers that matter answer it, asks the
 * CA to validate, polls for the result, and removes its value on success, on failure and on
 * deletion (a finalizer). The record it writes is noted in status before it is written, so a crash
 * at any point leaves a Challenge that knows what to clean up.
 */
export function challengeController(deps: ChallengeControllerDeps): ControllerDefinition {
  deps.challenges.addIndex(CHALLENGES_BY_OWNER, (c) =>
    (c.metadata.ownerReferences ?? [])
      .filter((r) => r.kind === "Order" && r.controller === true)
      .map((r) => `${c.metadata.namespace ?? ""}/${r.name}`),
  );
  return {
    name: "challenges",
    concurrency: 10,
    watches: [
      watch(deps.challenges),
      // Without a garbage collector nothing else tells a Challenge that its Order went.
      watch(deps.orders, {
        filter: (ev) => ev.type === "delete",
        map: (order) =>
          deps.challenges.byIndex(CHALLENGES_BY_OWNER, objectKey(order)).map((c) => objectKey(c)),
      }),
    ],
    reconcile: (req) => new ChallengeReconcile(deps, req).run(),
  };
}

/** A terminal answer of the CA about this challenge (as opposed to trouble on the DNS side). */
class CaRefusal extends Error {
  override readonly name = "CaRefusal";
}

/** Runs a CA call, marking its terminal errors as the CA's refusal. */
async function ca<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof TerminalError) throw new CaRefusal(err.message, { cause: err });
    throw err;
  }
}

class ChallengeReconcile {
  private readonly api: ResourceClient<ChallengeObj>;
  private ch!: ChallengeObj;

  constructor(
    private readonly deps: ChallengeControllerDeps,
    private readonly req: ReconcileRequest,
  ) {
    this.api = new ResourceClient(deps.client, Kinds.challenges);
  }

  async run(): Promise<ReconcileResult> {
    const ch = this.deps.challenges.get(this.req.key);
    if (!ch) return;
    this.ch = ch;
    const ns = ch.metadata.namespace ?? "";
    const finalizers = ch.metadata.finalizers ?? [];

    if (ch.metadata.deletionTimestamp) {
      if (!finalizers.includes(CHALLENGE_FINALIZER)) return;
      await this.cleanUp();
      await this.removeFinalizer();
      return;
    }

    // The owning Order is gone (no garbage collector, or a race with one): go with it.
    const owner = ch.metadata.ownerReferences?.find((r) => r.kind === "Order" && r.controller === true);
    if (owner && this.deps.orders.hasSynced() && !this.deps.orders.get(`${ns}/${owner.name}`)) {
      await this.api.delete(ns, ch.metadata.name ?? "", {
        uid: ch.metadata.uid ?? "",
        signal: this.req.signal,
      });
      return;
    }

    if (!finalizers.includes(CHALLENGE_FINALIZER)) {
      // Before any TXT value exists, so that deleting the Challenge always cleans it up.
      await this.api.patch(
        ns,
        ch.metadata.name ?? "",
        [
          { op: "test", path: "/metadata/resourceVersion", value: ch.metadata.resourceVersion },
          finalizers.length === 0
            ? { op: "add", path: "/metadata/finalizers", value: [CHALLENGE_FINALIZER] }
            : { op: "add", path: "/metadata/finalizers/-", value: CHALLENGE_FINALIZER },
        ],
        { type: PatchType.json, signal: this.req.signal },
      );
      return;
    }

    const state = ch.status?.state;
    if (state === "valid" || state === "invalid" || state === "errored" || state === "expired") {
      if (ch.status?.presented) {
        await this.cleanUp();
        await this.patchStatus({ presented: false, processing: false });
      }
      return;
    }

    try {
      if (!ch.status?.presentedRecord || ch.status.state === undefined) return await this.present();
      if (state === "processing") return await this.poll();
      return await this.checkAndAccept();
    } catch (err) {
      const reason = describeError(err);
      if (err instanceof CaRefusal) {
        // The CA refused: the Challenge fails, its value is removed, and the Order (then the
        // Certificate) reports why. Retrying would repeat the same answer.
        await this.cleanUp();
        await this.patchStatus({ state: "errored", processing: false, presented: false, reason });
        this.req.log.warn("challenge failed", { reason });
        return;
      }
      // DNS-side trouble (a missing Secret, rejected credentials, an unknown zone) is shown in
      // status and retried with the queue's growing backoff: the user can fix it without us
      // recreating anything, and a permanent error costs one call per backoff step, not a storm.
      await this.noteReason(reason);
      if (err instanceof TerminalError) throw new TemporaryError(reason, undefined, { cause: err });
      throw err;
    }
  }

  /** Notes the record in status, then writes it: the order that keeps a crash from orphaning it. */
  private async present(): Promise<ReconcileResult> {
    const spec = this.ch.spec;
    // Build the provider first: a missing Secret must fail before we note a record as presented.
    const solver = await this.solver();
    const record =
      this.ch.status?.presentedRecord ??
      (await this.deps.dispatcher.resolveRecord(
        spec.dnsName,
        spec.solver.dns01?.cnameStrategy,
        this.req.signal,
      ));
    // Write-ahead: `presented` means "may exist, cleanup is due" and is set before the write;
    // `state` becomes pending only once present() returned, so a present() that failed part-way
    // (throttled, 5xx, still PENDING at the provider) is called again on the next run.
    if (!this.ch.status?.presentedRecord || this.ch.status.presented !== true) {
      await this.patchStatus({
        presentedRecord: { fqdn: record.fqdn, zone: record.zone },
        presented: true,
        processing: true,
        reason: `Presenting TXT record ${record.fqdn}`,
      });
    }
    await solver.present(this.txt(record), { signal: this.req.signal, log: this.req.log });
    this.audit("present", record);
    await this.patchStatus({
      state: "pending",
      reason: `Presented TXT record ${record.fqdn}; waiting for DNS propagation`,
    });
    // Our own status write brings the next run through the watch; reading before it arrives would
    // only meet a stale cache and a 409. The delay is a safety net, not the trigger.
    return { requeueAfter: SAFETY_NET_MS };
  }

  /** Checks propagation; once the value is visible, asks the CA to validate. */
  private async checkAndAccept(): Promise<ReconcileResult> {
    const record = this.ch.status?.presentedRecord;
    if (!record) return { requeueAfter: 0 };
    const check = await this.deps.dispatcher.checkPropagation(
      { ...record, provider: this.providerLabel() },
      this.ch.spec.key,
      this.req.signal,
    );
    if (!check.propagated) {
      await this.noteReason(`Waiting for DNS propagation of ${record.fqdn}: ${check.detail}`);
      const elapsed = Date.now() - Date.parse(this.ch.metadata.creationTimestamp ?? new Date().toISOString());
      return { requeueAfter: Math.min(PROPAGATION_MAX_MS, Math.max(PROPAGATION_FIRST_MS, elapsed / 10)) };
    }
    const client = await this.client();
    const answer = await ca(() => client.acceptChallenge(this.ch.spec.url));
    this.req.log.info("asked the CA to validate", { state: answer.status });
    return this.settle(answer);
  }

  /** Asks the CA how validation went. */
  private async poll(): Promise<ReconcileResult> {
    const client = await this.client();
    return this.settle(await ca(() => client.getChallenge(this.ch.spec.url)));
  }

  /** Records what the CA said; a final answer also removes the TXT value, in the same run. */
  private async settle(answer: AcmeChallenge): Promise<ReconcileResult> {
    if (answer.status === "valid" || answer.status === "invalid") {
      await this.cleanUp();
      const reason =
        answer.status === "invalid"
          ? `${this.ch.spec.wildcard === true ? "*." : ""}${this.ch.spec.dnsName}: ${answer.error?.detail ?? answer.error?.type ?? "validation failed"}`
          : "";
      await this.patchStatus({ state: answer.status, processing: false, presented: false, reason });
      this.req.log.info("challenge finished", { state: answer.status });
      return;
    }
    // "pending" after our accept means the CA has not started yet: we keep polling as processing.
    if (this.ch.status?.state !== "processing") {
      await this.patchStatus({ state: "processing", reason: "Waiting for the CA to validate the challenge" });
    }
    return { requeueAfter: Math.min(answer.retryAfterMs ?? VALIDATION_POLL_MS, 10_000) };
  }

  /** Removes our value (and only ours) if it may exist. Idempotent. */
  private async cleanUp(): Promise<void> {
    const record = this.ch.status?.presentedRecord;
    if (!record || this.ch.status?.presented === false) return;
    const solver = await this.solver();
    await solver.cleanUp(this.txt(record), { signal: this.req.signal, log: this.req.log });
    this.audit("cleanup", record);
  }

  /**
   * The audit trail of DNS changes: a Normal Event on the Challenge and on its Certificate, a log
   * line with the same fields, and the metrics hook. Names only: fqdn, zone, provider, issuer.
   */
  private audit(action: RecordChange["action"], record: { fqdn: string; zone: string }): void {
    const ch = this.ch;
    const ns = ch.metadata.namespace ?? "";
    const ref = ch.spec.issuerRef;
    const issuer = ref.kind === "ClusterIssuer" ? `ClusterIssuer ${ref.name}` : `Issuer ${ns}/${ref.name}`;
    const provider = this.providerLabel();
    const label = ch.metadata.labels?.[CERTIFICATE_LABEL];
    const certName = label === "" ? undefined : label;
    const change: RecordChange = {
      action,
      provider,
      fqdn: record.fqdn,
      zone: record.zone,
      issuer,
      namespace: ns,
      challenge: ch.metadata.name ?? "",
      certificate: certName,
    };
    const [reason, verb] =
      action === "present" ? ["PresentedRecord", "Presented"] : ["CleanedUpRecord", "Removed"];
    const message = `${verb} TXT record ${record.fqdn} in zone ${record.zone} with provider ${provider} for ${issuer}`;
    this.req.log.info(action === "present" ? "presented TXT record" : "removed TXT record", {
      audit: reason,
      fqdn: record.fqdn,
      zone: record.zone,
      provider,
      issuer,
      challenge: change.challenge,
      ...(certName !== undefined ? { certificate: certName } : {}),
    });
    void this.deps.events.record(ch, "Normal", reason, message);
    const cert = certName !== undefined ? this.deps.certificates.get(`${ns}/${certName}`) : undefined;
    if (cert)
      void this.deps.events.record(cert, "Normal", reason, `Challenge ${change.challenge}: ${message}`);
    try {
      this.deps.onRecordChange?.(change);
    } catch (err) {
      this.req.log.warn("onRecordChange hook threw; ignored", { error: describeError(err) });
    }
  }

  private async removeFinalizer(): Promise<void> {
    const finalizers = this.ch.metadata.finalizers ?? [];
    const index = finalizers.indexOf(CHALLENGE_FINALIZER);
    if (index < 0) return;
    await this.api.patch(
      this.ch.metadata.namespace,
      this.ch.metadata.name ?? "",
      [
        { op: "test", path: `/metadata/finalizers/${index}`, value: CHALLENGE_FINALIZER },
        { op: "remove", path: `/metadata/finalizers/${index}` },
      ],
      { type: PatchType.json, signal: this.req.signal },
    );
  }

  private txt(record: { fqdn: string; zone: string }): TxtRecord {
    return { fqdn: record.fqdn, zone: record.zone, value: this.ch.spec.key, domain: this.ch.spec.dnsName };
  }

  private async solver(): Promise<Dns01Solver> {
    const dns01 = this.ch.spec.solver.dns01;
    if (!dns01) throw new TerminalError("the challenge's solver has no dns01 block", "InvalidSolver");
    // The Challenge carries its own copy of the solver, and the issuer's kind says where its
    // Secrets live: cleanup works even after the issuer was deleted, so no finalizer waits on it.
    const clusterScoped = this.ch.spec.issuerRef.kind === "ClusterIssuer";
    const solver = await (this.deps.createSolver ?? createSolver)(dns01, {
      clusterScoped,
      secretNamespace: this.deps.accounts.secretNamespaceOf(this.ch.metadata.namespace ?? "", clusterScoped),
      secrets: this.deps.secrets,
      signal: this.req.signal,
    });
    // Counted per present/cleanUp by provider and outcome (dns01_dns_provider_requests_total).
    return this.deps.dispatcher.instrument?.(providerName(dns01), solver) ?? solver;
  }

  /** The provider of this Challenge's solver, for metric labels; "unknown" for a malformed block. */
  private providerLabel(): string {
    const dns01 = this.ch.spec.solver.dns01;
    try {
      return dns01 ? providerName(dns01) : "unknown";
    } catch {
      return "unknown";
    }
  }

  private async client() {
    const issuer = this.deps.accounts.resolve(this.ch.metadata.namespace ?? "", this.ch.spec.issuerRef);
    if (!issuer) throw new TemporaryError(`issuer ${this.ch.spec.issuerRef.name} not found`, 5000);
    return this.deps.accounts.clientFor(issuer, this.req.signal);
  }

  private async noteReason(reason: string): Promise<void> {
    if (this.ch.status?.reason === reason) return;
    await this.patchStatus({ reason });
  }

  /** Writes status, keeping the Ready condition in step with the state and reason being written. */
  private async patchStatus(status: Record<string, unknown>): Promise<void> {
    const cur = this.ch.status;
    const state = "state" in status ? (status["state"] as string | undefined) : cur?.state;
    const reason = "reason" in status ? (status["reason"] as string | undefined) : cur?.reason;
    const conditions = stateReadyConditions(
      "Challenge",
      cur?.conditions,
      state,
      reason,
      this.ch.metadata.generation,
      new Date(),
    );
    this.ch = await this.api.patchStatus(this.ch, { ...status, conditions }, { signal: this.req.signal });
  }
}
