/**
 * ACME Renewal Information (RFC 9773): how a certificate is named to the CA, and the answer's
 * shape. Fetching it is `AcmeClient.getRenewalInfo`.
 */
import * as x509 from "@peculiar/x509";
import { TemporaryError, TerminalError } from "../errors.js";

/** The CA's suggestion for when to renew one certificate. */
export interface RenewalInfo {
  /** Renew at a random time inside this window (RFC 9773 section 4.2). */
  readonly suggestedWindow: { readonly start: Date; readonly end: Date };
  /** A page where the CA explains the window, e.g. an incident report before a mass revocation. */
  readonly explanationURL?: string | undefined;
  /** When to ask again, from the answer's Retry-After; undefined when the CA sent none. */
  readonly retryAfterMs?: number | undefined;
}

/**
 * The RFC 9773 section 4.1 certificate identifier of a PEM certificate (the first one, when a
 * chain is given): base64url(AKI keyIdentifier) "." base64url(serial's DER INTEGER content
 * bytes). Throws a TerminalError when the certificate cannot be read or has no Authority Key
 * Identifier, without which a CA cannot be asked about it.
 */
export function ariCertId(certPem: string): string {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(firstPemBlock(certPem));
  } catch (err) {
    throw new TerminalError(
      `cannot read the certificate to name it for ARI: ${(err as Error).message}`,
      "InvalidCertificate",
      { cause: err },
    );
  }
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  if (!aki?.keyId) {
    throw new TerminalError(
      "the certificate has no Authority Key Identifier key ID, which ARI needs to name it",
      "NoAuthorityKeyIdentifier",
    );
  }
  return `${Buffer.from(aki.keyId, "hex").toString("base64url")}.${serialContent(cert.serialNumber).toString("base64url")}`;
}

/**
 * The DER content bytes of a positive INTEGER given as the magnitude in hex, which is what
 * @peculiar/x509 reports (it drops the sign byte). RFC 5280 section 4.1.2.2 makes serials
 * positive, and DER's minimal encoding of a positive integer is its magnitude with one 0x00 in
 * front exactly when the top bit is set: RFC 9773's example serial 0x87654321 becomes `AIdlQyE`.
 */
function serialContent(hex: string): Buffer {
  const magnitude = Buffer.from(hex.length % 2 === 1 ? `0${hex}` : hex, "hex");
  const first = magnitude[0] ?? 0;
  return first >= 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : magnitude;
}

function firstPemBlock(pem: string): string {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(pem);
  return m ? m[0] : pem;
}

/** Validates a renewalInfo answer body. A malformed one is a TemporaryError (the CA may fix it). */
export function toRenewalInfo(data: unknown, url: string, retryAfterMs: number | undefined): RenewalInfo {
  const bad = (why: string) =>
    new TemporaryError(`ACME server sent malformed renewal information at ${url}: ${why}`, retryAfterMs);
  if (typeof data !== "object" || data === null) throw bad("not a JSON object");
  const body = data as Record<string, unknown>;
  const window = body["suggestedWindow"];
  if (typeof window !== "object" || window === null) throw bad('no "suggestedWindow"');
  const w = window as Record<string, unknown>;
  const start = typeof w["start"] === "string" ? new Date(w["start"]) : undefined;
  const end = typeof w["end"] === "string" ? new Date(w["end"]) : undefined;
  if (!start || Number.isNaN(start.getTime())) throw bad('"suggestedWindow.start" is not a timestamp');
  if (!end || Number.isNaN(end.getTime())) throw bad('"suggestedWindow.end" is not a timestamp');
  // RFC 9773 section 4.2: a window whose end is not after its start is invalid.
  if (end.getTime() <= start.getTime()) throw bad("the window ends before it starts");
  const explanation = body["explanationURL"];
  return {
    suggestedWindow: { start, end },
    ...(typeof explanation === "string" && explanation !== "" ? { explanationURL: explanation } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}
