/** Node KeyObjects as WebCrypto keys for @peculiar/x509, with cert-manager's choice of signature hash. */
import { webcrypto, type KeyObject } from "node:crypto";
import { TerminalError } from "../errors.js";
import { spkiOf } from "./keys.js";

/** Signature algorithms, spelled as cert-manager's `spec.signatureAlgorithm`. */
export type SignatureAlgorithm =
  | "SHA256WithRSA"
  | "SHA384WithRSA"
  | "SHA512WithRSA"
  | "ECDSAWithSHA256"
  | "ECDSAWithSHA384"
  | "ECDSAWithSHA512"
  | "PureEd25519";

/** A key pair imported into WebCrypto, and the parameters to sign with. */
export interface SigningKey {
  readonly privateKey: webcrypto.CryptoKey;
  readonly publicKey: webcrypto.CryptoKey;
  readonly signParams: webcrypto.RsaHashedImportParams | webcrypto.EcdsaParams | webcrypto.Algorithm;
}

/**
 * Imports a private key for signing. Without `requested`, the hash follows cert-manager: by RSA size
 * (SHA-256 below 3072 bits, SHA-384 below 4096, else SHA-512) or by ECDSA curve. Throws a
 * TerminalError when `requested` does not fit the key type.
 */
export async function importSigningKey(key: KeyObject, requested?: SignatureAlgorithm): Promise<SigningKey> {
  const { importParams, signParams } = signingAlgorithm(key, requested);
  const privateKey = await webcrypto.subtle.importKey(
    "pkcs8",
    key.export({ type: "pkcs8", format: "der" }),
    importParams,
    false,
    ["sign"],
  );
  const publicKey = await webcrypto.subtle.importKey("spki", spkiOf(key), importParams, true, ["verify"]);
  return { privateKey, publicKey, signParams };
}

interface SigningAlgorithm {
  importParams: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.Algorithm;
  signParams: webcrypto.RsaHashedImportParams | webcrypto.EcdsaParams | webcrypto.Algorithm;
}

function signingAlgorithm(key: KeyObject, requested: SignatureAlgorithm | undefined): SigningAlgorithm {
  const details = key.asymmetricKeyDetails ?? {};
  const mismatch = () => {
    const want = requested?.startsWith("ECDSA") ? "ECDSA" : requested === "PureEd25519" ? "Ed25519" : "RSA";
    return new TerminalError(
      `signature algorithm ${String(requested)} needs an ${want} key, the key is ${key.asymmetricKeyType ?? "unknown"}`,
      "InvalidCertificateSpec",
    );
  };
  switch (key.asymmetricKeyType) {
    case "rsa": {
      const bits = details.modulusLength ?? 2048;
      const byName: Record<string, string> = {
        SHA256WithRSA: "SHA-256",
        SHA384WithRSA: "SHA-384",
        SHA512WithRSA: "SHA-512",
      };
      if (requested !== undefined && byName[requested] === undefined) throw mismatch();
      const hash = requested
        ? (byName[requested] ?? "SHA-256")
        : bits >= 4096
          ? "SHA-512"
          : bits >= 3072
            ? "SHA-384"
            : "SHA-256";
      const params = { name: "RSASSA-PKCS1-v1_5", hash };
      return { importParams: params, signParams: params };
    }
    case "ec": {
      const curve =
        details.namedCurve === "secp384r1" ? "P-384" : details.namedCurve === "secp521r1" ? "P-521" : "P-256";
      const byName: Record<string, string> = {
        ECDSAWithSHA256: "SHA-256",
        ECDSAWithSHA384: "SHA-384",
        ECDSAWithSHA512: "SHA-512",
      };
      if (requested !== undefined && byName[requested] === undefined) throw mismatch();
      const byCurve: Record<string, string> = { "P-256": "SHA-256", "P-384": "SHA-384", "P-521": "SHA-512" };
      const hash = requested ? (byName[requested] ?? "SHA-256") : (byCurve[curve] ?? "SHA-256");
      return { importParams: { name: "ECDSA", namedCurve: curve }, signParams: { name: "ECDSA", hash } };
    }
    case "ed25519":
      if (requested !== undefined && requested !== "PureEd25519") throw mismatch();
      return { importParams: { name: "Ed25519" }, signParams: { name: "Ed25519" } };
    default:
      throw new TerminalError(
        `cannot sign a CSR with a ${key.asymmetricKeyType ?? "unknown"} key`,
        "InvalidPrivateKey",
      );
  }
}
