/**
 * The operator's startup, phase by phase, in one process, with `process.memoryUsage()` after each:
 * node alone, after the imports, after the wiring, after the informers synced, and idle. It runs
 * the compiled operator's own modules (the same `buildOperator` as dist/main.js), so the figures
 * are the deployed code's. bench/memory.ts starts it; by hand:
 *
 *   node --expose-gc bench/memory-phases.ts <compiled dir> <settle ms> -- <operator flags>
 *
 * It imports nothing of the repository statically, so node runs it as it is (type stripping) and
 * nothing but the operator is loaded. Each phase is one JSON line on stdout.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

interface Phase {
  phase: string;
  atMs: number;
  rssMiB: number;
  heapTotalMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
  arrayBuffersMiB: number;
}

const started = performance.now();
const mib = (n: number): number => Math.round((n / 1048576) * 10) / 10;

function report(phase: string): void {
  const m = process.memoryUsage();
  const line: Phase = {
    phase,
    atMs: Math.round(performance.now() - started),
    rssMiB: mib(m.rss),
    heapTotalMiB: mib(m.heapTotal),
    heapUsedMiB: mib(m.heapUsed),
    externalMiB: mib(m.external),
    arrayBuffersMiB: mib(m.arrayBuffers),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const [dir, settle, sep, ...flags] = process.argv.slice(2);
if (dir === undefined || settle === undefined || sep !== "--") {
  throw new Error("usage: memory-phases.ts <compiled dir> <settle ms> -- <operator flags>");
}
const load = (m: string): Promise<Record<string, unknown>> =>
  import(pathToFileURL(resolve(dir, m)).href) as Promise<Record<string, unknown>>;

report("node");
const { parseConfig } = (await load("config.js")) as { parseConfig: (argv: string[]) => unknown };
const { createLogger } = (await load("log.js")) as {
  createLogger: (o: { level: string }) => unknown;
};
const { buildOperator } = (await load("operator.js")) as {
  buildOperator: (
    config: unknown,
    log: unknown,
  ) => { manager: { isReady(): boolean }; run(): Promise<unknown> };
};
report("imports");
const op = buildOperator(parseConfig(flags), createLogger({ level: "warn" }));
report("wired");
const running = op.run();
while (!op.manager.isReady()) await sleep(20);
report("synced");
await sleep(Number(settle));
report("idle");
const gc = (globalThis as { gc?: () => void }).gc;
if (gc !== undefined) {
  gc();
  report("idle-after-gc");
}
process.kill(process.pid, "SIGTERM");
await running;
process.exit(0);
