import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import {
  createNamespace,
  deleteNamespace,
  suffix,
  testClients,
  type TestClients,
} from "../test/support/kube.js";
import { gitopsHealthBinary } from "../test/support/gitops-health.js";
import { repoRoot, rigVar } from "../test/support/rig.js";
import {
  condition,
  createObject,
  deleteObject,
  getCustom,
  loadExample,
  rigIssuerVars,
  waitForReadyCertificate,
  type Obj,
} from "./support/fixtures.js";
import { waitFor } from "../test/support/kube.js";
import { OperatorProcess, rigOperatorArgs } from "./support/operator.js";

/** What a GitOps tool said of one object. */
interface Health {
  kind: string;
  namespace?: string;
  name: string;
  status: string;
  message: string;
}

const HEALTH_SCRIPT = join(repoRoot, "deploy/argocd/health.lua");

/** Judges objects read from the rig with kstatus and with Argo CD's Lua runtime (the real libraries). */
function judge(tool: "kstatus" | "argocd", objects: readonly Obj[]): Map<string, Health> {
  const args = tool === "kstatus" ? ["kstatus"] : ["argocd", HEALTH_SCRIPT];
  const out = execFileSync(gitopsHealthBinary(), args, { input: JSON.stringify(objects), encoding: "utf8" });
  const results = JSON.parse(out) as Health[];
  return new Map(results.map((r) => [`${r.kind}/${r.name}`, r]));
}

describe("GitOps tools judge our objects by Ready and observedGeneration", () => {
  let c: TestClients;
  let ns: string;
  let operator: OperatorProcess;
  let goodIssuer: Obj;
  const objects = new Map<string, Obj>();

  const certificate = (
    name: string,
    issuerRef: Record<string, string>,
    extra: Record<string, unknown> = {},
  ): Obj => ({
    apiVersion: "dns01.io/v1alpha1",
    kind: "Certificate",
    metadata: { name, namespace: ns },
    spec: { secretName: `${name}-tls`, dnsNames: [`${name}.example.test`], issuerRef, ...extra },
  });

  /** Reads the objects back from the apiserver, as a GitOps tool would see them. */
  async function read(): Promise<Obj[]> {
    const out: Obj[] = [];
    for (const [key, obj] of objects) {
      const [plural] = key.split("/");
      const live = await getCustom(c, plural ?? "", obj.metadata.name, obj.metadata.namespace);
      if (live) out.push(live);
    }
    return out;
  }

  beforeAll(async () => {
    c = testClients();
    ns = await createNamespace(c.core, "e2e-gitops");
    await c.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "rig-tsig" }, stringData: { "tsig-secret": rigVar("TSIG_SECRET") } },
    });
    await c.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: "wrong-tsig" },
        stringData: { "tsig-secret": Buffer.alloc(32, 7).toString("base64") },
      },
    });
    goodIssuer = loadExample("cluster-issuer-pebble.yaml", rigIssuerVars());
    goodIssuer.metadata.name = `gitops-${suffix()}`;
    await createObject(c, goodIssuer);
    objects.set(`clusterissuers/${goodIssuer.metadata.name}`, goodIssuer);

    // A namespaced Issuer whose DNS updates are refused (wrong TSIG secret): its Challenges never pass.
    const broken = loadExample("cluster-issuer-pebble.yaml", rigIssuerVars());
    broken["kind"] = "Issuer";
    broken.metadata = { name: "broken-dns", namespace: ns };
    const solver = (
      (broken["spec"] as { acme: { solvers: { dns01: { rfc2136: Record<string, unknown> } }[] } }).acme
        .solvers[0] ?? { dns01: { rfc2136: {} } }
    ).dns01.rfc2136;
    solver["tsigSecretSecretRef"] = { name: "wrong-tsig", key: "tsig-secret" };
    await createObject(c, broken);
    objects.set(`issuers/broken-dns`, broken);

    // An Issuer whose CA does not answer: never Ready.
    const unreachable: Obj = {
      apiVersion: "dns01.io/v1alpha1",
      kind: "Issuer",
      metadata: { name: "unreachable", namespace: ns },
      spec: {
        acme: {
          server: "https://127.0.0.1:1/dir",
          privateKeySecretRef: { name: "unreachable-account" },
          solvers: [{ dns01: { rfc2136: { nameserver: rigVar("DNS_SERVER") } } }],
        },
      },
    };
    await createObject(c, unreachable);
    objects.set(`issuers/unreachable`, unreachable);

    const issued = certificate("issued", { kind: "ClusterIssuer", name: goodIssuer.metadata.name });
    const refused = certificate(
      "refused",
      { kind: "ClusterIssuer", name: goodIssuer.metadata.name },
      {
        ipAddresses: ["127.0.0.1"],
      },
    );
    const stuck = certificate("stuck", { kind: "Issuer", name: "broken-dns" });
    for (const cert of [issued, refused, stuck]) {
      await createObject(c, cert);
      objects.set(`certificates/${cert.metadata.name}`, cert);
    }

    operator = new OperatorProcess(
      rigOperatorArgs(ns, ["--no-leader-elect", "--issuance-backoff-base", "1h"]),
    );
    operator.start();
    await waitForReadyCertificate(c, ns, "issued");
    await waitFor("the refused Certificate to say why", async () =>
      condition(await getCustom(c, "certificates", "refused", ns), "Ready")?.status === "False"
        ? true
        : undefined,
    );
    await waitFor("the stuck Certificate's Challenge to be retrying", async () => {
      const list = (await c.custom.listNamespacedCustomObject({
        group: "dns01.io",
        version: "v1alpha1",
        plural: "challenges",
        namespace: ns,
      })) as { items: Obj[] };
      const pending = list.items.find((ch) => (ch["status"] as { reason?: string } | undefined)?.reason);
      if (pending) objects.set(`challenges/${pending.metadata.name}`, pending);
      return pending ? true : undefined;
    });
    await waitFor("the unreachable Issuer to report", async () =>
      condition(await getCustom(c, "issuers", "unreachable", ns), "Ready") ? true : undefined,
    );
    const orders = (await c.custom.listNamespacedCustomObject({
      group: "dns01.io",
      version: "v1alpha1",
      plural: "orders",
      namespace: ns,
    })) as { items: Obj[] };
    const valid = orders.items.find(
      (o) => (o["status"] as { state?: string } | undefined)?.state === "valid",
    );
    if (valid) objects.set(`orders/${valid.metadata.name}`, valid);
  });

  afterAll(async () => {
    await operator.stop();
    await deleteObject(c, goodIssuer);
    await deleteNamespace(c.core, ns);
  });

  it("calls Ready objects Current and Healthy, and every other one InProgress or Failed, and Progressing or Degraded", async () => {
    const live = await read();
    const ks = judge("kstatus", live);
    const argo = judge("argocd", live);
    const status = (m: Map<string, Health>, key: string): string | undefined => m.get(key)?.status;

    expect(status(ks, `ClusterIssuer/${goodIssuer.metadata.name}`)).toBe("Current");
    expect(status(argo, `ClusterIssuer/${goodIssuer.metadata.name}`)).toBe("Healthy");
    expect(status(ks, "Certificate/issued")).toBe("Current");
    expect(status(argo, "Certificate/issued")).toBe("Healthy");
    const validOrder = [...ks.keys()].find((k) => k.startsWith("Order/"));
    expect(validOrder).toBeDefined();
    expect(status(ks, validOrder ?? "")).toBe("Current");
    expect(status(argo, validOrder ?? "")).toBe("Healthy");

    for (const key of ["Certificate/refused", "Certificate/stuck", "Issuer/unreachable"]) {
      expect([key, status(ks, key)]).toEqual([key, expect.stringMatching(/^(InProgress|Failed)$/)]);
    }
    expect(status(argo, "Certificate/refused")).toBe("Degraded");
    expect(argo.get("Certificate/refused")?.message).toContain("ipAddresses");
    expect(status(argo, "Issuer/unreachable")).toBe("Degraded");
    // An issuance in flight is Progressing, as Argo CD's own script for cert-manager has it.
    expect(status(argo, "Certificate/stuck")).toBe("Progressing");
    const challenge = [...ks.keys()].find((k) => k.startsWith("Challenge/"));
    expect(challenge).toBeDefined();
    expect(status(ks, challenge ?? "")).toMatch(/^(InProgress|Failed)$/);
    expect(status(argo, challenge ?? "")).toBe("Progressing");
  });

  it("calls a Ready Certificate InProgress and Progressing while its new spec is not yet observed", async () => {
    await operator.stop();
    const before = await getCustom(c, "certificates", "issued", ns);
    await c.custom.patchNamespacedCustomObject({
      group: "dns01.io",
      version: "v1alpha1",
      plural: "certificates",
      namespace: ns,
      name: "issued",
      body: [{ op: "add", path: "/spec/renewBeforePercentage", value: 40 }],
    });
    const after = await getCustom(c, "certificates", "issued", ns);
    expect((after?.metadata as { generation?: number }).generation).toBe(
      ((before?.metadata as { generation?: number }).generation ?? 0) + 1,
    );
    expect(condition(after, "Ready")?.status).toBe("True");
    expect(judge("kstatus", [after!]).get("Certificate/issued")?.status).toBe("InProgress");
    expect(judge("argocd", [after!]).get("Certificate/issued")?.status).toBe("Progressing");

    operator.start();
    await waitFor("the operator to observe the new generation", async () => {
      const cert = await getCustom(c, "certificates", "issued", ns);
      return judge("kstatus", [cert!]).get("Certificate/issued")?.status === "Current" ? cert : undefined;
    });
    const cert = await getCustom(c, "certificates", "issued", ns);
    expect(judge("argocd", [cert!]).get("Certificate/issued")?.status).toBe("Healthy");
  });

  it("calls an object the operator has never written InProgress, not Current", async () => {
    await operator.stop();
    const fresh = certificate("fresh", { kind: "ClusterIssuer", name: goodIssuer.metadata.name });
    await createObject(c, fresh);
    const live = (await getCustom(c, "certificates", "fresh", ns))!;
    expect(judge("kstatus", [live]).get("Certificate/fresh")?.status).toBe("InProgress");
    expect(judge("argocd", [live]).get("Certificate/fresh")?.status).toBe("Progressing");
  });
});
