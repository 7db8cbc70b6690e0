/**
 * What dns01ctl asks live DNS: where a challenge's TXT value goes (the dispatcher's zone discovery
 * and CNAME following, exactly as the operator does it), which servers the CA's view depends on
 * (the zone's authoritative servers, or the recursive ones with `--dns01-recursive-nameservers-only`),
 * and what each of them answers right now. Unlike the dispatcher's propagation check, which only
 * says yes or no, this keeps every server's answer, because that is what a person debugging wants.
 */
import dns from "node:dns";
import { TemporaryError } from "../errors.js";
import { lookupAuthoritativeServers, queryTxt } from "../dns/query.js";
import { formatServer, parseServer, type ServerAddress } from "../dns/server.js";
import { silentLogger } from "../log.js";
import { Dns01Dispatcher, type ChallengeRecord } from "../solvers/dispatcher.js";
import { UsageError, boolFlag, stringFlag, type ParsedCommandLine } from "./args.js";

/** One server's answer for one TXT name. */
export type ServerAnswer =
  | { readonly server: string; readonly values: readonly string[] }
  | { readonly server: string; readonly error: string };

/** The DNS settings of a command, from the same flags as the operator's. */
export interface DnsViewOptions {
  readonly recursiveNameservers: readonly string[];
  readonly recursiveNameserversOnly: boolean;
  readonly authoritativePort: number;
}

/** Reads the DNS flags; throws UsageError for a bad value. */
export function dnsViewOptions(cl: ParsedCommandLine): DnsViewOptions {
  const list = (stringFlag(cl, "dns01-recursive-nameservers") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const only = boolFlag(cl, "dns01-recursive-nameservers-only");
  if (only && list.length === 0) {
    throw new UsageError(
      "--dns01-recursive-nameservers-only needs --dns01-recursive-nameservers",
      cl.command,
    );
  }
  const portText = stringFlag(cl, "dns01-authoritative-port") ?? "53";
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new UsageError(`--dns01-authoritative-port must be a port number, not "${portText}"`, cl.command);
  }
  for (const spec of list) {
    try {
      parseServer(spec);
    } catch (err) {
      throw new UsageError(`--dns01-recursive-nameservers: ${(err as Error).message}`, cl.command);
    }
  }
  return { recursiveNameservers: list, recursiveNameserversOnly: only, authoritativePort: port };
}

/** Live DNS as the operator sees it, with every server's answer kept. */
export class DnsView {
  /** The operator's dispatcher, for zone discovery and CNAME following. */
  readonly dispatcher: Dns01Dispatcher;
  private readonly servers = new Map<string, Promise<readonly string[]>>();

  constructor(private readonly opts: DnsViewOptions) {
    this.dispatcher = new Dns01Dispatcher({
      recursiveNameservers: opts.recursiveNameservers,
      recursiveNameserversOnly: opts.recursiveNameserversOnly,
      authoritativePort: opts.authoritativePort,
      log: silentLogger(),
    });
  }

  /** The kind of servers `serversFor` returns, for headings. */
  get serverKind(): "authoritative" | "recursive" {
    return this.opts.recursiveNameserversOnly ? "recursive" : "authoritative";
  }

  /**
   * Where the CA looks for the value of `dnsName`: `_acme-challenge.<name>` at the end of any CNAME
   * chain, and the zone that holds it. The dispatcher's propagation check follows a CNAME there
   * whatever cnameStrategy says, so this does too.
   */
  checkedRecord(dnsName: string, signal?: AbortSignal): Promise<ChallengeRecord> {
    return this.dispatcher.resolveRecord(dnsName, "Follow", signal);
  }

  /** The servers whose answers count for `zone`: its authoritative servers, or the recursive ones. */
  serversFor(zone: string, signal?: AbortSignal): Promise<readonly string[]> {
    if (this.opts.recursiveNameserversOnly) {
      return Promise.resolve(this.opts.recursiveNameservers.map((s) => formatServer(parseServer(s))));
    }
    let found = this.servers.get(zone);
    if (found === undefined) {
      found = lookupAuthoritativeServers(zone, this.recursive(), {
        port: this.opts.authoritativePort,
        ...(signal ? { signal } : {}),
      });
      this.servers.set(zone, found);
      // A failed lookup is not kept: the next call asks again.
      found.catch(() => this.servers.delete(zone));
    }
    return found;
  }

  /** Each server's TXT values at `fqdn` right now (RD off for authoritative servers). */
  async answers(fqdn: string, servers: readonly string[], signal?: AbortSignal): Promise<ServerAnswer[]> {
    const recursive = this.opts.recursiveNameserversOnly;
    return Promise.all(
      servers.map(async (server): Promise<ServerAnswer> => {
        try {
          const values = await queryTxt(fqdn, server, {
            recursive,
            timeoutMs: 2000,
            retries: 1,
            ...(signal ? { signal } : {}),
          });
          return { server, values };
        } catch (err) {
          if (signal?.aborted === true) throw err;
          return { server, error: (err as Error).message };
        }
      }),
    );
  }

  private recursive(): ServerAddress[] {
    const specs =
      this.opts.recursiveNameservers.length > 0 ? this.opts.recursiveNameservers : dns.getServers();
    const out: ServerAddress[] = [];
    for (const spec of specs) {
      try {
        out.push(parseServer(spec));
      } catch {
        // A link-local resolver with a zone index, say: the others may do.
      }
    }
    if (out.length === 0) {
      throw new TemporaryError("no recursive DNS resolvers: set --dns01-recursive-nameservers");
    }
    return out;
  }
}
