import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { certificateInfo } from "../src/pki/index.js";
import {
  createNamespace,
  deleteNamespace,
  suffix,
  testClients,
  waitFor,
  type TestClients,
} from "../test/support/kube.js";
import { rigVar } from "../test/support/rig.js";
import {
  createObject,
  deleteObject,
  loadExample,
  rigIssuerVars,
  waitForReadyCertificate,
  type Obj,
} from "./support/fixtures.js";
import { OperatorProcess, rigOperatorArgs } from "./support/operator.js";

const PROMETHEUS = "/usr/bin/prometheus";

/** A loopback TCP port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  if (typeof address !== "object" || address === null) throw new Error("no port");
  return address.port;
}

/** The value of the one sample of `name` whose labels include `labels`, in a text exposition. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf("}");
    const got = new Map<string, string>();
    for (const m of line.slice(name.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      got.set(m[1] ?? "", m[2] ?? "");
    }
    if (Object.entries(labels).every(([k, v]) => got.get(k) === v))
      return Number(line.slice(close + 1).trim());
  }
  return undefined;
}

interface PromVector {
  status: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}
interface PromRules {
  status: string;
  data: {
    groups: {
      rules: {
        name: string;
        type: string;
        state?: string;
        health: string;
        alerts?: { labels: Record<string, string> }[];
      }[];
    }[];
  };
}

describe("a real Prometheus scraping the operator", () => {
  let c: TestClients;
  let ns: string;
  let issuer: Obj;
  let operator: OperatorProcess;
  let prometheus: ChildProcess | undefined;
  let dir: string;
  let metricsAddr: string;
  let promUrl: string;
  const name = "scraped";

  beforeAll(async () => {
    if (!existsSync(PROMETHEUS))
      throw new Error(`${PROMETHEUS} is missing: hack/install-deps.sh installs it`);
    c = testClients();
    ns = await createNamespace(c.core, "e2e-metrics");
    await c.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "rig-tsig" }, stringData: { "tsig-secret": rigVar("TSIG_SECRET") } },
    });
    issuer = loadExample("cluster-issuer-pebble.yaml", rigIssuerVars());
    issuer.metadata.name = `pebble-metrics-${suffix()}`;
    // Pebble picks a random profile for an order that names none; the rules below need 90 days.
    ((issuer["spec"] as Record<string, unknown>)["acme"] as Record<string, unknown>)["profile"] = "default";
    await createObject(c, issuer);
    metricsAddr = `127.0.0.1:${String(await freePort())}`;
    operator = new OperatorProcess(rigOperatorArgs(ns, ["--no-leader-elect", "--metrics-addr", metricsAddr]));
    operator.start();

    dir = mkdtempSync(join(tmpdir(), "dns01-prometheus-"));
    writeFileSync(
      join(dir, "rules.yml"),
      [
        "groups:",
        "  - name: e2e",
        "    interval: 1s",
        "    rules:",
        // Pebble's default profile issues for 90 days: this must fire...
        "      - alert: E2ECertificateValidBeyond30Days",
        `        expr: certmanager_certificate_expiration_timestamp_seconds{namespace="${ns}"} - time() > 30 * 86400`,
        // ...and this, the chart's kind of rule, must stay inactive for a fresh certificate.
        "      - alert: E2ECertificateExpiresWithin7Days",
        `        expr: certmanager_certificate_expiration_timestamp_seconds{namespace="${ns}"} > 0 and certmanager_certificate_expiration_timestamp_seconds{namespace="${ns}"} - time() < 7 * 86400`,
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(dir, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "rule_files: [rules.yml]",
        "scrape_configs:",
        "  - job_name: dns01-operator",
        `    static_configs: [{ targets: ["${metricsAddr}"] }]`,
        "",
      ].join("\n"),
    );
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${String(promPort)}`;
    const child = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--web.listen-address=127.0.0.1:${String(promPort)}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        "--log.level=warn",
      ],
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    prometheus = child;
    const kill = (): void => {
      child.kill("SIGKILL");
    };
    process.once("exit", kill);
    child.once("exit", () => process.removeListener("exit", kill));
    await waitFor(
      "Prometheus to be ready",
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited: ${stderr}`);
        const res = await fetch(`${promUrl}/-/ready`);
        return res.ok ? true : undefined;
      },
      30_000,
    );
  });

  afterAll(async () => {
    if (prometheus?.exitCode === null) {
      const p = prometheus;
      const exited = new Promise((resolve) => p.once("exit", resolve));
      p.kill("SIGTERM");
      await exited;
    }
    await operator.stop();
    await deleteObject(c, issuer);
    await deleteNamespace(c.core, ns);
    rmSync(dir, { recursive: true, force: true });
  });

  async function query(q: string): Promise<PromVector["data"]["result"]> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as PromVector;
    if (body.status !== "success") throw new Error(`query ${q}: ${JSON.stringify(body)}`);
    return body.data.result;
  }

  it("shows a Certificate's expiry equal to the notAfter in its Secret, Ready 1, and alert rules evaluating on it", async () => {
    const cert = loadExample("certificate-wildcard.yaml", {});
    cert.metadata = { name, namespace: ns };
    const spec = cert["spec"] as Record<string, unknown>;
    spec["secretName"] = `${name}-tls`;
    spec["dnsNames"] = [`metrics-${suffix()}.example.test`];
    spec["issuerRef"] = { kind: "ClusterIssuer", name: issuer.metadata.name };
    await createObject(c, cert);
    await waitForReadyCertificate(c, ns, name);
    const secret = await c.core.readNamespacedSecret({ name: `${name}-tls`, namespace: ns });
    const pem = Buffer.from(secret.data?.["tls.crt"] ?? "", "base64").toString("utf8");
    const notAfter = Math.floor(certificateInfo(pem).notAfter.getTime() / 1000);
    const labels = { name, namespace: ns, issuer_name: issuer.metadata.name, issuer_kind: "ClusterIssuer" };

    // The operator itself, as `curl 127.0.0.1:9402/metrics` would see it.
    const direct = await waitFor("the operator's /metrics to show the issued certificate", async () => {
      const res = await fetch(`http://${metricsAddr}/metrics`);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      return sample(text, "certmanager_certificate_expiration_timestamp_seconds", labels) === notAfter
        ? text
        : undefined;
    });
    expect(sample(direct, "certmanager_certificate_ready_status", { ...labels, condition: "True" })).toBe(1);
    expect(sample(direct, "certmanager_certificate_ready_status", { ...labels, condition: "False" })).toBe(0);
    expect(
      sample(direct, "certmanager_clusterissuer_ready_status", {
        name: issuer.metadata.name,
        condition: "True",
      }),
    ).toBe(1);
    expect(
      sample(direct, "certmanager_controller_sync_call_count", { controller: "certificates" }),
    ).toBeGreaterThan(0);
    expect(sample(direct, "dns01_leader_election_is_leader", {})).toBe(1);

    // Through Prometheus: the scraped series, then the rules evaluated on them.
    const selector = `{namespace="${ns}",name="${name}"}`;
    const expiry = await waitFor("Prometheus to have scraped the expiry", async () => {
      const r = await query(`certmanager_certificate_expiration_timestamp_seconds${selector}`);
      return r.length === 1 && Number(r[0]?.value[1]) === notAfter ? r[0] : undefined;
    });
    expect(expiry.metric).toMatchObject({ ...labels, job: "dns01-operator", instance: metricsAddr });
    const ready = await query(
      `certmanager_certificate_ready_status{namespace="${ns}",name="${name}",condition="True"}`,
    );
    expect(ready.map((s) => Number(s.value[1]))).toEqual([1]);

    let lastRules = "";
    const rules = await waitFor(
      "the alert rules to evaluate",
      async () => {
        const text = await (await fetch(`${promUrl}/api/v1/rules?type=alert`)).text();
        lastRules = text;
        const all = (JSON.parse(text) as PromRules).data.groups.flatMap((g) => g.rules);
        return all.find((r) => r.name === "E2ECertificateValidBeyond30Days")?.state === "firing"
          ? all
          : undefined;
      },
      30_000,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; Prometheus' rules: ${lastRules}`, { cause: err });
    });
    const firing = rules.find((r) => r.name === "E2ECertificateValidBeyond30Days");
    expect(firing?.health).toBe("ok");
    expect(firing?.alerts?.map((a) => a.labels["name"])).toEqual([name]);
    const quiet = rules.find((r) => r.name === "E2ECertificateExpiresWithin7Days");
    expect(quiet).toMatchObject({ health: "ok", state: "inactive" });
  });
});
