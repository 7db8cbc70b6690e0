import { s, type Infer } from "./schema.js";

/** The API group of every kind here. */
export const GROUP = "dns01.io";
/** The one served (and stored) version. */
export const VERSION = "v1alpha1";
/** `apiVersion` of every object of this API. */
export const API_VERSION = `${GROUP}/${VERSION}` as const;
/** cert-manager's group: accepted in `issuerRef.group` so that ported manifests need no edit. */
export const CERT_MANAGER_GROUP = "cert-manager.io";

/** A DNS-1123 label, at most 63 characters. */
const LABEL = "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?";
/** A DNS-1123 subdomain (Kubernetes object and Secret names). */
export const DNS1123_SUBDOMAIN = `^${LABEL}(\\.${LABEL})*$`;
/**
 * A DNS name as an ACME identifier: lowercase labels, no trailing dot, and `*` only as the whole
 * leftmost label (`*.example.com`).
 */
export const DNS_NAME = `^(\\*\\.)?${LABEL}(\\.${LABEL})*$`;
/** A DNS zone in a solver selector: like a DNS name without the wildcard. */
export const DNS_ZONE = `^${LABEL}(\\.${LABEL})*$`;
/**
 * A Go `time.ParseDuration` string, e.g. `2160h`, `1h30m`, `90m`. Written without backslashes so
 * that it can be quoted inside a CEL rule as it is.
 */
export const GO_DURATION = "^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$";

/** A Kubernetes object name (DNS-1123 subdomain). */
export const objectName = () => s.string({ minLength: 1, maxLength: 253, pattern: DNS1123_SUBDOMAIN });

/**
 * A DNS name that may start with `*.`. The CEL rule repeats the wildcard constraint in words, so the
 * error says why rather than only quoting the pattern.
 */
export const dnsName = (maxLength = 253) =>
  s
    .string({ minLength: 1, maxLength, pattern: DNS_NAME })
    .rule(
      "!self.contains('*') || (self.startsWith('*.') && self.lastIndexOf('*') == 0)",
      "a wildcard is allowed only as the whole leftmost label, as in *.example.com",
    );

/**
 * A Go-style duration with a lower bound. The `matches` guard keeps a malformed value from also
 * failing inside `duration()`: the pattern error alone names the problem.
 */
export const goDuration = (min: string, minText: string) =>
  s
    .string({ minLength: 2, maxLength: 32, pattern: GO_DURATION })
    .rule(
      `!self.matches('${GO_DURATION}') || duration(self) >= duration('${min}')`,
      `must be at least ${minText}`,
    );

/** A reference to one key of a Secret, as cert-manager's `SecretKeySelector`. */
export const secretKeySelector = () =>
  s.object({
    name: objectName().describe(
      "Name of the Secret. For a ClusterIssuer, the Secret is in the cluster resource namespace.",
    ),
    key: s
      .string({ minLength: 1, maxLength: 253, pattern: "^[-._a-zA-Z0-9]+$" })
      .describe("Key of the entry in the Secret's data. Some fields default it, others require it.")
      .optional(),
  });
/** A reference to one key of a Secret. */
export type SecretKeySelector = Infer<ReturnType<typeof secretKeySelector>>;

/**
 * The reference from a Certificate (or Order, Challenge) to its issuer. `group` accepts
 * cert-manager's group so that a ported Certificate keeps working; both mean this API's issuers.
 */
export const issuerRef = () =>
  s
    .object({
      name: objectName().describe("Name of the Issuer or ClusterIssuer."),
      kind: s
        .enum(["Issuer", "ClusterIssuer"])
        .describe("Kind of the issuer: Issuer (the default, same namespace) or ClusterIssuer.")
        .optional(),
      group: s
        .enum(["", GROUP, CERT_MANAGER_GROUP])
        .describe(
          `Group of the issuer: ${GROUP} (the default). ${CERT_MANAGER_GROUP} is accepted as an alias so that ` +
            "cert-manager manifests port unchanged; it still refers to this API's Issuer or ClusterIssuer.",
        )
        .optional(),
    })
    .describe("The Issuer or ClusterIssuer that signs the certificate.");
/** A reference to an Issuer or ClusterIssuer. */
export type IssuerRef = Infer<ReturnType<typeof issuerRef>>;

/** One status condition, in the shape of metav1.Condition (cert-manager's conditions are the same). */
export const condition = () =>
  s.object({
    type: s
      .string({ minLength: 1, maxLength: 316 })
      .describe("Type of the condition, e.g. Ready or Issuing."),
    status: s.enum(["True", "False", "Unknown"]).describe("Status of the condition: True, False or Unknown."),
    reason: s
      .string({ minLength: 1, maxLength: 1024, pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$" })
      .describe("A CamelCase reason for the last transition, for machines."),
    message: s.string({ maxLength: 32768 }).describe("A human readable message about the last transition."),
    lastTransitionTime: s.string({ format: "date-time" }).describe("When the status last changed."),
    observedGeneration: s
      .integer({ format: "int64", minimum: 0 })
      .describe("The metadata.generation that the condition was set from.")
      .optional(),
  });
/** A status condition (metav1.Condition shape). */
export type Condition = Infer<ReturnType<typeof condition>>;

/** The status conditions list, a map keyed by `type`. */
export const conditions = () =>
  s.array(condition(), { listType: "map", mapKeys: ["type"], maxItems: 16 }).describe("Status conditions.");

/** The names of each kind, as the CRD declares them. */
export interface KindNames {
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories: string[];
}
