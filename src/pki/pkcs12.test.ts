import { spawnSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { TerminalError } from "../errors.js";
import { decodePkcs12, encodePkcs12Keystore, encodePkcs12Truststore, PKCS12_PROFILES } from "./pkcs12.js";
import { createTestCa, issueTestCertificate, type TestCertificate } from "./testing.js";

let dir: string;
let ca: TestCertificate;
let leaf: TestCertificate;
let keyPem: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "pki-pkcs12-"));
  ca = await createTestCa({ commonName: "PKCS12 Test CA" });
  leaf = await issueTestCertificate({ dnsNames: ["p12.example.com"], issuer: ca });
  keyPem = leaf.key.keyObject.export({ type: "pkcs8", format: "pem" }).toString();
  writeFileSync(join(dir, "key.pem"), keyPem);
  writeFileSync(join(dir, "cert.pem"), leaf.certPem);
  writeFileSync(join(dir, "ca.pem"), ca.certPem);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const raw = (pem: string): Buffer => new X509Certificate(pem).raw;
const pkcs8 = (): Buffer => leaf.key.keyObject.export({ type: "pkcs8", format: "der" });

function opensslExport(name: string, extra: string[]): Buffer {
  const out = join(dir, name);
  const r = spawnSync(
    "openssl",
    [
      "pkcs12",
      "-export",
      "-inkey",
      join(dir, "key.pem"),
      "-in",
      join(dir, "cert.pem"),
      "-certfile",
      join(dir, "ca.pem"),
    ].concat(["-passout", "pass:s3cret", "-out", out, ...extra]),
    { encoding: "utf8" },
  );
  if (r.error) throw r.error;
  expect(r.stderr).toBe("");
  return readFileSync(out);
}

describe("decodePkcs12", () => {
  it.each([
    ["OpenSSL 3's defaults", [], "Modern2023", "mac=sha256/2048"],
    ["OpenSSL's -legacy", ["-legacy"], undefined, "certificates=pbeWithSHAAnd40BitRC2-CBC/2048"],
    ["OpenSSL's -descert", ["-descert"], undefined, "certificates=pbeWithSHAAnd3-KeyTripleDES-CBC/2048"],
  ] as [string, string[], string | undefined, string][])(
    "reads a file written with %s: key, certificates, friendly name and protections",
    (_, extra, profile, algorithm) => {
      const decoded = decodePkcs12(
        opensslExport(`${extra.join("")}.p12`, [...extra, "-name", "Friendly Ünï"]),
        "s3cret",
      );
      expect(decoded.profile).toBe(profile);
      expect(decoded.algorithms).toContain(algorithm);
      const key = decoded.bags.find((b) => b.kind === "key");
      expect(
        createPrivateKey({ key: key?.der ?? Buffer.alloc(0), format: "der", type: "pkcs8" }).equals(
          leaf.key.keyObject,
        ),
      ).toBe(true);
      expect(key?.friendlyName).toBe("Friendly Ünï");
      expect(decoded.bags.filter((b) => b.kind === "certificate").map((b) => b.der)).toEqual([
        raw(leaf.certPem),
        raw(ca.certPem),
      ]);
    },
  );

  it.each(PKCS12_PROFILES)("round-trips a %s key store and trust store, and names the profile", (profile) => {
    const ks = encodePkcs12Keystore({
      privateKeyPkcs8: pkcs8(),
      certificates: [raw(leaf.certPem), raw(ca.certPem)],
      password: "pw",
      profile,
    });
    const decoded = decodePkcs12(ks, "pw");
    expect(decoded.profile).toBe(profile);
    expect(decoded.bags.map((b) => b.kind)).toEqual(["certificate", "certificate", "key"]);
    expect(decoded.bags[2]?.der).toEqual(pkcs8());
    const ts = decodePkcs12(
      encodePkcs12Truststore({ certificates: [raw(ca.certPem)], password: "pw", profile }),
      "pw",
    );
    expect(ts.profile).toBe(profile);
    expect(ts.bags).toEqual([
      {
        kind: "certificate",
        der: raw(ca.certPem),
        friendlyName: "CN=PKCS12 Test CA",
        localKeyId: undefined,
        trusted: true,
      },
    ]);
  });

  it("refuses a wrong password, and a damaged file, with an error instead of garbage", () => {
    const ks = encodePkcs12Keystore({
      privateKeyPkcs8: pkcs8(),
      certificates: [raw(leaf.certPem)],
      password: "right",
    });
    expect(() => decodePkcs12(ks, "wrong")).toThrow("PKCS#12 MAC mismatch: wrong password");
    const damaged = Buffer.from(ks);
    damaged[damaged.length - 40] = (damaged[damaged.length - 40] ?? 0) ^ 0xff;
    expect(() => decodePkcs12(damaged, "right")).toThrow();
    expect(() => decodePkcs12(Buffer.from("not der"), "right")).toThrow(/malformed DER/);
  });

  it("opens an empty-password file that OpenSSL wrote", () => {
    const r = spawnSync("openssl", [
      "pkcs12",
      "-export",
      "-inkey",
      join(dir, "key.pem"),
      "-in",
      join(dir, "cert.pem"),
      "-passout",
      "pass:",
    ]);
    expect(r.status).toBe(0);
    const decoded = decodePkcs12(r.stdout, "");
    expect(decoded.bags.filter((b) => b.kind === "certificate")).toHaveLength(1);
  });

  it("refuses a password PKCS#12 cannot encode with the reason InvalidKeystorePassword", () => {
    let caught: unknown;
    try {
      encodePkcs12Keystore({
        privateKeyPkcs8: pkcs8(),
        certificates: [raw(leaf.certPem)],
        password: "emoji 🔑",
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TerminalError);
    expect((caught as TerminalError).reason).toBe("InvalidKeystorePassword");
  });
});
