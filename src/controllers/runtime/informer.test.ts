import { describe, expect, it } from "@jest/globals";
import { KubeApiError } from "../../kube/client.js";
import type { KubeList, KubeObject, WatchEvent } from "../../kube/types.js";
import { silentLogger } from "../../log.js";
import { FakeClock, flushPromises } from "./fake-clock.js";
import { Informer, type ListWatchSource } from "./informer.js";
import { ownerKeys } from "./keys.js";

interface Obj extends KubeObject {
  data?: string;
}

/**
 * An in-memory API server for one resource: a history of events by resourceVersion, compaction,
 * and open watches the test can end or fail.
 */
class FakeServer implements ListWatchSource<Obj> {
  rv = 100;
  objects = new Map<string, Obj>();
  history: WatchEvent<Obj>[] = [];
  compactedTo = 0;
  lists = 0;
  listFailures = 0;
  watchRequests: string[] = [];
  answerWatchWithGone = false;
  private watches = new Set<{ push: (ev: WatchEvent<Obj>) => void; end: (err?: Error) => void }>();

  write(type: "ADDED" | "MODIFIED" | "DELETED", ns: string, name: string, data = ""): void {
    this.rv++;
    const obj: Obj = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        namespace: ns,
        name,
        resourceVersion: String(this.rv),
        labels: { app: name.split("-")[0] ?? "" },
        managedFields: [{ manager: "test" }],
        ownerReferences: [
          { apiVersion: "dns01.io/v1alpha1", kind: "Certificate", name: `cert-${data}`, uid: "u" },
        ],
      },
      data,
    };
    if (type === "DELETED") this.objects.delete(`${ns}/${name}`);
    else this.objects.set(`${ns}/${name}`, obj);
    const ev = { type, object: structuredClone(obj) };
    this.history.push(ev);
    for (const w of this.watches) w.push(structuredClone(ev));
  }

  compact(): void {
    this.compactedTo = this.rv;
  }

  endWatches(err?: Error): void {
    for (const w of this.watches) w.end(err);
  }

  sendToWatches(ev: WatchEvent<Obj>): void {
    for (const w of this.watches) w.push(ev);
  }

  openWatches(): number {
    return this.watches.size;
  }

  list(): Promise<KubeList<Obj>> {
    this.lists++;
    if (this.listFailures > 0) {
      this.listFailures--;
      return Promise.reject(new Error("connect ECONNREFUSED"));
    }
    return Promise.resolve({
      metadata: { resourceVersion: String(this.rv) },
      items: [...this.objects.values()].map((o) => structuredClone(o)),
    });
  }

  watch(
    opts: { resourceVersion: string; signal: AbortSignal },
    onEvent: (ev: WatchEvent<Obj>) => void,
  ): Promise<void> {
    this.watchRequests.push(opts.resourceVersion);
    if (opts.signal.aborted) return Promise.reject(new Error("aborted"));
    const from = Number(opts.resourceVersion);
    if (this.answerWatchWithGone) {
      this.answerWatchWithGone = false;
      return Promise.reject(
        new KubeApiError("GET", "/api/v1/configmaps", 410, { code: 410, reason: "Expired" }, {}),
      );
    }
    return new Promise((resolve, reject) => {
      const w = {
        push: (ev: WatchEvent<Obj>) => {
          try {
            onEvent(ev);
          } catch (err) {
            this.watches.delete(w);
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        },
        end: (err?: Error) => {
          this.watches.delete(w);
          if (err) reject(err);
          else resolve();
        },
      };
      this.watches.add(w);
      opts.signal.addEventListener("abort", () => {
        w.end(new Error("aborted"));
      });
      if (from < this.compactedTo) {
        w.push({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } as Obj });
        return;
      }
      for (const ev of this.history) {
        if (Number(ev.object.metadata?.resourceVersion) > from) w.push(structuredClone(ev));
      }
    });
  }
}

function setup(server = new FakeServer()) {
  const clock = new FakeClock();
  const informer = new Informer<Obj>({
    source: server,
    name: "configmaps",
    log: silentLogger(),
    clock,
    random: () => 0,
    retry: { baseMs: 100, maxMs: 1000 },
  });
  const events: string[] = [];
  informer.addEventHandler({
    onAdd: (o) => events.push(`add ${o.metadata?.name ?? ""}`),
    onUpdate: (old, o) => events.push(`update ${o.metadata?.name ?? ""} ${old.data ?? ""}->${o.data ?? ""}`),
    onDelete: (o) => events.push(`delete ${o.metadata?.name ?? ""}`),
  });
  return { server, clock, informer, events };
}

describe("Informer", () => {
  it("lists, reports synced, then follows the watch with add, update and delete events", async () => {
    const server = new FakeServer();
    server.write("ADDED", "ns1", "web-a", "1");
    server.write("ADDED", "ns2", "db-b", "1");
    const { informer, events } = setup(server);
    informer.start();
    expect(await informer.waitForSync()).toBe(true);
    expect(events.sort()).toEqual(["add db-b", "add web-a"]);
    expect(informer.lastResourceVersion()).toBe("102");

    events.length = 0;
    server.write("MODIFIED", "ns1", "web-a", "2");
    server.write("ADDED", "ns1", "web-c", "1");
    server.write("DELETED", "ns2", "db-b");
    await flushPromises();
    expect(events).toEqual(["update web-a 1->2", "add web-c", "delete db-b"]);
    expect(informer.get("ns1/web-a")?.data).toBe("2");
    expect(informer.get("ns2/db-b")).toBeUndefined();
    expect(informer.lastResourceVersion()).toBe("105");
    await informer.stop();
  });

  it("answers list queries by namespace, label selector and index", async () => {
    const server = new FakeServer();
    server.write("ADDED", "ns1", "web-a", "x");
    server.write("ADDED", "ns1", "db-a", "y");
    server.write("ADDED", "ns2", "web-b", "x");
    const { informer } = setup(server);
    informer.addIndex("owner", (o) => ownerKeys(o, { group: "dns01.io", kind: "Certificate" }));
    informer.start();
    await informer.waitForSync();
    const names = (objs: Obj[]) => objs.map((o) => o.metadata?.name).sort();
    expect(names(informer.list())).toEqual(["db-a", "web-a", "web-b"]);
    expect(names(informer.list({ namespace: "ns1" }))).toEqual(["db-a", "web-a"]);
    expect(names(informer.list({ labelSelector: "app=web" }))).toEqual(["web-a", "web-b"]);
    expect(
      names(informer.list({ namespace: "ns2", labelSelector: { matchLabels: { app: "web" } } })),
    ).toEqual(["web-b"]);
    expect(names(informer.byIndex("owner", "ns1/cert-x"))).toEqual(["web-a"]);
    server.write("MODIFIED", "ns1", "web-a", "z");
    await flushPromises();
    expect(names(informer.byIndex("owner", "ns1/cert-x"))).toEqual([]);
    expect(names(informer.byIndex("owner", "ns1/cert-z"))).toEqual(["web-a"]);
    server.write("DELETED", "ns1", "web-a");
    await flushPromises();
    expect(informer.byIndex("owner", "ns1/cert-z")).toEqual([]);
    expect(names(informer.list({ namespace: "ns1" }))).toEqual(["db-a"]);
    await informer.stop();
  });

  it("stores frozen objects without managedFields", async () => {
    const server = new FakeServer();
    server.write("ADDED", "ns1", "web-a", "1");
    const { informer } = setup(server);
    informer.start();
    await informer.waitForSync();
    const obj = informer.get("ns1/web-a");
    expect(obj?.metadata?.managedFields).toBeUndefined();
    expect(Object.isFrozen(obj)).toBe(true);
    expect(Object.isFrozen(obj?.metadata?.labels)).toBe(true);
    await informer.stop();
  });

  it("resumes a watch that ended from the last resourceVersion, without listing again", async () => {
    const server = new FakeServer();
    server.write("ADDED", "ns1", "web-a", "1");
    const { informer, events, clock } = setup(server);
    informer.start();
    await informer.waitForSync();
    server.write("MODIFIED", "ns1", "web-a", "2"); // rv 102, seen
    await flushPromises();
    server.endWatches();
    server.write("MODIFIED", "ns1", "web-a", "3"); // rv 103, written while no watch is open
    await clock.advance(2000);
    expect(server.lists).toBe(1);
    expect(server.watchRequests).toEqual(["101", "102"]);
    expect(events).toEqual(["add web-a", "update web-a 1->2", "update web-a 2->3"]);
    await informer.stop();
  });

  it("lists again after a 410 Gone in the watch, and turns the difference into events", async () => {
    const server = new FakeServer();
    server.write("ADDED", "ns1", "web-a", "1");
    server.write("ADDED", "ns1", "web-b", "1");
    const { informer, events, clock } = setup(server);
    informer.start();
    await informer.waitForSync();
    server.endWatches(new Error("connection reset"));
    // While the informer is away: one object deleted, one changed, one created, and the history compacted.
    server.write("DELETED", "ns1", "web-a");
    server.write("MODIFIED", "ns1", "web-b", "2");
    server.write("ADDED", "ns1", "web-c", "1");
    server.compact();
    events.length = 0;
    await clock.advance(5000);
    expect(server.lists).toBe(2);
    expect(events.sort()).toEqual(["add web-c", "delete web-a", "update web-b 1->2"]);
    expect(informer.keys().sort()).toEqual(["ns1/web-b", "ns1/web-c"]);
    expect(informer.lastResourceVersion()).toBe(String(server.rv));
    expect(server.openWatches()).toBe(1);
    await informer.stop();
  });

  it("lists again when the watch request itself answers 410 Gone", async () => {
    const server = new FakeServer();
    server.write("ADDED", "ns1", "web-a", "1");
    const { informer, clock } = setup(server);
    informer.start();
    await informer.waitForSync();
    server.answerWatchWithGone = true;
    server.endWatches();
    await clock.advance(2000);
    expect(server.lists).toBe(2);
    expect(server.openWatches()).toBe(1);
    await informer.stop();
  });

  it("lists again, after a backoff, when the watch reports an error other than 410", async () => {
    const server = new FakeServer();
    server.write("ADDED", "ns1", "web-a", "1");
    const { informer, clock, events } = setup(server);
    informer.start();
    await informer.waitForSync();
    await flushPromises();
    server.objects.clear(); // as after an etcd restore: the object is gone without a DELETED event
    server.sendToWatches({
      type: "ERROR",
      object: { kind: "Status", code: 504, reason: "Timeout", message: "Too large resource version" } as Obj,
    });
    await flushPromises();
    expect(server.lists).toBe(1);
    await clock.advance(100);
    expect(server.lists).toBe(2);
    expect(events).toEqual(["add web-a", "delete web-a"]);
    expect(server.openWatches()).toBe(1);
    await informer.stop();
  });

  it("moves its resourceVersion on with bookmarks, so a resumed watch starts after them", async () => {
    const server = new FakeServer();
    server.write("ADDED", "ns1", "web-a", "1");
    const { informer, events, clock } = setup(server);
    informer.start();
    await informer.waitForSync();
    await flushPromises();
    server.rv = 500;
    server.sendToWatches({
      type: "BOOKMARK",
      object: { kind: "ConfigMap", metadata: { resourceVersion: "500" } },
    });
    await flushPromises();
    expect(informer.lastResourceVersion()).toBe("500");
    expect(events).toEqual(["add web-a"]);
    server.endWatches();
    await clock.advance(2000);
    expect(server.watchRequests.at(-1)).toBe("500");
    await informer.stop();
  });

  it("retries a failing list with backoff and syncs once the server answers", async () => {
    const server = new FakeServer();
    server.write("ADDED", "ns1", "web-a", "1");
    server.listFailures = 3;
    const { informer, clock } = setup(server);
    informer.start();
    await flushPromises();
    expect(informer.hasSynced()).toBe(false);
    await clock.advance(99);
    expect(server.lists).toBe(1);
    await clock.advance(1); // first retry after 100 ms, then 200, 400
    expect(server.lists).toBe(2);
    await clock.advance(200);
    expect(server.lists).toBe(3);
    expect(informer.hasSynced()).toBe(false);
    await clock.advance(400);
    expect(server.lists).toBe(4);
    expect(informer.hasSynced()).toBe(true);
    await informer.stop();
  });

  it("keeps going when an event handler throws, and other handlers still get the event", async () => {
    const server = new FakeServer();
    const { informer, events } = setup(server);
    informer.addEventHandler({
      onAdd: () => {
        throw new Error("handler bug");
      },
    });
    informer.start();
    await informer.waitForSync();
    server.write("ADDED", "ns1", "web-a", "1");
    server.write("ADDED", "ns1", "web-b", "1");
    await flushPromises();
    expect(events).toEqual(["add web-a", "add web-b"]);
    expect(server.openWatches()).toBe(1);
    await informer.stop();
  });

  it("replays the objects it holds to a handler added late", async () => {
    const server = new FakeServer();
    server.write("ADDED", "ns1", "web-a", "1");
    const { informer } = setup(server);
    informer.start();
    await informer.waitForSync();
    const late: string[] = [];
    informer.addEventHandler({ onAdd: (o) => late.push(o.metadata?.name ?? "") });
    expect(late).toEqual(["web-a"]);
    await informer.stop();
  });

  it("aborts the open watch on stop, and a pending waitForSync resolves false", async () => {
    const server = new FakeServer();
    server.listFailures = 100;
    const { informer, clock } = setup(server);
    informer.start();
    const synced = informer.waitForSync();
    await clock.advance(1000);
    await informer.stop();
    expect(await synced).toBe(false);

    const s2 = new FakeServer();
    const second = setup(s2);
    second.informer.start();
    await second.informer.waitForSync();
    await flushPromises();
    expect(s2.openWatches()).toBe(1);
    await second.informer.stop();
    expect(s2.openWatches()).toBe(0);
  });
});
