/**
 * cert-manager webhook solvers through the Kubernetes aggregation layer, on the rig: a test
 * solver served as an APIService (front-proxy client certificate checked, records written into
 * BIND), called by the operator's `webhook` provider with a ServiceAccount that may only `create`
 * the solver resource, as cert-manager's webhook charts grant. Then the failures: `success: false`
 * with a message, no RBAC, an APIService that is not available, one not registered, a solver down.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import * as k8s from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { queryTxt } from "../../src/dns/query.js";
import { TemporaryError } from "../../src/errors.js";
import { KubeClient } from "../../src/kube/client.js";
import { silentLogger } from "../../src/log.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { WEBHOOK_URL_ENV, descriptor } from "../../src/solvers/webhook/descriptor.js";
import type { Dns01Solver } from "../../src/solvers/types.js";
import {
  AggregatedWebhookSolver,
  registerSolver,
  solverObjects,
  unregisterSolver,
  waitForApiService,
} from "../emulators/aggregated-webhook/solver.js";
import { bindBackend } from "../emulators/bind-backend.js";
import { createNamespace, deleteNamespace, testClients, type TestClients } from "../support/kube.js";
import { rigVar } from "../support/rig.js";

const ctx = () => ({ signal: new AbortController().signal, log: silentLogger() });
const SOLVER = "rig-solver";

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

/** A client of the rig's apiserver acting as `ns/name`, by a TokenRequest token. */
async function clientAs(c: TestClients, ns: string, name: string): Promise<KubeClient> {
  const tr = await c.core.createNamespacedServiceAccountToken({
    name,
    namespace: ns,
    body: { spec: { audiences: [] } },
  });
  const cluster = c.kc.getCurrentCluster();
  if (cluster === null) throw new Error("no cluster in the rig's kubeconfig");
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...cluster, name: "rig" }],
    users: [{ name: name, token: tr.status?.token ?? "" }],
    contexts: [{ name: "rig", cluster: "rig", user: name }],
    currentContext: "rig",
  });
  return new KubeClient(kc);
}

describe("cert-manager webhook solvers through the aggregation layer", () => {
  let c: TestClients;
  let ns: string;
  let group: string;
  let solver: AggregatedWebhookSolver;
  let allowed: KubeClient;
  let denied: KubeClient;
  const saved = process.env[WEBHOOK_URL_ENV];
  const clusterObjects: k8s.KubernetesObject[] = [];

  beforeAll(async () => {
    Reflect.deleteProperty(process.env, WEBHOOK_URL_ENV);
    c = testClients();
    ns = await createNamespace(c.core, "agg-webhook");
    group = `acme-${randomBytes(3).toString("hex")}.e2e.test`;
    solver = new AggregatedWebhookSolver(
      group,
      SOLVER,
      bindBackend(),
      { name: SOLVER, namespace: ns },
      rigVar("FRONT_PROXY_CA_FILE"),
    );
    await solver.start();
    await registerSolver(c, solver);
    for (const sa of ["operator", "stranger"]) {
      await c.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
    }
    // What a cert-manager webhook chart grants cert-manager: create on the solver resource, nothing more.
    const role = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: `${group}:domain-solver` },
      rules: [{ apiGroups: [group], resources: [SOLVER], verbs: ["create"] }],
    };
    const binding = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: `${group}:domain-solver` },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role.metadata.name },
      subjects: [{ kind: "ServiceAccount", name: "operator", namespace: ns }],
    };
    for (const o of [role, binding]) {
      await c.objects.create(o);
      clusterObjects.push(o);
    }
    allowed = await clientAs(c, ns, "operator");
    denied = await clientAs(c, ns, "stranger");
  });

  afterAll(async () => {
    if (saved !== undefined) process.env[WEBHOOK_URL_ENV] = saved;
    await unregisterSolver(c, solver);
    for (const o of clusterObjects.reverse()) await c.objects.delete(o).catch(() => undefined);
    await solver.stop();
    await deleteNamespace(c.core, ns);
  });

  const build = (kube: KubeClient, groupName = group, solverName = SOLVER): Promise<Dns01Solver> =>
    descriptor.create(
      { groupName, solverName, config: { ttl: 60, apiKeySecretRef: { name: "dns", key: "key" } } },
      { secretNamespace: ns, secrets: memorySecretReader(new Map()), clusterScoped: false, kube },
    );
  const record = () => {
    const domain = `w${randomBytes(3).toString("hex")}.example.test`;
    return {
      fqdn: `_acme-challenge.${domain}.`,
      zone: "example.test.",
      value: randomBytes(32).toString("base64url"),
      domain,
    };
  };

  it("presents and cleans up with a ChallengePayload, as the ServiceAccount that may only create the solver resource", async () => {
    const s = await build(allowed);
    const r = record();
    const before = solver.calls.length;
    await s.present(r, ctx());
    expect(await queryTxt(r.fqdn, rigVar("DNS_SERVER"))).toEqual([r.value]);
    await s.cleanUp(r, ctx());
    expect(await queryTxt(r.fqdn, rigVar("DNS_SERVER"))).toEqual([]);
    const calls = solver.calls.slice(before);
    expect(calls.map((k) => [k.action, k.user])).toEqual([
      ["Present", `system:serviceaccount:${ns}:operator`],
      ["CleanUp", `system:serviceaccount:${ns}:operator`],
    ]);
    const { uid, ...request } = calls[0]?.request ?? { uid: "" };
    expect(uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(request).toEqual({
      action: "Present",
      type: "dns-01",
      dnsName: r.domain,
      key: r.value,
      resourceNamespace: ns,
      resolvedFQDN: r.fqdn,
      resolvedZone: "example.test.",
      allowAmbientCredentials: false,
      config: { ttl: 60, apiKeySecretRef: { name: "dns", key: "key" } },
    });
  });

  it("turns success: false into a TemporaryError carrying the solver's message", async () => {
    solver.failNext("hetzner: zone example.test not found in account");
    const err = await rejection((await build(allowed)).present(record(), ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toBe(
      `webhook: Present by ${SOLVER}.${group} failed: hetzner: zone example.test not found in account`,
    );
  });

  it("says which permission is missing when the ServiceAccount may not create the solver resource", async () => {
    const before = solver.calls.length;
    const err = await rejection((await build(denied)).present(record(), ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toContain(
      `forbidden: grant the operator's ServiceAccount "create" on ${SOLVER}.${group}`,
    );
    expect(solver.calls.length).toBe(before);
  });

  it("says no APIService serves a group that is not registered", async () => {
    // As an admin: RBAC is checked before routing, and the operator may create only its solver's resource.
    const err = await rejection(
      (await build(new KubeClient(c.kc), "absent.e2e.test")).present(record(), ctx()),
    );
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toContain("not found: no APIService serves absent.e2e.test/v1alpha1");
  });

  it("says the APIService is not available when its Service is missing", async () => {
    const other = new AggregatedWebhookSolver(
      `missing-${randomBytes(3).toString("hex")}.e2e.test`,
      SOLVER,
      bindBackend(),
      { name: "no-such-service", namespace: ns },
      rigVar("FRONT_PROXY_CA_FILE"),
    );
    other.caPem = solver.caPem;
    other.port = solver.port;
    const [apiService] = solverObjects(other, true);
    if (apiService === undefined) throw new Error("no APIService object");
    await c.objects.create(apiService);
    try {
      await waitForApiService(c, `v1alpha1.${other.groupName}`, "False");
      const err = await rejection(
        (await build(new KubeClient(c.kc), other.groupName)).present(record(), ctx()),
      );
      expect(err).toBeInstanceOf(TemporaryError);
      expect(err.message).toContain(`the APIService v1alpha1.${other.groupName} is not available`);
    } finally {
      await c.objects.delete(apiService);
    }
  });

  it("says the solver is down when its server does not answer, and works again once it is back", async () => {
    await solver.stop();
    const r = record();
    const err = await rejection((await build(allowed)).present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toMatch(/is not available|HTTP 50[23]/);
  });
});
