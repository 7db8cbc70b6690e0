/**
 * route53 `auth.kubernetes.serviceAccountRef` against the rig's apiserver and moto's STS: the
 * operator requests a token of the ServiceAccount through the TokenRequest API (audience
 * sts.amazonaws.com unless configured), exchanges it for the role by AssumeRoleWithWebIdentity,
 * and writes the record with the role's credentials.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { TerminalError } from "../../src/errors.js";
import { KubeClient } from "../../src/kube/client.js";
import { silentLogger } from "../../src/log.js";
import { memorySecretReader } from "../../src/solvers/credentials.js";
import {
  ROUTE53_API_URL_ENV,
  ROUTE53_STS_API_URL_ENV,
  descriptor,
} from "../../src/solvers/route53/descriptor.js";
import type { Route53Provider } from "../../src/crds/index.js";
import {
  createHostedZone,
  createIamRole,
  ROUTE53_FULL_ACCESS,
  startMoto,
  txtValues,
  type MotoServer,
} from "../emulators/route53/moto.js";
import { createNamespace, deleteNamespace, testClients, type TestClients } from "../support/kube.js";

const SA = "dns01-route53";
const ctx = () => ({ signal: new AbortController().signal, log: silentLogger() });

/** Forwards to moto, keeping the web identity tokens of AssumeRoleWithWebIdentity calls. */
class StsCapture {
  readonly tokens: string[] = [];
  private server: Server | undefined;

  async start(upstream: string): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        const form = new URLSearchParams(body.toString("utf8"));
        if (form.get("Action") === "AssumeRoleWithWebIdentity")
          this.tokens.push(form.get("WebIdentityToken") ?? "");
        const headers = Object.fromEntries(
          Object.entries(req.headers).filter(
            (e): e is [string, string] => typeof e[1] === "string" && e[0] !== "host",
          ),
        );
        fetch(`${upstream}${req.url ?? "/"}`, { method: req.method ?? "POST", headers, body })
          .then(async (up) => {
            res.writeHead(up.status, { "content-type": up.headers.get("content-type") ?? "text/xml" });
            res.end(Buffer.from(await up.arrayBuffer()));
          })
          .catch((err: unknown) => {
            res.writeHead(502);
            res.end(String(err));
          });
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${String((this.server.address() as AddressInfo).port)}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  }
}

/** The claims of a JWT (not verified: the apiserver made it, and moto does not check it). */
function claims(jwt: string): { aud?: string[]; sub?: string; exp?: number; iat?: number } {
  return JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as {
    aud?: string[];
    sub?: string;
  };
}

describe("route53 auth.kubernetes: a ServiceAccount token exchanged by AssumeRoleWithWebIdentity", () => {
  let c: TestClients;
  let ns: string;
  let moto: MotoServer;
  let zoneId: string;
  let role: string;
  const sts = new StsCapture();
  const saved = [process.env[ROUTE53_API_URL_ENV], process.env[ROUTE53_STS_API_URL_ENV]];

  beforeAll(async () => {
    c = testClients();
    ns = await createNamespace(c.core, "r53-sa");
    await c.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: SA } } });
    moto = await startMoto();
    zoneId = await createHostedZone(moto.url, "example.test");
    role = await createIamRole(moto.url, `dns01-web-${randomBytes(3).toString("hex")}`, ROUTE53_FULL_ACCESS);
    process.env[ROUTE53_API_URL_ENV] = moto.url;
    process.env[ROUTE53_STS_API_URL_ENV] = await sts.start(moto.url);
  });

  afterAll(async () => {
    const names = [ROUTE53_API_URL_ENV, ROUTE53_STS_API_URL_ENV];
    names.forEach((n, i) => {
      const v = saved[i];
      if (v === undefined) Reflect.deleteProperty(process.env, n);
      else process.env[n] = v;
    });
    await sts.stop();
    await moto.stop();
    await deleteNamespace(c.core, ns);
  });

  beforeEach(async () => {
    // The process-wide Route 53 bucket (5 calls a second per AWS account, and every moto role is in
    // one account) refills between cases, so that no case fails on the one before it.
    await new Promise((resolve) => setTimeout(resolve, 1500));
  });

  const build = (block: Partial<Route53Provider> = {}) =>
    descriptor.create(
      { region: "us-east-1", role, auth: { kubernetes: { serviceAccountRef: { name: SA } } }, ...block },
      {
        secretNamespace: ns,
        secrets: memorySecretReader(new Map()),
        clusterScoped: false,
        kube: new KubeClient(c.kc),
      },
    );

  it("requests a token for sts.amazonaws.com, assumes the role once, and writes and removes the record", async () => {
    const record = {
      fqdn: `_acme-challenge.k${randomBytes(3).toString("hex")}.example.test.`,
      zone: "example.test.",
      value: randomBytes(32).toString("base64url"),
    };
    const before = sts.tokens.length;
    await (await build()).present(record, ctx());
    expect(await txtValues(moto.url, zoneId, record.fqdn)).toEqual([record.value]);
    await (await build()).cleanUp(record, ctx());
    expect(await txtValues(moto.url, zoneId, record.fqdn)).toEqual([]);
    // One exchange: the role's credentials are cached for both calls.
    const tokens = sts.tokens.slice(before);
    expect(tokens).toHaveLength(1);
    const jwt = claims(tokens[0] ?? "");
    expect(jwt.aud).toEqual(["sts.amazonaws.com"]);
    expect(jwt.sub).toBe(`system:serviceaccount:${ns}:${SA}`);
    expect((jwt.exp ?? 0) - (jwt.iat ?? 0)).toBe(600);
  });

  it("asks for the configured audiences instead", async () => {
    const before = sts.tokens.length;
    const record = {
      fqdn: `_acme-challenge.a${randomBytes(3).toString("hex")}.example.test.`,
      zone: "example.test.",
      value: "v",
    };
    const s = await build({
      auth: { kubernetes: { serviceAccountRef: { name: SA, audiences: ["dns01.example/aws"] } } },
    });
    await s.present(record, ctx());
    await s.cleanUp(record, ctx());
    expect(claims(sts.tokens[before] ?? "").aud).toEqual(["dns01.example/aws"]);
  });

  it("says ServiceAccountNotFound for a ServiceAccount that does not exist, before calling STS", async () => {
    const before = sts.tokens.length;
    const s = await build({ auth: { kubernetes: { serviceAccountRef: { name: "absent" } } } });
    const err = await s
      .present({ fqdn: "_acme-challenge.x.example.test.", zone: "example.test.", value: "v" }, ctx())
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("ServiceAccountNotFound");
    expect(err?.message).toBe(`route53: auth.kubernetes: ServiceAccount ${ns}/absent not found`);
    expect(sts.tokens.length).toBe(before);
  });
});
