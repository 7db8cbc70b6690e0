import { describe, expect, it } from "@jest/globals";
import type { CertificateObj } from "../kinds.js";
import { issuanceRequest, requestHash, requestedNames } from "./request.js";
import { certificateFacts } from "./secret.js";
import {
  Annotations,
  RENEW_ANNOTATION,
  backoffUntil,
  issuanceBackoffMs,
  needsIssuance,
  type CertificateFacts,
  type PolicyInput,
  type SecretFacts,
} from "./trigger.js";

const now = new Date("2026-06-01T00:00:00Z");
const HASH = "h1";
const cert: CertificateFacts = {
  names: ["example.test", "*.example.test"],
  issuerName: "pebble",
  issuerKind: "ClusterIssuer",
  issuerGroup: "dns01.io",
  keyAlgorithm: "RSA",
  keySize: 2048,
  requestHash: HASH,
};
const goodSecret: SecretFacts = {
  exists: true,
  annotations: {
    [Annotations.issuerName]: "pebble",
    [Annotations.issuerKind]: "ClusterIssuer",
    [Annotations.issuerGroup]: "dns01.io",
    [Annotations.requestHash]: HASH,
  },
  hasCertificate: true,
  hasPrivateKey: true,
  certificate: {
    dnsNames: ["*.example.test", "example.test"],
    notBefore: new Date("2026-05-01T00:00:00Z"),
    notAfter: new Date("2026-08-01T00:00:00Z"),
  },
  privateKey: { algorithm: "RSA", size: 2048 },
  keyMatchesCertificate: true,
};
const input = (
  over: Omit<Partial<PolicyInput>, "secret" | "cert"> & {
    secret?: Partial<SecretFacts>;
    cert?: Partial<CertificateFacts>;
  } = {},
): PolicyInput => ({
  cert: { ...cert, ...over.cert },
  secret: { ...goodSecret, ...over.secret },
  renewalTime: over.renewalTime ?? new Date("2026-07-01T00:00:00Z"),
  renewalFromAri: over.renewalFromAri,
  now: over.now ?? now,
});

/** A Certificate object, for the tests that go through request.ts and certificateFacts. */
const certObj = (
  spec: Partial<CertificateObj["spec"]>,
  annotations?: Record<string, string>,
): CertificateObj => ({
  apiVersion: "dns01.io/v1alpha1",
  kind: "Certificate",
  metadata: { name: "c", namespace: "ns", ...(annotations ? { annotations } : {}) },
  spec: { secretName: "c-tls", issuerRef: { name: "pebble", kind: "ClusterIssuer" }, ...spec },
});

describe("needsIssuance", () => {
  it("returns null when the Secret holds a matching certificate that is not yet due", () => {
    expect(needsIssuance(input())).toBeNull();
  });
  it.each<[string, PolicyInput, string]>([
    [
      "asks for issuance when the Secret does not exist",
      input({ secret: { exists: false } }),
      "DoesNotExist",
    ],
    [
      "asks for issuance when the Secret has no certificate",
      input({ secret: { hasCertificate: false } }),
      "MissingData",
    ],
    [
      "asks for issuance when the Secret has no private key",
      input({ secret: { hasPrivateKey: false } }),
      "MissingData",
    ],
    [
      "asks for issuance when the Secret does not parse",
      input({ secret: { parseError: "bad PEM" } }),
      "InvalidData",
    ],
    [
      "asks for issuance when the key does not match the certificate",
      input({ secret: { keyMatchesCertificate: false } }),
      "InvalidKeyPair",
    ],
    [
      "asks for issuance when the issuer changed",
      input({ cert: { issuerName: "other" } }),
      "IncorrectIssuer",
    ],
    [
      "asks for issuance when a name was added to the spec",
      input({ cert: { names: [...cert.names, "www.second.test"] } }),
      "SecretMismatch",
    ],
    [
      "asks for issuance when the key algorithm changed",
      input({ cert: { keyAlgorithm: "ECDSA", keySize: 256 } }),
      "SecretMismatch",
    ],
    [
      "asks for issuance when the request hash on the Secret differs from the spec's",
      input({ cert: { requestHash: "h2" } }),
      "RequestChanged",
    ],
    [
      "asks for renewal when the renewal time has passed",
      input({ now: new Date("2026-07-02T00:00:00Z") }),
      "Renewing",
    ],
    [
      "asks for issuance when the certificate expired",
      input({ now: new Date("2026-09-01T00:00:00Z") }),
      "Expired",
    ],
    [
      "asks for one renewal when the renew annotation has a value not yet honoured",
      input({ cert: { renewRequest: "2", lastManualRenewal: "1" } }),
      "ManuallyTriggered",
    ],
  ])("%s", (_name, i, reason) => {
    expect(needsIssuance(i)?.reason).toBe(reason);
  });

  it("does not reissue a certificate whose CA left out the common name (finding 1)", () => {
    // The CN is among the SANs, as ACME needs; Pebble's default profile and LE's tlsserver drop it from the subject.
    const spec = certObj({ commonName: "example.test", dnsNames: ["*.example.test"] });
    const hash = requestHash(issuanceRequest(spec, undefined));
    const facts = certificateFacts(spec, hash);
    const cnLess = input({
      cert: facts,
      secret: {
        annotations: { ...goodSecret.annotations, [Annotations.requestHash]: hash },
        certificate: { ...goodSecret.certificate!, commonName: undefined },
      },
    });
    expect(needsIssuance(cnLess)).toBeNull();
  });

  it("does not reissue a certificate the CA gave a shorter lifetime or no subject fields", () => {
    const spec = certObj({
      dnsNames: ["example.test", "*.example.test"],
      duration: "8760h",
      subject: { organizations: ["Ex"] },
    });
    const hash = requestHash(issuanceRequest(spec, undefined));
    const i = input({
      cert: certificateFacts(spec, hash),
      secret: { annotations: { ...goodSecret.annotations, [Annotations.requestHash]: hash } },
    });
    expect(needsIssuance(i)).toBeNull();
  });

  it("leaves a Secret without a request hash (from before it existed, or cert-manager) to the other policies", () => {
    const { [Annotations.requestHash]: _dropped, ...legacy } = goodSecret.annotations;
    expect(needsIssuance(input({ secret: { annotations: legacy } }))).toBeNull();
  });

  it("compares names case-insensitively and in any order", () => {
    const i = input({
      secret: { certificate: { ...goodSecret.certificate!, dnsNames: ["EXAMPLE.test", "*.example.TEST"] } },
    });
    expect(needsIssuance(i)).toBeNull();
  });

  it("honours a renew annotation once: after the issuance records it, nothing is due", () => {
    expect(needsIssuance(input({ cert: { renewRequest: "now" } }))?.reason).toBe("ManuallyTriggered");
    expect(needsIssuance(input({ cert: { renewRequest: "now", lastManualRenewal: "now" } }))).toBeNull();
  });

  it("says so when the renewal time comes from the CA's ARI window", () => {
    const t = needsIssuance(input({ renewalTime: new Date("2026-05-20T00:00:00Z"), renewalFromAri: true }));
    expect(t?.reason).toBe("Renewing");
    expect(t?.message).toContain("ARI");
  });
});

describe("the request hash", () => {
  const base = certObj({ commonName: "a.example.test", dnsNames: ["b.example.test"] });
  const h = (c: CertificateObj, profile?: string) => requestHash(issuanceRequest(c, profile));
  it.each<[string, Partial<CertificateObj["spec"]>]>([
    ["names", { dnsNames: ["b.example.test", "c.example.test"] }],
    ["commonName", { commonName: "b.example.test" }],
    ["subject", { subject: { organizations: ["Example"] } }],
    ["literalSubject", { literalSubject: "CN=a.example.test,O=Example" }],
    ["usages", { usages: ["digital signature", "server auth"] }],
    ["encodeUsagesInRequest", { encodeUsagesInRequest: false }],
    ["duration", { duration: "2160h" }],
    ["private key algorithm", { privateKey: { algorithm: "ECDSA" } }],
    ["private key size", { privateKey: { size: 4096 } }],
    ["private key encoding", { privateKey: { encoding: "PKCS8" } }],
    ["signatureAlgorithm", { signatureAlgorithm: "SHA384WithRSA" }],
    ["issuer", { issuerRef: { name: "other", kind: "ClusterIssuer" } }],
  ])("changes when %s changes", (_field, change) => {
    expect(h(certObj({ ...base.spec, ...change }))).not.toBe(h(base));
  });
  it("changes when the issuer's profile changes", () => {
    expect(h(base, "shortlived")).not.toBe(h(base));
  });
  it("does not change for fields that need no new certificate or for reordered sets", () => {
    const same = certObj({
      ...base.spec,
      dnsNames: ["B.example.test"],
      secretTemplate: { labels: { a: "b" } },
      renewBefore: "240h",
      revisionHistoryLimit: 3,
      privateKey: { rotationPolicy: "Never" },
      additionalOutputFormats: [{ type: "DER" }],
      issuerRef: { name: "pebble", kind: "ClusterIssuer", group: "cert-manager.io" },
    });
    expect(h(same)).toBe(h(base));
    const u1 = certObj({ ...base.spec, usages: ["server auth", "digital signature"] });
    const u2 = certObj({ ...base.spec, usages: ["digital signature", "server auth"] });
    expect(h(u1)).toBe(h(u2));
  });
  it("puts the literalSubject's CN among the names", () => {
    expect(
      requestedNames(certObj({ literalSubject: "CN=x.example.test,O=Ex", dnsNames: ["y.example.test"] })),
    ).toEqual(["x.example.test", "y.example.test"]);
  });
  it("reads the renew annotation and the last value honoured", () => {
    const c = certObj({ dnsNames: ["a.example.test"] }, { [RENEW_ANNOTATION]: "x" });
    expect(certificateFacts(c, "h").renewRequest).toBe("x");
  });
});

describe("issuanceBackoffMs", () => {
  it("doubles from the base after each failure and stops at the cap", () => {
    const h = 3_600_000;
    expect([0, 1, 2, 3, 6, 7, 50].map((n) => issuanceBackoffMs(n, h) / h)).toEqual([0, 1, 2, 4, 32, 32, 32]);
  });
});

describe("backoffUntil", () => {
  const failure = { failedAttempts: 2, lastFailureTime: "2026-06-01T00:00:00Z", baseMs: 1000 };
  it("waits out the backoff after a failure while the spec is unchanged", () => {
    expect(backoffUntil({ ...failure, lastFailureGeneration: 3, generation: 3 })?.toISOString()).toBe(
      "2026-06-01T00:00:02.000Z",
    );
  });
  it("skips the backoff when the spec changed since the failure", () => {
    expect(backoffUntil({ ...failure, lastFailureGeneration: 3, generation: 4 })).toBeUndefined();
  });
  it("has nothing to wait for without a failure", () => {
    expect(backoffUntil({ failedAttempts: 0, baseMs: 1000 })).toBeUndefined();
  });
});
