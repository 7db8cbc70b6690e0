/**
 * Solver selection and CNAME following, end to end through the operator, Pebble and BIND:
 * - one Certificate whose names are solved by three solvers of one Issuer, chosen by cert-manager's
 *   precedence (a `dnsNames` match beats a `dnsZones` match; each zone has its own solver), proven
 *   from the solver copied into each Challenge and from the Cloudflare emulator's request counts;
 * - `cnameStrategy: Follow`: `_acme-challenge.<name>.example.test` is a CNAME into second.test, the
 *   TXT values are written at the CNAME's target, and Pebble (asking BIND) follows the CNAME to them.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import * as k8s from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { queryTxt } from "../src/dns/query.js";
import type { Dns01Provider } from "../src/crds/index.js";
import { silentLogger } from "../src/log.js";
import { createRfc2136Solver } from "../src/solvers/rfc2136/rfc2136.js";
import { delegate, undelegate } from "../test/emulators/acmedns/delegation.js";
import {
  createNamespace,
  deleteNamespace,
  suffix,
  testClients,
  type TestClients,
} from "../test/support/kube.js";
import { rigVar } from "../test/support/rig.js";
import {
  applySecrets,
  certificateFor,
  createIssuer,
  cleanUpChallenges,
  CERTIFICATE_LABEL,
  expectIssuedSecret,
  operatorEnv,
  pebbleIssuer,
  startProviders,
  stopProviders,
  waitForChallengesGone,
  waitForIssued,
  type ProviderUnderTest,
} from "./support/emulators.js";
import { challengeTxt, createObject } from "./support/fixtures.js";
import { OperatorProcess, rigOperatorArgs } from "./support/operator.js";

/** What a Challenge said about itself while it existed (the operator deletes it when done). */
interface SeenChallenge {
  dnsName: string;
  wildcard: boolean;
  dns01: Dns01Provider | undefined;
  presentedRecord?: { fqdn: string; zone: string };
}

interface ChallengeObject {
  metadata?: { name?: string };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

/**
 * Records every Challenge of one Certificate from creation to deletion, so that a test can look at
 * Challenges that are gone by the time the Certificate is Ready. A watch sees every change; a list
 * every 200 ms besides covers a watch that is slow to connect or drops.
 */
class ChallengeRecorder {
  readonly seen = new Map<string, SeenChallenge>();
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly c: TestClients,
    private readonly namespace: string,
    private readonly certificate: string,
  ) {}

  async start(): Promise<void> {
    const labelSelector = `${CERTIFICATE_LABEL}=${this.certificate}`;
    this.controller = await new k8s.Watch(this.c.kc).watch(
      `/apis/dns01.io/v1alpha1/namespaces/${this.namespace}/challenges`,
      { labelSelector },
      (_phase, obj: ChallengeObject) => {
        this.observe(obj);
      },
      () => undefined,
    );
    const poll = async (): Promise<void> => {
      const list = (await this.c.custom.listNamespacedCustomObject({
        group: "dns01.io",
        version: "v1alpha1",
        plural: "challenges",
        namespace: this.namespace,
        labelSelector,
      })) as { items: ChallengeObject[] };
      for (const obj of list.items) this.observe(obj);
    };
    this.timer = setInterval(() => {
      poll().catch(() => undefined);
    }, 200);
  }

  private observe(obj: ChallengeObject): void {
    const name = obj.metadata?.name;
    if (name === undefined || obj.spec === undefined) return;
    const spec = obj.spec as { dnsName: string; wildcard?: boolean; solver?: { dns01?: Dns01Provider } };
    const record = obj.status?.["presentedRecord"] as { fqdn: string; zone: string } | undefined;
    // The last status before deletion may no longer carry the record: keep the one seen.
    const presentedRecord = record ?? this.seen.get(name)?.presentedRecord;
    this.seen.set(name, {
      dnsName: spec.dnsName,
      wildcard: spec.wildcard === true,
      dns01: spec.solver?.dns01,
      ...(presentedRecord ? { presentedRecord } : {}),
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.controller?.abort();
  }

  /** The Challenge of a name as the CA writes it (`*.` in front for the wildcard). */
  of(name: string): SeenChallenge | undefined {
    return [...this.seen.values()].find((s) => `${s.wildcard ? "*." : ""}${s.dnsName}` === name);
  }
}

function tsigBlock(
  keyName: string,
  algorithm: string,
  secretName: string,
  cnameStrategy?: "Follow",
): Dns01Provider {
  return {
    ...(cnameStrategy ? { cnameStrategy } : {}),
    rfc2136: {
      nameserver: rigVar("DNS_SERVER"),
      tsigKeyName: keyName,
      tsigAlgorithm: algorithm,
      tsigSecretSecretRef: { name: secretName, key: "secret" },
    },
  };
}

describe("solver selection and CNAME following through the operator", () => {
  let c: TestClients;
  let ns: string;
  let operator: OperatorProcess | undefined;
  let providers: ProviderUnderTest[] = [];
  let cloudflare: ProviderUnderTest;

  beforeAll(async () => {
    c = testClients();
    providers = await startProviders(["cloudflare"]);
    cloudflare = providers[0]!;
    ns = await createNamespace(c.core, "e2e-selection");
    await applySecrets(c, ns, [
      { name: "tsig-sha256", stringData: { secret: rigVar("TSIG_SECRET") } },
      { name: "tsig-sha512", stringData: { secret: rigVar("TSIG_SECRET_HMACSHA512") } },
      ...cloudflare.secrets(),
    ]);
    operator = new OperatorProcess(rigOperatorArgs(ns, ["--no-leader-elect"]), operatorEnv(providers));
    operator.start();
  });

  afterAll(async () => {
    try {
      // A test that failed midway leaves Challenges: the operator removes their TXT values first.
      if (ns && operator) await cleanUpChallenges(c, ns);
    } finally {
      await operator?.stop();
      await stopProviders(providers);
      if (ns) await deleteNamespace(c.core, ns);
    }
  });

  it("solves one Certificate's names with three solvers, chosen by name, then by zone", async () => {
    const name = `sel-${suffix()}`;
    const apex = `${name}.example.test`;
    const wildcard = `*.${name}.example.test`;
    const other = `${name}.second.test`;
    const byZoneExample = tsigBlock(rigVar("TSIG_KEY_NAME"), "HMACSHA256", "tsig-sha256");
    const byName = tsigBlock("rig-sha512.", "HMACSHA512", "tsig-sha512");
    // The dnsNames solver comes last: precedence, not order, must pick it for the wildcard.
    await createIssuer(
      c,
      pebbleIssuer({
        kind: "Issuer",
        name,
        namespace: ns,
        solvers: [
          { selector: { dnsZones: ["example.test"] }, dns01: byZoneExample },
          { selector: { dnsZones: ["second.test"] }, dns01: cloudflare.solver },
          { selector: { dnsNames: [wildcard] }, dns01: byName },
        ],
      }),
    );
    const recorder = new ChallengeRecorder(c, ns, name);
    await recorder.start();
    try {
      cloudflare.resetCalls();
      await createObject(c, certificateFor(ns, name, [apex, wildcard, other], { kind: "Issuer", name }));
      await waitForIssued(c, ns, name, 120_000);
      await expectIssuedSecret(c, ns, name, [apex, wildcard, other]);
      await waitForChallengesGone(c, ns, name);
    } finally {
      recorder.stop();
    }

    expect(recorder.seen.size).toBe(3);
    expect(recorder.of(apex)?.dns01).toEqual(byZoneExample);
    expect(recorder.of(wildcard)?.dns01).toEqual(byName);
    expect(recorder.of(other)?.dns01).toEqual(cloudflare.solver);
    // Cloudflare added and removed one value: the second.test name's, and no other.
    const calls = cloudflare.calls() ?? {};
    expect(calls["POST /zones/:zone_id/dns_records"]).toBe(1);
    expect(calls["DELETE /zones/:zone_id/dns_records/:id"]).toBe(1);
    expect(await challengeTxt(apex)).toEqual([]);
    expect(await challengeTxt(other)).toEqual([]);
  });

  describe("with cnameStrategy Follow", () => {
    const name = `cname-${suffix()}`;
    const domain = `${name}.example.test`;
    const target = `${name}-target.second.test`;
    const dnsServer = (): string => rigVar("DNS_SERVER");

    const NEEDS_RESTART =
      "the rig's BIND answers the CNAME without the target's TXT: it predates the recursion settings " +
      "in hack/rig.sh, restart the rig (hack/rig.sh down; hack/rig.sh up) to load its named.conf";
    /** What BIND answered at the alias while a probe value sat at the target. */
    let probeSeen: string[] = [];
    let probeValue = "";

    beforeAll(async () => {
      await delegate(domain, target, "example.test");
      // Pebble asks the rig's BIND directly, so BIND itself must follow the CNAME into second.test.
      const solver = createRfc2136Solver({
        nameserver: dnsServer(),
        tsigKeyName: rigVar("TSIG_KEY_NAME"),
        tsigAlgorithm: rigVar("TSIG_ALGORITHM"),
        tsigSecret: rigVar("TSIG_SECRET"),
      });
      const ctx = { signal: new AbortController().signal, log: silentLogger() };
      probeValue = randomBytes(16).toString("hex");
      const probe = { fqdn: `${target}.`, zone: "second.test.", value: probeValue };
      await solver.present(probe, ctx);
      try {
        probeSeen = await queryTxt(`_acme-challenge.${domain}.`, dnsServer());
      } finally {
        await solver.cleanUp(probe, ctx);
      }
    });

    afterAll(async () => {
      await undelegate(domain, target, "example.test");
    });

    it("finds BIND following the CNAME across zones in its answers, as Pebble needs", () => {
      expect({ [NEEDS_RESTART]: probeSeen }).toEqual({ [NEEDS_RESTART]: [probeValue] });
    });

    it("writes both TXT values at the CNAME's target and issues the apex and the wildcard", async () => {
      if (!probeSeen.includes(probeValue)) throw new Error(NEEDS_RESTART);
      const follow = tsigBlock(rigVar("TSIG_KEY_NAME"), "HMACSHA256", "tsig-sha256", "Follow");
      await createIssuer(
        c,
        pebbleIssuer({ kind: "Issuer", name, namespace: ns, solvers: [{ dns01: follow }] }),
      );
      const recorder = new ChallengeRecorder(c, ns, name);
      await recorder.start();
      const dnsNames = [domain, `*.${domain}`];
      try {
        await createObject(c, certificateFor(ns, name, dnsNames, { kind: "Issuer", name }));
        await waitForIssued(c, ns, name, 120_000);
        await expectIssuedSecret(c, ns, name, dnsNames);
        await waitForChallengesGone(c, ns, name);
      } finally {
        recorder.stop();
      }
      for (const n of dnsNames) {
        expect(recorder.of(n)?.presentedRecord).toEqual({ fqdn: `${target}.`, zone: "second.test." });
      }
      // Cleaned up at the target, where they were written; the CNAME itself is the user's and stays.
      expect(await queryTxt(`${target}.`, dnsServer())).toEqual([]);
      expect(await challengeTxt(domain)).toEqual([]);
    });
  });
});
