/**
 * `dns01ctl check-dns`: the pre-flight check of a DNS-01 setup with no CA involved. For each domain
 * it picks the Issuer's solver as the Order controller does (selectSolver), builds the provider
 * with its credentials read from the cluster as the Challenge controller does (createSolver and
 * the Secret reader), presents a random TXT value, waits until every server that counts answers
 * it, removes it, and waits until it is gone, timing each server.
 */
import { randomBytes } from "node:crypto";
import { DNS01_PROVIDERS, type Dns01Provider } from "../crds/index.js";
import { Kinds } from "../controllers/kinds.js";
import type { AnyIssuerObj } from "../controllers/issuers/accounts.js";
import { describeError, isNotFound } from "../kube/api-errors.js";
import type { KubeClient } from "../kube/client.js";
import { objectPath } from "../kube/resources.js";
import { silentLogger } from "../log.js";
import type { SecretReader } from "../solvers/credentials.js";
import { createSolver } from "../solvers/registry.js";
import { selectSolver } from "../solvers/select.js";
import type { Dns01Solver, TxtRecord } from "../solvers/types.js";
import type { DnsView } from "./dns-view.js";
import { humanDuration, indent, table } from "./output.js";

/** One server's timings: from present() returning until it answered the value, and from cleanUp() until it stopped. */
export interface ServerTiming {
  readonly server: string;
  readonly seenAfterMs?: number | undefined;
  readonly goneAfterMs?: number | undefined;
  /** The last failure to ask it, when it never settled. */
  readonly lastError?: string | undefined;
}

/** The outcome for one domain. */
export interface DomainCheck {
  readonly domain: string;
  readonly ok: boolean;
  readonly solver?: { readonly index: number; readonly provider: string } | undefined;
  /** Where the value was written, and where it was checked (differs after a CNAME). */
  readonly record?: { readonly fqdn: string; readonly zone: string } | undefined;
  readonly checked?: { readonly fqdn: string; readonly zone: string } | undefined;
  readonly serverKind?: string | undefined;
  readonly presentMs?: number | undefined;
  readonly cleanUpMs?: number | undefined;
  readonly servers: readonly ServerTiming[];
  /** The step that failed: select, credentials, resolve, present, propagate, cleanup, removal. */
  readonly failedStep?: string | undefined;
  /** The provider's (or DNS's) message. */
  readonly error?: string | undefined;
  /** Why removing the value failed, when it did (after a failed step, the value is removed too). */
  readonly cleanUpError?: string | undefined;
}

/** The whole check. */
export interface CheckDnsReport {
  readonly issuer: { readonly kind: string; readonly name: string; readonly namespace?: string | undefined };
  readonly ok: boolean;
  readonly domains: readonly DomainCheck[];
}

/** What the check needs. */
export interface CheckDnsDeps {
  readonly client: KubeClient;
  readonly secrets: SecretReader;
  readonly dns: DnsView;
  /** Where a ClusterIssuer's Secrets live (the operator's --cluster-resource-namespace). */
  readonly clusterResourceNamespace: string;
  readonly timeoutMs: number;
  readonly pollMs?: number;
  readonly signal: AbortSignal;
  readonly now?: () => number;
}

/** Reads the Issuer or ClusterIssuer; throws an Error naming it when it does not exist. */
export async function readIssuer(
  client: KubeClient,
  kind: "Issuer" | "ClusterIssuer",
  name: string,
  namespace: string,
): Promise<AnyIssuerObj> {
  const cluster = kind === "ClusterIssuer";
  try {
    return await client.get<AnyIssuerObj>(
      objectPath(cluster ? Kinds.clusterIssuers : Kinds.issuers, cluster ? undefined : namespace, name),
    );
  } catch (err) {
    if (isNotFound(err)) {
      throw new Error(
        cluster ? `ClusterIssuer ${name} not found` : `Issuer ${name} not found in namespace ${namespace}`,
      );
    }
    throw err;
  }
}

/** Runs the check for every domain, one after the other, so that their timings do not mix. */
export async function checkDns(
  deps: CheckDnsDeps,
  issuer: AnyIssuerObj,
  domains: readonly string[],
): Promise<CheckDnsReport> {
  const results: DomainCheck[] = [];
  for (const domain of domains) {
    // Interrupted: report what was checked (each value already removed) rather than nothing.
    if (deps.signal.aborted) break;
    results.push(await checkDomain(deps, issuer, domain));
  }
  return {
    issuer: {
      kind: issuer.kind,
      name: issuer.metadata.name ?? "",
      ...(issuer.kind === "Issuer" ? { namespace: issuer.metadata.namespace } : {}),
    },
    ok: !deps.signal.aborted && results.every((r) => r.ok),
    domains: results,
  };
}

class StepError extends Error {
  constructor(
    readonly step: string,
    err: unknown,
  ) {
    super(describeError(err), { cause: err });
  }
}

async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw new StepError(name, err);
  }
}

async function checkDomain(deps: CheckDnsDeps, issuer: AnyIssuerObj, domain: string): Promise<DomainCheck> {
  const now = deps.now ?? Date.now;
  const wildcard = domain.startsWith("*.");
  const base = domain.replace(/^\*\./, "").replace(/\.$/, "").toLowerCase();
  const solvers = issuer.spec.acme.solvers ?? [];
  const index = selectSolver(solvers, { dnsName: base, wildcard, labels: {} });
  const issuerId = `${issuer.kind} ${issuer.metadata.name ?? ""}`;
  const dns01: Dns01Provider | undefined = solvers[index]?.dns01;
  if (index < 0 || dns01 === undefined) {
    return {
      domain,
      ok: false,
      servers: [],
      failedStep: "select",
      error:
        index < 0
          ? `no solver of ${issuerId} matches ${domain}: check the solvers' selectors`
          : `solver ${index} of ${issuerId} has no dns01 block`,
    };
  }
  const provider = DNS01_PROVIDERS.find((p) => dns01[p] !== undefined) ?? "unknown";
  const out: {
    -readonly [K in keyof DomainCheck]: DomainCheck[K];
  } = { domain, ok: false, solver: { index, provider }, servers: [] };
  const clusterScoped = issuer.kind === "ClusterIssuer";
  const ctx = { signal: deps.signal, log: silentLogger() };
  let solver: Dns01Solver | undefined;
  let txt: TxtRecord | undefined;
  try {
    const built = await step("credentials", () =>
      createSolver(dns01, {
        clusterScoped,
        // The operator's rule (AcmeAccounts.secretNamespaceOf): an Issuer's Secrets are in its
        // namespace, a ClusterIssuer's in the cluster resource namespace.
        secretNamespace: clusterScoped ? deps.clusterResourceNamespace : (issuer.metadata.namespace ?? ""),
        secrets: deps.secrets,
        signal: deps.signal,
      }),
    );
    solver = built;
    const record = await step("resolve", () =>
      deps.dns.dispatcher.resolveRecord(base, dns01.cnameStrategy, deps.signal),
    );
    out.record = record;
    const checked =
      dns01.cnameStrategy === "Follow"
        ? record
        : await step("resolve", () => deps.dns.checkedRecord(base, deps.signal));
    out.checked = checked;
    out.serverKind = deps.dns.serverKind;
    const servers = await step("resolve", () => deps.dns.serversFor(checked.zone, deps.signal));
    const value = randomBytes(32).toString("base64url");
    const presenting: TxtRecord = { fqdn: record.fqdn, zone: record.zone, value, domain: base };
    // Noted before the call, so that a present() that fails part-way is still cleaned up.
    txt = presenting;
    const t0 = now();
    await step("present", () => built.present(presenting, ctx));
    out.presentMs = now() - t0;
    const seen = await waitForAll(deps, checked.fqdn, servers, (values) => values.includes(value));
    out.servers = servers.map((server) => ({
      server,
      seenAfterMs: seen.get(server)?.at,
      lastError: seen.get(server)?.error,
    }));
    const missing = servers.filter((s) => seen.get(s)?.at === undefined);
    if (missing.length > 0) {
      throw new StepError(
        "propagate",
        new Error(
          `after ${humanDuration(deps.timeoutMs)}, ${missing.length} of ${servers.length} ${deps.dns.serverKind} servers of ${checked.zone} still do not answer the value at ${checked.fqdn}: ` +
            missing
              .map((s) => `${s}${seen.get(s)?.error ? ` (${seen.get(s)?.error ?? ""})` : ""}`)
              .join(", "),
        ),
      );
    }
    const t1 = now();
    txt = undefined;
    await step("cleanup", () => built.cleanUp(presenting, ctx));
    out.cleanUpMs = now() - t1;
    const gone = await waitForAll(deps, checked.fqdn, servers, (values) => !values.includes(value));
    out.servers = out.servers.map((s) => ({ ...s, goneAfterMs: gone.get(s.server)?.at }));
    const stale = servers.filter((s) => gone.get(s)?.at === undefined);
    if (stale.length > 0) {
      throw new StepError(
        "removal",
        new Error(
          `after ${humanDuration(deps.timeoutMs)}, ${stale.length} of ${servers.length} servers still answer the removed value at ${checked.fqdn}: ${stale.join(", ")}`,
        ),
      );
    }
    out.ok = true;
  } catch (err) {
    out.failedStep = err instanceof StepError ? err.step : "unknown";
    out.error = err instanceof StepError ? err.message : describeError(err);
  } finally {
    if (solver !== undefined && txt !== undefined) {
      // A failed or interrupted check never leaves its value behind: clean up with a signal of its own.
      const presented = txt;
      const t1 = now();
      try {
        await solver.cleanUp(presented, { signal: AbortSignal.timeout(30_000), log: silentLogger() });
        out.cleanUpMs = now() - t1;
      } catch (err) {
        out.cleanUpError = describeError(err);
      }
    }
  }
  return out;
}

/**
 * Polls every server until `done(values)` holds for it, or the timeout passes; returns, per
 * server, how long after the start it first held (and the last error of one that never did).
 */
async function waitForAll(
  deps: CheckDnsDeps,
  fqdn: string,
  servers: readonly string[],
  done: (values: readonly string[]) => boolean,
): Promise<Map<string, { at?: number; error?: string }>> {
  const now = deps.now ?? Date.now;
  const start = now();
  const state = new Map<string, { at?: number; error?: string }>(servers.map((s) => [s, {}]));
  const pending = (): string[] => servers.filter((s) => state.get(s)?.at === undefined);
  for (;;) {
    const answers = await deps.dns.answers(fqdn, pending(), deps.signal);
    const t = now() - start;
    for (const a of answers) {
      if ("values" in a) {
        if (done(a.values)) state.set(a.server, { at: t });
      } else {
        state.set(a.server, { error: a.error });
      }
    }
    if (pending().length === 0 || t >= deps.timeoutMs) return state;
    await new Promise((r) => setTimeout(r, deps.pollMs ?? 200));
    deps.signal.throwIfAborted();
  }
}

/** The human form of a check-dns report. */
export function renderCheckDns(r: CheckDnsReport): string {
  const lines: string[] = [];
  for (const d of r.domains) {
    const solver = d.solver
      ? `${d.solver.provider} (solver ${d.solver.index} of ${r.issuer.kind} ${r.issuer.name})`
      : "";
    lines.push(`${d.ok ? "OK" : "FAILED"}  ${d.domain}${solver ? `  via ${solver}` : ""}`);
    if (d.record) {
      const via =
        d.checked && d.checked.fqdn !== d.record.fqdn ? `, checked at ${d.checked.fqdn} (CNAME)` : "";
      lines.push(`  record ${d.record.fqdn} in zone ${d.record.zone}${via}`);
    }
    const times = [
      d.presentMs === undefined ? "" : `presented in ${humanDuration(d.presentMs)}`,
      d.cleanUpMs === undefined ? "" : `removed in ${humanDuration(d.cleanUpMs)}`,
    ].filter((t) => t !== "");
    if (times.length > 0) lines.push(`  ${times.join(", ")}`);
    if (d.servers.length > 0) {
      lines.push(
        indent(
          table(
            [`${d.serverKind ?? ""} server`.trim(), "answered after", "gone after"],
            d.servers.map((s) => [
              s.server,
              s.seenAfterMs === undefined ? "never" : humanDuration(s.seenAfterMs),
              s.goneAfterMs === undefined
                ? s.seenAfterMs === undefined
                  ? ""
                  : "never"
                : humanDuration(s.goneAfterMs),
            ]),
          ),
        ),
      );
    }
    if (!d.ok) lines.push(`  ${d.failedStep ?? "error"}: ${d.error ?? "unknown error"}`);
    // After a refused present the removal is refused for the same reason: saying so adds nothing.
    if (d.cleanUpError !== undefined && d.failedStep !== "present") {
      lines.push(`  removing the test value failed: ${d.cleanUpError}`);
    }
  }
  return lines.join("\n");
}
