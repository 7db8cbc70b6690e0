import { afterAll, afterEach, beforeAll, describe, expect, it } from "@jest/globals";
import { parseServer } from "../src/dns/server.js";
import { reply, startFakeDnsServer, type FakeDnsServer } from "../src/dns/testing/fake-server.js";
import { exchange } from "../src/dns/transport.js";
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
  dns01,
  getCustom,
  loadExample,
  rigIssuerVars,
  waitForReadyCertificate,
  type Obj,
} from "./support/fixtures.js";
import { cleanUpChallenges } from "./support/emulators.js";
import { OperatorProcess } from "./support/operator.js";
import { watchCustomObjects, type CustomObjectWatch } from "./support/watch.js";

/**
 * The operator is SIGKILLed in the middle of an issuance and started again: the same Order (same
 * name, same object) resumes, the Certificate becomes Ready with the key made before the crash, and
 * no TXT value stays in BIND, also when the Certificate is deleted while no operator runs.
 *
 * Pebble and BIND answer in milliseconds, so a kill timed by watching the API alone could land
 * after the issuance finished. The operator therefore talks to BIND through a gate in this process
 * (its RFC 2136 updates and its propagation checks alike; Pebble asks BIND directly): while the gate
 * hides TXT answers the operator sees no propagation and cannot ask the CA to validate, and while it
 * swallows updates a TXT write never completes. Each kill thus lands at a chosen step, every run.
 * The restarted operator has exactly the same flags; only the gate opens.
 */

const LEADER_FLAGS = [
  "--leader-election-lease-duration",
  "4s",
  "--leader-election-renew-deadline",
  "3s",
  "--leader-election-retry-period",
  "500ms",
];
/** From a SIGKILL to Ready: a lease to run out (4 s), then one issuance. */
const RESUME_TIMEOUT_MS = 60_000;
const CERTIFICATE_LABEL = "dns01.io/certificate-name";

/** What the gate lets through between the operator and BIND. */
interface GateRules {
  /** Answer TXT queries with an empty NOERROR, as a resolver that has not seen the record yet. */
  hideTxt: boolean;
  /** Swallow DNS UPDATE messages: the operator's write waits for an answer that never comes. */
  dropUpdates: boolean;
}

/** A DNS forwarder to BIND (UDP and TCP) whose rules can be changed while it runs. */
interface DnsGate {
  readonly address: string;
  readonly rules: GateRules;
  /** UPDATE messages swallowed so far. */
  dropped: number;
  open(): void;
  close(): Promise<void>;
}

const OPCODE_QUERY = 0;
const OPCODE_UPDATE = 5;
const TYPE_TXT = 16;

/** The opcode and first question type of a DNS message (its bytes are forwarded untouched). */
function inspect(message: Buffer): { opcode: number; qtype: number | undefined } {
  const opcode = (message.readUInt16BE(2) >> 11) & 0x0f;
  if (message.readUInt16BE(4) === 0) return { opcode, qtype: undefined };
  // Skip the question name (uncompressed in a query) to read its type.
  let i = 12;
  while (i < message.length && message[i] !== 0) i += (message[i] ?? 0) + 1;
  return { opcode, qtype: i + 2 < message.length ? message.readUInt16BE(i + 1) : undefined };
}

async function startDnsGate(upstream: string): Promise<DnsGate> {
  const target = parseServer(upstream);
  const gate: DnsGate = {
    address: "",
    rules: { hideTxt: false, dropUpdates: false },
    dropped: 0,
    open() {
      this.rules.hideTxt = false;
      this.rules.dropUpdates = false;
    },
    close: () => Promise.resolve(),
  };
  const server: FakeDnsServer = await startFakeDnsServer(async (request, transport) => {
    const { opcode, qtype } = inspect(request);
    if (opcode === OPCODE_UPDATE && gate.rules.dropUpdates) {
      gate.dropped += 1;
      return undefined;
    }
    if (opcode === OPCODE_QUERY && qtype === TYPE_TXT && gate.rules.hideTxt) return reply(request);
    try {
      // Signed updates pass byte for byte, so BIND checks the operator's own TSIG signature.
      return (await exchange(target, request, { protocol: transport, timeoutMs: 3000, retries: 1 })).response;
    } catch {
      return undefined; // the operator sees a timeout, as it would from an unreachable server
    }
  });
  return Object.assign(gate, { address: server.address, close: () => server.close() });
}

type Meta = Obj["metadata"] & {
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
};

function meta(o: Obj): Meta {
  return o.metadata;
}

function status(o: Obj | undefined): Record<string, unknown> {
  return (o?.["status"] as Record<string, unknown> | undefined) ?? {};
}

/** Every event of one kind in one namespace, recorded as it comes, for "which objects ever existed". */
class WatchRecord {
  readonly events: { type: string; obj: Obj; at: number }[] = [];
  private watch: CustomObjectWatch | undefined;

  static async start(c: TestClients, namespace: string, plural: string): Promise<WatchRecord> {
    const rec = new WatchRecord();
    rec.watch = await watchCustomObjects(c.kc, { ...dns01, plural, namespace }, (type, obj) => {
      rec.events.push({ type, obj, at: Date.now() });
    });
    return rec;
  }

  /** Objects of one Certificate: the latest version of each that exists now. */
  current(cert: string): Obj[] {
    const latest = new Map<string, Obj | undefined>();
    for (const e of this.events) {
      if (meta(e.obj).labels?.[CERTIFICATE_LABEL] !== cert) continue;
      latest.set(e.obj.metadata.name, e.type === "DELETED" ? undefined : e.obj);
    }
    return [...latest.values()].filter((o): o is Obj => o !== undefined);
  }

  /** The names and uids of every object of one Certificate ever seen, deleted ones included. */
  everSeen(cert: string): { name: string; uid: string }[] {
    const seen = new Map<string, { name: string; uid: string }>();
    for (const e of this.events) {
      if (meta(e.obj).labels?.[CERTIFICATE_LABEL] !== cert) continue;
      const uid = meta(e.obj).uid ?? "";
      seen.set(uid, { name: e.obj.metadata.name, uid });
    }
    return [...seen.values()];
  }

  stop(): void {
    this.watch?.stop();
  }
}

describe("an operator killed in the middle of an issuance", () => {
  let c: TestClients;
  let ns: string;
  let issuer: Obj;
  let gate: DnsGate;
  let orders: WatchRecord;
  let challenges: WatchRecord;
  /** Every operator process started, and those of the current case not yet stopped. */
  const all: OperatorProcess[] = [];
  let running: OperatorProcess[] = [];
  let args: string[];

  /** Starts a new operator process with the same flags as every other in this suite. */
  function startOperator(): OperatorProcess {
    const op = new OperatorProcess(args);
    all.push(op);
    running.push(op);
    op.start();
    return op;
  }

  /** SIGKILLs a running operator: no shutdown code runs, as in an OOM kill or a node failure. */
  async function kill(op: OperatorProcess): Promise<void> {
    // A null exit code means the signal ended it, not an exit of its own before we got there.
    expect(await op.stop("SIGKILL")).toBeNull();
  }

  beforeAll(async () => {
    c = testClients();
    ns = await createNamespace(c.core, "e2e-crash");
    await createObject(c, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "rig-tsig", namespace: ns },
      stringData: { "tsig-secret": rigVar("TSIG_SECRET") },
    });
    gate = await startDnsGate(rigVar("DNS_SERVER"));
    // The rig's example ClusterIssuer, renamed, with its RFC 2136 server behind the gate.
    issuer = loadExample("cluster-issuer-pebble.yaml", { ...rigIssuerVars(), DNS_SERVER: gate.address });
    issuer.metadata.name = `pebble-crash-${suffix()}`;
    await createObject(c, issuer);
    args = [
      "--kubeconfig",
      rigVar("KUBECONFIG"),
      "--namespace",
      ns,
      "--cluster-resource-namespace",
      ns,
      "--dns01-recursive-nameservers",
      gate.address,
      "--dns01-recursive-nameservers-only",
      "--health-addr",
      "127.0.0.1:0",
      // Port 9402 may be taken by the demo or another operator of the same test.
      "--metrics-addr",
      "127.0.0.1:0",
      ...LEADER_FLAGS,
    ];
    orders = await WatchRecord.start(c, ns, "orders");
    challenges = await WatchRecord.start(c, ns, "challenges");
    const op = startOperator();
    await waitFor(
      `ClusterIssuer ${issuer.metadata.name} to become Ready`,
      async () =>
        condition(await getCustom(c, "clusterissuers", issuer.metadata.name), "Ready")?.status === "True"
          ? true
          : undefined,
      30_000,
    );
    await op.stop();
    running = [];
  }, 60_000);

  afterEach(async () => {
    // Each case starts with no operator running, so that the one it kills is the one doing the work.
    for (const op of running.splice(0)) await op.stop();
  });

  afterAll(async () => {
    // Leave BIND as found: with the gate open, an operator removes every TXT value it presented
    // when the Certificates go.
    gate.open();
    const op = startOperator();
    try {
      await cleanUpChallenges(c, ns);
    } finally {
      await op.stop();
      orders.stop();
      challenges.stop();
      await gate.close();
      await deleteObject(c, issuer);
      await deleteNamespace(c.core, ns);
    }
  }, 90_000);

  /** Runs a case; when it fails, shows the end of each operator log of the case. */
  async function scenario(body: () => Promise<void>): Promise<void> {
    const first = all.length;
    try {
      await body();
    } catch (err) {
      for (const [i, op] of all.slice(first).entries()) {
        const tail = op.logText().split("\n").slice(-30).join("\n");
        process.stderr.write(`--- operator run ${i + 1} of the case (${op.logFile}), last lines:\n${tail}\n`);
      }
      if (err instanceof Error && err.cause !== undefined) {
        const cause = err.cause instanceof Error ? err.cause.message : JSON.stringify(err.cause);
        process.stderr.write(`--- caused by: ${cause}\n`);
      }
      throw err;
    }
  }

  function certificate(name: string): { cert: Obj; dnsName: string } {
    const dnsName = `${name}.example.test`;
    const cert = loadExample("certificate-wildcard.yaml", {});
    cert.metadata = { name, namespace: ns };
    const spec = cert["spec"] as Record<string, unknown>;
    spec["secretName"] = `${name}-tls`;
    spec["dnsNames"] = [dnsName, `*.${dnsName}`];
    spec["issuerRef"] = { kind: "ClusterIssuer", name: issuer.metadata.name };
    return { cert, dnsName };
  }

  /** The stored next private key of a Certificate (made before its Order), as PEM. */
  async function nextKey(cert: string): Promise<string> {
    const s = await c.core.readNamespacedSecret({ name: `${cert}-next-key`, namespace: ns });
    return Buffer.from(s.data?.["tls.key"] ?? "", "base64").toString("utf8");
  }

  async function issuedKey(cert: string): Promise<string> {
    const s = await c.core.readNamespacedSecret({ name: `${cert}-tls`, namespace: ns });
    return Buffer.from(s.data?.["tls.key"] ?? "", "base64").toString("utf8");
  }

  async function expectNotIssued(name: string): Promise<void> {
    const cert = await getCustom(c, "certificates", name, ns);
    expect(condition(cert, "Ready")?.status).not.toBe("True");
    await expect(c.core.readNamespacedSecret({ name: `${name}-tls`, namespace: ns })).rejects.toThrow();
  }

  async function expectNoTxtLeft(dnsName: string): Promise<void> {
    await waitFor(
      `no TXT value at _acme-challenge.${dnsName} in BIND`,
      async () => ((await challengeTxt(dnsName)).length === 0 ? true : undefined),
      15_000,
    );
  }

  /** After the restart: Ready, one Order (the one from before the kill), the key from before it. */
  async function expectResumed(
    name: string,
    dnsName: string,
    before: { order: { name: string; uid: string }; key: string; url?: unknown },
  ): Promise<void> {
    const cert = await waitForReadyCertificate(c, ns, name, RESUME_TIMEOUT_MS);
    expect(status(cert)["revision"]).toBe(1);
    expect(orders.everSeen(name)).toEqual([before.order]);
    const order = orders.current(name)[0];
    expect(order && meta(order).annotations?.["dns01.io/certificate-revision"]).toBe("1");
    expect(status(order)["state"]).toBe("valid");
    if (before.url !== undefined) expect(status(order)["url"]).toBe(before.url);
    expect(await issuedKey(name)).toBe(before.key);
    await expectNoTxtLeft(dnsName);
    await waitFor("the Order's Challenges to be deleted", () =>
      challenges.current(name).length === 0 ? true : undefined,
    );
  }

  it(
    "resumes the same Order when killed right after creating it",
    () =>
      scenario(async () => {
        const { cert, dnsName } = certificate(`crash-order-${suffix()}`);
        const name = cert.metadata.name;
        gate.rules.hideTxt = true;
        const first = startOperator();
        await createObject(c, cert);
        const order = await waitFor("the Order to be created", () => orders.everSeen(name)[0], 30_000);
        await kill(first);

        await expectNotIssued(name);
        const key = await nextKey(name);
        gate.open();
        startOperator();
        await expectResumed(name, dnsName, { order, key });
      }),
    120_000,
  );

  it(
    "resumes the same Order and Challenges when killed while its TXT values wait for propagation",
    () =>
      scenario(async () => {
        const { cert, dnsName } = certificate(`crash-txt-${suffix()}`);
        const name = cert.metadata.name;
        gate.rules.hideTxt = true;
        const first = startOperator();
        await createObject(c, cert);
        // Both Challenges (apex and wildcard) presented, and both values really in BIND.
        const presented = await waitFor(
          "both Challenges to have their TXT values in BIND",
          async () => {
            const chs = challenges.current(name);
            if (chs.length !== 2 || !chs.every((ch) => status(ch)["presented"] === true)) return undefined;
            const values = await challengeTxt(dnsName);
            const keys = chs.map((ch) => String((ch["spec"] as Record<string, unknown>)["key"]));
            return keys.every((k) => values.includes(k)) ? chs : undefined;
          },
          30_000,
        );
        await kill(first);

        await expectNotIssued(name);
        const order = orders.current(name)[0];
        expect(order).toBeDefined();
        const url = status(order)["url"];
        expect(typeof url).toBe("string");
        const key = await nextKey(name);
        const challengesBefore = presented.map((ch) => ({ name: ch.metadata.name, uid: meta(ch).uid ?? "" }));
        gate.open();
        startOperator();
        await expectResumed(name, dnsName, {
          order: orders.everSeen(name)[0] ?? { name: "", uid: "" },
          key,
          url,
        });
        expect(challenges.everSeen(name).sort((a, b) => a.name.localeCompare(b.name))).toEqual(
          challengesBefore.sort((a, b) => a.name.localeCompare(b.name)),
        );
      }),
    120_000,
  );

  it(
    "writes the TXT value after a restart when killed between noting it in status and writing it",
    () =>
      scenario(async () => {
        const { cert, dnsName } = certificate(`crash-write-${suffix()}`);
        const name = cert.metadata.name;
        gate.rules.hideTxt = true;
        gate.rules.dropUpdates = true;
        const droppedBefore = gate.dropped;
        const first = startOperator();
        await createObject(c, cert);
        // The record is noted in status and the operator's UPDATE has reached the gate (and hangs there).
        await waitFor(
          "a Challenge to note its TXT record while its write hangs",
          () =>
            challenges.current(name).some((ch) => status(ch)["presentedRecord"] !== undefined) &&
            gate.dropped > droppedBefore
              ? true
              : undefined,
          30_000,
        );
        await kill(first);

        expect(await challengeTxt(dnsName)).toEqual([]);
        await expectNotIssued(name);
        const order = orders.everSeen(name)[0];
        expect(order).toBeDefined();
        const key = await nextKey(name);
        gate.open();
        startOperator();
        await expectResumed(name, dnsName, { order: order ?? { name: "", uid: "" }, key });
      }),
    120_000,
  );

  it(
    "removes the Orders, Challenges and TXT values of a Certificate deleted while it was down",
    () =>
      scenario(async () => {
        const { cert, dnsName } = certificate(`crash-gone-${suffix()}`);
        const name = cert.metadata.name;
        gate.rules.hideTxt = true;
        const first = startOperator();
        await createObject(c, cert);
        await waitFor(
          "both TXT values to be in BIND",
          async () => {
            const chs = challenges.current(name);
            if (chs.length !== 2) return undefined;
            const values = await challengeTxt(dnsName);
            const keys = chs.map((ch) => String((ch["spec"] as Record<string, unknown>)["key"]));
            return keys.every((k) => values.includes(k)) ? true : undefined;
          },
          30_000,
        );
        await kill(first);
        expect((await challengeTxt(dnsName)).length).toBe(2);

        await deleteObject(c, { ...cert, apiVersion: "dns01.io/v1alpha1", kind: "Certificate" });
        await waitFor("the Certificate to be gone", async () =>
          (await getCustom(c, "certificates", name, ns)) === undefined ? true : undefined,
        );
        gate.open();
        startOperator();
        await waitFor(
          "the Certificate's Orders and Challenges to be deleted",
          () =>
            orders.current(name).length === 0 && challenges.current(name).length === 0 ? true : undefined,
          RESUME_TIMEOUT_MS,
        );
        expect(await challengeTxt(dnsName)).toEqual([]);
        // Nothing was ever issued for it.
        await expect(c.core.readNamespacedSecret({ name: `${name}-tls`, namespace: ns })).rejects.toThrow();
      }),
    120_000,
  );
});
