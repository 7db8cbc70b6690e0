import { afterEach, describe, expect, it } from "@jest/globals";
import { TemporaryError } from "../errors.js";
import { encodeQuery } from "./query.js";
import { parseServer } from "./server.js";
import {
  reply,
  startFakeDnsServer,
  unusedPort,
  type FakeDnsServer,
  type FakeHandler,
} from "./testing/fake-server.js";
import { exchange, isResponseTo } from "./transport.js";
import { TC_FLAG } from "./wire.js";

const servers: FakeDnsServer[] = [];
async function fake(handler: FakeHandler, opts: { tcpByteByByte?: boolean } = {}): Promise<FakeDnsServer> {
  const s = await startFakeDnsServer(handler, opts);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const request = encodeQuery("_acme-challenge.example.test.", "TXT", { id: 0x1234, recursive: false });
const txtAnswer = (req: Buffer): Buffer =>
  reply(req, { answers: [{ type: "TXT", name: "_acme-challenge.example.test", ttl: 60, data: "v" }] });

describe("exchange", () => {
  it("sends a query over UDP and returns the server's answer", async () => {
    const s = await fake((req) => txtAnswer(req));
    const result = await exchange(parseServer(s.address), request);
    expect(result.protocol).toBe("udp");
    expect(result.response.readUInt16BE(0)).toBe(0x1234);
    expect(s.requests.map((r) => r.transport)).toEqual(["udp"]);
  });

  it("retransmits over UDP when an attempt goes unanswered", async () => {
    let calls = 0;
    const s = await fake((req) => (++calls === 1 ? undefined : txtAnswer(req)));
    const result = await exchange(parseServer(s.address), request, { timeoutMs: 100, retries: 2 });
    expect(result.protocol).toBe("udp");
    expect(s.requests).toHaveLength(2);
  });

  it("gives up with a TemporaryError after the first try and every retry time out", async () => {
    const s = await fake(() => undefined);
    const started = Date.now();
    const err = await exchange(parseServer(s.address), request, { timeoutMs: 80, retries: 2 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as Error).message).toMatch(/did not answer over UDP \(3 attempts, 80 ms each\)/);
    expect(s.requests).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 80 - 10);
  });

  it("ignores answers with another ID or another question and waits for the right one", async () => {
    const s = await fake((req) => [
      reply(req, { id: 0x4321 }),
      reply(encodeQuery("other.example.test.", "TXT", { id: 0x1234, recursive: false })),
      request, // a query, not a response
      txtAnswer(req),
    ]);
    const result = await exchange(parseServer(s.address), request, { timeoutMs: 1000 });
    expect(result.response).toEqual(txtAnswer(request));
  });

  it("asks again over TCP when the UDP answer is truncated", async () => {
    const s = await fake((req, transport) =>
      transport === "udp" ? reply(req, { flags: TC_FLAG }) : txtAnswer(req),
    );
    const result = await exchange(parseServer(s.address), request);
    expect(result.protocol).toBe("tcp");
    expect(result.response).toEqual(txtAnswer(request));
    expect(s.requests.map((r) => r.transport)).toEqual(["udp", "tcp"]);
  });

  it("goes straight to TCP when told to, and reassembles an answer that arrives in pieces", async () => {
    const s = await fake((req) => txtAnswer(req), { tcpByteByByte: true });
    const result = await exchange(parseServer(s.address), request, { protocol: "tcp" });
    expect(result.protocol).toBe("tcp");
    expect(result.response).toEqual(txtAnswer(request));
    expect(s.requests.map((r) => r.transport)).toEqual(["tcp"]);
  });

  it("skips a TCP answer that is not ours and takes the next one on the connection", async () => {
    const s = await fake((req) => [reply(req, { id: 1 }), txtAnswer(req)]);
    const result = await exchange(parseServer(s.address), request, { protocol: "tcp" });
    expect(result.response.readUInt16BE(0)).toBe(0x1234);
  });

  it("times out over TCP with a TemporaryError", async () => {
    const s = await fake(() => undefined);
    const err = await exchange(parseServer(s.address), request, { protocol: "tcp", timeoutMs: 100 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as Error).message).toMatch(/did not answer over TCP within 100 ms/);
  });

  it.each(["udp", "tcp"] as const)(
    "fails fast with a TemporaryError when nothing listens on the port (%s)",
    async (protocol) => {
      const port = await unusedPort();
      const started = Date.now();
      const err = await exchange({ host: "127.0.0.1", port }, request, { protocol, timeoutMs: 3000 }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TemporaryError);
      expect((err as Error).message).toMatch(/connection refused/);
      expect(Date.now() - started).toBeLessThan(2000);
    },
  );

  it.each(["udp", "tcp"] as const)("stops waiting at once when the signal aborts (%s)", async (protocol) => {
    const s = await fake(() => undefined);
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => {
      controller.abort();
    }, 50);
    const err = await exchange(parseServer(s.address), request, {
      protocol,
      timeoutMs: 5000,
      signal: controller.signal,
    }).catch((e: unknown) => e);
    expect(err).toBe(controller.signal.reason);
    expect((err as Error).name).toBe("AbortError");
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("sends nothing when the signal is already aborted", async () => {
    const s = await fake((req) => txtAnswer(req));
    const err = await exchange(parseServer(s.address), request, { signal: AbortSignal.abort() }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).name).toBe("AbortError");
    await new Promise((r) => setTimeout(r, 50));
    expect(s.requests).toHaveLength(0);
  });
});

describe("isResponseTo", () => {
  it("matches the question case-insensitively, since some resolvers randomise case", () => {
    const upper = encodeQuery("_ACME-Challenge.Example.TEST.", "TXT", { id: 0x1234, recursive: false });
    expect(isResponseTo(request, reply(upper))).toBe(true);
  });

  it("rejects queries, other IDs, other types and short datagrams", () => {
    expect(isResponseTo(request, request)).toBe(false);
    expect(isResponseTo(request, reply(request, { id: 7 }))).toBe(false);
    expect(
      isResponseTo(
        request,
        reply(encodeQuery("_acme-challenge.example.test.", "A", { id: 0x1234, recursive: false })),
      ),
    ).toBe(false);
    expect(isResponseTo(request, Buffer.from("1234", "hex"))).toBe(false);
  });

  it("accepts an error answer without a question section when the ID matches", () => {
    const bare = Buffer.alloc(12);
    bare.writeUInt16BE(0x1234, 0);
    bare.writeUInt16BE(0x8001, 2); // QR, FORMERR
    expect(isResponseTo(request, bare)).toBe(true);
  });
});
