import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { isAlreadyExists, isConflict } from "../../src/kube/api-errors.js";
import type { KubeClient } from "../../src/kube/client.js";
import { CoreResources, resourceType } from "../../src/kube/resources.js";
import type { KubeObject } from "../../src/kube/types.js";
import {
  type Condition,
  getCondition,
  isTrue,
  setCondition,
} from "../../src/controllers/runtime/conditions.js";
import { watch } from "../../src/controllers/runtime/controller.js";
import { Manager } from "../../src/controllers/runtime/manager.js";
import { FIELD_MANAGER, ResourceClient } from "../../src/controllers/runtime/resource-client.js";
import type { Outcome } from "../../src/controllers/runtime/work-queue.js";
import { rigVar } from "../support/rig.js";
import {
  type ConfigMap,
  createNamespace,
  deleteNamespace,
  eventually,
  kubeClient,
  memoryLogger,
  mirrorController,
  suffix,
} from "./support.js";

/**
 * The runtime against a real kube-apiserver (the shared rig): a controller built on it reconciles
 * creates, updates and deletes, and write conflicts (409) are retried until the state converges.
 */

interface Widget extends KubeObject {
  spec?: { value?: string };
  status?: { observedValue?: string; conditions?: Condition[] };
}

const id = suffix();
const ns = `rt-ctl-${id}`;
const group = `rt${id}.test.dns01.io`;
const widgets = resourceType(group, "v1", "widgets", "Widget", true);

let client: KubeClient;
const stop = new AbortController();
let running: Promise<unknown> | undefined;
const reconciled: string[] = [];
const conflicts: Outcome[] = [];
let interfereWithMirror: ((mirror: ConfigMap) => Promise<void>) | undefined;
let interfereWithWidget: ((w: Widget) => Promise<void>) | undefined;

/** Keeps the retries caused by optimistic-concurrency conflicts (not AlreadyExists on create). */
function recordConflicts(o: Outcome): void {
  if (o.kind === "retry" && isConflict(o.error) && !isAlreadyExists(o.error)) conflicts.push(o);
}

async function installWidgetCrd(): Promise<void> {
  const crds = new ResourceClient<KubeObject & { status?: { conditions?: Condition[] } }>(
    client,
    CoreResources.customResourceDefinitions,
  );
  await crds.create({
    metadata: { name: `widgets.${group}` },
    spec: {
      group,
      scope: "Namespaced",
      names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties: {
                spec: { type: "object", properties: { value: { type: "string" } } },
                status: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
              },
            },
          },
        },
      ],
    },
  } as KubeObject);
  await eventually("the Widget CRD to be established", async () => {
    const crd = await crds.get(undefined, `widgets.${group}`);
    return isTrue(crd.status?.conditions, "Established");
  });
}

beforeAll(async () => {
  client = kubeClient(rigVar("KUBECONFIG"));
  await createNamespace(client, ns);
  await installWidgetCrd();

  const { log } = memoryLogger();
  const mgr = new Manager({ client, log, shutdownTimeoutMs: 5000 });
  const configMaps = mgr.informer<ConfigMap>(CoreResources.configMaps, { namespace: ns });
  mgr.add({
    ...mirrorController(client, configMaps, {
      beforeWrite: async (m) => {
        const f = interfereWithMirror;
        interfereWithMirror = undefined;
        await f?.(m);
      },
      reconciled: (key) => reconciled.push(key),
    }),
    onOutcome: recordConflicts,
  });

  const widgetInformer = mgr.informer<Widget>(widgets, { namespace: ns });
  const widgetApi = new ResourceClient<Widget>(client, widgets);
  mgr.add({
    name: "widget-status",
    onOutcome: recordConflicts,
    backoff: { baseMs: 50, maxMs: 1000 },
    watches: [watch(widgetInformer)],
    async reconcile({ key }) {
      const w = widgetInformer.get(key);
      if (w === undefined) return;
      const conditions = setCondition(
        w.status?.conditions,
        {
          type: "Ready",
          status: "True",
          reason: "Observed",
          message: `value is ${w.spec?.value ?? ""}`,
          observedGeneration: w.metadata?.generation ?? 0,
        },
        new Date(),
      );
      if (
        w.status?.observedValue === w.spec?.value &&
        getCondition(w.status?.conditions, "Ready")?.message === conditions[0]?.message
      ) {
        return;
      }
      const f = interfereWithWidget;
      interfereWithWidget = undefined;
      await f?.(w);
      await widgetApi.patchStatus(w, { observedValue: w.spec?.value ?? "", conditions });
    },
  });
  running = mgr.run({ signal: stop.signal, handleSignals: false });
  await eventually("the manager's caches to sync", () => mgr.isReady());
}, 60_000);

afterAll(async () => {
  stop.abort();
  await running;
  try {
    await new ResourceClient(client, CoreResources.customResourceDefinitions).delete(
      undefined,
      `widgets.${group}`,
    );
  } finally {
    await deleteNamespace(client, ns);
  }
}, 30_000);

const cms = () => new ResourceClient<ConfigMap>(client, CoreResources.configMaps);

describe("a controller on the runtime, against a real API server", () => {
  it("reconciles the creation, update and deletion of a ConfigMap", async () => {
    await cms().create({
      metadata: { name: "alpha", namespace: ns, labels: { role: "source" } },
      data: { v: "1" },
    });
    const created = await eventually("the mirror to be created", () => cms().find(ns, "alpha-mirror"));
    expect(created.data).toEqual({ v: "1" });

    const source = await cms().get(ns, "alpha");
    await cms().replace({ ...source, data: { v: "2", w: "x" } });
    await eventually("the mirror to follow the update", async () => {
      const m = await cms().get(ns, "alpha-mirror");
      return m.data?.["v"] === "2" && m.data["w"] === "x";
    });

    await cms().delete(ns, "alpha");
    await eventually(
      "the mirror to be deleted",
      async () => (await cms().find(ns, "alpha-mirror")) === undefined,
    );
    expect(reconciled).toContain(`${ns}/alpha`);
  }, 60_000);

  it("retries an object update that hit a 409 conflict, and converges on the newest state", async () => {
    await cms().create({
      metadata: { name: "beta", namespace: ns, labels: { role: "source" } },
      data: { v: "1" },
    });
    await eventually("the mirror to be created", () => cms().find(ns, "beta-mirror"));
    const before = conflicts.length;
    // On the next write, someone else changes the mirror first: the controller's PUT carries a stale
    // resourceVersion and must get 409, then retry from the newer cached object.
    interfereWithMirror = async (m) => {
      const fresh = await cms().get(ns, m.metadata?.name ?? "");
      await cms().replace({ ...fresh, data: { v: "tampered" } });
    };
    const source = await cms().get(ns, "beta");
    await cms().replace({ ...source, data: { v: "2" } });
    await eventually(
      "the mirror to converge on the source",
      async () => (await cms().get(ns, "beta-mirror")).data?.["v"] === "2",
    );
    expect(interfereWithMirror).toBeUndefined();
    expect(conflicts.length).toBeGreaterThan(before);
    expect(conflicts.some((c) => c.key === `${ns}/beta`)).toBe(true);
  }, 60_000);

  it("writes status through the status subresource, retries a 409 there, and converges", async () => {
    const api = new ResourceClient<Widget>(client, widgets);
    const before = conflicts.length;
    interfereWithWidget = async (w) => {
      // The spec changes between the controller's read and its status write.
      const fresh = await api.get(ns, w.metadata?.name ?? "");
      await api.replace({ ...fresh, spec: { value: "second" } });
    };
    await api.create({ metadata: { name: "w1", namespace: ns }, spec: { value: "first" } });
    const done = await eventually("the widget's status to show the newest spec", async () => {
      const w = await api.get(ns, "w1");
      return w.status?.observedValue === "second" ? w : undefined;
    });
    expect(conflicts.slice(before).some((c) => c.key === `${ns}/w1`)).toBe(true);
    const ready = getCondition(done.status?.conditions, "Ready");
    expect(ready).toMatchObject({
      status: "True",
      reason: "Observed",
      observedGeneration: done.metadata?.generation,
    });
    expect(done.spec?.value).toBe("second");
    // The status was written by our field manager, on the status subresource.
    const raw = await client.get<{
      metadata: { managedFields?: { manager: string; subresource?: string }[] };
    }>(`/apis/${group}/v1/namespaces/${ns}/widgets/w1`);
    expect(
      raw.metadata.managedFields?.some((f) => f.manager === FIELD_MANAGER && f.subresource === "status"),
    ).toBe(true);
  }, 60_000);

  it("writes status with server-side apply as the dns01-operator field manager", async () => {
    const api = new ResourceClient<Widget>(client, widgets);
    const w = await api.create({ metadata: { name: "w2", namespace: ns }, spec: { value: "x" } });
    const applied = await api.applyStatus(w, { observedValue: "applied" });
    expect(applied.status?.observedValue).toBe("applied");
  }, 30_000);
});
