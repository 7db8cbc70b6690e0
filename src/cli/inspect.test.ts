import { describe, expect, it } from "@jest/globals";
import type { SecretObj } from "../controllers/kinds.js";
import { createTestCa, issueTestCertificate } from "../pki/testing.js";
import { generatePrivateKey } from "../pki/index.js";
import { inspectSecret, renderInspect } from "./inspect.js";

const b64 = (s: string): string => Buffer.from(s).toString("base64");
const secret = (data: Record<string, string>): SecretObj => ({
  metadata: { name: "site-tls", namespace: "web", annotations: { "dns01.io/certificate-name": "site" } },
  type: "kubernetes.io/tls",
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});

describe("inspectSecret", () => {
  const now = new Date();

  it("reads names, validity, key, chain and the root from ca.crt", async () => {
    const root = await createTestCa({ commonName: "Test Root" });
    const mid = await createTestCa({ commonName: "Test Intermediate", issuer: root });
    const leaf = await issueTestCertificate({
      dnsNames: ["example.test", "*.example.test"],
      issuer: mid,
      keySpec: { algorithm: "ECDSA", size: 384 },
    });
    const r = inspectSecret(
      secret({ "tls.crt": leaf.certPem + mid.certPem, "tls.key": leaf.key.pem, "ca.crt": root.certPem }),
      now,
    );
    expect(r).toMatchObject({
      certificate: "site",
      keyMatches: true,
      ok: true,
      problems: [],
      caVerification: { valid: true },
      privateKey: { algorithm: "ECDSA", size: 384 },
    });
    expect(r.leaf?.dnsNames).toEqual(["example.test", "*.example.test"]);
    expect(r.leaf?.validity).toBe("valid");
    expect(r.chain.map((c) => c.subject)).toEqual(["CN=Test Intermediate"]);
    const text = renderInspect(r, now);
    expect(text).toContain("DNS names:   example.test, *.example.test");
    expect(text).toContain("Key matches: yes");
    expect(text).toContain("1. CN=Test Intermediate (issued by CN=Test Root");
    expect(text.split("\n").at(-1)).toBe("OK");
  });

  it("says when the key is not the certificate's and when the certificate expired", async () => {
    const leaf = await issueTestCertificate({
      dnsNames: ["old.example.test"],
      notBefore: new Date(now.getTime() - 10 * 86_400_000),
      notAfter: new Date(now.getTime() - 86_400_000),
    });
    const other = await generatePrivateKey({ algorithm: "ECDSA" });
    const r = inspectSecret(secret({ "tls.crt": leaf.certPem, "tls.key": other.pem }), now);
    expect(r.ok).toBe(false);
    expect(r.keyMatches).toBe(false);
    expect(r.leaf?.validity).toBe("expired");
    expect(r.problems).toEqual([
      "the certificate expired 24h ago",
      "tls.key does not belong to the certificate in tls.crt",
    ]);
  });

  it("reports a Secret without a certificate rather than failing", () => {
    const r = inspectSecret(secret({ "tls.key": "not a key" }), now);
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([
      "tls.crt is missing or empty",
      expect.stringMatching(/^tls\.key cannot be read: /),
    ]);
  });
});
