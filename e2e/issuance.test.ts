import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { parseCertificateChain, certificateInfo, publicKeyMatches, verifyChain } from "../src/pki/index.js";
import {
  createNamespace,
  deleteNamespace,
  suffix,
  testClients,
  waitFor,
  type TestClients,
} from "../test/support/kube.js";
import { rigVar } from "../test/support/rig.js";
import {
  challengeTxt,
  condition,
  createObject,
  deleteObject,
  getCustom,
  loadExample,
  pebbleRoot,
  rigIssuerVars,
  waitForReadyCertificate,
  type Obj,
} from "./support/fixtures.js";
import { OperatorProcess, rigOperatorArgs } from "./support/operator.js";

describe("issuance of real certificates through Pebble and BIND", () => {
  let c: TestClients;
  let ns: string;
  let issuer: Obj;
  let operator: OperatorProcess;

  beforeAll(async () => {
    c = testClients();
    ns = await createNamespace(c.core, "e2e-issue");
    await c.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "rig-tsig" }, stringData: { "tsig-secret": rigVar("TSIG_SECRET") } },
    });
    // The example ClusterIssuer, renamed so that runs and suites never share one.
    issuer = loadExample("cluster-issuer-pebble.yaml", rigIssuerVars());
    issuer.metadata.name = `pebble-${suffix()}`;
    await createObject(c, issuer);
    operator = new OperatorProcess(rigOperatorArgs(ns, ["--no-leader-elect"]));
    operator.start();
  });

  afterAll(async () => {
    await operator.stop();
    await deleteObject(c, issuer);
    await deleteNamespace(c.core, ns);
  });

  const certificate = (name: string, dnsNames: string[]): Obj => {
    const cert = loadExample("certificate-wildcard.yaml", {});
    cert.metadata = { name, namespace: ns };
    const spec = cert["spec"] as Record<string, unknown>;
    spec["secretName"] = `${name}-tls`;
    spec["dnsNames"] = dnsNames;
    spec["issuerRef"] = { kind: "ClusterIssuer", name: issuer.metadata.name };
    return cert;
  };

  async function expectIssued(name: string, dnsNames: string[]): Promise<void> {
    const cert = await waitForReadyCertificate(c, ns, name);
    const secret = await c.core.readNamespacedSecret({ name: `${name}-tls`, namespace: ns });
    expect(secret.type).toBe("kubernetes.io/tls");
    const data = secret.data ?? {};
    const crt = Buffer.from(data["tls.crt"] ?? "", "base64").toString("utf8");
    const key = Buffer.from(data["tls.key"] ?? "", "base64").toString("utf8");
    // Exactly the names asked for, a key that belongs to the certificate, a chain to Pebble's root.
    expect(certificateInfo(crt).dnsNames.sort()).toEqual([...dnsNames].sort());
    expect(publicKeyMatches(crt, key)).toBe(true);
    const chain = parseCertificateChain(crt);
    expect(verifyChain(chain.chainPem, await pebbleRoot())).toEqual({ valid: true });
    // Pebble leaves its root out of the chain, so ca.crt is left out too (as cert-manager does).
    expect(data["ca.crt"]).toBeUndefined();
    expect(secret.metadata?.annotations?.["dns01.io/certificate-name"]).toBe(name);
    expect(secret.metadata?.annotations?.["dns01.io/issuer-name"]).toBe(issuer.metadata.name);
    expect(secret.metadata?.labels?.["app.kubernetes.io/part-of"]).toBe("demo");
    const status = cert["status"] as Record<string, unknown>;
    expect(status["revision"]).toBe(1);
    expect(typeof status["notAfter"]).toBe("string");
    expect(typeof status["renewalTime"]).toBe("string");
    // Every TXT value that was presented is gone, and so are the Challenges.
    for (const n of dnsNames) expect(await challengeTxt(n)).toEqual([]);
    await waitFor("the order's challenges to be deleted", async () => {
      const list = (await c.custom.listNamespacedCustomObject({
        group: "dns01.io",
        version: "v1alpha1",
        plural: "challenges",
        namespace: ns,
      })) as { items: unknown[] };
      return list.items.length === 0 ? true : undefined;
    });
  }

  it("issues the apex + wildcard example whose Secret chains to Pebble's root and leaves no TXT record", async () => {
    const name = `wild-${suffix()}`;
    const zone = `${name}.example.test`;
    await createObject(c, certificate(name, [zone, `*.${zone}`]));
    await expectIssued(name, [zone, `*.${zone}`]);
  });

  it("issues one certificate whose names span both rig zones", async () => {
    const name = `two-${suffix()}`;
    const names = [`${name}.example.test`, `*.${name}.second.test`, `${name}.second.test`];
    await createObject(c, certificate(name, names));
    await expectIssued(name, names);
  });

  it("leaves an existing Secret it did not write untouched and says why on the Certificate", async () => {
    const name = `foreign-${suffix()}`;
    const body = { "tls.crt": "bm90IG91cnM=", "tls.key": "bm90IG91cnM=" };
    await c.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: `${name}-tls` }, type: "kubernetes.io/tls", data: body },
    });
    const before = await c.core.readNamespacedSecret({ name: `${name}-tls`, namespace: ns });
    await createObject(c, certificate(name, [`${name}.example.test`]));
    const cert = await waitFor("the Certificate to refuse the Secret", async () => {
      const got = await getCustom(c, "certificates", name, ns);
      return condition(got, "Ready")?.reason === "SecretNotOwned" ? got : undefined;
    });
    expect(condition(cert, "Ready")?.status).toBe("False");
    expect(condition(cert, "Ready")?.message).toContain("will not be overwritten");
    const after = await c.core.readNamespacedSecret({ name: `${name}-tls`, namespace: ns });
    expect(after.data).toEqual(body);
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    const orders = (await c.custom.listNamespacedCustomObject({
      group: "dns01.io",
      version: "v1alpha1",
      plural: "orders",
      namespace: ns,
      labelSelector: `dns01.io/certificate-name=${name}`,
    })) as { items: unknown[] };
    expect(orders.items).toEqual([]);
    const events = await c.core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: `involvedObject.name=${name}`,
    });
    expect(events.items.map((e) => e.reason)).toContain("SecretNotOwned");
  });

  it("reissues on a spec change, keeping the key under rotationPolicy Never and rotating it by default", async () => {
    for (const policy of ["Never", "Always"] as const) {
      const name = `rot-${policy.toLowerCase()}-${suffix()}`;
      const cert = certificate(name, [`${name}.example.test`]);
      (cert["spec"] as Record<string, unknown>)["privateKey"] = {
        algorithm: "ECDSA",
        size: 256,
        rotationPolicy: policy,
      };
      await createObject(c, cert);
      await waitForReadyCertificate(c, ns, name);
      const first = await c.core.readNamespacedSecret({ name: `${name}-tls`, namespace: ns });
      await c.custom.patchNamespacedCustomObject({
        group: "dns01.io",
        version: "v1alpha1",
        plural: "certificates",
        namespace: ns,
        name,
        body: [{ op: "add", path: "/spec/dnsNames/-", value: `www.${name}.example.test` }],
      });
      const renewed = await waitFor("revision 2", async () => {
        const got = await getCustom(c, "certificates", name, ns);
        const st = got?.["status"] as { revision?: number } | undefined;
        return st?.revision === 2 && condition(got, "Ready")?.status === "True" ? got : undefined;
      });
      expect(renewed).toBeDefined();
      const second = await c.core.readNamespacedSecret({ name: `${name}-tls`, namespace: ns });
      const crt = Buffer.from(second.data?.["tls.crt"] ?? "", "base64").toString("utf8");
      expect(certificateInfo(crt).dnsNames.sort()).toEqual([
        `${name}.example.test`,
        `www.${name}.example.test`,
      ]);
      const sameKey = second.data?.["tls.key"] === first.data?.["tls.key"];
      expect(sameKey).toBe(policy === "Never");
    }
  });

  it("issues through a namespaced Issuer that reads Secrets only in its own namespace", async () => {
    const other = await createNamespace(c.core, "e2e-issuer");
    try {
      const issuerName = `ns-pebble-${suffix()}`;
      const nsIssuer = loadExample("cluster-issuer-pebble.yaml", rigIssuerVars());
      nsIssuer["kind"] = "Issuer";
      nsIssuer.metadata = { name: issuerName, namespace: other };
      await createObject(c, nsIssuer);
      const name = `nsiss-${suffix()}`;
      const cert = certificate(name, [`${name}.second.test`]);
      cert.metadata.namespace = other;
      (cert["spec"] as Record<string, unknown>)["issuerRef"] = { name: issuerName };
      await createObject(c, cert);
      // The TSIG Secret exists in the operator's namespace only: the Issuer must not read it there,
      // and the Certificate says what it is waiting for.
      const waiting = await waitFor("the Certificate to name the missing Secret", async () => {
        const got = await getCustom(c, "certificates", name, other);
        const issuing = condition(got, "Issuing");
        return issuing?.message.includes(`${other}/rig-tsig`) === true ? issuing : undefined;
      });
      expect(waiting.status).toBe("True");
      expect(waiting.message).toContain("not found");
      // Given its own copy, it issues.
      await c.core.createNamespacedSecret({
        namespace: other,
        body: { metadata: { name: "rig-tsig" }, stringData: { "tsig-secret": rigVar("TSIG_SECRET") } },
      });
      await waitForReadyCertificate(c, other, name, 120_000);
    } finally {
      await deleteNamespace(c.core, other);
    }
  });

  it("never writes a secret value into its logs", () => {
    const text = operator.logText();
    expect(text).not.toContain(rigVar("TSIG_SECRET"));
    expect(text).not.toContain("PRIVATE KEY");
  });
});
