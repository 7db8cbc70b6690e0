/**
 * The post-issuance chain (after cert-manager's post-issuance policies): is the Secret's metadata
 * and are its extra outputs what the spec asks for? Everything here is fixed in place, without a
 * reissue: labels and annotations (secretTemplate additions and removals), the request hash of a
 * Secret from before it existed, the output formats and keystores, and the stale output keys a
 * Secret taken over from cert-manager may carry.
 */
import type { SecretObj } from "../kinds.js";
import { Annotations } from "./trigger.js";

/** Annotation on the Secret: which secretTemplate keys we set, so a removal from the template removes them. */
export const TEMPLATE_KEYS_ANNOTATION = "dns01.io/secret-template-keys";

/** The Secret metadata the spec asks for. */
export interface DesiredMetadata {
  /** Our labels plus the template's. */
  readonly labels: Readonly<Record<string, string>>;
  /** Our annotations plus the template's (the request hash included). */
  readonly annotations: Readonly<Record<string, string>>;
  /** The keys that come from secretTemplate (remembered on the Secret). */
  readonly templateKeys: TemplateKeys;
}

/** The label and annotation keys set from a secretTemplate. */
export interface TemplateKeys {
  readonly labels: readonly string[];
  readonly annotations: readonly string[];
}

/** The input of the post-issuance policies. */
export interface PostIssuanceInput {
  readonly secret: SecretObj;
  readonly desired: DesiredMetadata;
  /** Whether the output formats and keystores in the data are current (see outputsCurrent). */
  readonly outputsCurrent: boolean;
  /** Every data key that output formats and keystores may write (cert-manager's names). */
  readonly managedOutputKeys: readonly string[];
  /** The output keys the spec asks for now. */
  readonly wantedOutputKeys: readonly string[];
}

/** What to fix, as a reason and a sentence for the log and the Event. */
export interface PostIssuanceFix {
  readonly reason: string;
  readonly message: string;
}

/** One post-issuance policy. */
export type PostIssuancePolicy = (input: PostIssuanceInput) => PostIssuanceFix | null;

/** The template keys we recorded on the Secret (none for a Secret written before we recorded them). */
export function recordedTemplateKeys(secret: SecretObj): TemplateKeys {
  const raw = secret.metadata?.annotations?.[TEMPLATE_KEYS_ANNOTATION];
  if (!raw) return { labels: [], annotations: [] };
  try {
    const v = JSON.parse(raw) as { labels?: unknown; annotations?: unknown };
    const strings = (x: unknown) =>
      Array.isArray(x) ? x.filter((s): s is string => typeof s === "string") : [];
    return { labels: strings(v.labels), annotations: strings(v.annotations) };
  } catch {
    return { labels: [], annotations: [] };
  }
}

const templateKeysValue = (k: TemplateKeys): string =>
  JSON.stringify({ labels: [...k.labels].sort(), annotations: [...k.annotations].sort() });

/** The annotations we want, with the record of template keys. */
function wantedAnnotations(desired: DesiredMetadata): Record<string, string> {
  return { ...desired.annotations, [TEMPLATE_KEYS_ANNOTATION]: templateKeysValue(desired.templateKeys) };
}

/** Keys we set from an earlier template that the template no longer has. */
function removedKeys(secret: SecretObj, desired: DesiredMetadata): TemplateKeys {
  const before = recordedTemplateKeys(secret);
  const labels = secret.metadata?.labels ?? {};
  const annotations = secret.metadata?.annotations ?? {};
  return {
    labels: before.labels.filter((k) => !(k in desired.labels) && k in labels),
    annotations: before.annotations.filter((k) => !(k in desired.annotations) && k in annotations),
  };
}

export const requestHashMissing: PostIssuancePolicy = ({ secret, desired }) =>
  secret.metadata?.annotations?.[Annotations.requestHash] === undefined &&
  desired.annotations[Annotations.requestHash] !== undefined
    ? { reason: "RequestHashMissing", message: "The Secret does not record the request it was issued for" }
    : null;

export const metadataOutdated: PostIssuancePolicy = ({ secret, desired }) => {
  const l = secret.metadata?.labels ?? {};
  const a = secret.metadata?.annotations ?? {};
  const labels = Object.entries(desired.labels)
    .filter(([k, v]) => l[k] !== v)
    .map(([k]) => k);
  const annotations = Object.entries(wantedAnnotations(desired))
    .filter(([k, v]) => a[k] !== v && k !== Annotations.requestHash)
    .map(([k]) => k);
  const keys = [...labels, ...annotations];
  return keys.length > 0
    ? {
        reason: "SecretMetadataOutdated",
        message: `The Secret's labels or annotations are not current: ${keys.join(", ")}`,
      }
    : null;
};

export const templateKeysRemoved: PostIssuancePolicy = ({ secret, desired }) => {
  const gone = removedKeys(secret, desired);
  const keys = [...gone.labels, ...gone.annotations];
  return keys.length > 0
    ? {
        reason: "SecretTemplateRemoved",
        message: `The Secret still has keys removed from secretTemplate: ${keys.join(", ")}`,
      }
    : null;
};

export const staleOutputKeys: PostIssuancePolicy = ({ secret, managedOutputKeys, wantedOutputKeys }) => {
  const stale = managedOutputKeys.filter(
    (k) => secret.data?.[k] !== undefined && !wantedOutputKeys.includes(k),
  );
  return stale.length > 0
    ? {
        reason: "StaleOutputs",
        message: `The Secret holds outputs the spec does not ask for (from an earlier spec or cert-manager): ${stale.join(", ")}`,
      }
    : null;
};

export const outputsOutdated: PostIssuancePolicy = ({ outputsCurrent }) =>
  outputsCurrent
    ? null
    : {
        reason: "OutputsOutdated",
        message:
          "The Secret's additional output formats or keystores are missing or do not match its certificate",
      };

/** The post-issuance policies, in order. */
export const postIssuancePolicies: readonly PostIssuancePolicy[] = [
  requestHashMissing,
  metadataOutdated,
  templateKeysRemoved,
  staleOutputKeys,
  outputsOutdated,
];

/** Every fix the Secret needs (all are applied in one write). */
export function postIssuanceFixes(
  input: PostIssuanceInput,
  policies: readonly PostIssuancePolicy[] = postIssuancePolicies,
): PostIssuanceFix[] {
  return policies.map((p) => p(input)).filter((f): f is PostIssuanceFix => f !== null);
}

/**
 * The Secret with the desired metadata and outputs: our labels and annotations and the template's
 * set, template keys we set earlier and the template dropped removed, stale output keys removed,
 * and `outputs` (base64 data, may be empty) written. Other keys, labels and annotations are kept.
 */
export function updatedSecret(
  secret: SecretObj,
  desired: DesiredMetadata,
  outputs: { managedOutputKeys: readonly string[]; data?: Readonly<Record<string, string>> | undefined },
): SecretObj {
  const gone = removedKeys(secret, desired);
  const without = (obj: Readonly<Record<string, string>>, drop: readonly string[]) =>
    Object.fromEntries(Object.entries(obj).filter(([k]) => !drop.includes(k)));
  const labels = { ...without(secret.metadata?.labels ?? {}, gone.labels), ...desired.labels };
  const annotations = {
    ...without(secret.metadata?.annotations ?? {}, gone.annotations),
    ...wantedAnnotations(desired),
  };
  const next: SecretObj = structuredClone(secret);
  next.metadata = { ...next.metadata, labels, annotations };
  if (outputs.data !== undefined) {
    next.data = { ...without(next.data ?? {}, outputs.managedOutputKeys), ...outputs.data };
  }
  return next;
}
