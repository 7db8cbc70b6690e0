/**
 * Our own kubeconfig loader, in place of @kubernetes/client-node's (whose import alone costs the
 * operator about 68 MiB of RSS, see docs/benchmarks.md). It reads what kubectl reads, the way
 * kubectl reads it:
 *
 * - `--kubeconfig <file>`: that one file;
 * - else `KUBECONFIG`, a list of files (`:`-separated; `;` on Windows) merged as client-go merges
 *   them: the first file to define a cluster, user or context name wins, the first
 *   `current-context` wins, and missing files are skipped;
 * - else `~/.kube/config` when it exists;
 * - else the pod's service account (in-cluster): KUBERNETES_SERVICE_HOST/PORT, its ca.crt, and its
 *   token, re-read from disk (the kubelet rotates it) at most every minute, as client-go does.
 *
 * Clusters may set certificate-authority(-data), insecure-skip-tls-verify, tls-server-name and an
 * HTTP(S) proxy-url. Users may set client-certificate(-data)/client-key(-data), token, tokenFile,
 * username/password, impersonation (`as`, `as-groups`) and exec credential plugins
 * (client.authentication.k8s.io/v1 and v1beta1), whose credential is cached until its
 * expirationTimestamp. Relative file paths are relative to the kubeconfig that names them.
 *
 * Field names follow client-node's (`caData`, `skipTLSVerify`, `certData`, ...), so code and tests
 * written against its KubeConfig keep working against this one.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as https from "node:https";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";

/** A cluster entry (client-node's field names). */
export interface Cluster {
  readonly name: string;
  readonly server: string;
  /** certificate-authority-data: base64 of PEM. */
  readonly caData?: string | undefined;
  /** certificate-authority: a PEM file. */
  readonly caFile?: string | undefined;
  readonly skipTLSVerify: boolean;
  readonly tlsServerName?: string | undefined;
  readonly proxyUrl?: string | undefined;
}

/** An exec credential plugin (`users[].user.exec`). */
export interface ExecConfig {
  readonly apiVersion: string;
  readonly command: string;
  readonly args?: readonly string[] | undefined;
  readonly env?: readonly { readonly name: string; readonly value: string }[] | undefined;
  readonly installHint?: string | undefined;
  readonly provideClusterInfo?: boolean | undefined;
  /** Never, IfAvailable or Always; the operator has no terminal, so Always cannot be served. */
  readonly interactiveMode?: string | undefined;
}

/** A user entry (client-node's field names). */
export interface User {
  readonly name: string;
  /** client-certificate-data / client-key-data: base64 of PEM. */
  readonly certData?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyData?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly token?: string | undefined;
  readonly tokenFile?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly impersonateUser?: string | undefined;
  readonly impersonateGroups?: readonly string[] | undefined;
  readonly exec?: ExecConfig | undefined;
  /** A legacy auth-provider (oidc, gcp, azure): named so the error can say which; not supported. */
  readonly authProvider?: { readonly name: string } | undefined;
}

/** A context entry. */
export interface Context {
  readonly name: string;
  readonly cluster: string;
  readonly user: string;
  readonly namespace?: string | undefined;
}

/** What KubeConfig.fromOptions takes: the entries, already parsed. */
export interface KubeConfigOptions {
  readonly clusters: readonly Cluster[];
  readonly users: readonly User[];
  readonly contexts: readonly Context[];
  readonly currentContext: string;
}

/** Knobs for tests: the clock, the environment, and where in-cluster files are. */
export interface LoadOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: () => number;
  /** The service account directory; /var/run/secrets/kubernetes.io/serviceaccount by default. */
  readonly serviceAccountDir?: string;
  /** The home directory holding .kube/config; os.homedir() by default. */
  readonly home?: string;
}

/** Where a pod's service account token, CA and namespace are mounted. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** How long a token file's content is trusted before it is read again (client-go: one minute). */
const TOKEN_FILE_REFRESH_MS = 60_000;
/** An exec plugin that has not answered in this long is killed. */
const EXEC_TIMEOUT_MS = 60_000;
/** A credential that expires within this margin is renewed before use. */
const EXEC_EXPIRY_MARGIN_MS = 10_000;
const EXEC_API_VERSIONS = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"];

/** A credential an exec plugin returned. */
interface ExecCredential {
  readonly token?: string;
  readonly cert?: string;
  readonly key?: string;
  /** Epoch ms; undefined: valid for the life of the process (until the server refuses it). */
  readonly expiresAt?: number;
}

/**
 * A loaded kubeconfig: clusters, users, contexts and the current context, and the credentials of
 * the current context applied to HTTPS request options (`applyToHTTPSOptions`, as client-node's).
 */
export class KubeConfig {
  private current: string;
  private readonly now: () => number;
  private readonly env: NodeJS.ProcessEnv;
  private readonly tokenFiles = new Map<string, { token: string; readAt: number }>();
  private readonly execCache = new Map<
    string,
    { cred: ExecCredential } | { pending: Promise<ExecCredential> }
  >();

  private constructor(
    readonly clusters: readonly Cluster[],
    readonly users: readonly User[],
    readonly contexts: readonly Context[],
    currentContext: string,
    /** Where the configuration came from, for error messages. */
    readonly source: string,
    opts: LoadOptions = {},
  ) {
    this.current = currentContext;
    this.now = opts.now ?? Date.now;
    this.env = opts.env ?? process.env;
  }

  /** A configuration from entries built in code (tests, a CLI's TokenRequest). */
  static fromOptions(o: KubeConfigOptions, opts: LoadOptions = {}): KubeConfig {
    return new KubeConfig([...o.clusters], [...o.users], [...o.contexts], o.currentContext, "options", opts);
  }

  /**
   * Reads and merges kubeconfig files in the order given (KUBECONFIG's): the first file to define
   * a name wins, the first current-context wins; files that do not exist are skipped, but at least
   * one must exist.
   */
  static fromFiles(paths: readonly string[], opts: LoadOptions = {}): KubeConfig {
    const clusters = new Map<string, Cluster>();
    const users = new Map<string, User>();
    const contexts = new Map<string, Context>();
    let currentContext = "";
    const read: string[] = [];
    for (const path of paths) {
      if (!existsSync(path)) continue;
      const file = parseFile(path);
      read.push(path);
      for (const c of file.clusters) if (!clusters.has(c.name)) clusters.set(c.name, c);
      for (const u of file.users) if (!users.has(u.name)) users.set(u.name, u);
      for (const c of file.contexts) if (!contexts.has(c.name)) contexts.set(c.name, c);
      if (currentContext === "") currentContext = file.currentContext;
    }
    if (read.length === 0) throw new Error(`no kubeconfig file exists among ${paths.join(", ")}`);
    return new KubeConfig(
      [...clusters.values()],
      [...users.values()],
      [...contexts.values()],
      currentContext,
      read.join(delimiter),
      opts,
    );
  }

  /**
   * The pod's own service account: the API server from KUBERNETES_SERVICE_HOST/PORT, its ca.crt,
   * its token (re-read as the kubelet rotates it) and its namespace.
   */
  static inCluster(opts: LoadOptions = {}): KubeConfig {
    const env = opts.env ?? process.env;
    const dir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
    const host = env["KUBERNETES_SERVICE_HOST"];
    const port = env["KUBERNETES_SERVICE_PORT"];
    if (!host || !port) {
      throw new Error(
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not both set " +
          "(outside a cluster, set KUBECONFIG or pass --kubeconfig)",
      );
    }
    const tokenFile = join(dir, "token");
    if (!existsSync(tokenFile)) {
      throw new Error(
        `in-cluster: no service account token at ${tokenFile} (is automountServiceAccountToken off?)`,
      );
    }
    const caFile = join(dir, "ca.crt");
    const nsFile = join(dir, "namespace");
    const namespace = existsSync(nsFile) ? readFileSync(nsFile, "utf8").trim() : undefined;
    const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
    return new KubeConfig(
      [{ name: "inCluster", server, caFile: existsSync(caFile) ? caFile : undefined, skipTLSVerify: false }],
      [{ name: "inCluster", tokenFile }],
      [{ name: "inCluster", cluster: "inCluster", user: "inCluster", namespace }],
      "inCluster",
      "in-cluster service account",
      opts,
    );
  }

  /** The name of the current context ("" when none is set). */
  get currentContext(): string {
    return this.current;
  }

  /** The name of the current context ("" when none is set), as client-node names it. */
  getCurrentContext(): string {
    return this.current;
  }

  /** Every context, in the order loaded. */
  getContexts(): readonly Context[] {
    return this.contexts;
  }

  /** Uses another context of this configuration (kubectl's --context); throws if there is none of that name. */
  setCurrentContext(name: string): void {
    if (this.getContextObject(name) === null) {
      throw new Error(`${this.source}: no context named "${name}" (contexts: ${this.names(this.contexts)})`);
    }
    this.current = name;
  }

  /** The context of that name, or null (as client-node's). */
  getContextObject(name: string): Context | null {
    return this.contexts.find((c) => c.name === name) ?? null;
  }

  /** The cluster of that name, or null. */
  getCluster(name: string): Cluster | null {
    return this.clusters.find((c) => c.name === name) ?? null;
  }

  /** The user of that name, or null. */
  getUser(name: string): User | null {
    return this.users.find((u) => u.name === name) ?? null;
  }

  /** The cluster the current context names, or null when there is no current context. */
  getCurrentCluster(): Cluster | null {
    return this.resolveCurrent()?.cluster ?? null;
  }

  /** The user the current context names, or null when there is no current context. */
  getCurrentUser(): User | null {
    return this.resolveCurrent()?.user ?? null;
  }

  /**
   * Sets the TLS material, proxy and credentials of the current context on request options: an
   * `https.Agent` carrying the CA, client certificate and TLS settings (as client-node does, so
   * that KubeClient can pool one), and the Authorization and Impersonate-* headers.
   */
  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const resolved = this.resolveCurrent();
    if (resolved === undefined) throw new Error(`${this.source}: no current context is set`);
    const { cluster, user } = resolved;
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k] = v as string;

    const ca =
      cluster.caData !== undefined
        ? b64(cluster.caData)
        : cluster.caFile
          ? await readFile(cluster.caFile)
          : undefined;
    let cert =
      user.certData !== undefined
        ? b64(user.certData)
        : user.certFile
          ? await readFile(user.certFile)
          : undefined;
    let key =
      user.keyData !== undefined
        ? b64(user.keyData)
        : user.keyFile
          ? await readFile(user.keyFile)
          : undefined;

    if (user.authProvider !== undefined) {
      throw new Error(
        `user "${user.name}" uses auth-provider "${user.authProvider.name}", which is not supported: ` +
          "use its exec credential plugin instead (kubelogin, gke-gcloud-auth-plugin, aws eks get-token)",
      );
    }
    let token: string | undefined;
    if (user.exec !== undefined) {
      const cred = await this.execCredential(user, cluster);
      token = cred.token;
      if (cred.cert !== undefined && cred.key !== undefined) {
        cert = Buffer.from(cred.cert);
        key = Buffer.from(cred.key);
      }
    }
    token ??=
      user.token ?? (user.tokenFile !== undefined ? await this.readTokenFile(user.tokenFile) : undefined);
    if (token !== undefined && token !== "") headers["Authorization"] = `Bearer ${token}`;
    else if (user.username !== undefined && user.password !== undefined) {
      headers["Authorization"] =
        `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`;
    }
    if (user.impersonateUser !== undefined) headers["Impersonate-User"] = user.impersonateUser;
    if (user.impersonateGroups !== undefined && user.impersonateGroups.length > 0) {
      headers["Impersonate-Group"] = [...user.impersonateGroups];
    }
    opts.headers = headers;

    const agentOptions: https.AgentOptions & { proxyEnv?: Record<string, string> } = {
      rejectUnauthorized: !cluster.skipTLSVerify,
    };
    if (ca !== undefined) agentOptions.ca = ca;
    if (cert !== undefined) agentOptions.cert = cert;
    if (key !== undefined) agentOptions.key = key;
    if (cluster.tlsServerName !== undefined) agentOptions.servername = cluster.tlsServerName;
    if (cluster.proxyUrl !== undefined) {
      // Node 24's agents speak HTTP CONNECT to http:// and https:// proxies themselves.
      agentOptions.proxyEnv = { HTTPS_PROXY: cluster.proxyUrl, HTTP_PROXY: cluster.proxyUrl };
    }
    // A plain-HTTP server (a local test double) takes no TLS agent; the client picks http's own.
    if (!cluster.server.startsWith("http:")) opts.agent = new https.Agent(agentOptions);
  }

  private resolveCurrent(): { context: Context; cluster: Cluster; user: User } | undefined {
    if (this.current === "") return undefined;
    const context = this.getContextObject(this.current);
    if (context === null) {
      throw new Error(
        `${this.source}: current-context "${this.current}" is not among the contexts (${this.names(this.contexts)})`,
      );
    }
    const cluster = this.getCluster(context.cluster);
    if (cluster === null) {
      throw new Error(
        `${this.source}: context "${context.name}" names cluster "${context.cluster}", which is not defined`,
      );
    }
    // kubectl allows a context without a user: anonymous.
    const user = this.getUser(context.user) ?? { name: context.user };
    return { context, cluster, user };
  }

  private names(list: readonly { name: string }[]): string {
    return list.length === 0 ? "none" : list.map((e) => e.name).join(", ");
  }

  private async readTokenFile(path: string): Promise<string> {
    const cached = this.tokenFiles.get(path);
    if (cached !== undefined && this.now() - cached.readAt < TOKEN_FILE_REFRESH_MS) return cached.token;
    try {
      const token = (await readFile(path, "utf8")).trim();
      this.tokenFiles.set(path, { token, readAt: this.now() });
      return token;
    } catch (err) {
      // A rotation in progress (file briefly missing): keep using the last token read.
      if (cached !== undefined) return cached.token;
      throw new Error(`cannot read the token file ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The plugin's credential: cached until shortly before it expires; concurrent callers share one run. */
  private async execCredential(user: User, cluster: Cluster): Promise<ExecCredential> {
    const entry = this.execCache.get(user.name);
    if (entry !== undefined) {
      if ("pending" in entry) return entry.pending;
      const exp = entry.cred.expiresAt;
      if (exp === undefined || exp - EXEC_EXPIRY_MARGIN_MS > this.now()) return entry.cred;
    }
    const pending = runExecPlugin(user, cluster, this.env, this.now);
    this.execCache.set(user.name, { pending });
    try {
      const cred = await pending;
      this.execCache.set(user.name, { cred });
      return cred;
    } catch (err) {
      this.execCache.delete(user.name);
      throw err;
    }
  }

  /** Forgets a user's exec credential, so the next request runs the plugin again (after a 401). */
  invalidateCredentials(): void {
    this.execCache.clear();
    this.tokenFiles.clear();
  }
}

/**
 * Loads the configuration as kubectl does: `kubeconfigPath` alone when given; else the files in
 * KUBECONFIG, merged; else ~/.kube/config; else the in-cluster service account.
 */
export function loadKubeConfig(kubeconfigPath?: string, opts: LoadOptions = {}): KubeConfig {
  const env = opts.env ?? process.env;
  if (kubeconfigPath !== undefined && kubeconfigPath !== "") {
    if (!existsSync(kubeconfigPath)) throw new Error(`the kubeconfig ${kubeconfigPath} does not exist`);
    return KubeConfig.fromFiles([kubeconfigPath], opts);
  }
  const list = (env["KUBECONFIG"] ?? "").split(delimiter).filter((p) => p !== "");
  if (list.length > 0) return KubeConfig.fromFiles(list, opts);
  const home = join(opts.home ?? homedir(), ".kube", "config");
  if (existsSync(home)) return KubeConfig.fromFiles([home], opts);
  if (env["KUBERNETES_SERVICE_HOST"]) return KubeConfig.inCluster(opts);
  throw new Error(
    `no Kubernetes configuration: KUBECONFIG is not set, ${home} does not exist, and this is not a pod ` +
      "(KUBERNETES_SERVICE_HOST is not set)",
  );
}

function strOr(v: unknown): string {
  return typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : "";
}

function b64(data: string): Buffer {
  return Buffer.from(data, "base64");
}

type Raw = Record<string, unknown>;

function isRecord(v: unknown): v is Raw {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** One kubeconfig file, checked, with its relative paths made absolute. */
function parseFile(path: string): KubeConfigOptions {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`kubeconfig ${path}: not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  if (doc === null || doc === undefined) return { clusters: [], users: [], contexts: [], currentContext: "" };
  if (!isRecord(doc)) throw new Error(`kubeconfig ${path}: not a mapping`);
  const base = dirname(resolve(path));
  const file = (p: unknown): string | undefined =>
    typeof p === "string" && p !== "" ? (isAbsolute(p) ? p : join(base, p)) : undefined;
  const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
  const entries = (key: string, inner: string): { name: string; body: Raw }[] => {
    const list = doc[key] ?? [];
    if (!Array.isArray(list)) throw new Error(`kubeconfig ${path}: ${key} is not a list`);
    return list.map((e: unknown, i) => {
      if (!isRecord(e) || typeof e["name"] !== "string" || e["name"] === "") {
        throw new Error(`kubeconfig ${path}: ${key}[${String(i)}] has no name`);
      }
      const body = e[inner] ?? {};
      if (!isRecord(body))
        throw new Error(`kubeconfig ${path}: ${key} "${e["name"]}": ${inner} is not a mapping`);
      return { name: e["name"], body };
    });
  };

  const clusters = entries("clusters", "cluster").map(({ name, body }): Cluster => {
    const server = str(body["server"]);
    if (server === undefined) throw new Error(`kubeconfig ${path}: cluster "${name}" has no server`);
    const proxyUrl = str(body["proxy-url"]);
    if (proxyUrl !== undefined && !/^https?:\/\//.test(proxyUrl)) {
      throw new Error(
        `kubeconfig ${path}: cluster "${name}": proxy-url ${proxyUrl}: only http:// and https:// proxies are supported`,
      );
    }
    return {
      name,
      server,
      caData: str(body["certificate-authority-data"]),
      caFile: file(body["certificate-authority"]),
      skipTLSVerify: body["insecure-skip-tls-verify"] === true,
      tlsServerName: str(body["tls-server-name"]),
      proxyUrl,
    };
  });
  const users = entries("users", "user").map(({ name, body }): User => {
    const provider = body["auth-provider"];
    const groups = body["as-groups"];
    return {
      name,
      certData: str(body["client-certificate-data"]),
      certFile: file(body["client-certificate"]),
      keyData: str(body["client-key-data"]),
      keyFile: file(body["client-key"]),
      token: str(body["token"]),
      tokenFile: file(body["tokenFile"]),
      username: str(body["username"]),
      password: str(body["password"]),
      impersonateUser: str(body["as"]),
      impersonateGroups: Array.isArray(groups) ? groups.map(String) : undefined,
      exec: body["exec"] === undefined ? undefined : parseExec(path, name, body["exec"], base),
      authProvider: isRecord(provider)
        ? { name: typeof provider["name"] === "string" ? provider["name"] : "?" }
        : undefined,
    };
  });
  const contexts = entries("contexts", "context").map(({ name, body }): Context => {
    const cluster = str(body["cluster"]);
    if (cluster === undefined) throw new Error(`kubeconfig ${path}: context "${name}" names no cluster`);
    return { name, cluster, user: str(body["user"]) ?? "", namespace: str(body["namespace"]) };
  });
  return { clusters, users, contexts, currentContext: str(doc["current-context"]) ?? "" };
}

function parseExec(path: string, user: string, raw: unknown, base: string): ExecConfig {
  const where = `kubeconfig ${path}: user "${user}": exec`;
  if (!isRecord(raw)) throw new Error(`${where} is not a mapping`);
  const apiVersion = raw["apiVersion"];
  if (typeof apiVersion !== "string" || !EXEC_API_VERSIONS.includes(apiVersion)) {
    throw new Error(
      `${where}: apiVersion ${String(apiVersion)} is not supported (use ${EXEC_API_VERSIONS.join(" or ")})`,
    );
  }
  const command = raw["command"];
  if (typeof command !== "string" || command === "") throw new Error(`${where}: no command`);
  const args = raw["args"];
  const env = raw["env"];
  const mode = raw["interactiveMode"];
  if (mode === "Always") {
    throw new Error(`${where}: interactiveMode Always needs a terminal, which the operator does not have`);
  }
  return {
    apiVersion,
    // client-go resolves a command with a path separator relative to the kubeconfig; a bare name is looked up in PATH.
    command: command.includes("/") && !isAbsolute(command) ? join(base, command) : command,
    args: Array.isArray(args) ? args.map(String) : undefined,
    env: Array.isArray(env)
      ? env.filter(isRecord).map((e) => ({ name: strOr(e["name"]), value: strOr(e["value"]) }))
      : undefined,
    installHint: typeof raw["installHint"] === "string" ? raw["installHint"] : undefined,
    provideClusterInfo: raw["provideClusterInfo"] === true,
    interactiveMode: typeof mode === "string" ? mode : undefined,
  };
}

/** Runs an exec credential plugin (asynchronously: the event loop keeps running) and checks its answer. */
function runExecPlugin(
  user: User,
  cluster: Cluster,
  baseEnv: NodeJS.ProcessEnv,
  now: () => number,
): Promise<ExecCredential> {
  const exec = user.exec;
  if (exec === undefined) throw new Error(`user "${user.name}" has no exec plugin`);
  const spec: Raw = { interactive: false };
  if (exec.provideClusterInfo === true) {
    spec["cluster"] = {
      server: cluster.server,
      ...(cluster.tlsServerName !== undefined ? { "tls-server-name": cluster.tlsServerName } : {}),
      "insecure-skip-tls-verify": cluster.skipTLSVerify,
      ...(cluster.caData !== undefined
        ? { "certificate-authority-data": cluster.caData }
        : cluster.caFile !== undefined
          ? { "certificate-authority-data": readFileSync(cluster.caFile).toString("base64") }
          : {}),
      ...(cluster.proxyUrl !== undefined ? { "proxy-url": cluster.proxyUrl } : {}),
    };
  }
  const env: NodeJS.ProcessEnv = {
    ...baseEnv,
    KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion: exec.apiVersion, kind: "ExecCredential", spec }),
  };
  for (const e of exec.env ?? []) env[e.name] = e.value;
  const what = `user "${user.name}": exec plugin ${exec.command}`;
  return new Promise((resolvePromise, reject) => {
    execFile(
      exec.command,
      [...(exec.args ?? [])],
      { env, timeout: EXEC_TIMEOUT_MS, maxBuffer: 1 << 20, encoding: "utf8" },
      (err, stdout, stderr) => {
        if (err !== null) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "ENOENT") {
            reject(
              new Error(`${what}: not found${exec.installHint ? `; ${exec.installHint.trim()}` : ""}`, {
                cause: err,
              }),
            );
            return;
          }
          // The plugin's stderr says why (expired login, missing profile); it carries no credential.
          const why = stderr.trim().split("\n").slice(-3).join(" ").slice(0, 500);
          reject(
            new Error(
              `${what}: failed (${err.killed ? "timed out" : `exit ${String(err.code)}`})${why ? `: ${why}` : ""}`,
              { cause: err },
            ),
          );
          return;
        }
        try {
          resolvePromise(parseExecCredential(what, exec.apiVersion, stdout, now));
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      },
    );
  });
}

/** Checks an ExecCredential on a plugin's stdout; exported for tests. */
export function parseExecCredential(
  what: string,
  apiVersion: string,
  stdout: string,
  now: () => number = Date.now,
): ExecCredential {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw new Error(`${what}: did not print an ExecCredential as JSON`);
  }
  if (!isRecord(doc) || doc["kind"] !== "ExecCredential")
    throw new Error(`${what}: printed something that is not an ExecCredential`);
  if (doc["apiVersion"] !== apiVersion) {
    throw new Error(
      `${what}: printed apiVersion ${String(doc["apiVersion"])}, but the kubeconfig asks for ${apiVersion}`,
    );
  }
  const status = doc["status"];
  if (!isRecord(status)) throw new Error(`${what}: the ExecCredential has no status`);
  const token = typeof status["token"] === "string" && status["token"] !== "" ? status["token"] : undefined;
  const cert =
    typeof status["clientCertificateData"] === "string" ? status["clientCertificateData"] : undefined;
  const key = typeof status["clientKeyData"] === "string" ? status["clientKeyData"] : undefined;
  if (token === undefined && (cert === undefined || key === undefined)) {
    throw new Error(
      `${what}: the ExecCredential has neither a token nor both clientCertificateData and clientKeyData`,
    );
  }
  if ((cert === undefined) !== (key === undefined)) {
    throw new Error(`${what}: the ExecCredential has only one of clientCertificateData and clientKeyData`);
  }
  let expiresAt: number | undefined;
  const exp = status["expirationTimestamp"];
  if (typeof exp === "string" && exp !== "") {
    expiresAt = Date.parse(exp);
    if (Number.isNaN(expiresAt)) throw new Error(`${what}: expirationTimestamp ${exp} is not a time`);
    if (expiresAt <= now()) throw new Error(`${what}: returned a credential that expired at ${exp}`);
  }
  return {
    ...(token !== undefined ? { token } : {}),
    ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  };
}
