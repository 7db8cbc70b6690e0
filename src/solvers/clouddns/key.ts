/**
 * Checking a Google service-account JSON key before it is used. Only `type: service_account` keys
 * are accepted: google-auth-library would also take `external_account` and other configurations
 * from the same JSON, which can make it read local files or call arbitrary URLs (Google's own
 * warning about externally sourced credentials), and a Secret is exactly such a source.
 */
import { TerminalError } from "../../errors.js";

/** Google's OAuth 2.0 token endpoint, where google-auth-library always exchanges the JWT. */
export const GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";

/** The fields of a service-account key the provider uses. */
export interface ServiceAccountKey {
  readonly clientEmail: string;
  readonly privateKey: string;
  readonly privateKeyId?: string | undefined;
  /** Where the signed JWT is exchanged for an access token (the key's `token_uri`). */
  readonly tokenUri: string;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

function invalid(message: string): TerminalError {
  return new TerminalError(`cloudDNS: serviceAccountSecretRef: ${message}`, "InvalidConfiguration");
}

/**
 * Parses the key's JSON text. Errors name the problem, never any of the key's content (the JSON
 * parser's own message quotes the text, so it is not passed on).
 */
export function parseServiceAccountKey(text: string): ServiceAccountKey {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalid("the Secret key does not hold JSON (expected a service account key file)");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw invalid("the Secret key does not hold a JSON object (expected a service account key file)");
  }
  const o = json as Record<string, unknown>;
  const type = o["type"];
  if (type !== "service_account") {
    throw invalid(
      `only service account keys are accepted (the JSON has type ${typeof type === "string" ? `"${type}"` : "unset"}, ` +
        'expected "service_account")',
    );
  }
  const clientEmail = o["client_email"];
  const privateKey = o["private_key"];
  if (typeof clientEmail !== "string" || clientEmail === "") throw invalid("the key has no client_email");
  if (typeof privateKey !== "string" || !privateKey.includes("PRIVATE KEY")) {
    throw invalid(`the key of ${clientEmail} has no PEM private_key`);
  }
  const tokenUri =
    typeof o["token_uri"] === "string" && o["token_uri"] !== "" ? o["token_uri"] : GOOGLE_TOKEN_URL;
  let url: URL;
  try {
    url = new URL(tokenUri);
  } catch {
    throw invalid(`the token_uri of ${clientEmail} is not a URL`);
  }
  // The signed assertion is a bearer credential for an hour: never send it in clear text, except
  // to a loopback address (an emulator or a local proxy).
  if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK.has(url.hostname))) {
    throw invalid(`the token_uri of ${clientEmail} must be an https URL`);
  }
  const privateKeyId = typeof o["private_key_id"] === "string" ? o["private_key_id"] : undefined;
  return { clientEmail, privateKey, privateKeyId, tokenUri };
}
