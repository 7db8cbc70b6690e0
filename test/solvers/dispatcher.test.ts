/**
 * The DNS-01 dispatcher against the rig's BIND, which is authoritative (not recursive) for
 * example.test and second.test on a non-53 port: the way the operator runs in the rig, with
 * `--dns01-recursive-nameservers $DNS_SERVER`, both with and without
 * `--dns01-recursive-nameservers-only`. Every test uses its own random names and removes what it
 * added, so suites can share the rig.
 */
import { afterEach, describe, expect, it } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { parseServer } from "../../src/dns/server.js";
import { silentLogger } from "../../src/log.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { Dns01Dispatcher } from "../../src/solvers/dispatcher.js";
import { createSolver } from "../../src/solvers/registry.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../../src/solvers/types.js";
import { rigVar } from "../support/rig.js";

const server = rigVar("DNS_SERVER");
const { host, port } = parseServer(server);
const ctx: SolverContext = { signal: new AbortController().signal, log: silentLogger() };

const label = (prefix: string): string => `${prefix}-${randomBytes(5).toString("hex")}`;
const value = (): string => randomBytes(32).toString("base64url");

/** Both ways the operator can be run against the rig. */
const MODES = [
  ["recursive nameservers only", { recursiveNameserversOnly: true }],
  ["the zone's authoritative servers", { recursiveNameserversOnly: false, authoritativePort: port }],
] as const;

function dispatcher(mode: {
  recursiveNameserversOnly: boolean;
  authoritativePort?: number;
}): Dns01Dispatcher {
  return new Dns01Dispatcher({ recursiveNameservers: [server], log: silentLogger(), ...mode });
}

/** The rfc2136 provider built the way the Challenge controller builds it: from a block, via the registry. */
async function rfc2136(): Promise<Dns01Solver> {
  const secrets = memorySecretReader(new Map([["rig/tsig", { secret: rigVar("TSIG_SECRET") }]]));
  return createSolver(
    {
      rfc2136: {
        nameserver: server,
        tsigKeyName: rigVar("TSIG_KEY_NAME"),
        tsigAlgorithm: rigVar("TSIG_ALGORITHM"),
        tsigSecretSecretRef: { name: "tsig", key: "secret" },
      },
    },
    { secretNamespace: "rig", secrets },
  );
}

/** Runs nsupdate (an independent client) with the rig's key; the key goes over stdin, not argv. */
function nsupdate(zone: string, ...updates: string[]): void {
  const script = [
    `key hmac-sha256:${rigVar("TSIG_KEY_NAME")} ${rigVar("TSIG_SECRET")}`,
    `server ${host} ${port}`,
    `zone ${zone}`,
    ...updates.map((u) => `update ${u}`),
    "send",
    "",
  ].join("\n");
  execFileSync("nsupdate", [], { input: script, stdio: ["pipe", "ignore", "pipe"] });
}

/**
 * TXT values at `name` as `dig` (an independent client) finds them at BIND, following CNAMEs the
 * way a resolver does: BIND, authoritative only, answers a name with its CNAME and stops there
 * when the target is in another zone.
 */
function dig(name: string, hops = 0): string[] {
  const out = execFileSync(
    "dig",
    ["+short", "+time=2", "+tries=1", "-p", String(port), `@${host}`, "TXT", name],
    {
      encoding: "utf8",
    },
  );
  const lines = out.split("\n").filter((l) => l !== "");
  const values = lines.filter((l) => l.startsWith('"')).map((l) => l.replace(/^"|"$/g, ""));
  const alias = lines.find((l) => !l.startsWith('"'));
  if (values.length > 0 || alias === undefined || hops > 8) return values;
  return dig(alias, hops + 1);
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("Dns01Dispatcher.resolveRecord against BIND", () => {
  it("finds the zone of a name in example.test and in second.test", async () => {
    const d = dispatcher({ recursiveNameserversOnly: true });
    const a = label("www");
    await expect(d.resolveRecord(`${a}.example.test`, "None")).resolves.toEqual({
      fqdn: `_acme-challenge.${a}.example.test.`,
      zone: "example.test.",
    });
    await expect(d.resolveRecord(`deep.${a}.second.test`, "Follow")).resolves.toEqual({
      fqdn: `_acme-challenge.deep.${a}.second.test.`,
      zone: "second.test.",
    });
    await expect(d.resolveRecord("example.test", undefined)).resolves.toEqual({
      fqdn: "_acme-challenge.example.test.",
      zone: "example.test.",
    });
  });

  it("follows _acme-challenge.alias.example.test's CNAME into second.test with Follow, and not with None", async () => {
    const alias = label("alias");
    const target = label("target");
    const from = `_acme-challenge.${alias}.example.test.`;
    const to = `_acme-challenge.${target}.second.test.`;
    nsupdate("example.test.", `add ${from} 60 CNAME ${to}`);
    cleanups.push(() => {
      nsupdate("example.test.", `delete ${from} CNAME`);
    });
    const d = dispatcher({ recursiveNameserversOnly: true });
    await expect(d.resolveRecord(`${alias}.example.test`, "Follow")).resolves.toEqual({
      fqdn: to,
      zone: "second.test.",
    });
    await expect(d.resolveRecord(`${alias}.example.test`, "None")).resolves.toEqual({
      fqdn: from,
      zone: "example.test.",
    });
  });

  it("reports ZoneNotFound for a name in a zone BIND does not serve", async () => {
    const d = dispatcher({ recursiveNameserversOnly: true });
    await expect(d.resolveRecord(`${label("x")}.unknown.test`, "None")).rejects.toMatchObject({
      reason: "ZoneNotFound",
    });
  });
});

describe.each(MODES)("Dns01Dispatcher.checkPropagation against BIND, checking %s", (_, mode) => {
  it("is false before the rfc2136 solver presents the value, true after, and false after clean-up", async () => {
    const d = dispatcher(mode);
    const solver = await rfc2136();
    const record = await d.resolveRecord(`${label("www")}.example.test`, "None");
    const txt: TxtRecord = { ...record, value: value() };
    cleanups.push(() => solver.cleanUp(txt, ctx));

    const before = await d.checkPropagation(record, txt.value);
    expect(before.propagated).toBe(false);
    expect(before.detail).toContain(`${server} (no TXT record)`);

    await solver.present(txt, ctx);
    const after = await d.checkPropagation(record, txt.value);
    expect(after).toMatchObject({ propagated: true });
    expect(after.detail).toContain(server);

    await solver.cleanUp(txt, ctx);
    expect((await d.checkPropagation(record, txt.value)).propagated).toBe(false);
  });

  it("sees an apex and a wildcard value separately at their shared name", async () => {
    const d = dispatcher(mode);
    const solver = await rfc2136();
    const name = `${label("both")}.example.test`;
    const [apex, wildcard] = await Promise.all([
      d.resolveRecord(name, "None"),
      d.resolveRecord(`*.${name}`, "None"),
    ]);
    expect(wildcard).toEqual(apex);
    const a: TxtRecord = { ...apex, value: value() };
    const w: TxtRecord = { ...wildcard, value: value() };
    cleanups.push(
      () => solver.cleanUp(a, ctx),
      () => solver.cleanUp(w, ctx),
    );

    await solver.present(a, ctx);
    expect((await d.checkPropagation(apex, a.value)).propagated).toBe(true);
    const waiting = await d.checkPropagation(wildcard, w.value);
    expect(waiting.propagated).toBe(false);
    expect(waiting.detail).toContain("(1 other value)");
    await solver.present(w, ctx);
    expect((await d.checkPropagation(wildcard, w.value)).propagated).toBe(true);
    await solver.cleanUp(a, ctx);
    expect((await d.checkPropagation(apex, a.value)).propagated).toBe(false);
    expect((await d.checkPropagation(wildcard, w.value)).propagated).toBe(true);
  });

  it("checks a value presented at a CNAME's target in second.test, which the alias then serves", async () => {
    const alias = label("alias");
    const from = `_acme-challenge.${alias}.example.test.`;
    const to = `_acme-challenge.${label("target")}.second.test.`;
    nsupdate("example.test.", `add ${from} 60 CNAME ${to}`);
    cleanups.push(() => {
      nsupdate("example.test.", `delete ${from} CNAME`);
    });
    const d = dispatcher(mode);
    const solver = await rfc2136();
    const record = await d.resolveRecord(`${alias}.example.test`, "Follow");
    expect(record).toEqual({ fqdn: to, zone: "second.test." });
    const txt: TxtRecord = { ...record, value: value() };
    cleanups.push(() => solver.cleanUp(txt, ctx));

    expect((await d.checkPropagation(record, txt.value)).propagated).toBe(false);
    await solver.present(txt, ctx);
    expect((await d.checkPropagation(record, txt.value)).propagated).toBe(true);
    // What the CA will look up: the alias, answered through the CNAME.
    expect(dig(from)).toEqual([txt.value]);
  });
});
