/**
 * The Helm chart, checked by Helm itself and by the rig's real kube-apiserver:
 *
 * - its files/crds/ folder holds exactly the generated CRDs of deploy/crds/, rendered as templates
 *   (crds.enabled, crds.keep), and `helm upgrade` on the rig updates a CRD;
 * - the metrics Service, ServiceMonitor, PodMonitor, PrometheusRule (the rule file of
 *   deploy/prometheus/) and dashboard ConfigMap render behind their values;
 * - `helm lint --strict` passes, and `helm template` renders what the values ask for, with flags
 *   that the operator's own parser (src/config.ts) accepts;
 * - `helm install` on the rig creates every object, and the pod template passes the "restricted"
 *   Pod Security Standard;
 * - the RBAC it grants is enough and no more: SubjectAccessReviews of each verb the operator needs
 *   and of things it must not do, then the ServiceAccount's own token (TokenRequest API) through the
 *   real authentication path, with a SelfSubjectRulesReview that lists every rule it holds.
 *
 * Helm is the pinned build from hack/build-rig-binaries.sh (built here when missing).
 */
import { afterAll, beforeAll, describe, expect, it, jest } from "@jest/globals";
import * as k8s from "@kubernetes/client-node";
import { spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { parse, parseAllDocuments, stringify } from "yaml";
import { parseConfig } from "../../src/config.js";
import { loadKubeConfig } from "../../src/kube/config.js";
import { apiStatusCode } from "../../src/kube/api-errors.js";
import { KubeClient } from "../../src/kube/client.js";
import { apiErrorMessage, suffix, waitFor } from "../support/kube.js";
import { repoRoot, rigVar } from "../support/rig.js";

// Each test runs helm once or more (about 0.1 to 2 s each), and a busy 2-core machine is slower.
jest.setTimeout(60_000);

const CHART = join(repoRoot, "charts/dns01-operator");
const CRD_SOURCE = join(repoRoot, "deploy/crds");
const CHART_CRDS = join(CHART, "files/crds");

/** A version pinned in hack/versions.sh, the file the build script keys its cache by. */
function pinnedVersion(name: string): string {
  const text = readFileSync(join(repoRoot, "hack/versions.sh"), "utf8");
  const m = new RegExp(`^${name}=(\\S+)$`, "m").exec(text);
  if (m?.[1] === undefined) throw new Error(`hack/versions.sh does not pin ${name}`);
  return m[1];
}

const HELM_VERSION = pinnedVersion("HELM_VERSION");
const HELM = join(
  process.env["DNS01_CACHE"] ?? join(homedir(), ".cache/dns01-operator"),
  "bin",
  `helm-${HELM_VERSION}`,
);
const APP_VERSION = (parse(readFileSync(join(CHART, "Chart.yaml"), "utf8")) as { appVersion: string })
  .appVersion;

/** Helm's own state (repositories, cache) goes here, never into the developer's home. */
const work = mkdtempSync(join(tmpdir(), "dns01-chart-test-"));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion, never throwing on a non-zero exit. */
function run(file: string, args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

function helmRun(...args: string[]): Promise<Run> {
  return run(HELM, args, {
    HELM_CACHE_HOME: join(work, "helm/cache"),
    HELM_CONFIG_HOME: join(work, "helm/config"),
    HELM_DATA_HOME: join(work, "helm/data"),
    KUBECONFIG: rigVar("KUBECONFIG"),
  });
}

/** Runs helm and returns its stdout; fails with its stderr when it exits non-zero. */
async function helm(...args: string[]): Promise<string> {
  const r = await helmRun(...args);
  if (r.code !== 0) throw new Error(`helm ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

let valuesFiles = 0;
/** Writes values to a file for `--values` (JSON is YAML), so that types survive unlike `--set`. */
function valuesFile(values: Record<string, unknown>): string {
  const path = join(work, `values-${++valuesFiles}.yaml`);
  writeFileSync(path, JSON.stringify(values));
  return path;
}

/** A rendered object; the typed views below are client-node's models of the same JSON. */
interface Rendered {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
}

const RELEASE = "dns01";
const NAMESPACE = "certs";

/** `helm template` with the given values; the parsed objects of its output. */
async function render(values: Record<string, unknown> = {}, ...flags: string[]): Promise<Rendered[]> {
  const out = await helm(
    "template",
    RELEASE,
    CHART,
    "--namespace",
    NAMESPACE,
    "--values",
    valuesFile(values),
    ...flags,
  );
  return parseDocuments(out);
}

function parseDocuments(text: string): Rendered[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join("; "));
      return doc.toJS() as Rendered | null;
    })
    .filter((o): o is Rendered => o !== null);
}

/** The stderr of a `helm template` that must fail. */
async function renderError(values: Record<string, unknown>): Promise<string> {
  const r = await helmRun(
    "template",
    RELEASE,
    CHART,
    "--namespace",
    NAMESPACE,
    "--values",
    valuesFile(values),
  );
  if (r.code === 0) throw new Error("helm template accepted the values");
  return r.stderr;
}

/** The chart's kinds, with client-node's models of their JSON. */
interface Kinds {
  Deployment: k8s.V1Deployment;
  ServiceAccount: k8s.V1ServiceAccount;
  ClusterRole: k8s.V1ClusterRole;
  ClusterRoleBinding: k8s.V1ClusterRoleBinding;
  Role: k8s.V1Role;
  RoleBinding: k8s.V1RoleBinding;
  PodDisruptionBudget: k8s.V1PodDisruptionBudget;
  Service: k8s.V1Service;
  ConfigMap: k8s.V1ConfigMap;
}

/** The one object of a kind; fails unless exactly one was rendered. */
function only<K extends keyof Kinds>(objects: readonly Rendered[], kind: K): Kinds[K] {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, rendered ${found.length}`);
  return found[0] as unknown as Kinds[K];
}

const kindsOf = (objects: readonly Rendered[]): string[] => objects.map((o) => o.kind).sort();

/** The operator container of a rendered Deployment. */
function operatorContainer(deployment: k8s.V1Deployment): k8s.V1Container {
  const containers = deployment.spec?.template.spec?.containers ?? [];
  expect(containers.map((c) => c.name)).toEqual(["operator"]);
  return containers[0]!;
}

/** The `--metrics-addr` the Deployment passes: exactly one, as the operator's own parser reads it. */
function metricsAddr(deployment: k8s.V1Deployment): string {
  const flags = (operatorContainer(deployment).args ?? []).filter((a) => a.startsWith("--metrics-addr="));
  expect(flags.length).toBe(1);
  return operatorConfig(deployment).metricsAddr;
}

/** The operator's configuration from the Deployment's flags, parsed by the operator's own parser. */
function operatorConfig(deployment: k8s.V1Deployment, namespace = NAMESPACE) {
  return parseConfig(operatorContainer(deployment).args ?? [], { POD_NAMESPACE: namespace });
}

beforeAll(async () => {
  const built = await run("bash", ["-c", `test -x "${HELM}" || bash hack/build-rig-binaries.sh helm`], {});
  if (built.code !== 0) throw new Error(`building helm ${HELM_VERSION} failed:\n${built.stderr}`);
}, 20 * 60_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/**
 * What the chart's copy of a generated CRD holds: the same text, opened by `---` if it is not
 * already, so that the folder concatenated is a valid multi-document stream.
 */
const chartCopyOf = (text: string): string => (text.startsWith("---\n") ? text : `---\n${text}`);

/** Short names of cert-manager's kinds (Certificate, CertificateRequest, Issuer, ClusterIssuer). */
const CERT_MANAGER_SHORT_NAMES = ["cert", "certs", "cr", "crs", "iss", "ciss"];

/** A rendered CustomResourceDefinition, as far as these tests look into it. */
interface Crd extends Rendered {
  metadata: Rendered["metadata"] & { annotations?: Record<string, string> };
  spec: { names: { shortNames?: string[] } };
}

describe("the chart's CRDs", () => {
  const yamlFiles = (dir: string) =>
    readdirSync(dir)
      .filter((f) => f.endsWith(".yaml"))
      .sort();
  const generated = () =>
    yamlFiles(CRD_SOURCE).flatMap((f) => parseDocuments(readFileSync(join(CRD_SOURCE, f), "utf8"))) as Crd[];
  const crdsOf = (objects: readonly Rendered[]) =>
    (objects.filter((o) => o.kind === "CustomResourceDefinition") as Crd[]).sort((a, b) =>
      a.metadata.name.localeCompare(b.metadata.name),
    );

  it("are copies of deploy/crds, file for file, each opened by a document marker (hack/sync-chart-crds.sh)", () => {
    const files = yamlFiles(CRD_SOURCE);
    expect(files.length).toBeGreaterThan(0);
    expect(yamlFiles(CHART_CRDS)).toEqual(files);
    const differing = files.filter(
      (f) =>
        readFileSync(join(CHART_CRDS, f), "utf8") !== chartCopyOf(readFileSync(join(CRD_SOURCE, f), "utf8")),
    );
    expect(differing).toEqual([]);
    // Helm would install a crds/ folder once and never upgrade it: the chart has none.
    expect(existsSync(join(CHART, "crds"))).toBe(false);
  });

  it("render as templates by default, equal to deploy/crds but for the release's labels and the keep policy", async () => {
    const expected = generated().sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const rendered = crdsOf(await render());
    expect(rendered.map((c) => c.metadata.name)).toEqual(expected.map((c) => c.metadata.name));
    for (const [i, crd] of rendered.entries()) {
      const source = expected[i]!;
      expect(crd.metadata.labels?.["app.kubernetes.io/instance"]).toBe(RELEASE);
      expect(crd.metadata.annotations).toEqual({ "helm.sh/resource-policy": "keep" });
      const strip = (c: Crd) => ({ ...c, metadata: { name: c.metadata.name } });
      expect(strip(crd)).toEqual(strip(source));
      for (const [k, v] of Object.entries(source.metadata.labels ?? {}))
        expect(crd.metadata.labels?.[k]).toBe(v);
    }
    // Nothing comes from a crds/ folder any more.
    expect(crdsOf(parseDocuments(await helm("show", "crds", CHART)))).toEqual([]);
  });

  it("drop the keep policy with crds.keep=false, and are left out with crds.enabled=false", async () => {
    const unkept = crdsOf(await render({ crds: { keep: false } }));
    expect(unkept.length).toBe(generated().length);
    for (const crd of unkept) expect(crd.metadata.annotations ?? {}).toEqual({});
    expect(crdsOf(await render({ crds: { enabled: false } }))).toEqual([]);
  });

  it("have short names that do not clash with cert-manager's, which users run beside them", () => {
    const ours = generated().flatMap((c) => c.spec.names.shortNames ?? []);
    expect(ours.sort()).toEqual(["dcert", "dcerts", "dchal", "dciss", "diss", "dorder"]);
    expect(ours.filter((n) => CERT_MANAGER_SHORT_NAMES.includes(n))).toEqual([]);
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    for (const n of ours) expect({ n, inReadme: readme.includes(`\`${n}\``) }).toEqual({ n, inReadme: true });
  });

  it("are kept in sync by hack/sync-chart-crds.sh, whose --check fails while they (or the alert rules) differ", async () => {
    // A scratch copy of the repository's layout, so the script runs on files we can break.
    const repo = join(work, "sync");
    const chartCrds = join(repo, "charts/dns01-operator/files/crds");
    const rules = "deploy/prometheus/dns01-operator-rules.yaml";
    const chartRules = "charts/dns01-operator/files/prometheus/dns01-operator-rules.yaml";
    mkdirSync(join(repo, "hack"), { recursive: true });
    cpSync(join(repoRoot, "hack/sync-chart-crds.sh"), join(repo, "hack/sync-chart-crds.sh"));
    mkdirSync(join(repo, "deploy/crds"), { recursive: true });
    mkdirSync(join(repo, "deploy/prometheus"), { recursive: true });
    mkdirSync(chartCrds, { recursive: true });
    writeFileSync(join(repo, "deploy/crds/dns01.io_a.yaml"), "kind: A\n");
    writeFileSync(join(repo, "deploy/crds/dns01.io_b.yaml"), "---\nkind: B\n");
    writeFileSync(join(chartCrds, "dns01.io_a.yaml"), "kind: old\n");
    writeFileSync(join(chartCrds, "dns01.io_gone.yaml"), "kind: Gone\n");
    writeFileSync(join(repo, rules), "groups: []\n");
    const script = join(repo, "hack/sync-chart-crds.sh");

    const check = await run("bash", [script, "--check"]);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain("dns01.io_a.yaml");
    expect(check.stderr).toContain("dns01.io_b.yaml");
    expect(check.stderr).toContain("dns01.io_gone.yaml");
    expect(check.stderr).toContain(chartRules);

    expect((await run("bash", [script])).code).toBe(0);
    expect(readdirSync(chartCrds).sort()).toEqual(["dns01.io_a.yaml", "dns01.io_b.yaml"]);
    expect(readFileSync(join(chartCrds, "dns01.io_a.yaml"), "utf8")).toBe("---\nkind: A\n");
    expect(readFileSync(join(chartCrds, "dns01.io_b.yaml"), "utf8")).toBe("---\nkind: B\n");
    expect(readFileSync(join(repo, chartRules), "utf8")).toBe("groups: []\n");
    expect((await run("bash", [script, "--check"])).code).toBe(0);

    writeFileSync(join(repo, rules), "groups: [{name: changed, rules: []}]\n");
    const stale = await run("bash", [script, "--check"]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain(chartRules);
  });
});

describe("helm lint and template", () => {
  it(`runs the pinned helm ${HELM_VERSION}`, async () => {
    // The build sets no version string; the module version shows through as "v<major>.<minor>".
    const version = await helm("version", "--template", "{{.Version}}");
    expect(HELM_VERSION.startsWith(version.trim())).toBe(true);
  });

  it("passes helm lint --strict, with the default values and with every optional block set", async () => {
    expect(await helm("lint", "--strict", CHART)).toContain("0 chart(s) failed");
    const busy = valuesFile({
      serviceAccount: { annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/dns" } },
      imagePullSecrets: [{ name: "registry" }],
      priorityClassName: "system-cluster-critical",
      podAnnotations: { "example.test/a": "b" },
      podLabels: { team: "platform" },
      tolerations: [{ key: "infra", operator: "Exists", effect: "NoSchedule" }],
      affinity: { nodeAffinity: {} },
      topologySpreadConstraints: [
        { maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway" },
      ],
      extraEnv: [{ name: "AWS_REGION", value: "eu-west-1" }],
      extraArgs: ["--workers=3"],
      dns01RecursiveNameservers: ["1.1.1.1:53"],
      prometheus: { servicemonitor: { enabled: true, labels: { release: "kps" } } },
      prometheusRule: { enabled: true, labels: { release: "kps" } },
      dashboards: { enabled: true },
      volumes: [{ name: "ca", configMap: { name: "corporate-ca" } }],
      volumeMounts: [{ name: "ca", mountPath: "/etc/dns01/ca", readOnly: true }],
    });
    expect(await helm("lint", "--strict", CHART, "--values", busy)).toContain("0 chart(s) failed");
  });

  it("renders a leader-elected Deployment of two replicas, its RBAC and a PDB with the default values", async () => {
    const objects = (await render()).filter((o) => o.kind !== "CustomResourceDefinition");
    expect(kindsOf(objects)).toEqual([
      "ClusterRole",
      "ClusterRole",
      "ClusterRole",
      "ClusterRoleBinding",
      "Deployment",
      "PodDisruptionBudget",
      "Role",
      "RoleBinding",
      "Service",
      "ServiceAccount",
    ]);
    for (const o of objects) {
      if (!o.kind.startsWith("Cluster"))
        expect({ kind: o.kind, ns: o.metadata.namespace }).toEqual({ kind: o.kind, ns: NAMESPACE });
      expect(o.metadata.labels?.["app.kubernetes.io/instance"]).toBe(RELEASE);
    }

    const deployment = only(objects, "Deployment");
    expect(deployment.spec?.replicas).toBe(2);
    const podLabels = deployment.spec?.template.metadata?.labels ?? {};
    for (const [k, v] of Object.entries(deployment.spec?.selector.matchLabels ?? {}))
      expect(podLabels[k]).toBe(v);

    const config = operatorConfig(deployment);
    expect(config).toMatchObject({
      namespace: NAMESPACE,
      clusterResourceNamespace: NAMESPACE,
      leaderElect: true,
      leaderElectionNamespace: NAMESPACE,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      recursiveNameservers: [],
      recursiveNameserversOnly: false,
      workers: 10,
      issuanceBackoffBaseMs: 3_600_000,
      healthAddr: "0.0.0.0:9403",
      logLevel: "info",
    });

    expect(metricsAddr(deployment)).toBe("0.0.0.0:9402");

    const container = operatorContainer(deployment);
    expect(container.image).toBe(`dns01-operator:${APP_VERSION}`);
    expect(container.env).toEqual([
      { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
    ]);
    expect(container.ports).toEqual([
      { name: "health", containerPort: 9403, protocol: "TCP" },
      { name: "http-metrics", containerPort: 9402, protocol: "TCP" },
    ]);
    expect(container.volumeMounts).toEqual([{ name: "tmp", mountPath: "/tmp" }]);
    expect(deployment.spec?.template.spec?.volumes).toEqual([
      { name: "tmp", emptyDir: { sizeLimit: "16Mi" } },
    ]);
    expect(deployment.spec?.template.spec?.automountServiceAccountToken).toBe(true);
    expect(deployment.spec?.template.spec?.enableServiceLinks).toBe(false);
    expect(container.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "health" });
    expect(container.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "health" });
    expect(container.resources?.requests).toEqual({ cpu: "50m", memory: "128Mi" });
    expect(container.resources?.limits?.["memory"]).toBe("384Mi");
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(deployment.spec?.template.spec?.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(deployment.spec?.template.spec?.nodeSelector).toEqual({ "kubernetes.io/os": "linux" });

    const sa = only(objects, "ServiceAccount");
    expect(sa.automountServiceAccountToken).toBe(true);
    expect(deployment.spec?.template.spec?.serviceAccountName).toBe(sa.metadata?.name);

    // The metrics Service: cert-manager's port, named http-metrics, on the operator's pods.
    const service = only(objects, "Service");
    expect(service.metadata?.name).toBe(`${RELEASE}-dns01-operator-metrics`);
    expect(service.spec?.ports).toEqual([
      { name: "http-metrics", port: 9402, targetPort: "http-metrics", protocol: "TCP" },
    ]);
    expect(service.spec?.selector).toEqual(deployment.spec?.selector.matchLabels);
    const subject = [{ kind: "ServiceAccount", name: sa.metadata?.name, namespace: NAMESPACE }];
    const crb = only(objects, "ClusterRoleBinding");
    expect(crb.subjects).toEqual(subject);
    expect(crb.roleRef.name).toBe(`${RELEASE}-dns01-operator`);
    const rb = only(objects, "RoleBinding");
    expect(rb.subjects).toEqual(subject);
    expect(rb.roleRef).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "Role",
      name: only(objects, "Role").metadata?.name,
    });

    const pdb = only(objects, "PodDisruptionBudget");
    expect(pdb.spec).toEqual({
      minAvailable: 1,
      selector: { matchLabels: deployment.spec?.selector.matchLabels },
    });
  });

  it("renders one unelected replica on an existing ServiceAccount, with every option passed through", async () => {
    const digest = `sha256:${"a".repeat(64)}`;
    const objects = await render({
      replicaCount: 1,
      leaderElection: { enabled: false },
      serviceAccount: { create: false, name: "dns-operator" },
      clusterResourceNamespace: "cert-secrets",
      dns01RecursiveNameservers: ["1.1.1.1:53", "[2606:4700:4700::1111]:53"],
      dns01RecursiveNameserversOnly: true,
      workers: 4,
      issuanceBackoffBase: "15m",
      logLevel: "debug",
      health: { port: 8081, bindAddress: "::" },
      image: { repository: "registry.example/dns01-operator", tag: "ignored", digest, pullPolicy: "Always" },
      imagePullSecrets: [{ name: "registry" }],
      extraEnv: [{ name: "AWS_REGION", value: "eu-west-1" }],
      // Last on the command line, so it wins over the value above: the escape hatch works.
      extraArgs: ["--issuance-backoff-base=5m"],
      resources: { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "128Mi" } },
      nodeSelector: { "kubernetes.io/os": "linux", pool: "infra" },
      tolerations: [{ key: "infra", operator: "Exists", effect: "NoSchedule" }],
      affinity: {
        nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } },
      },
      topologySpreadConstraints: [
        { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "DoNotSchedule" },
      ],
      priorityClassName: "system-cluster-critical",
      podAnnotations: { "example.test/scrape": "false" },
      podLabels: { team: "platform" },
      crds: { enabled: false },
      prometheus: { enabled: false },
      rbac: { aggregateClusterRoles: false },
      metrics: { port: 9000, bindAddress: "::" },
      automountServiceAccountToken: false,
      enableServiceLinks: true,
      // A custom CA trust, as docs/install.md shows it.
      volumes: [{ name: "ca", configMap: { name: "corporate-ca" } }],
      volumeMounts: [{ name: "ca", mountPath: "/etc/dns01/ca", readOnly: true }],
    });
    // No ServiceAccount (it exists), no Lease Role (no election), no PDB (one replica), no CRDs,
    // no metrics Service and no aggregated roles.
    expect(kindsOf(objects)).toEqual(["ClusterRole", "ClusterRoleBinding", "Deployment"]);
    expect(only(objects, "ClusterRoleBinding").subjects).toEqual([
      { kind: "ServiceAccount", name: "dns-operator", namespace: NAMESPACE },
    ]);

    const deployment = only(objects, "Deployment");
    expect(deployment.spec?.replicas).toBe(1);
    expect(operatorConfig(deployment)).toMatchObject({
      clusterResourceNamespace: "cert-secrets",
      leaderElect: false,
      recursiveNameservers: ["1.1.1.1:53", "[2606:4700:4700::1111]:53"],
      recursiveNameserversOnly: true,
      workers: 4,
      issuanceBackoffBaseMs: 300_000,
      healthAddr: "[::]:8081",
      logLevel: "debug",
    });
    const container = operatorContainer(deployment);
    expect(container.image).toBe(`registry.example/dns01-operator@${digest}`);
    expect(container.imagePullPolicy).toBe("Always");
    expect(container.env?.map((e) => e.name)).toEqual(["POD_NAMESPACE", "AWS_REGION"]);
    expect(container.ports).toEqual([
      { name: "health", containerPort: 8081, protocol: "TCP" },
      { name: "http-metrics", containerPort: 9000, protocol: "TCP" },
    ]);
    expect(metricsAddr(deployment)).toBe("[::]:9000");
    expect(container.args?.at(-1)).toBe("--issuance-backoff-base=5m");
    expect(container.volumeMounts).toEqual([
      { name: "tmp", mountPath: "/tmp" },
      { name: "ca", mountPath: "/etc/dns01/ca", readOnly: true },
    ]);
    expect(deployment.spec?.template.spec?.volumes).toEqual([
      { name: "tmp", emptyDir: { sizeLimit: "16Mi" } },
      { name: "ca", configMap: { name: "corporate-ca" } },
    ]);
    expect(deployment.spec?.template.spec?.automountServiceAccountToken).toBe(false);
    expect(deployment.spec?.template.spec?.enableServiceLinks).toBe(true);
    expect(container.resources).toEqual({
      requests: { cpu: "10m", memory: "64Mi" },
      limits: { memory: "128Mi" },
    });

    const pod = deployment.spec?.template;
    expect(pod?.spec).toMatchObject({
      serviceAccountName: "dns-operator",
      imagePullSecrets: [{ name: "registry" }],
      nodeSelector: { "kubernetes.io/os": "linux", pool: "infra" },
      tolerations: [{ key: "infra", operator: "Exists", effect: "NoSchedule" }],
      affinity: {
        nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } },
      },
      topologySpreadConstraints: [
        { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "DoNotSchedule" },
      ],
      priorityClassName: "system-cluster-critical",
    });
    expect(pod?.metadata?.annotations).toEqual({ "example.test/scrape": "false" });
    expect(pod?.metadata?.labels?.["team"]).toBe("platform");
  });

  it("puts the Lease Role where leaderElection.namespace says, and honours the PDB's maxUnavailable and the SA's annotations", async () => {
    const objects = await render({
      fullnameOverride: "certs-operator",
      replicaCount: 3,
      leaderElection: {
        namespace: "kube-leases",
        leaseDuration: "30s",
        renewDeadline: "20s",
        retryPeriod: "4s",
      },
      serviceAccount: {
        annotations: { "iam.gke.io/gcp-service-account": "dns@project.iam.gserviceaccount.com" },
      },
      podDisruptionBudget: { maxUnavailable: "50%" },
    });
    const role = only(objects, "Role");
    const binding = only(objects, "RoleBinding");
    expect(role.metadata?.namespace).toBe("kube-leases");
    expect(binding.metadata?.namespace).toBe("kube-leases");
    // The subject stays in the release namespace, where the ServiceAccount is.
    expect(binding.subjects).toEqual([
      { kind: "ServiceAccount", name: "certs-operator", namespace: NAMESPACE },
    ]);

    const sa = only(objects, "ServiceAccount");
    expect(sa.metadata?.name).toBe("certs-operator");
    expect(sa.metadata?.annotations).toEqual({
      "iam.gke.io/gcp-service-account": "dns@project.iam.gserviceaccount.com",
    });

    const deployment = only(objects, "Deployment");
    expect(deployment.metadata?.name).toBe("certs-operator");
    expect(operatorConfig(deployment)).toMatchObject({
      leaderElectionNamespace: "kube-leases",
      leaseDurationMs: 30_000,
      renewDeadlineMs: 20_000,
      retryPeriodMs: 4_000,
    });
    expect(only(objects, "PodDisruptionBudget").spec).toEqual({
      maxUnavailable: "50%",
      selector: { matchLabels: deployment.spec?.selector.matchLabels },
    });
  });

  it("renders the aggregated view and edit ClusterRoles that namespace users get through view, edit and admin", async () => {
    const roles = (await render()).filter((o) => o.kind === "ClusterRole") as unknown as k8s.V1ClusterRole[];
    const byName = new Map(roles.map((r) => [r.metadata?.name, r]));
    const view = byName.get(`${RELEASE}-dns01-operator-view`);
    const edit = byName.get(`${RELEASE}-dns01-operator-edit`);
    const aggregate = (r: k8s.V1ClusterRole | undefined) =>
      Object.entries(r?.metadata?.labels ?? {})
        .filter(([k, v]) => k.startsWith("rbac.authorization.k8s.io/aggregate-to-") && v === "true")
        .map(([k]) => k.slice("rbac.authorization.k8s.io/aggregate-to-".length))
        .sort();
    expect(aggregate(view)).toEqual(["admin", "edit", "view"]);
    expect(aggregate(edit)).toEqual(["admin", "edit"]);
    expect(view?.rules).toEqual([
      {
        apiGroups: ["dns01.io"],
        resources: ["certificates", "issuers", "clusterissuers", "orders", "challenges"],
        verbs: ["get", "list", "watch"],
      },
    ]);
    // Users manage their intent; Orders and Challenges stay the operator's.
    expect(edit?.rules).toEqual([
      {
        apiGroups: ["dns01.io"],
        resources: ["certificates", "issuers"],
        verbs: ["create", "update", "patch", "delete", "deletecollection"],
      },
    ]);
    // The operator's own role aggregates into nothing.
    expect(aggregate(byName.get(`${RELEASE}-dns01-operator`))).toEqual([]);
  });

  it("renders a ServiceMonitor on the metrics Service, or a PodMonitor, with cert-manager's values, and refuses both at once", async () => {
    const monitoring = {
      servicemonitor: {
        enabled: true,
        namespace: "monitoring",
        prometheusInstance: "k8s",
        interval: "30s",
        scrapeTimeout: "10s",
        labels: { release: "kube-prometheus-stack" },
        annotations: { "example.test/a": "b" },
        endpointAdditionalProperties: { metricRelabelings: [{ action: "drop", regex: "go_.*" }] },
      },
    };
    const objects = await render({ prometheus: monitoring });
    const sm = objects.find((o) => o.kind === "ServiceMonitor") as unknown as {
      metadata: { namespace: string; labels: Record<string, string>; annotations: Record<string, string> };
      spec: {
        jobLabel: string;
        selector: { matchLabels: Record<string, string> };
        namespaceSelector: { matchNames: string[] };
        endpoints: Record<string, unknown>[];
      };
    };
    expect(sm.metadata.namespace).toBe("monitoring");
    expect(sm.metadata.labels).toMatchObject({ prometheus: "k8s", release: "kube-prometheus-stack" });
    expect(sm.metadata.annotations).toEqual({ "example.test/a": "b" });
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: [NAMESPACE] });
    expect(sm.spec.endpoints).toEqual([
      {
        port: "http-metrics",
        path: "/metrics",
        interval: "30s",
        scrapeTimeout: "10s",
        honorLabels: false,
        metricRelabelings: [{ action: "drop", regex: "go_.*" }],
      },
    ]);
    // It selects the metrics Service and nothing else of the release.
    const service = only(objects, "Service");
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels))
      expect(service.metadata?.labels?.[k]).toBe(v);
    expect(service.metadata?.labels?.["app.kubernetes.io/component"]).toBe("metrics");
    expect(service.metadata?.labels?.[sm.spec.jobLabel]).toBe("dns01-operator");
    expect(objects.filter((o) => o.kind === "PodMonitor")).toEqual([]);

    const podObjects = await render({ prometheus: { podmonitor: { enabled: true } } });
    const pm = podObjects.find((o) => o.kind === "PodMonitor") as unknown as {
      metadata: { namespace: string };
      spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string }[] };
    };
    expect(pm.metadata.namespace).toBe(NAMESPACE);
    expect(pm.spec.selector.matchLabels).toEqual(only(podObjects, "Deployment").spec?.selector.matchLabels);
    expect(pm.spec.podMetricsEndpoints.map((e) => e.port)).toEqual(["http-metrics"]);
    // The port it names is the container's.
    expect(operatorContainer(only(podObjects, "Deployment")).ports?.map((p) => p.name)).toContain(
      "http-metrics",
    );
    expect(podObjects.filter((o) => o.kind === "ServiceMonitor")).toEqual([]);

    expect(
      await renderError({ prometheus: { servicemonitor: { enabled: true }, podmonitor: { enabled: true } } }),
    ).toContain("choose one");
    expect(
      await renderError({ prometheus: { enabled: false, servicemonitor: { enabled: true } } }),
    ).toContain("needs prometheus.enabled");
    expect(await renderError({ metrics: { port: 9403 } })).toContain("must differ");
  });

  it("renders the PrometheusRule from deploy/prometheus's rule file, and the dashboard ConfigMap, only when asked", async () => {
    const none = await render();
    expect(none.filter((o) => o.kind === "PrometheusRule" || o.kind === "ConfigMap")).toEqual([]);

    const objects = await render({
      prometheusRule: { enabled: true, namespace: "monitoring", labels: { release: "kps" } },
      dashboards: { enabled: true, namespace: "grafana", annotations: { grafana_folder: "Certificates" } },
    });
    const rule = objects.find((o) => o.kind === "PrometheusRule") as unknown as {
      apiVersion: string;
      metadata: { namespace: string; labels: Record<string, string> };
      spec: unknown;
    };
    expect(rule.apiVersion).toBe("monitoring.coreos.com/v1");
    expect(rule.metadata.namespace).toBe("monitoring");
    expect(rule.metadata.labels["release"]).toBe("kps");
    expect(rule.spec).toEqual(
      parse(readFileSync(join(repoRoot, "deploy/prometheus/dns01-operator-rules.yaml"), "utf8")),
    );

    const dashboard = only(objects, "ConfigMap");
    expect(dashboard.metadata?.namespace).toBe("grafana");
    expect(dashboard.metadata?.labels?.["grafana_dashboard"]).toBe("1");
    expect(dashboard.metadata?.annotations).toEqual({ grafana_folder: "Certificates" });
    const json = dashboard.data?.["dns01-operator.json"] ?? "";
    expect(JSON.parse(json)).toEqual(
      JSON.parse(readFileSync(join(CHART, "files/dashboards/dns01-operator.json"), "utf8")),
    );
  });

  it("refuses several replicas without leader election, which would all issue the same certificates", async () => {
    expect(await renderError({ replicaCount: 2, leaderElection: { enabled: false } })).toContain(
      "replicaCount > 1 needs leaderElection.enabled",
    );
  });

  it("refuses serviceAccount.create=false without the name of the existing ServiceAccount", async () => {
    expect(await renderError({ serviceAccount: { create: false } })).toContain(
      "serviceAccount.name must name an existing ServiceAccount",
    );
  });

  it("refuses values its schema rejects: an unknown level, a duration without unit, a misspelt key", async () => {
    expect(await renderError({ logLevel: "loud" })).toContain("logLevel");
    expect(await renderError({ leaderElection: { leaseDuration: "15" } })).toContain("leaseDuration");
    expect(await renderError({ replicas: 3 })).toMatch(
      /additional properties 'replicas' not allowed|replicas/,
    );
    // crds.enabled is the switch; a misspelt crds.install fails rather than being ignored.
    expect(await renderError({ crds: { install: false } })).toContain("install");
  });
});

describe("docs/install.md", () => {
  /** Values documented as one row, though their defaults are objects. */
  const WHOLE = new Set([
    "resources",
    "podSecurityContext",
    "securityContext",
    "livenessProbe",
    "readinessProbe",
    "nodeSelector",
    "dashboards.labels",
  ]);

  /** The dotted paths of values.yaml's leaves (an empty map or list, or a scalar, is a leaf). */
  function leaves(value: unknown, prefix = ""): string[] {
    if (value === null || typeof value !== "object" || Array.isArray(value) || WHOLE.has(prefix))
      return [prefix];
    const entries = Object.entries(value);
    if (entries.length === 0) return [prefix];
    return entries.flatMap(([k, v]) => leaves(v, prefix === "" ? k : `${prefix}.${k}`));
  }

  it("has a row in its values table for every value of values.yaml, and none for a value that does not exist", () => {
    const values = leaves(parse(readFileSync(join(CHART, "values.yaml"), "utf8"))).sort();
    const doc = readFileSync(join(repoRoot, "docs/install.md"), "utf8");
    const section = /^## \d+\. Values$([\s\S]*?)^## /m.exec(doc)?.[1] ?? "";
    const documented = [...section.matchAll(/^\| `([A-Za-z0-9.]+)` *\|/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(values);
  });
});

describe("the chart installed with helm on the rig", () => {
  // The operator's own raw client: the token path below is the one the operator takes.
  const kc = loadKubeConfig(rigVar("KUBECONFIG"));
  const admin = new KubeClient(kc);
  const release = `chart-${suffix()}`;
  const fullname = `${release}-dns01-operator`;
  const ns = `chart-${suffix()}`;
  const other = `chart-other-${suffix()}`;
  const restricted = `chart-restricted-${suffix()}`;
  const created: string[] = [];
  let installed = false;

  const createNamespace = async (name: string, labels: Record<string, string> = {}) => {
    await admin.request("POST", "/api/v1/namespaces", { body: { metadata: { name, labels } } });
    created.push(name);
  };

  beforeAll(async () => {
    await createNamespace(ns);
    await createNamespace(other);
    await createNamespace(restricted, { "pod-security.kubernetes.io/enforce": "restricted" });
    // The rig applied the CRDs already (hack/rig.sh); the CRD upgrade below takes them over.
    await helm(
      "install",
      release,
      CHART,
      "--namespace",
      ns,
      "--timeout",
      "2m",
      "--set",
      "crds.enabled=false",
    );
    installed = true;
  }, 180_000);

  afterAll(async () => {
    if (installed) await helmRun("uninstall", release, "--namespace", ns, "--timeout", "2m");
    // The rig runs no namespace controller, so these stay Terminating; their names are unique.
    await Promise.allSettled(created.map((n) => admin.request("DELETE", `/api/v1/namespaces/${n}`)));
  }, 180_000);

  it("creates every object of the chart, and the apiserver accepts each one", async () => {
    const status = JSON.parse(await helm("status", release, "--namespace", ns, "--output", "json")) as {
      info: { status: string };
    };
    expect(status.info.status).toBe("deployed");
    const deployment = await admin.get<k8s.V1Deployment>(
      `/apis/apps/v1/namespaces/${ns}/deployments/${fullname}`,
    );
    expect(deployment.spec?.replicas).toBe(2);
    const rbac = "/apis/rbac.authorization.k8s.io/v1";
    for (const path of [
      `/api/v1/namespaces/${ns}/serviceaccounts/${fullname}`,
      `${rbac}/clusterroles/${fullname}`,
      `${rbac}/clusterrolebindings/${fullname}`,
      `${rbac}/namespaces/${ns}/roles/${fullname}-leader-election`,
      `${rbac}/namespaces/${ns}/rolebindings/${fullname}-leader-election`,
      `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/${fullname}`,
      `/api/v1/namespaces/${ns}/services/${fullname}-metrics`,
      `${rbac}/clusterroles/${fullname}-view`,
      `${rbac}/clusterroles/${fullname}-edit`,
    ]) {
      const obj = await admin.get<Rendered>(path);
      expect(obj.metadata.labels?.["app.kubernetes.io/instance"]).toBe(release);
    }
  });

  it("has a pod template that the restricted Pod Security Standard admits, and the check can fail", async () => {
    const deployment = await admin.get<k8s.V1Deployment>(
      `/apis/apps/v1/namespaces/${ns}/deployments/${fullname}`,
    );
    const spec = deployment.spec?.template.spec;
    if (spec === undefined) throw new Error("the Deployment has no pod template");
    // A server-side dry run goes through admission (PodSecurity included) and stores nothing.
    const dryRunPod = (podSpec: k8s.V1PodSpec) =>
      admin.request("POST", `/api/v1/namespaces/${restricted}/pods`, {
        query: { dryRun: "All" },
        body: { apiVersion: "v1", kind: "Pod", metadata: { name: "operator" }, spec: podSpec },
      });
    await dryRunPod(spec);

    const loose = structuredClone(spec);
    delete loose.securityContext?.runAsNonRoot;
    delete loose.securityContext?.seccompProfile;
    const err = await dryRunPod(loose).then(
      () => new Error("the apiserver admitted a pod without runAsNonRoot and seccomp"),
      (e: unknown) => e,
    );
    expect(err instanceof Error ? err.message : String(err)).toContain("violates PodSecurity");
  });

  /** The ServiceAccount as the apiserver sees a request with its token: user and groups. */
  const subject = () => ({
    user: `system:serviceaccount:${ns}:${fullname}`,
    groups: ["system:serviceaccounts", `system:serviceaccounts:${ns}`, "system:authenticated"],
  });

  interface Access {
    verb: string;
    group?: string;
    resource: string;
    subresource?: string;
    /** "own" is the release namespace, "other" any other one, undefined cluster-wide. */
    where?: "own" | "other" | "kube-system";
  }

  /** The accesses whose SubjectAccessReview answer differs from `allowed`, as readable lines. */
  async function wronglyAnswered(accesses: readonly Access[], allowed: boolean): Promise<string[]> {
    const answers = await Promise.all(
      accesses.map(async (a) => {
        const namespace = a.where === "own" ? ns : a.where === "other" ? other : a.where;
        const review = await admin.request<{ status?: { allowed?: boolean } }>(
          "POST",
          "/apis/authorization.k8s.io/v1/subjectaccessreviews",
          {
            body: {
              apiVersion: "authorization.k8s.io/v1",
              kind: "SubjectAccessReview",
              spec: {
                ...subject(),
                resourceAttributes: {
                  verb: a.verb,
                  group: a.group ?? "",
                  resource: a.resource,
                  subresource: a.subresource,
                  namespace,
                },
              },
            },
          },
        );
        const path = `${a.group ? `${a.group}/` : ""}${a.resource}${a.subresource ? `/${a.subresource}` : ""}`;
        return {
          text: `${a.verb} ${path} ${a.where ?? "cluster-wide"}`,
          allowed: review.status?.allowed === true,
        };
      }),
    );
    return answers.filter((a) => a.allowed !== allowed).map((a) => a.text);
  }

  const dns01 = (verb: string, resource: string, subresource?: string, where?: Access["where"]): Access => ({
    verb,
    group: "dns01.io",
    resource,
    ...(subresource !== undefined ? { subresource } : {}),
    ...(where !== undefined ? { where } : {}),
  });

  it("lets the ServiceAccount do each thing the operator does (SubjectAccessReview)", async () => {
    const needed: Access[] = [
      ...["list", "watch"].flatMap((verb) =>
        ["certificates", "issuers", "clusterissuers", "orders", "challenges", "secrets"].map((resource) =>
          resource === "secrets" ? { verb, resource } : dns01(verb, resource),
        ),
      ),
      dns01("get", "certificates", undefined, "other"),
      dns01("get", "issuers", undefined, "other"),
      dns01("get", "clusterissuers"),
      ...["update", "patch"].flatMap((verb) =>
        ["certificates", "issuers", "orders", "challenges"]
          .map((r) => dns01(verb, r, "status", "other"))
          .concat(dns01(verb, "clusterissuers", "status")),
      ),
      ...["create", "update", "patch", "delete"].flatMap((verb) => [
        dns01(verb, "orders", undefined, "other"),
        dns01(verb, "challenges", undefined, "other"),
      ]),
      dns01("update", "challenges", "finalizers", "other"),
      dns01("update", "orders", "finalizers", "other"),
      dns01("update", "certificates", "finalizers", "other"),
      dns01("update", "clusterissuers", "finalizers"),
      ...["get", "create", "update", "patch", "delete"].map((verb): Access => ({
        verb,
        resource: "secrets",
        where: "other",
      })),
      { verb: "create", resource: "events", where: "other" },
      { verb: "patch", resource: "events", where: "other" },
      { verb: "create", group: "events.k8s.io", resource: "events", where: "other" },
      ...["get", "create", "update"].map((verb): Access => ({
        verb,
        group: "coordination.k8s.io",
        resource: "leases",
        where: "own",
      })),
    ];
    expect(await wronglyAnswered(needed, true)).toEqual([]);
  });

  it("denies the ServiceAccount what the operator must not do (SubjectAccessReview)", async () => {
    const forbidden: Access[] = [
      { verb: "delete", resource: "namespaces" },
      { verb: "create", resource: "namespaces" },
      { verb: "create", resource: "pods", where: "own" },
      { verb: "create", resource: "pods", where: "other" },
      { verb: "list", resource: "pods" },
      { verb: "get", resource: "configmaps", where: "own" },
      { verb: "list", resource: "configmaps" },
      { verb: "list", resource: "nodes" },
      { verb: "deletecollection", resource: "secrets", where: "other" },
      { verb: "get", resource: "events", where: "other" },
      { verb: "create", resource: "serviceaccounts", subresource: "token", where: "own" },
      { verb: "impersonate", resource: "users" },
      { verb: "impersonate", resource: "serviceaccounts", where: "other" },
      { verb: "get", group: "coordination.k8s.io", resource: "leases", where: "other" },
      { verb: "update", group: "coordination.k8s.io", resource: "leases", where: "other" },
      { verb: "update", group: "coordination.k8s.io", resource: "leases", where: "kube-system" },
      { verb: "delete", group: "coordination.k8s.io", resource: "leases", where: "own" },
      { verb: "list", group: "coordination.k8s.io", resource: "leases", where: "own" },
      // The user's intent is read-only to the operator.
      ...["create", "update", "patch", "delete"].flatMap((verb) => [
        dns01(verb, "certificates", undefined, "other"),
        dns01(verb, "issuers", undefined, "other"),
        dns01(verb, "clusterissuers"),
      ]),
      dns01("deletecollection", "orders", undefined, "other"),
      // No way to grant itself more.
      ...["create", "update", "escalate", "bind"].map((verb): Access => ({
        verb,
        group: "rbac.authorization.k8s.io",
        resource: "clusterroles",
      })),
      { verb: "create", group: "rbac.authorization.k8s.io", resource: "clusterrolebindings" },
      { verb: "create", group: "rbac.authorization.k8s.io", resource: "rolebindings", where: "own" },
      { verb: "create", group: "rbac.authorization.k8s.io", resource: "roles", where: "own" },
      { verb: "update", group: "apiextensions.k8s.io", resource: "customresourcedefinitions" },
      { verb: "create", group: "admissionregistration.k8s.io", resource: "mutatingwebhookconfigurations" },
      { verb: "update", group: "apps", resource: "deployments", where: "own" },
    ];
    expect(await wronglyAnswered(forbidden, false)).toEqual([]);
  });

  describe("with the ServiceAccount's own token", () => {
    let asOperator: KubeClient;

    beforeAll(async () => {
      // The TokenRequest API, as the kubelet uses for a projected token and `kubectl create token` does.
      const request = await admin.request<{ status?: { token?: string } }>(
        "POST",
        `/api/v1/namespaces/${ns}/serviceaccounts/${fullname}/token`,
        {
          body: {
            apiVersion: "authentication.k8s.io/v1",
            kind: "TokenRequest",
            spec: { audiences: [], expirationSeconds: 600 },
          },
        },
      );
      const token = request.status?.token;
      if (!token) throw new Error("the TokenRequest returned no token");
      const cluster = kc.getCurrentCluster();
      if (!cluster) throw new Error("the rig's kubeconfig names no cluster");
      const operatorKc = new k8s.KubeConfig();
      operatorKc.loadFromOptions({
        clusters: [{ ...cluster, name: "rig" }],
        users: [{ name: "operator", token }],
        contexts: [{ name: "operator", cluster: "rig", user: "operator" }],
        currentContext: "operator",
      });
      asOperator = new KubeClient(operatorKc);
    });

    /** The HTTP status of a request that must fail. */
    async function failure(request: Promise<unknown>): Promise<number> {
      try {
        await request;
      } catch (err) {
        const code = apiStatusCode(err);
        if (code !== undefined) return code;
        throw err;
      }
      throw new Error("the apiserver allowed it");
    }

    it("is authenticated as the ServiceAccount, lists Certificates cluster-wide and is refused the Pods", async () => {
      const whoami = await asOperator.request<{ status?: { userInfo?: { username?: string } } }>(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        { body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" } },
      );
      expect(whoami.status?.userInfo?.username).toBe(subject().user);

      // Retried: the apiserver answers 429 while a CRD's storage reinitializes, as it does for a
      // moment after another suite re-applies the CRDs.
      const list = await waitFor("the certificates list", () =>
        asOperator.get<{ kind?: string }>("/apis/dns01.io/v1alpha1/certificates"),
      );
      expect(list.kind).toBe("CertificateList");

      expect(await failure(asOperator.get("/api/v1/pods"))).toBe(403);
      expect(await failure(asOperator.get(`/api/v1/namespaces/${ns}/configmaps`))).toBe(403);
    });

    it("writes a Secret in another namespace, and a Lease only in its own", async () => {
      const secret = await asOperator.request<Rendered>("POST", `/api/v1/namespaces/${other}/secrets`, {
        body: {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "tls-from-operator" },
          type: "kubernetes.io/tls",
          data: { "tls.crt": "", "tls.key": "" },
        },
      });
      expect(secret.metadata.namespace).toBe(other);

      const lease = (namespace: string) => ({
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: "dns01-operator", namespace },
        spec: { holderIdentity: "test", leaseDurationSeconds: 15 },
      });
      const leases = (namespace: string) => `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
      const created = await asOperator.request<Rendered & { spec: object }>("POST", leases(ns), {
        body: lease(ns),
      });
      await asOperator.request("PUT", `${leases(ns)}/dns01-operator`, {
        body: { ...created, spec: { ...created.spec, holderIdentity: "test-2" } },
      });
      expect(await asOperator.get(`${leases(ns)}/dns01-operator`)).toMatchObject({
        spec: { holderIdentity: "test-2" },
      });
      expect(await failure(asOperator.request("POST", leases(other), { body: lease(other) }))).toBe(403);
    });

    it("holds exactly the chart's rules, as its SelfSubjectRulesReview lists them", async () => {
      const clusterWide = [
        ...["certificates", "issuers", "clusterissuers"].flatMap((r) =>
          ["get", "list", "watch"].map((v) => `dns01.io ${r} ${v}`),
        ),
        ...["orders", "challenges"].flatMap((r) =>
          ["get", "list", "watch", "create", "update", "patch", "delete"].map((v) => `dns01.io ${r} ${v}`),
        ),
        ...["certificates", "issuers", "clusterissuers", "orders", "challenges"].flatMap((r) => [
          `dns01.io ${r}/status update`,
          `dns01.io ${r}/status patch`,
          `dns01.io ${r}/finalizers update`,
        ]),
        ...["get", "list", "watch", "create", "update", "patch", "delete"].map((v) => ` secrets ${v}`),
        " events create",
        " events patch",
        "events.k8s.io events create",
        "events.k8s.io events patch",
      ];
      const leaseRules = ["get", "create", "update"].map((v) => `coordination.k8s.io leases ${v}`);

      interface RulesReview {
        status?: {
          incomplete?: boolean;
          resourceRules?: {
            verbs: string[];
            apiGroups?: string[];
            resources?: string[];
            resourceNames?: string[];
          }[];
        };
      }
      const rulesIn = async (namespace: string): Promise<string[]> => {
        const review = await asOperator.request<RulesReview>(
          "POST",
          "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
          {
            body: {
              apiVersion: "authorization.k8s.io/v1",
              kind: "SelfSubjectRulesReview",
              spec: { namespace },
            },
          },
        );
        expect(review.status?.incomplete).toBe(false);
        const triples = new Set<string>();
        for (const rule of review.status?.resourceRules ?? []) {
          expect(rule.resourceNames ?? []).toEqual([]);
          for (const group of rule.apiGroups ?? [])
            for (const resource of rule.resources ?? [])
              for (const verb of rule.verbs) triples.add(`${group} ${resource} ${verb}`);
        }
        // Every authenticated user may ask what it may do (system:basic-user): not the chart's doing.
        return [...triples]
          .filter((t) => !/^(authorization|authentication)\.k8s\.io self\w+ create$/.test(t))
          .sort();
      };
      expect(await rulesIn(other)).toEqual([...clusterWide].sort());
      expect(await rulesIn(ns)).toEqual([...clusterWide, ...leaseRules].sort());
    });
  });
});

describe("the CRDs installed and upgraded by helm on the rig", () => {
  const admin = new KubeClient(loadKubeConfig(rigVar("KUBECONFIG")));
  const release = `crds-${suffix()}`;
  const ns = `crds-${suffix()}`;
  const CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/certificates.dns01.io";
  const FIELD = "upgradeProbe";
  /** The chart with one more field in the Certificate CRD's spec: a newer chart's CRD. */
  const nextChart = join(work, "chart-next");
  let installed = false;
  // One replica, no election and no PDB: only the CRDs matter here.
  const flags = [
    "--namespace",
    ns,
    "--timeout",
    "2m",
    "--set",
    "replicaCount=1",
    "--set",
    "leaderElection.enabled=false",
  ];

  interface CrdObject {
    metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
    spec: {
      versions: {
        name: string;
        schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, unknown> } } } };
      }[];
    };
    status?: { conditions?: { type: string; status: string }[] };
  }

  /** A server-side dry run of a Certificate that sets FIELD; the stored spec, as the apiserver returns it. */
  const dryRunCertificate = async (fieldValidation: "Strict" | "Ignore") =>
    admin.request<{ spec: Record<string, unknown> }>(
      "POST",
      `/apis/dns01.io/v1alpha1/namespaces/${ns}/certificates`,
      {
        query: { dryRun: "All", fieldValidation },
        body: {
          apiVersion: "dns01.io/v1alpha1",
          kind: "Certificate",
          metadata: { name: "probe" },
          spec: {
            secretName: "probe-tls",
            issuerRef: { name: "probe", kind: "Issuer" },
            dnsNames: ["probe.example.test"],
            [FIELD]: "served",
          },
        },
      },
    );

  beforeAll(async () => {
    await admin.request("POST", "/api/v1/namespaces", { body: { metadata: { name: ns } } });
    cpSync(CHART, nextChart, { recursive: true });
    const file = join(nextChart, "files/crds/dns01.io_certificates.yaml");
    const crd = parse(readFileSync(file, "utf8")) as CrdObject;
    for (const v of crd.spec.versions)
      v.schema.openAPIV3Schema.properties.spec.properties[FIELD] = {
        type: "string",
        description: "A field that only the next chart's CRD has.",
      };
    writeFileSync(file, `---\n${stringify(crd)}`);
  }, 60_000);

  afterAll(async () => {
    // Leave the rig's CRD as deploy/crds has it, whatever happened above.
    if (installed) await helmRun("upgrade", release, CHART, ...flags);
    await helmRun("uninstall", release, "--namespace", ns, "--timeout", "2m");
    await admin.request("DELETE", `/api/v1/namespaces/${ns}`).catch(() => undefined);
  }, 180_000);

  it("installs them as the release's (taking over the rig's), and the apiserver prunes a field the CRD lacks", async () => {
    await helm("install", release, CHART, "--take-ownership", ...flags);
    installed = true;
    const crd = await admin.get<CrdObject>(CRD);
    expect(crd.metadata.annotations).toMatchObject({
      "meta.helm.sh/release-name": release,
      "meta.helm.sh/release-namespace": ns,
      "helm.sh/resource-policy": "keep",
    });
    expect(crd.metadata.labels?.["app.kubernetes.io/managed-by"]).toBe("Helm");
    // Strict validation names the unknown field; without it, the field is dropped.
    const strict = await dryRunCertificate("Strict").then(
      () => "accepted",
      (e: unknown) => apiErrorMessage(e),
    );
    expect(strict).toContain(`unknown field "spec.${FIELD}"`);
    expect((await dryRunCertificate("Ignore")).spec[FIELD]).toBeUndefined();
  });

  it("are updated by helm upgrade: the apiserver then serves and keeps the new field", async () => {
    await helm("upgrade", release, nextChart, ...flags);
    const crd = await admin.get<CrdObject>(CRD);
    for (const v of crd.spec.versions)
      expect(Object.keys(v.schema.openAPIV3Schema.properties.spec.properties)).toContain(FIELD);
    // The apiserver rebuilds the CRD's handler in the background: wait until it uses the new schema.
    const served = await waitFor("the new field served", async () => {
      const spec = (await dryRunCertificate("Strict")).spec;
      return spec[FIELD] === "served" ? spec : undefined;
    });
    expect(served[FIELD]).toBe("served");
  });

  it("stay in place after helm uninstall, by the keep policy", async () => {
    await helm("upgrade", release, CHART, ...flags);
    await helm("uninstall", release, "--namespace", ns, "--timeout", "2m");
    installed = false;
    const crd = await admin.get<CrdObject>(CRD);
    expect(crd.status?.conditions?.find((c) => c.type === "Established")?.status).toBe("True");
    for (const v of crd.spec.versions)
      expect(Object.keys(v.schema.openAPIV3Schema.properties.spec.properties)).not.toContain(FIELD);
  });
});
