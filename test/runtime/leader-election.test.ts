import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import type { KubeClient } from "../../src/kube/client.js";
import { CoreResources } from "../../src/kube/resources.js";
import type { KubeObject } from "../../src/kube/types.js";
import { ResourceClient } from "../../src/controllers/runtime/resource-client.js";
import { repoRoot, rigVar } from "../support/rig.js";
import {
  type ConfigMap,
  createNamespace,
  deleteNamespace,
  eventually,
  kubeClient,
  suffix,
} from "./support.js";

/**
 * Leader election between real operator processes (test/runtime/fixtures/leader-operator.ts) on the
 * shared rig's API server: one leads at a time; a SIGKILLed leader is replaced within the lease
 * duration plus one retry period, never before its lease could have run out; a SIGTERMed leader
 * finishes its reconciles and releases the lease, so the successor starts at once; and no reconcile
 * ever runs in two processes at the same time.
 */

const LEASE_MS = 4000;
const RENEW_DEADLINE_MS = 3000;
const RETRY_MS = 500;

interface Line {
  message: string;
  timestamp: string;
  t?: number;
  object?: string;
  holder?: string;
  renewStart?: number;
  [k: string]: unknown;
}

interface Operator {
  identity: string;
  child: ChildProcess;
  lines: Line[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  killedAt?: number;
}

const id = suffix();
const ns = `rt-le-${id}`;
const leaseName = `rt-le-${id}`;
const operators: Operator[] = [];
let client: KubeClient;

function startOperator(identity: string): Operator {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", resolve(repoRoot, "test/runtime/fixtures/leader-operator.ts")],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        NODE_OPTIONS: "",
        KUBECONFIG: rigVar("KUBECONFIG"),
        NAMESPACE: ns,
        LEASE_NAME: leaseName,
        IDENTITY: identity,
        LEASE_DURATION_MS: String(LEASE_MS),
        RENEW_DEADLINE_MS: String(RENEW_DEADLINE_MS),
        RETRY_PERIOD_MS: String(RETRY_MS),
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const op: Operator = {
    identity,
    child,
    lines: [],
    stderr: [],
    exited: new Promise((res) =>
      child.on("exit", (code, signal) => {
        res({ code, signal });
      }),
    ),
  };
  createInterface({ input: child.stdout }).on("line", (line) => {
    try {
      op.lines.push(JSON.parse(line) as Line);
    } catch {
      op.stderr.push(line);
    }
  });
  createInterface({ input: child.stderr }).on("line", (line) => op.stderr.push(line));
  operators.push(op);
  return op;
}

const linesOf = (op: Operator, message: string) => op.lines.filter((l) => l.message === message);
const timeOf = (op: Operator, message: string) => {
  const l = linesOf(op, message)[0];
  return l === undefined ? undefined : Date.parse(l.timestamp);
};
const observes = (op: Operator, holder: string) =>
  op.lines.some((l) => l.message === "lease holder observed" && l.holder === holder);

function describeOperators(): string {
  return operators
    .map(
      (o) =>
        `--- ${o.identity}\n${o.lines
          .slice(-15)
          .map((l) => JSON.stringify(l))
          .join("\n")}\n${o.stderr.slice(-10).join("\n")}`,
    )
    .join("\n");
}

/** [start, end] of every reconcile of a process; one cut short by SIGKILL ends at the kill. */
function intervals(op: Operator): { object: string; start: number; end: number }[] {
  const open = new Map<string, number>();
  const out: { object: string; start: number; end: number }[] = [];
  for (const l of op.lines) {
    if (l.message === "reconcile-start") open.set(l.object ?? "", l.t ?? 0);
    if (l.message === "reconcile-end") {
      out.push({ object: l.object ?? "", start: open.get(l.object ?? "") ?? 0, end: l.t ?? 0 });
      open.delete(l.object ?? "");
    }
  }
  for (const [object, start] of open)
    out.push({ object, start, end: op.killedAt ?? Number.MAX_SAFE_INTEGER });
  return out;
}

beforeAll(async () => {
  client = kubeClient(rigVar("KUBECONFIG"));
  await createNamespace(client, ns);
  const cms = new ResourceClient<ConfigMap>(client, CoreResources.configMaps);
  for (let i = 0; i < 6; i++)
    await cms.create({ metadata: { name: `work-${i}`, namespace: ns }, data: { i: String(i) } });
}, 30_000);

afterAll(async () => {
  for (const op of operators) {
    if (op.child.exitCode === null && op.child.signalCode === null) op.child.kill("SIGKILL");
  }
  await Promise.all(operators.map((o) => o.exited));
  await deleteNamespace(client, ns);
}, 30_000);

describe("leader election between operator processes", () => {
  let first: Operator;
  let second: Operator;
  let third: Operator;

  it("lets exactly one of two processes lead, and only the leader reconciles", async () => {
    const a = startOperator(`op-a-${id}`);
    const b = startOperator(`op-b-${id}`);
    first = await eventually(
      "one operator to lead",
      () => [a, b].find((o) => timeOf(o, "became leader") !== undefined),
      60_000,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${describeOperators()}`);
    });
    second = first === a ? b : a;
    await eventually("the other operator to see the leader", () => observes(second, first.identity), 30_000);
    await eventually("the leader to reconcile", () => linesOf(first, "reconcile-end").length >= 20, 30_000);
    expect(timeOf(second, "became leader")).toBeUndefined();
    expect(linesOf(second, "reconcile-start")).toHaveLength(0);
    const lease = await new ResourceClient<KubeObject & { spec?: { holderIdentity?: string } }>(
      client,
      CoreResources.leases,
    ).get(ns, leaseName);
    expect(lease.spec?.holderIdentity).toBe(first.identity);
  }, 120_000);

  it("hands over within the lease duration plus one retry period when the leader is SIGKILLed", async () => {
    first.killedAt = Date.now();
    first.child.kill("SIGKILL");
    await first.exited;
    const tookOver = await eventually(
      "the other operator to lead",
      () => timeOf(second, "became leader"),
      30_000,
    );
    expect(tookOver - first.killedAt).toBeLessThan(LEASE_MS + RETRY_MS);
    // Safety: never before the dead leader's lease could have run out, counted from its last renewal.
    const renewals = linesOf(first, "renewed lease").map((l) => l.renewStart ?? 0);
    const lastRenewal = Math.max(timeOf(first, "became leader") ?? 0, ...renewals);
    expect(tookOver - lastRenewal).toBeGreaterThanOrEqual(LEASE_MS);
    await eventually(
      "the new leader to reconcile",
      () => linesOf(second, "reconcile-end").length >= 20,
      30_000,
    );
  }, 60_000);

  it("releases the lease on SIGTERM, after its reconciles finish, so that a waiting process leads at once", async () => {
    third = startOperator(`op-c-${id}`);
    await eventually("the third operator to see the leader", () => observes(third, second.identity), 60_000);
    const termAt = Date.now();
    second.child.kill("SIGTERM");
    expect((await second.exited).code).toBe(0);
    const releasedAt = timeOf(second, "released lease");
    expect(releasedAt).toBeDefined();
    const tookOver = await eventually(
      "the third operator to lead",
      () => timeOf(third, "became leader"),
      30_000,
    );
    // The successor's next attempt after the release succeeds: no waiting for the lease to expire.
    expect(tookOver - (releasedAt ?? 0)).toBeLessThanOrEqual(RETRY_MS + 400);
    expect(tookOver - termAt).toBeLessThan(LEASE_MS);
    await eventually(
      "the third operator to reconcile",
      () => linesOf(third, "reconcile-end").length >= 10,
      30_000,
    );
    third.child.kill("SIGTERM");
    expect((await third.exited).code).toBe(0);
  }, 90_000);

  it("never ran a reconcile in two processes at the same time", () => {
    const all = operators.map((o) => ({ op: o.identity, list: intervals(o) }));
    expect(all.reduce((n, x) => n + x.list.length, 0)).toBeGreaterThan(40);
    for (const x of all) {
      for (const y of all) {
        if (x.op >= y.op) continue;
        for (const i of x.list) {
          for (const j of y.list) {
            const overlap = i.start < j.end && j.start < i.end;
            if (overlap)
              throw new Error(`${x.op} ${JSON.stringify(i)} overlaps ${y.op} ${JSON.stringify(j)}`);
          }
        }
      }
    }
    // And each process reconciled only after it became leader.
    for (const o of operators) {
      const led = timeOf(o, "became leader");
      const starts = intervals(o).map((i) => i.start);
      if (led === undefined) expect(starts).toHaveLength(0);
      else expect(Math.min(...starts)).toBeGreaterThanOrEqual(led);
    }
  });
});
