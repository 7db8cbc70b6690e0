import { beforeAll, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { silentLogger } from "../../src/log.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../../src/solvers/types.js";

/** What the DNS-01 conformance suite needs from one provider under test. */
export interface ConformanceTarget {
  /** Builds the solver as the registry would (credentials read from a Secret or a fake reader). */
  solver(): Promise<Dns01Solver>;
  /** The zone the test records go into, with a trailing dot, e.g. `example.test.` */
  readonly zone: string;
  /**
   * The TXT values the provider holds at `fqdn` right now: read through its API (or emulator) or
   * from the DNS it publishes to. Used to check what present and cleanUp did.
   */
  values(fqdn: string): Promise<string[]>;
}

const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });
const value = (): string => randomBytes(32).toString("base64url");

/**
 * The DNS-01 conformance suite every provider runs (after cert-manager's): present, then visible;
 * present again is a no-op; two values on one name; cleaning up one keeps the other; cleaning up
 * all leaves nothing; cleaning up a missing record succeeds. Each case uses its own record name.
 */
export function describeConformance(name: string, setup: () => Promise<ConformanceTarget>): void {
  describe(`DNS-01 conformance: ${name}`, () => {
    let target: ConformanceTarget;
    let solver: Dns01Solver;
    beforeAll(async () => {
      target = await setup();
      solver = await target.solver();
    });
    const record = (v = value()): TxtRecord => ({
      fqdn: `_acme-challenge.c${randomBytes(4).toString("hex")}.${target.zone}`,
      zone: target.zone,
      value: v,
    });

    it("presents a value that is then visible", async () => {
      const r = record();
      await solver.present(r, ctx());
      expect(await target.values(r.fqdn)).toEqual([r.value]);
      await solver.cleanUp(r, ctx());
    });

    it("treats presenting the same value again as a no-op", async () => {
      const r = record();
      await solver.present(r, ctx());
      await solver.present(r, ctx());
      expect(await target.values(r.fqdn)).toEqual([r.value]);
      await solver.cleanUp(r, ctx());
    });

    it("keeps two values on one name side by side, as apex and wildcard need", async () => {
      const a = record();
      const b = { ...a, value: value() };
      await solver.present(a, ctx());
      await solver.present(b, ctx());
      expect((await target.values(a.fqdn)).sort()).toEqual([a.value, b.value].sort());
      await solver.cleanUp(a, ctx());
      await solver.cleanUp(b, ctx());
    });

    it("keeps the other value when one of two is cleaned up", async () => {
      const a = record();
      const b = { ...a, value: value() };
      await solver.present(a, ctx());
      await solver.present(b, ctx());
      await solver.cleanUp(a, ctx());
      expect(await target.values(a.fqdn)).toEqual([b.value]);
      await solver.cleanUp(b, ctx());
    });

    it("leaves nothing once every value is cleaned up", async () => {
      const a = record();
      const b = { ...a, value: value() };
      await solver.present(a, ctx());
      await solver.present(b, ctx());
      await solver.cleanUp(b, ctx());
      await solver.cleanUp(a, ctx());
      expect(await target.values(a.fqdn)).toEqual([]);
    });

    it("succeeds in cleaning up a value that is not there", async () => {
      const r = record();
      await expect(solver.cleanUp(r, ctx())).resolves.toBeUndefined();
      const a = record();
      await solver.present(a, ctx());
      await expect(solver.cleanUp({ ...a, value: value() }, ctx())).resolves.toBeUndefined();
      expect(await target.values(a.fqdn)).toEqual([a.value]);
      await solver.cleanUp(a, ctx());
    });
  });
}
