import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";

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

/** Reads a variable the rig exported into the test process; fails loudly when it is missing. */
export function rigVar(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`rig variable ${name} is not set: is the rig up?`);
  return v;
}
