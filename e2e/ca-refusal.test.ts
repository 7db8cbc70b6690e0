import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { createServer, connect, type Server, type Socket } from "node:net";
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
  condition,
  createObject,
  deleteObject,
  dns01,
  getCustom,
  loadExample,
  rigIssuerVars,
  waitForReadyCertificate,
  type Obj,
} from "./support/fixtures.js";
import { cleanUpChallenges } from "./support/emulators.js";
import { OperatorProcess, rigOperatorArgs } from "./support/operator.js";
import { watchCustomObjects, type CustomObjectWatch } from "./support/watch.js";

/**
 * When the CA says no, the operator says why and keeps going. A name Pebble refuses (an IP address
 * written as a DNS name: the CRD's DNS name pattern lets it through, the CA does not) fails the
 * Certificate with the CA's own words, a Warning Event, and retries spaced by the issuance backoff
 * (2 s, then 4 s with --issuance-backoff-base 2s), one Order per attempt. A ClusterIssuer whose CA
 * does not answer at all is not Ready, says what failed, and is retried until the CA answers.
 */

const BACKOFF_BASE_MS = 2000;
/** An IP address as a "DNS name": RFC 8738 wants an `ip` identifier, so Pebble (like Let's Encrypt) refuses it. */
const REFUSED_NAME = "192.0.2.1";
/** Pebble's problem detail for it (wfe.go, verifyOrder). */
const CA_DETAIL = "Order included a DNS identifier with an IP address value";

type Meta = Obj["metadata"] & {
  labels?: Record<string, string>;
  generation?: number;
};

function status(o: Obj | undefined): Record<string, unknown> {
  return (o?.["status"] as Record<string, unknown> | undefined) ?? {};
}

/** A loopback port on which nothing listens (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** A plain TCP relay from 127.0.0.1:`port` to `target` (TLS passes through untouched). */
async function relay(port: number, target: URL): Promise<Server> {
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = connect(Number(target.port), target.hostname);
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on("error", () => s.destroy());
      s.on("close", () => sockets.delete(s));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const close = server.close.bind(server);
  return Object.assign(server, {
    close: (cb?: (err?: Error) => void) => {
      for (const s of sockets) s.destroy();
      return close(cb);
    },
  });
}

describe("CA refusals and an unreachable CA", () => {
  let c: TestClients;
  let ns: string;
  let issuer: Obj;
  let operator: OperatorProcess;
  const extraIssuers: Obj[] = [];
  /** Every watch of the suite, stopped when it ends. */
  const watches: CustomObjectWatch[] = [];

  beforeAll(async () => {
    c = testClients();
    ns = await createNamespace(c.core, "e2e-refusal");
    await createObject(c, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "rig-tsig", namespace: ns },
      stringData: { "tsig-secret": rigVar("TSIG_SECRET") },
    });
    issuer = loadExample("cluster-issuer-pebble.yaml", rigIssuerVars());
    issuer.metadata.name = `pebble-refusal-${suffix()}`;
    await createObject(c, issuer);
    operator = new OperatorProcess(
      rigOperatorArgs(ns, ["--no-leader-elect", "--issuance-backoff-base", `${BACKOFF_BASE_MS / 1000}s`]),
    );
    operator.start();
  });

  afterAll(async () => {
    for (const w of watches) w.stop();
    try {
      // While the operator still runs, so that it removes any TXT value and its finalizers.
      await cleanUpChallenges(c, ns);
    } finally {
      await operator.stop();
      for (const i of [issuer, ...extraIssuers]) await deleteObject(c, i);
      await deleteNamespace(c.core, ns);
    }
  }, 60_000);

  /** Calls `onEvent` for each event of a kind in the test namespace, from now until the suite ends. */
  async function watchKind(plural: string, onEvent: (type: string, obj: Obj) => void): Promise<void> {
    watches.push(await watchCustomObjects(c.kc, { ...dns01, plural, namespace: ns }, onEvent));
  }

  function certificate(name: string, dnsNames: string[]): Obj {
    const cert = loadExample("certificate-wildcard.yaml", {});
    cert.metadata = { name, namespace: ns };
    const spec = cert["spec"] as Record<string, unknown>;
    spec["secretName"] = `${name}-tls`;
    spec["dnsNames"] = dnsNames;
    spec["issuerRef"] = { kind: "ClusterIssuer", name: issuer.metadata.name };
    return cert;
  }

  it("shows the CA's refusal on the Certificate and retries it with a growing backoff, one Order per attempt", async () => {
    const name = `refused-${suffix()}`;
    // Every Order of this Certificate ever created, and when each failed attempt was recorded.
    const ordersCreated = new Set<string>();
    const attempts: { n: number; at: number; lastFailureTime: string }[] = [];
    // Every Ready condition seen between attempts (a failure recorded, no attempt running).
    const readyInBackoff: { reason: string; message: string }[] = [];
    await watchKind("orders", (type, o) => {
      if (type === "ADDED" && (o.metadata as Meta).labels?.["dns01.io/certificate-name"] === name) {
        ordersCreated.add(o.metadata.name);
      }
    });
    await watchKind("certificates", (_type, o) => {
      if (o.metadata.name !== name) return;
      const n = Number(status(o)["failedIssuanceAttempts"] ?? 0);
      const ready = condition(o, "Ready");
      if (n > 0 && ready && condition(o, "Issuing")?.status !== "True") {
        readyInBackoff.push({ reason: ready.reason, message: ready.message });
      }
      if (n > (attempts.at(-1)?.n ?? 0)) {
        attempts.push({ n, at: Date.now(), lastFailureTime: String(status(o)["lastFailureTime"]) });
      }
    });
    await createObject(c, certificate(name, [REFUSED_NAME]));

    await waitFor("three failed issuance attempts", () => (attempts.length >= 3 ? true : undefined), 60_000);
    // Taken when the third failure is recorded: the fourth attempt is 8 s away.
    const ordersAtThird = ordersCreated.size;
    const cert = await getCustom(c, "certificates", name, ns);

    // The CA's own message, on Ready and Issuing.
    const ready = condition(cert, "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "Failed" });
    expect(ready?.message).toContain(CA_DETAIL);
    expect(ready?.message).toContain(REFUSED_NAME);
    expect(condition(cert, "Issuing")).toMatchObject({ status: "False", reason: "Failed" });

    // ... and keeps saying so through each backoff, instead of flapping back to the generic
    // "Secret does not exist" while it waits.
    expect(readyInBackoff.length).toBeGreaterThanOrEqual(3);
    for (const r of readyInBackoff) {
      expect(r.reason).toBe("Failed");
      expect(r.message).toContain(CA_DETAIL);
    }

    // Backoff: attempts 1, 2, 3 in order, 2 s then 4 s apart. lastFailureTime has whole seconds and
    // the next attempt is due `backoff` after it, so on that clock the steps are exact lower bounds;
    // measured here, the truncation may make a gap up to a second shorter.
    expect(attempts.slice(0, 3).map((a) => a.n)).toEqual([1, 2, 3]);
    const [a1, a2, a3] = attempts as [(typeof attempts)[0], (typeof attempts)[0], (typeof attempts)[0]];
    const gap1 = a2.at - a1.at;
    const gap2 = a3.at - a2.at;
    expect(gap1).toBeGreaterThanOrEqual(BACKOFF_BASE_MS - 1000);
    expect(gap2).toBeGreaterThanOrEqual(2 * BACKOFF_BASE_MS - 1000);
    expect(gap2).toBeGreaterThan(gap1);
    expect(gap2).toBeLessThan(2 * BACKOFF_BASE_MS + 5000);
    // On the status clock: at least 2 s, then at least 4 s.
    const t = [a1, a2, a3].map((a) => Date.parse(a.lastFailureTime) / 1000);
    expect(t.every((x) => Number.isFinite(x))).toBe(true);
    const [t1 = 0, t2 = 0, t3 = 0] = t;
    expect(t2 - t1).toBeGreaterThanOrEqual(BACKOFF_BASE_MS / 1000);
    expect(t3 - t2).toBeGreaterThanOrEqual((2 * BACKOFF_BASE_MS) / 1000);
    expect(t3 - t2).toBeGreaterThan(t2 - t1);

    // No retry storm: exactly one Order per attempt, and no Challenge (the CA refused the order itself).
    expect(ordersAtThird).toBe(3);
    const chs = (await c.custom.listNamespacedCustomObject({
      group: "dns01.io",
      version: "v1alpha1",
      plural: "challenges",
      namespace: ns,
      labelSelector: `dns01.io/certificate-name=${name}`,
    })) as { items: unknown[] };
    expect(chs.items).toEqual([]);

    // A Warning Event with the same message, counted once per failure (aggregated, not one per retry).
    const failed = await waitFor(
      "Warning Events Failed for all three failures",
      async () => {
        const events = await c.core.listNamespacedEvent({
          namespace: ns,
          fieldSelector: `involvedObject.name=${name}`,
        });
        const mine = events.items.filter((e) => e.type === "Warning" && e.reason === "Failed");
        return mine.reduce((sum, e) => sum + (e.count ?? 1), 0) >= 3 ? mine : undefined;
      },
      10_000,
    );
    for (const e of failed) expect(e.message).toContain(CA_DETAIL);
    expect(failed.length).toBeLessThanOrEqual(2);

    // The operator is alive and still issues other certificates.
    expect(operator.pid).toBeDefined();
    expect(() => process.kill(operator.pid ?? 0, 0)).not.toThrow();
    const good = `after-refusal-${suffix()}`;
    await createObject(c, certificate(good, [`${good}.example.test`]));
    await waitForReadyCertificate(c, ns, good);
  }, 120_000);

  it("reports an unreachable CA on the ClusterIssuer and retries until the CA answers", async () => {
    const port = await closedPort();
    const directory = new URL(rigVar("ACME_DIRECTORY_URL"));
    const unreachable = loadExample("cluster-issuer-pebble.yaml", {
      ...rigIssuerVars(),
      ACME_DIRECTORY_URL: `https://127.0.0.1:${port}${directory.pathname}`,
    });
    unreachable.metadata.name = `pebble-unreachable-${suffix()}`;
    (
      unreachable["spec"] as { acme: { privateKeySecretRef: { name: string } } }
    ).acme.privateKeySecretRef.name = `${unreachable.metadata.name}-account`;
    extraIssuers.push(unreachable);
    await createObject(c, unreachable);

    const notReady = await waitFor(
      "the ClusterIssuer to report the unreachable CA",
      async () => {
        const got = await getCustom(c, "clusterissuers", unreachable.metadata.name);
        return condition(got, "Ready")?.status === "False" ? got : undefined;
      },
      30_000,
    );
    const ready = condition(notReady, "Ready");
    expect(ready?.reason).toBe("ErrRegisterACMEAccount");
    expect(ready?.message).toContain("ECONNREFUSED");
    expect(ready?.message).toContain(String(port));

    // Retried with the work queue's backoff: the Warning Event is counted up, not duplicated.
    await waitFor(
      "the account registration to have failed at least twice",
      async () => {
        const events = await c.core.listNamespacedEvent({
          namespace: "default",
          fieldSelector: `involvedObject.name=${unreachable.metadata.name}`,
        });
        const count = events.items
          .filter((e) => e.type === "Warning" && e.reason === "ErrRegisterACMEAccount")
          .reduce((sum, e) => sum + (e.count ?? 1), 0);
        return count >= 2 ? true : undefined;
      },
      20_000,
    );
    expect(() => process.kill(operator.pid ?? 0, 0)).not.toThrow();

    // The CA comes up on that port, with no change to the ClusterIssuer: a retry registers the account.
    const server = await relay(port, directory);
    try {
      const got = await waitFor(
        "the ClusterIssuer to become Ready once its CA answers",
        async () => {
          const i = await getCustom(c, "clusterissuers", unreachable.metadata.name);
          return condition(i, "Ready")?.status === "True" ? i : undefined;
        },
        60_000,
      );
      expect((got.metadata as Meta).generation).toBe(1);
      expect(String((status(got)["acme"] as { uri?: string } | undefined)?.uri)).toContain(`:${port}/`);
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    }
  }, 120_000);
});
