/**
 * No credential value ever reaches a log line, an Event or one of our objects (design invariant 6).
 * The operator issues through every provider, with Issuers and ClusterIssuers bound to Pebble by
 * an external account key; for every provider that takes credentials it is also given wrong ones
 * first (a revoked token, a wrong secret key, an unknown service-account key), so that the error
 * paths, where providers' messages and request details end up, are exercised too, and then the
 * right ones (a rotated Secret, used without a restart). Then every value (tokens, keys, secrets,
 * passwords, the TSIG secret, the EAB key, and the base64 of every private key the operator made)
 * is looked for in all of the operator's logs, all Events in all namespaces, and every Certificate,
 * Order, Challenge, Issuer and ClusterIssuer, status included. Any hit fails, naming where.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { DNS01_PROVIDERS } from "../src/crds/index.js";
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
  applySecrets,
  certificateFor,
  createIssuer,
  challengesOf,
  cleanUpChallenges,
  isImplemented,
  operatorEnv,
  pebbleIssuer,
  pemBodyLines,
  startProviders,
  stopProviders,
  waitForChallengesGone,
  waitForIssued,
  type CredentialValue,
  type ProviderUnderTest,
} from "./support/emulators.js";
import { createObject, deleteObject, type Obj } from "./support/fixtures.js";
import { OperatorProcess, rigOperatorArgs } from "./support/operator.js";

/** Shorter values could match by chance; none of ours is this short. */
const MIN_NEEDLE = 16;

/** The JSON paths under `value` whose string contains `needle`. */
function pathsContaining(value: unknown, needle: string, path = ""): string[] {
  if (typeof value === "string") return value.includes(needle) ? [path || "."] : [];
  if (Array.isArray(value))
    return value.flatMap((v, i) => pathsContaining(v, needle, `${path}[${String(i)}]`));
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => [
      ...(k.includes(needle) ? [`${path}.${k} (key)`] : []),
      ...pathsContaining(v, needle, `${path}.${k}`),
    ]);
  }
  return [];
}

/** A place to look, with a label that says where it is. */
interface Haystack {
  readonly where: string;
  readonly value: unknown;
}

const OUR_KINDS = ["certificates", "orders", "challenges", "issuers"] as const;

async function collectHaystacks(c: TestClients, operatorLog: string): Promise<Haystack[]> {
  const stacks: Haystack[] = [];
  operatorLog.split("\n").forEach((line, i) => {
    if (line.trim() !== "") stacks.push({ where: `operator log line ${String(i + 1)}`, value: line });
  });
  for (const e of (await c.core.listEventForAllNamespaces()).items) {
    const who = `${e.involvedObject.kind ?? "?"} ${e.involvedObject.namespace ?? ""}/${e.involvedObject.name ?? ""}`;
    stacks.push({
      where: `Event ${e.metadata.namespace ?? ""}/${e.metadata.name ?? ""} (${e.reason ?? ""} on ${who})`,
      value: e,
    });
  }
  for (const plural of OUR_KINDS) {
    const list = (await c.custom.listCustomObjectForAllNamespaces({
      group: "dns01.io",
      version: "v1alpha1",
      plural,
    })) as { items: Obj[] };
    for (const o of list.items)
      stacks.push({ where: `${plural} ${o.metadata.namespace ?? ""}/${o.metadata.name}`, value: o });
  }
  const clusterIssuers = (await c.custom.listClusterCustomObject({
    group: "dns01.io",
    version: "v1alpha1",
    plural: "clusterissuers",
  })) as { items: Obj[] };
  for (const o of clusterIssuers.items) stacks.push({ where: `clusterissuers ${o.metadata.name}`, value: o });
  return stacks;
}

/** The private key (PEM) of key `tls.key` in a Secret, as base64 lines; none when absent. */
async function privateKeyLines(
  c: TestClients,
  namespace: string,
  name: string,
  what: string,
): Promise<CredentialValue[]> {
  const secret = await c.core.readNamespacedSecret({ name, namespace });
  const pem = Buffer.from(secret.data?.["tls.key"] ?? "", "base64").toString("utf8");
  return pemBodyLines(pem).map((line, i) => ({ what: `${what} (line ${String(i + 1)})`, value: line }));
}

/** A Challenge reason that says something failed, rather than how far it got. */
function failureReason(challenge: Obj): string | undefined {
  const reason = (challenge["status"] as { reason?: string } | undefined)?.reason ?? "";
  return reason === "" || /^(Presenting|Presented|Waiting)\b/.test(reason) ? undefined : reason;
}

describe("no credential value in logs, Events or status, through every provider", () => {
  let c: TestClients;
  let ns: string;
  let wrongNs: string;
  let operator: OperatorProcess | undefined;
  let providers: ProviderUnderTest[] = [];
  const clusterIssuers: Obj[] = [];
  const credentials: CredentialValue[] = [];
  /** Certificates issued: namespace, name and issuer, to read their keys afterwards. */
  const issued: { namespace: string; name: string; issuerSecret: string }[] = [];
  const eabSecret = "pebble-eab";

  beforeAll(async () => {
    c = testClients();
    providers = await startProviders(DNS01_PROVIDERS.filter(isImplemented));
    ns = await createNamespace(c.core, "e2e-leak");
    wrongNs = await createNamespace(c.core, "e2e-leak-wrong");
    const hmac = rigVar("PEBBLE_EAB_HMAC_KEY");
    for (const namespace of [ns, wrongNs]) {
      await applySecrets(c, namespace, [{ name: eabSecret, stringData: { hmac } }]);
    }
    credentials.push({ what: "Pebble EAB HMAC key", value: hmac });
    operator = new OperatorProcess(rigOperatorArgs(ns, ["--no-leader-elect"]), operatorEnv(providers));
    operator.start();
  });

  afterAll(async () => {
    try {
      for (const namespace of [ns, wrongNs]) if (namespace && operator) await cleanUpChallenges(c, namespace);
    } finally {
      await operator?.stop();
      await stopProviders(providers);
      for (const o of clusterIssuers) await deleteObject(c, o);
      if (ns) await deleteNamespace(c.core, ns);
      if (wrongNs) await deleteNamespace(c.core, wrongNs);
    }
  });

  const eabRef = { keyID: "", secretName: eabSecret, key: "hmac" };

  it("issues through every provider with the right credentials, half of them through ClusterIssuers", async () => {
    eabRef.keyID = rigVar("PEBBLE_EAB_KID");
    await Promise.all(
      providers.map(async (p, index) => {
        const name = `ok-${p.code.toLowerCase()}-${suffix()}`;
        const domain = `${name}.${p.zone}`;
        await p.prepare(domain);
        await applySecrets(c, ns, p.secrets());
        const kind = index % 2 === 0 ? "Issuer" : "ClusterIssuer";
        const issuer = pebbleIssuer({
          kind,
          name,
          ...(kind === "Issuer" ? { namespace: ns } : {}),
          solvers: [{ dns01: p.solver }],
          externalAccountBinding: eabRef,
        });
        if (kind === "ClusterIssuer") clusterIssuers.push(issuer);
        await createIssuer(c, issuer);
        await createObject(c, certificateFor(ns, name, [domain, `*.${domain}`], { kind, name }));
        await waitForIssued(c, ns, name, 150_000);
        await waitForChallengesGone(c, ns, name);
        issued.push({ namespace: ns, name, issuerSecret: `${name}-account-key` });
      }),
    );
    expect(issued).toHaveLength(providers.length);
  }, 300_000);

  it("reports wrong credentials of every provider, then issues once the Secret is fixed", async () => {
    const withCredentials = providers.filter((p) => p.wrongSecrets() !== undefined);
    const reasons: string[] = [];
    await Promise.all(
      withCredentials.map(async (p) => {
        const name = `wrong-${p.code.toLowerCase()}-${suffix()}`;
        const domain = `${name}.${p.zone}`;
        await p.prepare(domain);
        const wrong = p.wrongSecrets();
        if (!wrong) return;
        credentials.push(...wrong.values);
        await applySecrets(c, wrongNs, wrong.secrets);
        const issuer = pebbleIssuer({
          kind: "Issuer",
          name,
          namespace: wrongNs,
          solvers: [{ dns01: p.solver }],
          externalAccountBinding: eabRef,
        });
        await createIssuer(c, issuer);
        await createObject(c, certificateFor(wrongNs, name, [domain], { kind: "Issuer", name }));
        const reason = await waitFor(
          `${p.code} to report its wrong credentials on the Challenge`,
          async () => (await challengesOf(c, wrongNs, name)).map(failureReason).find((r) => r !== undefined),
          90_000,
          250,
        );
        reasons.push(`${p.code}: ${reason}`);
        // The Secret is fixed (rotated): the next attempt uses it, without a restart.
        await applySecrets(c, wrongNs, p.secrets());
        await waitForIssued(c, wrongNs, name, 150_000);
        await waitForChallengesGone(c, wrongNs, name);
        issued.push({ namespace: wrongNs, name, issuerSecret: `${name}-account-key` });
      }),
    );
    // eslint-disable-next-line no-console -- what a user reads on a Challenge with wrong credentials
    console.log(`What the Challenges said about wrong credentials:\n  ${reasons.sort().join("\n  ")}`);
    expect(reasons).toHaveLength(withCredentials.length);
  }, 300_000);

  it("finds none of the credential values in the logs, any Event, or any of our objects", async () => {
    for (const p of providers) credentials.push(...p.credentials());
    for (const i of issued) {
      credentials.push(
        ...(await privateKeyLines(c, i.namespace, `${i.name}-tls`, `private key of ${i.name}`)),
      );
      credentials.push(
        ...(await privateKeyLines(c, i.namespace, i.issuerSecret, `ACME account key of ${i.name}`)),
      );
    }
    const needles = credentials.filter((v) => v.value.length >= MIN_NEEDLE);
    const short = credentials.filter((v) => v.value.length < MIN_NEEDLE).map((v) => v.what);
    // Only a PEM's last line may be short; every credential itself is long enough to look for.
    expect(short.every((w) => w.includes("(line "))).toBe(true);
    expect(needles.length).toBeGreaterThan(providers.length * 2);

    const log = operator?.logText() ?? "";
    const stacks = await collectHaystacks(c, log);
    const hits: string[] = [];
    for (const n of needles) {
      for (const s of stacks) {
        for (const path of pathsContaining(s.value, n.value)) hits.push(`${n.what} in ${s.where} at ${path}`);
      }
    }
    expect(log).not.toContain("PRIVATE KEY");
    expect(hits).toEqual([]);
    // eslint-disable-next-line no-console -- what was searched, so that a pass means something
    console.log(
      `Looked for ${String(needles.length)} credential values in ${String(stacks.length)} places ` +
        `(${String(log.split("\n").length)} log lines, all Events and objects): none found.`,
    );
  });
});
