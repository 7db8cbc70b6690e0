/**
 * Status conditions with metav1.Condition semantics. Pure functions: the caller passes `now`, and
 * gets a new array back (the input is never modified, so cached objects can be passed as they are).
 */

/** The status of a condition. */
export type ConditionStatus = "True" | "False" | "Unknown";

/** A metav1.Condition as it appears in an object's status. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  /** CamelCase, machine-readable. */
  reason: string;
  message: string;
  observedGeneration?: number;
  /** RFC 3339 (seconds precision, as the API server writes it). */
  lastTransitionTime: string;
}

/** What a caller sets: everything but the transition time, which setCondition manages. */
export type ConditionInput = Omit<Condition, "lastTransitionTime">;

const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/** Formats a time as metav1.Time does: RFC 3339 with whole seconds. */
export function formatTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Sets one condition. `lastTransitionTime` becomes `now` when the condition is new or its status
 * changes, and is kept otherwise, even when reason, message or observedGeneration change. The order
 * of the other conditions is kept; a new condition is appended.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  now: Date,
): Condition[] {
  if (!REASON.test(input.reason)) {
    throw new Error(`condition ${input.type}: reason "${input.reason}" is not CamelCase (metav1.Condition)`);
  }
  const list = conditions ?? [];
  const existing = list.find((c) => c.type === input.type);
  const lastTransitionTime =
    existing?.status === input.status ? existing.lastTransitionTime : formatTime(now);
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message,
    ...(input.observedGeneration !== undefined ? { observedGeneration: input.observedGeneration } : {}),
    lastTransitionTime,
  };
  if (existing === undefined) return [...list.map((c) => ({ ...c })), next];
  return list.map((c) => (c.type === input.type ? next : { ...c }));
}

/** Removes one condition; returns a new array. */
export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type).map((c) => ({ ...c }));
}

/** The condition of a type, if present. */
export function getCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * True when the condition is present with status True. With `generation`, it must also have been
 * observed for that generation (a stale True from an older spec does not count).
 */
export function isTrue(
  conditions: readonly Condition[] | undefined,
  type: string,
  generation?: number,
): boolean {
  const c = getCondition(conditions, type);
  if (c?.status !== "True") return false;
  return generation === undefined || c.observedGeneration === generation;
}

/** True when the condition is present with status False. */
export function isFalse(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === "False";
}

/** True when both lists hold the same conditions (order ignored): a status write can be skipped. */
export function conditionsEqual(
  a: readonly Condition[] | undefined,
  b: readonly Condition[] | undefined,
): boolean {
  const x = a ?? [];
  const y = b ?? [];
  if (x.length !== y.length) return false;
  return x.every((c) => {
    const d = getCondition(y, c.type);
    return (
      d?.status === c.status &&
      d.reason === c.reason &&
      d.message === c.message &&
      d.observedGeneration === c.observedGeneration &&
      d.lastTransitionTime === c.lastTransitionTime
    );
  });
}

/**
 * True when an object's status was last written for its current generation
 * (`status.observedGeneration`, set by every ResourceClient.patchStatus). A controller that skips
 * a status write because nothing it computes has changed must still write when this is false, or
 * GitOps tools keep seeing the new spec as not yet observed.
 */
export function statusObserved(obj: {
  metadata?: { generation?: number | undefined } | undefined;
  status?: unknown;
}): boolean {
  const generation = obj.metadata?.generation;
  if (generation === undefined) return true;
  const status = obj.status as { observedGeneration?: unknown } | undefined;
  return status?.observedGeneration === generation;
}
