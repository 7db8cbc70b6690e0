/**
 * Sending one DNS message to one server and getting its answer, over UDP (retransmitted, falling
 * back to TCP when the answer is truncated) or TCP. Every socket is closed on every path, and the
 * caller's AbortSignal cancels at once.
 */
import dgram from "node:dgram";
import { lookup } from "node:dns/promises";
import net from "node:net";
import { TemporaryError } from "../errors.js";
import { formatServer, type ServerAddress } from "./server.js";
import { layout, QR_FLAG, TC_FLAG } from "./wire.js";

/** The transport a message goes over. */
export type DnsProtocol = "udp" | "tcp";

/** Options for {@link exchange}. */
export interface ExchangeOptions {
  /** "udp" (default) falls back to TCP when the answer comes back truncated. */
  readonly protocol?: DnsProtocol;
  /** How long to wait for each attempt, in ms. Default 5000. */
  readonly timeoutMs?: number;
  /** UDP retransmissions after the first try. Default 2. TCP is tried once. */
  readonly retries?: number;
  readonly signal?: AbortSignal;
}

/** A raw answer and the transport that carried it. */
export interface ExchangeResult {
  readonly response: Buffer;
  readonly protocol: DnsProtocol;
}

/** Default per-attempt timeout. */
export const DEFAULT_TIMEOUT_MS = 5000;
/** Default number of UDP retransmissions. */
export const DEFAULT_RETRIES = 2;

interface Resolved {
  readonly address: string;
  readonly family: 4 | 6;
  readonly label: string;
}

async function resolveServer(server: ServerAddress, signal: AbortSignal | undefined): Promise<Resolved> {
  const label = formatServer(server);
  const family = net.isIP(server.host);
  if (family === 4 || family === 6) return { address: server.host, family, label };
  // dns.lookup cannot be cancelled; racing it with the signal at least frees the caller.
  try {
    const found = await abortable(lookup(server.host), signal);
    return { address: found.address, family: found.family === 6 ? 6 : 4, label };
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw new TemporaryError(`DNS server ${label}: cannot resolve host name ${server.host}`, undefined, {
      cause: err,
    });
  }
}

/**
 * Rejections must be Errors. An abort reason is passed on as it is (a DOMException "AbortError"
 * by default, which is not an `instanceof Error` in every realm), so callers can tell it apart.
 */
function asError(e: unknown): Error {
  return typeof e === "object" && e !== null ? (e as Error) : new Error(String(e));
}

function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  if (signal.aborted) return Promise.reject(asError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(asError(signal.reason));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(asError(e));
      },
    );
  });
}

/**
 * True when `response` answers `request`: the same ID, the response flag set, and the same
 * question (names compared case-insensitively, as resolvers that randomise case expect).
 */
export function isResponseTo(request: Buffer, response: Buffer): boolean {
  if (response.length < 12 || response.readUInt16BE(0) !== request.readUInt16BE(0)) return false;
  if ((response.readUInt16BE(2) & QR_FLAG) === 0) return false;
  const qdcount = response.readUInt16BE(4);
  // Some error replies (FORMERR, NOTIMP) carry no question; the ID match is all there is then.
  if (qdcount === 0) return true;
  try {
    const reqEnd = layout(request).questionEnd;
    const respEnd = layout(response).questionEnd;
    if (request.readUInt16BE(4) !== qdcount || reqEnd !== respEnd) return false;
    return (
      request.subarray(12, reqEnd).toString("latin1").toLowerCase() ===
      response.subarray(12, respEnd).toString("latin1").toLowerCase()
    );
  } catch {
    return false;
  }
}

function networkError(label: string, proto: DnsProtocol, err: unknown): TemporaryError {
  const code = (err as NodeJS.ErrnoException).code ?? "";
  const hint =
    code === "ECONNREFUSED"
      ? "connection refused: is a DNS server listening there?"
      : code === "EHOSTUNREACH" || code === "ENETUNREACH"
        ? "host unreachable"
        : (err as Error).message;
  return new TemporaryError(`DNS server ${label} over ${proto.toUpperCase()}: ${hint}`, undefined, {
    cause: err,
  });
}

function udpExchange(
  server: Resolved,
  port: number,
  request: Buffer,
  timeoutMs: number,
  retries: number,
  signal: AbortSignal | undefined,
): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const socket = dgram.createSocket(server.family === 6 ? "udp6" : "udp4");
    let timer: NodeJS.Timeout | undefined;
    let attempts = 0;
    let done = false;
    const finish = (err: unknown, response?: Buffer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.close();
      if (response !== undefined) resolve(response);
      else reject(asError(err));
    };
    const onAbort = (): void => {
      finish(signal?.reason);
    };
    const send = (): void => {
      if (done) return;
      attempts++;
      socket.send(request, (err) => {
        if (err) finish(networkError(server.label, "udp", err));
      });
      timer = setTimeout(() => {
        if (attempts > retries) {
          finish(
            new TemporaryError(
              `DNS server ${server.label} did not answer over UDP (${attempts} attempts, ${timeoutMs} ms each)`,
            ),
          );
        } else {
          send();
        }
      }, timeoutMs);
    };
    if (signal?.aborted) {
      done = true;
      socket.close();
      reject(asError(signal.reason));
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    // A connected socket only hears from the server, and hears its ICMP "port unreachable".
    socket.on("error", (err) => {
      finish(networkError(server.label, "udp", err));
    });
    socket.on("message", (msg) => {
      // A late answer to an earlier attempt is as good as any; anything else is ignored.
      if (isResponseTo(request, msg)) finish(undefined, msg);
    });
    socket.connect(port, server.address, send);
  });
}

function tcpExchange(
  server: Resolved,
  port: number,
  request: Buffer,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    if (signal?.aborted) {
      reject(asError(signal.reason));
      return;
    }
    const socket = net.createConnection({ host: server.address, port, family: server.family });
    let received = Buffer.alloc(0);
    let done = false;
    const finish = (err: unknown, response?: Buffer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      if (response !== undefined) resolve(response);
      else reject(asError(err));
    };
    const onAbort = (): void => {
      finish(signal?.reason);
    };
    const timer = setTimeout(() => {
      finish(new TemporaryError(`DNS server ${server.label} did not answer over TCP within ${timeoutMs} ms`));
    }, timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.on("error", (err) => {
      finish(networkError(server.label, "tcp", err));
    });
    socket.on("connect", () => {
      const framed = Buffer.alloc(2 + request.length);
      framed.writeUInt16BE(request.length, 0);
      request.copy(framed, 2);
      socket.write(framed);
    });
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      // Several messages may come on one connection; take the first complete one that is ours.
      while (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        const len = received.readUInt16BE(0);
        const msg = Buffer.from(received.subarray(2, 2 + len));
        received = received.subarray(2 + len);
        if (isResponseTo(request, msg)) {
          finish(undefined, msg);
          return;
        }
      }
    });
    socket.on("end", () => {
      finish(new TemporaryError(`DNS server ${server.label} closed the TCP connection without an answer`));
    });
  });
}

/**
 * Sends `request` (a complete, encoded message) to `server` and returns the first valid answer.
 * Network failures and timeouts throw TemporaryError; an abort throws the signal's reason. The
 * answer's rcode is not looked at: that is the caller's business.
 */
export async function exchange(
  server: ServerAddress,
  request: Buffer,
  opts: ExchangeOptions = {},
): Promise<ExchangeResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retries = opts.retries ?? DEFAULT_RETRIES;
  const resolved = await resolveServer(server, opts.signal);
  if ((opts.protocol ?? "udp") === "tcp") {
    return {
      response: await tcpExchange(resolved, server.port, request, timeoutMs, opts.signal),
      protocol: "tcp",
    };
  }
  const response = await udpExchange(resolved, server.port, request, timeoutMs, retries, opts.signal);
  if ((response.readUInt16BE(2) & TC_FLAG) === 0) return { response, protocol: "udp" };
  return {
    response: await tcpExchange(resolved, server.port, request, timeoutMs, opts.signal),
    protocol: "tcp",
  };
}
