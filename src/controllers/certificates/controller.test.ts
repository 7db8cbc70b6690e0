import { execFileSync } from "node:child_process";
import { randomBytes, webcrypto } from "node:crypto";
import { afterEach, beforeAll, describe, expect, it } from "@jest/globals";
import * as x509 from "@peculiar/x509";
import { TemporaryError } from "../../errors.js";
import { importSigningKey, parseCertificateChain } from "../../pki/index.js";
import { createTestCa, type TestCertificate } from "../../pki/testing.js";
import { memorySecretReader } from "../../solvers/credentials.js";
import { AcmeAccounts } from "../issuers/accounts.js";
import {
  Kinds,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  type CertificateObj,
  type ClusterIssuerObj,
  type IssuerObj,
  type OrderObj,
  type SecretObj,
} from "../kinds.js";
import { ControllerTestRig, collectKeys } from "../testing/index.js";
import type { ControllerDefinition } from "../runtime/index.js";
import type { RenewalInfo } from "./ari.js";
import { certificateChanged, certificateController, nextKeySecretName } from "./controller.js";
import type { CertificateControllerDeps } from "./context.js";
import { pkiOutputRenderer, type OutputOptions, type OutputRenderer } from "./outputs.js";
import { TEMPLATE_KEYS_ANNOTATION } from "./post-issuance.js";
import { Annotations, RENEW_ANNOTATION } from "./trigger.js";

const NS = "ns";
const HOUR = 3_600_000;
const T0 = new Date("2026-06-01T00:00:00Z");

/** Signs a CSR as Pebble's default profile and Let's Encrypt's tlsserver do: SANs only, no subject CN. */
async function signCnLess(
  csrPem: string,
  ca: TestCertificate,
  notBefore: Date,
  notAfter: Date,
): Promise<string> {
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  const san = csr.getExtension("2.5.29.17");
  const names = san
    ? new x509.SubjectAlternativeNameExtension(san.rawData).names.items.map((n) => ({
        type: "dns" as const,
        value: n.value,
      }))
    : [];
  const signing = await importSigningKey(ca.key.keyObject);
  // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- @peculiar/x509 types CryptoKey from the DOM lib
  const publicKey: webcrypto.CryptoKey = await csr.publicKey.export(webcrypto);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: "01" + randomBytes(15).toString("hex"),
      subject: [],
      issuer: new x509.X509Certificate(ca.certPem).subjectName,
      notBefore,
      notAfter,
      signingAlgorithm: signing.signParams,
      publicKey,
      signingKey: signing.privateKey,
      extensions: [new x509.SubjectAlternativeNameExtension(names, true)],
    },
    webcrypto,
  );
  return cert.toString("pem") + "\n";
}

/** A renderer standing in for the PKI layer's: a combined PEM, so data flows can be checked. */
const fakeOutputs: OutputRenderer = {
  managedKeys: [
    "tls-combined.pem",
    "key.der",
    "keystore.jks",
    "truststore.jks",
    "keystore.p12",
    "truststore.p12",
  ],
  keysFor: (_m, o: OutputOptions) =>
    o.additionalOutputFormats.includes("CombinedPEM") ? ["tls-combined.pem"] : [],
  render: (m, o) =>
    Promise.resolve(
      o.additionalOutputFormats.includes("CombinedPEM")
        ? { "tls-combined.pem": Buffer.from(m.keyPem + m.chainPem).toString("base64") }
        : {},
    ),
  current: (data, m, o) =>
    Promise.resolve(
      !o.additionalOutputFormats.includes("CombinedPEM") ||
        data["tls-combined.pem"] === Buffer.from(m.keyPem + m.chainPem).toString("base64"),
    ),
};

interface Setup {
  rig: ControllerTestRig;
  def: ControllerDefinition;
  ari: { calls: string[]; answer: RenewalInfo | Error | undefined };
  clock: { now: Date };
  /** When set, the Secret cache answers with this old version of web-tls (a cache behind a write). */
  stale: { secret?: SecretObj | undefined };
  /** Finished issuances as reported to the metrics. */
  issuances: { outcome: string; renewal: boolean }[];
}

async function setup(
  opts: { issuer?: Partial<IssuerObj["spec"]["acme"]>; withIssuer?: boolean; outputs?: OutputRenderer } = {},
): Promise<Setup> {
  const clock = { now: T0 };
  const rig = new ControllerTestRig({ now: () => clock.now });
  if (opts.withIssuer !== false) {
    rig.cluster.seed<ClusterIssuerObj>(Kinds.clusterIssuers, {
      apiVersion: "dns01.io/v1alpha1",
      kind: "ClusterIssuer",
      metadata: { name: "ca" },
      spec: {
        acme: {
          server: "https://ca.test/dir",
          privateKeySecretRef: { name: "acct" },
          solvers: [],
          ...opts.issuer,
        },
      },
      status: {
        conditions: [
          {
            type: "Ready",
            status: "True",
            reason: "ACMEAccountRegistered",
            message: "ok",
            lastTransitionTime: T0.toISOString(),
          },
        ],
        acme: { uri: "https://ca.test/acct/1" },
      },
    });
  }
  const certificates = rig.informer<CertificateObj>(Kinds.certificates);
  const orders = rig.informer<OrderObj>(Kinds.orders);
  const secretCache = rig.informer<SecretObj>(Kinds.secrets, {
    labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}`,
  });
  const stale: Setup["stale"] = {};
  const secrets = new Proxy(secretCache, {
    get(target, prop, receiver) {
      if (prop === "get") {
        return (key: string) => (key === `${NS}/web-tls` && stale.secret ? stale.secret : target.get(key));
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const issuers = rig.informer<IssuerObj>(Kinds.issuers);
  const clusterIssuers = rig.informer<ClusterIssuerObj>(Kinds.clusterIssuers);
  const secretReader = memorySecretReader(new Map([[`${NS}/pw`, { password: "s3cret" }]]));
  const accounts = new AcmeAccounts({
    issuers,
    clusterIssuers,
    secrets: secretReader,
    clusterResourceNamespace: "ops",
    log: rig.log,
  });
  const ari: Setup["ari"] = { calls: [], answer: undefined };
  const issuances: Setup["issuances"] = [];
  const deps: CertificateControllerDeps = {
    client: rig.client,
    accounts,
    events: rig.events,
    certificates,
    orders,
    secrets,
    issuers,
    clusterIssuers,
    issuanceBackoffBaseMs: HOUR,
    secretReader,
    outputs: opts.outputs ?? fakeOutputs,
    renewalInfo: {
      fetch: (_issuer, pem) => {
        ari.calls.push(pem);
        return ari.answer instanceof Error ? Promise.reject(ari.answer) : Promise.resolve(ari.answer);
      },
      certId: (pem) => `certid-${parseCertificateChain(pem).leaf.length}`,
    },
    now: () => clock.now,
    random: () => 0.5,
    recordIssuance: (e) => issuances.push({ outcome: e.outcome, renewal: e.renewal }),
  };
  const def = certificateController(deps);
  await rig.sync();
  return { rig, def, ari, clock, stale, issuances };
}

let s: Setup;
let ca: TestCertificate;
beforeAll(async () => {
  ca = await createTestCa();
});
afterEach(async () => {
  await s.rig.stop();
});

function seedCert(spec: Partial<CertificateObj["spec"]> = {}, annotations?: Record<string, string>): void {
  s.rig.cluster.seed<CertificateObj>(Kinds.certificates, {
    apiVersion: "dns01.io/v1alpha1",
    kind: "Certificate",
    metadata: { name: "web", namespace: NS, ...(annotations ? { annotations } : {}) },
    spec: {
      secretName: "web-tls",
      issuerRef: { name: "ca", kind: "ClusterIssuer" },
      commonName: "example.test",
      dnsNames: ["example.test", "*.example.test"],
      privateKey: { algorithm: "ECDSA" },
      ...spec,
    },
  });
}

const cert = () => s.rig.cluster.get<CertificateObj>(Kinds.certificates, NS, "web");
const secret = () => s.rig.cluster.get<SecretObj>(Kinds.secrets, NS, "web-tls");
const orders = () => s.rig.cluster.list<OrderObj>(Kinds.orders, NS);
const cond = (type: string) => cert()?.status?.conditions?.find((c) => c.type === type);
const reconcile = () => s.rig.reconcile(s.def, `${NS}/web`);

/** The one Order not yet finished. */
function openOrder(): OrderObj {
  const open = orders().filter((o) => o.status?.state === undefined || o.status.state === "pending");
  expect(open).toHaveLength(1);
  return open[0]!;
}

/** Completes the open Order as the CA would, with a certificate valid for `lifetimeMs` from now. */
async function completeOrder(lifetimeMs = 3 * HOUR, startsInMs = 0): Promise<OrderObj> {
  const o = openOrder();
  const csr = Buffer.from(o.spec.request, "base64").toString("utf8");
  const start = new Date(s.clock.now.getTime() + startsInMs);
  const leaf = await signCnLess(csr, ca, start, new Date(start.getTime() + lifetimeMs));
  return s.rig.cluster.modify<OrderObj>(Kinds.orders, NS, o.metadata.name ?? "", (x) => {
    x.status = { state: "valid", certificate: Buffer.from(leaf).toString("base64") };
  });
}

function failOrder(reason = "acme: urn:ietf:params:acme:error:unauthorized: no TXT record found"): void {
  const o = openOrder();
  s.rig.cluster.modify<OrderObj>(Kinds.orders, NS, o.metadata.name ?? "", (x) => {
    x.status = { state: "invalid", reason, failureTime: s.clock.now.toISOString() };
  });
}

/** Runs a fresh issuance to the end: order, CA, Secret. */
async function issueOnce(lifetimeMs = 3 * HOUR): Promise<void> {
  expect((await reconcile()).ok).toBe(true);
  await completeOrder(lifetimeMs);
  expect((await reconcile()).ok).toBe(true);
}

const at = (ms: number) => {
  s.clock.now = new Date(T0.getTime() + ms);
};

describe("the Certificate controller", () => {
  it("issues once into a Secret with the request hash, deletes the next key, and never reissues a CN-less certificate", async () => {
    s = await setup();
    seedCert();
    const first = await reconcile();
    expect(first.ok).toBe(true);
    expect(cond("Issuing")).toMatchObject({ status: "True", reason: "DoesNotExist" });
    expect(cond("Ready")).toMatchObject({ status: "False", reason: "DoesNotExist" });
    expect(s.rig.cluster.get(Kinds.secrets, NS, nextKeySecretName(cert()!))).toBeDefined();
    expect(openOrder().spec.dnsNames).toEqual(["example.test", "*.example.test"]);

    await completeOrder();
    expect((await reconcile()).ok).toBe(true);
    const sec = secret()!;
    expect(sec.type).toBe("kubernetes.io/tls");
    expect(sec.metadata?.annotations?.[Annotations.requestHash]).toMatch(/^[0-9a-f]{32}$/);
    expect(sec.metadata?.annotations?.[Annotations.commonName]).toBe(""); // the CA dropped it
    expect(s.rig.cluster.get(Kinds.secrets, NS, "web-next-key")).toBeUndefined();
    expect(cond("Ready")).toMatchObject({ status: "True", reason: "Ready" });
    expect(cond("Issuing")).toBeUndefined();
    expect(cert()?.status?.revision).toBe(1);
    expect(s.rig.cluster.list<SecretObj>(Kinds.secrets, NS)).toHaveLength(1);

    // Finding 1: many more reconciles, no second Order.
    for (let i = 0; i < 5; i++) {
      at(i * 60_000);
      const out = await reconcile();
      expect(out.ok).toBe(true);
      if (out.ok) expect(out.requeueAfter).toBeLessThanOrEqual(2 * HOUR);
    }
    expect(orders()).toHaveLength(1);
    expect(cert()?.status?.revision).toBe(1);
    expect(s.rig.events.withReason("Issued")).toHaveLength(1);
  });

  it("records the new generation in status.observedGeneration even when nothing else in its status changes", async () => {
    s = await setup();
    seedCert();
    await issueOnce();
    expect(cert()?.status).toMatchObject({ observedGeneration: 1 });
    // A spec change that neither reissues nor moves any status field (the history limit).
    s.rig.cluster.modify<CertificateObj>(Kinds.certificates, NS, "web", (c) => {
      c.spec.revisionHistoryLimit = 3;
    });
    expect(cert()?.metadata.generation).toBe(2);
    expect((await reconcile()).ok).toBe(true);
    expect(cert()?.status).toMatchObject({ observedGeneration: 2 });
    expect(cond("Ready")).toMatchObject({ status: "True", observedGeneration: 2 });
    expect(orders()).toHaveLength(1);
  });

  it("turns Ready False at notAfter while the renewal keeps failing, and requeues for notAfter during the backoff (finding 2)", async () => {
    s = await setup();
    seedCert();
    await issueOnce(3 * HOUR);
    at(2 * HOUR + 1000); // past renewalTime (two thirds)
    const renew = await reconcile();
    expect(renew.ok).toBe(true);
    expect(cond("Issuing")).toMatchObject({ status: "True", reason: "Renewing" });
    expect(cond("Ready")?.status).toBe("True"); // the current certificate is still good
    failOrder();
    const failed = await reconcile();
    expect(failed.ok).toBe(true);
    // The metrics hear one first issuance and one failed renewal.
    expect(s.issuances).toEqual([
      { outcome: "success", renewal: false },
      { outcome: "failure", renewal: true },
    ]);
    // Backoff is an hour; notAfter comes sooner, and the reconcile is queued for it.
    if (failed.ok) expect(failed.requeueAfter).toBeLessThanOrEqual(HOUR - 1000);
    expect(cond("Issuing")).toMatchObject({ status: "False", reason: "Failed" });
    expect(cert()?.status?.failedIssuanceAttempts).toBe(1);
    expect(s.rig.cluster.get(Kinds.secrets, NS, "web-next-key")).toBeUndefined(); // a failed key is not kept
    expect(cond("Ready")?.status).toBe("True");

    // The next attempt starts; Ready keeps saying what failed.
    at(2 * HOUR + 30 * 60_000); // inside the backoff
    s.rig.cluster.modify<CertificateObj>(Kinds.certificates, NS, "web", (c) => {
      c.spec.secretTemplate = { labels: { touched: "1" } }; // a spec change skips the backoff
    });
    await reconcile();
    expect(cond("Issuing")?.status).toBe("True");
    at(3 * HOUR + 5000); // past notAfter, the attempt still pending
    expect((await reconcile()).ok).toBe(true);
    expect(cond("Ready")).toMatchObject({ status: "False", reason: "Expired" });
    expect(cond("Ready")?.message).toContain("no TXT record found"); // what to fix stays visible
  });

  it("records a failed first issuance and Ready=Failed with the CA's message in one status write", async () => {
    s = await setup();
    seedCert();
    expect((await reconcile()).ok).toBe(true);
    failOrder("acme: urn:ietf:params:acme:error:rejectedIdentifier: no such name");
    expect((await reconcile()).ok).toBe(true);
    const failureWrites = s.rig.cluster
      .writes({ resource: "certificates", subresource: "status" })
      .map(
        (c) =>
          (
            c.body as {
              status?: {
                failedIssuanceAttempts?: number;
                conditions?: { type: string; reason: string; message: string }[];
              };
            }
          ).status,
      )
      .filter((st) => st?.failedIssuanceAttempts === 1);
    expect(failureWrites).toHaveLength(1);
    const ready = failureWrites[0]?.conditions?.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ reason: "Failed" });
    expect(ready?.message).toContain("no such name");
  });

  it("turns Ready False when the Secret is deleted after a failure", async () => {
    s = await setup();
    seedCert();
    await issueOnce();
    at(2 * HOUR + 1000);
    await reconcile();
    failOrder();
    await reconcile();
    expect(cond("Ready")?.status).toBe("True");
    s.rig.cluster.remove(Kinds.secrets, NS, "web-tls");
    await reconcile();
    expect(cond("Ready")).toMatchObject({ status: "False", reason: "Failed" });
    expect(cond("Ready")?.message).toContain("no TXT record found");
  });

  it("is not Ready while the issued certificate is not yet valid, and looks again at its notBefore", async () => {
    s = await setup();
    seedCert();
    await reconcile();
    await completeOrder(3 * HOUR, 10 * 60_000);
    await reconcile();
    expect(cond("Ready")).toMatchObject({ status: "False", reason: "NotYetValid" });
    const out = await reconcile();
    expect(cond("Ready")?.reason).toBe("NotYetValid");
    expect(out.ok && out.requeueAfter).toBe(10 * 60_000);
    at(10 * 60_000);
    await reconcile();
    expect(cond("Ready")).toMatchObject({ status: "True", reason: "Ready" });
    expect(orders()).toHaveLength(1);
  });

  it("deletes the next key of a Certificate deleted while its issuance was in flight", async () => {
    s = await setup();
    seedCert();
    await reconcile();
    expect(s.rig.cluster.get(Kinds.secrets, NS, "web-next-key")).toBeDefined();
    s.rig.cluster.remove(Kinds.certificates, NS, "web");
    await new Promise((r) => setTimeout(r, 10));
    expect((await reconcile()).ok).toBe(true);
    expect(s.rig.cluster.get(Kinds.secrets, NS, "web-next-key")).toBeUndefined();
  });

  it("skips the backoff when the spec changed since the failed attempt", async () => {
    s = await setup();
    seedCert();
    await reconcile();
    failOrder();
    await reconcile();
    const waiting = await reconcile();
    expect(waiting.ok && waiting.requeueAfter !== undefined && waiting.requeueAfter > 30 * 60_000).toBe(true);
    expect(orders().filter((o) => o.status?.state === undefined)).toHaveLength(0);
    s.rig.cluster.modify<CertificateObj>(Kinds.certificates, NS, "web", (c) => {
      c.spec.dnsNames = ["example.test"];
    });
    await reconcile();
    expect(cond("Issuing")?.status).toBe("True");
    expect(openOrder().spec.dnsNames).toEqual(["example.test"]);
  });

  it.each<[string, Partial<CertificateObj["spec"]>]>([
    ["subject", { subject: { organizations: ["Example"] } }],
    ["usages", { usages: ["digital signature", "server auth"] }],
    ["duration", { duration: "2h" }],
    ["privateKey.encoding", { privateKey: { algorithm: "ECDSA", encoding: "PKCS8" } }],
    ["signatureAlgorithm", { signatureAlgorithm: "ECDSAWithSHA384" }],
    ["encodeUsagesInRequest", { encodeUsagesInRequest: false }],
  ])("reissues exactly once when %s changes", async (_field, change) => {
    s = await setup();
    seedCert();
    await issueOnce();
    s.rig.cluster.modify<CertificateObj>(Kinds.certificates, NS, "web", (c) => {
      Object.assign(c.spec, change);
    });
    await reconcile();
    expect(cond("Issuing")).toMatchObject({ status: "True", reason: "RequestChanged" });
    await completeOrder();
    await reconcile();
    expect(cert()?.status?.revision).toBe(2);
    await reconcile();
    await reconcile();
    expect(cert()?.status?.revision).toBe(2);
    expect(cond("Issuing")).toBeUndefined();
  });

  it("writes a literalSubject into the CSR", async () => {
    s = await setup();
    seedCert({ literalSubject: "CN=example.test,O=Example" });
    s.rig.cluster.modify<CertificateObj>(Kinds.certificates, NS, "web", (c) => {
      delete c.spec.commonName; // exclusive with literalSubject
    });
    await reconcile();
    const csr = new x509.Pkcs10CertificateRequest(
      Buffer.from(openOrder().spec.request, "base64").toString("utf8"),
    );
    expect(csr.subject).toBe("CN=example.test, O=Example");
  });

  it("reissues exactly once for a new dns01.io/renew value and records it", async () => {
    s = await setup();
    seedCert();
    await issueOnce();
    s.rig.cluster.modify<CertificateObj>(Kinds.certificates, NS, "web", (c) => {
      c.metadata.annotations = { [RENEW_ANNOTATION]: "2026-06-01T00:10:00Z" };
    });
    const before = structuredClone(cert()!);
    before.metadata.annotations = {};
    const ev = { type: "update" as const, obj: cert()!, old: before };
    expect(certificateChanged(ev)).toBe(true);
    await reconcile();
    expect(cond("Issuing")).toMatchObject({ status: "True", reason: "ManuallyTriggered" });
    expect(cond("Ready")?.status).toBe("True");
    await completeOrder();
    await reconcile();
    expect(cert()?.status?.lastManualRenewal).toBe("2026-06-01T00:10:00Z");
    await reconcile();
    expect(cert()?.status?.revision).toBe(2);
    expect(orders().filter((o) => o.status?.state !== "valid")).toHaveLength(0);
  });

  it("adds and removes secretTemplate labels and annotations without reissuing", async () => {
    s = await setup();
    seedCert({ secretTemplate: { labels: { team: "a", tier: "web" }, annotations: { note: "x" } } });
    await issueOnce();
    expect(secret()?.metadata?.labels).toMatchObject({ team: "a", tier: "web" });
    s.rig.cluster.modify<CertificateObj>(Kinds.certificates, NS, "web", (c) => {
      c.spec.secretTemplate = { labels: { team: "b" } };
    });
    await reconcile();
    const md = secret()?.metadata;
    expect(md?.labels?.["team"]).toBe("b");
    expect(md?.labels?.["tier"]).toBeUndefined();
    expect(md?.annotations?.["note"]).toBeUndefined();
    expect(md?.labels?.[MANAGED_BY_LABEL]).toBe(MANAGED_BY);
    expect(JSON.parse(md?.annotations?.[TEMPLATE_KEYS_ANNOTATION] ?? "{}")).toEqual({
      labels: ["team"],
      annotations: [],
    });
    expect(cert()?.status?.revision).toBe(1);
  });

  it("writes outputs on issuance, and removes a taken-over Secret's stale cert-manager keys without reissuing", async () => {
    s = await setup();
    seedCert({ additionalOutputFormats: [{ type: "CombinedPEM" }] });
    await issueOnce();
    expect(secret()?.data?.["tls-combined.pem"]).toBeDefined();
    s.rig.cluster.modify<SecretObj>(Kinds.secrets, NS, "web-tls", (x) => {
      x.data = { ...x.data, "keystore.jks": Buffer.from("stale").toString("base64") };
    });
    s.rig.cluster.modify<CertificateObj>(Kinds.certificates, NS, "web", (c) => {
      delete c.spec.additionalOutputFormats;
    });
    await reconcile();
    expect(secret()?.data?.["keystore.jks"]).toBeUndefined();
    expect(secret()?.data?.["tls-combined.pem"]).toBeUndefined();
    expect(secret()?.data?.["tls.crt"]).toBeDefined();
    expect(cert()?.status?.revision).toBe(1);
  });

  it("writes a PKCS#12 keystore with the password from passwordSecretRef that openssl opens, and DER", async () => {
    s = await setup({ outputs: pkiOutputRenderer });
    seedCert({
      additionalOutputFormats: [{ type: "DER" }],
      keystores: {
        pkcs12: { create: true, passwordSecretRef: { name: "pw", key: "password" }, profile: "Modern2023" },
      },
    });
    await issueOnce();
    const data = secret()?.data ?? {};
    expect(Object.keys(data).sort()).toEqual(["key.der", "keystore.p12", "tls.crt", "tls.key"]);
    const out = execFileSync("openssl", ["pkcs12", "-info", "-nokeys", "-passin", "pass:s3cret"], {
      input: Buffer.from(data["keystore.p12"] ?? "", "base64"),
      stdio: "pipe",
    }).toString();
    expect(out).toContain("BEGIN CERTIFICATE");
    // Up to date: a second reconcile rewrites nothing.
    const writes = s.rig.cluster.writes({ resource: "secrets" }).length;
    await reconcile();
    expect(s.rig.cluster.writes({ resource: "secrets" })).toHaveLength(writes);
  });

  it("shows a missing keystore password Secret as Ready=False and names it", async () => {
    s = await setup({ outputs: pkiOutputRenderer });
    seedCert({ keystores: { jks: { create: true, passwordSecretRef: { name: "nope", key: "password" } } } });
    await reconcile();
    await completeOrder();
    const out = await reconcile();
    expect(out.ok).toBe(false);
    expect(cond("Ready")?.status).toBe("False");
    expect(cond("Ready")?.message).toContain("nope");
    expect(secret()).toBeUndefined();
  });

  it.each<[string, Partial<CertificateObj["spec"]>, RegExp]>([
    ["ipAddresses", { ipAddresses: ["10.0.0.1"] }, /ipAddresses/],
    ["uris", { uris: ["spiffe://x/y"] }, /uris/],
    ["emailAddresses", { emailAddresses: ["a@example.test"] }, /emailAddresses/],
    ["otherNames", { otherNames: [{ oid: "1.2.3", utf8Value: "x" }] }, /otherNames/],
    [
      "nameConstraints",
      { nameConstraints: { permitted: { dnsDomains: ["example.test"] } } },
      /nameConstraints/,
    ],
  ])("refuses %s with Ready=False UnsupportedField naming it", async (_f, spec, re) => {
    s = await setup();
    seedCert(spec);
    await reconcile();
    expect(cond("Ready")).toMatchObject({ status: "False", reason: "UnsupportedField" });
    expect(cond("Ready")?.message).toMatch(re);
    expect(orders()).toHaveLength(0);
  });

  it("backs off with a growing retry while the issuer does not exist, and is re-driven by the Issuer watch", async () => {
    s = await setup({ withIssuer: false });
    seedCert();
    const out = await reconcile();
    expect(out.ok).toBe(false);
    if (!out.ok) {
      expect(out.error).toBeInstanceOf(TemporaryError);
      expect((out.error as TemporaryError).retryAfterMs).toBeUndefined(); // the queue's growing backoff
    }
    expect(cond("Issuing")).toMatchObject({ status: "False", reason: "IssuerNotFound" });
    expect(cond("Issuing")?.message).toContain("create it or fix issuerRef");
    const keys = collectKeys(s.def);
    s.rig.cluster.seed<ClusterIssuerObj>(Kinds.clusterIssuers, {
      apiVersion: "dns01.io/v1alpha1",
      kind: "ClusterIssuer",
      metadata: { name: "ca" },
      spec: { acme: { server: "https://ca.test/dir", privateKeySecretRef: { name: "acct" } } },
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(keys.take()).toContain(`${NS}/web`);
    keys.stop();
  });

  it("does not order again when its Secret cache still holds the certificate it just replaced", async () => {
    s = await setup();
    seedCert();
    await issueOnce(3 * HOUR);
    const v1 = secret();
    at(2 * HOUR + 1000);
    await reconcile();
    await completeOrder(3 * HOUR);
    await reconcile();
    expect(cert()?.status?.revision).toBe(2);
    s.stale.secret = v1; // the cache has not yet seen revision 2's write
    const again = await reconcile();
    expect(again.ok).toBe(false); // told to look again rather than order
    expect(orders().filter((o) => o.status?.state !== "valid")).toHaveLength(0);
    expect(s.rig.cluster.get(Kinds.secrets, NS, "web-next-key")).toBeUndefined();
    s.stale.secret = undefined;
    expect((await reconcile()).ok).toBe(true);
    expect(orders().filter((o) => o.status?.state !== "valid")).toHaveLength(0);
  });
});

describe("ARI", () => {
  it("renews inside the CA's window at a time chosen once, polls per Retry-After, and orders with replaces", async () => {
    s = await setup();
    seedCert();
    s.ari.answer = {
      suggestedWindow: {
        start: new Date(T0.getTime() + 30 * 60_000),
        end: new Date(T0.getTime() + 50 * 60_000),
      },
      explanationURL: "https://ca.test/why",
      retryAfterMs: 10 * 60_000,
    };
    await issueOnce(3 * HOUR);
    await reconcile(); // up to date: asks the CA
    const ari = cert()?.status?.ari;
    expect(ari?.selectedRenewalTime).toBe("2026-06-01T00:40:00Z"); // random 0.5 inside the window
    expect(ari?.nextCheck).toBe("2026-06-01T00:10:00Z");
    expect(ari?.explanationURL).toBe("https://ca.test/why");
    expect(s.ari.calls).toHaveLength(1);
    await reconcile(); // Retry-After not yet over: no request
    expect(s.ari.calls).toHaveLength(1);
    at(40 * 60_000 + 1000);
    await reconcile();
    expect(cond("Issuing")).toMatchObject({ status: "True", reason: "Renewing" });
    expect(cond("Issuing")?.message).toContain("ARI");
    expect((openOrder().spec as { replaces?: string }).replaces).toMatch(/^certid-/);
  });

  it("renews at once when the CA moves the window to now, keeping its answer, and a spec change orders without replaces", async () => {
    s = await setup();
    seedCert();
    s.ari.answer = {
      suggestedWindow: { start: new Date(T0.getTime() + HOUR), end: new Date(T0.getTime() + 2 * HOUR) },
    };
    await issueOnce(3 * HOUR);
    await reconcile();
    s.ari.answer = {
      suggestedWindow: { start: new Date(T0.getTime() - HOUR), end: new Date(T0.getTime() + 30_000) },
    };
    at(60_000);
    // The CA's Retry-After has passed (moved back here rather than waiting for it).
    s.rig.cluster.modify<CertificateObj>(Kinds.certificates, NS, "web", (c) => {
      if (c.status?.ari) c.status.ari.nextCheck = "2026-06-01T00:00:30Z";
    });
    const out = await reconcile();
    expect(out.ok && out.requeueAfter).toBe(1000);
    expect(cert()?.status?.ari?.selectedRenewalTime).toBe("2026-06-01T00:01:00Z");
    await reconcile();
    expect(cond("Issuing")).toMatchObject({ status: "True", reason: "Renewing" });
    expect((openOrder().spec as { replaces?: string }).replaces).toBeDefined();

    s.rig.cluster.modify<CertificateObj>(Kinds.certificates, NS, "web", (c) => {
      c.spec.dnsNames = ["example.test"];
    });
    await reconcile();
    expect((openOrder().spec as { replaces?: string }).replaces).toBeUndefined();
  });

  it("falls back to renewalTime when ARI is unreachable, and shows why", async () => {
    s = await setup();
    seedCert();
    s.ari.answer = new Error("connect ECONNREFUSED");
    await issueOnce(3 * HOUR);
    await reconcile();
    expect(cert()?.status?.ari?.lastError).toContain("ECONNREFUSED");
    expect(cert()?.status?.renewalTime).toBe("2026-06-01T02:00:00Z");
    at(HOUR);
    await reconcile();
    expect(cond("Issuing")).toBeUndefined();
  });

  it("never asks when the Issuer sets renewalInformationSource None", async () => {
    s = await setup({ issuer: { renewalInformationSource: "None" } });
    seedCert();
    s.ari.answer = { suggestedWindow: { start: T0, end: T0 } };
    await issueOnce();
    await reconcile();
    expect(s.ari.calls).toHaveLength(0);
    expect(cond("Issuing")).toBeUndefined();
  });
});
