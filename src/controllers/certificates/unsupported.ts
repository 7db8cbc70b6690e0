import type { CertificateObj } from "../kinds.js";

/**
 * The fields of cert-manager's v1 Certificate spec that an ACME DNS-01 issuer cannot honour, each
 * named with what to do; undefined when every field set is honoured. Every other field is
 * honoured (see the README). The Certificate shows these as Ready=False, reason UnsupportedField.
 */
export function unsupportedFields(cert: CertificateObj): string | undefined {
  const s = cert.spec;
  const bad: string[] = [];
  if ((s.ipAddresses?.length ?? 0) > 0) bad.push("ipAddresses");
  if ((s.uris?.length ?? 0) > 0) bad.push("uris");
  if ((s.emailAddresses?.length ?? 0) > 0) bad.push("emailAddresses");
  if ((s.otherNames?.length ?? 0) > 0) bad.push("otherNames");
  const messages: string[] = [];
  if (bad.length > 0)
    messages.push(`ACME DNS-01 validates DNS names only; remove ${bad.join(", ")} from the spec`);
  if (s.nameConstraints !== undefined) {
    messages.push("nameConstraints applies to CA certificates, which an ACME CA never issues; remove it");
  }
  if (s.isCA === true) messages.push("isCA must be false: an ACME CA issues leaf certificates only");
  return messages.length > 0 ? messages.join("; ") : undefined;
}

/** The message when the spec asks for outputs that this build cannot write. */
export const OUTPUTS_UNAVAILABLE =
  "additionalOutputFormats and keystores cannot be written by this build of the operator; remove them";
