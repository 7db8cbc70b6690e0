/**
 * DNS queries against named servers (always `host:port`, since test servers sit on odd ports):
 * TXT lookups for propagation checks, zone discovery, CNAME following and the authoritative
 * servers of a zone. These are the shared helpers around the DNS-01 providers.
 */
import { randomInt } from "node:crypto";
import dnsPacket, { type Answer, type DecodedPacket, type RecordType } from "dns-packet";
import { TemporaryError, TerminalError } from "../errors.js";
import { formatServer, parseServer, type ServerAddress } from "./server.js";
import { exchange, type ExchangeOptions } from "./transport.js";
import { canonicalName, Rcode, rcodeName, validateName } from "./wire.js";

/** Options for every query helper. */
export interface QueryOptions extends ExchangeOptions {
  /** Sets the RD flag. Default true: harmless to an authoritative server, needed by a resolver. */
  readonly recursive?: boolean;
}

/** A decoded answer with names in canonical form (lower case, trailing dot). */
export interface QueryResult {
  /** The server that answered, as `host:port`. */
  readonly server: string;
  readonly rcode: number;
  readonly authoritative: boolean;
  readonly answers: readonly Answer[];
  readonly authorities: readonly Answer[];
  readonly additionals: readonly Answer[];
}

/** The UDP payload size we advertise with EDNS(0): the 2020 DNS flag day's fragment-safe value. */
const EDNS_UDP_SIZE = 1232;

/** CNAME chains longer than this are treated as broken. */
const MAX_CNAME_HOPS = 16;

/** Encodes a query for one name and type, with an EDNS(0) OPT record so that big TXT sets fit UDP. */
export function encodeQuery(
  name: string,
  type: RecordType,
  opts: { id: number; recursive: boolean },
): Buffer {
  return dnsPacket.encode({
    type: "query",
    id: opts.id,
    flags: opts.recursive ? dnsPacket.RECURSION_DESIRED : 0,
    questions: [{ type, name: validateName(name), class: "IN" }],
    additionals: [
      {
        type: "OPT",
        name: ".",
        udpPayloadSize: EDNS_UDP_SIZE,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options: [],
      },
    ],
  });
}

function canonicalize(records: readonly Answer[] | undefined): Answer[] {
  return (records ?? []).map((r) => ({ ...r, name: canonicalName(r.name) }));
}

function toAddress(server: string | ServerAddress): ServerAddress {
  return typeof server === "string" ? parseServer(server) : server;
}

/** Sends one query to one server. Network failures throw TemporaryError; any rcode is returned. */
export async function queryServer(
  server: string | ServerAddress,
  name: string,
  type: RecordType,
  opts: QueryOptions = {},
): Promise<QueryResult> {
  const address = toAddress(server);
  const label = formatServer(address);
  const request = encodeQuery(name, type, { id: randomInt(0, 65536), recursive: opts.recursive ?? true });
  const { response } = await exchange(address, request, opts);
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(response);
  } catch (err) {
    throw new TemporaryError(`DNS server ${label} sent a malformed answer to ${type} ${name}`, undefined, {
      cause: err,
    });
  }
  return {
    server: label,
    rcode: response.readUInt16BE(2) & 0x0f,
    authoritative: packet.flag_aa,
    answers: canonicalize(packet.answers),
    authorities: canonicalize(packet.authorities),
    additionals: canonicalize(packet.additionals),
  };
}

/**
 * Asks the servers in turn, as a stub resolver does: a server that is unreachable, fails
 * (SERVFAIL) or refuses (REFUSED: it does not serve that name) passes the question on to the next.
 * Returns the first other answer; when every server refused, the last refusal. Throws
 * TemporaryError when no server gave either; an abort propagates at once.
 */
export async function query(
  servers: readonly (string | ServerAddress)[],
  name: string,
  type: RecordType,
  opts: QueryOptions = {},
): Promise<QueryResult> {
  if (servers.length === 0) throw new Error("no DNS servers to ask");
  const failures: string[] = [];
  let refused: QueryResult | undefined;
  for (const server of servers) {
    try {
      const result = await queryServer(server, name, type, opts);
      if (result.rcode === Rcode.REFUSED) refused = result;
      else if (result.rcode === Rcode.SERVFAIL) failures.push(`${result.server} answered SERVFAIL`);
      else return result;
    } catch (err) {
      if (opts.signal?.aborted || !(err instanceof TemporaryError)) throw err;
      failures.push(err.message);
    }
  }
  if (refused !== undefined) return refused;
  throw new TemporaryError(`${type} query for ${canonicalName(name)} failed: ${failures.join("; ")}`);
}

/** Follows CNAMEs inside one answer, starting at `name`; returns every owner name on the way. */
function chainInAnswer(answers: readonly Answer[], name: string): Set<string> {
  const names = new Set([canonicalName(name)]);
  for (let hop = 0; hop < MAX_CNAME_HOPS; hop++) {
    const before = names.size;
    for (const a of answers) {
      if (a.type === "CNAME" && names.has(a.name)) names.add(canonicalName(a.data));
    }
    if (names.size === before) break;
  }
  return names;
}

function txtText(data: string | Buffer | (string | Buffer)[]): string {
  const parts = Array.isArray(data) ? data : [data];
  // A value longer than 255 bytes is split into several strings; they make one value together.
  return parts.map((p) => (typeof p === "string" ? p : p.toString("utf8"))).join("");
}

/**
 * The TXT values at `name` as `server` sees them now (following a CNAME within the answer).
 * NXDOMAIN and "no TXT" give []. Any other rcode, or no answer, throws TemporaryError.
 */
export async function queryTxt(
  name: string,
  server: string | ServerAddress,
  opts: QueryOptions = {},
): Promise<string[]> {
  const result = await queryServer(server, name, "TXT", opts);
  if (result.rcode === Rcode.NXDOMAIN) return [];
  if (result.rcode !== Rcode.NOERROR) {
    throw new TemporaryError(
      `TXT query for ${canonicalName(name)} at ${result.server} answered ${rcodeName(result.rcode)}`,
    );
  }
  const owners = chainInAnswer(result.answers, name);
  return result.answers.flatMap((a) => (a.type === "TXT" && owners.has(a.name) ? [txtText(a.data)] : []));
}

/** The names from `fqdn` up to its top-level domain: a.b.c. gives a.b.c., b.c., c. */
function ancestors(fqdn: string): string[] {
  if (canonicalName(fqdn) === ".") return [];
  const labels = canonicalName(fqdn).slice(0, -1).split(".");
  return labels.map((_, i) => `${labels.slice(i).join(".")}.`);
}

/**
 * Finds the apex of the zone that holds `fqdn`: the closest enclosing name whose SOA query is
 * answered with an SOA record owned by that very name. Throws TerminalError `ZoneNotFound` when no
 * level has one, TemporaryError when the servers cannot be reached or fail.
 */
export async function findZone(
  fqdn: string,
  servers: readonly (string | ServerAddress)[],
  opts: QueryOptions = {},
): Promise<string> {
  validateName(fqdn);
  const seen: string[] = [];
  for (const candidate of ancestors(fqdn)) {
    const result = await query(servers, candidate, "SOA", opts);
    if (
      result.rcode === Rcode.NOERROR &&
      result.answers.some((a) => a.type === "SOA" && a.name === candidate)
    ) {
      return candidate;
    }
    // NXDOMAIN, no data, a CNAME, or a server that is not authoritative for this level (REFUSED,
    // NOTAUTH): the apex is further up.
    const moveOn: number[] = [Rcode.NOERROR, Rcode.NXDOMAIN, Rcode.REFUSED, Rcode.NOTAUTH];
    if (!moveOn.includes(result.rcode)) {
      throw new TemporaryError(
        `SOA query for ${candidate} at ${result.server} answered ${rcodeName(result.rcode)}`,
      );
    }
    seen.push(`${candidate} ${result.rcode === Rcode.NOERROR ? "no SOA" : rcodeName(result.rcode)}`);
  }
  throw new TerminalError(
    `no DNS zone holds ${canonicalName(fqdn)}: the servers ${servers.map((s) => formatServer(toAddress(s))).join(", ")} ` +
      `have no SOA record at that name or any parent (${seen.join(", ")})`,
    "ZoneNotFound",
  );
}

/**
 * Follows the CNAME chain that starts at `fqdn` and returns the name at its end (`fqdn` itself when
 * it is not an alias), so that the TXT record is written where the CA will look. Throws
 * TerminalError `CnameLoop` for a loop or an overlong chain.
 */
export async function followCname(
  fqdn: string,
  servers: readonly (string | ServerAddress)[],
  opts: QueryOptions = {},
): Promise<string> {
  let current = validateName(fqdn);
  const visited = new Set([current]);
  for (;;) {
    const result = await query(servers, current, "CNAME", opts);
    if (result.rcode !== Rcode.NOERROR) {
      // NXDOMAIN, or a server that does not serve this name: the chain ends here.
      const endHere: number[] = [Rcode.NXDOMAIN, Rcode.REFUSED, Rcode.NOTAUTH];
      if (endHere.includes(result.rcode)) return current;
      throw new TemporaryError(
        `CNAME query for ${current} at ${result.server} answered ${rcodeName(result.rcode)}`,
      );
    }
    let next: string | undefined;
    for (const a of result.answers) {
      if (a.type === "CNAME" && a.name === current) next = canonicalName(a.data);
    }
    if (next === undefined) return current;
    if (visited.has(next) || visited.size > MAX_CNAME_HOPS) {
      throw new TerminalError(
        `the CNAME chain from ${canonicalName(fqdn)} loops or is longer than ${MAX_CNAME_HOPS} (at ${next})`,
        "CnameLoop",
      );
    }
    visited.add(next);
    current = next;
  }
}

/** Options for {@link lookupAuthoritativeServers}. */
export interface AuthoritativeServerOptions extends QueryOptions {
  /** The port the authoritative servers listen on. Default 53. */
  readonly port?: number;
}

/**
 * The addresses (`host:port`) of the servers named in the zone's NS records, from glue when the
 * answer has it and from A/AAAA queries otherwise. Throws TerminalError `ZoneNotFound` when `zone`
 * has no NS records, TemporaryError when none of the name servers' addresses can be found.
 */
export async function lookupAuthoritativeServers(
  zone: string,
  servers: readonly (string | ServerAddress)[],
  opts: AuthoritativeServerOptions = {},
): Promise<string[]> {
  const apex = validateName(zone);
  const port = opts.port ?? 53;
  const result = await query(servers, apex, "NS", opts);
  const nsNames = [
    ...new Set(
      result.answers.flatMap((a) => (a.type === "NS" && a.name === apex ? [canonicalName(a.data)] : [])),
    ),
  ];
  if (result.rcode === Rcode.NXDOMAIN || (result.rcode === Rcode.NOERROR && nsNames.length === 0)) {
    throw new TerminalError(
      `${apex} is not a DNS zone: ${result.server} has no NS records for it`,
      "ZoneNotFound",
    );
  }
  if (result.rcode !== Rcode.NOERROR) {
    throw new TemporaryError(`NS query for ${apex} at ${result.server} answered ${rcodeName(result.rcode)}`);
  }
  const addresses = new Set<string>();
  const failures: string[] = [];
  for (const ns of nsNames) {
    const glue = result.additionals.filter((a) => (a.type === "A" || a.type === "AAAA") && a.name === ns);
    let found = glue.flatMap((a) => (a.type === "A" || a.type === "AAAA" ? [a.data] : []));
    if (found.length === 0) {
      try {
        found = await addressesOf(ns, servers, opts);
      } catch (err) {
        if (opts.signal?.aborted || !(err instanceof TemporaryError)) throw err;
        failures.push(err.message);
      }
    }
    for (const ip of found) addresses.add(formatServer({ host: ip, port }));
  }
  if (addresses.size === 0) {
    throw new TemporaryError(
      `no address found for the name servers of ${apex} (${nsNames.join(", ")})` +
        (failures.length > 0 ? `: ${failures.join("; ")}` : ""),
    );
  }
  return [...addresses];
}

async function addressesOf(
  host: string,
  servers: readonly (string | ServerAddress)[],
  opts: QueryOptions,
): Promise<string[]> {
  const out: string[] = [];
  for (const type of ["A", "AAAA"] as const) {
    const r = await query(servers, host, type, opts);
    const owners = chainInAnswer(r.answers, host);
    for (const a of r.answers) {
      if ((a.type === "A" || a.type === "AAAA") && owners.has(a.name)) out.push(a.data);
    }
  }
  return out;
}
