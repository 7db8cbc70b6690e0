import { describe, expect, it } from "@jest/globals";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { silentLogger } from "../../log.js";
import { TemporaryError, TerminalError } from "../../errors.js";
import { memorySecretReader } from "../credentials.js";
import type { SolverContext } from "../types.js";
import type { WebhookProvider } from "../../crds/index.js";
import { descriptor, resolveWebhookUrl, WEBHOOK_URL_ENV, type WebhookBlockExtensions } from "./descriptor.js";
import { HttpTimeoutError, postJson, type HttpPost, type HttpResponse, type PostOptions } from "./http.js";
import { createWebhookSolver, parseWebhookUrl, WEBHOOK_API_VERSION, type WebhookConfig } from "./webhook.js";

/** The fulfilment handler of a promise that must reject. */
const unexpected = (): never => {
  throw new Error("expected a rejection");
};
const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });
const TOKEN = "s3cr3t-webhook-token";

/** A block with the fields proposed for the CRD. */
type Block = WebhookProvider & WebhookBlockExtensions;

interface Call {
  readonly url: string;
  readonly body: Record<string, unknown>;
  readonly opts: PostOptions;
}

function fakePost(...replies: (HttpResponse | Error)[]): HttpPost & { calls: Call[] } {
  const calls: Call[] = [];
  const post = (url: URL, body: string, opts: PostOptions): Promise<HttpResponse> => {
    calls.push({ url: url.href, body: JSON.parse(body) as Record<string, unknown>, opts });
    const reply = replies[Math.min(calls.length - 1, replies.length - 1)] ?? answer(204, "");
    return reply instanceof Error ? Promise.reject(reply) : Promise.resolve(reply);
  };
  return Object.assign(post, { calls });
}

function answer(status: number, body: string, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers, body };
}

const config = (over: Partial<WebhookConfig> = {}): WebhookConfig => ({
  url: "https://dns-hook.example.org/v1/",
  groupName: "acme.example.com",
  solverName: "my-dns",
  config: { zoneId: "z1", apiKeySecretRef: { name: "creds", key: "key" } },
  resourceNamespace: "certs",
  ...over,
});

const record = { fqdn: "_acme-challenge.example.com.", zone: "example.com.", value: "v".repeat(43) };

describe("createWebhookSolver", () => {
  it("posts the contract's document to {url}/present and {url}/cleanup", async () => {
    const post = fakePost(answer(200, "{}"));
    const solver = createWebhookSolver(config({ token: TOKEN }), { post });
    await solver.present({ ...record, domain: "example.com" }, ctx());
    await solver.cleanUp(record, ctx());
    expect(post.calls.map((c) => c.url)).toEqual([
      "https://dns-hook.example.org/v1/present",
      "https://dns-hook.example.org/v1/cleanup",
    ]);
    expect(post.calls[0]?.body).toEqual({
      apiVersion: WEBHOOK_API_VERSION,
      action: "present",
      fqdn: "_acme-challenge.example.com.",
      zone: "example.com.",
      value: "v".repeat(43),
      domain: "example.com",
      groupName: "acme.example.com",
      solverName: "my-dns",
      resourceNamespace: "certs",
      config: { zoneId: "z1", apiKeySecretRef: { name: "creds", key: "key" } },
    });
    expect(post.calls[1]?.body["action"]).toBe("cleanup");
    expect(post.calls[1]?.body).not.toHaveProperty("domain");
    expect(post.calls[0]?.opts.headers).toEqual({ authorization: `Bearer ${TOKEN}` });
    expect(post.calls[0]?.opts.timeoutMs).toBe(30_000);
  });

  it("sends config null when the Issuer has none, and no Authorization without a token", async () => {
    const post = fakePost(answer(204, ""));
    await createWebhookSolver({ ...config(), config: undefined }, { post }).present(record, ctx());
    expect(post.calls[0]?.body["config"]).toBeNull();
    expect(post.calls[0]?.opts.headers).toEqual({});
  });

  it.each([
    [401, '{"message": "token expired"}', "InvalidCredentials", "HTTP 401: token expired"],
    [403, "forbidden for zone example.com", "InvalidCredentials", "HTTP 403: forbidden for zone example.com"],
    [400, '{"message": "no zone for example.com", "reason": "ZoneNotFound"}', "ZoneNotFound", "no zone for"],
    [422, '{"message": "record quota reached", "reason": "QuotaExceeded"}', "QuotaExceeded", "quota"],
    [400, '{"message": "bad", "reason": "not a reason!"}', "WebhookRejected", "HTTP 400: bad"],
    [409, '{"error": "conflict"}', "WebhookRejected", "HTTP 409: conflict"],
    [404, "not found", "InvalidConfiguration", "HTTP 404: not found (is the URL the webhook's base URL?)"],
    [404, '{"message": "zone?", "reason": "ZoneNotFound"}', "ZoneNotFound", "HTTP 404: zone?"],
    [302, "", "InvalidConfiguration", "redirects are not followed"],
  ])("turns HTTP %i into a terminal error, after one call", async (status, body, reason, message) => {
    const post = fakePost(answer(status, body));
    const err = await createWebhookSolver(config({ token: TOKEN }), { post })
      .present(record, ctx())
      .then(unexpected, (e: unknown) => e as TerminalError);
    expect(err).toBeInstanceOf(TerminalError);
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(
      /^webhook: my-dns\.acme\.example\.com: present _acme-challenge\.example\.com\.: /,
    );
    expect(err.message).toContain(message);
    expect(err.message).not.toContain(TOKEN);
    expect(post.calls).toHaveLength(1);
  });

  it.each([
    [429, { "retry-after": "3" }, 3000],
    [503, { "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT" }, 0],
    [500, {}, undefined],
    [502, {}, undefined],
    [408, {}, undefined],
    [429, { "retry-after": "99999" }, 15 * 60_000],
  ])("turns HTTP %i into a temporary error that keeps the server's delay", async (status, headers, after) => {
    const post = fakePost(answer(status, "busy", headers));
    const err = await createWebhookSolver(config(), { post })
      .cleanUp(record, ctx())
      .then(unexpected, (e: unknown) => e as TemporaryError);
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.retryAfterMs).toBe(after);
    expect(err.message).toContain(`HTTP ${status}: busy`);
  });

  it("turns a timeout into a temporary error", async () => {
    const post = fakePost(
      new HttpTimeoutError("no answer from https://dns-hook.example.org within 30000 ms"),
    );
    const err = await createWebhookSolver(config(), { post })
      .present(record, ctx())
      .then(unexpected, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toContain("within 30000 ms");
  });

  it("cuts a long error body and drops its control characters", async () => {
    const post = fakePost(answer(400, `line1\nline2\u0000${"x".repeat(2000)}`));
    const err = await createWebhookSolver(config(), { post })
      .present(record, ctx())
      .then(unexpected, (e: unknown) => e as Error);
    expect(err.message).toContain("HTTP 400: line1 line2 xxx");
    expect(err.message.length).toBeLessThan(700);
  });
});

describe("parseWebhookUrl", () => {
  it.each([
    ["https://hook.example.org/", false, "https://hook.example.org"],
    ["http://hook.dns01-webhooks.svc:8080/base//", false, "http://hook.dns01-webhooks.svc:8080/base"],
    ["http://127.0.0.1:8080", true, "http://127.0.0.1:8080"],
    ["http://[::1]:8080", true, "http://[::1]:8080"],
    ["http://localhost:8080", true, "http://localhost:8080"],
  ])("accepts %j (token: %s)", (url, withToken, want) => {
    expect(parseWebhookUrl(url, withToken)).toBe(want);
  });

  it.each([
    ["http://hook.example.org", true, "a token is only sent over https"],
    ["ftp://hook.example.org", false, "must be http:// or https://"],
    ["https://u:p@hook.example.org", false, "must not carry credentials"],
    ["https://hook.example.org/?a=b", false, "must have no query or fragment"],
    ["hook", false, "is not a URL"],
  ])("refuses %j (token: %s)", (url, withToken, message) => {
    let err: unknown;
    try {
      parseWebhookUrl(url, withToken);
    } catch (e) {
      err = e;
    }
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
    expect((err as Error).message).toContain(message);
  });
});

describe("resolveWebhookUrl", () => {
  const block = { groupName: "acme.example.com", solverName: "my-dns" };

  it("fills the operator's template with groupName and solverName", () => {
    const env = { [WEBHOOK_URL_ENV]: "http://{solverName}.hooks.svc:8080/{groupName}" };
    expect(resolveWebhookUrl(block, env)).toBe("http://my-dns.hooks.svc:8080/acme.example.com");
  });

  it("prefers the block's url", () => {
    const env = { [WEBHOOK_URL_ENV]: "http://{solverName}.hooks.svc" };
    expect(resolveWebhookUrl({ ...block, url: "https://direct.example.org" }, env)).toBe(
      "https://direct.example.org",
    );
  });

  it("fails with InvalidConfiguration naming the knob when there is no URL at all", () => {
    let err: unknown;
    try {
      resolveWebhookUrl(block, {});
    } catch (e) {
      err = e;
    }
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
    expect((err as Error).message).toContain(`set the operator's ${WEBHOOK_URL_ENV}`);
  });
});

describe("the webhook descriptor", () => {
  it("reads the token from its Secret on every create", async () => {
    const data = new Map([["certs/hook", { token: TOKEN }]]);
    const secrets = memorySecretReader(data);
    const block = {
      groupName: "g.example",
      solverName: "s",
      url: "https://hook.example.org",
      tokenSecretRef: { name: "hook", key: "token" },
    };
    await descriptor.create(block, { secretNamespace: "certs", secrets, clusterScoped: false });
    await descriptor.create(block, { secretNamespace: "certs", secrets, clusterScoped: false });
    expect(secrets.reads).toEqual([
      { namespace: "certs", name: "hook", key: "token" },
      { namespace: "certs", name: "hook", key: "token" },
    ]);
  });

  it("keeps the Secret reader's reason and names the field", async () => {
    const secrets = memorySecretReader(new Map());
    const block: Block = {
      groupName: "g",
      solverName: "s",
      url: "https://h.example",
      tokenSecretRef: { name: "hook", key: "t" },
    };
    const err = await descriptor
      .create(block, { secretNamespace: "certs", secrets, clusterScoped: false })
      .then(unexpected, (e: unknown) => e as TerminalError);
    expect(err.reason).toBe("SecretNotFound");
    expect(err.message).toMatch(/^webhook: tokenSecretRef: Secret certs\/hook not found/);
  });

  it.each([
    [{ caBundle: Buffer.from("not pem").toString("base64") }, "caBundle must be the base64 of PEM"],
    [{ timeoutSeconds: 0 }, "timeoutSeconds must be"],
    [{ timeoutSeconds: 1.5 }, "timeoutSeconds must be"],
  ])("refuses %j", async (extra, message) => {
    const block: Block = { groupName: "g", solverName: "s", url: "https://h.example", ...extra };
    const err = await descriptor
      .create(block, {
        secretNamespace: "certs",
        secrets: memorySecretReader(new Map()),
        clusterScoped: false,
      })
      .then(unexpected, (e: unknown) => e as TerminalError);
    expect(err.reason).toBe("InvalidConfiguration");
    expect(err.message).toContain(message);
  });
});

describe("postJson", () => {
  async function withServer(handler: http.RequestListener, f: (url: URL) => Promise<void>): Promise<void> {
    const server = http.createServer(handler);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      await f(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`));
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }

  it("sends JSON with its headers and returns status, headers and body", async () => {
    let seen: { method?: string; type?: string; auth?: string; body: string } = { body: "" };
    await withServer(
      (req, res) => {
        let body = "";
        req.on("data", (c: Buffer) => (body += c.toString()));
        req.on("end", () => {
          seen = {
            body,
            ...(req.method ? { method: req.method } : {}),
            ...(req.headers["content-type"] ? { type: req.headers["content-type"] } : {}),
            ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
          };
          res.writeHead(429, { "retry-after": "5" }).end("later");
        });
      },
      async (url) => {
        const res = await postJson(url, '{"a":1}', {
          timeoutMs: 5000,
          headers: { authorization: "Bearer x" },
        });
        expect(res.status).toBe(429);
        expect(res.headers["retry-after"]).toBe("5");
        expect(res.body).toBe("later");
      },
    );
    expect(seen).toEqual({ method: "POST", type: "application/json", auth: "Bearer x", body: '{"a":1}' });
  });

  it("gives up with HttpTimeoutError when the server does not answer in time", async () => {
    await withServer(
      () => {
        // never answers
      },
      async (url) => {
        await expect(postJson(url, "{}", { timeoutMs: 100 })).rejects.toBeInstanceOf(HttpTimeoutError);
      },
    );
  });

  it("keeps only the first bytes of a large body", async () => {
    await withServer(
      (_req, res) => {
        res.writeHead(500).end("x".repeat(100_000));
      },
      async (url) => {
        const res = await postJson(url, "{}", { timeoutMs: 5000, maxBodyBytes: 1000 });
        expect(res.body).toHaveLength(1000);
      },
    );
  });

  it("rejects with the signal's reason when aborted", async () => {
    await withServer(
      () => {
        // never answers
      },
      async (url) => {
        const ac = new AbortController();
        const p = postJson(url, "{}", { timeoutMs: 5000, signal: ac.signal });
        ac.abort(new Error("stopping"));
        await expect(p).rejects.toThrow("stopping");
      },
    );
  });
});
