import { afterEach, describe, expect, it } from "@jest/globals";
import { TemporaryError, TerminalError } from "../../errors.js";
import { silentLogger } from "../../log.js";
import {
  reply,
  startFakeDnsServer,
  unusedPort,
  type FakeDnsServer,
  type FakeHandler,
} from "../../dns/testing/fake-server.js";
import { extractTsig, signMessage, TsigErrorCode, verifyMessage, type TsigKey } from "../../dns/tsig.js";
import { layout, Rcode, readName, recordClassOffset, TC_FLAG } from "../../dns/wire.js";
import type { SolverContext, TxtRecord } from "../types.js";
import { createRfc2136Solver, type Rfc2136Config } from "./rfc2136.js";

const SECRET = Buffer.alloc(32, 0x5a).toString("base64");
const KEY: TsigKey = { name: "acme-key.", algorithm: "HMACSHA256", secret: Buffer.from(SECRET, "base64") };
const RECORD: TxtRecord = {
  fqdn: "_acme-challenge.www.example.test.",
  zone: "example.test.",
  value: "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0",
};

const ctx = (signal: AbortSignal = new AbortController().signal): SolverContext => ({
  signal,
  log: silentLogger(),
});

const servers: FakeDnsServer[] = [];
async function fake(handler: FakeHandler): Promise<FakeDnsServer> {
  const s = await startFakeDnsServer(handler);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

interface Behaviour {
  readonly rcode?: number;
  /** Answer with this TSIG error instead of a verified signature. */
  readonly tsigError?: number;
  /** Flip a bit of the answer after signing it. */
  readonly tamper?: boolean;
  /** Do not sign the answer. */
  readonly unsigned?: boolean;
  readonly flags?: number;
}

/**
 * Behaves like BIND: checks the request's TSIG with KEY (BADSIG when it does not verify) and signs
 * its answer with the request's MAC; `behave` bends that to produce the failure under test.
 */
function bindLike(behave: (transport: "udp" | "tcp") => Behaviour = () => ({})): FakeHandler {
  return (req, transport) => {
    const b = behave(transport);
    const reqTsig = extractTsig(req);
    if (reqTsig === undefined) return reply(req, { rcode: b.rcode ?? Rcode.REFUSED, flags: b.flags ?? 0 });
    const check = verifyMessage(req, KEY);
    const tsigError = b.tsigError ?? (check.status === "ok" ? 0 : TsigErrorCode.BADSIG);
    const rcode = tsigError !== 0 ? Rcode.NOTAUTH : (b.rcode ?? Rcode.NOERROR);
    const unsignedReply = reply(req, { rcode, flags: b.flags ?? 0 });
    if (b.unsigned) return unsignedReply;
    const { packet } = signMessage(unsignedReply, KEY, { requestMac: reqTsig.mac });
    if (tsigError !== 0) packet.writeUInt16BE(tsigError, packet.length - 4);
    if (b.tamper) packet[2] = (packet[2] ?? 0) ^ 0x04; // sets AA: still a matching answer
    return packet;
  };
}

function config(s: FakeDnsServer, extra: Partial<Rfc2136Config> = {}): Rfc2136Config {
  return {
    nameserver: s.address,
    tsigKeyName: KEY.name,
    tsigAlgorithm: "HMACSHA256",
    tsigSecret: SECRET,
    ...extra,
  };
}

function updateRecordOf(message: Buffer): { name: string; klass: number; ttl: number } {
  const start = layout(message).recordStarts[0]!;
  const { name, next } = readName(message, start);
  return {
    name,
    klass: message.readUInt16BE(recordClassOffset(message, start)),
    ttl: message.readUInt32BE(next + 4),
  };
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  // An abort reason is a DOMException, which is not `instanceof Error` inside Jest's VM context.
  if (typeof err !== "object" || err === null) throw new Error("expected the call to fail");
  return err as Error;
}

/** The status-condition reason of a TerminalError, undefined for anything else. */
function reasonOf(err: unknown): string | undefined {
  return err instanceof TerminalError ? err.reason : undefined;
}

describe("createRfc2136Solver configuration", () => {
  it.each<[string, Rfc2136Config, RegExp]>([
    ["an empty nameserver", { nameserver: "" }, /nameserver: DNS server address is empty/],
    ["a bad port", { nameserver: "127.0.0.1:99999" }, /nameserver: .*port "99999"/],
    [
      "an unknown algorithm",
      { nameserver: "127.0.0.1", tsigAlgorithm: "HMACSHA384" },
      /tsigAlgorithm "HMACSHA384"/,
    ],
    ["an unknown protocol", { nameserver: "127.0.0.1", protocol: "QUIC" }, /protocol "QUIC".*UDP or TCP/],
    [
      "a key name without a secret",
      { nameserver: "127.0.0.1", tsigKeyName: "k." },
      /tsigKeyName "k." is set but/,
    ],
    ["a secret without a key name", { nameserver: "127.0.0.1", tsigSecret: SECRET }, /tsigKeyName is empty/],
    [
      "a secret that is not base64",
      { nameserver: "127.0.0.1", tsigKeyName: "k.", tsigSecret: "s3cr3t!" },
      /base64/,
    ],
    [
      "a key name that is not a name",
      { nameserver: "127.0.0.1", tsigKeyName: "a..b", tsigSecret: SECRET },
      /empty label/,
    ],
    ["a negative TTL", { nameserver: "127.0.0.1", ttl: -1 }, /ttl -1/],
  ])("rejects %s with InvalidConfiguration", (_what, cfg, message) => {
    let err: unknown;
    try {
      createRfc2136Solver(cfg);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TerminalError);
    expect(reasonOf(err)).toBe("InvalidConfiguration");
    expect((err as Error).message).toMatch(/^rfc2136: /);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain("s3cr3t");
  });

  it("signs with HMAC-MD5 when no algorithm is given, as cert-manager does", async () => {
    const s = await fake((req) => reply(req));
    const solver = createRfc2136Solver({ nameserver: s.address, tsigKeyName: "k.", tsigSecret: SECRET });
    await failure(solver.present(RECORD, ctx()));
    expect(extractTsig(s.requests[0]!.message)?.algorithm).toBe("hmac-md5.sig-alg.reg.int.");
  });

  it("accepts cert-manager's algorithm names in any case and the key name without a trailing dot", async () => {
    const s = await fake(bindLike());
    const solver = createRfc2136Solver(config(s, { tsigAlgorithm: "hmacsha256", tsigKeyName: "ACME-KEY" }));
    await solver.present(RECORD, ctx());
    expect(extractTsig(s.requests[0]!.message)?.keyName).toBe("acme-key.");
  });

  it("accepts a secret with the trailing newline a Secret made from a file has", async () => {
    const s = await fake(bindLike());
    await createRfc2136Solver(config(s, { tsigSecret: `${SECRET}\n` })).present(RECORD, ctx());
  });
});

describe("rfc2136 present and cleanUp", () => {
  it("adds the value with one signed update: class IN, TTL 60", async () => {
    const s = await fake(bindLike());
    await createRfc2136Solver(config(s)).present(RECORD, ctx());
    expect(s.requests).toHaveLength(1);
    const sent = s.requests[0]!.message;
    expect(verifyMessage(sent, KEY).status).toBe("ok");
    expect(updateRecordOf(sent)).toEqual({ name: RECORD.fqdn, klass: 1, ttl: 60 });
  });

  it("uses the configured TTL", async () => {
    const s = await fake(bindLike());
    await createRfc2136Solver(config(s, { ttl: 300 })).present(RECORD, ctx());
    expect(updateRecordOf(s.requests[0]!.message).ttl).toBe(300);
  });

  it("deletes only that value on clean-up: class NONE, never the whole RRset", async () => {
    const s = await fake(bindLike());
    await createRfc2136Solver(config(s)).cleanUp(RECORD, ctx());
    expect(updateRecordOf(s.requests[0]!.message)).toEqual({ name: RECORD.fqdn, klass: 254, ttl: 0 });
  });

  it("sends unsigned updates when no key is configured", async () => {
    const s = await fake((req) => reply(req));
    await createRfc2136Solver({ nameserver: s.address }).present(RECORD, ctx());
    expect(extractTsig(s.requests[0]!.message)).toBeUndefined();
  });

  it("goes over TCP when the protocol is TCP", async () => {
    const s = await fake(bindLike());
    await createRfc2136Solver(config(s, { protocol: "TCP" })).present(RECORD, ctx());
    expect(s.requests.map((r) => r.transport)).toEqual(["tcp"]);
  });

  it("repeats the update over TCP when the UDP answer is truncated", async () => {
    const s = await fake(bindLike((t) => (t === "udp" ? { flags: TC_FLAG } : {})));
    await createRfc2136Solver(config(s)).present(RECORD, ctx());
    expect(s.requests.map((r) => r.transport)).toEqual(["udp", "tcp"]);
  });

  it("refuses a record outside its zone without sending anything", async () => {
    const s = await fake(bindLike());
    const err = await failure(
      createRfc2136Solver(config(s)).present({ ...RECORD, fqdn: "_acme-challenge.other.test." }, ctx()),
    );
    expect(err).toBeInstanceOf(TerminalError);
    expect(reasonOf(err)).toBe("InvalidRecord");
    expect(s.requests).toHaveLength(0);
  });
});

describe("rfc2136 answers", () => {
  it.each([
    ["BADSIG", TsigErrorCode.BADSIG, /NOTAUTH \(BADSIG\).*check the TSIG secret/],
    ["BADKEY", TsigErrorCode.BADKEY, /NOTAUTH \(BADKEY\).*no key named acme-key\./],
    ["BADTIME", TsigErrorCode.BADTIME, /NOTAUTH \(BADTIME\).*clocks/],
  ])("maps NOTAUTH with TSIG error %s to InvalidCredentials", async (_name, tsigError, message) => {
    const s = await fake(bindLike(() => ({ tsigError })));
    const err = await failure(createRfc2136Solver(config(s)).present(RECORD, ctx()));
    expect(err).toBeInstanceOf(TerminalError);
    expect(reasonOf(err)).toBe("InvalidCredentials");
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain(SECRET);
  });

  it("reports a wrong secret as NOTAUTH (BADSIG) when the server cannot verify the request", async () => {
    const s = await fake(bindLike());
    const wrong = Buffer.alloc(32, 1).toString("base64");
    const err = await failure(createRfc2136Solver(config(s, { tsigSecret: wrong })).present(RECORD, ctx()));
    expect(reasonOf(err)).toBe("InvalidCredentials");
    expect(err.message).toContain("NOTAUTH (BADSIG)");
  });

  it.each([
    ["NOTZONE", Rcode.NOTZONE],
    ["NOTAUTH", Rcode.NOTAUTH],
    ["NXDOMAIN", Rcode.NXDOMAIN],
  ])("maps %s without a TSIG error to ZoneNotFound", async (name, rcode) => {
    const s = await fake(bindLike(() => ({ rcode })));
    const err = await failure(createRfc2136Solver(config(s)).present(RECORD, ctx()));
    expect(reasonOf(err)).toBe("ZoneNotFound");
    expect(err.message).toContain(`answered ${name}`);
    expect(err.message).toContain("zone example.test.");
  });

  it("maps REFUSED of an unsigned update to UpdateRefused, telling to configure a key", async () => {
    const s = await fake(bindLike());
    const err = await failure(createRfc2136Solver({ nameserver: s.address }).present(RECORD, ctx()));
    expect(err).toBeInstanceOf(TerminalError);
    expect(reasonOf(err)).toBe("UpdateRefused");
    expect(err.message).toMatch(/REFUSED: it does not accept unsigned updates/);
  });

  it("maps REFUSED of a signed update to UpdateRefused, naming the key", async () => {
    const s = await fake(bindLike(() => ({ rcode: Rcode.REFUSED })));
    const err = await failure(createRfc2136Solver(config(s)).present(RECORD, ctx()));
    expect(reasonOf(err)).toBe("UpdateRefused");
    expect(err.message).toContain("does not let key acme-key. change _acme-challenge.www.example.test.");
  });

  it("maps SERVFAIL to a TemporaryError", async () => {
    const s = await fake(bindLike(() => ({ rcode: Rcode.SERVFAIL })));
    const err = await failure(createRfc2136Solver(config(s)).present(RECORD, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toContain("answered SERVFAIL");
  });

  it("does not trust a success whose MAC does not verify", async () => {
    const s = await fake(bindLike(() => ({ tamper: true })));
    const err = await failure(createRfc2136Solver(config(s)).present(RECORD, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toContain("TSIG MAC does not verify");
  });

  it("does not trust an unsigned success to a signed update", async () => {
    const s = await fake(bindLike(() => ({ unsigned: true })));
    const err = await failure(createRfc2136Solver(config(s)).present(RECORD, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toContain("not signed");
  });

  it("still reports an unsigned error answer for what it says", async () => {
    const s = await fake(bindLike(() => ({ unsigned: true, rcode: Rcode.NOTZONE })));
    const err = await failure(createRfc2136Solver(config(s)).present(RECORD, ctx()));
    expect(reasonOf(err)).toBe("ZoneNotFound");
  });

  it("gives a TemporaryError when the server does not answer", async () => {
    const s = await fake(() => undefined);
    const solver = createRfc2136Solver(config(s, { timeoutMs: 50, retries: 1 }));
    const err = await failure(solver.present(RECORD, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toMatch(/^rfc2136: add TXT at _acme-challenge\.www\.example\.test\.: .*2 attempts/);
    expect(s.requests).toHaveLength(2);
  });

  it("gives a TemporaryError when nothing listens at the nameserver", async () => {
    const port = await unusedPort();
    const solver = createRfc2136Solver({
      ...config({ address: "" } as FakeDnsServer),
      nameserver: `127.0.0.1:${port}`,
    });
    const err = await failure(solver.cleanUp(RECORD, ctx()));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toContain("connection refused");
  });

  it("rejects with the abort reason as soon as the context is cancelled", async () => {
    const s = await fake(() => undefined);
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort();
    }, 30);
    const err = await failure(createRfc2136Solver(config(s)).present(RECORD, ctx(controller.signal)));
    expect(err).toBe(controller.signal.reason);
  });
});
