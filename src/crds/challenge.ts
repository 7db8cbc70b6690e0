import { DNS_ZONE, conditions, issuerRef, type KindNames } from "./common.js";
import { acmeSolver } from "./issuer.js";
import { IMMUTABLE_SPEC, acmeState, acmeUrl } from "./order.js";
import { s, type Infer } from "./schema.js";

/** Names of the Challenge kind. */
export const CHALLENGE_NAMES: KindNames = {
  kind: "Challenge",
  listKind: "ChallengeList",
  plural: "challenges",
  singular: "challenge",
  shortNames: ["dchal"],
  categories: ["dns01"],
};

/** A fully qualified DNS name with its trailing dot, as a TXT record name or zone. */
const FQDN = "^([a-zA-Z0-9_]([-a-zA-Z0-9_]{0,61}[a-zA-Z0-9])?\\.)+$";

const challengeSpecSchema = s
  .object({
    url: acmeUrl().describe("URL of the challenge at the ACME server."),
    authorizationURL: acmeUrl().describe("URL of the authorization the challenge belongs to."),
    dnsName: s
      .string({ minLength: 1, maxLength: 253, pattern: DNS_ZONE })
      .describe("The DNS name being validated, without the wildcard prefix."),
    wildcard: s.boolean().describe("Whether the authorization is for *.<dnsName>.").optional(),
    type: s.enum(["DNS-01"]).describe("Challenge type; only DNS-01 exists here."),
    token: s.string({ minLength: 1, maxLength: 256 }).describe("The challenge token."),
    key: s
      .string({ minLength: 1, maxLength: 256 })
      .describe("The TXT value to present: base64url SHA-256 of the key authorization."),
    solver: acmeSolver.describe(
      "A copy of the Issuer's solver chosen for dnsName when the Challenge was made.",
    ),
    issuerRef: issuerRef(),
  })
  .rule(...IMMUTABLE_SPEC)
  .describe("One DNS-01 challenge; written once by the Order controller.");

const challengeStatusSchema = s
  .object({
    processing: s.boolean().describe("Whether the operator is still working on it.").optional(),
    presented: s.boolean().describe("Whether the TXT value may exist in DNS (cleanup is due).").optional(),
    presentedRecord: s
      .object({
        fqdn: s
          .string({ minLength: 1, maxLength: 254, pattern: FQDN })
          .describe("The TXT record name that was written, with a trailing dot, after CNAMEs were followed."),
        zone: s
          .string({ minLength: 1, maxLength: 254, pattern: FQDN })
          .describe("The zone that holds it, with a trailing dot."),
      })
      .describe("Where the TXT value was written, so cleanup never depends on memory or a new lookup.")
      .optional(),
    state: acmeState().describe("State of the challenge at the ACME server.").optional(),
    reason: s
      .string({ maxLength: 32768 })
      .describe("Why the challenge is not yet valid, or failed.")
      .optional(),
    conditions: conditions()
      .describe(
        "`Ready`: True once valid; otherwise False with the state as reason (for kstatus and Argo CD).",
      )
      .optional(),
  })
  .describe("The challenge's progress, written by the operator.");

/** The spec schema of Challenge. */
export const challengeSpec = challengeSpecSchema;
/** The status schema of Challenge. */
export const challengeStatus = challengeStatusSchema;

/** What a Challenge presents and for whom. */
export type ChallengeSpec = Infer<typeof challengeSpecSchema>;
/** The progress of a Challenge. */
export type ChallengeStatus = Infer<typeof challengeStatusSchema>;
/** `status.presentedRecord`: the TXT name and zone that were written. */
export type PresentedRecord = NonNullable<ChallengeStatus["presentedRecord"]>;
