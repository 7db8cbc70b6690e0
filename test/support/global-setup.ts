import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseRigEnv, repoRoot, rigCommand, rigHealthy } from "./rig.js";

/**
 * Jest global setup for integration and e2e suites. It reuses the developer's rig when one is up
 * in `.rig/` (or in RIG_DIR), and otherwise starts a private rig in a temporary directory, owned
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
  const shared = already || (process.env["RIG_DIR"] ?? resolve(repoRoot, ".rig"));
  let rigDir = shared;
  if (already && rigHealthy(already)) {
    // Another jest project of this run started it already.
  } else if (rigHealthy(shared)) {
    process.env["DNS01_TEST_RIG_OWNED"] = "";
  } else {
    rigDir = mkdtempSync(join(tmpdir(), "dns01-rig-"));
    rigCommand(rigDir, "up", { RIG_OWNER_PID: String(process.pid) });
    process.env["DNS01_TEST_RIG_OWNED"] = rigDir;
  }
  Object.assign(process.env, parseRigEnv(join(rigDir, "env")));
}
