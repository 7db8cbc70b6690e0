/**
 * One apex + wildcard certificate through a cert-manager webhook solver, end to end: the Issuer's
 * `webhook` block has only cert-manager's fields, so the operator calls the solver through the
 * apiserver's aggregation layer (`POST /apis/<group>/v1alpha1/<solver>`); the test solver, an
 * APIService that trusts only the front-proxy certificate, writes the values into BIND, and Pebble
 * validates them there. Afterwards no TXT value is left.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import {
  createNamespace,
  deleteNamespace,
  suffix,
  testClients,
  type TestClients,
} from "../test/support/kube.js";
import { rigVar } from "../test/support/rig.js";
import {
  AggregatedWebhookSolver,
  registerSolver,
  unregisterSolver,
} from "../test/emulators/aggregated-webhook/solver.js";
import { bindBackend } from "../test/emulators/bind-backend.js";
import {
  certificateFor,
  cleanUpChallenges,
  createIssuer,
  expectIssuedSecret,
  pebbleIssuer,
  waitForChallengesGone,
  waitForIssued,
} from "./support/emulators.js";
import { challengeTxt, createObject } from "./support/fixtures.js";
import { OperatorProcess, rigOperatorArgs } from "./support/operator.js";

describe("a cert-manager webhook solver, called through the aggregation layer", () => {
  let c: TestClients;
  let ns: string;
  let operator: OperatorProcess | undefined;
  let solver: AggregatedWebhookSolver | undefined;
  const group = `acme-${randomBytes(3).toString("hex")}.e2e.test`;

  beforeAll(async () => {
    c = testClients();
    ns = await createNamespace(c.core, "e2e-agg-webhook");
    solver = new AggregatedWebhookSolver(
      group,
      "rig-solver",
      bindBackend(),
      { name: "rig-solver", namespace: ns },
      rigVar("FRONT_PROXY_CA_FILE"),
    );
    await solver.start();
    await registerSolver(c, solver);
    // No DNS01_WEBHOOK_API_URL: a block without url is cert-manager's.
    operator = new OperatorProcess(rigOperatorArgs(ns, ["--no-leader-elect"]), { DNS01_WEBHOOK_API_URL: "" });
    operator.start();
  });

  afterAll(async () => {
    try {
      if (ns && operator) await cleanUpChallenges(c, ns);
    } finally {
      await operator?.stop();
      if (solver) {
        await unregisterSolver(c, solver);
        await solver.stop();
      }
      if (ns) await deleteNamespace(c.core, ns);
    }
  });

  it("issues for a name and its wildcard with cert-manager's webhook fields only, leaving no TXT value", async () => {
    const name = `aggwebhook-${suffix()}`;
    const domain = `${name}.example.test`;
    const dnsNames = [domain, `*.${domain}`];
    const issuer = pebbleIssuer({
      kind: "Issuer",
      name,
      namespace: ns,
      solvers: [{ dns01: { webhook: { groupName: group, solverName: "rig-solver", config: { ttl: 60 } } } }],
    });
    await createIssuer(c, issuer);
    await createObject(c, certificateFor(ns, name, dnsNames, { kind: "Issuer", name }));
    await waitForIssued(c, ns, name, 150_000);
    await expectIssuedSecret(c, ns, name, dnsNames);
    await waitForChallengesGone(c, ns, name);
    expect(await challengeTxt(domain)).toEqual([]);
    const calls = (solver?.calls ?? []).filter((k) => k.request.dnsName === domain);
    // eslint-disable-next-line no-console -- the calls an issuance costs, as the issue asks
    console.log(`aggregated webhook: ${String(calls.length)} calls for ${dnsNames.join(" + ")}`);
    // Both values (apex and wildcard) presented, and every presented value cleaned up. Both calls
    // are idempotent by contract and delivered at least once: a status write that loses a race
    // after CleanUp (a 409) runs the cleanup again, so calls are counted as values. The TXT
    // lookup above is what proves nothing was left.
    const values = (action: string): string[] =>
      calls.filter((k) => k.action === action).map((k) => k.request.key);
    expect(new Set(values("Present")).size).toBe(2);
    expect([...new Set(values("CleanUp"))].sort()).toEqual([...new Set(values("Present"))].sort());
    // At-least-once, not unbounded: a cleanup storm would be a bug.
    expect(values("CleanUp").length).toBeLessThanOrEqual(4);
  });
});
