/**
 * The rfc2136 provider against the rig's BIND (TSIG-signed dynamic updates). Every test writes
 * under its own random name and cleans up after itself, so suites can share the rig.
 */
import { afterEach, describe, expect, it } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { queryTxt } from "../../src/dns/query.js";
import { parseServer } from "../../src/dns/server.js";
import { unusedPort } from "../../src/dns/testing/fake-server.js";
import { TemporaryError, TerminalError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { createRfc2136Solver, type Rfc2136Config } from "../../src/solvers/rfc2136/rfc2136.js";
import type { SolverContext, TxtRecord } from "../../src/solvers/types.js";
import { rigVar } from "../support/rig.js";

const server = rigVar("DNS_SERVER");
const ctx: SolverContext = { signal: new AbortController().signal, log: silentLogger() };

const KEYS = {
  "rig-key.": { tsigAlgorithm: "HMACSHA256", secretVar: "TSIG_SECRET" },
  "rig-md5.": { tsigAlgorithm: "HMACMD5", secretVar: "TSIG_SECRET_HMACMD5" },
  "rig-sha1.": { tsigAlgorithm: "HMACSHA1", secretVar: "TSIG_SECRET_HMACSHA1" },
  "rig-sha512.": { tsigAlgorithm: "HMACSHA512", secretVar: "TSIG_SECRET_HMACSHA512" },
} as const;

function rigConfig(
  keyName: keyof typeof KEYS = "rig-key.",
  extra: Partial<Rfc2136Config> = {},
): Rfc2136Config {
  const k = KEYS[keyName];
  return {
    nameserver: server,
    tsigKeyName: keyName,
    tsigAlgorithm: k.tsigAlgorithm,
    tsigSecret: rigVar(k.secretVar),
    ...extra,
  };
}

const solver = createRfc2136Solver(rigConfig());

/** Records presented by the current test, removed afterwards whatever happened. */
const presented: TxtRecord[] = [];
afterEach(async () => {
  for (const r of presented.splice(0)) await solver.cleanUp(r, ctx);
});

function uniqueRecord(zone = "example.test."): TxtRecord {
  const label = `t${randomBytes(6).toString("hex")}`;
  return { fqdn: `_acme-challenge.${label}.${zone}`, zone, value: randomBytes(32).toString("base64url") };
}

/** TXT values as `dig` (an independent client) sees them at the rig's BIND. */
function dig(name: string): string[] {
  const { host, port } = parseServer(server);
  const out = execFileSync(
    "dig",
    ["+short", "+time=2", "+tries=1", "-p", String(port), `@${host}`, "TXT", name],
    {
      encoding: "utf8",
    },
  );
  return out
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.replace(/^"|"$/g, ""));
}

async function reasonOf(
  p: Promise<unknown>,
): Promise<{ err: unknown; reason: string | undefined; message: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err === undefined) throw new Error("expected the call to fail");
  return {
    err,
    reason: err instanceof TerminalError ? err.reason : undefined,
    message: (err as { message?: string }).message ?? "",
  };
}

describe("rfc2136 against BIND", () => {
  it("adds a TXT value that a direct query then sees", async () => {
    const r = uniqueRecord();
    presented.push(r);
    await solver.present(r, ctx);
    expect(await queryTxt(r.fqdn, server)).toEqual([r.value]);
    expect(dig(r.fqdn)).toEqual([r.value]);
  });

  it("treats presenting the same value again as a no-op: still exactly one such value", async () => {
    const r = uniqueRecord();
    presented.push(r);
    await solver.present(r, ctx);
    await solver.present(r, ctx);
    expect(await queryTxt(r.fqdn, server)).toEqual([r.value]);
  });

  it("keeps two values at one name, and deleting one keeps the other (apex and wildcard)", async () => {
    const apex = uniqueRecord();
    const wildcard = { ...apex, value: randomBytes(32).toString("base64url") };
    presented.push(apex, wildcard);
    await solver.present(apex, ctx);
    await solver.present(wildcard, ctx);
    expect((await queryTxt(apex.fqdn, server)).sort()).toEqual([apex.value, wildcard.value].sort());

    await solver.cleanUp(apex, ctx);
    expect(await queryTxt(apex.fqdn, server)).toEqual([wildcard.value]);
    await solver.cleanUp(wildcard, ctx);
    expect(await queryTxt(apex.fqdn, server)).toEqual([]);
  });

  it("succeeds cleaning up a value that is not there, at a name that exists or not", async () => {
    const r = uniqueRecord();
    await solver.cleanUp(r, ctx);
    presented.push(r);
    await solver.present(r, ctx);
    await solver.cleanUp({ ...r, value: "never-presented" }, ctx);
    expect(await queryTxt(r.fqdn, server)).toEqual([r.value]);
    await solver.cleanUp(r, ctx);
    await solver.cleanUp(r, ctx);
    expect(await queryTxt(r.fqdn, server)).toEqual([]);
  });

  it.each(Object.keys(KEYS) as (keyof typeof KEYS)[])(
    "signs updates that BIND accepts with key %s",
    async (key) => {
      const s = createRfc2136Solver(rigConfig(key));
      const r = uniqueRecord();
      presented.push(r);
      await s.present(r, ctx);
      expect(await queryTxt(r.fqdn, server)).toEqual([r.value]);
      await s.cleanUp(r, ctx);
      expect(await queryTxt(r.fqdn, server)).toEqual([]);
    },
  );

  it("works over TCP", async () => {
    const s = createRfc2136Solver(rigConfig("rig-key.", { protocol: "TCP" }));
    const r = uniqueRecord("second.test.");
    presented.push(r);
    await s.present(r, ctx);
    expect(await queryTxt(r.fqdn, server, { protocol: "tcp" })).toEqual([r.value]);
    await s.cleanUp(r, ctx);
    expect(await queryTxt(r.fqdn, server)).toEqual([]);
  });

  it("reports a wrong secret as InvalidCredentials with NOTAUTH (BADSIG), and changes nothing", async () => {
    const s = createRfc2136Solver(rigConfig("rig-key.", { tsigSecret: randomBytes(32).toString("base64") }));
    const r = uniqueRecord();
    const { reason, message } = await reasonOf(s.present(r, ctx));
    expect(reason).toBe("InvalidCredentials");
    expect(message).toContain("NOTAUTH");
    expect(message).toContain("BADSIG");
    expect(await queryTxt(r.fqdn, server)).toEqual([]);
  });

  it("reports a key name BIND does not know as InvalidCredentials with NOTAUTH (BADKEY)", async () => {
    const s = createRfc2136Solver(rigConfig("rig-key.", { tsigKeyName: "no-such-key." }));
    const { reason, message } = await reasonOf(s.present(uniqueRecord(), ctx));
    expect(reason).toBe("InvalidCredentials");
    expect(message).toMatch(/NOTAUTH \(BADKEY\).*no-such-key\./);
  });

  it("reports a known key used with the wrong algorithm as BADKEY too", async () => {
    const s = createRfc2136Solver(rigConfig("rig-key.", { tsigAlgorithm: "HMACSHA512" }));
    const { reason, message } = await reasonOf(s.present(uniqueRecord(), ctx));
    expect(reason).toBe("InvalidCredentials");
    expect(message).toContain("BADKEY");
  });

  it("reports an unsigned update, which BIND refuses, as UpdateRefused", async () => {
    const s = createRfc2136Solver({ nameserver: server });
    const { reason, message } = await reasonOf(s.present(uniqueRecord(), ctx));
    expect(reason).toBe("UpdateRefused");
    expect(message).toContain("REFUSED");
  });

  it("reports a zone the server does not serve as ZoneNotFound, naming the zone", async () => {
    const r = uniqueRecord("no-such-zone.test.");
    const { reason, message } = await reasonOf(solver.present(r, ctx));
    expect(reason).toBe("ZoneNotFound");
    expect(message).toContain("not authoritative for zone no-such-zone.test.");
  });

  it("reports a server that is down as a TemporaryError", async () => {
    const s = createRfc2136Solver(rigConfig("rig-key.", { nameserver: `127.0.0.1:${await unusedPort()}` }));
    const { err, message } = await reasonOf(s.present(uniqueRecord(), ctx));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(message).toContain("connection refused");
  });
});
