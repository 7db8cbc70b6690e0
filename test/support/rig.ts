export { parseRigEnv, repoRoot, rigCommand, rigHealthy } from "./global-setup.js";

/** Reads a variable the rig exported into the test process; fails loudly when it is missing. */
export function rigVar(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`rig variable ${name} is not set: is the rig up?`);
  return v;
}
