/**
 * Fault tests of the acmeDNS provider against the acme-dns emulator: throttling and server errors
 * are temporary (with the server's delay) and succeed on the next call; rejected credentials are
 * terminal after exactly one request, carrying acme-dns's message and never the password.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { TemporaryError, TerminalError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { RecentUpdates, createAcmeDnsSolver } from "../../src/solvers/acmedns/acmedns.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../../src/solvers/types.js";
import { AcmeDnsEmulator, type AcmeDnsRegistration } from "../emulators/acmedns/emulator.js";

const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });
const record = (v = randomBytes(32).toString("base64url")): TxtRecord => ({
  fqdn: "_acme-challenge.faults.example.test.",
  zone: "example.test.",
  value: v,
});

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

describe("acmeDNS faults", () => {
  let emulator: AcmeDnsEmulator;
  let account: AcmeDnsRegistration;
  const secrets = new Map<string, Record<string, string>>();

  function solverWith(accountJson: unknown): Dns01Solver {
    secrets.set("certs/acme-dns", { "acmedns.json": JSON.stringify(accountJson) });
    return createAcmeDnsSolver(
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
  }

  beforeAll(async () => {
    emulator = new AcmeDnsEmulator();
    await emulator.start();
    account = emulator.register();
  });
  afterAll(async () => {
    await emulator.stop();
  });
  beforeEach(() => {
    emulator.resetCalls();
  });

  it("answers 429 with a temporary error carrying Retry-After, then succeeds on the next call", async () => {
    const solver = solverWith({ "faults.example.test": account });
    emulator.inject({ status: 429, retryAfter: 3, route: "POST /update" });
    const r = record();
    const err = await rejection(solver.present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as TemporaryError).retryAfterMs).toBe(3000);
    expect(err.message).toContain("HTTP 429");
    await solver.present(r, ctx());
    expect(emulator.values(account.subdomain)).toContain(r.value);
    expect(emulator.calls).toEqual({ "POST /update": 2 });
  });

  it("answers a 5xx with a temporary error, then succeeds on the next call", async () => {
    const solver = solverWith({ "faults.example.test": account });
    emulator.inject({ status: 500, route: "POST /update" });
    const r = record();
    const err = await rejection(solver.present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toContain("HTTP 500: db_error");
    await solver.present(r, ctx());
    expect(emulator.values(account.subdomain)).toContain(r.value);
    expect(emulator.calls).toEqual({ "POST /update": 2 });
  });

  it("turns a wrong password into InvalidCredentials with acme-dns's message, after one request", async () => {
    const wrong = "W".repeat(40);
    const solver = solverWith({ "faults.example.test": { ...account, password: wrong } });
    const err = await rejection(solver.present(record(), ctx()));
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toContain("HTTP 401: forbidden (acme-dns answers this for");
    expect(err.message).not.toContain(wrong);
    expect(err.message).not.toContain(account.password);
    expect(emulator.calls).toEqual({ "POST /update": 1 });
  });

  it("turns an address outside allowfrom into InvalidCredentials, after one request", async () => {
    const fenced = emulator.register(["10.244.0.0/16"]);
    const solver = solverWith({ "faults.example.test": fenced });
    const err = await rejection(solver.present(record(), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(emulator.calls).toEqual({ "POST /update": 1 });
    // The same account from an allowed address works: the emulator checks, it does not just refuse.
    const open = emulator.register(["127.0.0.0/8"]);
    await solverWith({ "faults.example.test": open }).present(record(), ctx());
    expect(emulator.calls).toEqual({ "POST /update": 2 });
  });

  it("turns a subdomain that is not the account's into InvalidCredentials", async () => {
    const other = emulator.register();
    const solver = solverWith({ "faults.example.test": { ...account, subdomain: other.subdomain } });
    const err = await rejection(solver.present(record(), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
  });

  it("turns a 403 from a proxy in front of acme-dns into InvalidCredentials with its body", async () => {
    const solver = solverWith({ "faults.example.test": account });
    emulator.inject({ status: 403, body: "blocked by the ingress allow-list", route: "POST /update" });
    const err = await rejection(solver.present(record(), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toContain("HTTP 403: blocked by the ingress allow-list");
    expect(emulator.calls).toEqual({ "POST /update": 1 });
  });

  it("turns a value acme-dns cannot hold into InvalidConfiguration", async () => {
    const solver = solverWith({ "faults.example.test": account });
    const err = await rejection(solver.present(record("too-short"), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
    expect(err.message).toContain("HTTP 400: bad_txt");
  });

  it("turns a host that is not acme-dns into InvalidConfiguration", async () => {
    secrets.set("certs/acme-dns", { "acmedns.json": JSON.stringify({ "faults.example.test": account }) });
    const solver = createAcmeDnsSolver({
      host: `${emulator.url}/not-here`,
      accounts: {
        secrets: memorySecretReader(secrets),
        namespace: "certs",
        name: "acme-dns",
        key: "acmedns.json",
      },
    });
    const err = await rejection(solver.present(record(), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
    expect(err.message).toContain("HTTP 404: 404 page not found");
  });

  it("turns a refused connection into a temporary error", async () => {
    const stopped = new AcmeDnsEmulator();
    const url = await stopped.start();
    await stopped.stop();
    secrets.set("certs/acme-dns", { "acmedns.json": JSON.stringify({ "faults.example.test": account }) });
    const solver = createAcmeDnsSolver({
      host: url,
      accounts: {
        secrets: memorySecretReader(secrets),
        namespace: "certs",
        name: "acme-dns",
        key: "acmedns.json",
      },
    });
    const err = await rejection(solver.present(record(), ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toContain("ECONNREFUSED");
  });
});
