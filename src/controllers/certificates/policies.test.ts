import { describe, expect, it } from "@jest/globals";
import {
  Annotations,
  expectedNames,
  issuanceBackoffMs,
  needsIssuance,
  type CertificateFacts,
  type PolicyInput,
  type SecretFacts,
} from "./policies.js";

const now = new Date("2026-06-01T00:00:00Z");
const cert: CertificateFacts = {
  dnsNames: ["example.test", "*.example.test"],
  issuerName: "pebble",
  issuerKind: "ClusterIssuer",
  issuerGroup: "dns01.io",
  keyAlgorithm: "RSA",
  keySize: 2048,
};
const goodSecret: SecretFacts = {
  exists: true,
  annotations: {
    [Annotations.issuerName]: "pebble",
    [Annotations.issuerKind]: "ClusterIssuer",
    [Annotations.issuerGroup]: "dns01.io",
  },
  hasCertificate: true,
  hasPrivateKey: true,
  certificate: { dnsNames: ["*.example.test", "example.test"], notAfter: new Date("2026-08-01T00:00:00Z") },
  privateKey: { algorithm: "RSA", size: 2048 },
  keyMatchesCertificate: true,
};
const input = (
  over: Omit<Partial<PolicyInput>, "secret"> & { secret?: Partial<SecretFacts> } = {},
): PolicyInput => ({
  cert: over.cert ?? cert,
  secret: { ...goodSecret, ...over.secret },
  renewalTime: over.renewalTime ?? new Date("2026-07-01T00:00:00Z"),
  now: over.now ?? now,
});

describe("needsIssuance", () => {
  it("returns null when the Secret holds a matching certificate that is not yet due", () => {
    expect(needsIssuance(input())).toBeNull();
  });
  const cases: [string, PolicyInput, string][] = [
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
      input({ cert: { ...cert, issuerName: "other" } }),
      "IncorrectIssuer",
    ],
    [
      "asks for issuance when a name was added to the spec",
      input({ cert: { ...cert, dnsNames: [...cert.dnsNames, "www.second.test"] } }),
      "SecretMismatch",
    ],
    [
      "asks for issuance when the commonName is not among the certificate's names",
      input({ cert: { ...cert, commonName: "api.example.test" } }),
      "SecretMismatch",
    ],
    [
      "asks for issuance when the key algorithm changed",
      input({ cert: { ...cert, keyAlgorithm: "ECDSA", keySize: 256 } }),
      "SecretMismatch",
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
  ];
  for (const [name, i, reason] of cases) {
    it(name, () => {
      expect(needsIssuance(i)?.reason).toBe(reason);
    });
  }
  it("compares names case-insensitively and in any order", () => {
    const i = input({
      secret: { certificate: { ...goodSecret.certificate!, dnsNames: ["EXAMPLE.test", "*.example.TEST"] } },
    });
    expect(needsIssuance(i)).toBeNull();
  });
});

describe("expectedNames", () => {
  it("adds the commonName to the names when it is not already there", () => {
    expect(expectedNames({ ...cert, commonName: "a.example.test" })).toEqual([
      ...cert.dnsNames,
      "a.example.test",
    ]);
    expect(expectedNames({ ...cert, commonName: "example.test" })).toEqual(cert.dnsNames);
  });
});

describe("issuanceBackoffMs", () => {
  it("doubles from the base after each failure and stops at the cap", () => {
    const h = 3_600_000;
    expect([0, 1, 2, 3, 6, 7, 50].map((n) => issuanceBackoffMs(n, h) / h)).toEqual([0, 1, 2, 4, 32, 32, 32]);
  });
});
