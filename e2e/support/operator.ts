import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, type WriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, rigVar } from "../../test/support/rig.js";

/** A running operator process under test, with its JSON log lines kept in a file. */
export class OperatorProcess {
  private child: ChildProcess | undefined;
  private out: WriteStream | undefined;
  readonly logFile: string;

  constructor(
    private readonly args: readonly string[],
    private readonly env: Record<string, string> = {},
  ) {
    this.logFile = join(mkdtempSync(join(tmpdir(), "dns01-operator-")), "operator.log");
  }

  /** Starts the operator from source (tsx), appending to the same log file across restarts. */
  start(): void {
    if (this.child?.exitCode === null && this.child.signalCode === null)
      throw new Error("operator already running");
    this.out = createWriteStream(this.logFile, { flags: "a" });
    const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "src/main.ts"), ...this.args], {
      cwd: repoRoot,
      env: { ...process.env, NODE_OPTIONS: "", ...this.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.pipe(this.out, { end: false });
    child.stderr.pipe(this.out, { end: false });
    this.child = child;
    // However the test process ends, the operator must not outlive it.
    const kill = (): void => {
      child.kill("SIGKILL");
    };
    process.once("exit", kill);
    child.once("exit", () => process.removeListener("exit", kill));
  }

  /** The process id, while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Sends a signal and waits for the process to exit. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    const child = this.child;
    if (child?.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) =>
      child.once("exit", (code) => {
        resolve(code);
      }),
    );
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }

  /** Every log line written so far, parsed (non-JSON lines are kept as `{ raw }`). */
  logs(): Record<string, unknown>[] {
    return readFileSync(this.logFile, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return { raw: l };
        }
      });
  }

  /** The whole log as text, for assertions that no secret ever appears in it. */
  logText(): string {
    return readFileSync(this.logFile, "utf8");
  }
}

/** The flags that point an operator at the rig: its kubeconfig and BIND as the only resolver. */
export function rigOperatorArgs(namespace: string, extra: readonly string[] = []): string[] {
  return [
    "--kubeconfig",
    rigVar("KUBECONFIG"),
    "--namespace",
    namespace,
    "--cluster-resource-namespace",
    namespace,
    "--dns01-recursive-nameservers",
    rigVar("DNS_SERVER"),
    "--dns01-recursive-nameservers-only",
    "--health-addr",
    "127.0.0.1:0",
    // Port 9402 may be taken by the demo or another operator of the same test.
    "--metrics-addr",
    "127.0.0.1:0",
    ...extra,
  ];
}
