import { spawnSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { TerminalError } from "../errors.js";
import { generatePrivateKey, parsePrivateKey, type KeyAlgorithm, type KeyEncoding } from "./keys.js";
import {
  MANAGED_OUTPUT_KEYS,
  outputsCurrent,
  outputsMismatch,
  renderOutputs,
  type IssuedMaterial,
  type OutputOptions,
} from "./outputs.js";
import type { Pkcs12Profile } from "./pkcs12.js";
import { createTestCa, issueTestCertificate, type TestCertificate } from "./testing.js";

// These tests check our files with the tools their users have: OpenSSL 3 and the JDK's keytool.
// Both are required (Debian: openssl, openjdk-17-jre-headless); a missing one fails the test.
const PASSWORD = "correct horse battery staple";

let dir: string;
let root: TestCertificate;
let intermediate: TestCertificate;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "pki-outputs-"));
  root = await createTestCa({ commonName: "Test Root CA" });
  intermediate = await createTestCa({ commonName: "Test Intermediate CA", issuer: root });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function issue(
  algorithm: KeyAlgorithm,
  withCa: boolean,
  encoding: KeyEncoding = "PKCS1",
): Promise<IssuedMaterial> {
  const key = await generatePrivateKey({ algorithm, encoding });
  const leaf = await issueTestCertificate({ dnsNames: ["app.example.com"], issuer: intermediate, key });
  return {
    chainPem: leaf.certPem + intermediate.certPem,
    privateKeyPem: key.pem,
    caPem: withCa ? root.certPem : undefined,
  };
}

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.error) throw new Error(`${cmd} could not be run (is it installed?): ${r.error.message}`);
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function save(name: string, data: Buffer | undefined): string {
  if (!data) throw new Error(`${name} was not rendered`);
  const file = join(dir, `${Math.random().toString(36).slice(2)}-${name}`);
  writeFileSync(file, data);
  return file;
}

function certsIn(text: string): Buffer[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map(
    (m) => new X509Certificate(m[0]).raw,
  );
}

function ders(...pems: string[]): Buffer[] {
  return pems.map((p) => new X509Certificate(p).raw);
}

function keyIn(text: string): string {
  const m = /-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----/.exec(text);
  if (!m) throw new Error(`no private key in:\n${text}`);
  return m[0];
}

function sameKey(a: string, b: string): boolean {
  return createPrivateKey(a).equals(createPrivateKey(b));
}

// What `openssl pkcs12 -info` reports for each go-pkcs12 encoder.
const OPENSSL_REPORTS: Record<Pkcs12Profile, { legacy: boolean; lines: string[] }> = {
  LegacyRC2: {
    legacy: true,
    lines: [
      "MAC: sha1, Iteration 1",
      "MAC length: 20, salt length: 8",
      "PKCS7 Encrypted data: pbeWithSHA1And40BitRC2-CBC, Iteration 2048",
      "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048",
    ],
  },
  LegacyDES: {
    legacy: false,
    lines: [
      "MAC: sha1, Iteration 1",
      "MAC length: 20, salt length: 8",
      "PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048",
      "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048",
    ],
  },
  Modern2023: {
    legacy: false,
    lines: [
      "MAC: sha256, Iteration 2048",
      "MAC length: 32, salt length: 16",
      "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256",
      "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256",
    ],
  },
};

function opensslPkcs12(file: string, profile: Pkcs12Profile, password = PASSWORD): string {
  const args = ["pkcs12", "-in", file, "-info", "-nodes", "-passin", `pass:${password}`];
  const r = run("openssl", OPENSSL_REPORTS[profile].legacy ? [...args, "-legacy"] : args);
  expect(r.status).toBe(0);
  return r.out;
}

function keytoolList(file: string, storetype: "PKCS12" | "JKS", password = PASSWORD): string {
  const r = run("keytool", [
    "-list",
    "-v",
    "-keystore",
    file,
    "-storepass",
    password,
    "-storetype",
    storetype,
  ]);
  expect(r.out).not.toMatch(/keytool error/);
  expect(r.status).toBe(0);
  return r.out;
}

const matrix: [KeyAlgorithm, boolean][] = [
  ["ECDSA", false],
  ["ECDSA", true],
  ["RSA", false],
  ["RSA", true],
];
const PROFILES: Pkcs12Profile[] = ["LegacyRC2", "LegacyDES", "Modern2023"];

describe("renderOutputs: CombinedPEM and DER", () => {
  it.each([
    ["ECDSA", "PKCS1"],
    ["ECDSA", "PKCS8"],
    ["RSA", "PKCS1"],
    ["RSA", "PKCS8"],
  ] as [KeyAlgorithm, KeyEncoding][])(
    "writes tls-combined.pem as tls.key, a newline and tls.crt, and key.der as the DER of tls.key, for %s keys in %s",
    async (algorithm, encoding) => {
      const m = await issue(algorithm, false, encoding);
      const out = renderOutputs(m, { combinedPem: true, der: true });
      expect(Object.keys(out).sort()).toEqual(["key.der", "tls-combined.pem"]);
      expect(out["tls-combined.pem"]?.toString()).toBe(`${m.privateKeyPem}\n${m.chainPem}`);

      // OpenSSL reads the combined file as a key and a chain, and the DER key in tls.key's own encoding.
      const combined = save("tls-combined.pem", out["tls-combined.pem"]);
      const chain = run("openssl", ["crl2pkcs7", "-nocrl", "-certfile", combined]);
      expect(chain.status).toBe(0);
      expect(run("openssl", ["pkey", "-in", combined, "-noout"]).status).toBe(0);
      const derFile = save("key.der", out["key.der"]);
      const fromDer = run("openssl", ["pkey", "-inform", "DER", "-in", derFile]);
      expect(fromDer.status).toBe(0);
      expect(sameKey(keyIn(fromDer.out), m.privateKeyPem)).toBe(true);
      const label =
        encoding === "PKCS8" ? "PRIVATE KEY" : algorithm === "RSA" ? "RSA PRIVATE KEY" : "EC PRIVATE KEY";
      const body =
        new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END`).exec(m.privateKeyPem)?.[1] ?? "";
      expect(out["key.der"]?.equals(Buffer.from(body.replace(/\s+/g, ""), "base64"))).toBe(true);
    },
  );
});

describe("renderOutputs: keystores.pkcs12", () => {
  describe.each(matrix)("for an %s key (CA known: %s)", (algorithm, withCa) => {
    let m: IssuedMaterial;
    beforeAll(async () => {
      m = await issue(algorithm, withCa);
    });

    it.each(PROFILES)(
      "writes a %s keystore.p12 that OpenSSL and keytool open, with the profile's algorithms, the key and the chain",
      (profile) => {
        const out = renderOutputs(m, { pkcs12: { password: PASSWORD, profile } });
        expect(Object.keys(out).sort()).toEqual(
          withCa ? ["keystore.p12", "truststore.p12"] : ["keystore.p12"],
        );
        const file = save("keystore.p12", out["keystore.p12"]);

        const info = opensslPkcs12(file, profile);
        for (const line of OPENSSL_REPORTS[profile].lines) expect(info).toContain(line);
        expect(sameKey(keyIn(info), m.privateKeyPem)).toBe(true);
        // cert-manager's order: the leaf, the rest of tls.crt, then ca.crt.
        const want = ders(
          m.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0] ?? "",
          intermediate.certPem,
        );
        if (withCa) want.push(...ders(root.certPem));
        expect(certsIn(info)).toEqual(want);
        if (profile === "LegacyRC2") {
          // Proof that the certificates really are RC2-encrypted: OpenSSL 3 refuses them without its legacy provider.
          const plain = run("openssl", ["pkcs12", "-in", file, "-nodes", "-passin", `pass:${PASSWORD}`]);
          expect(plain.status).not.toBe(0);
          expect(plain.out).toMatch(/RC2|unsupported/i);
        }

        const listing = keytoolList(file, "PKCS12");
        expect(listing).toContain("Keystore type: PKCS12");
        expect(listing).toContain("Your keystore contains 1 entry");
        // go-pkcs12 writes no friendly name, so Java numbers the entry.
        expect(listing).toContain("Alias name: 1\n");
        expect(listing).toContain("Entry type: PrivateKeyEntry");
        expect(listing).toContain(`Certificate chain length: ${withCa ? 3 : 2}`);
        expect(listing).toContain("Owner: CN=app.example.com");
      },
    );

    if (withCa) {
      it.each(PROFILES)(
        "writes a %s truststore.p12 holding the CA as a trusted entry named as go-pkcs12 names it",
        (profile) => {
          const out = renderOutputs(m, { pkcs12: { password: PASSWORD, profile } });
          const file = save("truststore.p12", out["truststore.p12"]);
          const info = opensslPkcs12(file, profile);
          for (const line of OPENSSL_REPORTS[profile].lines.slice(0, 3)) expect(info).toContain(line);
          expect(info).not.toContain("Shrouded Keybag");
          expect(info).toContain("friendlyName: CN=Test Root CA");
          expect(certsIn(info)).toEqual(ders(root.certPem));

          const listing = keytoolList(file, "PKCS12");
          expect(listing).toContain("Your keystore contains 1 entry");
          expect(listing).toContain("Alias name: cn=test root ca");
          expect(listing).toContain("Entry type: trustedCertEntry");
          expect(listing).toContain("Owner: CN=Test Root CA");
        },
      );
    } else {
      it("writes no truststore.p12 when the CA is not known", () => {
        expect(renderOutputs(m, { pkcs12: { password: PASSWORD } })["truststore.p12"]).toBeUndefined();
      });
    }
  });

  it("uses LegacyRC2, cert-manager's default, when no profile is given", async () => {
    const m = await issue("ECDSA", false);
    const file = save("keystore.p12", renderOutputs(m, { pkcs12: { password: PASSWORD } })["keystore.p12"]);
    const info = opensslPkcs12(file, "LegacyRC2");
    for (const line of OPENSSL_REPORTS.LegacyRC2.lines) expect(info).toContain(line);
  });

  it("derives the keys from a non-ASCII password as OpenSSL does", async () => {
    const m = await issue("ECDSA", false);
    const password = "pässwörd-€";
    for (const profile of PROFILES) {
      const file = save("keystore.p12", renderOutputs(m, { pkcs12: { password, profile } })["keystore.p12"]);
      expect(sameKey(keyIn(opensslPkcs12(file, profile, password)), m.privateKeyPem)).toBe(true);
    }
  });
});

describe("renderOutputs: keystores.jks", () => {
  describe.each(matrix)("for an %s key (CA known: %s)", (algorithm, withCa) => {
    let m: IssuedMaterial;
    beforeAll(async () => {
      m = await issue(algorithm, withCa);
    });

    it("writes a keystore.jks that keytool lists with the key entry `certificate` and its chain, and `ca` when known", () => {
      const out = renderOutputs(m, { jks: { password: PASSWORD } });
      expect(Object.keys(out).sort()).toEqual(withCa ? ["keystore.jks", "truststore.jks"] : ["keystore.jks"]);
      const listing = keytoolList(save("keystore.jks", out["keystore.jks"]), "JKS");
      expect(listing).toContain("Keystore type: JKS");
      expect(listing).toContain(`Your keystore contains ${withCa ? 2 : 1} entr`);
      expect(listing).toMatch(
        /Alias name: certificate\n[\s\S]*?Entry type: PrivateKeyEntry\nCertificate chain length: 2\n/,
      );
      expect(listing).toContain("Owner: CN=app.example.com");
      if (withCa)
        expect(listing).toMatch(
          /Alias name: ca\n[\s\S]*?Entry type: trustedCertEntry\n\nOwner: CN=Test Root CA/,
        );
    });

    it("protects the private key so that Java recovers exactly it with the password", () => {
      const out = renderOutputs(m, { jks: { password: PASSWORD, alias: "My-App" } });
      const src = save("keystore.jks", out["keystore.jks"]);
      const dest = join(dir, `${Math.random().toString(36).slice(2)}-converted.p12`);
      const converted = run("keytool", [
        "-importkeystore",
        ...["-srckeystore", src, "-srcstoretype", "JKS", "-srcstorepass", PASSWORD],
        ...["-destkeystore", dest, "-deststoretype", "PKCS12", "-deststorepass", PASSWORD],
        ...["-srcalias", "my-app", "-noprompt"],
      ]);
      expect(converted.out).not.toMatch(/keytool error/);
      expect(converted.status).toBe(0);
      const info = run("openssl", ["pkcs12", "-in", dest, "-nodes", "-passin", `pass:${PASSWORD}`]);
      expect(info.status).toBe(0);
      expect(sameKey(keyIn(info.out), m.privateKeyPem)).toBe(true);
      // Java lower-cases JKS aliases, and so does cert-manager's keystore-go.
      expect(info.out).toContain("friendlyName: my-app");
    });

    if (withCa) {
      it("writes a truststore.jks with the CA as the trusted entry `ca`", () => {
        const out = renderOutputs(m, { jks: { password: PASSWORD } });
        const listing = keytoolList(save("truststore.jks", out["truststore.jks"]), "JKS");
        expect(listing).toContain("Your keystore contains 1 entry");
        expect(listing).toMatch(
          /Alias name: ca\n[\s\S]*?Entry type: trustedCertEntry\n\nOwner: CN=Test Root CA/,
        );
      });
    }
  });

  it("names several CA certificates ca, ca-1, ca-2 as cert-manager does", async () => {
    const other = await createTestCa({ commonName: "Other Root CA" });
    const m = { ...(await issue("ECDSA", true)), caPem: root.certPem + other.certPem };
    const listing = keytoolList(
      save("truststore.jks", renderOutputs(m, { jks: { password: PASSWORD } })["truststore.jks"]),
      "JKS",
    );
    expect(listing).toContain("Your keystore contains 2 entries");
    expect(listing).toMatch(/Alias name: ca\n[\s\S]*?Owner: CN=Test Root CA/);
    expect(listing).toMatch(/Alias name: ca-1\n[\s\S]*?Owner: CN=Other Root CA/);
  });

  it("opens with a non-ASCII password the way Java encodes it", async () => {
    const m = await issue("ECDSA", false);
    const password = "pässwörd-€";
    const listing = keytoolList(
      save("keystore.jks", renderOutputs(m, { jks: { password } })["keystore.jks"]),
      "JKS",
      password,
    );
    expect(listing).toContain("Entry type: PrivateKeyEntry");
  });
});

describe("renderOutputs: options", () => {
  it("writes nothing when nothing is asked for, and only managed keys otherwise", async () => {
    const m = await issue("ECDSA", true);
    expect(renderOutputs(m, {})).toEqual({});
    const all = renderOutputs(m, {
      combinedPem: true,
      der: true,
      pkcs12: { password: PASSWORD },
      jks: { password: PASSWORD },
    });
    expect(Object.keys(all).sort()).toEqual([...MANAGED_OUTPUT_KEYS].sort());
  });

  it("refuses an empty keystore password with the reason InvalidKeystorePassword", async () => {
    const m = await issue("ECDSA", false);
    for (const o of [{ pkcs12: { password: "" } }, { jks: { password: "" } }] as OutputOptions[]) {
      let caught: unknown;
      try {
        renderOutputs(m, o);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(TerminalError);
      expect((caught as TerminalError).reason).toBe("InvalidKeystorePassword");
    }
  });

  it("lists exactly the data keys cert-manager may write beside tls.crt, tls.key and ca.crt", () => {
    expect([...MANAGED_OUTPUT_KEYS].sort()).toEqual([
      "key.der",
      "keystore.jks",
      "keystore.p12",
      "tls-combined.pem",
      "truststore.jks",
      "truststore.p12",
    ]);
  });
});

describe("outputsCurrent", () => {
  const everything: OutputOptions = {
    combinedPem: true,
    der: true,
    pkcs12: { password: PASSWORD, profile: "Modern2023" },
    jks: { password: PASSWORD, alias: "app" },
  };
  let m: IssuedMaterial;
  let data: Record<string, Buffer>;
  beforeAll(async () => {
    m = await issue("ECDSA", true);
    data = renderOutputs(m, everything);
  });

  it("is true for fresh output, and for a second rendering whose salts differ", () => {
    expect(outputsMismatch(data, m, everything)).toBeUndefined();
    const again = renderOutputs(m, everything);
    expect(again["keystore.p12"]?.equals(data["keystore.p12"] ?? Buffer.alloc(0))).toBe(false);
    expect(outputsCurrent(again, m, everything)).toBe(true);
    expect(outputsCurrent({ ...data, "tls.crt": Buffer.from(m.chainPem) }, m, everything)).toBe(true);
  });

  it.each(PROFILES)("is true for fresh %s PKCS#12 output on its own", (profile) => {
    const o = { pkcs12: { password: PASSWORD, profile } };
    expect(outputsMismatch(renderOutputs(m, o), m, o)).toBeUndefined();
  });

  it("is false after a renewal: a new certificate and key", async () => {
    const renewed = await issue("ECDSA", true);
    expect(outputsCurrent(data, renewed, everything)).toBe(false);
    expect(outputsMismatch(data, renewed, everything)).toBe(
      "tls-combined.pem does not hold the current tls.key and tls.crt",
    );
    // Each keystore on its own notices the new material too.
    for (const key of ["keystore.p12", "keystore.jks"]) {
      const fresh = renderOutputs(renewed, everything);
      expect(outputsMismatch({ ...fresh, [key]: data[key] ?? Buffer.alloc(0) }, renewed, everything)).toBe(
        `${key} does not hold the current private key`,
      );
    }
  });

  it("is false after a renewal that keeps the key but brings a new certificate", async () => {
    const leaf = await issueTestCertificate({
      dnsNames: ["app.example.com"],
      issuer: intermediate,
      key: parsePrivateKey(m.privateKeyPem),
    });
    const renewed = { ...m, chainPem: leaf.certPem + intermediate.certPem };
    const fresh = renderOutputs(renewed, everything);
    for (const key of ["keystore.p12", "keystore.jks"]) {
      expect(outputsMismatch({ ...fresh, [key]: data[key] ?? Buffer.alloc(0) }, renewed, everything)).toBe(
        `${key} does not hold the current certificate chain`,
      );
    }
  });

  it("is false after a password change", () => {
    const o = { ...everything, pkcs12: { password: "new password", profile: "Modern2023" as const } };
    expect(outputsMismatch(data, m, o)).toMatch(/^keystore.p12 cannot be opened with the keystore password/);
    const j = { ...everything, jks: { password: "new password", alias: "app" } };
    expect(outputsMismatch(data, m, j)).toMatch(/^keystore.jks cannot be opened with the keystore password/);
  });

  it("is false after a profile change or an alias change", () => {
    const o = { ...everything, pkcs12: { password: PASSWORD, profile: "LegacyDES" as const } };
    expect(outputsMismatch(data, m, o)).toMatch(/^keystore.p12 is not written with the LegacyDES profile/);
    const j = { ...everything, jks: { password: PASSWORD } };
    expect(outputsMismatch(data, m, j)).toBe('keystore.jks has no privateKey entry "certificate"');
  });

  it("is false when a managed key is there but not asked for, or asked for but missing", () => {
    expect(outputsMismatch(data, m, { ...everything, der: false })).toBe(
      "key.der is in the Secret but not asked for",
    );
    const { ["truststore.jks"]: _dropped, ...withoutTruststore } = data;
    expect(outputsMismatch(withoutTruststore, m, everything)).toBe(
      "truststore.jks is missing from the Secret",
    );
    // A taken-over Secret with cert-manager's leftovers and nothing asked for.
    expect(outputsCurrent({ "keystore.jks": Buffer.from("stale") }, m, {})).toBe(false);
    expect(outputsCurrent({}, m, {})).toBe(true);
  });

  it("is false when the CA appears or goes, since the trust stores follow it", () => {
    const withoutCa = { ...m, caPem: undefined };
    expect(outputsMismatch(data, withoutCa, everything)).toBe(
      "truststore.p12 is in the Secret but not asked for",
    );
  });

  it("is false for a damaged keystore rather than throwing", () => {
    const broken = { ...data, "keystore.p12": Buffer.from("not a keystore") };
    expect(outputsMismatch(broken, m, everything)).toMatch(/^keystore.p12 cannot be opened/);
    const truncated = { ...data, "keystore.jks": (data["keystore.jks"] ?? Buffer.alloc(0)).subarray(0, 40) };
    expect(outputsMismatch(truncated, m, everything)).toMatch(/^keystore.jks cannot be opened/);
  });
});
