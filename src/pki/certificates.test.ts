import { describe, expect, it, beforeAll } from "@jest/globals";
import {
  certificateInfo,
  parseCertificateChain,
  publicKeyMatches,
  rootFromChain,
  splitChain,
  verifyChain,
} from "./certificates.js";
import { generatePrivateKey } from "./keys.js";
import { createTestCa, issueTestCertificate, type TestCertificate } from "./testing.js";

const DAY = 86_400_000;

let root: TestCertificate;
let intermediate: TestCertificate;
let leaf: TestCertificate;
let otherRoot: TestCertificate;

beforeAll(async () => {
  const caValidity = {
    notBefore: new Date("2020-01-01T00:00:00Z"),
    notAfter: new Date("2040-01-01T00:00:00Z"),
  };
  root = await createTestCa({ commonName: "Test Root", ...caValidity });
  intermediate = await createTestCa({ commonName: "Test Intermediate", issuer: root, ...caValidity });
  leaf = await issueTestCertificate({
    issuer: intermediate,
    commonName: "www.example.test",
    dnsNames: ["www.example.test", "*.example.test"],
    keySpec: { algorithm: "RSA", size: 2048 },
    notBefore: new Date("2030-01-01T00:00:00Z"),
    notAfter: new Date("2030-04-01T00:00:00Z"),
  });
  otherRoot = await createTestCa({ commonName: "Other Root" });
});

describe("splitChain", () => {
  it("returns each certificate as a canonical PEM block and ignores everything else", () => {
    const messy =
      "# a comment\n" +
      leaf.certPem.replace(/\n/g, "\r\n") +
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" +
      intermediate.certPem.replace(/\n(?!-----END)/g, "\n   ");
    const blocks = splitChain(messy);
    expect(blocks).toEqual([leaf.certPem, intermediate.certPem]);
    for (const b of blocks)
      expect(b).toMatch(
        /^-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END CERTIFICATE-----\n$/,
      );
  });

  it("throws InvalidCertificate for text without a certificate or with a corrupt one", () => {
    expect(() => splitChain("hello")).toThrow(expect.objectContaining({ reason: "InvalidCertificate" }));
    expect(() => splitChain("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")).toThrow(
      expect.objectContaining({ reason: "InvalidCertificate" }),
    );
  });
});

describe("parseCertificateChain", () => {
  it("orders a shuffled bundle with duplicates from the leaf up and sets the root aside", () => {
    const chain = parseCertificateChain(root.certPem + leaf.certPem + intermediate.certPem + leaf.certPem);
    expect(chain.leaf).toBe(leaf.certPem);
    expect(chain.intermediates).toEqual([intermediate.certPem]);
    expect(chain.root).toBe(root.certPem);
    expect(chain.chainPem).toBe(leaf.certPem + intermediate.certPem);
    expect(rootFromChain(chain)).toBe(root.certPem);
  });

  it("has no root when the CA sent leaf and intermediate only, as ACME CAs do", () => {
    const chain = parseCertificateChain(leaf.certPem + intermediate.certPem);
    expect(chain.root).toBeUndefined();
    expect(rootFromChain(leaf.certPem + intermediate.certPem)).toBeUndefined();
    expect(chain.chainPem).toBe(leaf.certPem + intermediate.certPem);
  });

  it("treats a lone self-signed certificate as both leaf and root", () => {
    const chain = parseCertificateChain(root.certPem);
    expect(chain.leaf).toBe(root.certPem);
    expect(chain.root).toBe(root.certPem);
    expect(chain.chainPem).toBe(root.certPem);
  });

  it("refuses a bundle with a missing link or an unrelated certificate", () => {
    expect(() => parseCertificateChain(leaf.certPem + root.certPem)).toThrow(/not a single chain/);
    expect(() => parseCertificateChain(leaf.certPem + intermediate.certPem + otherRoot.certPem)).toThrow(
      /not a single chain/,
    );
  });
});

describe("certificateInfo", () => {
  it("reads validity, names, issuer, serial and key of the leaf", () => {
    const info = certificateInfo(leaf.certPem + intermediate.certPem);
    expect(info.notBefore.toISOString()).toBe("2030-01-01T00:00:00.000Z");
    expect(info.notAfter.toISOString()).toBe("2030-04-01T00:00:00.000Z");
    expect(info.dnsNames).toEqual(["www.example.test", "*.example.test"]);
    expect(info.commonName).toBe("www.example.test");
    expect(info.issuerCommonName).toBe("Test Intermediate");
    expect(info.serialNumber).toMatch(/^01[0-9a-f]{30}$/);
    expect(info.isCA).toBe(false);
    expect(info.selfSigned).toBe(false);
    expect([info.keyAlgorithm, info.keySize]).toEqual(["RSA", 2048]);
    expect(info.fingerprintSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("recognises a self-signed CA", () => {
    const info = certificateInfo(root.certPem);
    expect([info.isCA, info.selfSigned, info.commonName, info.issuerCommonName]).toEqual([
      true,
      true,
      "Test Root",
      "Test Root",
    ]);
    expect([info.keyAlgorithm, info.keySize]).toEqual(["ECDSA", 256]);
  });
});

describe("publicKeyMatches", () => {
  it("accepts the certificate's own key in any form and refuses another", async () => {
    expect(publicKeyMatches(leaf.certPem, leaf.key)).toBe(true);
    expect(publicKeyMatches(leaf.certPem, leaf.key.pem)).toBe(true);
    expect(publicKeyMatches(leaf.certPem + intermediate.certPem, leaf.key.keyObject)).toBe(true);
    expect(publicKeyMatches(leaf.certPem, await generatePrivateKey())).toBe(false);
    expect(publicKeyMatches(leaf.certPem, intermediate.key)).toBe(false);
  });
});

describe("verifyChain", () => {
  const at = new Date("2030-02-01T00:00:00Z");

  it("accepts a chain that links up to the root, with or without the root at its end", () => {
    expect(verifyChain(leaf.certPem + intermediate.certPem, root.certPem, at)).toEqual({ valid: true });
    expect(verifyChain(leaf.certPem + intermediate.certPem + root.certPem, root.certPem, at)).toEqual({
      valid: true,
    });
  });

  it("refuses another root, a missing intermediate, a wrong order and an expired leaf", () => {
    expect(verifyChain(leaf.certPem + intermediate.certPem, otherRoot.certPem, at)).toMatchObject({
      valid: false,
      reason: expect.stringMatching(/not signed by the root/),
    });
    expect(verifyChain(leaf.certPem, root.certPem, at)).toMatchObject({ valid: false });
    expect(verifyChain(intermediate.certPem + leaf.certPem, root.certPem, at)).toMatchObject({
      valid: false,
    });
    expect(
      verifyChain(leaf.certPem + intermediate.certPem, root.certPem, new Date(at.getTime() + 90 * DAY)),
    ).toMatchObject({
      valid: false,
      reason: expect.stringMatching(/certificate 0 .* is not valid at/),
    });
  });

  it("refuses a chain whose issuer is not a CA", async () => {
    const notCa = await issueTestCertificate({ issuer: root, dnsNames: ["ca-impostor.example.test"] });
    const victim = await issueTestCertificate({ issuer: notCa, dnsNames: ["v.example.test"] });
    expect(verifyChain(victim.certPem + notCa.certPem, root.certPem)).toMatchObject({
      valid: false,
      reason: expect.stringMatching(/is not a CA/),
    });
  });
});
