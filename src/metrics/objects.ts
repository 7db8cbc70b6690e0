/**
 * What the per-object metrics read from Certificates, Challenges and Issuers, and the labels they
 * make. The shapes are the few fields read, so that a cache of the full kinds fits them and tests
 * can build small objects; everything is read defensively, since a status may be half-written.
 */
import { DNS01_PROVIDERS } from "../crds/index.js";

/** A condition as it appears in a status. */
export interface ConditionLike {
  readonly type?: string;
  readonly status?: string;
}

/** The fields of a Certificate the metrics read. */
export interface CertificateLike {
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly spec?: {
    readonly issuerRef?: { readonly name?: string; readonly kind?: string; readonly group?: string };
  };
  readonly status?: {
    readonly conditions?: readonly ConditionLike[];
    readonly notAfter?: string;
    readonly notBefore?: string;
    readonly renewalTime?: string;
    readonly failedIssuanceAttempts?: number;
  };
}

/** The fields of a Challenge the metrics read. */
export interface ChallengeLike {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly creationTimestamp?: string;
  };
  readonly spec?: {
    readonly dnsName?: string;
    readonly type?: string;
    readonly solver?: { readonly dns01?: object };
  };
  readonly status?: {
    readonly state?: string;
    readonly processing?: boolean;
    readonly presented?: boolean;
    readonly reason?: string;
  };
}

/** The fields of an Issuer or ClusterIssuer the metrics read. */
export interface IssuerLike {
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly status?: { readonly conditions?: readonly ConditionLike[] };
}

/** The values of a condition status, each with its own series (1 for the current one), as cert-manager. */
export const CONDITION_STATUSES = ["True", "False", "Unknown"] as const;

/**
 * The challenge states with a series each, as cert-manager's challenge collector: "" (not yet
 * known) and the ACME states.
 */
export const CHALLENGE_STATES = [
  "",
  "errored",
  "expired",
  "invalid",
  "pending",
  "processing",
  "ready",
  "valid",
] as const;

/** Longest `reason` label value: our reasons list servers and can be long; a label should not be. */
export const MAX_REASON_LABEL = 256;

/** The Ready condition's status, "Unknown" when there is none yet (as cert-manager). */
export function readyStatus(
  conditions: readonly ConditionLike[] | undefined,
): (typeof CONDITION_STATUSES)[number] {
  const s = conditions?.find((c) => c.type === "Ready")?.status;
  return s === "True" || s === "False" ? s : "Unknown";
}

/** An RFC 3339 time as Unix seconds, or undefined when absent or unreadable. */
export function timestampSeconds(t: unknown): number | undefined {
  if (typeof t !== "string" || t === "") return undefined;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

/** cert-manager's labels of every per-Certificate series. */
export function certificateLabels(
  crt: CertificateLike,
): Record<"name" | "namespace" | "issuer_name" | "issuer_kind" | "issuer_group", string> {
  const ref = crt.spec?.issuerRef;
  return {
    name: crt.metadata?.name ?? "",
    namespace: crt.metadata?.namespace ?? "",
    issuer_name: ref?.name ?? "",
    issuer_kind: ref?.kind ?? "",
    issuer_group: ref?.group ?? "",
  };
}

/**
 * The CA's suggested renewal window (ARI, RFC 9773) from `status.ari.suggestedWindow`, in Unix
 * seconds; each edge is undefined when missing or unreadable. Read without a schema type because
 * the field is newer than some objects in a cache.
 */
export function suggestedWindow(crt: CertificateLike): { start?: number; end?: number } | undefined {
  const status: unknown = crt.status;
  if (typeof status !== "object" || status === null) return undefined;
  const ari: unknown = (status as Record<string, unknown>)["ari"];
  if (typeof ari !== "object" || ari === null) return undefined;
  const w: unknown = (ari as Record<string, unknown>)["suggestedWindow"];
  if (typeof w !== "object" || w === null) return undefined;
  const start = timestampSeconds((w as Record<string, unknown>)["start"]);
  const end = timestampSeconds((w as Record<string, unknown>)["end"]);
  return { ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}) };
}

/** The provider a Challenge's solver names (its one provider block), or "unknown". */
export function challengeProvider(ch: ChallengeLike): string {
  const dns01 = ch.spec?.solver?.dns01;
  if (dns01 === undefined) return "unknown";
  const keys = Object.keys(dns01);
  return DNS01_PROVIDERS.find((p) => keys.includes(p)) ?? "unknown";
}

/** cert-manager's labels of `certmanager_certificate_challenge_status` for one state. */
export function challengeStatusLabels(
  ch: ChallengeLike,
  status: string,
): Record<"status" | "domain" | "reason" | "processing" | "name" | "namespace" | "type", string> {
  const reason = ch.status?.reason ?? "";
  return {
    status,
    domain: ch.spec?.dnsName ?? "",
    reason: reason.length > MAX_REASON_LABEL ? `${reason.slice(0, MAX_REASON_LABEL - 1)}…` : reason,
    processing: ch.status?.processing === true ? "true" : "false",
    name: ch.metadata?.name ?? "",
    namespace: ch.metadata?.namespace ?? "",
    type: ch.spec?.type ?? "",
  };
}
