import type { Logger } from "../log.js";

/** One TXT value at one name: what a DNS-01 challenge asks for. Providers find records by this, never by an ID. */
export interface TxtRecord {
  /** Fully qualified record name with a trailing dot, e.g. `_acme-challenge.example.test.` */
  readonly fqdn: string;
  /** The zone apex that holds the record, with a trailing dot, e.g. `example.test.` */
  readonly zone: string;
  /** The TXT value (the base64url key-authorization digest). */
  readonly value: string;
  /** The challenge's DNS name without `*.` (spec.dnsName); providers that key by domain use it. */
  readonly domain?: string | undefined;
}

/** Everything a provider call may use besides the record. */
export interface SolverContext {
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/**
 * The DNS-01 provider contract. Both calls are idempotent: presenting a value that is already
 * there, or cleaning up one that is gone, succeeds. Neither call touches any other value at the
 * same name (apex and wildcard authorizations share `_acme-challenge.<domain>`).
 */
export interface Dns01Solver {
  present(record: TxtRecord, ctx: SolverContext): Promise<void>;
  cleanUp(record: TxtRecord, ctx: SolverContext): Promise<void>;
}

export { TemporaryError, TerminalError } from "../errors.js";
