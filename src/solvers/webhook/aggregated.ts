/**
 * cert-manager's webhook solvers, unchanged: the solver is an extension apiserver behind an
 * APIService, reached through the Kubernetes aggregation layer with
 * `POST /apis/<groupName>/v1alpha1/<solverName>` and a `ChallengePayload`
 * (`webhook.acme.cert-manager.io/v1alpha1`). Its answer's `response.success` says whether the
 * record was written; `response.status.message` why not. Every failure is temporary (as in
 * cert-manager: a solver that is down, or not registered yet, may come back), with a message that
 * says which it was.
 */
import { randomUUID } from "node:crypto";
import { apiStatus, apiStatusCode } from "../../kube/api-errors.js";
import { isAbortError, type KubeClient } from "../../kube/client.js";
import { TemporaryError } from "../../errors.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../types.js";

/** The API version of cert-manager's webhook payloads. */
export const CHALLENGE_PAYLOAD_API_VERSION = "webhook.acme.cert-manager.io/v1alpha1";

/** cert-manager's ChallengeRequest, field for field. */
export interface ChallengeRequest {
  readonly uid: string;
  readonly action: "Present" | "CleanUp";
  readonly type: "dns-01";
  /** The name being validated, without `*.` (cert-manager's `dnsName`). */
  readonly dnsName: string;
  /** The TXT value. */
  readonly key: string;
  readonly resourceNamespace: string;
  /** The record name after any CNAME followed, with a trailing dot. */
  readonly resolvedFQDN: string;
  /** The zone that holds it, with a trailing dot. */
  readonly resolvedZone: string;
  readonly allowAmbientCredentials: boolean;
  readonly config?: unknown;
}

/** cert-manager's ChallengePayload: a request going out, a response coming back. */
export interface ChallengePayload {
  readonly apiVersion: typeof CHALLENGE_PAYLOAD_API_VERSION;
  readonly kind: "ChallengePayload";
  readonly request?: ChallengeRequest;
  readonly response?: {
    readonly uid?: string;
    readonly success?: boolean;
    readonly status?: { readonly message?: string; readonly reason?: string; readonly code?: number };
  };
}

/** What the aggregated solver needs. */
export interface AggregatedWebhookConfig {
  readonly kube: KubeClient;
  readonly groupName: string;
  readonly solverName: string;
  readonly config?: unknown;
  readonly resourceNamespace: string;
  /** True for a ClusterIssuer, as cert-manager sets it. */
  readonly allowAmbientCredentials: boolean;
  readonly timeoutMs?: number | undefined;
}

/** Retry delay after the solver or its APIService is not there. */
const UNAVAILABLE_RETRY_MS = 15_000;

class AggregatedWebhookSolver implements Dns01Solver {
  private readonly path: string;

  constructor(private readonly cfg: AggregatedWebhookConfig) {
    this.path = `/apis/${encodeURIComponent(cfg.groupName)}/v1alpha1/${encodeURIComponent(cfg.solverName)}`;
  }

  present(record: TxtRecord, ctx: SolverContext): Promise<void> {
    return this.call("Present", record, ctx);
  }

  cleanUp(record: TxtRecord, ctx: SolverContext): Promise<void> {
    return this.call("CleanUp", record, ctx);
  }

  private get name(): string {
    return `${this.cfg.solverName}.${this.cfg.groupName}`;
  }

  private async call(action: "Present" | "CleanUp", record: TxtRecord, ctx: SolverContext): Promise<void> {
    const uid = randomUUID();
    const payload: ChallengePayload = {
      apiVersion: CHALLENGE_PAYLOAD_API_VERSION,
      kind: "ChallengePayload",
      request: {
        uid,
        action,
        type: "dns-01",
        dnsName: record.domain ?? dnsNameOf(record.fqdn),
        key: record.value,
        resourceNamespace: this.cfg.resourceNamespace,
        resolvedFQDN: record.fqdn,
        resolvedZone: record.zone,
        allowAmbientCredentials: this.cfg.allowAmbientCredentials,
        ...(this.cfg.config === undefined ? {} : { config: this.cfg.config }),
      },
    };
    let answer: ChallengePayload | undefined;
    try {
      answer = await this.cfg.kube.request<ChallengePayload | undefined>("POST", this.path, {
        body: payload,
        signal: ctx.signal,
        ...(this.cfg.timeoutMs === undefined ? {} : { timeoutMs: this.cfg.timeoutMs }),
      });
    } catch (err) {
      if (ctx.signal.aborted || isAbortError(err)) throw err;
      throw this.translate(action, err);
    }
    const res = answer?.response;
    if (res?.success === true) {
      ctx.log.info("webhook: the aggregated solver answered success", {
        solver: this.name,
        action,
        fqdn: record.fqdn,
      });
      return;
    }
    const message = res?.status?.message ?? "no message";
    throw new TemporaryError(
      res === undefined
        ? `webhook: ${action} by ${this.name}: the solver answered without a response`
        : `webhook: ${action} by ${this.name} failed: ${message}`,
    );
  }

  private translate(action: string, err: unknown): Error {
    const code = apiStatusCode(err);
    const status = apiStatus(err);
    const detail = status?.message ?? (err instanceof Error ? err.message : String(err));
    const what = `webhook: ${action} by ${this.name} through the apiserver (POST ${this.path})`;
    if (code === 404) {
      return new TemporaryError(
        `${what}: not found: no APIService serves ${this.cfg.groupName}/v1alpha1 with a resource ` +
          `${this.cfg.solverName} (is the webhook installed, and are groupName and solverName right?)`,
        UNAVAILABLE_RETRY_MS,
        { cause: err },
      );
    }
    if (code === 503) {
      return new TemporaryError(
        `${what}: the APIService v1alpha1.${this.cfg.groupName} is not available (its solver is down or unreachable): ${detail}`,
        UNAVAILABLE_RETRY_MS,
        { cause: err },
      );
    }
    if (code === 403) {
      return new TemporaryError(
        `${what}: forbidden: grant the operator's ServiceAccount "create" on ${this.cfg.solverName}.${this.cfg.groupName} ` +
          `(as cert-manager's chart does for its webhooks): ${detail}`,
        UNAVAILABLE_RETRY_MS,
        { cause: err },
      );
    }
    return new TemporaryError(
      `${what}: ${code === undefined ? "" : `HTTP ${String(code)}: `}${detail}`,
      undefined,
      {
        cause: err,
      },
    );
  }
}

/** `_acme-challenge.www.example.com.` → `www.example.com`: the name when the record carries no domain. */
function dnsNameOf(fqdn: string): string {
  const name = fqdn.endsWith(".") ? fqdn.slice(0, -1) : fqdn;
  return name.startsWith("_acme-challenge.") ? name.slice("_acme-challenge.".length) : name;
}

/** Builds a solver that calls a cert-manager webhook solver through the aggregation layer. */
export function createAggregatedWebhookSolver(cfg: AggregatedWebhookConfig): Dns01Solver {
  return new AggregatedWebhookSolver(cfg);
}
