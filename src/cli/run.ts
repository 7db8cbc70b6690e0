/**
 * dns01ctl's commands, wired: parse the command line, load the cluster connection, run the
 * command, render its report, and return the exit code (0 fine, 1 not fine or an error, 2 usage).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describeError } from "../kube/api-errors.js";
import { kubeSecretReader } from "../solvers/credentials.js";
import {
  UsageError,
  boolFlag,
  listFlag,
  parseCommandLine,
  parseTimeout,
  stringFlag,
  type ParsedCommandLine,
} from "./args.js";
import { checkDns, readIssuer, renderCheckDns } from "./check-dns.js";
import { convertManifests, type ConvertInput } from "./convert.js";
import { DnsView, dnsViewOptions } from "./dns-view.js";
import { helpText } from "./help.js";
import { inspectSecret, readSecret, renderInspect } from "./inspect.js";
import { loadCluster } from "./kube.js";
import { render, type CliIo } from "./output.js";
import { renderRenewed, renew, renewTarget } from "./renew.js";
import { gatherStatus, renderStatus } from "./status.js";
import { stringify as toYaml } from "yaml";

/** What a run may use besides argv: output streams, stdin, a clock and an abort signal (Ctrl-C). */
export interface CliEnv extends CliIo {
  readonly readStdin: () => Promise<string>;
  readonly signal: AbortSignal;
  readonly now?: () => Date;
}

/** The version in package.json (two levels up from src/cli and from dist/cli alike). */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, "../../package.json"), "utf8")) as {
    version?: string;
  };
  return pkg.version ?? "unknown";
}

/** Runs dns01ctl with `argv` (without node and the script); resolves with the exit code. */
export async function runCli(argv: readonly string[], env: CliEnv): Promise<number> {
  let cl: ParsedCommandLine;
  try {
    cl = parseCommandLine(argv);
  } catch (err) {
    return usage(env, err);
  }
  if (cl.help) {
    env.stdout(`${helpText(cl.command)}\n`);
    return 0;
  }
  try {
    return await dispatch(cl, env);
  } catch (err) {
    if (err instanceof UsageError) return usage(env, err);
    env.stderr(`error: ${describeError(err)}\n`);
    return 1;
  }
}

function usage(env: CliEnv, err: unknown): number {
  const command = err instanceof UsageError ? err.command : undefined;
  env.stderr(`error: ${(err as Error).message}\nSee 'dns01ctl ${command ? `${command} ` : ""}--help'.\n`);
  return 2;
}

function expectArgs(cl: ParsedCommandLine, kind: string): string {
  const [what, name, ...rest] = cl.args;
  const cmd = cl.command ?? "";
  if (what !== kind && !(kind === "certificate" && (what === "cert" || what === "certificates"))) {
    throw new UsageError(`${cmd} takes "${kind} NAME"${what === undefined ? "" : `, not "${what}"`}`, cmd);
  }
  if (name === undefined || rest.length > 0)
    throw new UsageError(`${cmd} ${kind} takes exactly one NAME`, cmd);
  return name;
}

async function dispatch(cl: ParsedCommandLine, env: CliEnv): Promise<number> {
  const now = env.now ?? (() => new Date());
  const out = (report: unknown, human: () => string): void => {
    env.stdout(render(report, cl.output, human));
  };
  switch (cl.command) {
    case "status": {
      const name = expectArgs(cl, "certificate");
      const dns = new DnsView(dnsViewOptions(cl));
      const { client, namespace } = loadCluster(cl);
      const report = await gatherStatus(client, namespace, name, dns);
      out(report, () => renderStatus(report, now()));
      return report.ready ? 0 : 1;
    }
    case "renew": {
      const { client, namespace } = loadCluster(cl);
      const target = renewTarget(cl.args, {
        selector: stringFlag(cl, "selector"),
        all: boolFlag(cl, "all"),
        allNamespaces: boolFlag(cl, "all-namespaces"),
        namespace,
      });
      const renewed = await renew(client, target, now);
      out({ renewed }, () => renderRenewed(renewed, target));
      return 0;
    }
    case "check-dns":
      return runCheckDns(cl, env, out);
    case "convert":
      return runConvert(cl, env);
    case "inspect": {
      const name = expectArgs(cl, "secret");
      const { client, namespace } = loadCluster(cl);
      const report = inspectSecret(await readSecret(client, namespace, name), now());
      out(report, () => renderInspect(report, now()));
      return report.ok ? 0 : 1;
    }
    case "version":
      return runVersion(cl, out);
    case "help":
    case undefined:
      env.stdout(`${helpText(undefined)}\n`);
      return 0;
  }
}

async function runCheckDns(
  cl: ParsedCommandLine,
  env: CliEnv,
  out: (report: unknown, human: () => string) => void,
): Promise<number> {
  const issuerName = stringFlag(cl, "issuer");
  if (issuerName === undefined) throw new UsageError("check-dns needs --issuer NAME", "check-dns");
  const kind = stringFlag(cl, "kind") ?? "Issuer";
  if (kind !== "Issuer" && kind !== "ClusterIssuer") {
    throw new UsageError(`--kind must be Issuer or ClusterIssuer, not "${kind}"`, "check-dns");
  }
  if (cl.args.length === 0) throw new UsageError("check-dns needs at least one DOMAIN", "check-dns");
  const timeoutMs = parseTimeout(stringFlag(cl, "timeout") ?? "2m");
  const dns = new DnsView(dnsViewOptions(cl));
  const { client, namespace } = loadCluster(cl);
  const issuer = await readIssuer(client, kind, issuerName, namespace);
  const report = await checkDns(
    {
      client,
      secrets: kubeSecretReader(client),
      dns,
      clusterResourceNamespace: stringFlag(cl, "cluster-resource-namespace") ?? "dns01-operator",
      timeoutMs,
      signal: env.signal,
    },
    issuer,
    cl.args,
  );
  out(report, () => renderCheckDns(report));
  return report.ok ? 0 : 1;
}

async function runConvert(cl: ParsedCommandLine, env: CliEnv): Promise<number> {
  const files = listFlag(cl, "filename");
  if (files.length === 0) throw new UsageError("convert needs -f FILE (or -f - for stdin)", "convert");
  if (cl.args.length > 0)
    throw new UsageError(`convert takes files with -f, not "${cl.args.join(" ")}"`, "convert");
  const inputs: ConvertInput[] = [];
  for (const f of files) {
    inputs.push(
      f === "-"
        ? { source: "stdin", text: await env.readStdin() }
        : { source: f, text: readFileSync(f, "utf8") },
    );
  }
  const result = convertManifests(inputs);
  for (const n of result.notes) env.stderr(`note: ${n}\n`);
  for (const r of result.refused) {
    for (const reason of r.reasons)
      env.stderr(`error: ${r.object} (${r.source}) cannot be ported: ${reason}\n`);
  }
  if (result.documents.length > 0) {
    if (cl.output === "json") {
      env.stdout(`${JSON.stringify({ apiVersion: "v1", kind: "List", items: result.documents }, null, 2)}\n`);
    } else {
      env.stdout(result.documents.map((d) => toYaml(d, { lineWidth: 0 })).join("---\n"));
    }
  }
  return result.refused.length > 0 ? 1 : 0;
}

async function runVersion(
  cl: ParsedCommandLine,
  out: (report: unknown, human: () => string) => void,
): Promise<number> {
  const client = { version: cliVersion(), node: process.version };
  let server: { gitVersion?: string } | { error: string } | undefined;
  if (!boolFlag(cl, "client")) {
    try {
      const { client: kube } = loadCluster(cl);
      server = await kube.get<{ gitVersion?: string }>("/version", { timeoutMs: 5000 });
    } catch (err) {
      server = { error: describeError(err) };
    }
  }
  const report = { client, ...(server === undefined ? {} : { server }) };
  out(report, () => {
    const lines = [`dns01ctl ${client.version} (Node.js ${client.node})`];
    if (server !== undefined) {
      lines.push(
        "error" in server
          ? `Kubernetes: not reachable: ${server.error}`
          : `Kubernetes: ${server.gitVersion ?? "unknown"}`,
      );
    }
    return lines.join("\n");
  });
  return 0;
}
