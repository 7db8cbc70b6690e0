import { spawnSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { decodeJks, encodeJks } from "./jks.js";
import { createTestCa } from "./testing.js";

let dir: string;
let caDer: Buffer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "pki-jks-"));
  caDer = new X509Certificate((await createTestCa({ commonName: "JKS Test CA" })).certPem).raw;
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function keytool(args: string[]): string {
  const r = spawnSync("keytool", args, { encoding: "utf8" });
  if (r.error) throw new Error(`keytool could not be run (is a JDK installed?): ${r.error.message}`);
  expect(r.stdout + r.stderr).not.toMatch(/keytool error/);
  expect(r.status).toBe(0);
  return r.stdout + r.stderr;
}

describe("decodeJks", () => {
  it("reads a JKS file that keytool wrote: the key entry with its chain and a trusted certificate", () => {
    const file = join(dir, "keytool.jks");
    const common = ["-keystore", file, "-storetype", "JKS", "-storepass", "pässwort", "-keypass", "pässwort"];
    keytool([
      "-genkeypair",
      "-alias",
      "Server-Ä",
      "-keyalg",
      "EC",
      "-dname",
      "CN=keytool.example",
      ...common,
    ]);
    keytool(["-exportcert", "-alias", "Server-Ä", "-file", join(dir, "server.der"), ...common.slice(0, 6)]);
    keytool([
      "-importcert",
      "-noprompt",
      "-alias",
      "anchor",
      "-file",
      join(dir, "server.der"),
      ...common.slice(0, 6),
    ]);

    const entries = decodeJks(readFileSync(file), "pässwort");
    expect(entries.map((e) => [e.kind, e.alias])).toEqual(
      expect.arrayContaining([
        ["privateKey", "server-ä"],
        ["trustedCertificate", "anchor"],
      ]),
    );
    const key = entries.find((e) => e.kind === "privateKey");
    if (key?.kind !== "privateKey") throw new Error("no key entry");
    expect(
      createPrivateKey({ key: key.privateKeyPkcs8, format: "der", type: "pkcs8" }).asymmetricKeyType,
    ).toBe("ec");
    expect(key.chain).toEqual([readFileSync(join(dir, "server.der"))]);
  });

  it("refuses a wrong password and a damaged or truncated file", () => {
    const entries = [
      { kind: "trustedCertificate" as const, alias: "ca", certificate: Buffer.from([1, 2, 3]) },
    ];
    const file = encodeJks(entries, "right");
    expect(decodeJks(file, "right").map((e) => e.alias)).toEqual(["ca"]);
    expect(() => decodeJks(file, "wrong")).toThrow(/integrity check failed/);
    const damaged = Buffer.from(file);
    damaged[20] = (damaged[20] ?? 0) ^ 1;
    expect(() => decodeJks(damaged, "right")).toThrow(/integrity check failed/);
    expect(() => decodeJks(file.subarray(0, 10), "right")).toThrow(/too short/);
  });
});

describe("encodeJks", () => {
  it("writes aliases lower-cased in Java's modified UTF-8, which keytool lists as written", () => {
    const file = join(dir, "ours.jks");
    writeFileSync(
      file,
      encodeJks([{ kind: "trustedCertificate", alias: "Zertifikat-Ä-€", certificate: caDer }], "pw"),
    );
    const listing = keytool(["-list", "-v", "-keystore", file, "-storetype", "JKS", "-storepass", "pw"]);
    expect(listing).toContain("Alias name: zertifikat-ä-€");
    expect(listing).toContain("Entry type: trustedCertEntry");
    expect(listing).toContain("Owner: CN=JKS Test CA");
  });
});
