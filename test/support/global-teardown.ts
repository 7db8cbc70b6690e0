import { rigCommand } from "./rig.js";

/** Tears down the rig that global setup started (never a developer's shared rig). */
export default function globalTeardown(): void {
  const owned = process.env["DNS01_TEST_RIG_OWNED"];
  if (owned) rigCommand(owned, "down");
}
