import { spawnSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { decodeJks } from "./jks.js";
import { outputsMismatch, renderOutputs, type IssuedMaterial } from "./outputs.js";
import { decodePkcs12, type Pkcs12Profile } from "./pkcs12.js";

// testdata/cert-manager holds keystores written by go-pkcs12 v0.7.4 and keystore-go v4.5.0 as
// cert-manager calls them (see generate.go there), for the key, chain and CA beside them.
const FIXTURES = resolve(import.meta.dirname, "testdata/cert-manager");
const PASSWORD = "changeit";
const PROFILES: Pkcs12Profile[] = ["LegacyRC2", "LegacyDES", "Modern2023"];
const KEYS = ["ecdsa", "rsa"] as const;

const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));
const material = (key: (typeof KEYS)[number]): IssuedMaterial => ({
  chainPem: fixture(`${key}-chain.pem`).toString(),
  privateKeyPem: fixture(`${key}-key.pem`).toString(),
  caPem: fixture("ca.pem").toString(),
});
const ders = (pem: string): Buffer[] =>
  [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map(
    (m) => new X509Certificate(m[0]).raw,
  );

const dir = mkdtempSync(join(tmpdir(), "pki-compat-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// `openssl pkcs12 -info` without the parts that differ by salt: base64 bodies and localKeyID.
function opensslLayout(data: Buffer, profile: Pkcs12Profile): string {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.p12`);
  writeFileSync(file, data);
  const args = ["pkcs12", "-in", file, "-info", "-nodes", "-passin", `pass:${PASSWORD}`];
  const r = spawnSync("openssl", profile === "LegacyRC2" ? [...args, "-legacy"] : args, { encoding: "utf8" });
  if (r.error) throw r.error;
  expect(r.status).toBe(0);
  return `${r.stdout}${r.stderr}`
    .split("\n")
    .filter((l) => !/^[A-Za-z0-9+/=]{20,}$/.test(l) && !l.includes("localKeyID"))
    .join("\n");
}

describe("compatibility with cert-manager's keystores", () => {
  describe.each(KEYS)("for the %s fixture", (key) => {
    const m = material(key);

    it.each(PROFILES)(
      "reads cert-manager's %s keystore.p12: its profile, the key, and the leaf, chain and CA in order",
      (profile) => {
        const decoded = decodePkcs12(fixture(`${key}-keystore-${profile}.p12`), PASSWORD);
        expect(decoded.profile).toBe(profile);
        const keys = decoded.bags.filter((b) => b.kind === "key");
        expect(keys).toHaveLength(1);
        const pkcs8 = keys[0]?.der ?? Buffer.alloc(0);
        expect(
          createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }).equals(
            createPrivateKey(m.privateKeyPem),
          ),
        ).toBe(true);
        const certs = decoded.bags.filter((b) => b.kind === "certificate").map((b) => b.der);
        expect(certs).toEqual([...ders(m.chainPem), ...ders(m.caPem ?? "")]);
      },
    );

    it.each(PROFILES)(
      "writes a %s keystore.p12 and truststore.p12 of exactly cert-manager's layout: same length, same OpenSSL report",
      (profile) => {
        const ours = renderOutputs(m, { pkcs12: { password: PASSWORD, profile } });
        const theirs = fixture(`${key}-keystore-${profile}.p12`);
        const ourKeystore = ours["keystore.p12"] ?? Buffer.alloc(0);
        // Every field that differs between two runs (salts, IVs, ciphertexts, MAC) has a fixed size.
        expect(ourKeystore.length).toBe(theirs.length);
        expect(opensslLayout(ourKeystore, profile)).toBe(opensslLayout(theirs, profile));
        const ourTruststore = ours["truststore.p12"] ?? Buffer.alloc(0);
        const theirTruststore = fixture(`truststore-${profile}.p12`);
        expect(ourTruststore.length).toBe(theirTruststore.length);
        expect(opensslLayout(ourTruststore, profile)).toBe(opensslLayout(theirTruststore, profile));
      },
    );

    it("reads cert-manager's keystore.jks and writes one of the same length and entries", () => {
      const theirs = fixture(`${key}-keystore.jks`);
      const ours = renderOutputs(m, { jks: { password: PASSWORD } })["keystore.jks"] ?? Buffer.alloc(0);
      expect(ours.length).toBe(theirs.length);
      const summary = (file: Buffer) =>
        decodeJks(file, PASSWORD).map((e) =>
          e.kind === "privateKey"
            ? {
                alias: e.alias,
                key: createPrivateKey({ key: e.privateKeyPkcs8, format: "der", type: "pkcs8" }).export({
                  type: "pkcs8",
                  format: "pem",
                }),
                chain: e.chain,
              }
            : { alias: e.alias, certificate: e.certificate },
        );
      const sortByAlias = (xs: { alias: string }[]) => [...xs].sort((a, b) => a.alias.localeCompare(b.alias));
      expect(sortByAlias(summary(ours))).toEqual(sortByAlias(summary(theirs)));
    });

    it.each(PROFILES)(
      "counts a Secret written by cert-manager with the %s profile as current, so a takeover does not rewrite it",
      (profile) => {
        const data = {
          "keystore.p12": fixture(`${key}-keystore-${profile}.p12`),
          "truststore.p12": fixture(`truststore-${profile}.p12`),
          "keystore.jks": fixture(`${key}-keystore.jks`),
          "truststore.jks": fixture("truststore.jks"),
        };
        const o = { pkcs12: { password: PASSWORD, profile }, jks: { password: PASSWORD } };
        expect(outputsMismatch(data, m, o)).toBeUndefined();
        // …and as stale once the profile changes.
        const other = PROFILES.find((p) => p !== profile) ?? "LegacyRC2";
        expect(outputsMismatch(data, m, { ...o, pkcs12: { password: PASSWORD, profile: other } })).toMatch(
          new RegExp(`^keystore.p12 is not written with the ${other} profile`),
        );
      },
    );
  });

  it.each(PROFILES)(
    "reads cert-manager's %s truststore.p12 as a trusted CA named after its subject",
    (profile) => {
      const decoded = decodePkcs12(fixture(`truststore-${profile}.p12`), PASSWORD);
      expect(decoded.profile).toBe(profile);
      expect(decoded.bags).toEqual([
        {
          kind: "certificate",
          der: ders(fixture("ca.pem").toString())[0],
          friendlyName: "CN=Fixture Root CA",
          localKeyId: undefined,
          trusted: true,
        },
      ]);
    },
  );
});
