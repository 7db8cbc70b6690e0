import { createRfc2136Solver } from "../../src/solvers/rfc2136/rfc2136.js";
import { silentLogger } from "../../src/log.js";
import { rigVar } from "../support/rig.js";

/** Where an emulator publishes the TXT records it holds, so that Pebble can validate them. */
export interface DnsBackend {
  add(fqdn: string, zone: string, value: string): Promise<void>;
  remove(fqdn: string, zone: string, value: string): Promise<void>;
}

/**
 * The rig's BIND as an emulator's backend: every TXT value an emulator (Cloudflare, Cloud DNS,
 * ...) stores is written through to BIND with a TSIG-signed update, and removed with it, so e2e
 * issuance through an emulated provider is validated by Pebble for real.
 */
export function bindBackend(): DnsBackend {
  const solver = createRfc2136Solver({
    nameserver: rigVar("DNS_SERVER"),
    tsigKeyName: rigVar("TSIG_KEY_NAME"),
    tsigAlgorithm: rigVar("TSIG_ALGORITHM"),
    tsigSecret: rigVar("TSIG_SECRET"),
  });
  const ctx = () => ({ signal: new AbortController().signal, log: silentLogger() });
  const dot = (n: string) => (n.endsWith(".") ? n : `${n}.`);
  return {
    add: (fqdn, zone, value) => solver.present({ fqdn: dot(fqdn), zone: dot(zone), value }, ctx()),
    remove: (fqdn, zone, value) => solver.cleanUp({ fqdn: dot(fqdn), zone: dot(zone), value }, ctx()),
  };
}

/** A backend that publishes nowhere, for unit tests of an emulator. */
export function noBackend(): DnsBackend {
  return { add: () => Promise.resolve(), remove: () => Promise.resolve() };
}
