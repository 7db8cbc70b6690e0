import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./rig.js";

/**
 * The path of hack/gitops-health (kstatus and Argo CD's Lua health, built from their Go modules),
 * built into the binary cache on first use; hack/install-deps.sh builds it ahead. The cache key is
 * the hash of its sources, computed as hack/build-rig-binaries.sh computes it.
 */
export function gitopsHealthBinary(): string {
  const src = join(repoRoot, "hack/gitops-health");
  const hash = createHash("sha256");
  for (const f of ["main.go", "go.mod", "go.sum"]) hash.update(readFileSync(join(src, f)));
  const cache = process.env["DNS01_CACHE"] ?? join(homedir(), ".cache/dns01-operator");
  const bin = join(cache, "bin", `gitops-health-${hash.digest("hex").slice(0, 12)}`);
  if (!existsSync(bin)) {
    execFileSync("bash", [join(repoRoot, "hack/build-rig-binaries.sh"), "gitops-health"], {
      stdio: "inherit",
    });
  }
  return bin;
}
