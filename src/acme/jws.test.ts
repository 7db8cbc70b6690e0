import { createHmac, createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { describe, expect, it } from "@jest/globals";
import { generatePrivateKey } from "../pki/keys.js";
import { AccountKey, type FlattenedJws } from "./jws.js";

function header(jws: FlattenedJws): Record<string, unknown> {
  return JSON.parse(Buffer.from(jws.protected, "base64url").toString()) as Record<string, unknown>;
}

describe("AccountKey", () => {
  it.each<[string, { algorithm: "RSA" | "ECDSA"; size: number }, string, string, number | undefined]>([
    ["RSA 2048", { algorithm: "RSA", size: 2048 }, "RS256", "sha256", undefined],
    ["P-256", { algorithm: "ECDSA", size: 256 }, "ES256", "sha256", 64],
    ["P-384", { algorithm: "ECDSA", size: 384 }, "ES384", "sha384", 96],
    ["P-521", { algorithm: "ECDSA", size: 521 }, "ES512", "sha512", 132],
  ])(
    "signs with a %s key as %s, with a signature that verifies",
    async (_what, spec, alg, hash, sigBytes) => {
      const pem = (await generatePrivateKey(spec)).pem;
      const key = AccountKey.fromPem(pem);
      expect(key.algorithm).toBe(alg);
      const jws = await key.sign("https://ca/new-order", "nonce-1", { kid: "https://ca/acct/1" }, { a: 1 });
      const signature = Buffer.from(jws.signature, "base64url");
      // ECDSA in JWS is the raw r||s pair (RFC 7518 section 3.4), not a DER SEQUENCE.
      if (sigBytes !== undefined) expect(signature).toHaveLength(sigBytes);
      const ok = verify(
        hash,
        Buffer.from(`${jws.protected}.${jws.payload}`),
        { key: createPublicKey(pem), dsaEncoding: "ieee-p1363" },
        signature,
      );
      expect(ok).toBe(true);
      expect(header(jws)).toEqual({
        alg,
        nonce: "nonce-1",
        url: "https://ca/new-order",
        kid: "https://ca/acct/1",
      });
      expect(JSON.parse(Buffer.from(jws.payload, "base64url").toString())).toEqual({ a: 1 });
    },
  );

  it("names itself by its public JWK alone for newAccount", async () => {
    const key = AccountKey.fromPem((await generatePrivateKey({ algorithm: "ECDSA" })).pem);
    const h = header(await key.sign("https://ca/new-acct", "n", { jwk: true }, {}));
    expect(h["kid"]).toBeUndefined();
    expect(Object.keys(h["jwk"] as object).sort()).toEqual(["crv", "kty", "x", "y"]);
  });

  it("sends an empty payload for POST-as-GET, and {} when told to", async () => {
    const key = AccountKey.fromPem((await generatePrivateKey({ algorithm: "ECDSA" })).pem);
    expect((await key.sign("https://ca/order/1", "n", { kid: "k" }, undefined)).payload).toBe("");
    expect((await key.sign("https://ca/chall/1", "n", { kid: "k" }, {})).payload).toBe(
      Buffer.from("{}").toString("base64url"),
    );
  });

  it("binds an external account with an HS256 MAC over the public JWK, naming the CA's key ID and URL", async () => {
    const key = AccountKey.fromPem((await generatePrivateKey({ algorithm: "RSA" })).pem);
    const hmac = Buffer.from("a very secret hmac key of 32 byt");
    const eab = await key.externalAccountBinding("kid-1", hmac.toString("base64url"), "https://ca/new-acct");
    expect(header(eab)).toEqual({ alg: "HS256", kid: "kid-1", url: "https://ca/new-acct" });
    expect(JSON.parse(Buffer.from(eab.payload, "base64url").toString())).toEqual(key.jwk);
    const mac = createHmac("sha256", hmac).update(`${eab.protected}.${eab.payload}`).digest("base64url");
    expect(eab.signature).toBe(mac);
    // Standard base64 with padding decodes to the same key.
    const again = await key.externalAccountBinding("kid-1", hmac.toString("base64"), "https://ca/new-acct");
    expect(again.signature).toBe(mac);
  });

  it.each<[string, () => string, RegExp]>([
    ["an Ed25519 key", () => pemOf(generateKeyPairSync("ed25519").privateKey), /RSA or ECDSA, not Ed25519/],
    [
      "a 1024-bit RSA key",
      () => pemOf(generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey),
      /at least 2048 bits/,
    ],
    [
      "a secp256k1 key",
      () => pemOf(generateKeyPairSync("ec", { namedCurve: "secp256k1" }).privateKey),
      /P-256, P-384 or P-521/,
    ],
    [
      "text that is no key",
      () => "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
      /unusable/,
    ],
  ])("refuses %s with reason InvalidAccountKey", (_what, make, message) => {
    expect(() => AccountKey.fromPem(make())).toThrow(
      expect.objectContaining({ reason: "InvalidAccountKey", message: expect.stringMatching(message) }),
    );
  });
});

function pemOf(key: { export(o: { type: "pkcs8"; format: "pem" }): string | Buffer }): string {
  return key.export({ type: "pkcs8", format: "pem" }).toString();
}
