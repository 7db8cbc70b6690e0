import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubeClient } from "../../src/kube/client.js";
import { CoreResources, collectionPath } from "../../src/kube/resources.js";
import type { KubeList } from "../../src/kube/types.js";
import type { Informer } from "../../src/controllers/runtime/informer.js";
import { Manager } from "../../src/controllers/runtime/manager.js";
import { ResourceClient } from "../../src/controllers/runtime/resource-client.js";
import { parseRigEnv, rigCommand } from "../support/rig.js";
import {
  type ConfigMap,
  type LogRecord,
  createNamespace,
  eventually,
  kubeClient,
  memoryLogger,
  mirrorController,
} from "./support.js";

/**
 * Informers and controllers survive an API server restart (etcd kept). This test stops and starts
 * kube-apiserver, so it runs on a rig of its own, never the shared one.
 */

const rigDir = mkdtempSync(join(tmpdir(), "dns01-rt-restart-"));
const ns = "restart";
let client: KubeClient;
let configMaps: Informer<ConfigMap>;
let records: LogRecord[];
const stop = new AbortController();
let running: Promise<unknown> | undefined;
let rigUp = false;

beforeAll(async () => {
  // RIG_OWNER_PID: the rig's watchdog tears it down if this test process dies without afterAll.
  rigCommand(rigDir, "up", { RIG_OWNER_PID: String(process.pid) });
  rigUp = true;
  const env = parseRigEnv(join(rigDir, "env"));
  client = kubeClient(env["KUBECONFIG"] ?? "");
  await createNamespace(client, ns);

  const mem = memoryLogger();
  records = mem.records;
  const mgr = new Manager({ client, log: mem.log, shutdownTimeoutMs: 5000 });
  configMaps = mgr.informer<ConfigMap>(CoreResources.configMaps, { namespace: ns });
  mgr.add(mirrorController(client, configMaps));
  running = mgr.run({ signal: stop.signal, handleSignals: false });
  await eventually("the caches to sync", () => mgr.isReady());
}, 180_000);

afterAll(async () => {
  stop.abort();
  await running;
  if (rigUp) rigCommand(rigDir, "down");
}, 60_000);

const cms = () => new ResourceClient<ConfigMap>(client, CoreResources.configMaps);

describe("informers across an API server restart", () => {
  it("recover after kube-apiserver stops and starts again, and the controller keeps reconciling", async () => {
    await cms().create({
      metadata: { name: "one", namespace: ns, labels: { role: "source" } },
      data: { v: "1" },
    });
    await eventually("the first mirror", () => cms().find(ns, "one-mirror"));

    const failuresBefore = records.filter((r) => r.message === "list or watch failed; will retry").length;
    rigCommand(rigDir, "stop-apiserver");
    // The watch breaks and the informer starts retrying; its cache keeps serving meanwhile.
    await eventually(
      "the informer to notice the broken watch",
      () => records.filter((r) => r.message === "list or watch failed; will retry").length > failuresBefore,
    );
    expect(configMaps.get(`${ns}/one`)?.data).toEqual({ v: "1" });
    rigCommand(rigDir, "start-apiserver");

    // Changes made after the restart reach the controller: an update, a create and a delete.
    const one = await cms().get(ns, "one");
    await cms().replace({ ...one, data: { v: "2" } });
    await cms().create({
      metadata: { name: "two", namespace: ns, labels: { role: "source" } },
      data: { v: "x" },
    });
    await eventually(
      "the mirrors to converge after the restart",
      async () =>
        (await cms().find(ns, "one-mirror"))?.data?.["v"] === "2" &&
        (await cms().find(ns, "two-mirror")) !== undefined,
      90_000,
    );
    await cms().delete(ns, "one");
    await eventually(
      "the deleted source's mirror to go",
      async () => (await cms().find(ns, "one-mirror")) === undefined,
    );

    // The cache holds exactly what the API server has, at the same versions.
    const listed = await client.get<KubeList<ConfigMap>>(collectionPath(CoreResources.configMaps, ns));
    await eventually("the cache to match a fresh list", () => {
      const want = listed.items
        .map((o) => `${o.metadata?.name ?? ""}@${o.metadata?.resourceVersion ?? ""}`)
        .sort();
      const have = configMaps
        .list()
        .map((o) => `${o.metadata?.name ?? ""}@${o.metadata?.resourceVersion ?? ""}`)
        .sort();
      return JSON.stringify(want) === JSON.stringify(have);
    });
  }, 180_000);
});
