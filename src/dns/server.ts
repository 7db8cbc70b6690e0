import { isIP } from "node:net";

/** A DNS server's address: an IP literal or a host name (without brackets), and a port. */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

/** The port DNS servers listen on unless told otherwise. */
export const DEFAULT_DNS_PORT = 53;

const HOSTNAME =
  /^(?=.{1,253}\.?$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/**
 * Parses a server address the way cert-manager's `nameserver` field is written: `host`, `host:port`,
 * `[v6]`, `[v6]:port` (a bare IPv6 literal is accepted too). The port defaults to 53. Throws an Error
 * whose message says what is wrong; callers wrap it in the error kind they need.
 */
export function parseServer(spec: string, defaultPort = DEFAULT_DNS_PORT): ServerAddress {
  const s = spec.trim();
  if (s === "") throw new Error("DNS server address is empty");
  let host: string;
  let portText: string | undefined;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0) throw new Error(`DNS server address "${spec}" has an unclosed "["`);
    host = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) {
      throw new Error(`DNS server address "${spec}" has text after "]" that is not ":port"`);
    }
    portText = rest.slice(1);
    if (isIP(host) !== 6) throw new Error(`DNS server address "${spec}": "${host}" is not an IPv6 address`);
  } else if (isIP(s) === 6) {
    host = s;
  } else {
    const colon = s.lastIndexOf(":");
    if (colon >= 0 && s.indexOf(":") !== colon) {
      throw new Error(`DNS server address "${spec}": write an IPv6 address with a port as [address]:port`);
    }
    host = colon >= 0 ? s.slice(0, colon) : s;
    portText = colon >= 0 ? s.slice(colon + 1) : undefined;
    if (host === "") throw new Error(`DNS server address "${spec}" has no host`);
    if (isIP(host) === 0 && !HOSTNAME.test(host)) {
      throw new Error(`DNS server address "${spec}": "${host}" is neither an IP address nor a host name`);
    }
  }
  let port = defaultPort;
  if (portText !== undefined && portText !== "") {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new Error(`DNS server address "${spec}": port "${portText}" is not a number from 1 to 65535`);
    }
    port = Number(portText);
  }
  return { host, port };
}

/** Formats an address as `host:port`, bracketing IPv6 literals: the inverse of {@link parseServer}. */
export function formatServer(server: ServerAddress): string {
  return isIP(server.host) === 6 ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
}
