import { randomBytes, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "@jest/globals";
import { TemporaryError, TerminalError } from "../errors.js";
import { ariCertId, toRenewalInfo } from "./ari.js";
import { fakeCertId } from "./testing.js";

const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** A self-signed certificate with exactly this serial (DER content bytes, hex) and AKI key ID. */
async function certWith(serialHex: string, akiHex: string | undefined): Promise<string> {
  const keys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialHex,
      name: "CN=ari test",
      notBefore: new Date("2026-01-01T00:00:00Z"),
      notAfter: new Date("2026-04-01T00:00:00Z"),
      keys,
      signingAlgorithm: alg,
      extensions: akiHex ? [new x509.AuthorityKeyIdentifierExtension(akiHex)] : [],
    },
    webcrypto,
  );
  return cert.toString("pem");
}

describe("ariCertId", () => {
  it("reproduces RFC 9773's example, whose serial needs a leading zero byte in DER", async () => {
    const pem = await certWith("0087654321", "69885B6B87464041E1B37B847BA0AE2CDE01C8D4");
    expect(ariCertId(pem)).toBe("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
  });

  it("adds no zero byte to a serial whose top bit is clear", async () => {
    const pem = await certWith("01020304", "0a0b");
    expect(ariCertId(pem)).toBe(`${Buffer.from("0a0b", "hex").toString("base64url")}.AQIDBA`);
  });

  it("agrees with a plain DER reading of the serial for random serials of every shape", async () => {
    for (let i = 0; i < 24; i++) {
      const magnitude = randomBytes(1 + (i % 20));
      // Even rounds: top bit set, so DER needs a zero byte in front; odd rounds: top bit clear.
      const top = i % 2 === 0 ? (magnitude[0] ?? 0) | 0x80 : ((magnitude[0] ?? 0) & 0x7f) | 0x01;
      magnitude[0] = top;
      const content = top >= 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : magnitude;
      const pem = await certWith(content.toString("hex"), randomBytes(20).toString("hex"));
      expect(ariCertId(pem)).toBe(fakeCertId(pem));
    }
  });

  it("names the leaf when given a whole chain", async () => {
    const leaf = await certWith("11", "aa");
    const other = await certWith("22", "bb");
    expect(ariCertId(leaf + other)).toBe(ariCertId(leaf));
  });

  it("refuses a certificate without an Authority Key Identifier, and text that is no certificate", async () => {
    const bare = await certWith("05", undefined);
    expect(() => ariCertId(bare)).toThrow(expect.objectContaining({ reason: "NoAuthorityKeyIdentifier" }));
    expect(() => ariCertId("not a certificate")).toThrow(TerminalError);
  });
});

describe("toRenewalInfo", () => {
  const url = "https://ca/renewalInfo/x.y";

  it("reads the window, the explanation URL and the Retry-After", () => {
    const info = toRenewalInfo(
      {
        suggestedWindow: { start: "2026-03-01T00:00:00Z", end: "2026-03-03T00:00:00Z" },
        explanationURL: "https://ca/incident",
      },
      url,
      21_600_000,
    );
    expect(info).toEqual({
      suggestedWindow: { start: new Date("2026-03-01T00:00:00Z"), end: new Date("2026-03-03T00:00:00Z") },
      explanationURL: "https://ca/incident",
      retryAfterMs: 21_600_000,
    });
  });

  it.each<[string, unknown]>([
    ["a body that is no object", "hello"],
    ["no window", {}],
    ["an unparsable start", { suggestedWindow: { start: "soon", end: "2026-03-03T00:00:00Z" } }],
    [
      "a window that ends before it starts",
      { suggestedWindow: { start: "2026-03-03T00:00:00Z", end: "2026-03-01T00:00:00Z" } },
    ],
    ["an empty window", { suggestedWindow: { start: "2026-03-03T00:00:00Z", end: "2026-03-03T00:00:00Z" } }],
  ])("treats %s as a temporary failure naming the URL", (_what, body) => {
    let err: unknown;
    try {
      toRenewalInfo(body, url, 60_000);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err).toMatchObject({ retryAfterMs: 60_000 });
    expect((err as Error).message).toContain(url);
  });
});
