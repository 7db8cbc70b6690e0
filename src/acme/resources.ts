/**
 * ACME resources (RFC 8555 section 7.1) as plain, validated objects keyed by URL, so that a
 * controller can store the URLs in the API server and resume from them after a restart.
 */
import { TemporaryError } from "../errors.js";
import { asProblem, type AcmeProblem } from "./problems.js";

/** An identifier of an order or authorization. */
export interface AcmeIdentifier {
  readonly type: string;
  readonly value: string;
}

/** Order states (RFC 8555 section 7.1.6). */
export type OrderStatus = "pending" | "ready" | "processing" | "valid" | "invalid";
/** Authorization states. */
export type AuthorizationStatus = "pending" | "valid" | "invalid" | "deactivated" | "expired" | "revoked";
/** Challenge states. */
export type ChallengeStatus = "pending" | "processing" | "valid" | "invalid";

/** An account as the CA reports it. */
export interface AcmeAccount {
  readonly url: string;
  readonly status: string;
  readonly contact: readonly string[];
}

/** An order. */
export interface AcmeOrder {
  readonly url: string;
  readonly status: OrderStatus;
  readonly identifiers: readonly AcmeIdentifier[];
  readonly authorizations: readonly string[];
  readonly finalize: string;
  /** Set once the order is valid. */
  readonly certificate?: string | undefined;
  readonly expires?: string | undefined;
  /** Why the order is invalid, when it is. */
  readonly error?: AcmeProblem | undefined;
  /** The ACME profile the CA applied, when it reports one. */
  readonly profile?: string | undefined;
  /** The ARI certID of the certificate this order replaces, as the CA recorded it (RFC 9773). */
  readonly replaces?: string | undefined;
  /** The server's Retry-After on this answer, when it sent one (a polling hint). */
  readonly retryAfterMs?: number | undefined;
}

/** A challenge. */
export interface AcmeChallenge {
  readonly url: string;
  readonly type: string;
  readonly status: ChallengeStatus;
  readonly token: string;
  readonly validated?: string | undefined;
  /** Why validation failed, when it did. */
  readonly error?: AcmeProblem | undefined;
  readonly retryAfterMs?: number | undefined;
}

/** An authorization: for a wildcard name the identifier is the base domain and `wildcard` is true. */
export interface AcmeAuthorization {
  readonly url: string;
  readonly identifier: AcmeIdentifier;
  readonly wildcard: boolean;
  readonly status: AuthorizationStatus;
  readonly expires?: string | undefined;
  readonly challenges: readonly AcmeChallenge[];
  readonly retryAfterMs?: number | undefined;
}

const ORDER_STATES: readonly OrderStatus[] = ["pending", "ready", "processing", "valid", "invalid"];
const AUTHZ_STATES: readonly AuthorizationStatus[] = [
  "pending",
  "valid",
  "invalid",
  "deactivated",
  "expired",
  "revoked",
];
const CHALLENGE_STATES: readonly ChallengeStatus[] = ["pending", "processing", "valid", "invalid"];

type Json = Record<string, unknown>;

function malformed(what: string, url: string, field: string): TemporaryError {
  return new TemporaryError(`ACME server sent a malformed ${what} at ${url}: bad or missing "${field}"`);
}

function obj(data: unknown, what: string, url: string): Json {
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw malformed(what, url, "body");
  return data as Json;
}

function str(o: Json, field: string, what: string, url: string): string {
  const v = o[field];
  if (typeof v !== "string" || v === "") throw malformed(what, url, field);
  return v;
}

function optStr(o: Json, field: string): string | undefined {
  const v = o[field];
  return typeof v === "string" ? v : undefined;
}

function oneOf<T extends string>(
  o: Json,
  field: string,
  allowed: readonly T[],
  what: string,
  url: string,
): T {
  const v = str(o, field, what, url);
  const found = allowed.find((a) => a === v);
  if (found === undefined) throw malformed(what, url, field);
  return found;
}

function identifier(v: unknown, what: string, url: string): AcmeIdentifier {
  const o = obj(v, what, url);
  return { type: str(o, "type", what, url), value: str(o, "value", what, url) };
}

/** Validates an order body. Throws a TemporaryError when the server sent nonsense. */
export function toOrder(url: string, data: unknown, retryAfterMs?: number): AcmeOrder {
  const o = obj(data, "order", url);
  const identifiers = o["identifiers"];
  const authorizations = o["authorizations"];
  if (!Array.isArray(identifiers)) throw malformed("order", url, "identifiers");
  if (!Array.isArray(authorizations) || !authorizations.every((a) => typeof a === "string")) {
    throw malformed("order", url, "authorizations");
  }
  return {
    url,
    status: oneOf(o, "status", ORDER_STATES, "order", url),
    identifiers: identifiers.map((i) => identifier(i, "order", url)),
    authorizations,
    finalize: str(o, "finalize", "order", url),
    certificate: optStr(o, "certificate"),
    expires: optStr(o, "expires"),
    error: asProblem(o["error"]),
    profile: optStr(o, "profile"),
    replaces: optStr(o, "replaces"),
    retryAfterMs,
  };
}

/** Validates a challenge body; `url` is the challenge's own (also in the body). */
export function toChallenge(data: unknown, url?: string, retryAfterMs?: number): AcmeChallenge {
  const where = url ?? "(inline)";
  const o = obj(data, "challenge", where);
  return {
    url: url ?? str(o, "url", "challenge", where),
    type: str(o, "type", "challenge", where),
    status: oneOf(o, "status", CHALLENGE_STATES, "challenge", where),
    // A challenge type without a token (none of ours) still parses; dns-01 always has one.
    token: optStr(o, "token") ?? "",
    validated: optStr(o, "validated"),
    error: asProblem(o["error"]),
    retryAfterMs,
  };
}

/** Validates an authorization body. */
export function toAuthorization(url: string, data: unknown, retryAfterMs?: number): AcmeAuthorization {
  const o = obj(data, "authorization", url);
  const challenges = o["challenges"];
  if (!Array.isArray(challenges)) throw malformed("authorization", url, "challenges");
  return {
    url,
    identifier: identifier(o["identifier"], "authorization", url),
    wildcard: o["wildcard"] === true,
    status: oneOf(o, "status", AUTHZ_STATES, "authorization", url),
    expires: optStr(o, "expires"),
    challenges: challenges.map((c) => toChallenge(c)),
    retryAfterMs,
  };
}

/** The authorization's dns-01 challenge; undefined when the CA offers none for it. */
export function dns01Challenge(authz: AcmeAuthorization): AcmeChallenge | undefined {
  return authz.challenges.find((c) => c.type === "dns-01");
}

/**
 * The record name a dns-01 challenge for this authorization (or domain) is answered at, with a
 * trailing dot: `_acme-challenge.example.test.` for both `example.test` and `*.example.test`.
 */
export function dns01RecordName(authzOrDomain: AcmeAuthorization | string): string {
  const name = typeof authzOrDomain === "string" ? authzOrDomain : authzOrDomain.identifier.value;
  const base = name.replace(/^\*\./, "").replace(/\.$/, "");
  return `_acme-challenge.${base}.`;
}

/** The name an authorization covers as it was ordered: `*.example.test` for a wildcard one. */
export function authorizationDnsName(authz: AcmeAuthorization): string {
  return authz.wildcard ? `*.${authz.identifier.value}` : authz.identifier.value;
}
