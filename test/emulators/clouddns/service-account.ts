import { generateKeyPairSync, randomBytes } from "node:crypto";

/** A Google service-account JSON key, as `gcloud iam service-accounts keys create` writes it. */
export interface ServiceAccountKey {
  readonly type: "service_account";
  readonly project_id: string;
  readonly private_key_id: string;
  readonly private_key: string;
  readonly client_email: string;
  readonly client_id: string;
  readonly auth_uri: string;
  readonly token_uri: string;
  readonly auth_provider_x509_cert_url: string;
  readonly client_x509_cert_url: string;
  readonly universe_domain: string;
}

/** A generated key and the public half the emulator verifies its JWT assertions with. */
export interface GeneratedServiceAccount {
  readonly key: ServiceAccountKey;
  /** The key file's text, as stored in a Secret. */
  readonly json: string;
  readonly publicKeyPem: string;
}

/**
 * Makes a throwaway service-account key with a real 2048-bit RSA key, whose `token_uri` points at
 * the emulator's token endpoint (a real key holds `https://oauth2.googleapis.com/token` there).
 */
export function generateServiceAccountKey(opts: {
  readonly email: string;
  readonly project: string;
  readonly tokenUri: string;
}): GeneratedServiceAccount {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const key: ServiceAccountKey = {
    type: "service_account",
    project_id: opts.project,
    private_key_id: randomBytes(20).toString("hex"),
    private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    client_email: opts.email,
    client_id: String(100000000000000000000n + BigInt(`0x${randomBytes(8).toString("hex")}`)),
    auth_uri: "https://accounts.google.com/o/oauth2/auth",
    token_uri: opts.tokenUri,
    auth_provider_x509_cert_url: "https://www.googleapis.com/oauth2/v1/certs",
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(opts.email)}`,
    universe_domain: "googleapis.com",
  };
  return {
    key,
    json: JSON.stringify(key, null, 2),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}
