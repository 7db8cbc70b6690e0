/**
 * Renewal left running, on Pebble 2.10's profiles (issue 7, Tests a to e). Renewal is time-bound,
 * so the scenarios share one window instead of taking turns: one operator, one Issuer per scenario
 * (so that breaking one Issuer's credentials or observing one Issuer's ACME traffic concerns that
 * scenario alone), all started in beforeAll and each awaited by its own test. The whole file takes
 * about 9.5 minutes, the length of the longest scenario (b).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { V1Secret } from "@kubernetes/client-node";
import * as x509 from "@peculiar/x509";
import { certificateInfo, parseCertificateChain, publicKeyMatches, verifyChain } from "../src/pki/index.js";
import {
  createNamespace,
  deleteNamespace,
  suffix,
  testClients,
  waitFor,
  type TestClients,
} from "../test/support/kube.js";
import { rigVar } from "../test/support/rig.js";
import { AcmeProxy } from "./support/acme-proxy.js";
import {
  challengeTxt,
  condition,
  createObject,
  dns01,
  getCustom,
  loadExample,
  pebbleRoot,
  rigIssuerVars,
  setPebbleRenewalWindow,
  waitForReadyCertificate,
  type Obj,
} from "./support/fixtures.js";
import { OperatorProcess, rigOperatorArgs } from "./support/operator.js";
import { pemBlocks, publicKeyOfDer, publicKeyOfPem, readJks, readPkcs12 } from "./support/outputs.js";
import { watchCustomObjects, watchSecrets, type CustomObjectWatch } from "./support/watch.js";

/** The window of (b): at least three self-renewals must fit in it on the 180 s `short` profile. */
const WINDOW_MS = 9 * 60_000;
/** How long (a) watches a Certificate that must not be reissued. */
const STEADY_MS = 2 * 60_000;
/** Generous per-test limit: every test waits for a scenario that started in beforeAll. */
const TEST_TIMEOUT_MS = WINDOW_MS + 3 * 60_000;
/** The operator's issuance backoff: long, so that a recovery within minutes proves it was skipped. */
const BACKOFF_BASE = "1h";

interface CertStatus {
  revision?: number;
  notAfter?: string;
  ari?: unknown;
}

const statusOf = (obj: Obj | undefined): CertStatus => (obj?.["status"] as CertStatus | undefined) ?? {};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const decode = (secret: V1Secret, key: string): Buffer => Buffer.from(secret.data?.[key] ?? "", "base64");

/**
 * The ARI CertID (RFC 9773 section 4.1) of a certificate: base64url of its Authority Key
 * Identifier, a dot, base64url of its serial number's DER content octets. Computed here rather
 * than by the operator's code, so the test checks the operator against the RFC.
 */
function ariCertId(pem: string): string {
  const cert = new x509.X509Certificate(pem);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  if (aki === undefined) throw new Error("the certificate has no Authority Key Identifier");
  let serial = Buffer.from(cert.serialNumber, "hex");
  // @peculiar/x509 gives the value; DER adds a zero octet when the high bit is set.
  if ((serial[0] ?? 0) & 0x80) serial = Buffer.concat([Buffer.from([0]), serial]);
  return `${Buffer.from(aki, "hex").toString("base64url")}.${serial.toString("base64url")}`;
}

/** Runs a scenario in the background; its test awaits the returned promise. */
function scenario<T>(run: () => Promise<T>): Promise<T> {
  const p = run();
  // Kept from being an unhandled rejection until its test awaits it.
  p.catch(() => undefined);
  return p;
}

describe("renewal left running on Pebble 2.10's short and default profiles", () => {
  let c: TestClients;
  let ns: string;
  let operator: OperatorProcess;
  let measured: AcmeProxy;
  let ariProxy: AcmeProxy;
  const watches: CustomObjectWatch[] = [];
  const sfx = suffix();
  let root: string;

  /** Every Certificate event, in order, with when it came. */
  const certEvents: { at: number; obj: Obj }[] = [];
  /** Every Order ever seen, by Certificate: order name -> revision annotation. */
  const ordersSeen = new Map<string, Map<string, string>>();

  // Started in beforeAll, awaited by the tests.
  let steady: Promise<SteadyResult>;
  let selfRenewal: Promise<SelfRenewalResult>;
  let brokenCredentials: Promise<BrokenResult>;
  let ari: Promise<AriResult>;
  let outputs: Promise<OutputsResult[]>;

  const tsigSecret = (
    name: string,
    value: string,
  ): { metadata: { name: string }; stringData: Record<string, string> } => ({
    metadata: { name },
    stringData: { "tsig-secret": value },
  });

  /** A namespaced Issuer from the rig's example, on one profile, optionally through a proxy. */
  const issuer = (
    name: string,
    profile: string,
    opts: { server?: string; tsigSecret?: string } = {},
  ): Obj => {
    const obj = loadExample("cluster-issuer-pebble.yaml", rigIssuerVars());
    obj["kind"] = "Issuer";
    obj.metadata = { name, namespace: ns };
    const acme = (obj["spec"] as { acme: Record<string, unknown> }).acme;
    acme["profile"] = profile;
    acme["privateKeySecretRef"] = { name: `${name}-account-key` };
    if (opts.server !== undefined) acme["server"] = opts.server;
    if (opts.tsigSecret !== undefined) {
      const solvers = acme["solvers"] as { dns01: { rfc2136: { tsigSecretSecretRef: { name: string } } } }[];
      for (const s of solvers) s.dns01.rfc2136.tsigSecretSecretRef.name = opts.tsigSecret;
    }
    return obj;
  };

  const certificate = (
    name: string,
    issuerName: string,
    dnsNames: string[],
    extra: Record<string, unknown> = {},
  ): Obj => ({
    apiVersion: "dns01.io/v1alpha1",
    kind: "Certificate",
    metadata: { name, namespace: ns },
    spec: { secretName: `${name}-tls`, issuerRef: { name: issuerName }, dnsNames, ...extra },
  });

  const readSecret = (name: string): Promise<V1Secret> =>
    c.core.readNamespacedSecret({ name: `${name}-tls`, namespace: ns });

  const challengesOf = async (name: string): Promise<unknown[]> =>
    (
      (await c.custom.listNamespacedCustomObject({
        ...dns01,
        plural: "challenges",
        namespace: ns,
        labelSelector: `dns01.io/certificate-name=${name}`,
      })) as { items: unknown[] }
    ).items;

  /** Waits for a Certificate to be Ready at `revision` (or later) and returns it. */
  const readyAt = (name: string, revision: number, timeoutMs: number): Promise<Obj> =>
    waitFor(
      `Certificate ${name} to be Ready at revision ${revision}`,
      async () => {
        const got = await getCustom(c, "certificates", name, ns);
        return condition(got, "Ready")?.status === "True" && (statusOf(got).revision ?? 0) >= revision
          ? got
          : undefined;
      },
      timeoutMs,
      500,
    );

  beforeAll(async () => {
    c = testClients();
    ns = await createNamespace(c.core, "e2e-renew");
    root = await pebbleRoot();
    for (const name of ["rig-tsig", "breakable-tsig"]) {
      await c.core.createNamespacedSecret({ namespace: ns, body: tsigSecret(name, rigVar("TSIG_SECRET")) });
    }
    measured = await AcmeProxy.forRig(process.env);
    // (d): the moment the CA hands out the first certificate of the ARI Certificate, its window is
    // moved to now, before the operator has the certificate. Pebble answers renewalInfo with a
    // Retry-After of 6 h, which the operator honours, so a window moved after the operator's first
    // ARI check would only be seen hours later; moving it before that check is the one moment
    // Pebble lets a test choose.
    ariProxy = await AcmeProxy.forRig(process.env, async (pem) => {
      const leaf = parseCertificateChain(pem).leaf;
      if (!certificateInfo(leaf).dnsNames.includes(`${ariName}.example.test`) || ariMoved !== undefined)
        return;
      const now = new Date();
      await setPebbleRenewalWindow(leaf, now, new Date(now.getTime() + 10_000));
      ariMoved = { at: now.getTime(), certId: ariCertId(leaf), serial: certificateInfo(leaf).serialNumber };
    });

    for (const obj of [
      issuer("default-profile", "default"),
      issuer("ari", "default", { server: ariProxy.directoryUrl }),
      issuer("short-measured", "short", { server: measured.directoryUrl }),
      issuer("short", "short"),
      issuer("short-breakable", "short", { tsigSecret: "breakable-tsig" }),
    ]) {
      await createObject(c, obj);
    }
    watches.push(
      await watchCustomObjects(c.kc, { ...dns01, plural: "certificates", namespace: ns }, (_type, obj) => {
        certEvents.push({ at: Date.now(), obj });
      }),
      await watchCustomObjects(c.kc, { ...dns01, plural: "orders", namespace: ns }, (type, obj) => {
        if (type === "DELETED") return;
        const cert = (obj.metadata as { labels?: Record<string, string> }).labels?.[
          "dns01.io/certificate-name"
        ];
        const revision = (obj.metadata as { annotations?: Record<string, string> }).annotations?.[
          "dns01.io/certificate-revision"
        ];
        if (cert === undefined) return;
        const seen = ordersSeen.get(cert) ?? new Map<string, string>();
        seen.set(obj.metadata.name, revision ?? "?");
        ordersSeen.set(cert, seen);
      }),
    );
    operator = new OperatorProcess(
      rigOperatorArgs(ns, ["--no-leader-elect", "--issuance-backoff-base", BACKOFF_BASE]),
    );
    operator.start();

    steady = scenario(steadyOnDefaultProfile);
    selfRenewal = scenario(selfRenewalOnShortProfile);
    brokenCredentials = scenario(brokenCredentialsDuringRenewal);
    ari = scenario(ariWindowMovedToNow);
    outputs = scenario(outputFormatsAcrossRenewal);
  });

  afterAll(async () => {
    for (const w of watches) w.stop();
    await operator.stop();
    await measured.close();
    await ariProxy.close();
    await deleteNamespace(c.core, ns);
  });

  // ---- (a) ---------------------------------------------------------------------------------------

  interface SteadyResult {
    readonly revisions: number[];
    readonly notReady: number;
    readonly orders: number;
    readonly commonName: string | undefined;
    readonly serials: string[];
  }

  const steadyName = `keep-${sfx}`;

  async function steadyOnDefaultProfile(): Promise<SteadyResult> {
    const cn = `${steadyName}.example.test`;
    await createObject(c, certificate(steadyName, "default-profile", [cn], { commonName: cn }));
    await waitForReadyCertificate(c, ns, steadyName, 120_000);
    const first = await readSecret(steadyName);
    const from = Date.now();
    const serials = new Set<string>([certificateInfo(decode(first, "tls.crt")).serialNumber]);
    while (Date.now() - from < STEADY_MS) {
      await sleep(10_000);
      serials.add(certificateInfo(decode(await readSecret(steadyName), "tls.crt")).serialNumber);
    }
    const mine = certEvents.filter((e) => e.obj.metadata.name === steadyName && e.at >= from);
    return {
      revisions: [...new Set(mine.map((e) => statusOf(e.obj).revision ?? 0))],
      notReady: mine.filter((e) => condition(e.obj, "Ready")?.status !== "True").length,
      orders: ordersSeen.get(steadyName)?.size ?? 0,
      commonName: certificateInfo(decode(first, "tls.crt")).commonName,
      serials: [...serials],
    };
  }

  it(
    "issues a Certificate with a commonName once on the CN-less default profile and keeps it Ready at revision 1 with one Order for 2 minutes",
    async () => {
      const r = await steady;
      // The CA left the CN out, as Let's Encrypt's tlsserver profile does: this is the case that was
      // reissued endlessly.
      expect(r.commonName).toBeUndefined();
      expect(r.revisions.every((v) => v === 1)).toBe(true);
      expect(r.notReady).toBe(0);
      expect(r.serials).toHaveLength(1);
      expect(r.orders).toBe(1);
      const now = await getCustom(c, "certificates", steadyName, ns);
      expect(statusOf(now).revision).toBe(1);
      expect(condition(now, "Ready")?.status).toBe("True");
    },
    TEST_TIMEOUT_MS,
  );

  // ---- (b) ---------------------------------------------------------------------------------------

  interface SelfRenewalResult {
    readonly revision: number;
    readonly versionsSeen: number;
    readonly certificatesSeen: number;
    readonly badVersions: string[];
    readonly leftTxt: string[];
    readonly ordersPerRevision: Map<string, number>;
    readonly acmeRequests: number;
    readonly acmeByEndpoint: Record<string, number>;
  }

  const renewName = `short-${sfx}`;

  async function selfRenewalOnShortProfile(): Promise<SelfRenewalResult> {
    const names = [`${renewName}.example.test`, `*.${renewName}.example.test`];
    const bad: string[] = [];
    const versions = new Set<string>();
    const serials = new Set<string>();
    // Every version of the Secret the API server reports: each must be usable on its own.
    const check = (secret: V1Secret): void => {
      const rv = secret.metadata?.resourceVersion ?? "?";
      versions.add(rv);
      try {
        const crt = decode(secret, "tls.crt").toString("utf8");
        const key = decode(secret, "tls.key").toString("utf8");
        if (crt === "" || key === "") throw new Error("tls.crt or tls.key is empty");
        const info = certificateInfo(crt);
        const now = Date.now();
        if (info.notAfter.getTime() <= now) throw new Error(`expired at ${info.notAfter.toISOString()}`);
        if (info.notBefore.getTime() > now + 5_000)
          throw new Error(`not valid before ${info.notBefore.toISOString()}`);
        if ([...info.dnsNames].sort().join() !== [...names].sort().join())
          throw new Error(`names ${info.dnsNames.join()}`);
        if (!publicKeyMatches(crt, key)) throw new Error("tls.key does not match tls.crt");
        const verified = verifyChain(parseCertificateChain(crt).chainPem, root);
        if (!verified.valid) throw new Error(`chain: ${verified.reason}`);
        serials.add(info.serialNumber);
      } catch (err) {
        bad.push(`resourceVersion ${rv}: ${(err as Error).message}`);
      }
    };
    watches.push(
      await watchSecrets(
        c.kc,
        ns,
        (type, secret) => {
          if (type !== "DELETED") check(secret);
        },
        `${renewName}-tls`,
      ),
    );
    const start = Date.now();
    await createObject(c, certificate(renewName, "short-measured", names));
    const first = await readyAt(renewName, 1, 120_000);
    const before = new Map(measured.counts);
    const firstRevisionAt = Date.now();
    let revision = statusOf(first).revision ?? 1;
    let lastRevisionAt = firstRevisionAt;
    let atLastRevision = new Map(measured.counts);
    while (Date.now() - start < WINDOW_MS) {
      await sleep(2_000);
      const got = await getCustom(c, "certificates", renewName, ns);
      const r = statusOf(got).revision ?? 0;
      if (r > revision && condition(got, "Ready")?.status === "True") {
        revision = r;
        lastRevisionAt = Date.now();
        atLastRevision = new Map(measured.counts);
      }
    }
    // No TXT value may stay behind: look once no renewal is under way (no Challenge exists).
    const leftTxt = await waitFor(
      "a moment with no renewal under way to read BIND",
      async () => {
        if ((await challengesOf(renewName)).length > 0) return undefined;
        const values = (await Promise.all(names.map((n) => challengeTxt(n)))).flat();
        // Still none after the read: the values belong to no Challenge and were left behind.
        return (await challengesOf(renewName)).length === 0 ? values : undefined;
      },
      120_000,
      1_000,
    );
    const perRevision = new Map<string, number>();
    for (const rev of ordersSeen.get(renewName)?.values() ?? [])
      perRevision.set(rev, (perRevision.get(rev) ?? 0) + 1);
    const renewals = revision - 1;
    const delta = new Map<string, number>();
    for (const [k, v] of atLastRevision)
      if (v - (before.get(k) ?? 0) > 0) delta.set(k, v - (before.get(k) ?? 0));
    const acmeRequests = [...delta.values()].reduce((a, b) => a + b, 0);
    // The figures the closing note asks for, as one JSON line.
    process.stdout.write(
      JSON.stringify({
        measurement: "short-profile renewal",
        profile: "short",
        validitySeconds: 180,
        windowSeconds: WINDOW_MS / 1000,
        renewals,
        secondsBetweenFirstAndLastRevision: Math.round((lastRevisionAt - firstRevisionAt) / 1000),
        acmeRequestsForRenewals: acmeRequests,
        acmeRequestsPerRenewal: renewals > 0 ? Math.round((acmeRequests / renewals) * 10) / 10 : null,
        acmeRequestsPerRenewalByEndpoint: Object.fromEntries(
          [...delta].map(([k, v]) => [k, renewals > 0 ? Math.round((v / renewals) * 10) / 10 : null]),
        ),
        secretVersionsObserved: versions.size,
        certificatesObserved: serials.size,
        badSecretVersions: bad.length,
      }) + "\n",
    );
    return {
      revision,
      versionsSeen: versions.size,
      certificatesSeen: serials.size,
      badVersions: bad,
      leftTxt,
      ordersPerRevision: perRevision,
      acmeRequests,
      acmeByEndpoint: Object.fromEntries(delta),
    };
  }

  it(
    "renews a short-profile certificate at least 3 times in 9 minutes, with every Secret version usable, no TXT value left and one Order per revision",
    async () => {
      const r = await selfRenewal;
      expect(r.badVersions).toEqual([]);
      expect(r.revision).toBeGreaterThanOrEqual(4);
      expect(r.certificatesSeen).toBeGreaterThanOrEqual(r.revision);
      expect(r.leftTxt).toEqual([]);
      for (let rev = 1; rev <= r.revision; rev += 1)
        expect([rev, r.ordersPerRevision.get(String(rev))]).toEqual([rev, 1]);
      // Nothing beyond the next revision was ordered.
      expect(Math.max(...[...r.ordersPerRevision.keys()].map(Number))).toBeLessThanOrEqual(r.revision + 1);
      expect(r.acmeRequests).toBeGreaterThan(0);
    },
    TEST_TIMEOUT_MS,
  );

  // ---- (c) ---------------------------------------------------------------------------------------

  interface BrokenResult {
    /** Milliseconds after notAfter when Ready was first seen False (negative: before). */
    readonly notReadyAfterNotAfterMs: number;
    readonly reason: string;
    readonly revisionWhileBroken: number | undefined;
    /** Milliseconds from the fix to Ready again. */
    readonly recoveryMs: number;
    readonly revisionAfter: number | undefined;
    readonly leftTxt: string[];
  }

  const brokenName = `broken-${sfx}`;

  async function brokenCredentialsDuringRenewal(): Promise<BrokenResult> {
    const dnsName = `${brokenName}.second.test`;
    await createObject(c, certificate(brokenName, "short-breakable", [dnsName]));
    const first = await readyAt(brokenName, 1, 120_000);
    const notAfter = Date.parse(statusOf(first).notAfter ?? "");
    if (Number.isNaN(notAfter)) throw new Error("status.notAfter is missing");
    // Break the TSIG secret once the first issuance has cleaned up after itself (its Challenges gone).
    await waitFor(
      "the first issuance's Challenges to be gone",
      async () => ((await challengesOf(brokenName)).length === 0 ? true : undefined),
      60_000,
      500,
    );
    await c.core.replaceNamespacedSecret({
      name: "breakable-tsig",
      namespace: ns,
      body: tsigSecret("breakable-tsig", Buffer.from("not the rig's key, 32 bytes long").toString("base64")),
    });
    // The renewal (at two thirds of the 180 s) fails; by notAfter + 20 s Ready must say so.
    const notReady = await waitFor(
      "Ready=False within 20 s of notAfter",
      async () => {
        const got = await getCustom(c, "certificates", brokenName, ns);
        return condition(got, "Ready")?.status === "False" ? got : undefined;
      },
      Math.max(1_000, notAfter + 20_000 - Date.now()),
      500,
    );
    const notReadyAt = Date.now();
    const reason = condition(notReady, "Ready")?.reason ?? "";
    const revisionWhileBroken = statusOf(notReady).revision;
    // Fix the credentials and touch the spec: the operator must not wait out the 1 h backoff.
    await c.core.replaceNamespacedSecret({
      name: "breakable-tsig",
      namespace: ns,
      body: tsigSecret("breakable-tsig", rigVar("TSIG_SECRET")),
    });
    const fixedAt = Date.now();
    await c.custom.patchNamespacedCustomObject({
      ...dns01,
      plural: "certificates",
      namespace: ns,
      name: brokenName,
      body: [{ op: "add", path: "/spec/duration", value: "2h" }],
    });
    const after = await readyAt(brokenName, 2, 120_000);
    const recoveryMs = Date.now() - fixedAt;
    await waitFor(
      "the recovery's Challenges to be gone",
      async () => ((await challengesOf(brokenName)).length === 0 ? true : undefined),
      60_000,
      500,
    );
    return {
      notReadyAfterNotAfterMs: notReadyAt - notAfter,
      reason,
      revisionWhileBroken,
      recoveryMs,
      revisionAfter: statusOf(after).revision,
      leftTxt: await challengeTxt(dnsName),
    };
  }

  it(
    "turns Ready False within 20 s of notAfter while broken solver credentials fail the renewal, and is Ready again soon after the fix and a spec change despite a 1 h backoff",
    async () => {
      const r = await brokenCredentials;
      expect(r.revisionWhileBroken).toBe(1);
      expect(r.notReadyAfterNotAfterMs).toBeLessThanOrEqual(20_000);
      expect(r.reason).not.toBe("");
      expect(r.revisionAfter).toBe(2);
      // Far inside the first backoff step (1 h): it was skipped, not waited out.
      expect(r.recoveryMs).toBeLessThan(120_000);
      expect(r.leftTxt).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  // ---- (d) ---------------------------------------------------------------------------------------

  interface AriResult {
    readonly renewedAfterMs: number;
    readonly certId: string;
    readonly newOrders: { identifiers?: { type: string; value: string }[]; replaces?: string }[];
    readonly orderReplaces: unknown;
    readonly ariInStatus: boolean;
  }

  const ariName = `ari-${sfx}`;
  let ariMoved: { at: number; certId: string; serial: string } | undefined;

  async function ariWindowMovedToNow(): Promise<AriResult> {
    await createObject(c, certificate(ariName, "ari", [`${ariName}.example.test`]));
    await readyAt(ariName, 1, 120_000);
    const moved = ariMoved;
    if (moved === undefined)
      throw new Error(
        `the window of ${ariName}'s certificate was not moved: ${ariProxy.hookErrors.map(String).join("; ") || "the proxy never saw it"}`,
      );
    await readyAt(ariName, 2, Math.max(1_000, moved.at + 60_000 - Date.now()));
    const renewedAt = Date.now();
    const orders = (await c.custom.listNamespacedCustomObject({
      ...dns01,
      plural: "orders",
      namespace: ns,
      labelSelector: `dns01.io/certificate-name=${ariName}`,
    })) as { items: Obj[] };
    const second = orders.items.find(
      (o) =>
        (o.metadata as { annotations?: Record<string, string> }).annotations?.[
          "dns01.io/certificate-revision"
        ] === "2",
    );
    return {
      renewedAfterMs: renewedAt - moved.at,
      certId: moved.certId,
      newOrders: ariProxy.newOrders(),
      orderReplaces: (second?.["spec"] as { replaces?: unknown } | undefined)?.replaces,
      ariInStatus: certEvents.some(
        (e) => e.obj.metadata.name === ariName && statusOf(e.obj).ari !== undefined,
      ),
    };
  }

  it(
    "renews within 30 s once the CA's ARI window is moved to now, ordering the successor with replaces naming the old certificate",
    async () => {
      const r = await ari;
      expect(ariProxy.hookErrors).toEqual([]);
      expect(r.renewedAfterMs).toBeLessThanOrEqual(30_000);
      // What the CA was asked: the first order replaces nothing, the second names the first certificate.
      expect(r.newOrders.map((o) => o.replaces)).toEqual([undefined, r.certId]);
      expect(r.orderReplaces).toBe(r.certId);
      expect(r.ariInStatus).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  // ---- (e) ---------------------------------------------------------------------------------------

  interface OutputsCase {
    readonly name: string;
    readonly spec: Record<string, unknown>;
    readonly pkcs12?: { profile: "LegacyRC2" | "LegacyDES" | "Modern2023"; password: string };
    readonly jks?: { alias: string; password: string };
    readonly formats: boolean;
  }

  interface OutputsResult {
    readonly name: string;
    /** One list of problems per revision checked (1, then 2). */
    readonly problems: string[][];
    readonly serials: string[];
  }

  /** How `openssl pkcs12 -info` names each profile's MAC, certificate bag and key bag encryption. */
  const PKCS12_PROFILES = {
    LegacyRC2: {
      mac: /MAC: sha1\b/,
      certs: /Encrypted data: pbeWithSHA1And40BitRC2-CBC/,
      key: /Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC/,
    },
    LegacyDES: {
      mac: /MAC: sha1\b/,
      certs: /Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC/,
      key: /Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC/,
    },
    Modern2023: {
      mac: /MAC: sha256\b/,
      certs: /Encrypted data: PBES2, PBKDF2, AES-256-CBC/,
      key: /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC/,
    },
  } as const;

  const outputCases = (): OutputsCase[] => [
    {
      name: `out-rc2-${sfx}`,
      formats: true,
      pkcs12: { profile: "LegacyRC2", password: "from-a-secret-1" },
      jks: { alias: "e2e", password: "from-a-secret-1" },
      spec: {
        additionalOutputFormats: [{ type: "CombinedPEM" }, { type: "DER" }],
        keystores: {
          pkcs12: {
            create: true,
            profile: "LegacyRC2",
            passwordSecretRef: { name: "keystore-password", key: "password" },
          },
          jks: {
            create: true,
            alias: "e2e",
            passwordSecretRef: { name: "keystore-password", key: "password" },
          },
        },
      },
    },
    {
      name: `out-des-${sfx}`,
      formats: false,
      pkcs12: { profile: "LegacyDES", password: "literal-des" },
      spec: {
        privateKey: { algorithm: "RSA", size: 2048 },
        keystores: { pkcs12: { create: true, profile: "LegacyDES", password: "literal-des" } },
      },
    },
    {
      name: `out-modern-${sfx}`,
      formats: false,
      pkcs12: { profile: "Modern2023", password: "literal-modern" },
      jks: { alias: "certificate", password: "literal-jks" },
      spec: {
        keystores: {
          pkcs12: { create: true, profile: "Modern2023", password: "literal-modern" },
          jks: { create: true, password: "literal-jks" },
        },
      },
    },
  ];

  /** Everything wrong with one Secret's extra outputs, compared with its tls.crt and tls.key. */
  function outputProblems(k: OutputsCase, secret: V1Secret): string[] {
    const problems: string[] = [];
    const crt = decode(secret, "tls.crt").toString("utf8");
    const key = decode(secret, "tls.key").toString("utf8");
    const chain = pemBlocks(crt, "CERTIFICATE");
    const publicKey = publicKeyOfPem(key);
    const check = (ok: boolean, what: string): void => {
      if (!ok) problems.push(what);
    };
    const has = (dataKey: string): boolean => (secret.data?.[dataKey] ?? "") !== "";
    if (k.formats) {
      check(has("tls-combined.pem"), "tls-combined.pem is missing");
      check(has("key.der"), "key.der is missing");
      if (has("tls-combined.pem")) {
        const combined = decode(secret, "tls-combined.pem").toString("utf8");
        const keys = pemBlocks(combined, "PRIVATE KEY");
        check(
          keys.length === 1 && publicKeyOfPem(keys[0] ?? "") === publicKey,
          "tls-combined.pem: not the key of tls.key",
        );
        check(
          pemBlocks(combined, "CERTIFICATE").join() === chain.join(),
          "tls-combined.pem: not the chain of tls.crt",
        );
      }
      if (has("key.der"))
        check(publicKeyOfDer(decode(secret, "key.der")) === publicKey, "key.der: not the key of tls.key");
    } else {
      check(!has("tls-combined.pem") && !has("key.der"), "extra formats written that were not asked for");
    }
    if (k.pkcs12) {
      if (!has("keystore.p12")) problems.push("keystore.p12 is missing");
      else {
        try {
          const p12 = readPkcs12(decode(secret, "keystore.p12"), k.pkcs12.password);
          const want = PKCS12_PROFILES[k.pkcs12.profile];
          for (const [part, re] of Object.entries(want))
            check(
              re.test(p12.info),
              `keystore.p12: ${part} is not ${k.pkcs12.profile}'s (${p12.info.replace(/\n/g, "; ")})`,
            );
          check(p12.certificates[0] === chain[0], "keystore.p12: its certificate is not tls.crt's leaf");
          check(
            p12.privateKey !== undefined && publicKeyOfPem(p12.privateKey) === publicKey,
            "keystore.p12: its key is not tls.key",
          );
        } catch (err) {
          problems.push(`keystore.p12: ${(err as Error).message}`);
        }
      }
    } else {
      check(!has("keystore.p12"), "keystore.p12 written though not asked for");
    }
    if (k.jks) {
      if (!has("keystore.jks")) problems.push("keystore.jks is missing");
      else {
        try {
          const jks = readJks(decode(secret, "keystore.jks"), k.jks.password);
          check(/Keystore type: JKS/i.test(jks.listing), "keystore.jks: not a JKS store");
          check(
            new RegExp(`Alias name: ${k.jks.alias}\\b`).test(jks.listing),
            `keystore.jks: no alias ${k.jks.alias}`,
          );
          check(jks.listing.includes("Entry type: PrivateKeyEntry"), "keystore.jks: no private key entry");
          check(jks.certificates[0] === chain[0], "keystore.jks: its certificate is not tls.crt's leaf");
          check(
            jks.privateKey !== undefined && publicKeyOfPem(jks.privateKey) === publicKey,
            "keystore.jks: its key is not tls.key",
          );
        } catch (err) {
          problems.push(`keystore.jks: ${(err as Error).message}`);
        }
      }
    }
    return problems;
  }

  async function outputFormatsAcrossRenewal(): Promise<OutputsResult[]> {
    await c.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "keystore-password" }, stringData: { password: "from-a-secret-1" } },
    });
    return Promise.all(
      outputCases().map(async (k) => {
        await createObject(c, certificate(k.name, "short", [`${k.name}.example.test`], k.spec));
        const problems: string[][] = [];
        const serials: string[] = [];
        for (const revision of [1, 2]) {
          await readyAt(k.name, revision, revision === 1 ? 120_000 : 240_000);
          const secret = await readSecret(k.name);
          serials.push(certificateInfo(decode(secret, "tls.crt")).serialNumber);
          problems.push(outputProblems(k, secret));
        }
        return { name: k.name, problems, serials };
      }),
    );
  }

  it(
    "writes CombinedPEM, DER, PKCS#12 in each profile and JKS that openssl and keytool read back as tls.crt and tls.key, after issuance and after a renewal",
    async () => {
      const results = await outputs;
      for (const r of results) {
        expect({ name: r.name, problems: r.problems }).toEqual({ name: r.name, problems: [[], []] });
        // The second check was of a renewed certificate.
        expect(new Set(r.serials).size).toBe(2);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "never writes a secret value or a keystore password into its logs",
    async () => {
      await Promise.allSettled([steady, selfRenewal, brokenCredentials, ari, outputs]);
      const text = operator.logText();
      for (const secret of [
        rigVar("TSIG_SECRET"),
        "from-a-secret-1",
        "literal-des",
        "literal-modern",
        "literal-jks",
      ]) {
        expect(text).not.toContain(secret);
      }
      expect(text).not.toContain("PRIVATE KEY");
    },
    TEST_TIMEOUT_MS,
  );
});
