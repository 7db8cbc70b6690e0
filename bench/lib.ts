/**
 * Pieces of the issuance benchmark: the rig, an operator process with its memory readings and a
 * watch that notes when each Certificate becomes Ready. The ACME request counter between the
 * operator and Pebble is the e2e tests' recording proxy (e2e/support/acme-proxy.ts). Nothing here is used by the operator.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { watchCustomObjects, type CustomObjectWatch } from "../e2e/support/watch.js";
import { parseRigEnv, repoRoot, rigHealthy } from "../test/support/global-setup.js";

/** Where the rig runs and whether this process started (and must stop) it. */
export interface Rig {
  readonly dir: string;
  readonly owned: boolean;
  readonly env: Record<string, string>;
}

/**
 * Starts a private rig in a temporary directory, or with `shared` reuses the one in RIG_DIR
 * (default .rig) when it is up. Private is the default: every operator watches the whole cluster,
 * so any other operator running against a shared rig (a demo, someone's tests) would reconcile the
 * benchmark's Certificates and ClusterIssuer too, and the figures would mix two processes' work.
 */
export function useRig(shared: boolean, log: (line: string) => void): Rig {
  const sharedDir = process.env["RIG_DIR"] ?? resolve(repoRoot, ".rig");
  if (shared) {
    if (!rigHealthy(sharedDir)) throw new Error(`--shared-rig: no rig is up in ${sharedDir}`);
    log(`reusing the rig in ${sharedDir}: other operators running against it will skew the figures`);
    return { dir: sharedDir, owned: false, env: parseRigEnv(join(sharedDir, "env")) };
  }
  const dir = mkdtempSync(join(tmpdir(), "dns01-bench-rig-"));
  log(`starting a private rig in ${dir}`);
  rig(dir, "up", { RIG_OWNER_PID: String(process.pid) });
  return { dir, owned: true, env: parseRigEnv(join(dir, "env")) };
}

/** Stops a rig this process started. */
export function releaseRig(r: Rig): void {
  if (!r.owned) return;
  rig(r.dir, "down");
  rmSync(r.dir, { recursive: true, force: true });
}

/** Runs hack/rig.sh with its output on stderr, so that stdout carries only the results. */
function rig(dir: string, command: string, env: Record<string, string> = {}): void {
  execFileSync("bash", [join(repoRoot, "hack/rig.sh"), command], {
    env: { ...process.env, ...env, RIG_DIR: dir },
    stdio: ["ignore", 2, 2],
  });
}

/** Memory of a process from /proc/<pid>/status, in MiB: resident now and the peak so far. */
export interface Memory {
  readonly rssMiB: number;
  readonly hwmMiB: number;
}

/** Reads VmRSS and VmHWM of a live process (Linux). */
export function memoryOf(pid: number): Memory {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
    if (!m?.[1]) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(m[1]);
  };
  return { rssMiB: kib("VmRSS") / 1024, hwmMiB: kib("VmHWM") / 1024 };
}

/** Clock ticks per second of /proc/<pid>/stat times: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;

/** CPU time (user + system) a live process has used so far, in seconds (Linux). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name, which may itself contain spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * Where the time of a set of issuances went, from the operator's JSON log: for each milestone
 * message, when it was first, typically (median) and last logged, in seconds after `startMs`.
 */
export function milestones(
  logFile: string,
  belongs: (name: string) => boolean,
  startMs: number,
): { message: string; count: number; first: number; median: number; last: number }[] {
  const wanted = [
    "created order",
    "created ACME order",
    "created challenge",
    "presented TXT record",
    "asked the CA to validate",
    "challenge finished",
    "certificate issued",
  ];
  const at = new Map<string, number[]>(wanted.map((m) => [m, []]));
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    if (!line.startsWith("{")) continue;
    const entry = JSON.parse(line) as { message?: string; name?: string; timestamp?: string };
    const list = at.get(entry.message ?? "");
    if (!list || !belongs(entry.name ?? "") || !entry.timestamp) continue;
    list.push((Date.parse(entry.timestamp) - startMs) / 1000);
  }
  return wanted.flatMap((message) => {
    const v = at.get(message) ?? [];
    if (v.length === 0) return [];
    const s = summary(v);
    return [{ message, count: v.length, first: s.min, median: s.median, last: s.max }];
  });
}

/** The operator under measurement: compiled JavaScript (as deployed) or the TypeScript source via tsx. */
export class OperatorUnderTest {
  private child: ChildProcess | undefined;
  readonly logFile: string;

  constructor(
    private readonly args: readonly string[],
    private readonly how: { source: true } | { source: false; entry: string },
    /** Extra flags for node itself, e.g. --cpu-prof. */
    private readonly nodeFlags: readonly string[] = [],
  ) {
    this.logFile = join(mkdtempSync(join(tmpdir(), "dns01-bench-operator-")), "operator.log");
  }

  start(): number {
    const out = createWriteStream(this.logFile, { flags: "a" });
    const entry = this.how.source ? ["--import", "tsx", join(repoRoot, "src/main.ts")] : [this.how.entry];
    const child = spawn(process.execPath, [...this.nodeFlags, ...entry, ...this.args], {
      cwd: repoRoot,
      env: { ...process.env, NODE_OPTIONS: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.pipe(out);
    child.stderr.pipe(out);
    this.child = child;
    if (child.pid === undefined) throw new Error("the operator did not start");
    return child.pid;
  }

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined || this.child?.exitCode !== null || this.child.signalCode !== null) {
      throw new Error(`the operator is not running; its log: ${this.logFile}`);
    }
    return pid;
  }

  /** SIGTERM, then SIGKILL after 20 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child?.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((done) => {
      child.once("exit", () => {
        done();
      });
    });
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
  }
}

/** The parts of a Certificate the watch reads. */
interface CertificateEvent {
  metadata?: { name?: string };
  status?: { conditions?: unknown[] };
}

/** Notes, from a watch (e2e/support/watch.ts), when each Certificate of a namespace is first seen Ready=True. */
export class ReadyWatch {
  private readonly readyAt = new Map<string, number>();
  private readonly waiters = new Map<string, (at: number) => void>();
  private watch: CustomObjectWatch | undefined;

  static async start(kc: KubeConfig, namespace: string): Promise<ReadyWatch> {
    const w = new ReadyWatch();
    const kind = { group: "dns01.io", version: "v1alpha1", plural: "certificates", namespace };
    w.watch = await watchCustomObjects(kc, kind, (_type, obj) => {
      w.observe(obj);
    });
    return w;
  }

  /** Resolves with the time (performance.now()) the Certificate was first seen Ready. */
  async ready(name: string, timeoutMs: number): Promise<number> {
    const seen = this.readyAt.get(name);
    if (seen !== undefined) return seen;
    return new Promise<number>((done, fail) => {
      const timer = setTimeout(() => {
        fail(new Error(`Certificate ${name} was not Ready within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(name, (t) => {
        clearTimeout(timer);
        done(t);
      });
    });
  }

  stop(): void {
    this.watch?.stop();
  }

  private observe(obj: CertificateEvent): void {
    const name = obj.metadata?.name;
    if (!name || this.readyAt.has(name)) return;
    const ready = (obj.status?.conditions ?? []).some((c) => {
      const cond = c as { type?: string; status?: string };
      return cond.type === "Ready" && cond.status === "True";
    });
    if (!ready) return;
    const now = performance.now();
    this.readyAt.set(name, now);
    this.waiters.get(name)?.(now);
    this.waiters.delete(name);
  }
}

/** Median, minimum and maximum of a non-empty list. */
export function summary(values: readonly number[]): { median: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return { median, min: sorted[0] ?? 0, max: sorted.at(-1) ?? 0 };
}
