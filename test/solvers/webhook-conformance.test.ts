/**
 * The DNS-01 conformance suite for the webhook provider, twice: against the webhook emulator
 * (written through to the rig's BIND), and against the reference server of examples/webhook run as
 * its own process with its nsupdate backend, so the example users start from is proven to work.
 * Values are read back from BIND. The URL comes from the operator's DNS01_WEBHOOK_API_URL
 * template, as it does until the CRD has a url field.
 */
import { afterAll, describe, expect, it } from "@jest/globals";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { queryTxt } from "../../src/dns/query.js";
import { silentLogger } from "../../src/log.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import type { ProviderContext } from "../../src/solvers/provider.js";
import type { WebhookProvider } from "../../src/crds/index.js";
import {
  descriptor,
  WEBHOOK_URL_ENV,
  type WebhookBlockExtensions,
} from "../../src/solvers/webhook/descriptor.js";
import type { Dns01Solver, SolverContext } from "../../src/solvers/types.js";
import { bindBackend } from "../emulators/bind-backend.js";
import { WebhookEmulator } from "../emulators/webhook/emulator.js";
import { repoRoot, rigVar } from "../support/rig.js";
import { describeConformance } from "./conformance.js";

const TOKEN = randomBytes(16).toString("hex");
const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });

function providerContext(): ProviderContext {
  return {
    secretNamespace: "certs",
    secrets: memorySecretReader(new Map([["certs/hook", { token: TOKEN }]])),
    clusterScoped: false,
  };
}

/** Runs `f` with the operator's webhook URL template set to `template`. */
async function withTemplate<T>(template: string, f: () => Promise<T>): Promise<T> {
  const saved = process.env[WEBHOOK_URL_ENV];
  process.env[WEBHOOK_URL_ENV] = template;
  try {
    return await f();
  } finally {
    if (saved === undefined) Reflect.deleteProperty(process.env, WEBHOOK_URL_ENV);
    else process.env[WEBHOOK_URL_ENV] = saved;
  }
}

/** Builds the solver as the registry does, with the URL from the operator's template. */
function solverAt(template: string): Promise<Dns01Solver> {
  return withTemplate(template, () =>
    descriptor.create(
      { groupName: "acme.example.com", solverName: "rig-dns", config: { ttl: 60 } },
      providerContext(),
    ),
  );
}

const emulator = new WebhookEmulator({ backend: bindBackend() });
let started: Promise<string> | undefined;
/** Starts the emulator once, for whichever block needs it first. */
const emulatorUrl = (): Promise<string> => (started ??= emulator.start());
afterAll(async () => {
  await emulator.stop();
});

describeConformance("webhook against the webhook emulator", async () => {
  const url = await emulatorUrl();
  return {
    zone: "example.test.",
    solver: () => solverAt(`${url}/{groupName}/{solverName}`),
    values: (fqdn: string) => queryTxt(fqdn, rigVar("DNS_SERVER")),
  };
});

describe("webhook against the webhook emulator: calls", () => {
  it("sends the contract's document to the templated URL, one call per present and cleanup", async () => {
    const solver = await solverAt(`${await emulatorUrl()}/{groupName}/{solverName}`);
    emulator.resetCalls();
    const fqdn = `_acme-challenge.w${randomBytes(4).toString("hex")}.example.test.`;
    const apex = { fqdn, zone: "example.test.", value: randomBytes(32).toString("base64url") };
    const wildcard = { ...apex, value: randomBytes(32).toString("base64url") };
    await Promise.all([solver.present(apex, ctx()), solver.present(wildcard, ctx())]);
    expect((await queryTxt(fqdn, rigVar("DNS_SERVER"))).sort()).toEqual([apex.value, wildcard.value].sort());
    await Promise.all([solver.cleanUp(apex, ctx()), solver.cleanUp(wildcard, ctx())]);
    expect(await queryTxt(fqdn, rigVar("DNS_SERVER"))).toEqual([]);
    expect(emulator.calls).toEqual({ "POST /present": 2, "POST /cleanup": 2 });
    expect(emulator.received[0]).toMatchObject({
      apiVersion: "dns01.io/webhook/v1",
      groupName: "acme.example.com",
      solverName: "rig-dns",
      resourceNamespace: "certs",
      config: { ttl: 60 },
    });
  });
});

/** The reference server, started as users would start it, with its nsupdate backend. */
class ReferenceServer {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(path.join(tmpdir(), "webhook-example-"));
  url = "";

  async start(): Promise<string> {
    const keyfile = path.join(this.dir, "rig.key");
    const algorithm = `hmac-${rigVar("TSIG_ALGORITHM").toLowerCase().replace(/^hmac/, "")}`;
    writeFileSync(
      keyfile,
      `key "${rigVar("TSIG_KEY_NAME")}" { algorithm ${algorithm}; secret "${rigVar("TSIG_SECRET")}"; };\n`,
      { mode: 0o600 },
    );
    const child = spawn(process.execPath, [path.join(repoRoot, "examples/webhook/server.mjs")], {
      env: {
        PATH: process.env["PATH"] ?? "",
        WEBHOOK_LISTEN: "127.0.0.1:0",
        WEBHOOK_BACKEND: "nsupdate",
        WEBHOOK_TOKEN: TOKEN,
        NSUPDATE_SERVER: rigVar("DNS_SERVER"),
        NSUPDATE_KEYFILE: keyfile,
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.child = child;
    const lines = createInterface({ input: child.stdout });
    this.url = await new Promise<string>((resolve, reject) => {
      child.once("exit", (code) => {
        reject(new Error(`examples/webhook/server.mjs exited with ${String(code)}`));
      });
      lines.once("line", resolve);
    });
    lines.on("line", () => undefined); // keep draining its request log
    return this.url;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child?.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const reference = new ReferenceServer();
afterAll(async () => {
  await reference.stop();
});

describeConformance("webhook against examples/webhook/server.mjs (nsupdate to BIND)", async () => {
  const url = await reference.start();
  return {
    zone: "example.test.",
    // With a token: the reference server checks it (a loopback URL may carry one over http).
    solver: () =>
      withTemplate(url, () => {
        const block: WebhookProvider & WebhookBlockExtensions = {
          groupName: "acme.example.com",
          solverName: "rig-dns",
          tokenSecretRef: { name: "hook", key: "token" },
        };
        return descriptor.create(block, providerContext());
      }),
    values: (fqdn: string) => queryTxt(fqdn, rigVar("DNS_SERVER")),
  };
});
