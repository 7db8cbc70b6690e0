/**
 * A scriptable DNS server on loopback (UDP and TCP on one port) for unit tests of DNS clients:
 * each request goes to a handler that returns the datagrams to answer with (none to stay silent).
 * Not used by the operator itself.
 */
import dgram from "node:dgram";
import net from "node:net";
import dnsPacket, { type Answer } from "dns-packet";

/** The transport a request came over. */
export type FakeTransport = "udp" | "tcp";

/** Decides the answers to one request: zero (silence), one, or several messages. */
export type FakeHandler = (
  request: Buffer,
  transport: FakeTransport,
) => Buffer | readonly Buffer[] | undefined | Promise<Buffer | readonly Buffer[] | undefined>;

/** A running fake server. */
export interface FakeDnsServer {
  /** `127.0.0.1:<port>` */
  readonly address: string;
  readonly port: number;
  /** Every request received, in order, with its transport. */
  readonly requests: { readonly message: Buffer; readonly transport: FakeTransport }[];
  close(): Promise<void>;
}

/** Options for {@link startFakeDnsServer}. */
export interface FakeServerOptions {
  /** Write TCP answers one byte at a time, to exercise stream reassembly. */
  readonly tcpByteByByte?: boolean;
}

function toList(out: Buffer | readonly Buffer[] | undefined): readonly Buffer[] {
  if (out === undefined) return [];
  return Buffer.isBuffer(out) ? [out] : out;
}

async function bindUdp(socket: dgram.Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => {
      socket.off("error", reject);
      resolve(socket.address().port);
    });
  });
}

async function listenTcp(server: net.Server, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const onError = (): void => {
      resolve(false);
    };
    server.once("error", onError);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", onError);
      resolve(true);
    });
  });
}

/** Starts a fake server on a free loopback port that UDP and TCP share. */
export async function startFakeDnsServer(
  handler: FakeHandler,
  opts: FakeServerOptions = {},
): Promise<FakeDnsServer> {
  const requests: { message: Buffer; transport: FakeTransport }[] = [];
  const sockets = new Set<net.Socket>();
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = dgram.createSocket("udp4");
    const port = await bindUdp(udp);
    const tcp = net.createServer((conn) => {
      sockets.add(conn);
      conn.on("close", () => sockets.delete(conn));
      conn.on("error", () => undefined);
      let buf = Buffer.alloc(0);
      conn.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          buf = buf.subarray(2 + msg.length);
          requests.push({ message: msg, transport: "tcp" });
          void Promise.resolve(handler(msg, "tcp")).then((out) => {
            for (const reply of toList(out)) {
              const framed = Buffer.alloc(2 + reply.length);
              framed.writeUInt16BE(reply.length);
              reply.copy(framed, 2);
              if (opts.tcpByteByByte) for (const b of framed) conn.write(Buffer.from([b]));
              else conn.write(framed);
            }
          });
        }
      });
    });
    if (!(await listenTcp(tcp, port))) {
      udp.close();
      continue;
    }
    udp.on("message", (msg, rinfo) => {
      requests.push({ message: msg, transport: "udp" });
      void Promise.resolve(handler(msg, "udp")).then((out) => {
        for (const reply of toList(out)) udp.send(reply, rinfo.port, rinfo.address);
      });
    });
    return {
      address: `127.0.0.1:${port}`,
      port,
      requests,
      close: () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          udp.close(() => {
            tcp.close(() => {
              resolve();
            });
          });
        }),
    };
  }
  throw new Error("no free port for the fake DNS server");
}

/** Options for {@link reply}. */
export interface ReplyOptions {
  readonly rcode?: number;
  /** Extra header flags, e.g. AA or TC. */
  readonly flags?: number;
  readonly answers?: Answer[];
  readonly authorities?: Answer[];
  readonly additionals?: Answer[];
  /** Override the ID (to send a mismatched answer). */
  readonly id?: number;
}

/** Builds an answer to `request`: same ID, opcode and question, QR set, the given rcode and records. */
export function reply(request: Buffer, opts: ReplyOptions = {}): Buffer {
  const decoded = dnsPacket.decode(request);
  const opcodeBits = request.readUInt16BE(2) & 0x7800;
  return dnsPacket.encode({
    type: "response",
    id: opts.id ?? request.readUInt16BE(0),
    flags: opcodeBits | (opts.flags ?? 0) | (opts.rcode ?? 0),
    questions: decoded.questions ?? [],
    answers: opts.answers ?? [],
    authorities: opts.authorities ?? [],
    additionals: opts.additionals ?? [],
  });
}

/** A loopback port with nothing listening on it (UDP or TCP), for "server down" tests. */
export async function unusedPort(): Promise<number> {
  const udp = dgram.createSocket("udp4");
  const port = await bindUdp(udp);
  await new Promise<void>((resolve) => {
    udp.close(() => {
      resolve();
    });
  });
  return port;
}
