/**
 * The DNS-01 conformance cases against the acme-dns emulator, written through to the rig's BIND,
 * with each test domain delegated by a real CNAME in BIND (`_acme-challenge.<domain>.example.test`
 * → `<subdomain>.auth.example.test`), and the values read back through DNS as the CA reads them
 * (the acme-dns zone is inside example.test because BIND, recursion off, answers a CNAME's target
 * only within one zone; a second emulator in second.test covers a delegation into another zone).
 *
 * acme-dns differs from the shared suite (test/solvers/conformance.ts) in one documented way: it
 * has no delete, so "cleaning up every value leaves nothing" becomes "cleaning up changes nothing,
 * and the two newest updates replace the stale values". The other five cases are the same.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { queryTxt } from "../../src/dns/query.js";
import { silentLogger } from "../../src/log.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { descriptor } from "../../src/solvers/acmedns/descriptor.js";
import { RecentUpdates, createAcmeDnsSolver, type AcmeDnsRecord } from "../../src/solvers/acmedns/acmedns.js";
import { Dns01Dispatcher } from "../../src/solvers/dispatcher.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../../src/solvers/types.js";
import { bindBackend } from "../emulators/bind-backend.js";
import { delegate, undelegate } from "../emulators/acmedns/delegation.js";
import { AcmeDnsEmulator, type AcmeDnsRegistration } from "../emulators/acmedns/emulator.js";
import { rigVar } from "../support/rig.js";

const ZONE = "example.test.";
const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });
const value = (): string => randomBytes(32).toString("base64url");

describe("DNS-01 conformance: acmeDNS against the acme-dns emulator, delegated by CNAME in BIND", () => {
  let emulator: AcmeDnsEmulator;
  const secrets = new Map<string, Record<string, string>>();
  const accounts: Record<string, AcmeDnsRegistration> = {};
  const delegated: { domain: string; fulldomain: string }[] = [];
  let solver: Dns01Solver;

  /** A fresh domain with its own account, its Secret entry and its CNAME. */
  async function provision(
    on: AcmeDnsEmulator = emulator,
  ): Promise<{ domain: string; account: AcmeDnsRegistration; fqdn: string }> {
    const domain = `c${randomBytes(4).toString("hex")}.example.test`;
    const account = on.register();
    accounts[domain] = account;
    secrets.set("certs/acme-dns", { "acmedns.json": JSON.stringify(accounts) });
    await delegate(domain, account.fulldomain, ZONE);
    delegated.push({ domain, fulldomain: account.fulldomain });
    return { domain, account, fqdn: `_acme-challenge.${domain}.` };
  }

  const record = (fqdn: string, v = value()): TxtRecord => ({ fqdn, zone: ZONE, value: v });
  /** What the CA sees: BIND answers the CNAME and the acme-dns name's TXT values together. */
  const seen = (fqdn: string): Promise<string[]> => queryTxt(fqdn, rigVar("DNS_SERVER"));

  beforeAll(async () => {
    emulator = new AcmeDnsEmulator({
      domain: "auth.example.test",
      backendZone: "example.test",
      backend: bindBackend(),
    });
    await emulator.start();
    solver = await descriptor.create(
      { host: emulator.url, accountSecretRef: { name: "acme-dns", key: "acmedns.json" } },
      { secretNamespace: "certs", secrets: memorySecretReader(secrets), clusterScoped: false },
    );
  });

  afterAll(async () => {
    for (const d of delegated) await undelegate(d.domain, d.fulldomain, ZONE);
    await emulator.purge();
    await emulator.stop();
  });

  it("presents a value that is then visible through the CNAME", async () => {
    const { fqdn } = await provision();
    const r = record(fqdn);
    await solver.present(r, ctx());
    expect(await seen(fqdn)).toEqual([r.value]);
  });

  it("treats presenting the same value again as a no-op", async () => {
    const { fqdn, account } = await provision();
    const r = record(fqdn);
    emulator.resetCalls();
    await solver.present(r, ctx());
    await solver.present(r, ctx());
    expect(emulator.calls).toEqual({ "POST /update": 1 });
    expect(emulator.values(account.subdomain)).toEqual([r.value]);
    expect(await seen(fqdn)).toEqual([r.value]);
  });

  it("keeps two values on one name side by side, as apex and wildcard need", async () => {
    const { fqdn } = await provision();
    const a = record(fqdn);
    const b = record(fqdn);
    await solver.present(a, ctx());
    await solver.present(b, ctx());
    expect((await seen(fqdn)).sort()).toEqual([a.value, b.value].sort());
  });

  it("keeps the other value when one of two is cleaned up", async () => {
    const { fqdn } = await provision();
    const a = record(fqdn);
    const b = record(fqdn);
    await solver.present(a, ctx());
    await solver.present(b, ctx());
    await solver.cleanUp(a, ctx());
    expect(await seen(fqdn)).toContain(b.value);
  });

  it("changes nothing on cleanup (acme-dns has no delete), and the next two updates replace stale values", async () => {
    const { fqdn, account } = await provision();
    const a = record(fqdn);
    const b = record(fqdn);
    await solver.present(a, ctx());
    await solver.present(b, ctx());
    emulator.resetCalls();
    await solver.cleanUp(b, ctx());
    await solver.cleanUp(a, ctx());
    expect(emulator.total).toBe(0);
    expect((await seen(fqdn)).sort()).toEqual([a.value, b.value].sort());
    const c = record(fqdn);
    const d = record(fqdn);
    await solver.present(c, ctx());
    await solver.present(d, ctx());
    expect(emulator.values(account.subdomain).sort()).toEqual([c.value, d.value].sort());
    expect((await seen(fqdn)).sort()).toEqual([c.value, d.value].sort());
  });

  it("succeeds in cleaning up a value that is not there", async () => {
    const { fqdn } = await provision();
    await expect(solver.cleanUp(record(fqdn), ctx())).resolves.toBeUndefined();
    const a = record(fqdn);
    await solver.present(a, ctx());
    await expect(solver.cleanUp(record(fqdn), ctx())).resolves.toBeUndefined();
    expect(await seen(fqdn)).toEqual([a.value]);
  });

  it("keeps the last two values of an account: a third update replaces the oldest", async () => {
    const { fqdn, account } = await provision();
    const [a, b, c] = [record(fqdn), record(fqdn), record(fqdn)];
    for (const r of [a, b, c]) await solver.present(r, ctx());
    expect(emulator.values(account.subdomain).sort()).toEqual([b.value, c.value].sort());
    expect((await seen(fqdn)).sort()).toEqual([b.value, c.value].sort());
  });

  it("keeps the other value when a restarted operator presents its own again", async () => {
    // A fresh process has no memory of recent updates, so it sends the value again; acme-dns
    // then overwrites its older row, which holds this very value: the other one survives.
    const { fqdn, account } = await provision();
    const a = record(fqdn);
    const b = record(fqdn);
    await solver.present(a, ctx());
    await solver.present(b, ctx());
    const restarted = createAcmeDnsSolver(
      {
        host: emulator.url,
        accounts: {
          secrets: memorySecretReader(secrets),
          namespace: "certs",
          name: "acme-dns",
          key: "acmedns.json",
        },
      },
      { recent: new RecentUpdates() },
    );
    await restarted.present(a, ctx());
    expect(emulator.values(account.subdomain).sort()).toEqual([a.value, b.value].sort());
  });

  it("makes two updates and no other call for an apex and wildcard certificate", async () => {
    const { fqdn } = await provision();
    const apex = record(fqdn);
    const wildcard = record(fqdn);
    emulator.resetCalls();
    await Promise.all([solver.present(apex, ctx()), solver.present(wildcard, ctx())]);
    expect((await seen(fqdn)).sort()).toEqual([apex.value, wildcard.value].sort());
    await Promise.all([solver.cleanUp(apex, ctx()), solver.cleanUp(wildcard, ctx())]);
    expect(emulator.calls).toEqual({ "POST /update": 2 });
  });

  describe("with the dispatcher resolving the record", () => {
    let dispatcher: Dns01Dispatcher;
    /** An acme-dns server whose zone is another zone than the delegated names'. */
    let crossZone: AcmeDnsEmulator;
    let crossSolver: Dns01Solver;
    beforeAll(async () => {
      crossZone = new AcmeDnsEmulator({
        domain: "auth.second.test",
        backendZone: "second.test",
        backend: bindBackend(),
      });
      await crossZone.start();
      crossSolver = await descriptor.create(
        { host: crossZone.url, accountSecretRef: { name: "acme-dns", key: "acmedns.json" } },
        { secretNamespace: "certs", secrets: memorySecretReader(secrets), clusterScoped: false },
      );
      dispatcher = new Dns01Dispatcher({
        recursiveNameservers: [rigVar("DNS_SERVER")],
        recursiveNameserversOnly: true,
        log: silentLogger(),
        cacheTtlMs: 0,
      });
    });
    afterAll(async () => {
      await crossZone.purge();
      await crossZone.stop();
    });

    it("finds the account by its fulldomain once cnameStrategy Follow has followed the CNAME", async () => {
      const { domain, account } = await provision(crossZone);
      const resolved = await dispatcher.resolveRecord(domain, "Follow");
      expect(resolved).toEqual({ fqdn: `${account.fulldomain}.`, zone: "second.test." });
      const v = value();
      await crossSolver.present({ ...resolved, value: v }, ctx());
      expect(crossZone.values(account.subdomain)).toEqual([v]);
      expect((await dispatcher.checkPropagation(resolved, v)).propagated).toBe(true);
    });

    it("finds the account by the domain under _acme-challenge with cnameStrategy None", async () => {
      const { domain, account } = await provision();
      const resolved = await dispatcher.resolveRecord(`*.${domain}`, "None");
      expect(resolved).toEqual({ fqdn: `_acme-challenge.${domain}.`, zone: ZONE });
      const v = value();
      await solver.present({ ...resolved, value: v }, ctx());
      expect(emulator.values(account.subdomain)).toEqual([v]);
      // The acme-dns zone is inside example.test here, so BIND answers the CNAME's target too; a
      // real acme-dns zone lives on other servers, which is why the Issuer examples set Follow.
      expect((await dispatcher.checkPropagation(resolved, v)).propagated).toBe(true);
    });

    it("uses the challenge's domain when the record carries it, whatever the record name", async () => {
      const { domain, account } = await provision();
      const other = await provision();
      const v = value();
      // The record name is another account's fulldomain; the domain field decides.
      const r: AcmeDnsRecord = {
        fqdn: `${other.account.fulldomain}.`,
        zone: "second.test.",
        value: v,
        domain,
      };
      await solver.present(r, ctx());
      expect(emulator.values(account.subdomain)).toEqual([v]);
      expect(emulator.values(other.account.subdomain)).toEqual([]);
    });
  });
});
