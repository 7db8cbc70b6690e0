import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

// Jest loads global setup without its module mapping, so this file imports nothing local;
// test/support/rig.ts re-exports these helpers for the tests.

/** The repository's root directory. */
export const repoRoot = resolve(import.meta.dirname, "../..");

/** Parses a rig env file (`export KEY='value'` lines) into a record. */
export function parseRigEnv(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = /^export ([A-Z0-9_]+)='(.*)'$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) env[m[1]] = m[2];
  }
  return env;
}

/** Runs hack/rig.sh with a RIG_DIR; throws with the script's output when it fails. */
export function rigCommand(rigDir: string, command: string, extraEnv: Record<string, string> = {}): void {
  execFileSync("bash", [resolve(repoRoot, "hack/rig.sh"), command], {
    env: { ...process.env, ...extraEnv, RIG_DIR: rigDir },
    stdio: ["ignore", "inherit", "inherit"],
  });
}

/** True when the rig in `rigDir` is up and answering. */
export function rigHealthy(rigDir: string): boolean {
  if (!existsSync(resolve(rigDir, "env"))) return false;
  try {
    execFileSync("bash", [resolve(repoRoot, "hack/rig.sh"), "status"], {
      env: { ...process.env, RIG_DIR: rigDir },
      stdio: "ignore",
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * Jest global setup for integration and e2e suites. It starts a private rig in a temporary
 * directory (or, with DNS01_TEST_REUSE_RIG=1, reuses the one up in `.rig/` or RIG_DIR), owned
 * by this process: a watchdog tears it down when the test run ends in any way, Ctrl-C included.
 * The rig's variables are copied into process.env, which the test workers inherit.
 *
 * With USE_EXISTING_CLUSTER=true (as in controller-runtime's envtest) the suites run against the
 * cluster named by KUBECONFIG instead of starting an apiserver; Pebble and BIND still run here.
 */
export default function globalSetup(): void {
  const kubeconfig = process.env["KUBECONFIG"];
  if (process.env["USE_EXISTING_CLUSTER"] === "true") {
    if (!kubeconfig) throw new Error("USE_EXISTING_CLUSTER=true needs KUBECONFIG to name the cluster");
    process.env["RIG_EXTERNAL_KUBECONFIG"] = kubeconfig;
  }
  const already = process.env["DNS01_TEST_RIG_OWNED"];
  // A rig that is already up (the one `make demo` leaves, say) may have an operator running that
  // this test run did not start, and that operator would reconcile the tests' objects too. So the
  // suites start a private rig unless told to reuse one with DNS01_TEST_REUSE_RIG=1, which is for a
  // developer iterating on one test against `make rig-up` with no operator of their own running.
  const reuse = process.env["DNS01_TEST_REUSE_RIG"] === "1";
  const shared =
    already !== undefined && already !== "" ? already : (process.env["RIG_DIR"] ?? resolve(repoRoot, ".rig"));
  let rigDir = shared;
  if (already && rigHealthy(already)) {
    // Another jest project of this run started it already.
  } else if (reuse && rigHealthy(shared)) {
    process.env["DNS01_TEST_RIG_OWNED"] = "";
  } else {
    rigDir = mkdtempSync(join(tmpdir(), "dns01-rig-"));
    rigCommand(rigDir, "up", { RIG_OWNER_PID: String(process.pid) });
    process.env["DNS01_TEST_RIG_OWNED"] = rigDir;
  }
  Object.assign(process.env, parseRigEnv(join(rigDir, "env")));
}
