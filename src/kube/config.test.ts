import { afterAll, describe, expect, it } from "@jest/globals";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type * as https from "node:https";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { KubeConfig, loadKubeConfig, parseExecCredential } from "./config.js";

const dir = mkdtempSync(join(tmpdir(), "kubeconfig-test-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
/** Writes a file under a fresh folder of the test directory; returns its path. */
function file(name: string, text: string, mode?: number): string {
  const sub = join(dir, String(++n));
  mkdirSync(sub, { recursive: true });
  const path = join(sub, name);
  writeFileSync(path, text);
  if (mode !== undefined) chmodSync(path, mode);
  return path;
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");

/** The headers and agent options applyToHTTPSOptions sets. */
async function applied(
  kc: KubeConfig,
): Promise<{ headers: Record<string, unknown>; agent: https.AgentOptions }> {
  const opts: https.RequestOptions = { headers: { Accept: "application/json" } };
  await kc.applyToHTTPSOptions(opts);
  const agent = opts.agent as https.Agent & { options: https.AgentOptions };
  return { headers: opts.headers as Record<string, unknown>, agent: agent.options };
}

const FIRST = `
apiVersion: v1
kind: Config
current-context: first
clusters:
  - name: shared
    cluster:
      server: https://first.example:6443
      certificate-authority: ca.pem
  - name: only-first
    cluster: { server: "https://only-first.example" }
users:
  - name: alice
    user: { token: first-token }
contexts:
  - name: first
    context: { cluster: shared, user: alice, namespace: team-a }
`;

const SECOND = `
apiVersion: v1
kind: Config
current-context: second
clusters:
  - name: shared
    cluster: { server: "https://second.example" }
  - name: only-second
    cluster:
      server: https://only-second.example
      insecure-skip-tls-verify: true
      tls-server-name: api.internal
users:
  - name: alice
    user: { token: second-token }
  - name: bob
    user:
      client-certificate-data: ${b64("BOB CERT")}
      client-key-data: ${b64("BOB KEY")}
contexts:
  - name: first
    context: { cluster: only-second, user: bob }
  - name: second
    context: { cluster: only-second, user: bob, namespace: team-b }
`;

describe("loading kubeconfig files", () => {
  it("merges KUBECONFIG's files as kubectl does: the first to define a name or the current context wins", async () => {
    const first = file("config", FIRST);
    writeFileSync(join(first, "..", "ca.pem"), "FIRST CA");
    const second = file("config", SECOND);
    const missing = join(dir, "does-not-exist");
    const kc = loadKubeConfig(undefined, {
      env: { KUBECONFIG: [missing, first, "", second].join(delimiter) },
    });

    expect(kc.currentContext).toBe("first");
    expect(kc.getCurrentCluster()?.server).toBe("https://first.example:6443");
    expect(kc.getCurrentUser()?.token).toBe("first-token");
    expect(kc.getContextObject("first")?.namespace).toBe("team-a");
    expect(kc.clusters.map((c) => c.name)).toEqual(["shared", "only-first", "only-second"]);
    expect(kc.users.map((u) => u.name)).toEqual(["alice", "bob"]);
    // A relative certificate-authority is relative to the file that names it.
    expect(kc.getCurrentCluster()?.caFile).toBe(join(first, "..", "ca.pem"));
    const { headers, agent } = await applied(kc);
    expect(headers["Authorization"]).toBe("Bearer first-token");
    expect(headers["Accept"]).toBe("application/json");
    expect(String(agent.ca)).toBe("FIRST CA");
    expect(agent.rejectUnauthorized).toBe(true);
  });

  it("switches context, and applies that context's cluster TLS settings and client certificate", async () => {
    const kc = loadKubeConfig(file("config", SECOND));
    expect(kc.currentContext).toBe("second");
    kc.setCurrentContext("first");
    expect(kc.currentContext).toBe("first");
    expect(kc.getCurrentCluster()?.server).toBe("https://only-second.example");
    const { headers, agent } = await applied(kc);
    expect(headers["Authorization"]).toBeUndefined();
    expect(String(agent.cert)).toBe("BOB CERT");
    expect(Buffer.from(agent.key as Buffer | string).toString()).toBe("BOB KEY");
    expect(agent.rejectUnauthorized).toBe(false);
    expect(agent.servername).toBe("api.internal");
    expect(() => {
      kc.setCurrentContext("third");
    }).toThrow('no context named "third" (contexts: first, second)');
  });

  it("takes ~/.kube/config when KUBECONFIG is not set", () => {
    const home = join(dir, "home");
    mkdirSync(join(home, ".kube"), { recursive: true });
    writeFileSync(join(home, ".kube", "config"), FIRST);
    expect(loadKubeConfig(undefined, { env: {}, home }).getCurrentCluster()?.server).toBe(
      "https://first.example:6443",
    );
  });

  it("reads a tokenFile again after a minute, so a rotated token is used", async () => {
    const token = file("token", "old-token\n");
    let now = 1_000_000;
    const kc = loadKubeConfig(
      file(
        "config",
        `clusters: [{ name: c, cluster: { server: "https://c" } }]
users: [{ name: u, user: { tokenFile: ${token} } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`,
      ),
      { now: () => now },
    );
    expect((await applied(kc)).headers["Authorization"]).toBe("Bearer old-token");
    writeFileSync(token, "new-token\n");
    now += 30_000;
    expect((await applied(kc)).headers["Authorization"]).toBe("Bearer old-token");
    now += 31_000;
    expect((await applied(kc)).headers["Authorization"]).toBe("Bearer new-token");
  });

  it("sets basic auth and impersonation headers", async () => {
    const kc = KubeConfig.fromOptions({
      clusters: [{ name: "c", server: "https://c", skipTLSVerify: false }],
      users: [
        { name: "u", username: "admin", password: "pw", impersonateUser: "jane", impersonateGroups: ["ops"] },
      ],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    const { headers } = await applied(kc);
    expect(headers["Authorization"]).toBe(`Basic ${b64("admin:pw")}`);
    expect(headers["Impersonate-User"]).toBe("jane");
    expect(headers["Impersonate-Group"]).toEqual(["ops"]);
  });

  it("says what is wrong with a file, naming the file and the entry", () => {
    const bad = (text: string): (() => KubeConfig) => {
      const path = file("config", text);
      return () => loadKubeConfig(path);
    };
    expect(bad("clusters: [{ name: c, cluster: {} }]")).toThrow(/config: cluster "c" has no server/);
    expect(bad("clusters: {}")).toThrow(/clusters is not a list/);
    expect(bad("clusters: [{ cluster: { server: x } }]")).toThrow(/clusters\[0\] has no name/);
    expect(bad("key: [unclosed")).toThrow(/not valid YAML/);
    expect(bad("clusters: [{ name: c, cluster: { server: x, proxy-url: 'socks5://p:1080' } }]")).toThrow(
      "only http:// and https:// proxies are supported",
    );
    expect(
      bad(
        "users: [{ name: u, user: { exec: { apiVersion: client.authentication.k8s.io/v1alpha1, command: x } } }]",
      ),
    ).toThrow("apiVersion client.authentication.k8s.io/v1alpha1 is not supported");
    expect(() => loadKubeConfig(join(dir, "nope"))).toThrow(
      `the kubeconfig ${join(dir, "nope")} does not exist`,
    );
    expect(() => loadKubeConfig(undefined, { env: { KUBECONFIG: join(dir, "nope") } })).toThrow(
      "no kubeconfig file exists among",
    );
    expect(() => loadKubeConfig(undefined, { env: {}, home: join(dir, "empty-home") })).toThrow(
      "no Kubernetes configuration: KUBECONFIG is not set",
    );

    const dangling = loadKubeConfig(
      file("config", "contexts: [{ name: x, context: { cluster: gone, user: u } }]\ncurrent-context: x\n"),
    );
    expect(() => dangling.getCurrentCluster()).toThrow(
      'context "x" names cluster "gone", which is not defined',
    );
    const wrongCurrent = loadKubeConfig(
      file("config", SECOND.replace("current-context: second", "current-context: z")),
    );
    expect(() => wrongCurrent.getCurrentCluster()).toThrow(
      'current-context "z" is not among the contexts (first, second)',
    );
    expect(loadKubeConfig(file("config", "")).getCurrentCluster()).toBeNull();
  });

  it("refuses a legacy auth-provider at request time, pointing to the exec plugin", async () => {
    const kc = loadKubeConfig(
      file(
        "config",
        `clusters: [{ name: c, cluster: { server: "https://c" } }]
users: [{ name: u, user: { auth-provider: { name: oidc, config: {} } } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`,
      ),
    );
    await expect(applied(kc)).rejects.toThrow('user "u" uses auth-provider "oidc", which is not supported');
  });
});

/** A kubeconfig whose user runs `script` (a shell script) as an exec credential plugin. */
function execKubeConfig(script: string, apiVersion: string, now: () => number, extra = ""): KubeConfig {
  const plugin = file("plugin.sh", `#!/bin/sh\n${script}\n`, 0o755);
  return loadKubeConfig(
    file(
      "config",
      `clusters: [{ name: c, cluster: { server: "https://c.example", certificate-authority-data: ${b64("CA")} } }]
users:
  - name: u
    user:
      exec:
        apiVersion: ${apiVersion}
        command: ${plugin}
        args: [--region, eu]
        env: [{ name: PLUGIN_DIR, value: ${join(plugin, "..")} }]
        provideClusterInfo: true
${extra}
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`,
    ),
    { now },
  );
}

describe("exec credential plugins", () => {
  it("runs the plugin with its args, env and KUBERNETES_EXEC_INFO, and caches the token until it expires", async () => {
    let now = Date.parse("2026-01-01T00:00:00Z");
    const kc = execKubeConfig(
      [
        'echo "$@" >> "$PLUGIN_DIR/calls"',
        'printf "%s" "$KUBERNETES_EXEC_INFO" > "$PLUGIN_DIR/info"',
        'n=$(wc -l < "$PLUGIN_DIR/calls" | tr -d " ")',
        `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-%s","expirationTimestamp":"2026-01-01T01:00:00Z"}}' "$n"`,
      ].join("\n"),
      "client.authentication.k8s.io/v1",
      () => now,
    );
    const pluginDir = join(kc.getCurrentUser()?.exec?.command ?? "", "..");
    const [a, b] = await Promise.all([applied(kc), applied(kc)]);
    expect(a.headers["Authorization"]).toBe("Bearer tok-1");
    expect(b.headers["Authorization"]).toBe("Bearer tok-1");
    expect(readFileSync(join(pluginDir, "calls"), "utf8")).toBe("--region eu\n");
    const info = JSON.parse(readFileSync(join(pluginDir, "info"), "utf8")) as Record<string, unknown>;
    expect(info).toEqual({
      apiVersion: "client.authentication.k8s.io/v1",
      kind: "ExecCredential",
      spec: {
        interactive: false,
        cluster: {
          server: "https://c.example",
          "insecure-skip-tls-verify": false,
          "certificate-authority-data": b64("CA"),
        },
      },
    });
    now += 59 * 60_000;
    expect((await applied(kc)).headers["Authorization"]).toBe("Bearer tok-1");
    // Within the renewal margin of its expiry: the plugin runs again.
    now += 55_000;
    expect((await applied(kc)).headers["Authorization"]).toBe("Bearer tok-2");
    kc.invalidateCredentials();
    expect((await applied(kc)).headers["Authorization"]).toBe("Bearer tok-3");
  });

  it("takes a client certificate from a v1beta1 plugin", async () => {
    const kc = execKubeConfig(
      `printf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"clientCertificateData":"PLUGIN CERT","clientKeyData":"PLUGIN KEY"}}'`,
      "client.authentication.k8s.io/v1beta1",
      Date.now,
    );
    const { headers, agent } = await applied(kc);
    expect(headers["Authorization"]).toBeUndefined();
    expect(String(agent.cert)).toBe("PLUGIN CERT");
    expect(Buffer.from(agent.key as Buffer | string).toString()).toBe("PLUGIN KEY");
    expect(String(agent.ca)).toBe("CA");
  });

  it("reports a failing plugin with its exit code and what it printed on stderr", async () => {
    const kc = execKubeConfig(
      'echo "error: the SSO session has expired, run aws sso login" >&2; exit 3',
      "client.authentication.k8s.io/v1",
      Date.now,
    );
    await expect(applied(kc)).rejects.toThrow(
      /exec plugin .*plugin\.sh: failed \(exit 3\): error: the SSO session has expired, run aws sso login/,
    );
  });

  it("says how to install a plugin that is not there", async () => {
    const kc = execKubeConfig(
      "true",
      "client.authentication.k8s.io/v1",
      Date.now,
      "        installHint: install it with brew",
    );
    const user = kc.getCurrentUser();
    const exec = user?.exec;
    if (user === null || exec === undefined) throw new Error("no exec user");
    const missing = KubeConfig.fromOptions({
      clusters: kc.clusters,
      users: [{ ...user, exec: { ...exec, command: join(dir, "no-such-plugin") } }],
      contexts: kc.contexts,
      currentContext: "x",
    });
    await expect(applied(missing)).rejects.toThrow(/no-such-plugin: not found; install it with brew/);
  });

  it("checks what a plugin prints", () => {
    const v1 = "client.authentication.k8s.io/v1";
    const now = () => Date.parse("2026-01-01T00:00:00Z");
    const cred = (status: unknown, apiVersion = v1): string =>
      JSON.stringify({ apiVersion, kind: "ExecCredential", status });
    expect(
      parseExecCredential("p", v1, cred({ token: "t", expirationTimestamp: "2026-01-01T00:10:00Z" }), now),
    ).toEqual({
      token: "t",
      expiresAt: Date.parse("2026-01-01T00:10:00Z"),
    });
    expect(() => parseExecCredential("p", v1, "not json", now)).toThrow(
      "p: did not print an ExecCredential as JSON",
    );
    expect(() =>
      parseExecCredential("p", v1, cred({ token: "t" }, "client.authentication.k8s.io/v1beta1"), now),
    ).toThrow(
      "printed apiVersion client.authentication.k8s.io/v1beta1, but the kubeconfig asks for client.authentication.k8s.io/v1",
    );
    expect(() => parseExecCredential("p", v1, cred({}), now)).toThrow("neither a token nor both");
    expect(() => parseExecCredential("p", v1, cred({ token: "t", clientKeyData: "k" }), now)).toThrow(
      "only one of clientCertificateData and clientKeyData",
    );
    expect(() =>
      parseExecCredential("p", v1, cred({ token: "t", expirationTimestamp: "2025-12-31T00:00:00Z" }), now),
    ).toThrow("returned a credential that expired at 2025-12-31T00:00:00Z");
  });
});

describe("in-cluster configuration", () => {
  const saDir = (): string => {
    const d = join(dir, `sa-${String(++n)}`);
    mkdirSync(d);
    writeFileSync(join(d, "token"), "sa-token-1\n");
    writeFileSync(join(d, "ca.crt"), "CLUSTER CA");
    writeFileSync(join(d, "namespace"), "dns01-operator\n");
    return d;
  };

  it("uses the service account's token (re-read as it rotates), ca.crt and namespace", async () => {
    const sa = saDir();
    let now = 0;
    const kc = loadKubeConfig(undefined, {
      env: { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" },
      home: join(dir, "no-home"),
      serviceAccountDir: sa,
      now: () => now,
    });
    expect(kc.getCurrentCluster()?.server).toBe("https://10.0.0.1:443");
    expect(kc.getContextObject(kc.currentContext)?.namespace).toBe("dns01-operator");
    const first = await applied(kc);
    expect(first.headers["Authorization"]).toBe("Bearer sa-token-1");
    expect(String(first.agent.ca)).toBe("CLUSTER CA");
    writeFileSync(join(sa, "token"), "sa-token-2\n");
    now += 61_000;
    expect((await applied(kc)).headers["Authorization"]).toBe("Bearer sa-token-2");
  });

  it("brackets an IPv6 service host", () => {
    const kc = KubeConfig.inCluster({
      env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "6443" },
      serviceAccountDir: saDir(),
    });
    expect(kc.getCurrentCluster()?.server).toBe("https://[fd00::1]:6443");
  });

  it("says why it cannot run in-cluster", () => {
    expect(() => KubeConfig.inCluster({ env: {}, serviceAccountDir: saDir() })).toThrow(
      "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not both set",
    );
    const empty = join(dir, `sa-empty-${String(++n)}`);
    mkdirSync(empty);
    expect(() =>
      KubeConfig.inCluster({
        env: { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" },
        serviceAccountDir: empty,
      }),
    ).toThrow(`in-cluster: no service account token at ${join(empty, "token")}`);
  });
});
