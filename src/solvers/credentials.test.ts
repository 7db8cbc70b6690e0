import { afterEach, describe, expect, it } from "@jest/globals";
import http from "node:http";
import { KubeConfig } from "@kubernetes/client-node";
import { TemporaryError, TerminalError } from "../errors.js";
import { KubeClient } from "../kube/client.js";
import { kubeSecretReader, memorySecretReader, readSecretRef } from "./credentials.js";

const SECRET_VALUE = "c2VjcmV0LXZhbHVlLW5vdC1mb3ItbG9ncw==";

/** A fake apiserver: answers each GET with what `route` says, and records the paths asked. */
async function fakeApi(
  route: (path: string) => { status: number; body: unknown },
): Promise<{ client: KubeClient; paths: string[]; close(): Promise<void> }> {
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? "");
    const { status, body } = route(req.url ?? "");
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => {
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as { port: number };
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // Plain HTTP on loopback: client-node allows it only with skipTLSVerify.
    clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "u" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return {
    client: new KubeClient(kc, { timeoutMs: 5000 }),
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function api(route: (path: string) => { status: number; body: unknown }) {
  const a = await fakeApi(route);
  closers.push(() => a.close());
  return a;
}

const secret = (data: Record<string, string>) => ({
  status: 200,
  body: {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "dns", namespace: "team-a" },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
  },
});

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error("expected the call to fail");
  return err;
}

const reasonOf = (err: unknown): string | undefined =>
  err instanceof TerminalError ? err.reason : undefined;

describe("kubeSecretReader", () => {
  it("reads one key of the Secret, base64-decoded, from the namespace it is given", async () => {
    const a = await api(() => secret({ "tsig-secret": SECRET_VALUE, other: "x" }));
    const value = await kubeSecretReader(a.client).read("team-a", { name: "dns", key: "tsig-secret" });
    expect(value).toBe(SECRET_VALUE);
    expect(a.paths).toEqual(["/api/v1/namespaces/team-a/secrets/dns"]);
  });

  it("asks the API again on every read, so a rotated Secret is seen at once", async () => {
    let current = "first";
    const a = await api(() => secret({ key: current }));
    const reader = kubeSecretReader(a.client);
    expect(await reader.read("team-a", { name: "dns", key: "key" })).toBe("first");
    current = "second";
    expect(await reader.read("team-a", { name: "dns", key: "key" })).toBe("second");
    expect(a.paths).toHaveLength(2);
  });

  it("reports a missing Secret as SecretNotFound, naming namespace, name and key", async () => {
    const a = await api(() => ({
      status: 404,
      body: {
        kind: "Status",
        status: "Failure",
        reason: "NotFound",
        code: 404,
        message: 'secrets "dns" not found',
      },
    }));
    const err = await failure(kubeSecretReader(a.client).read("team-a", { name: "dns", key: "tsig-secret" }));
    expect(reasonOf(err)).toBe("SecretNotFound");
    expect(err.message).toBe('Secret team-a/dns not found (wanted its key "tsig-secret")');
  });

  it("reports a missing key as SecretKeyNotFound, listing the key names but never a value", async () => {
    const a = await api(() => secret({ "api-token": SECRET_VALUE, zone: "example.com" }));
    const err = await failure(kubeSecretReader(a.client).read("team-a", { name: "dns", key: "apiToken" }));
    expect(reasonOf(err)).toBe("SecretKeyNotFound");
    expect(err.message).toBe('Secret team-a/dns has no key "apiToken" (it has "api-token", "zone")');
    expect(err.message).not.toContain(SECRET_VALUE);
    expect(err.message).not.toContain("example.com");
  });

  it("treats a Secret without data as having no keys", async () => {
    const a = await api(() => ({ status: 200, body: { kind: "Secret", metadata: { name: "dns" } } }));
    const err = await failure(kubeSecretReader(a.client).read("team-a", { name: "dns", key: "k" }));
    expect(err.message).toBe('Secret team-a/dns has no key "k" (it has no keys)');
  });

  it("gives TemporaryError for a forbidden read or a failing apiserver, as an RBAC fix needs no spec change", async () => {
    for (const status of [403, 500]) {
      const a = await api(() => ({
        status,
        body: { kind: "Status", status: "Failure", code: status, message: `status ${status} from the test` },
      }));
      const err = await failure(kubeSecretReader(a.client).read("team-a", { name: "dns", key: "k" }));
      expect(err).toBeInstanceOf(TemporaryError);
      expect(err.message).toContain("cannot read Secret team-a/dns");
      expect(err.message).toContain(`status ${status} from the test`);
    }
  });

  it("escapes namespace and name in the path", async () => {
    const a = await api(() => secret({ k: "v" }));
    await kubeSecretReader(a.client).read("a/b", { name: "c?d", key: "k" });
    expect(a.paths).toEqual(["/api/v1/namespaces/a%2Fb/secrets/c%3Fd"]);
  });
});

describe("memorySecretReader", () => {
  it("answers like the Kubernetes reader, and records each read", async () => {
    const secrets = new Map([["team-a/dns", { k: "v" }]]);
    const reader = memorySecretReader(secrets);
    expect(await reader.read("team-a", { name: "dns", key: "k" })).toBe("v");
    expect(reasonOf(await failure(reader.read("team-b", { name: "dns", key: "k" })))).toBe("SecretNotFound");
    expect(reasonOf(await failure(reader.read("team-a", { name: "dns", key: "x" })))).toBe(
      "SecretKeyNotFound",
    );
    expect(reader.reads).toEqual([
      { namespace: "team-a", name: "dns", key: "k" },
      { namespace: "team-b", name: "dns", key: "k" },
      { namespace: "team-a", name: "dns", key: "x" },
    ]);
  });
});

describe("readSecretRef", () => {
  const ctx = {
    secretNamespace: "team-a",
    secrets: memorySecretReader(new Map([["team-a/dns", { k: "v" }]])),
  };
  const other = memorySecretReader(
    new Map([
      ["team-a/dns", { k: "v" }],
      ["team-b/dns", { k: "w" }],
    ]),
  );

  it("prefixes the reader's errors with the provider and field, keeping their reason", async () => {
    const err = await failure(
      readSecretRef("cloudflare", "apiTokenSecretRef", { name: "nope", key: "k" }, ctx),
    );
    expect(reasonOf(err)).toBe("SecretNotFound");
    expect(err.message).toBe(
      'cloudflare: apiTokenSecretRef: Secret team-a/nope not found (wanted its key "k")',
    );
  });

  it("requires the reference to name a key", async () => {
    const err = await failure(readSecretRef("rfc2136", "tsigSecretSecretRef", { name: "dns" }, ctx));
    expect(reasonOf(err)).toBe("InvalidConfiguration");
    expect(err.message).toBe(
      "rfc2136: tsigSecretSecretRef.key is required (the key of Secret team-a/dns to read)",
    );
  });

  it("reads from the context's namespace only", async () => {
    expect(await readSecretRef("rfc2136", "f", { name: "dns", key: "k" }, { ...ctx, secrets: other })).toBe(
      "v",
    );
    expect(other.reads).toEqual([{ namespace: "team-a", name: "dns", key: "k" }]);
  });

  const padded = {
    secretNamespace: "team-a",
    secrets: memorySecretReader(new Map([["team-a/dns", { token: " tok\n", blank: " \n", empty: "" }]])),
  };

  it("returns the value as stored unless asked to trim it", async () => {
    expect(await readSecretRef("webhook", "tokenSecretRef", { name: "dns", key: "token" }, padded)).toBe(
      " tok\n",
    );
    expect(await readSecretRef("route53", "f", { name: "dns", key: "token" }, padded, { trim: true })).toBe(
      "tok",
    );
    // Trimming alone accepts what is left, even nothing.
    expect(await readSecretRef("route53", "f", { name: "dns", key: "blank" }, padded, { trim: true })).toBe(
      "",
    );
  });

  it("refuses an empty value when asked, after trimming when asked to trim", async () => {
    const err = await failure(
      readSecretRef("cloudflare", "apiTokenSecretRef", { name: "dns", key: "blank" }, padded, {
        trim: true,
        nonEmpty: true,
      }),
    );
    expect(reasonOf(err)).toBe("InvalidConfiguration");
    expect(err.message).toBe('cloudflare: apiTokenSecretRef: key "blank" of Secret team-a/dns is empty');
    expect(
      await readSecretRef("cloudflare", "f", { name: "dns", key: "blank" }, padded, { nonEmpty: true }),
    ).toBe(" \n");
    const empty = await failure(
      readSecretRef("digitalocean", "tokenSecretRef", { name: "dns", key: "empty" }, padded, {
        nonEmpty: true,
      }),
    );
    expect(empty.message).toBe('digitalocean: tokenSecretRef: key "empty" of Secret team-a/dns is empty');
  });

  it("prefixes the reader's temporary failures too, unless told to pass them through", async () => {
    const cause = new TemporaryError("cannot read Secret team-a/dns: 503", 2000);
    const flaky = {
      secretNamespace: "team-a",
      secrets: { read: () => Promise.reject(cause) },
    };
    const err = await failure(
      readSecretRef("rfc2136", "tsigSecretSecretRef", { name: "dns", key: "k" }, flaky),
    );
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toBe("rfc2136: tsigSecretSecretRef: cannot read Secret team-a/dns: 503");
    expect((err as TemporaryError).retryAfterMs).toBe(2000);
    expect(err.cause).toBe(cause);
    const passed = await failure(
      readSecretRef("cloudDNS", "serviceAccountSecretRef", { name: "dns", key: "k" }, flaky, {
        prefixTemporary: false,
      }),
    );
    expect(passed).toBe(cause);
  });
});
