/**
 * `dns01ctl convert`: cert-manager manifests (`cert-manager.io/v1` Certificate, Issuer,
 * ClusterIssuer) turned into ours (`dns01.io/v1alpha1`). The field names are the same, so most of
 * the work is refusing, by name, what cannot work here (HTTP-01 solvers, the akamai provider,
 * CA-only fields, non-ACME and external issuers), and dropping, with a note, any field that our
 * schema (the one the CRDs are generated from) does not have, so that the output passes the API
 * server's strict field validation. Pure: text in, documents and messages out.
 */
import { parseAllDocuments } from "yaml";
import { CERT_MANAGER_GROUP, DNS01_PROVIDERS, GROUP, API_VERSION } from "../crds/index.js";
import { KINDS } from "../crds/crd.js";
import type { JsonSchema } from "../crds/schema.js";

/** A plain JSON object. */
type Json = Record<string, unknown>;

/** A document that cannot be ported, and why. */
export interface Refusal {
  /** `Kind namespace/name` or `Kind name`. */
  readonly object: string;
  readonly source: string;
  readonly reasons: readonly string[];
}

/** The outcome of converting some input. */
export interface ConvertResult {
  /** The documents to apply, in input order. */
  readonly documents: readonly Json[];
  readonly refused: readonly Refusal[];
  /** Things done that a user should know about (fields dropped, documents passed through). */
  readonly notes: readonly string[];
}

/** One input: its name for messages (a file name or "stdin") and its text. */
export interface ConvertInput {
  readonly source: string;
  readonly text: string;
}

const CERT_MANAGER_V1 = `${CERT_MANAGER_GROUP}/v1`;
const PORTED_KINDS = new Set(["Certificate", "Issuer", "ClusterIssuer"]);
/** Issuer types of cert-manager besides acme. */
const NON_ACME_ISSUERS = ["ca", "selfSigned", "vault", "venafi"];
/** Metadata that the API server writes; a `kubectl get -o yaml` dump carries it and apply refuses some. */
const SERVER_METADATA = [
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "managedFields",
  "selfLink",
  "ownerReferences",
  "finalizers",
];
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

const specSchemas = new Map<string, JsonSchema>(KINDS.map((k) => [k.names.kind, k.spec.toJsonSchema()]));

function describeObject(doc: Json): string {
  const meta = isObject(doc["metadata"]) ? doc["metadata"] : {};
  const name = typeof meta["name"] === "string" ? meta["name"] : "<no name>";
  const ns = typeof meta["namespace"] === "string" ? `${meta["namespace"]}/` : "";
  const kind = typeof doc["kind"] === "string" ? doc["kind"] : "<no kind>";
  return doc["kind"] === "ClusterIssuer" ? `${kind} ${name}` : `${kind} ${ns}${name}`;
}

/** The key of an issuer for matching Certificates to issuers in the same input. */
function issuerKey(kind: string, namespace: string | undefined, name: string): string {
  return kind === "ClusterIssuer" ? `ClusterIssuer/${name}` : `Issuer/${namespace ?? ""}/${name}`;
}

/**
 * Removes from `value` every field that `schema` does not define (recursing through objects, maps
 * and arrays), noting each one as `path`. Fields under x-kubernetes-preserve-unknown-fields stay.
 */
export function pruneUnknown(value: unknown, schema: JsonSchema, path: string, dropped: string[]): unknown {
  if (schema["x-kubernetes-preserve-unknown-fields"] === true) return value;
  if (Array.isArray(value)) {
    const items = schema.items;
    return items === undefined
      ? value
      : value.map((v, i) => pruneUnknown(v, items, `${path}[${i}]`, dropped));
  }
  if (!isObject(value)) return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    const props = schema.properties;
    const sub = props !== undefined ? props[k] : schema.additionalProperties;
    if (sub === undefined) {
      dropped.push(`${path}.${k}`);
      continue;
    }
    out[k] = pruneUnknown(v, sub, `${path}.${k}`, dropped);
  }
  return out;
}

function cleanMetadata(meta: unknown, clusterScoped: boolean): Json {
  const drop = new Set([...SERVER_METADATA, ...(clusterScoped ? ["namespace"] : [])]);
  const out: Json = Object.fromEntries(
    Object.entries(isObject(meta) ? meta : {}).filter(([k]) => !drop.has(k)),
  );
  if (isObject(out["annotations"])) {
    const annotations = Object.fromEntries(
      Object.entries(out["annotations"]).filter(([k]) => k !== LAST_APPLIED),
    );
    if (Object.keys(annotations).length === 0) delete out["annotations"];
    else out["annotations"] = annotations;
  }
  return out;
}

/** Why an Issuer or ClusterIssuer spec cannot be ported (empty when it can). */
function issuerRefusals(spec: Json): string[] {
  const reasons: string[] = [];
  for (const type of NON_ACME_ISSUERS) {
    if (spec[type] !== undefined) {
      reasons.push(
        `it is a ${type} issuer: dns01-operator issues only from ACME CAs (spec.acme) with DNS-01 challenges`,
      );
    }
  }
  const acme = spec["acme"];
  if (!isObject(acme)) {
    if (reasons.length === 0) reasons.push("it has no spec.acme: dns01-operator issues only from ACME CAs");
    return reasons;
  }
  const solvers = Array.isArray(acme["solvers"]) ? (acme["solvers"] as unknown[]) : [];
  solvers.forEach((solver, i) => {
    if (!isObject(solver)) return;
    if (solver["http01"] !== undefined) {
      reasons.push(
        `spec.acme.solvers[${i}] is an HTTP-01 solver: dns01-operator solves DNS-01 only; replace it with a dns01 solver`,
      );
    }
    const dns01 = solver["dns01"];
    if (isObject(dns01) && dns01["akamai"] !== undefined) {
      reasons.push(
        `spec.acme.solvers[${i}] uses the akamai DNS provider, which dns01-operator does not have; supported: ${DNS01_PROVIDERS.join(", ")}`,
      );
    }
    if (solver["http01"] === undefined && dns01 === undefined) {
      reasons.push(`spec.acme.solvers[${i}] has no dns01 block`);
    }
  });
  return reasons;
}

/** Why a Certificate spec cannot be ported (empty when it can); rewrites issuerRef.group to ours. */
function certificateRefusals(spec: Json): string[] {
  const reasons: string[] = [];
  if (spec["isCA"] === true) {
    reasons.push("spec.isCA is true: an ACME CA issues leaf certificates only");
  }
  const ref = isObject(spec["issuerRef"]) ? spec["issuerRef"] : undefined;
  if (ref === undefined) {
    reasons.push("it has no spec.issuerRef");
    return reasons;
  }
  const group = typeof ref["group"] === "string" ? ref["group"] : "";
  const kind = typeof ref["kind"] === "string" ? ref["kind"] : "Issuer";
  if (group !== "" && group !== CERT_MANAGER_GROUP && group !== GROUP) {
    reasons.push(
      `spec.issuerRef names an external issuer (${kind}.${group} ${String(ref["name"])}): only ACME Issuers and ClusterIssuers can be ported`,
    );
  } else if (kind !== "Issuer" && kind !== "ClusterIssuer") {
    reasons.push(`spec.issuerRef.kind ${kind} is neither Issuer nor ClusterIssuer`);
  }
  return reasons;
}

/** Every document of the inputs, with `kind: List` unwrapped, each with its source. */
function documentsOf(inputs: readonly ConvertInput[]): { source: string; doc: unknown }[] {
  const out: { source: string; doc: unknown }[] = [];
  const push = (source: string, doc: unknown): void => {
    if (isObject(doc) && doc["kind"] === "List" && Array.isArray(doc["items"])) {
      for (const item of doc["items"]) push(source, item);
    } else if (doc !== null && doc !== undefined) {
      out.push({ source, doc });
    }
  };
  for (const input of inputs) {
    for (const d of parseAllDocuments(input.text)) {
      if (d.errors.length > 0) {
        const first = d.errors[0];
        throw new Error(`${input.source}: not valid YAML: ${first?.message ?? "parse error"}`);
      }
      push(input.source, d.toJS());
    }
  }
  return out;
}

/**
 * Converts cert-manager manifests. Documents of other APIs pass through unchanged (a bundle may
 * hold the Secrets its issuers name); our own kinds pass through too. A Certificate whose issuer is
 * refused in the same input is refused with it. Throws an Error for input that is not YAML.
 */
export function convertManifests(inputs: readonly ConvertInput[]): ConvertResult {
  const docs = documentsOf(inputs);
  const refused: Refusal[] = [];
  const notes: string[] = [];
  const converted: { doc: Json; source: string; index: number }[] = [];
  const refusedIssuers = new Set<string>();
  const documents: (Json | undefined)[] = [];

  for (const [index, { source, doc }] of docs.entries()) {
    if (!isObject(doc)) {
      refused.push({ object: `document ${index + 1}`, source, reasons: ["it is not a Kubernetes object"] });
      documents.push(undefined);
      continue;
    }
    const apiVersion = typeof doc["apiVersion"] === "string" ? doc["apiVersion"] : "";
    const kind = typeof doc["kind"] === "string" ? doc["kind"] : "";
    const object = describeObject(doc);
    const [group] = apiVersion.includes("/") ? apiVersion.split("/") : [""];
    if (group === CERT_MANAGER_GROUP || group === `acme.${CERT_MANAGER_GROUP}`) {
      const reasons: string[] = [];
      if (!PORTED_KINDS.has(kind) || group !== CERT_MANAGER_GROUP) {
        reasons.push(
          `${apiVersion} ${kind} is written by cert-manager itself; dns01-operator makes its own Orders and Challenges`,
        );
      } else if (apiVersion !== CERT_MANAGER_V1) {
        reasons.push(
          `${apiVersion} is an old cert-manager API: convert it to ${CERT_MANAGER_V1} first (cmctl convert)`,
        );
      }
      if (reasons.length > 0) {
        refused.push({ object, source, reasons });
        documents.push(undefined);
        continue;
      }
      const clusterScoped = kind === "ClusterIssuer";
      const spec = isObject(doc["spec"]) ? doc["spec"] : {};
      const why = kind === "Certificate" ? certificateRefusals(spec) : issuerRefusals(spec);
      const meta = cleanMetadata(doc["metadata"], clusterScoped);
      if (why.length > 0) {
        refused.push({ object, source, reasons: why });
        if (kind !== "Certificate") {
          refusedIssuers.add(issuerKey(kind, meta["namespace"] as string | undefined, String(meta["name"])));
        }
        documents.push(undefined);
        continue;
      }
      const dropped: string[] = [];
      const schema = specSchemas.get(kind);
      const newSpec = (schema ? pruneUnknown(spec, schema, "spec", dropped) : spec) as Json;
      if (kind === "Certificate" && isObject(newSpec["issuerRef"])) {
        const ref = { ...newSpec["issuerRef"] };
        if (ref["group"] === CERT_MANAGER_GROUP) ref["group"] = GROUP;
        newSpec["issuerRef"] = ref;
      }
      for (const d of dropped) {
        notes.push(`${object}: dropped ${d}: dns01.io/v1alpha1 ${kind} has no such field`);
      }
      const out: Json = { apiVersion: API_VERSION, kind, metadata: meta, spec: newSpec };
      converted.push({ doc: out, source, index });
      documents.push(out);
      continue;
    }
    if (apiVersion === API_VERSION) notes.push(`${object}: already ${API_VERSION}, passed through`);
    else
      notes.push(`${object}: not a cert-manager object (${apiVersion || "no apiVersion"}), passed through`);
    documents.push(doc);
  }

  // Certificates whose issuer, in this same input, could not be ported would never be issued.
  for (const { doc, source, index } of converted) {
    if (doc["kind"] !== "Certificate") continue;
    const spec = doc["spec"] as Json;
    const ref = spec["issuerRef"] as Json;
    const meta = doc["metadata"] as Json;
    const kind = typeof ref["kind"] === "string" ? ref["kind"] : "Issuer";
    const key = issuerKey(kind, meta["namespace"] as string | undefined, String(ref["name"]));
    if (refusedIssuers.has(key)) {
      refused.push({
        object: describeObject(doc),
        source,
        reasons: [`its issuer ${kind} ${String(ref["name"])} was refused (see above)`],
      });
      documents[index] = undefined;
    }
  }
  return { documents: documents.filter((d): d is Json => d !== undefined), refused, notes };
}
