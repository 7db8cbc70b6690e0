/**
 * Fault tests of the webhook provider against the webhook emulator: 429 and 5xx are temporary (with
 * the webhook's Retry-After) and succeed on the next call; 401/403 are InvalidCredentials carrying
 * the webhook's message after one request; other 4xx are terminal with the webhook's reason; a
 * webhook that does not answer in time is temporary; a rotated token is used on the next create.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { TemporaryError, TerminalError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import { createWebhookSolver, type WebhookConfig } from "../../src/solvers/webhook/webhook.js";
import { descriptor } from "../../src/solvers/webhook/descriptor.js";
import type { SolverContext, TxtRecord } from "../../src/solvers/types.js";
import { WebhookEmulator } from "../emulators/webhook/emulator.js";

const TOKEN = "tok-" + randomBytes(8).toString("hex");
const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });
const record = (): TxtRecord => ({
  fqdn: "_acme-challenge.faults.example.test.",
  zone: "example.test.",
  value: randomBytes(32).toString("base64url"),
});

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

describe("webhook faults", () => {
  const emulator = new WebhookEmulator({ tokens: [TOKEN, { token: "narrow", zones: ["second.test"] }] });
  const config = (over: Partial<WebhookConfig> = {}): WebhookConfig => ({
    url: emulator.url,
    groupName: "acme.example.com",
    solverName: "faults",
    resourceNamespace: "certs",
    token: TOKEN,
    ...over,
  });

  beforeAll(async () => {
    await emulator.start();
  });
  afterAll(async () => {
    await emulator.stop();
  });
  beforeEach(() => {
    emulator.resetCalls();
  });

  it("answers 429 with a temporary error carrying Retry-After, then succeeds on the next call", async () => {
    const solver = createWebhookSolver(config());
    emulator.inject({ status: 429, retryAfter: 4, body: { message: "slow down" } });
    const r = record();
    const err = await rejection(solver.present(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as TemporaryError).retryAfterMs).toBe(4000);
    expect(err.message).toContain("HTTP 429: slow down");
    await solver.present(r, ctx());
    expect(emulator.values(r.fqdn)).toContain(r.value);
    expect(emulator.calls).toEqual({ "POST /present": 2 });
    await solver.cleanUp(r, ctx());
  });

  it("answers a 5xx with a temporary error, then succeeds on the next call", async () => {
    const solver = createWebhookSolver(config());
    const r = record();
    await solver.present(r, ctx());
    emulator.inject({ status: 503, retryAfter: 1, body: "provider API unavailable", route: "POST /cleanup" });
    const err = await rejection(solver.cleanUp(r, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as TemporaryError).retryAfterMs).toBe(1000);
    expect(err.message).toContain("HTTP 503: provider API unavailable");
    await solver.cleanUp(r, ctx());
    expect(emulator.values(r.fqdn)).toEqual([]);
    expect(emulator.calls).toEqual({ "POST /present": 1, "POST /cleanup": 2 });
  });

  it("turns a wrong token into InvalidCredentials with the webhook's message, after one request", async () => {
    const solver = createWebhookSolver(config({ token: "wrong-token" }));
    const err = await rejection(solver.present(record(), ctx()));
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toBe(
      "webhook: faults.acme.example.com: present _acme-challenge.faults.example.test.: HTTP 401: missing or invalid bearer token",
    );
    expect(err.message).not.toContain("wrong-token");
    expect(emulator.calls).toEqual({ "POST /present": 1 });
  });

  it("turns a 403 for a zone the token may not change into InvalidCredentials, after one request", async () => {
    const solver = createWebhookSolver(config({ token: "narrow" }));
    const err = await rejection(solver.present(record(), ctx()));
    expect((err as TerminalError).reason).toBe("InvalidCredentials");
    expect(err.message).toContain("HTTP 403: this token may not change records in example.test.");
    expect(emulator.calls).toEqual({ "POST /present": 1 });
  });

  it("keeps the reason a webhook gives with a 4xx, and does not retry", async () => {
    const solver = createWebhookSolver(config());
    emulator.inject({
      status: 400,
      body: { message: "no hosted zone for example.test", reason: "ZoneNotFound" },
    });
    const err = await rejection(solver.present(record(), ctx()));
    expect((err as TerminalError).reason).toBe("ZoneNotFound");
    expect(err.message).toContain("HTTP 400: no hosted zone for example.test");
    expect(emulator.calls).toEqual({ "POST /present": 1 });
  });

  it("treats a 4xx without a reason as terminal WebhookRejected, and a 5xx as temporary", async () => {
    const solver = createWebhookSolver(config());
    emulator.inject({ status: 422, body: { message: "value too long for provider" } });
    const terminal = await rejection(solver.present(record(), ctx()));
    expect(terminal).toBeInstanceOf(TerminalError);
    expect((terminal as TerminalError).reason).toBe("WebhookRejected");
    emulator.inject({ status: 500, body: { message: "provider said 500" } });
    const temporary = await rejection(solver.present(record(), ctx()));
    expect(temporary).toBeInstanceOf(TemporaryError);
  });

  it("turns a webhook that does not answer in time into a temporary error", async () => {
    const solver = createWebhookSolver(config({ timeoutMs: 200 }));
    emulator.inject({ status: 200, delayMs: 1000 });
    const err = await rejection(solver.present(record(), ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toContain("within 200 ms");
  });

  it("uses a rotated token on the next create, without a restart", async () => {
    const data = new Map([["certs/hook", { token: "old-token" }]]);
    const ctxFor = { secretNamespace: "certs", secrets: memorySecretReader(data), clusterScoped: false };
    const block = {
      groupName: "acme.example.com",
      solverName: "faults",
      url: emulator.url,
      tokenSecretRef: { name: "hook", key: "token" },
    };
    const before = await descriptor.create(block, ctxFor);
    expect(((await rejection(before.present(record(), ctx()))) as TerminalError).reason).toBe(
      "InvalidCredentials",
    );
    data.set("certs/hook", { token: TOKEN });
    const after = await descriptor.create(block, ctxFor);
    const r = record();
    await after.present(r, ctx());
    expect(emulator.values(r.fqdn)).toContain(r.value);
    await after.cleanUp(r, ctx());
  });

  describe("over https", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "webhook-tls-"));
    let server: https.Server;
    let url = "";
    let cert = "";

    beforeAll(async () => {
      // A self-signed certificate for 127.0.0.1: trusted only through caBundle.
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:P-256",
          "-nodes",
          "-keyout",
          path.join(dir, "key.pem"),
          "-out",
          path.join(dir, "cert.pem"),
          "-days",
          "1",
          "-subj",
          "/CN=webhook-test",
          "-addext",
          "subjectAltName=IP:127.0.0.1",
        ],
        { stdio: "ignore" },
      );
      cert = readFileSync(path.join(dir, "cert.pem"), "utf8");
      server = https.createServer({ cert, key: readFileSync(path.join(dir, "key.pem")) }, (req, res) => {
        req.resume();
        req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      url = `https://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    });

    it("trusts the webhook's certificate through caBundle", async () => {
      const solver = createWebhookSolver({ ...config(), url, caBundle: cert });
      await expect(solver.present(record(), ctx())).resolves.toBeUndefined();
    });

    it("turns an untrusted certificate into InvalidConfiguration that asks for caBundle", async () => {
      const solver = createWebhookSolver({ ...config(), url });
      const err = await rejection(solver.present(record(), ctx()));
      expect((err as TerminalError).reason).toBe("InvalidConfiguration");
      expect(err.message).toContain("set caBundle to the CA that issued it");
    });

    it("takes the caBundle from the Issuer block as base64 PEM", async () => {
      const block = {
        groupName: "acme.example.com",
        solverName: "faults",
        url,
        caBundle: Buffer.from(cert).toString("base64"),
      };
      const solver = await descriptor.create(block, {
        secretNamespace: "certs",
        secrets: memorySecretReader(new Map()),
        clusterScoped: false,
      });
      await expect(solver.present(record(), ctx())).resolves.toBeUndefined();
    });
  });
});
