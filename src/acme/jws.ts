/**
 * The account key and the JWS that RFC 8555 section 6.2 wraps every signed ACME request in. `jose`
 * does the JOSE part (flattened serialisation, ES* signatures as raw r||s, key and algorithm
 * checks, RFC 7638 thumbprints); this file decides what goes into the protected header, which is
 * ACME's part: `jwk` for newAccount, `kid` otherwise, always `nonce` and `url`.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, FlattenedSign, type JWK } from "jose";
import { TerminalError } from "../errors.js";

/** A flattened JWS (RFC 7515 section 7.2.2), the body of every signed ACME request. */
export interface FlattenedJws {
  readonly protected: string;
  readonly payload: string;
  readonly signature: string;
}

/** The JWS algorithms an account key can sign with (RFC 8555 section 6.2: RS256 and ES256 at least). */
export type AccountKeyAlgorithm = "RS256" | "ES256" | "ES384" | "ES512";

const EC_ALGORITHMS: Readonly<Record<string, AccountKeyAlgorithm>> = {
  prime256v1: "ES256",
  secp384r1: "ES384",
  secp521r1: "ES512",
};

/** Who signs: the account's key, named by its JWK (newAccount) or by the account URL. */
export type JwsSigner = { readonly jwk: true } | { readonly kid: string };

/** An ACME account key: signs requests, names itself as a JWK, and computes key authorizations. */
export class AccountKey {
  readonly algorithm: AccountKeyAlgorithm;
  /** The public JWK with only its required members (what `jwk` headers and thumbprints use). */
  readonly jwk: JWK;
  readonly #key: KeyObject;
  #thumbprint: Promise<string> | undefined;

  private constructor(key: KeyObject, algorithm: AccountKeyAlgorithm, jwk: JWK) {
    this.#key = key;
    this.algorithm = algorithm;
    this.jwk = jwk;
  }

  /**
   * Reads a PEM private key (PKCS#1, SEC1 or PKCS#8). Throws a TerminalError with reason
   * `InvalidAccountKey` for anything an ACME CA would not accept: not a key, Ed25519 (which
   * Let's Encrypt and Pebble refuse), an RSA key under 2048 bits or an unknown curve.
   */
  static fromPem(pem: string): AccountKey {
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch (err) {
      throw new TerminalError(
        `the ACME account key is unusable: ${(err as Error).message}`,
        "InvalidAccountKey",
        { cause: err },
      );
    }
    const details = key.asymmetricKeyDetails ?? {};
    let algorithm: AccountKeyAlgorithm | undefined;
    if (key.asymmetricKeyType === "rsa") {
      if ((details.modulusLength ?? 0) < 2048) {
        throw new TerminalError(
          `an RSA ACME account key needs at least 2048 bits, this one has ${details.modulusLength ?? 0}`,
          "InvalidAccountKey",
        );
      }
      algorithm = "RS256";
    } else if (key.asymmetricKeyType === "ec") {
      algorithm = EC_ALGORITHMS[details.namedCurve ?? ""];
      if (!algorithm) {
        throw new TerminalError(
          `an ECDSA ACME account key must use P-256, P-384 or P-521, not ${details.namedCurve ?? "an unknown curve"}`,
          "InvalidAccountKey",
        );
      }
    }
    if (!algorithm) {
      throw new TerminalError(
        `an ACME account key must be RSA or ECDSA, not ${displayType(key.asymmetricKeyType)}`,
        "InvalidAccountKey",
      );
    }
    return new AccountKey(key, algorithm, publicJwk(key));
  }

  /** The RFC 7638 SHA-256 thumbprint of the public key, base64url. */
  thumbprint(): Promise<string> {
    this.#thumbprint ??= calculateJwkThumbprint(this.jwk, "sha256");
    return this.#thumbprint;
  }

  /**
   * The TXT value of a dns-01 challenge (RFC 8555 section 8.4):
   * base64url(SHA-256(token "." thumbprint)).
   */
  async dns01Value(token: string): Promise<string> {
    const keyAuthorization = `${token}.${await this.thumbprint()}`;
    return createHash("sha256").update(keyAuthorization).digest("base64url");
  }

  /**
   * Signs one request. `payload` undefined means POST-as-GET (RFC 8555 section 6.3): the payload
   * is the empty string, not `{}` or `null`.
   */
  async sign(url: string, nonce: string, signer: JwsSigner, payload: unknown): Promise<FlattenedJws> {
    const header = {
      alg: this.algorithm,
      nonce,
      url,
      ...("kid" in signer ? { kid: signer.kid } : { jwk: this.jwk }),
    };
    const bytes = payload === undefined ? new Uint8Array(0) : utf8(JSON.stringify(payload));
    return complete(await new FlattenedSign(bytes).setProtectedHeader(header).sign(this.#key));
  }

  /**
   * The external account binding of a newAccount request (RFC 8555 section 7.3.4): a JWS over
   * this key's public JWK, MACed with HS256 under the CA-issued key and naming the CA's key ID.
   * `hmacKey` is base64url (standard base64 is accepted too, as CAs hand out either).
   */
  async externalAccountBinding(kid: string, hmacKey: string, url: string): Promise<FlattenedJws> {
    const secret = Buffer.from(hmacKey.trim(), "base64url");
    if (secret.length === 0) {
      throw new TerminalError("the external account binding HMAC key is empty", "InvalidEABKey");
    }
    return complete(
      await new FlattenedSign(utf8(JSON.stringify(this.jwk)))
        .setProtectedHeader({ alg: "HS256", kid, url })
        .sign(secret),
    );
  }
}

function publicJwk(key: KeyObject): JWK {
  const full = createPublicKey(key).export({ format: "jwk" });
  const member = (name: "n" | "e" | "crv" | "x" | "y"): string => {
    const v = full[name];
    if (typeof v !== "string") throw new Error(`the account key's JWK has no "${name}"`);
    return v;
  };
  // Only the members RFC 7638 names: no `ext`, `key_ops` or anything a CA could object to.
  return full.kty === "RSA"
    ? { kty: "RSA", n: member("n"), e: member("e") }
    : { kty: "EC", crv: member("crv"), x: member("x"), y: member("y") };
}

/** jose types `protected` as optional (unprotected-only JWS exist); ours always has one. */
function complete(jws: { protected?: string; payload: string; signature: string }): FlattenedJws {
  if (jws.protected === undefined) throw new Error("jose produced a JWS without a protected header");
  return { protected: jws.protected, payload: jws.payload, signature: jws.signature };
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function displayType(type: string | undefined): string {
  if (type === "ed25519") return "Ed25519";
  if (type === "ed448") return "Ed448";
  return type ?? "an unknown key type";
}
