import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { describe, expect, it } from "@jest/globals";
import { TerminalError } from "../errors.js";
import {
  encodePrivateKey,
  generatePrivateKey,
  keyEncodingOf,
  keyMatchesSpec,
  normalizeKeySpec,
  parsePrivateKey,
  privateKeyMismatches,
  type KeyAlgorithm,
  type KeyEncoding,
} from "./keys.js";

const PEM_LABEL: Record<KeyAlgorithm, Record<KeyEncoding, string>> = {
  RSA: { PKCS1: "RSA PRIVATE KEY", PKCS8: "PRIVATE KEY" },
  ECDSA: { PKCS1: "EC PRIVATE KEY", PKCS8: "PRIVATE KEY" },
  Ed25519: { PKCS1: "PRIVATE KEY", PKCS8: "PRIVATE KEY" },
};

// RSA 8192 takes several seconds to generate; it gets its own test below.
const cases: [KeyAlgorithm, number, KeyEncoding][] = [
  ["RSA", 2048, "PKCS1"],
  ["RSA", 3072, "PKCS8"],
  ["RSA", 4096, "PKCS1"],
  ["ECDSA", 256, "PKCS1"],
  ["ECDSA", 384, "PKCS8"],
  ["ECDSA", 521, "PKCS1"],
  ["ECDSA", 521, "PKCS8"],
  ["Ed25519", 0, "PKCS1"],
  ["Ed25519", 0, "PKCS8"],
];

function signsAndVerifies(pem: string): boolean {
  const priv = createPrivateKey(pem);
  const data = Buffer.from("the quick brown fox");
  const alg = priv.asymmetricKeyType === "ed25519" ? null : "sha256";
  return verify(alg, data, createPublicKey(priv), sign(alg, data, priv));
}

describe("generatePrivateKey and parsePrivateKey", () => {
  it.each(cases)(
    "round-trips a %s key of size %i (0: none) encoded as %s, with the PEM label cert-manager writes",
    async (algorithm, size, encoding) => {
      const key = await generatePrivateKey({ algorithm, size, encoding });
      expect(key.algorithm).toBe(algorithm);
      expect(key.size).toBe(algorithm === "Ed25519" ? 256 : size);
      expect(key.pem).toContain(`-----BEGIN ${PEM_LABEL[algorithm][encoding]}-----`);
      expect(keyEncodingOf(key.pem)).toBe(algorithm === "Ed25519" ? "PKCS8" : encoding);

      const parsed = parsePrivateKey(key.pem);
      expect(parsed.algorithm).toBe(algorithm);
      expect(parsed.size).toBe(key.size);
      expect(parsed.encoding).toBe(key.encoding);
      expect(parsed.pem).toBe(key.pem);
      expect(signsAndVerifies(parsed.pem)).toBe(true);
      expect(keyMatchesSpec(parsed, { algorithm, size })).toBe(true);
    },
  );

  it("applies cert-manager's defaults: RSA 2048 in PKCS1", async () => {
    const key = await generatePrivateKey();
    expect([key.algorithm, key.size, key.encoding]).toEqual(["RSA", 2048, "PKCS1"]);
    expect(key.pem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
  });

  it("defaults ECDSA to P-256", async () => {
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    expect(key.size).toBe(256);
    expect(key.keyObject.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
  });

  it("generates an RSA 8192 key without blocking the event loop", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const key = await generatePrivateKey({ algorithm: "RSA", size: 8192 });
    clearInterval(timer);
    expect(key.size).toBe(8192);
    expect(parsePrivateKey(key.pem).size).toBe(8192);
    expect(ticks).toBeGreaterThan(0);
  }, 120_000);

  it.each([
    [{ algorithm: "RSA" as const, size: 1024 }],
    [{ algorithm: "RSA" as const, size: 256 }],
    [{ algorithm: "ECDSA" as const, size: 2048 }],
    [{ algorithm: "ECDSA" as const, size: 224 }],
  ])("rejects the invalid spec %j with a TerminalError", async (spec) => {
    await expect(generatePrivateKey(spec)).rejects.toMatchObject({
      name: "TerminalError",
      reason: "InvalidPrivateKeySpec",
    });
  });

  it("re-encodes a parsed key from PKCS1 to PKCS8 and back without changing it", async () => {
    const key = await generatePrivateKey({ algorithm: "ECDSA", size: 384 });
    const pkcs8 = encodePrivateKey(key, "PKCS8");
    expect(pkcs8).toContain("BEGIN PRIVATE KEY");
    const back = encodePrivateKey(parsePrivateKey(pkcs8), "PKCS1");
    expect(back).toBe(key.pem);
  });

  it.each([
    ["garbage", "not a key at all"],
    [
      "a public key",
      createPublicKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey)
        .export({ type: "spki", format: "pem" })
        .toString(),
    ],
    [
      "an encrypted key",
      generateKeyPairSync("rsa", { modulusLength: 2048 })
        .privateKey.export({
          type: "pkcs8",
          format: "pem",
          cipher: "aes-256-cbc",
          passphrase: "secret",
        })
        .toString(),
    ],
    [
      "an X25519 key",
      generateKeyPairSync("x25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    ],
    [
      "an ECDSA key on an unsupported curve",
      generateKeyPairSync("ec", { namedCurve: "secp256k1" })
        .privateKey.export({ type: "sec1", format: "pem" })
        .toString(),
    ],
    ["a truncated PEM", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----\n"],
  ])("refuses %s with reason InvalidPrivateKey", (_what, pem) => {
    let caught: unknown;
    try {
      parsePrivateKey(pem);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TerminalError);
    expect((caught as TerminalError).reason).toBe("InvalidPrivateKey");
  });
});

describe("keyMatchesSpec", () => {
  it("tells which keys an existing Secret may keep under a changed spec", async () => {
    const rsa2048 = await generatePrivateKey({ algorithm: "RSA", size: 2048 });
    const p256 = await generatePrivateKey({ algorithm: "ECDSA", size: 256 });
    const ed = await generatePrivateKey({ algorithm: "Ed25519" });
    const table: [string, Parameters<typeof keyMatchesSpec>[1], boolean][] = [
      ["RSA 2048 vs empty spec (defaults)", {}, true],
      ["RSA 2048 vs RSA", { algorithm: "RSA" }, true],
      ["RSA 2048 vs RSA 4096", { algorithm: "RSA", size: 4096 }, false],
      ["RSA 2048 vs ECDSA", { algorithm: "ECDSA" }, false],
      [
        "RSA 2048 vs RSA 2048 PKCS8 (encoding does not matter)",
        { algorithm: "RSA", size: 2048, encoding: "PKCS8" },
        true,
      ],
    ];
    for (const [what, spec, want] of table)
      expect([what, keyMatchesSpec(rsa2048, spec)]).toEqual([what, want]);
    expect(keyMatchesSpec(p256, { algorithm: "ECDSA" })).toBe(true);
    expect(keyMatchesSpec(p256, { algorithm: "ECDSA", size: 384 })).toBe(false);
    expect(keyMatchesSpec(p256.pem, { algorithm: "ECDSA", size: 256 })).toBe(true);
    expect(keyMatchesSpec(ed.keyObject, { algorithm: "Ed25519", size: 999 })).toBe(true);
    expect(privateKeyMismatches(p256, { algorithm: "ECDSA", size: 521 })).toEqual([
      "private key size is 256, the spec asks for 521",
    ]);
    expect(privateKeyMismatches(ed, {})).toEqual(["private key algorithm is Ed25519, the spec asks for RSA"]);
  });

  it("fills in defaults per algorithm", () => {
    expect(normalizeKeySpec({})).toEqual({ algorithm: "RSA", size: 2048, encoding: "PKCS1" });
    expect(normalizeKeySpec({ algorithm: "ECDSA", encoding: "PKCS8" })).toEqual({
      algorithm: "ECDSA",
      size: 256,
      encoding: "PKCS8",
    });
    expect(normalizeKeySpec({ algorithm: "Ed25519", size: 4096 })).toEqual({
      algorithm: "Ed25519",
      size: 0,
      encoding: "PKCS1",
    });
  });
});
