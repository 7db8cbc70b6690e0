/**
 * Issuance benchmark: how long an apex + wildcard Certificate takes from creation to Ready=True
 * through the real operator, Pebble and BIND, and how much memory the operator uses.
 *
 *   npx tsx bench/issuance.ts [--runs 7] [--batch 50] [--source] [--no-build] [--no-acme-count]
 *                             [--shared-rig] [--cpu-prof]
 *
 * It starts a private rig and stops it at the end (with --shared-rig it reuses the one in RIG_DIR,
 * default .rig, where other operators may be running). The operator runs compiled (tsc into bench/.out/dist, as it is deployed), or from source with
 * --source. Every run uses fresh names, alternating between the rig's zones example.test and
 * second.test; Ready is noted from a watch, not by polling. ACME requests are counted by an HTTPS
 * proxy in front of Pebble (--no-acme-count talks to Pebble directly). Progress goes to stderr,
 * results to stdout. --cpu-prof writes a CPU profile of the operator to bench/.out/profile/.
 */
import * as k8s from "@kubernetes/client-node";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot } from "../test/support/global-setup.js";
import { testClients, type TestClients } from "../test/support/kube.js";
import {
  createObject,
  deleteObject,
  getCustom,
  condition,
  loadExample,
  rigIssuerVars,
  type Obj,
} from "../e2e/support/fixtures.js";
import { AcmeProxy } from "../e2e/support/acme-proxy.js";
import {
  OperatorUnderTest,
  ReadyWatch,
  cpuSecondsOf,
  memoryOf,
  milestones,
  releaseRig,
  summary,
  useRig,
  type Memory,
  type Rig,
} from "./lib.js";

const { values: opts } = parseArgs({
  options: {
    runs: { type: "string", default: "7" },
    batch: { type: "string", default: "50" },
    source: { type: "boolean", default: false },
    "no-build": { type: "boolean", default: false },
    "no-acme-count": { type: "boolean", default: false },
    "shared-rig": { type: "boolean", default: false },
    "cpu-prof": { type: "boolean", default: false },
  },
});
const RUNS = Number(opts.runs);
const BATCH = Number(opts.batch);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error("--runs must be a positive integer");
if (!Number.isInteger(BATCH) || BATCH < 0) throw new Error("--batch must be 0 or more");
/** Inside the repository so that the build finds node_modules; ignored by eslint and git. */
const BUILD_DIR = join(repoRoot, "bench/.out/dist");
/** Where --cpu-prof writes the operator's profile (when it exits), for Chrome DevTools. */
const PROFILE_DIR = join(repoRoot, "bench/.out/profile");
const ZONES = ["example.test", "second.test"] as const;
const READY_TIMEOUT_MS = 180_000;
/** How long the operator is left alone before "idle" memory is read. */
const SETTLE_MS = 3000;

const progress = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};
const out = (line = ""): void => {
  process.stdout.write(`${line}\n`);
};
const sfx = randomBytes(3).toString("hex");

interface Env {
  rig: Rig;
  kc: k8s.KubeConfig;
  clients: TestClients;
  ns: string;
  issuer: Obj;
  counter: AcmeProxy | undefined;
  operator: OperatorUnderTest | undefined;
  watch: ReadyWatch | undefined;
}

function certificate(env: Env, name: string, zone: string): Obj {
  const cert = loadExample("certificate-wildcard.yaml", {});
  const dnsName = `${name}.${zone}`;
  cert.metadata = { name, namespace: env.ns };
  const spec = cert["spec"] as Record<string, unknown>;
  spec["secretName"] = `${name}-tls`;
  spec["dnsNames"] = [dnsName, `*.${dnsName}`];
  spec["issuerRef"] = { kind: "ClusterIssuer", name: env.issuer.metadata.name };
  return cert;
}

async function setUp(): Promise<Env> {
  const rig = useRig(opts["shared-rig"], progress);
  Object.assign(process.env, rig.env);
  const clients = testClients();
  const kc = clients.kc;
  const ns = `bench-${sfx}`;
  await clients.core.createNamespace({ body: { metadata: { name: ns } } });
  const env: Env = {
    rig,
    kc,
    clients,
    ns,
    issuer: { metadata: { name: `pebble-bench-${sfx}` } },
    counter: undefined,
    operator: undefined,
    watch: undefined,
  };
  await createObject(clients, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "rig-tsig", namespace: ns },
    stringData: { "tsig-secret": rig.env["TSIG_SECRET"] ?? "" },
  });
  const vars = rigIssuerVars();
  if (!opts["no-acme-count"]) {
    env.counter = await AcmeProxy.forRig(rig.env);
    vars["ACME_DIRECTORY_URL"] = env.counter.directoryUrl;
  }
  env.issuer = loadExample("cluster-issuer-pebble.yaml", vars);
  env.issuer.metadata.name = `pebble-bench-${sfx}`;
  await createObject(clients, env.issuer);
  return env;
}

/** The operator and the watch on its Certificates, once it serves the ClusterIssuer. */
interface Running {
  operator: OperatorUnderTest;
  watch: ReadyWatch;
}

async function startOperator(env: Env): Promise<Running> {
  if (!opts.source && !opts["no-build"]) {
    // A private outDir, so that a benchmark never swaps dist/ under a running demo.
    progress(`building the operator into ${BUILD_DIR}`);
    execFileSync("npx", ["tsc", "-p", "tsconfig.build.json", "--outDir", BUILD_DIR], {
      cwd: repoRoot,
      stdio: "inherit",
    });
  }
  const dns = env.rig.env["DNS_SERVER"] ?? "";
  const operator = new OperatorUnderTest(
    [
      "--kubeconfig",
      env.rig.env["KUBECONFIG"] ?? "",
      "--namespace",
      env.ns,
      "--cluster-resource-namespace",
      env.ns,
      "--dns01-recursive-nameservers",
      dns,
      "--dns01-recursive-nameservers-only",
      "--health-addr",
      "127.0.0.1:0",
      // Port 9402 may be taken by the demo or another operator of the same test.
      "--metrics-addr",
      "127.0.0.1:0",
    ],
    opts.source ? { source: true } : { source: false, entry: join(BUILD_DIR, "main.js") },
    opts["cpu-prof"] ? ["--cpu-prof", "--cpu-prof-dir", PROFILE_DIR] : [],
  );
  env.operator = operator;
  operator.start();
  progress(
    `operator started (${opts.source ? "tsx src/main.ts" : "node bench/.out/dist/main.js"}), log: ${operator.logFile}`,
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    const got = await getCustom(env.clients, "clusterissuers", env.issuer.metadata.name);
    if (condition(got, "Ready")?.status === "True") break;
    if (Date.now() > deadline) throw new Error("the ClusterIssuer did not become Ready within 60 s");
    await sleep(100);
  }
  env.watch = await ReadyWatch.start(env.kc, env.ns);
  return { operator, watch: env.watch };
}

/** One apex + wildcard Certificate at a time: creation to Ready, RUNS times. */
async function singles(
  env: Env,
  run: Running,
): Promise<{ ms: number[]; acme: Map<string, number>[]; connections: number }> {
  const connectionsBefore = env.counter?.connections ?? 0;
  const ms: number[] = [];
  const acme: Map<string, number>[] = [];
  for (let i = 0; i < RUNS; i++) {
    const name = `single-${i + 1}-${sfx}`;
    const zone = ZONES[i % ZONES.length] ?? "example.test";
    const before = new Map(env.counter?.counts ?? []);
    const t0 = performance.now();
    await createObject(env.clients, certificate(env, name, zone));
    const t1 = await run.watch.ready(name, READY_TIMEOUT_MS);
    ms.push(t1 - t0);
    if (env.counter) acme.push(env.counter.since(before));
    progress(`run ${i + 1}/${RUNS}: ${name}.${zone} + wildcard Ready in ${(t1 - t0).toFixed(0)} ms`);
  }
  return { ms, acme, connections: (env.counter?.connections ?? 0) - connectionsBefore };
}

/** What the batch measured. */
interface BatchResult {
  allMs: number;
  each: number[];
  peakRssMiB: number;
  acme: number;
  connections: number;
  cpuSeconds: number;
  /** Wall-clock start, to place the operator's log lines. */
  startedAtMs: number;
}

/** BATCH Certificates created at once: time until all are Ready, and the peak resident memory. */
async function batch(env: Env, run: Running): Promise<BatchResult> {
  const operator = run.operator;
  let peak = memoryOf(operator.pid).rssMiB;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, memoryOf(operator.pid).rssMiB);
    } catch {
      // the process is gone: the wait below fails with its own message
    }
  }, 50);
  const acmeBefore = env.counter?.total() ?? 0;
  const connectionsBefore = env.counter?.connections ?? 0;
  const cpuBefore = cpuSecondsOf(operator.pid);
  const names = Array.from({ length: BATCH }, (_, i) => `batch-${i + 1}-${sfx}`);
  try {
    const startedAtMs = Date.now();
    const t0 = performance.now();
    await Promise.all(
      names.map((n, i) => createObject(env.clients, certificate(env, n, ZONES[i % ZONES.length] ?? ""))),
    );
    const readyAt = await Promise.all(names.map((n) => run.watch.ready(n, READY_TIMEOUT_MS)));
    const each = readyAt.map((t) => t - t0);
    return {
      allMs: Math.max(...each),
      each,
      peakRssMiB: peak,
      acme: (env.counter?.total() ?? 0) - acmeBefore,
      connections: (env.counter?.connections ?? 0) - connectionsBefore,
      cpuSeconds: cpuSecondsOf(operator.pid) - cpuBefore,
      startedAtMs,
    };
  } finally {
    clearInterval(sampler);
  }
}

async function tearDown(env: Env | undefined): Promise<void> {
  if (!env) return;
  env.watch?.stop();
  const { custom } = env.clients;
  try {
    const list = (await custom.listNamespacedCustomObject({
      group: "dns01.io",
      version: "v1alpha1",
      plural: "certificates",
      namespace: env.ns,
    })) as { items: Obj[] };
    await Promise.all(
      list.items.map((c) =>
        deleteObject(env.clients, { ...c, apiVersion: "dns01.io/v1alpha1", kind: "Certificate" }),
      ),
    );
    // With the operator still running, deleted Certificates take their Challenges and TXT values along.
    const deadline = Date.now() + 60_000;
    while (env.operator && Date.now() < deadline) {
      const left = (await custom.listNamespacedCustomObject({
        group: "dns01.io",
        version: "v1alpha1",
        plural: "challenges",
        namespace: env.ns,
      })) as { items: unknown[] };
      if (left.items.length === 0) break;
      await sleep(200);
    }
  } catch (err) {
    progress(`cleanup: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await env.operator?.stop();
    await env.counter?.close();
    await deleteObject(env.clients, env.issuer);
    await env.clients.core.deleteNamespace({ name: env.ns }).catch(() => undefined);
    releaseRig(env.rig);
  }
}

const mib = (m: Memory): string => `${m.rssMiB.toFixed(1)} MiB (peak so far ${m.hwmMiB.toFixed(1)} MiB)`;
const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

/** Everything measured, for the report. */
interface Results {
  loadBefore: string;
  idle: Memory;
  single: { ms: number[]; acme: Map<string, number>[]; connections: number; cpuSeconds: number };
  afterRuns: Memory;
  batch?: BatchResult;
  afterBatch?: Memory;
  counted: boolean;
  logFile: string;
}

function reportSingles(r: Results): void {
  out(`Single apex + wildcard Certificate, creation to Ready=True, ${RUNS} runs:`);
  r.single.ms.forEach((v, i) => {
    const acme = r.single.acme[i];
    const n = acme ? [...acme.values()].reduce((a, x) => a + x, 0) : undefined;
    out(`  run ${i + 1}: ${sec(v)}${n === undefined ? "" : `  (${n} ACME requests)`}`);
  });
  const s = summary(r.single.ms);
  out(`  median ${sec(s.median)}, min ${sec(s.min)}, max ${sec(s.max)}`);
  out(`  operator CPU time: ${((r.single.cpuSeconds / RUNS) * 1000).toFixed(0)} ms per Certificate`);
  if (r.single.acme.length > 0) {
    const perEndpoint = new Map<string, number>();
    for (const m of r.single.acme) for (const [k, v] of m) perEndpoint.set(k, (perEndpoint.get(k) ?? 0) + v);
    const avg = [...perEndpoint]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${(v / r.single.acme.length).toFixed(1)}`);
    out(`  ACME requests per run, mean by endpoint: ${avg.join(", ")}`);
    out(`  TLS connections to the CA: ${(r.single.connections / RUNS).toFixed(1)} per run`);
  }
}

function reportBatch(r: Results, b: BatchResult, after: Memory): void {
  const e = summary(b.each);
  out(`Batch: ${BATCH} apex + wildcard Certificates created at once:`);
  out(`  all Ready after ${sec(b.allMs)} (per Certificate: first ${sec(e.min)}, median ${sec(e.median)})`);
  out(
    `  peak VmRSS during the batch ${b.peakRssMiB.toFixed(1)} MiB (sampled every 50 ms); after it ${mib(after)}`,
  );
  out(
    `  operator CPU time: ${b.cpuSeconds.toFixed(1)} s (${((b.cpuSeconds / BATCH) * 1000).toFixed(0)} ms per Certificate)`,
  );
  if (r.counted) {
    out(
      `  ACME requests: ${b.acme} (${(b.acme / BATCH).toFixed(1)} per Certificate) over ${b.connections} TLS connections`,
    );
  }
  const steps = milestones(r.logFile, (n) => n.startsWith("batch-") && n.includes(sfx), b.startedAtMs);
  if (steps.length > 0) {
    out(`  where the time went (operator log, seconds after creation: first / median / last):`);
    for (const m of steps) {
      out(
        `    ${m.message.padEnd(26)} x${String(m.count).padEnd(4)} ${m.first.toFixed(1)} / ${m.median.toFixed(1)} / ${m.last.toFixed(1)}`,
      );
    }
  }
}

function report(r: Results): void {
  const how = opts.source ? "tsx src/main.ts" : "compiled, node bench/.out/dist/main.js";
  out(`dns01-operator issuance benchmark (${how}, Node ${process.version}, ${cpus().length} CPUs)`);
  out(`load average before: ${r.loadBefore}; after: ${load()}`);
  out();
  reportSingles(r);
  out();
  out(`Operator memory (VmRSS): idle ${mib(r.idle)}; after the ${RUNS} runs ${mib(r.afterRuns)}`);
  if (r.batch && r.afterBatch) {
    out();
    reportBatch(r, r.batch, r.afterBatch);
  }
}

let env: Env | undefined;
const state = { interrupted: false };
process.once("SIGINT", () => {
  state.interrupted = true;
  progress("interrupted: cleaning up");
  void tearDown(env).finally(() => process.exit(130));
});

try {
  const loadBefore = load();
  env = await setUp();
  const run = await startOperator(env);
  await sleep(SETTLE_MS);
  const idle = memoryOf(run.operator.pid);
  const cpu0 = cpuSecondsOf(run.operator.pid);
  const single = await singles(env, run);
  const results: Results = {
    loadBefore,
    idle,
    single: { ...single, cpuSeconds: cpuSecondsOf(run.operator.pid) - cpu0 },
    afterRuns: memoryOf(run.operator.pid),
    counted: env.counter !== undefined,
    logFile: run.operator.logFile,
  };
  if (BATCH > 0) {
    progress(`batch of ${BATCH}`);
    results.batch = await batch(env, run);
    results.afterBatch = memoryOf(run.operator.pid);
    // The operator logs an issuance just after it marks the Certificate Ready: let the last lines land.
    const startedAt = results.batch.startedAtMs;
    const logged = (): number =>
      milestones(run.operator.logFile, (n) => n.startsWith("batch-") && n.includes(sfx), startedAt).find(
        (m) => m.message === "certificate issued",
      )?.count ?? 0;
    for (let waited = 0; logged() < BATCH && waited < 5000; waited += 100) await sleep(100);
  }
  report(results);
} catch (err) {
  progress(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  if (env?.operator) progress(`operator log: ${env.operator.logFile}`);
  process.exitCode = 1;
} finally {
  if (!state.interrupted) await tearDown(env);
  if (opts["cpu-prof"])
    progress(`CPU profile of the operator in ${PROFILE_DIR} (open it in Chrome DevTools)`);
}
