import { execFileSync } from "node:child_process";
import { resolve } from "node:path";

/** Tears down the rig that global setup started (never a developer's shared rig). */
export default function globalTeardown(): void {
  const owned = process.env["DNS01_TEST_RIG_OWNED"];
  if (!owned) return;
  execFileSync("bash", [resolve(import.meta.dirname, "../../hack/rig.sh"), "down"], {
    env: { ...process.env, RIG_DIR: owned },
    stdio: "inherit",
  });
}
