import { memorySecretReader } from "../../solvers/credentials.js";
import type { Dns01Solver, TxtRecord } from "../../solvers/types.js";
import { AcmeAccounts } from "../issuers/accounts.js";
import {
  CHALLENGE_FINALIZER,
  Kinds,
  type CertificateObj,
  type ChallengeObj,
  type ClusterIssuerObj,
  type IssuerObj,
  type OrderObj,
} from "../kinds.js";
import type { ControllerDefinition } from "../runtime/index.js";
import { ControllerTestRig, collectKeys } from "../testing/index.js";
import { ScriptedAcme } from "../testing/fake-acme.js";
import { NS, certificate, challenge, issuer, order } from "../testing/fixtures.js";
import { type RecordChange, challengeController } from "./controller.js";

const TSIG_SECRET = "c3VwZXItc2VjcmV0LXRzaWc=";
const FQDN = "_acme-challenge.example.test.";
const ZONE = "example.test.";

interface World {
  rig: ControllerTestRig;
  ca: ScriptedAcme;
  def: ControllerDefinition;
  key: string;
  dns: { op: "present" | "cleanUp"; record: TxtRecord; nameserver: string }[];
  changes: RecordChange[];
  stored(): ChallengeObj | undefined;
  /** Runs reconciles until `done` holds (at most `max`). */
  until(done: (c: ChallengeObj | undefined) => boolean, max?: number): Promise<void>;
}

let current: World | undefined;
afterEach(async () => {
  await current?.rig.stop();
  current = undefined;
});

async function start(opts: { onRecordChange?: (c: RecordChange) => void } = {}): Promise<World> {
  const rig = new ControllerTestRig();
  const ca = new ScriptedAcme();
  const acmeOrder = ca.newOrder(["example.test"]);
  const authzUrl = acmeOrder.authorizations[0] ?? "";
  const authz = ca.authzView(authzUrl);
  rig.cluster.seed(Kinds.issuers, issuer());
  const cert = rig.cluster.seed(Kinds.certificates, certificate("web", ["example.test"]));
  const ord = rig.cluster.seed(Kinds.orders, order(cert));
  const base = challenge(ord);
  const ch = rig.cluster.seed(Kinds.challenges, {
    ...base,
    spec: { ...base.spec, url: authz.challenges[0]?.url ?? "", authorizationURL: authzUrl },
  });
  const challenges = rig.informer<ChallengeObj>(Kinds.challenges);
  const orders = rig.informer<OrderObj>(Kinds.orders);
  const certificates = rig.informer<CertificateObj>(Kinds.certificates);
  const issuers = rig.informer<IssuerObj>(Kinds.issuers);
  const clusterIssuers = rig.informer<ClusterIssuerObj>(Kinds.clusterIssuers);
  const secrets = memorySecretReader(new Map([[`${NS}/tsig`, { secret: TSIG_SECRET }]]));
  const real = new AcmeAccounts({
    issuers,
    clusterIssuers,
    secrets,
    clusterResourceNamespace: "dns01-operator",
    log: rig.log,
  });
  const dns: World["dns"] = [];
  const changes: RecordChange[] = [];
  const client = ca.client();
  const def = challengeController({
    client: rig.client,
    accounts: {
      resolve: (ns, ref) => real.resolve(ns, ref),
      secretNamespaceOf: (ns, cluster) => real.secretNamespaceOf(ns, cluster),
      clientFor: () => Promise.resolve(client),
    },
    dispatcher: {
      resolveRecord: () => Promise.resolve({ fqdn: FQDN, zone: ZONE } as never),
      checkPropagation: () => Promise.resolve({ propagated: true, detail: "every server answers it" }),
    },
    secrets,
    events: rig.events,
    challenges,
    orders,
    certificates,
    onRecordChange:
      opts.onRecordChange ??
      ((c) => {
        changes.push(c);
      }),
    // A provider that, like the real ones, reads its credential, and records what it was asked.
    createSolver: async (dns01, ctx) => {
      const nameserver = dns01.rfc2136?.nameserver ?? "";
      await ctx.secrets.read(ctx.secretNamespace, { name: "tsig", key: "secret" });
      const solver: Dns01Solver = {
        present: (record) => {
          dns.push({ op: "present", record, nameserver });
          return Promise.resolve();
        },
        cleanUp: (record) => {
          dns.push({ op: "cleanUp", record, nameserver });
          return Promise.resolve();
        },
      };
      return solver;
    },
  });
  await rig.sync();
  const name = ch.metadata.name ?? "";
  const w: World = {
    rig,
    ca,
    def,
    key: `${NS}/${name}`,
    dns,
    changes,
    stored: () => rig.cluster.get<ChallengeObj>(Kinds.challenges, NS, name),
    async until(done, max = 6) {
      for (let i = 0; i < max && !done(w.stored()); i++) {
        const out = await rig.reconcile(def, w.key);
        if (!out.ok) throw out.error;
      }
      if (!done(w.stored()))
        throw new Error(`not reached after ${String(max)} runs: ${JSON.stringify(w.stored()?.status)}`);
    },
  };
  current = w;
  return w;
}

describe("the Challenge controller's audit trail", () => {
  it("records a PresentedRecord Event on the Challenge and its Certificate, a log line and the hook, naming fqdn, zone, provider and issuer", async () => {
    const w = await start();
    await w.until((c) => c?.status?.state === "pending");
    expect(w.dns.map((d) => d.op)).toEqual(["present"]);
    const events = w.rig.events.withReason("PresentedRecord");
    expect(events.map((e) => [e.kind, e.name, e.type])).toEqual([
      ["Challenge", w.stored()?.metadata.name, "Normal"],
      ["Certificate", "web", "Normal"],
    ]);
    for (const e of events) {
      expect(e.message).toContain(FQDN);
      expect(e.message).toContain(`zone ${ZONE}`);
      expect(e.message).toContain("provider rfc2136");
      expect(e.message).toContain(`Issuer ${NS}/ca`);
    }
    const line = w.rig.logs.find((r) => r["audit"] === "PresentedRecord");
    expect(line).toMatchObject({
      fqdn: FQDN,
      zone: ZONE,
      provider: "rfc2136",
      issuer: `Issuer ${NS}/ca`,
      certificate: "web",
    });
    expect(w.changes).toEqual([
      expect.objectContaining({
        action: "present",
        provider: "rfc2136",
        fqdn: FQDN,
        zone: ZONE,
        certificate: "web",
      }),
    ]);
    // Never a credential: not in Events, not in logs.
    const text = JSON.stringify([w.rig.events.events, w.rig.logs]);
    expect(text).not.toContain(TSIG_SECRET);
    expect(text).not.toContain(Buffer.from(TSIG_SECRET, "base64").toString("utf8"));
  });

  it("records CleanedUpRecord the same way when the value is removed after validation", async () => {
    const w = await start();
    await w.until((c) => c?.status?.state === "processing");
    w.ca.setAuthorization(w.stored()?.spec.authorizationURL ?? "", "valid");
    await w.until((c) => c?.status?.state === "valid");
    expect(w.dns.map((d) => d.op)).toEqual(["present", "cleanUp"]);
    const events = w.rig.events.withReason("CleanedUpRecord");
    expect(events.map((e) => e.kind)).toEqual(["Challenge", "Certificate"]);
    expect(events[0]?.message).toBe(
      `Removed TXT record ${FQDN} in zone ${ZONE} with provider rfc2136 for Issuer ${NS}/ca`,
    );
    expect(w.changes.map((c) => c.action)).toEqual(["present", "cleanup"]);
    expect(w.rig.logs.filter((r) => r["audit"] === "CleanedUpRecord")).toHaveLength(1);
  });

  it("goes when its Order is deleted, which enqueues it, removing its TXT value through its own solver first", async () => {
    const w = await start();
    await w.until((c) => c?.status?.state === "pending");
    const keys = collectKeys(w.def);
    keys.take();
    const ord = w.rig.cluster.list<OrderObj>(Kinds.orders, NS)[0];
    w.rig.cluster.remove(Kinds.orders, NS, ord?.metadata.name ?? "");
    expect(keys.take()).toContain(w.key);
    keys.stop();
    await w.until((c) => c === undefined);
    expect(w.dns.map((d) => [d.op, d.nameserver])).toEqual([
      ["present", "10.0.0.1:53"],
      ["cleanUp", "10.0.0.1:53"],
    ]);
    expect(w.rig.events.withReason("CleanedUpRecord").map((e) => e.kind)).toEqual([
      "Challenge",
      "Certificate",
    ]);
  });

  it("keeps working when the metrics hook throws", async () => {
    const w = await start({
      onRecordChange: () => {
        throw new Error("metrics broke");
      },
    });
    await w.until((c) => c?.status?.state === "pending");
    expect(w.stored()?.metadata.finalizers).toEqual([CHALLENGE_FINALIZER]);
    expect(w.rig.logs.some((r) => r.message.includes("onRecordChange hook threw"))).toBe(true);
  });
});
