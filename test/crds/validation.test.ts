/**
 * Acceptance test of the dns01.io API against the rig's real kube-apiserver: the CRDs install, the
 * apiserver accepts every example manifest (with strict field validation, so that no field is
 * silently pruned) and rejects malformed ones with an error that names the offending field.
 * Everything is a server-side dry run except one Order, created and deleted to test status and
 * spec immutability.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import * as k8s from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { API_VERSION, GROUP, VERSION } from "../../src/crds/index.js";
import { KINDS, type KindDefinition } from "../../src/crds/crd.js";
import { renderCrds } from "../../src/crds/generate.js";
import { repoRoot, rigVar } from "../support/rig.js";

/** Every namespaced object goes here: it always exists, and dry runs leave nothing behind. */
const NAMESPACE = "default";

/** Dummy values for the placeholders that hack/demo.sh fills with envsubst. */
const PLACEHOLDERS: Record<string, string> = {
  ACME_DIRECTORY_URL: "https://127.0.0.1:14000/dir",
  ACME_CA_BUNDLE_B64: Buffer.from("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").toString(
    "base64",
  ),
  DNS_SERVER: "127.0.0.1:5353",
  TSIG_KEY_NAME: "rig-key.",
  TSIG_ALGORITHM: "HMACSHA256",
};

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

// client-node's typed API, on client-node's own KubeConfig (ours only feeds the operator's raw client).
const kc = new k8s.KubeConfig();
kc.loadFromFile(rigVar("KUBECONFIG"));
const custom = kc.makeApiClient(k8s.CustomObjectsApi);

function definition(kind: string): KindDefinition {
  const def = KINDS.find((k) => k.names.kind === kind);
  if (!def) throw new Error(`not a ${GROUP} kind: ${kind}`);
  return def;
}

/** Creates the object as a server-side dry run with strict field validation. */
async function dryRunCreate(obj: Manifest): Promise<void> {
  const def = definition(obj.kind);
  const common = {
    group: GROUP,
    version: VERSION,
    plural: def.names.plural,
    dryRun: "All",
    fieldValidation: "Strict",
  };
  if (def.scope === "Cluster") {
    await custom.createClusterCustomObject({ ...common, body: obj });
  } else {
    const body = { ...obj, metadata: { ...obj.metadata, namespace: NAMESPACE } };
    await custom.createNamespacedCustomObject({ ...common, namespace: NAMESPACE, body });
  }
}

/** The apiserver's message for a failed request; rethrows anything that is not an API error. */
function apiMessage(err: unknown): string {
  if (!(err instanceof k8s.ApiException)) throw err;
  const body: unknown = err.body;
  const parsed: unknown = typeof body === "string" ? JSON.parse(body) : body;
  const message = (parsed as { message?: unknown } | undefined)?.message;
  return typeof message === "string" ? message : JSON.stringify(parsed);
}

/** The error message of a request that must fail; fails the test when the apiserver accepts it. */
async function rejection(request: () => Promise<unknown>): Promise<string> {
  try {
    await request();
  } catch (err) {
    return apiMessage(err);
  }
  throw new Error("the apiserver accepted it");
}

function listYaml(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".yaml"))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Parses an example file, with its placeholders filled. */
function loadExample(path: string): Manifest[] {
  const text = readFileSync(path, "utf8").replace(/\$\{([A-Z0-9_]+)\}/g, (whole, name: string) => {
    const value = PLACEHOLDERS[name];
    if (value === undefined) throw new Error(`${path}: unknown placeholder ${whole}`);
    return value;
  });
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join("; ")}`);
    return doc.toJS() as Manifest;
  });
}

const clone = <T>(value: T): T => structuredClone(value);

/** JSON with object keys sorted, to compare what the apiserver returns with what we declare. */
function canonical(value: unknown): string {
  const sortKeys = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sortKeys)
      : v !== null && typeof v === "object"
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(sortKeys(value));
}

const certificate = (): Manifest => ({
  apiVersion: API_VERSION,
  kind: "Certificate",
  metadata: { name: "validation-test" },
  spec: {
    secretName: "validation-test-tls",
    issuerRef: { name: "pebble", kind: "ClusterIssuer" },
    dnsNames: ["example.test", "*.example.test"],
    privateKey: { algorithm: "ECDSA", size: 256 },
    duration: "2160h",
  },
});

const solverOf = (dns01: Record<string, unknown>) => ({ dns01 });
const rfc2136 = () => ({
  nameserver: "127.0.0.1:53",
  tsigKeyName: "rig-key.",
  tsigAlgorithm: "HMACSHA256",
  tsigSecretSecretRef: { name: "rig-tsig", key: "tsig-secret" },
});

const issuer = (kind = "Issuer", solvers: unknown[] = [solverOf({ rfc2136: rfc2136() })]): Manifest => ({
  apiVersion: API_VERSION,
  kind,
  metadata: { name: "validation-test" },
  spec: {
    acme: {
      server: "https://127.0.0.1:14000/dir",
      privateKeySecretRef: { name: "validation-test-account" },
      solvers,
    },
  },
});

const order = (): Manifest => ({
  apiVersion: API_VERSION,
  kind: "Order",
  metadata: { name: "validation-test" },
  spec: {
    request: Buffer.from(
      "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
    ).toString("base64"),
    issuerRef: { name: "pebble", kind: "ClusterIssuer", group: GROUP },
    dnsNames: ["example.test", "*.example.test"],
  },
});

const challenge = (): Manifest => ({
  apiVersion: API_VERSION,
  kind: "Challenge",
  metadata: { name: "validation-test" },
  spec: {
    url: "https://127.0.0.1:14000/chalZ/abc",
    authorizationURL: "https://127.0.0.1:14000/authZ/abc",
    dnsName: "example.test",
    wildcard: true,
    type: "DNS-01",
    token: "tok",
    key: "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0",
    solver: solverOf({ rfc2136: rfc2136() }),
    issuerRef: { name: "pebble", kind: "ClusterIssuer" },
  },
});

type Spec = Record<string, unknown>;
/** A copy of `base` with `edit` applied to its spec. */
function withSpec(base: () => Manifest, edit: (spec: Spec) => void): Manifest {
  const m = clone(base());
  edit(m.spec as Spec);
  return m;
}
const certWith = (edit: (spec: Spec) => void) => withSpec(certificate, edit);
const acmeOf = (spec: Spec) => spec["acme"] as Spec;
const issuerWith = (edit: (acme: Spec) => void, kind = "Issuer") =>
  withSpec(
    () => issuer(kind),
    (spec) => {
      edit(acmeOf(spec));
    },
  );
const dns01With = (provider: Record<string, unknown>) => issuer("Issuer", [solverOf(provider)]);

interface BadCase {
  name: string;
  manifest: Manifest;
  /** The field path the apiserver must name. */
  field: string;
  /** A fragment of the explanation, when the field alone does not say what is wrong. */
  says?: string;
}

const BAD: BadCase[] = [
  {
    name: "a wildcard that is not the whole leftmost label",
    manifest: certWith((s) => (s["dnsNames"] = ["foo.*.example.test"])),
    field: "spec.dnsNames[0]",
    says: "a wildcard is allowed only as the whole leftmost label",
  },
  {
    name: "a wildcard inside the leftmost label",
    manifest: certWith((s) => (s["dnsNames"] = ["example.test", "w*.example.test"])),
    field: "spec.dnsNames[1]",
    says: "whole leftmost label",
  },
  {
    name: "neither commonName nor dnsNames",
    manifest: certWith((s) => delete s["dnsNames"]),
    field: "spec.dnsNames",
    says: "commonName or dnsNames",
  },
  {
    name: "both renewBefore and renewBeforePercentage",
    manifest: certWith((s) => Object.assign(s, { renewBefore: "360h", renewBeforePercentage: 20 })),
    field: "spec.renewBeforePercentage",
    says: "mutually exclusive",
  },
  {
    name: "a renewBeforePercentage of 0",
    manifest: certWith((s) => (s["renewBeforePercentage"] = 0)),
    field: "spec.renewBeforePercentage",
  },
  {
    name: "a renewBeforePercentage of 100",
    manifest: certWith((s) => (s["renewBeforePercentage"] = 100)),
    field: "spec.renewBeforePercentage",
  },
  {
    name: "an RSA key of 1024 bits",
    manifest: certWith((s) => (s["privateKey"] = { algorithm: "RSA", size: 1024 })),
    field: "spec.privateKey.size",
  },
  {
    name: "an ECDSA key with an RSA size",
    manifest: certWith((s) => (s["privateKey"] = { algorithm: "ECDSA", size: 2048 })),
    field: "spec.privateKey.size",
  },
  {
    name: "an ECDSA size with the default (RSA) algorithm",
    manifest: certWith((s) => (s["privateKey"] = { size: 384 })),
    field: "spec.privateKey.size",
  },
  {
    name: "an unknown key algorithm",
    manifest: certWith((s) => (s["privateKey"] = { algorithm: "DSA" })),
    field: "spec.privateKey.algorithm",
  },
  {
    name: "a duration in days, which Go does not parse",
    manifest: certWith((s) => (s["duration"] = "90d")),
    field: "spec.duration",
  },
  {
    name: "a duration under one hour",
    manifest: certWith((s) => (s["duration"] = "30m")),
    field: "spec.duration",
    says: "at least 1h",
  },
  {
    name: "a renewBefore as long as the duration",
    manifest: certWith((s) => Object.assign(s, { duration: "24h", renewBefore: "1440m" })),
    field: "spec.renewBefore",
    says: "shorter than duration",
  },
  {
    name: "a secretName that is not a DNS-1123 subdomain",
    manifest: certWith((s) => (s["secretName"] = "My_Secret")),
    field: "spec.secretName",
  },
  {
    name: "no issuerRef",
    manifest: certWith((s) => delete s["issuerRef"]),
    field: "spec.issuerRef",
  },
  {
    name: "an issuerRef to a kind that is not an issuer",
    manifest: certWith((s) => (s["issuerRef"] = { name: "x", kind: "AWSPCAIssuer" })),
    field: "spec.issuerRef.kind",
  },
  {
    name: "an issuerRef to an external issuer group",
    manifest: certWith((s) => (s["issuerRef"] = { name: "x", group: "awspca.cert-manager.io" })),
    field: "spec.issuerRef.group",
  },
  {
    name: "isCA true",
    manifest: certWith((s) => (s["isCA"] = true)),
    field: "spec.isCA",
  },
  {
    name: "a commonName longer than 64 characters",
    manifest: certWith((s) => (s["commonName"] = `${"a".repeat(60)}.example.test`)),
    field: "spec.commonName",
  },
  {
    name: "literalSubject together with commonName",
    manifest: certWith((s) =>
      Object.assign(s, { commonName: "example.test", literalSubject: "CN=example.test" }),
    ),
    field: "spec.literalSubject",
  },
  {
    name: "an unknown usage",
    manifest: certWith((s) => (s["usages"] = ["server auth", "server"])),
    field: "spec.usages[1]",
  },
  {
    name: "an IP address SAN that is not an IP address",
    manifest: certWith((s) => (s["ipAddresses"] = ["10.0.0.300"])),
    field: "spec.ipAddresses[0]",
  },
  {
    name: "a revisionHistoryLimit of 0",
    manifest: certWith((s) => (s["revisionHistoryLimit"] = 0)),
    field: "spec.revisionHistoryLimit",
  },
  {
    name: "a field this API does not have (it would otherwise be pruned in silence)",
    manifest: certWith((s) => (s["acme"] = { config: [] })),
    field: "spec.acme",
    says: "unknown field",
  },
  {
    name: "an Issuer without spec.acme",
    manifest: withSpec(issuer, (s) => {
      delete s["acme"];
    }),
    field: "spec.acme",
  },
  {
    name: "an ACME issuer without a server",
    manifest: issuerWith((a) => delete a["server"]),
    field: "spec.acme.server",
  },
  {
    name: "an ACME server that is not an HTTP(S) URL",
    manifest: issuerWith((a) => (a["server"] = "acme-v02.api.letsencrypt.org/directory")),
    field: "spec.acme.server",
  },
  {
    name: "an ACME issuer without privateKeySecretRef",
    manifest: issuerWith((a) => delete a["privateKeySecretRef"], "ClusterIssuer"),
    field: "spec.acme.privateKeySecretRef",
  },
  {
    name: "both caBundle and skipTLSVerify",
    manifest: issuerWith((a) =>
      Object.assign(a, { caBundle: PLACEHOLDERS["ACME_CA_BUNDLE_B64"], skipTLSVerify: true }),
    ),
    field: "spec.acme.skipTLSVerify",
  },
  {
    name: "an http01 solver",
    manifest: issuer("ClusterIssuer", [{ http01: { ingress: { ingressClassName: "nginx" } } }]),
    field: "spec.acme.solvers[0].http01",
    says: "only DNS-01 is supported",
  },
  {
    name: "two providers in one dns01 block",
    manifest: dns01With({ rfc2136: rfc2136(), cloudflare: { apiTokenSecretRef: { name: "cf" } } }),
    field: "spec.acme.solvers[0].dns01",
    says: "exactly one DNS provider",
  },
  {
    name: "a dns01 block without a provider",
    manifest: dns01With({ cnameStrategy: "Follow" }),
    field: "spec.acme.solvers[0].dns01",
    says: "exactly one DNS provider",
  },
  {
    name: "a provider this operator does not have",
    manifest: dns01With({ akamai: { serviceConsumerDomain: "x" } }),
    field: "spec.acme.solvers[0].dns01.akamai",
    says: "not supported",
  },
  {
    name: "an unknown cnameStrategy",
    manifest: dns01With({ cnameStrategy: "Always", rfc2136: rfc2136() }),
    field: "spec.acme.solvers[0].dns01.cnameStrategy",
  },
  {
    name: "a TSIG algorithm outside HMACMD5, HMACSHA1, HMACSHA256, HMACSHA512",
    manifest: dns01With({ rfc2136: { ...rfc2136(), tsigAlgorithm: "HMACSHA384" } }),
    field: "spec.acme.solvers[0].dns01.rfc2136.tsigAlgorithm",
  },
  {
    name: "a TSIG key name without its secret",
    manifest: dns01With({ rfc2136: { nameserver: "127.0.0.1:53", tsigKeyName: "rig-key." } }),
    field: "spec.acme.solvers[0].dns01.rfc2136.tsigSecretSecretRef",
  },
  {
    name: "an rfc2136 protocol in lower case (cert-manager's enum is TCP, UDP)",
    manifest: dns01With({ rfc2136: { ...rfc2136(), protocol: "tcp" } }),
    field: "spec.acme.solvers[0].dns01.rfc2136.protocol",
  },
  {
    name: "an rfc2136 nameserver with a URL scheme",
    manifest: dns01With({ rfc2136: { ...rfc2136(), nameserver: "udp://127.0.0.1:53" } }),
    field: "spec.acme.solvers[0].dns01.rfc2136.nameserver",
  },
  {
    name: "both a Cloudflare API key and token",
    manifest: dns01With({
      cloudflare: {
        email: "a@example.com",
        apiKeySecretRef: { name: "k" },
        apiTokenSecretRef: { name: "t" },
      },
    }),
    field: "spec.acme.solvers[0].dns01.cloudflare",
    says: "exactly one of apiTokenSecretRef or apiKeySecretRef",
  },
  {
    name: "a Route 53 access key ID both inline and from a Secret",
    manifest: dns01With({
      route53: {
        accessKeyID: "AKIA",
        accessKeyIDSecretRef: { name: "a" },
        secretAccessKeySecretRef: { name: "s" },
      },
    }),
    field: "spec.acme.solvers[0].dns01.route53.accessKeyIDSecretRef",
  },
  {
    name: "an Azure service principal without its tenant",
    manifest: dns01With({
      azureDNS: {
        subscriptionID: "s",
        resourceGroupName: "g",
        clientID: "c",
        clientSecretSecretRef: { name: "x" },
      },
    }),
    field: "spec.acme.solvers[0].dns01.azureDNS.clientID",
  },
  {
    name: "a DigitalOcean block without its token",
    manifest: dns01With({ digitalocean: {} }),
    field: "spec.acme.solvers[0].dns01.digitalocean.tokenSecretRef",
  },
  {
    name: "a selector zone with a wildcard",
    manifest: issuer("Issuer", [
      { selector: { dnsZones: ["*.example.test"] }, dns01: { rfc2136: rfc2136() } },
    ]),
    field: "spec.acme.solvers[0].selector.dnsZones[0]",
  },
  {
    name: "an Order without its CSR",
    manifest: withSpec(order, (s) => delete s["request"]),
    field: "spec.request",
  },
  {
    name: "a Challenge of type HTTP-01",
    manifest: withSpec(challenge, (s) => (s["type"] = "HTTP-01")),
    field: "spec.type",
  },
  {
    name: "a Challenge whose dnsName keeps the wildcard prefix",
    manifest: withSpec(challenge, (s) => (s["dnsName"] = "*.example.test")),
    field: "spec.dnsName",
  },
  {
    name: "a Challenge without a solver",
    manifest: withSpec(challenge, (s) => delete s["solver"]),
    field: "spec.solver",
  },
];

describe("the dns01.io CRDs on a real apiserver", () => {
  const crdName = (def: KindDefinition) => `${def.names.plural}.${GROUP}`;

  it("are installed, Established, and identical to what src/crds generates", async () => {
    const rendered = renderCrds();
    for (const def of KINDS) {
      const installed = (await custom.getClusterCustomObject({
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        name: crdName(def),
      })) as { spec: unknown; status?: { conditions?: { type: string; status: string }[] } };
      const established = installed.status?.conditions?.find((c) => c.type === "Established");
      expect({ crd: crdName(def), established: established?.status }).toEqual({
        crd: crdName(def),
        established: "True",
      });
      const want = parse(rendered.get(`${GROUP}_${def.names.plural}.yaml`) ?? "") as {
        spec: Record<string, unknown>;
      };
      const got = installed.spec as Record<string, unknown>;
      // The apiserver adds defaults (conversion); compare what we declare.
      for (const key of Object.keys(want.spec)) {
        if (canonical(got[key]) !== canonical(want.spec[key])) {
          throw new Error(
            `${crdName(def)}: spec.${key} differs from src/crds: run \`make crds\` and \`hack/rig.sh up\``,
          );
        }
      }
    }
  });

  it("pass the apiserver's CRD validation (structural schema, CEL compilation and cost) when created anew", async () => {
    // A dry-run create of each CRD under another group gets the full create-time checks, which an
    // update of an installed CRD relaxes for rules that did not change.
    const group = `validation-test.${GROUP}`;
    for (const content of renderCrds().values()) {
      const crd = parse(content) as {
        metadata: { name: string };
        spec: { group: string; names: { plural: string } };
      };
      crd.spec.group = group;
      crd.metadata.name = `${crd.spec.names.plural}.${group}`;
      await custom.createClusterCustomObject({
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        body: crd,
        dryRun: "All",
        fieldValidation: "Strict",
      });
    }
  });
});

describe("the example manifests", () => {
  const files = [...listYaml(join(repoRoot, "examples"))];

  it("include the rig's ClusterIssuer, the wildcard Certificate, one Issuer per provider and cert-manager ports", () => {
    const names = files.map((f) => relative(join(repoRoot, "examples"), f));
    expect(names).toEqual(
      expect.arrayContaining([
        "cluster-issuer-pebble.yaml",
        "certificate-wildcard.yaml",
        "issuer-cloudflare.yaml",
        "issuer-route53.yaml",
        "issuer-clouddns.yaml",
        "issuer-azuredns.yaml",
        "issuer-digitalocean.yaml",
        "issuer-acmedns.yaml",
        "issuer-webhook.yaml",
      ]),
    );
    expect(names.filter((n) => n.startsWith("cert-manager/")).length).toBeGreaterThanOrEqual(3);
  });

  it.each(files.map((f) => [relative(repoRoot, f), f]))(
    "%s is accepted by the apiserver",
    async (_name, path) => {
      const docs = loadExample(path);
      expect(docs.length).toBeGreaterThan(0);
      for (const doc of docs) {
        expect(doc.apiVersion).toBe(API_VERSION);
        // A fresh name, so that an object of the example's name that exists (say the demo's) does
        // not turn the dry run into AlreadyExists.
        const { name, ...meta } = doc.metadata;
        await dryRunCreate({
          ...doc,
          metadata: { ...meta, generateName: `${name}-` } as unknown as Manifest["metadata"],
        });
      }
    },
  );
});

describe("malformed manifests", () => {
  it("start from valid bases: each base manifest is accepted", async () => {
    for (const base of [certificate(), issuer(), issuer("ClusterIssuer"), order(), challenge()]) {
      await dryRunCreate(base);
    }
  });

  it.each(BAD)("are rejected: $name", async (bad) => {
    const message = await rejection(() => dryRunCreate(bad.manifest));
    expect(message).toContain(bad.field);
    if (bad.says !== undefined) expect(message).toContain(bad.says);
  });
});

describe("objects written by the operator", () => {
  const name = `validation-test-${randomBytes(4).toString("hex")}`;
  const target = { group: GROUP, version: VERSION, namespace: NAMESPACE, plural: "orders", name };
  let created: Manifest | undefined;

  beforeAll(async () => {
    const body = clone(order());
    body.metadata = { name, namespace: NAMESPACE };
    created = (await custom.createNamespacedCustomObject({ ...target, body })) as Manifest;
  });

  afterAll(async () => {
    await custom.deleteNamespacedCustomObject(target).catch(() => undefined);
  });

  it("accept a status in the documented shape through the status subresource", async () => {
    const body = clone(created!);
    body.status = {
      url: "https://127.0.0.1:14000/my-order/1",
      finalizeURL: "https://127.0.0.1:14000/finalize-order/1",
      state: "pending",
      authorizations: [
        {
          url: "https://127.0.0.1:14000/authZ/1",
          identifier: "example.test",
          wildcard: true,
          initialState: "pending",
          challenges: [{ url: "https://127.0.0.1:14000/chalZ/1", token: "t", type: "dns-01" }],
        },
      ],
    };
    await custom.replaceNamespacedCustomObjectStatus({
      ...target,
      body,
      dryRun: "All",
      fieldValidation: "Strict",
    });
  });

  it("reject a status state outside the ACME states", async () => {
    const body = clone(created!);
    body.status = { state: "done" };
    const message = await rejection(() =>
      custom.replaceNamespacedCustomObjectStatus({ ...target, body, dryRun: "All" }),
    );
    expect(message).toContain("status.state");
  });

  it("reject a change to an Order's spec, which is written once", async () => {
    const body = clone(created!);
    (body.spec as Spec)["dnsNames"] = ["example.test"];
    const message = await rejection(() =>
      custom.replaceNamespacedCustomObject({ ...target, body, dryRun: "All" }),
    );
    expect(message).toContain("spec is immutable");
  });
});
