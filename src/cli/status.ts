/**
 * `dns01ctl status certificate NAME`: walks Certificate → Issuer → Order → Challenges → live DNS
 * and says which step waits and why. Gathering (API and DNS reads) is separate from the verdict
 * and the rendering, which are pure and unit tested.
 */
import {
  Kinds,
  CERTIFICATE_LABEL,
  type CertificateObj,
  type ChallengeObj,
  type OrderObj,
} from "../controllers/kinds.js";
import { getCondition, type Condition } from "../controllers/runtime/index.js";
import { describeError, isNotFound } from "../kube/api-errors.js";
import type { KubeClient } from "../kube/client.js";
import { collectionPath, objectPath } from "../kube/resources.js";
import type { KubeList } from "../kube/types.js";
import type { AnyIssuerObj } from "../controllers/issuers/accounts.js";
import type { DnsView, ServerAnswer } from "./dns-view.js";
import { indent, relativeTime, table } from "./output.js";

/** A condition as the report shows it. */
export interface ConditionView {
  readonly status: string;
  readonly reason: string;
  readonly message: string;
}

/** One Challenge of the current Order. */
export interface ChallengeView {
  readonly name: string;
  /** `*.example.com` for a wildcard authorization. */
  readonly domain: string;
  readonly state: string;
  readonly presented: boolean;
  readonly reason: string;
  /** The TXT value it presents. */
  readonly key: string;
  /** Where it wrote the value, once noted. */
  readonly record?: { readonly fqdn: string; readonly zone: string } | undefined;
}

/** What the servers of one TXT name answer. */
export interface DnsRecordView {
  readonly fqdn: string;
  readonly zone: string;
  readonly serverKind: "authoritative" | "recursive";
  readonly servers: readonly (ServerAnswer & { readonly challenges: readonly string[] })[];
  /** Set when the name's zone or servers could not be found. */
  readonly error?: string | undefined;
}

/** Everything `status certificate` found. */
export interface StatusReport {
  readonly certificate: {
    readonly namespace: string;
    readonly name: string;
    readonly dnsNames: readonly string[];
    readonly secretName: string;
    readonly ready: ConditionView | undefined;
    readonly issuing: ConditionView | undefined;
    readonly revision?: number | undefined;
    readonly notAfter?: string | undefined;
    readonly renewalTime?: string | undefined;
    readonly failedIssuanceAttempts?: number | undefined;
    readonly lastFailureTime?: string | undefined;
  };
  readonly issuer: {
    readonly kind: string;
    readonly name: string;
    readonly found: boolean;
    readonly ready: ConditionView | undefined;
  };
  readonly order?:
    | {
        readonly name: string;
        readonly state: string;
        readonly reason: string;
        readonly created?: string | undefined;
      }
    | undefined;
  readonly challenges: readonly ChallengeView[];
  readonly dns: readonly DnsRecordView[];
  /** The step that holds the Certificate up, or undefined when it is Ready. */
  readonly waiting: { readonly step: string; readonly reason: string } | undefined;
  readonly ready: boolean;
}

const view = (c: Condition | undefined): ConditionView | undefined =>
  c === undefined ? undefined : { status: c.status, reason: c.reason, message: c.message };

const FINAL_FAILED = new Set(["invalid", "errored", "expired"]);

/**
 * The step that holds a Certificate up, in the order the flow runs: a missing or unready issuer,
 * then a failed or waiting Order, then the first Challenge that is not valid (with what DNS shows
 * for it), then the Certificate's own message. Undefined when Ready and not issuing.
 */
export function diagnose(r: Omit<StatusReport, "waiting" | "ready">): StatusReport["waiting"] {
  const ready = r.certificate.ready?.status === "True";
  const issuing = r.certificate.issuing?.status === "True";
  if (ready && !issuing) return undefined;
  const issuerId = `${r.issuer.kind} ${r.issuer.name}`;
  if (!r.issuer.found) return { step: "Issuer", reason: `${issuerId} does not exist` };
  if (r.issuer.ready?.status !== "True") {
    return {
      step: "Issuer",
      reason: `${issuerId} is not Ready: ${r.issuer.ready?.message ?? "it has no Ready condition yet (is the operator running?)"}`,
    };
  }
  const issuingMessage = r.certificate.issuing?.status === "True" ? r.certificate.issuing.message : undefined;
  const certMessage = (): string =>
    issuingMessage ?? r.certificate.ready?.message ?? "no conditions yet: is the operator running?";
  const order = r.order;
  if (order === undefined) return { step: "Certificate", reason: certMessage() };
  if (FINAL_FAILED.has(order.state)) {
    return { step: `Order ${order.name}`, reason: `${order.state}: ${order.reason || certMessage()}` };
  }
  for (const ch of r.challenges) {
    if (ch.state === "valid") continue;
    let reason = ch.reason || `state ${ch.state || "new"}`;
    const dns = r.dns.find((d) => d.fqdn === ch.record?.fqdn);
    if (dns !== undefined && ch.presented) {
      const lacking = dns.servers.filter((s) => !("values" in s) || !s.values.includes(ch.key));
      if (lacking.length > 0) {
        reason += ` (DNS now: ${lacking.length} of ${dns.servers.length} ${dns.serverKind} servers lack the value: ${lacking.map((s) => s.server).join(", ")})`;
      } else if (dns.servers.length > 0) {
        reason += ` (DNS now: all ${dns.servers.length} ${dns.serverKind} servers answer the value)`;
      }
    }
    return { step: `Challenge ${ch.domain}`, reason };
  }
  if (order.state === "valid") return { step: "Certificate", reason: certMessage() };
  return {
    step: `Order ${order.name}`,
    reason: order.reason || `${order.state || "new"}: ${certMessage()}`,
  };
}

/** Reads everything `status` shows. Throws a plain Error when the Certificate does not exist. */
export async function gatherStatus(
  client: KubeClient,
  namespace: string,
  name: string,
  dns: DnsView,
): Promise<StatusReport> {
  let cert: CertificateObj;
  try {
    cert = await client.get<CertificateObj>(objectPath(Kinds.certificates, namespace, name));
  } catch (err) {
    if (isNotFound(err)) throw new Error(`certificate ${name} not found in namespace ${namespace}`);
    throw err;
  }
  const ref = cert.spec.issuerRef;
  const issuerKind = ref.kind ?? "Issuer";
  const issuerRes = issuerKind === "ClusterIssuer" ? Kinds.clusterIssuers : Kinds.issuers;
  const issuer = await client
    .get<AnyIssuerObj>(
      objectPath(issuerRes, issuerKind === "ClusterIssuer" ? undefined : namespace, ref.name),
    )
    .catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
  const labelSelector = `${CERTIFICATE_LABEL}=${name}`;
  const owned = (o: OrderObj) =>
    (o.metadata.ownerReferences ?? []).some((r) => r.kind === "Certificate" && r.uid === cert.metadata.uid);
  const orders = (
    await client.get<KubeList<OrderObj>>(collectionPath(Kinds.orders, namespace), {
      query: { labelSelector },
    })
  ).items
    .filter(owned)
    .sort((a, b) => (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? ""));
  const order = orders.at(-1);
  const challenges =
    order === undefined
      ? []
      : (
          await client.get<KubeList<ChallengeObj>>(collectionPath(Kinds.challenges, namespace), {
            query: { labelSelector },
          })
        ).items.filter((c) =>
          (c.metadata.ownerReferences ?? []).some(
            (r) => r.kind === "Order" && r.name === order.metadata.name,
          ),
        );
  const chViews: ChallengeView[] = challenges
    .map((c) => ({
      name: c.metadata.name ?? "",
      domain: `${c.spec.wildcard === true ? "*." : ""}${c.spec.dnsName}`,
      state: c.status?.state ?? "",
      presented: c.status?.presented === true,
      reason: c.status?.reason ?? "",
      key: c.spec.key,
      record: c.status?.presentedRecord,
    }))
    .sort((a, b) => a.domain.localeCompare(b.domain));
  const base = {
    certificate: {
      namespace,
      name,
      dnsNames: cert.spec.dnsNames ?? [],
      secretName: cert.spec.secretName,
      ready: view(getCondition(cert.status?.conditions, "Ready")),
      issuing: view(getCondition(cert.status?.conditions, "Issuing")),
      revision: cert.status?.revision,
      notAfter: cert.status?.notAfter,
      renewalTime: cert.status?.renewalTime,
      failedIssuanceAttempts: cert.status?.failedIssuanceAttempts,
      lastFailureTime: cert.status?.lastFailureTime,
    },
    issuer: {
      kind: issuerKind,
      name: ref.name,
      found: issuer !== undefined,
      ready: view(getCondition(issuer?.status?.conditions, "Ready")),
    },
    order:
      order === undefined
        ? undefined
        : {
            name: order.metadata.name ?? "",
            state: order.status?.state ?? "",
            reason: order.status?.reason ?? "",
            created: order.metadata.creationTimestamp,
          },
    challenges: chViews,
    dns: await dnsViews(chViews, dns),
  };
  const waiting = diagnose(base);
  return { ...base, waiting, ready: waiting === undefined };
}

/** Asks the servers of each challenge's record (once per name: apex and wildcard share one). */
async function dnsViews(challenges: readonly ChallengeView[], dns: DnsView): Promise<DnsRecordView[]> {
  const byFqdn = new Map<string, { zone: string; keys: Map<string, string[]> }>();
  for (const ch of challenges) {
    if (ch.record === undefined || ch.state === "valid") continue;
    const entry = byFqdn.get(ch.record.fqdn) ?? { zone: ch.record.zone, keys: new Map<string, string[]>() };
    entry.keys.set(ch.key, [...(entry.keys.get(ch.key) ?? []), ch.domain]);
    byFqdn.set(ch.record.fqdn, entry);
  }
  return Promise.all(
    [...byFqdn].map(async ([written, { zone: writtenZone, keys }]): Promise<DnsRecordView> => {
      let fqdn = written;
      let zone = writtenZone;
      try {
        // The value is checked where the CA looks: at the end of a CNAME chain at the record name.
        const checked = await dns.checkedRecord(written.replace(/^_acme-challenge\./, ""));
        fqdn = checked.fqdn;
        zone = checked.zone;
        const servers = await dns.serversFor(zone);
        const answers = await dns.answers(fqdn, servers);
        return {
          fqdn,
          zone,
          serverKind: dns.serverKind,
          servers: answers.map((a) => ({
            ...a,
            challenges: "values" in a ? a.values.flatMap((v) => keys.get(v) ?? []) : [],
          })),
        };
      } catch (err) {
        return { fqdn: written, zone, serverKind: dns.serverKind, servers: [], error: describeError(err) };
      }
    }),
  );
}

const short = (v: string): string => (v.length > 16 ? `${v.slice(0, 12)}…` : v);

/** The human form of a status report. */
export function renderStatus(r: StatusReport, now: Date): string {
  const c = r.certificate;
  const lines: string[] = [];
  const cond = (v: ConditionView | undefined): string =>
    v === undefined ? "unknown" : `${v.status === "True" ? "yes" : "no"} (${v.reason}: ${v.message})`;
  lines.push(`Certificate ${c.namespace}/${c.name}`);
  lines.push(`  Ready:      ${cond(c.ready)}`);
  if (c.issuing?.status === "True") lines.push(`  Issuing:    ${c.issuing.reason}: ${c.issuing.message}`);
  lines.push(`  DNS names:  ${c.dnsNames.join(", ")}`);
  const expiry =
    c.notAfter === undefined ? "" : `, expires ${c.notAfter} (${relativeTime(new Date(c.notAfter), now)})`;
  const renews = c.renewalTime === undefined ? "" : `, renews ${relativeTime(new Date(c.renewalTime), now)}`;
  lines.push(
    `  Secret:     ${c.secretName}${c.revision === undefined ? " (not issued yet)" : ` revision ${c.revision}${expiry}${renews}`}`,
  );
  if ((c.failedIssuanceAttempts ?? 0) > 0) {
    lines.push(
      `  Failures:   ${c.failedIssuanceAttempts ?? 0} in a row, last at ${c.lastFailureTime ?? "?"}`,
    );
  }
  const i = r.issuer;
  lines.push(
    `Issuer ${i.kind} ${i.name}: ${i.found ? (i.ready?.status === "True" ? "Ready" : `not Ready (${i.ready?.message ?? "no conditions"})`) : "not found"}`,
  );
  if (r.order === undefined) {
    lines.push("Order: none in progress");
  } else {
    const o = r.order;
    const age = o.created === undefined ? "" : `, created ${relativeTime(new Date(o.created), now)}`;
    lines.push(`Order ${o.name}: ${o.state || "new"}${age}${o.reason ? `: ${o.reason}` : ""}`);
  }
  if (r.challenges.length > 0) {
    lines.push("Challenges:");
    lines.push(
      indent(
        table(
          ["domain", "state", "presented", "reason"],
          r.challenges.map((ch) => [ch.domain, ch.state || "new", ch.presented ? "yes" : "no", ch.reason]),
        ),
      ),
    );
  }
  for (const d of r.dns) {
    lines.push(`DNS ${d.fqdn} on the ${d.serverKind} servers of ${d.zone}:`);
    if (d.error !== undefined) lines.push(`  cannot ask: ${d.error}`);
    for (const s of d.servers) {
      const what =
        "error" in s
          ? `no answer: ${s.error}`
          : s.values.length === 0
            ? "no TXT value"
            : s.values
                .map((v) => {
                  const who = r.challenges.filter((ch) => ch.key === v).map((ch) => ch.domain);
                  return `"${short(v)}" (${who.length > 0 ? who.join(", ") : "not this order's"})`;
                })
                .join(", ");
      lines.push(`  ${s.server}: ${what}`);
    }
  }
  lines.push(
    r.waiting === undefined
      ? "Ready: nothing is waiting."
      : `Waiting at ${r.waiting.step}: ${r.waiting.reason}`,
  );
  return lines.join("\n");
}
