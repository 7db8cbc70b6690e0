import { execFileSync } from "node:child_process";
import { describe, expect, it } from "@jest/globals";
import { certificateDnsNames, createCsr, csrInfo, csrMatchesKey, literalSubjectCommonName } from "./csr.js";
import { generatePrivateKey, type PrivateKeySpec } from "./keys.js";

/** openssl's own reading of a CSR, so these tests do not only check our parser against our writer. */
function openssl(csrPem: string): string {
  return execFileSync("openssl", ["req", "-noout", "-verify", "-text"], {
    input: csrPem,
    stdio: "pipe",
  }).toString();
}

describe("createCsr", () => {
  it.each<[string, PrivateKeySpec, string]>([
    ["RSA 2048", { algorithm: "RSA", size: 2048 }, "sha256WithRSAEncryption"],
    ["RSA 3072", { algorithm: "RSA", size: 3072 }, "sha384WithRSAEncryption"],
    ["RSA 4096", { algorithm: "RSA", size: 4096 }, "sha512WithRSAEncryption"],
    ["ECDSA P-256", { algorithm: "ECDSA", size: 256 }, "ecdsa-with-SHA256"],
    ["ECDSA P-384", { algorithm: "ECDSA", size: 384 }, "ecdsa-with-SHA384"],
    ["ECDSA P-521", { algorithm: "ECDSA", size: 521 }, "ecdsa-with-SHA512"],
    ["Ed25519", { algorithm: "Ed25519" }, "ED25519"],
  ])(
    "signs a %s CSR that openssl verifies (spec %j), with cert-manager's hash %s",
    async (_name, spec, sigAlg) => {
      const key = await generatePrivateKey(spec);
      const pem = await createCsr({ key, dnsNames: ["a.example.test", "*.a.example.test"] });
      expect(pem).toMatch(
        /^-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]+\n-----END CERTIFICATE REQUEST-----\n$/,
      );
      const text = openssl(pem);
      expect(text).toContain(`Signature Algorithm: ${sigAlg}`);
      expect(text).toContain("DNS:a.example.test, DNS:*.a.example.test");
      const info = await csrInfo(pem);
      expect(info.signatureValid).toBe(true);
      expect(csrMatchesKey(pem, key)).toBe(true);
    },
  );

  it("puts the common name among the SANs, first, without duplicating a listed name", async () => {
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    const a = await csrInfo(
      await createCsr({ key, commonName: "cn.example.test", dnsNames: ["x.example.test"] }),
    );
    expect(a.commonName).toBe("cn.example.test");
    expect(a.dnsNames).toEqual(["cn.example.test", "x.example.test"]);
    const b = await csrInfo(
      await createCsr({ key, commonName: "x.example.test", dnsNames: ["w.example.test", "x.example.test"] }),
    );
    expect(b.dnsNames).toEqual(["x.example.test", "w.example.test"]);
    const c = await csrInfo(await createCsr({ key, commonName: "only.example.test" }));
    expect(c.dnsNames).toEqual(["only.example.test"]);
  });

  it("leaves the subject empty and marks the SAN critical when there is no common name", async () => {
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    const pem = await createCsr({ key, dnsNames: ["a.example.test"] });
    const info = await csrInfo(pem);
    expect(info.commonName).toBeUndefined();
    expect(openssl(pem)).toMatch(/X509v3 Subject Alternative Name: critical/);
  });

  it("writes every subject field in Go's RDN order, multi-valued like cert-manager", async () => {
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    const subject = {
      organizations: ["Acme Ltd", "Acme Holdings"],
      countries: ["GB"],
      organizationalUnits: ["Ops"],
      localities: ["London"],
      provinces: ["Greater London"],
      streetAddresses: ["1 Main St"],
      postalCodes: ["N1 1AA"],
      serialNumber: "42",
    };
    const pem = await createCsr({ key, commonName: "s.example.test", dnsNames: [], subject });
    const info = await csrInfo(pem);
    expect(info.subject).toEqual(subject);
    expect(openssl(pem)).toContain(
      "Subject: C = GB, ST = Greater London, L = London, street = 1 Main St, postalCode = N1 1AA, " +
        "O = Acme Ltd + O = Acme Holdings, OU = Ops, CN = s.example.test, serialNumber = 42",
    );
  });

  it("writes a literalSubject as given instead of commonName and subject, and refuses a malformed one", async () => {
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    const pem = await createCsr({
      key,
      literalSubject: "CN=lit.example.test,OU=Ops+OU=Web,O=Example\\, Inc.,C=DE",
      commonName: "lit.example.test",
      dnsNames: ["lit.example.test"],
      subject: { organizations: ["ignored"] },
    });
    const text = openssl(pem);
    expect(text).toMatch(/Subject: .*CN\s*=\s*lit\.example\.test/);
    expect(text).toContain("Example, Inc.");
    expect(text).not.toContain("ignored");
    const info = await csrInfo(pem);
    expect(info.commonName).toBe("lit.example.test");
    expect(info.subject.organizationalUnits.sort()).toEqual(["Ops", "Web"]);
    expect(literalSubjectCommonName("O=Example,CN=x.example.test")).toBe("x.example.test");
    expect(literalSubjectCommonName("O=Example")).toBeUndefined();
    await expect(
      createCsr({ key, literalSubject: "no equals sign", dnsNames: ["a.example.test"] }),
    ).rejects.toThrow(/literalSubject "no equals sign" is not an RFC 4514 distinguished name/);
  });

  it("keeps non-ASCII subject values intact", async () => {
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    const pem = await createCsr({
      key,
      dnsNames: ["u.example.test"],
      subject: { organizations: ["Société Générale Ø"] },
    });
    expect((await csrInfo(pem)).subject.organizations).toEqual(["Société Générale Ø"]);
  });

  it("encodes cert-manager's default usages, or the ones asked for, or none", async () => {
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    const dnsNames = ["u.example.test"];
    const byDefault = await createCsr({ key, dnsNames });
    expect((await csrInfo(byDefault)).usages).toEqual(["digital signature", "key encipherment"]);
    expect(openssl(byDefault)).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);

    const asked = await createCsr({
      key,
      dnsNames,
      usages: ["signing", "server auth", "client auth", "s/mime"],
    });
    expect((await csrInfo(asked)).usages).toEqual([
      "digital signature",
      "server auth",
      "client auth",
      "email protection",
    ]);
    expect(openssl(asked)).toMatch(
      /X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication, E-mail Protection/,
    );

    const none = await createCsr({ key, dnsNames, encodeUsagesInRequest: false });
    expect((await csrInfo(none)).usages).toEqual([]);
    expect(openssl(none)).not.toContain("Key Usage");
  });

  it("honours an explicit signature algorithm and refuses one that does not fit the key", async () => {
    const rsa = await generatePrivateKey({ algorithm: "RSA" });
    const pem = await createCsr({
      key: rsa,
      dnsNames: ["r.example.test"],
      signatureAlgorithm: "SHA512WithRSA",
    });
    expect(openssl(pem)).toContain("Signature Algorithm: sha512WithRSAEncryption");
    await expect(
      createCsr({ key: rsa, dnsNames: ["r.example.test"], signatureAlgorithm: "ECDSAWithSHA256" }),
    ).rejects.toMatchObject({
      reason: "InvalidCertificateSpec",
      message: expect.stringContaining("needs an ECDSA key"),
    });
  });

  it("refuses an unknown usage and a request without any name", async () => {
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    await expect(createCsr({ key, dnsNames: ["a.test"], usages: ["teleportation"] })).rejects.toMatchObject({
      reason: "InvalidCertificateSpec",
    });
    await expect(createCsr({ key, dnsNames: [] })).rejects.toMatchObject({
      reason: "InvalidCertificateSpec",
    });
  });

  it("accepts the key as PEM and tells a CSR for another key apart", async () => {
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    const other = await generatePrivateKey({ algorithm: "ECDSA" });
    const pem = await createCsr({ key: key.pem, dnsNames: ["p.example.test"] });
    expect(csrMatchesKey(pem, key.pem)).toBe(true);
    expect(csrMatchesKey(pem, other)).toBe(false);
  });

  it("reports a tampered CSR as having an invalid signature", async () => {
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    const pem = await createCsr({ key, dnsNames: ["t.example.test"] });
    const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
    const at = der.indexOf(Buffer.from("t.example.test"));
    der[at] = "q".charCodeAt(0);
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
    const info = await csrInfo(tampered);
    expect(info.dnsNames).toEqual(["q.example.test"]);
    expect(info.signatureValid).toBe(false);
  });
});

describe("certificateDnsNames", () => {
  it.each<[string | undefined, string[], string[]]>([
    [undefined, ["a", "b"], ["a", "b"]],
    ["cn", ["a", "b"], ["cn", "a", "b"]],
    ["b", ["a", "b"], ["b", "a"]],
    ["", ["a", "a"], ["a"]],
    ["cn", [], ["cn"]],
  ])("with commonName %p and dnsNames %p gives %p", (cn, names, want) => {
    expect(certificateDnsNames(cn, names)).toEqual(want);
  });
});
