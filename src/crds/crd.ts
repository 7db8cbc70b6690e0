import { certificateSpec, certificateStatus, CERTIFICATE_NAMES } from "./certificate.js";
import { challengeSpec, challengeStatus, CHALLENGE_NAMES } from "./challenge.js";
import { GROUP, VERSION, type KindNames } from "./common.js";
import { CLUSTER_ISSUER_NAMES, ISSUER_NAMES, issuerSpec, issuerStatus } from "./issuer.js";
import { orderSpec, orderStatus, ORDER_NAMES } from "./order.js";
import type { AnySchema, JsonSchema } from "./schema.js";

/** A column of `kubectl get`. */
export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description?: string;
  priority?: number;
}

/** Everything that makes one kind's CustomResourceDefinition. */
export interface KindDefinition {
  names: KindNames;
  scope: "Namespaced" | "Cluster";
  description: string;
  spec: AnySchema;
  status: AnySchema;
  printerColumns: PrinterColumn[];
}

const ready = (name = "Ready"): PrinterColumn => ({
  name,
  type: "string",
  jsonPath: '.status.conditions[?(@.type == "Ready")].status',
});
const readyMessage: PrinterColumn = {
  name: "Status",
  type: "string",
  jsonPath: '.status.conditions[?(@.type == "Ready")].message',
  priority: 1,
};
const age: PrinterColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

const issuerDescription = (scope: string) =>
  `An ACME account, ${scope}, and the DNS-01 solvers that prove control of names for it.`;

/** The kinds of the API, in the order their CRDs are written. */
export const KINDS: readonly KindDefinition[] = [
  {
    names: CERTIFICATE_NAMES,
    scope: "Namespaced",
    description:
      "A Certificate keeps an up-to-date certificate and key, issued by ACME DNS-01, in the Secret named by spec.secretName.",
    spec: certificateSpec,
    status: certificateStatus,
    printerColumns: [
      ready(),
      { name: "Secret", type: "string", jsonPath: ".spec.secretName" },
      { name: "Issuer", type: "string", jsonPath: ".spec.issuerRef.name" },
      // A string, not a date: kubectl prints future dates as "<invalid>".
      { name: "Expires", type: "string", jsonPath: ".status.notAfter" },
      readyMessage,
      age,
    ],
  },
  {
    names: ISSUER_NAMES,
    scope: "Namespaced",
    description: issuerDescription("usable by Certificates in its namespace"),
    spec: issuerSpec,
    status: issuerStatus,
    printerColumns: [ready(), readyMessage, age],
  },
  {
    names: CLUSTER_ISSUER_NAMES,
    scope: "Cluster",
    description: issuerDescription("usable by Certificates in every namespace"),
    spec: issuerSpec,
    status: issuerStatus,
    printerColumns: [ready(), readyMessage, age],
  },
  {
    names: ORDER_NAMES,
    scope: "Namespaced",
    description:
      "One ACME order for one revision of a Certificate, which owns it. Written by the operator only.",
    spec: orderSpec,
    status: orderStatus,
    printerColumns: [
      { name: "State", type: "string", jsonPath: ".status.state" },
      { name: "Reason", type: "string", jsonPath: ".status.reason", priority: 1 },
      age,
    ],
  },
  {
    names: CHALLENGE_NAMES,
    scope: "Namespaced",
    description: "One DNS-01 challenge of an Order, which owns it. Written by the operator only.",
    spec: challengeSpec,
    status: challengeStatus,
    printerColumns: [
      { name: "State", type: "string", jsonPath: ".status.state" },
      { name: "Domain", type: "string", jsonPath: ".spec.dnsName" },
      { name: "Wildcard", type: "boolean", jsonPath: ".spec.wildcard", priority: 1 },
      { name: "Reason", type: "string", jsonPath: ".status.reason", priority: 1 },
      age,
    ],
  },
];

/** The root schema of a kind: the usual envelope around its spec and status. */
export function rootSchema(def: KindDefinition): JsonSchema {
  return {
    description: def.description,
    type: "object",
    required: ["spec"],
    properties: {
      apiVersion: { type: "string", description: "APIVersion of the object: dns01.io/v1alpha1." },
      kind: { type: "string", description: `Kind of the object: ${def.names.kind}.` },
      metadata: { type: "object" },
      spec: def.spec.toJsonSchema(),
      status: statusSchema(def.status.toJsonSchema()),
    },
  };
}

/**
 * A kind's status schema with `observedGeneration`, which every status write records (see
 * ResourceClient.patchStatus). It defaults to 0, and so does `status` itself, so an object the
 * operator has never written reads as "generation 1 not yet observed": kstatus and Argo CD then
 * call it InProgress instead of assuming a status-less object is current.
 */
function statusSchema(status: JsonSchema): JsonSchema {
  return {
    ...status,
    default: { observedGeneration: 0 },
    properties: {
      ...status.properties,
      observedGeneration: {
        type: "integer",
        format: "int64",
        minimum: 0,
        default: 0,
        description: "The metadata.generation whose spec this status was computed from.",
      },
    },
  };
}

/** The CustomResourceDefinition of one kind, as a plain object ready for YAML. */
export function customResourceDefinition(def: KindDefinition): Record<string, unknown> {
  const { names } = def;
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${names.plural}.${GROUP}`,
      labels: { "app.kubernetes.io/name": "dns01-operator" },
    },
    spec: {
      group: GROUP,
      names: {
        kind: names.kind,
        listKind: names.listKind,
        plural: names.plural,
        singular: names.singular,
        shortNames: names.shortNames,
        categories: names.categories,
      },
      scope: def.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns,
          schema: { openAPIV3Schema: rootSchema(def) },
        },
      ],
    },
  };
}
