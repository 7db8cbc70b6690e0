/**
 * Memory benchmark: the compiled operator's idle RSS with one ClusterIssuer registered, and where
 * that memory goes.
 *
 *   npx tsx bench/memory.ts [--settle 15000] [--dist <dir> --commit <sha>]... [--no-build]
 *                           [--no-snapshot] [--shared-rig]
 *
 * It builds the operator into bench/.out/memory-dist (never dist/). Each --dist instead measures a
 * build made elsewhere (an older commit's, say: it needs a package.json and node_modules beside
 * it), one after the other on the same rig, so that before and after are compared alike. It starts a private rig (with
 * --shared-rig it reuses RIG_DIR's), registers the rig's ClusterIssuer (Pebble + RFC 2136), and:
 *
 * 1. runs `node dist/main.js` as deployed until the ClusterIssuer is Ready, leaves it alone for
 *    --settle ms, reads VmRSS five times a second apart (median), then takes a heap snapshot
 *    through `--heapsnapshot-signal` and sums it by V8 node type and by constructor;
 * 2. runs bench/memory-phases.ts, the same wiring in one process, for `process.memoryUsage()`
 *    after the imports, the wiring, the informer sync and the settle;
 * 3. imports each runtime dependency alone in a fresh node, for its RSS cost on import.
 *
 * Progress goes to stderr; the results are one JSON document on stdout, with the load average.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve as resolvePath } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { condition, createObject, getCustom, loadExample, rigIssuerVars } from "../e2e/support/fixtures.js";
import { repoRoot } from "../test/support/global-setup.js";
import { testClients } from "../test/support/kube.js";
import { memoryOf, releaseRig, summary, useRig, type Rig } from "./lib.js";

const { values: opts } = parseArgs({
  options: {
    settle: { type: "string", default: "15000" },
    "no-build": { type: "boolean", default: false },
    dist: { type: "string", multiple: true },
    /** The commit each --dist build was made from, in the same order, for the results. */
    commit: { type: "string", multiple: true },
    "no-snapshot": { type: "boolean", default: false },
    "shared-rig": { type: "boolean", default: false },
  },
});
const SETTLE_MS = Number(opts.settle);
if (!Number.isInteger(SETTLE_MS) || SETTLE_MS < 0) throw new Error("--settle must be a number of ms");
/** Inside the repository so that the build finds node_modules; ignored by eslint and git. */
const BUILD_DIR = join(repoRoot, "bench/.out/memory-dist");
const SNAPSHOT_DIR = join(repoRoot, "bench/.out/heap");

const progress = (line: string): void => {
  process.stderr.write(`[memory] ${line}\n`);
};
const round = (n: number): number => Math.round(n * 10) / 10;

/** The heap snapshot summed up: MiB by V8 node type, and the constructors holding the most. */
export interface HeapSummary {
  totalMiB: number;
  byTypeMiB: Record<string, number>;
  topConstructors: { name: string; count: number; selfMiB: number }[];
}

/** Sums a .heapsnapshot's self sizes by node type and, for objects and closures, by constructor name. */
export function summarizeSnapshot(path: string): HeapSummary {
  const snap = JSON.parse(readFileSync(path, "utf8")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf("type");
  const iName = fields.indexOf("name");
  const iSize = fields.indexOf("self_size");
  const byType = new Map<string, number>();
  const byName = new Map<string, { count: number; size: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType] ?? 0] ?? "?";
    const size = snap.nodes[i + iSize] ?? 0;
    total += size;
    byType.set(type, (byType.get(type) ?? 0) + size);
    const name =
      type === "object" || type === "closure" || type === "native"
        ? `${type}: ${snap.strings[snap.nodes[i + iName] ?? 0] ?? "?"}`
        : `(${type})`;
    const e = byName.get(name) ?? { count: 0, size: 0 };
    e.count++;
    e.size += size;
    byName.set(name, e);
  }
  const mib = (n: number): number => round(n / 1048576);
  return {
    totalMiB: mib(total),
    byTypeMiB: Object.fromEntries([...byType].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, mib(v)])),
    topConstructors: [...byName]
      .sort((a, b) => b[1].size - a[1].size)
      .slice(0, 15)
      .map(([name, e]) => ({ name, count: e.count, selfMiB: mib(e.size) })),
  };
}

function operatorFlags(rig: Rig, ns: string): string[] {
  return [
    "--kubeconfig",
    rig.env["KUBECONFIG"] ?? "",
    "--namespace",
    ns,
    "--cluster-resource-namespace",
    ns,
    "--dns01-recursive-nameservers",
    rig.env["DNS_SERVER"] ?? "",
    "--dns01-recursive-nameservers-only",
    "--health-addr",
    "127.0.0.1:0",
    "--log-level",
    "warn",
  ];
}

/** Run 1: dist/main.js as deployed; idle VmRSS and a heap snapshot. */
async function deployed(
  dist: string,
  flags: string[],
  issuerReady: () => Promise<boolean>,
): Promise<{ idleRssMiB: number; rssSamplesMiB: number[]; heap?: HeapSummary; snapshot?: string }> {
  rmSync(SNAPSHOT_DIR, { recursive: true, force: true });
  mkdirSync(SNAPSHOT_DIR, { recursive: true });
  const child = spawn(process.execPath, ["--heapsnapshot-signal=SIGUSR2", join(dist, "main.js"), ...flags], {
    cwd: SNAPSHOT_DIR,
    env: { ...process.env, NODE_OPTIONS: "" },
    stdio: ["ignore", 2, 2],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error("the operator did not start");
  const exited = new Promise<void>((done) => {
    child.once("exit", () => {
      done();
    });
  });
  try {
    const deadline = Date.now() + 60_000;
    while (!(await issuerReady())) {
      if (Date.now() > deadline) throw new Error("the ClusterIssuer did not become Ready within 60 s");
      await sleep(200);
    }
    progress(`ClusterIssuer Ready; leaving the operator alone for ${String(SETTLE_MS)} ms`);
    await sleep(SETTLE_MS);
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      samples.push(round(memoryOf(pid).rssMiB));
      await sleep(1000);
    }
    const result = { idleRssMiB: summary(samples).median, rssSamplesMiB: samples };
    if (opts["no-snapshot"]) return result;
    child.kill("SIGUSR2");
    const file = await snapshotFile();
    progress(`heap snapshot ${file}; summing it up`);
    return { ...result, heap: summarizeSnapshot(file), snapshot: file };
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

/** Waits until the snapshot the operator writes on SIGUSR2 is complete (its size stops changing). */
async function snapshotFile(): Promise<string> {
  let last = -1;
  for (let i = 0; i < 600; i++) {
    await sleep(250);
    const name = readdirSync(SNAPSHOT_DIR).find((n) => n.endsWith(".heapsnapshot"));
    if (name === undefined) continue;
    const path = join(SNAPSHOT_DIR, name);
    const size = statSync(path).size;
    if (size > 0 && size === last) return path;
    last = size;
  }
  throw new Error("no heap snapshot was written within 150 s");
}

interface Phase {
  phase: string;
  atMs: number;
  rssMiB: number;
  heapTotalMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
  arrayBuffersMiB: number;
}

/** Run 2: the same wiring phase by phase (bench/memory-phases.ts). */
function phases(dist: string, flags: string[]): Phase[] {
  const r = spawnSync(
    process.execPath,
    ["--expose-gc", join(repoRoot, "bench/memory-phases.ts"), dist, String(SETTLE_MS), "--", ...flags],
    { cwd: repoRoot, env: { ...process.env, NODE_OPTIONS: "" }, encoding: "utf8", timeout: 180_000 },
  );
  if (r.status !== 0) throw new Error(`memory-phases.ts failed (${String(r.status)}): ${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Phase);
}

/**
 * Run 3: the RSS a module adds on import, alone in a fresh node whose ESM loader is already warm.
 * Modules share dependencies (node:crypto, tslib...), so the figures overlap and do not add up.
 */
function importCosts(modules: readonly string[]): { module: string; rssMiB: number }[] {
  const seen = new Set<string>();
  const out: { module: string; rssMiB: number }[] = [];
  for (const module of modules) {
    if (seen.has(module)) continue;
    seen.add(module);
    const script = [
      // Warm up the ESM loader first, so the figure is the module's own cost.
      'await import("data:text/javascript,export default 1");',
      "globalThis.gc();",
      "const before = process.memoryUsage().rss;",
      `await import(${JSON.stringify(module.startsWith("/") ? `file://${module}` : module)});`,
      "globalThis.gc();",
      "process.stdout.write(String(process.memoryUsage().rss - before));",
    ].join("\n");
    const r = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], {
      cwd: repoRoot,
      encoding: "utf8",
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    if (r.status !== 0) {
      progress(`import of ${module} failed: ${r.stderr.split("\n")[0] ?? ""}`);
      continue;
    }
    out.push({ module, rssMiB: round(Number(r.stdout) / 1048576) });
  }
  return out.sort((a, b) => b.rssMiB - a.rssMiB);
}

async function main(): Promise<void> {
  const builds: { dist: string; commit: string }[] = (opts.dist ?? []).map((d, i) => ({
    dist: resolvePath(d),
    commit: opts.commit?.[i] ?? d,
  }));
  if (builds.length === 0) {
    if (!opts["no-build"]) {
      progress(`building the operator into ${BUILD_DIR}`);
      rmSync(BUILD_DIR, { recursive: true, force: true });
      execFileSync("npx", ["tsc", "-p", "tsconfig.build.json", "--outDir", BUILD_DIR], {
        cwd: repoRoot,
        stdio: "inherit",
      });
    }
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot, encoding: "utf8" });
    builds.push({ dist: BUILD_DIR, commit: head.trim() });
  }
  for (const b of builds) if (!existsSync(join(b.dist, "main.js"))) throw new Error(`no build in ${b.dist}`);
  const rig = useRig(opts["shared-rig"], progress);
  try {
    Object.assign(process.env, rig.env);
    const clients = testClients();
    const results: unknown[] = [];
    for (const { dist, commit } of builds) {
      const sfx = randomBytes(3).toString("hex");
      const ns = `memory-${sfx}`;
      await clients.core.createNamespace({ body: { metadata: { name: ns } } });
      await createObject(clients, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "rig-tsig", namespace: ns },
        stringData: { "tsig-secret": rig.env["TSIG_SECRET"] ?? "" },
      });
      const issuer = loadExample("cluster-issuer-pebble.yaml", rigIssuerVars());
      issuer.metadata.name = `pebble-memory-${sfx}`;
      await createObject(clients, issuer);
      const issuerReady = async (): Promise<boolean> =>
        condition(await getCustom(clients, "clusterissuers", issuer.metadata.name), "Ready")?.status ===
        "True";
      const flags = operatorFlags(rig, ns);

      progress(`${commit}: run 1, ${dist}/main.js as deployed`);
      const run1 = await deployed(dist, flags, issuerReady);
      const load1 = loadavg();
      progress(
        `idle VmRSS ${String(run1.idleRssMiB)} MiB (load average ${load1.map((l) => l.toFixed(2)).join(" ")})`,
      );
      progress(`${commit}: run 2, phase by phase`);
      const run2 = phases(dist, flags);
      for (const p of run2)
        progress(`  ${p.phase}: rss ${String(p.rssMiB)} MiB, heap used ${String(p.heapUsedMiB)} MiB`);
      // Another operator's ClusterIssuer would be reconciled by the next build's operator too.
      await clients.custom.deleteClusterCustomObject({
        group: "dns01.io",
        version: "v1alpha1",
        plural: "clusterissuers",
        name: issuer.metadata.name,
      });
      progress(`${commit}: run 3, import cost of the operator's own modules`);
      const own = importCosts([join(dist, "kube/config.js"), join(dist, "operator.js")]);
      results.push({
        commit,
        node: process.version,
        loadavg: load1.map((l) => Math.round(l * 100) / 100),
        settleMs: SETTLE_MS,
        deployed: run1,
        phases: run2,
        importCostsMiB: own.map((c) => ({ ...c, module: c.module.replace(`${dist}/`, "") })),
      });
    }
    progress("import cost of each runtime dependency, each alone in a fresh node");
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
    };
    const deps = importCosts(Object.keys(pkg.dependencies ?? {}));
    for (const c of deps) progress(`  ${c.module}: ${String(c.rssMiB)} MiB`);
    process.stdout.write(`${JSON.stringify({ builds: results, dependencyImportCostsMiB: deps }, null, 2)}\n`);
  } finally {
    releaseRig(rig);
  }
}

await main();
