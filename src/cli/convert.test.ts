import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { parseAllDocuments } from "yaml";
import { convertManifests, pruneUnknown } from "./convert.js";

const examples = resolve(import.meta.dirname, "../../examples/cert-manager");
/** cert-manager's own form of our ported examples: the one line they changed, changed back. */
const asCertManager = (text: string): string => text.replaceAll("dns01.io/v1alpha1", "cert-manager.io/v1");
const convert = (text: string) => convertManifests([{ source: "test.yaml", text }]);

describe("convertManifests", () => {
  it("turns every cert-manager example back into exactly our ported example", () => {
    for (const file of readdirSync(examples).filter((f) => f.endsWith(".yaml"))) {
      const ours = readFileSync(join(examples, file), "utf8");
      const result = convert(asCertManager(ours));
      expect({ file, refused: result.refused, notes: result.notes }).toEqual({
        file,
        refused: [],
        notes: [],
      });
      // Ours, except that issuerRef.group cert-manager.io (accepted as an alias) becomes ours.
      const expected = parseAllDocuments(ours).map((d) => d.toJS() as Record<string, unknown>);
      for (const d of expected) {
        const ref = (d["spec"] as { issuerRef?: { group?: string } }).issuerRef;
        if (ref?.group === "cert-manager.io") ref.group = "dns01.io";
      }
      expect(result.documents).toEqual(expected);
      for (const d of result.documents) expect(d["apiVersion"]).toBe("dns01.io/v1alpha1");
    }
  });

  it("rewrites issuerRef.group cert-manager.io to ours and strips server-written metadata and status", () => {
    const { documents } = convert(`
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web
  namespace: shop
  uid: 1234
  resourceVersion: "77"
  managedFields: [{}]
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: "{}"
spec:
  secretName: web-tls
  dnsNames: [shop.example.com]
  issuerRef: { name: le, kind: ClusterIssuer, group: cert-manager.io }
status:
  conditions: []
`);
    expect(documents).toEqual([
      {
        apiVersion: "dns01.io/v1alpha1",
        kind: "Certificate",
        metadata: { name: "web", namespace: "shop" },
        spec: {
          secretName: "web-tls",
          dnsNames: ["shop.example.com"],
          issuerRef: { name: "le", kind: "ClusterIssuer", group: "dns01.io" },
        },
      },
    ]);
  });

  it("refuses an HTTP-01 solver by its index and keeps the rest of the input", () => {
    const result = convert(`
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: { name: web, namespace: shop }
spec:
  acme:
    server: https://acme.example/dir
    privateKeySecretRef: { name: k }
    solvers:
      - dns01: { cloudflare: { apiTokenSecretRef: { name: cf, key: token } } }
      - http01: { ingress: { ingressClassName: nginx } }
---
apiVersion: v1
kind: Secret
metadata: { name: cf }
stringData: { token: x }
`);
    expect(result.refused).toEqual([
      {
        object: "Issuer shop/web",
        source: "test.yaml",
        reasons: [expect.stringContaining("spec.acme.solvers[1] is an HTTP-01 solver")],
      },
    ]);
    expect(result.documents.map((d) => d["kind"])).toEqual(["Secret"]);
    expect(result.notes).toEqual(["Secret cf: not a cert-manager object (v1), passed through"]);
  });

  it.each(["ca", "selfSigned", "vault", "venafi"])("refuses a %s issuer by name", (type) => {
    const result = convert(`
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: { name: internal }
spec: { ${type}: {} }
`);
    expect(result.refused).toEqual([
      {
        object: "ClusterIssuer internal",
        source: "test.yaml",
        reasons: [expect.stringContaining(`a ${type} issuer`)],
      },
    ]);
    expect(result.documents).toEqual([]);
  });

  it("refuses a Certificate whose issuer was refused in the same input, an external issuer and isCA", () => {
    const result = convert(`
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: { name: self, namespace: a }
spec: { selfSigned: {} }
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: one, namespace: a }
spec: { secretName: one, dnsNames: [a.example], issuerRef: { name: self } }
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: two, namespace: a }
spec: { secretName: two, dnsNames: [b.example], issuerRef: { name: pca, kind: AWSPCAClusterIssuer, group: awspca.cert-manager.io } }
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: three, namespace: a }
spec: { secretName: three, isCA: true, commonName: root, issuerRef: { name: le, kind: ClusterIssuer } }
`);
    const byObject = Object.fromEntries(result.refused.map((r) => [r.object, r.reasons.join("; ")]));
    expect(byObject).toEqual({
      "Issuer a/self": expect.stringContaining("selfSigned issuer"),
      "Certificate a/one": "its issuer Issuer self was refused (see above)",
      "Certificate a/two": expect.stringContaining(
        "external issuer (AWSPCAClusterIssuer.awspca.cert-manager.io pca)",
      ),
      "Certificate a/three": expect.stringContaining("isCA is true"),
    });
    expect(result.documents).toEqual([]);
  });

  it("refuses the akamai provider, cert-manager's own kinds and old API versions", () => {
    const result = convert(`
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: { name: ak }
spec: { acme: { server: https://x/dir, privateKeySecretRef: { name: k }, solvers: [ { dns01: { akamai: {} } } ] } }
---
apiVersion: cert-manager.io/v1
kind: CertificateRequest
metadata: { name: cr, namespace: a }
spec: {}
---
apiVersion: acme.cert-manager.io/v1
kind: Challenge
metadata: { name: ch, namespace: a }
---
apiVersion: cert-manager.io/v1alpha2
kind: Certificate
metadata: { name: old, namespace: a }
`);
    expect(result.refused.map((r) => [r.object, r.reasons[0]])).toEqual([
      ["ClusterIssuer ak", expect.stringContaining("akamai DNS provider")],
      ["CertificateRequest a/cr", expect.stringContaining("written by cert-manager itself")],
      ["Challenge a/ch", expect.stringContaining("written by cert-manager itself")],
      ["Certificate a/old", expect.stringContaining("old cert-manager API")],
    ]);
  });

  it("drops a field our API lacks, names it, and unwraps a kubectl List", () => {
    const result = convert(`
apiVersion: v1
kind: List
items:
  - apiVersion: cert-manager.io/v1
    kind: ClusterIssuer
    metadata: { name: le, namespace: ignored }
    spec:
      acme:
        server: https://x/dir
        privateKeySecretRef: { name: k }
        futureOption: true
        solvers: [ { dns01: { digitalocean: { tokenSecretRef: { name: do, key: t } } } } ]
`);
    expect(result.notes).toEqual([
      "ClusterIssuer le: dropped spec.acme.futureOption: dns01.io/v1alpha1 ClusterIssuer has no such field",
    ]);
    expect(result.documents[0]?.["metadata"]).toEqual({ name: "le" });
    expect(JSON.stringify(result.documents)).not.toContain("futureOption");
  });

  it("says which input is not YAML", () => {
    expect(() => convertManifests([{ source: "bad.yaml", text: "a: [1, 2\n" }])).toThrow(
      /^bad\.yaml: not valid YAML/,
    );
  });
});

describe("pruneUnknown", () => {
  it("keeps fields under x-kubernetes-preserve-unknown-fields and map values", () => {
    const dropped: string[] = [];
    const schema = {
      type: "object" as const,
      properties: {
        config: { "x-kubernetes-preserve-unknown-fields": true as const },
        labels: { type: "object" as const, additionalProperties: { type: "string" as const } },
      },
    };
    expect(
      pruneUnknown({ config: { any: 1 }, labels: { a: "b" }, extra: 1 }, schema, "spec", dropped),
    ).toEqual({
      config: { any: 1 },
      labels: { a: "b" },
    });
    expect(dropped).toEqual(["spec.extra"]);
  });
});
