import type { KubeObject } from "../../kube/types.js";
import { isAlreadyExists, isConflict, isNotFound, apiStatusCode } from "../../kube/api-errors.js";
import { PatchType } from "../../kube/client.js";
import { kubeSecretReader } from "../../solvers/credentials.js";
import { Kinds, type OrderObj, type SecretObj } from "../kinds.js";
import { ResourceClient, watch } from "../runtime/index.js";
import { CoreEvents, FakeCluster } from "./fake-cluster.js";
import { ControllerTestRig, collectKeys, rejectionOf } from "./harness.js";
import { EventRecorder } from "../../kube/events.js";
import { silentLogger } from "../../log.js";

function order(name: string, extra: Partial<OrderObj> = {}): OrderObj {
  return {
    apiVersion: "dns01.io/v1alpha1",
    kind: "Order",
    metadata: { name, namespace: "ns" },
    spec: { request: "", issuerRef: { name: "ca" }, dnsNames: ["a.example"] },
    ...extra,
  };
}

describe("FakeCluster", () => {
  it("creates objects with a uid, a resourceVersion and generation 1, and refuses a taken name with AlreadyExists", async () => {
    const cluster = new FakeCluster();
    const api = new ResourceClient<OrderObj>(cluster.client, Kinds.orders);
    const created = await api.create(order("o1", { status: { state: "valid" } }));
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata.generation).toBe(1);
    expect(created.status).toBeUndefined(); // status is the subresource's, not create's
    expect(isAlreadyExists(await rejectionOf(api.create(order("o1"))))).toBe(true);
    expect((await api.get("ns", "o1")).metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    expect(isNotFound(await rejectionOf(api.get("ns", "nope")))).toBe(true);
  });

  it("answers a status patch from a stale object with 409 and changes only status through the subresource", async () => {
    const cluster = new FakeCluster();
    const api = new ResourceClient<OrderObj>(cluster.client, Kinds.orders);
    const created = await api.create(order("o1"));
    const patched = await api.patchStatus(created, { state: "pending", spec: "ignored" });
    // Every status write records the generation it was computed from (ResourceClient.patchStatus).
    expect(patched.status).toEqual({ state: "pending", spec: "ignored", observedGeneration: 1 });
    expect(patched.metadata.generation).toBe(1);
    expect(isConflict(await rejectionOf(api.patchStatus(created, { state: "ready" })))).toBe(true);
    const respec = await api.patch("ns", "o1", { spec: { dnsNames: ["b.example"] }, status: { state: "x" } });
    expect(respec.metadata.generation).toBe(2);
    expect(respec.status?.state).toBe("pending");
  });

  it("keeps an object with finalizers until the last one is removed by a JSON patch", async () => {
    const cluster = new FakeCluster();
    const api = new ResourceClient<OrderObj>(cluster.client, Kinds.orders);
    const created = await api.create(
      order("o1", { metadata: { name: "o1", namespace: "ns", finalizers: ["f"] } }),
    );
    expect(isConflict(await rejectionOf(api.delete("ns", "o1", { uid: "other" })))).toBe(true);
    expect(await api.delete("ns", "o1", { uid: created.metadata.uid ?? "" })).toBe(true);
    const marked = await api.get("ns", "o1");
    expect(marked.metadata.deletionTimestamp).toBeDefined();
    expect(
      apiStatusCode(
        await rejectionOf(
          api.patch("ns", "o1", [{ op: "test", path: "/metadata/finalizers/0", value: "g" }], {
            type: PatchType.json,
          }),
        ),
      ),
    ).toBe(422);
    await api.patch(
      "ns",
      "o1",
      [
        { op: "test", path: "/metadata/finalizers/0", value: "f" },
        { op: "remove", path: "/metadata/finalizers/0" },
      ],
      { type: PatchType.json },
    );
    expect(cluster.get(Kinds.orders, "ns", "o1")).toBeUndefined();
  });

  it("fails matching calls with the injected status and records every call", async () => {
    const cluster = new FakeCluster();
    cluster.seed<SecretObj>(Kinds.secrets, { metadata: { name: "s", namespace: "ns" }, data: { k: "dg==" } });
    cluster.failNext({ verb: "get", resource: "secrets", name: "s" }, 403);
    const reader = kubeSecretReader(cluster.client);
    await expect(reader.read("ns", { name: "s", key: "k" })).rejects.toThrow(
      /cannot get resource "secrets" in API group "" in the namespace "ns"/,
    );
    await expect(reader.read("ns", { name: "s", key: "k" })).resolves.toBe("v");
    cluster.failNext({ verb: "get" }, 500, { times: 2 });
    await expect(reader.read("ns", { name: "s", key: "k" })).rejects.toThrow(/Internal error/);
    expect(cluster.callsMatching({ verb: "get", resource: "secrets" })).toHaveLength(3);
  });

  it("stores the Events the real EventRecorder writes", async () => {
    const cluster = new FakeCluster();
    const recorder = new EventRecorder(cluster.client, "test", silentLogger());
    await recorder.record(order("o1"), "Warning", "RateLimited", "slow down");
    const [ev] = cluster.list<{ reason?: string; involvedObject?: { name?: string } } & KubeObject>(
      CoreEvents,
      "ns",
    );
    expect(ev?.reason).toBe("RateLimited");
    expect(ev?.involvedObject?.name).toBe("o1");
  });
});

describe("ControllerTestRig", () => {
  let rig: ControllerTestRig;
  beforeEach(() => {
    rig = new ControllerTestRig();
  });
  afterEach(async () => {
    await rig.stop();
  });

  it("feeds informers from the store: the initial list, then every write and delete as it happens", async () => {
    rig.cluster.seed(Kinds.orders, order("before"));
    const orders = rig.informer<OrderObj>(Kinds.orders);
    const keys = collectKeys({
      name: "t",
      reconcile: () => Promise.resolve(undefined),
      watches: [watch(orders)],
    });
    await rig.sync();
    expect(orders.get("ns/before")).toBeDefined();
    const api = new ResourceClient<OrderObj>(rig.client, Kinds.orders);
    const created = await api.create(order("after"));
    await api.patchStatus(created, { state: "pending" });
    expect(orders.get("ns/after")?.status?.state).toBe("pending");
    rig.cluster.remove(Kinds.orders, "ns", "before");
    expect(orders.get("ns/before")).toBeUndefined();
    expect(keys.take()).toEqual(["ns/before", "ns/after", "ns/after", "ns/after", "ns/before"]);
    keys.stop();
  });

  it("lets a test hold watch events back so that caches lag as in production", async () => {
    const orders = rig.informer<OrderObj>(Kinds.orders);
    await rig.sync();
    rig.cluster.holdEvents();
    rig.cluster.seed(Kinds.orders, order("late"));
    expect(orders.get("ns/late")).toBeUndefined();
    rig.cluster.releaseEvents();
    expect(orders.get("ns/late")).toBeDefined();
  });

  it("runs one reconcile by key and reports a thrown error instead of throwing", async () => {
    const def = {
      name: "t",
      watches: [],
      reconcile: ({ key }: { key: string }) =>
        key === "ns/bad" ? Promise.reject(new Error("boom")) : Promise.resolve({ requeueAfter: 7 }),
    };
    expect(await rig.reconcile(def, "ns/good")).toEqual({
      ok: true,
      result: { requeueAfter: 7 },
      requeueAfter: 7,
    });
    const bad = await rig.reconcile(def, "ns/bad");
    expect(bad.ok).toBe(false);
  });
});
