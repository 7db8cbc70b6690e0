import { DNS_ZONE, conditions, GO_DURATION, dnsName, issuerRef, type KindNames } from "./common.js";
import { s, type Infer } from "./schema.js";

/** Names of the Order kind. */
export const ORDER_NAMES: KindNames = {
  kind: "Order",
  listKind: "OrderList",
  plural: "orders",
  singular: "order",
  shortNames: ["dorder"],
  categories: ["dns01"],
};

/**
 * States of an ACME order or authorization (RFC 8555 section 7.1.6), plus `errored` for an order
 * or challenge that failed on our side and will not be retried.
 */
export const ACME_STATES = [
  "pending",
  "ready",
  "processing",
  "valid",
  "invalid",
  "expired",
  "errored",
] as const;
/** One ACME state. */
export type AcmeState = (typeof ACME_STATES)[number];

/** The state field shared by Order, its authorizations and Challenge. */
export const acmeState = () => s.enum(ACME_STATES);

/** A URL the ACME server gave us. */
export const acmeUrl = () => s.string({ minLength: 1, maxLength: 2048 });

/** One spec field rule for kinds whose spec is written once, at creation. */
export const IMMUTABLE_SPEC = [
  "self == oldSelf",
  "spec is immutable: delete the object and create a new one",
] as const;

const orderSpecSchema = s
  .object({
    request: s
      .string({ format: "byte", minLength: 1, maxLength: 65536 })
      .describe("The PEM certificate signing request, base64 encoded."),
    issuerRef: issuerRef(),
    commonName: dnsName(64).describe("Common name of the CSR.").optional(),
    dnsNames: s
      .array(dnsName(), { maxItems: 100 })
      .describe("DNS names of the order; one authorization each.")
      .optional(),
    duration: s
      .string({ maxLength: 32, pattern: GO_DURATION })
      .describe("Requested lifetime (sent as notAfter when the issuer enables the duration feature).")
      .optional(),
    profile: s.string({ maxLength: 64 }).describe("ACME certificate profile to request.").optional(),
    replaces: s
      .string({ minLength: 3, maxLength: 512, pattern: "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$" })
      .describe(
        "ARI certificate ID (RFC 9773) of the certificate this order renews, sent as the new order's `replaces`.",
      )
      .optional(),
  })
  .rule(...IMMUTABLE_SPEC)
  .describe("What to order; written once by the Certificate controller.");

const acmeChallenge = s.object({
  url: acmeUrl().describe("URL of the challenge."),
  token: s.string({ minLength: 1, maxLength: 256 }).describe("The challenge token."),
  type: s.string({ minLength: 1, maxLength: 64 }).describe("Challenge type, e.g. dns-01."),
});

const authorization = s.object({
  url: acmeUrl().describe("URL of the authorization."),
  identifier: s
    .string({ maxLength: 253, pattern: DNS_ZONE })
    .describe("The DNS name it authorizes, without the wildcard prefix.")
    .optional(),
  wildcard: s.boolean().describe("Whether it is for the wildcard name *.<identifier>.").optional(),
  initialState: acmeState().describe("State of the authorization when the order was created.").optional(),
  challenges: s
    .array(acmeChallenge, { maxItems: 16 })
    .describe("Challenges the server offered for it.")
    .optional(),
});

const orderStatusSchema = s
  .object({
    url: acmeUrl().describe("URL of the order at the ACME server.").optional(),
    finalizeURL: acmeUrl().describe("URL to finalize the order with the CSR.").optional(),
    authorizations: s
      .array(authorization, { maxItems: 100 })
      .describe("Authorizations of the order, as created.")
      .optional(),
    certificate: s
      .string({ format: "byte" })
      .describe("The issued PEM chain, base64 encoded, once the order is valid.")
      .optional(),
    state: acmeState().describe("State of the order.").optional(),
    reason: s.string({ maxLength: 32768 }).describe("Why the order failed, when it did.").optional(),
    failureTime: s.string({ format: "date-time" }).describe("When the order failed.").optional(),
    retryAfter: s
      .string({ format: "date-time" })
      .describe(
        "While the CA refuses for now (rateLimited, an outage): when the operator asks again; `reason` says why.",
      )
      .optional(),
    replacesRefused: s
      .string({ maxLength: 4096 })
      .describe("Why the CA refused `spec.replaces`; the order was then placed without it.")
      .optional(),
    conditions: conditions()
      .describe(
        "`Ready`: True once valid; otherwise False with the state as reason (for kstatus and Argo CD).",
      )
      .optional(),
  })
  .describe("The order's progress, written by the operator.");

/** The spec schema of Order. */
export const orderSpec = orderSpecSchema;
/** The status schema of Order. */
export const orderStatus = orderStatusSchema;

/** What an Order asks the CA for. */
export type OrderSpec = Infer<typeof orderSpecSchema>;
/** The progress of an Order. */
export type OrderStatus = Infer<typeof orderStatusSchema>;
/** One authorization of an Order. */
export type AcmeAuthorization = Infer<typeof authorization>;
/** One challenge offered for an authorization. */
export type AcmeChallenge = Infer<typeof acmeChallenge>;
