import { type Condition, setCondition } from "./runtime/index.js";

/** The CamelCase condition reason for each ACME state of an Order or Challenge. */
const REASONS: Readonly<Record<string, string>> = {
  pending: "Pending",
  ready: "Finalizing",
  processing: "Processing",
  valid: "Valid",
  invalid: "Invalid",
  errored: "Errored",
  expired: "Expired",
  deactivated: "Deactivated",
  revoked: "Revoked",
};

/**
 * The `Ready` condition of an Order or Challenge, derived from its ACME state: True once valid,
 * False otherwise with the state as the reason and `status.reason` (or the state) as the message.
 * Orders and Challenges keep cert-manager's `state` field; the condition is what GitOps tools read
 * (kstatus calls an object without conditions Current, whatever its state).
 */
export function stateReadyConditions(
  kind: "Order" | "Challenge",
  existing: readonly Condition[] | undefined,
  state: string | undefined,
  reason: string | undefined,
  generation: number | undefined,
  now: Date,
): Condition[] {
  const valid = state === "valid";
  const message = valid
    ? `The ${kind} is valid`
    : (reason ?? `The ${kind} is ${state ?? "pending"}`).slice(0, 32768);
  return setCondition(
    existing ?? [],
    {
      type: "Ready",
      status: valid ? "True" : "False",
      reason: REASONS[state ?? "pending"] ?? "Pending",
      message,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
    },
    now,
  );
}
