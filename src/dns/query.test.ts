import { afterEach, describe, expect, it } from "@jest/globals";
import dnsPacket, { type Answer } from "dns-packet";
import { TemporaryError, TerminalError } from "../errors.js";
import { encodeQuery, findZone, followCname, lookupAuthoritativeServers, query, queryTxt } from "./query.js";
import {
  reply,
  startFakeDnsServer,
  unusedPort,
  type FakeDnsServer,
  type FakeHandler,
} from "./testing/fake-server.js";
import { Rcode } from "./wire.js";

const servers: FakeDnsServer[] = [];
async function fake(handler: FakeHandler): Promise<FakeDnsServer> {
  const s = await startFakeDnsServer(handler);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function question(req: Buffer): { name: string; type: string } {
  const q = dnsPacket.decode(req).questions?.[0];
  return { name: `${(q?.name ?? "").toLowerCase()}.`, type: q?.type ?? "" };
}

const soa = (name: string): Answer => ({
  type: "SOA",
  name,
  ttl: 60,
  data: {
    mname: `ns1.${name}`,
    rname: `hostmaster.${name}`,
    serial: 1,
    refresh: 1,
    retry: 1,
    expire: 1,
    minimum: 1,
  },
});

/**
 * A tiny authoritative server for example.test. with a sub-zone sub.example.test., a CNAME chain
 * and TXT records, answering REFUSED outside its zones like BIND with recursion off.
 */
const zoneServer: FakeHandler = (req) => {
  const { name, type } = question(req);
  const zones = ["sub.example.test.", "example.test."];
  const zone = zones.find((z) => name === z || name.endsWith(`.${z}`));
  if (zone === undefined) return reply(req, { rcode: Rcode.REFUSED });
  const cnames: Record<string, string> = {
    "_acme-challenge.alias.example.test.": "_acme-challenge.hop.example.test.",
    "_acme-challenge.hop.example.test.": "_acme-challenge.sub.example.test.",
    "loop-a.example.test.": "loop-b.example.test.",
    "loop-b.example.test.": "loop-a.example.test.",
    "apex-alias.example.test.": "sub.example.test.",
  };
  const target = cnames[name];
  if (target !== undefined) {
    const answers: Answer[] = [{ type: "CNAME", name, ttl: 60, data: target }];
    // As a resolver would: the alias's answer goes on with the target's records.
    if (type === "SOA" && zones.includes(target)) answers.push(soa(target));
    return reply(req, { flags: dnsPacket.AUTHORITATIVE_ANSWER, answers });
  }
  if (name === zone && type === "SOA") return reply(req, { answers: [soa(zone)] });
  if (name === "example.test." && type === "NS") {
    return reply(req, {
      answers: [
        { type: "NS", name, ttl: 60, data: "ns1.example.test" },
        { type: "NS", name, ttl: 60, data: "ns2.elsewhere.test" },
      ],
      additionals: [{ type: "A", name: "ns1.example.test", ttl: 60, data: "127.0.0.1" }],
    });
  }
  if (name === "_acme-challenge.sub.example.test." && type === "TXT") {
    return reply(req, {
      answers: [
        { type: "TXT", name, ttl: 60, data: "first" },
        { type: "TXT", name, ttl: 60, data: ["split-", "value"] },
        { type: "TXT", name: "unrelated.sub.example.test", ttl: 60, data: "not this" },
      ],
    });
  }
  const exists = [
    "_acme-challenge.sub.example.test.",
    "sub.example.test.",
    "example.test.",
    "ns1.example.test.",
  ];
  return reply(req, {
    rcode: exists.includes(name) ? Rcode.NOERROR : Rcode.NXDOMAIN,
    authorities: [soa(zone)],
  });
};

describe("encodeQuery", () => {
  it("encodes one question with EDNS(0) advertising a 1232-byte UDP payload", () => {
    const decoded = dnsPacket.decode(encodeQuery("Example.TEST", "TXT", { id: 9, recursive: true }));
    expect(decoded.id).toBe(9);
    expect(decoded.flag_rd).toBe(true);
    expect(decoded.questions).toEqual([{ name: "example.test", type: "TXT", class: "IN" }]);
    expect(decoded.additionals).toEqual([expect.objectContaining({ type: "OPT", udpPayloadSize: 1232 })]);
    expect(dnsPacket.decode(encodeQuery("a.test.", "SOA", { id: 1, recursive: false })).flag_rd).toBe(false);
  });

  it("refuses a name that cannot go on the wire", () => {
    expect(() => encodeQuery(`${"a".repeat(64)}.test.`, "TXT", { id: 1, recursive: false })).toThrow(/63/);
  });
});

describe("queryTxt", () => {
  it("returns the TXT values at the name, joining split strings, ignoring records of other names", async () => {
    const s = await fake(zoneServer);
    const values = await queryTxt("_acme-challenge.sub.example.test.", s.address);
    expect(values).toEqual(["first", "split-value"]);
  });

  it("follows a CNAME chain inside the answer", async () => {
    const s = await fake((req) =>
      reply(req, {
        answers: [
          { type: "CNAME", name: "_acme-challenge.a.test", ttl: 60, data: "b.test" },
          { type: "TXT", name: "B.test", ttl: 60, data: "via-cname" },
        ],
      }),
    );
    expect(await queryTxt("_acme-challenge.a.test.", s.address)).toEqual(["via-cname"]);
  });

  it("returns nothing for NXDOMAIN and for a name without TXT records", async () => {
    const s = await fake(zoneServer);
    expect(await queryTxt("_acme-challenge.none.example.test.", s.address)).toEqual([]);
    expect(await queryTxt("example.test.", s.address)).toEqual([]);
  });

  it("throws a TemporaryError naming the rcode when the server will not answer for the name", async () => {
    const s = await fake(zoneServer);
    await expect(queryTxt("_acme-challenge.other.test.", s.address)).rejects.toThrow(
      new TemporaryError(`TXT query for _acme-challenge.other.test. at ${s.address} answered REFUSED`),
    );
  });
});

describe("query", () => {
  it("moves on to the next server when one is down or answers SERVFAIL", async () => {
    const down = `127.0.0.1:${await unusedPort()}`;
    const failing = await fake((req) => reply(req, { rcode: Rcode.SERVFAIL }));
    const good = await fake(zoneServer);
    const result = await query([down, failing.address, good.address], "example.test.", "SOA", {
      timeoutMs: 500,
    });
    expect(result.server).toBe(good.address);
    expect(result.answers).toEqual([expect.objectContaining({ type: "SOA", name: "example.test." })]);
  });

  it("passes a refused question on to the next server, and returns the refusal when all refuse", async () => {
    const refusing = await fake((req) => reply(req, { rcode: Rcode.REFUSED }));
    const good = await fake(zoneServer);
    const answered = await query([refusing.address, good.address], "example.test.", "SOA");
    expect(answered.server).toBe(good.address);
    const down = `127.0.0.1:${await unusedPort()}`;
    const refusedByAll = await query([refusing.address, down], "example.test.", "SOA");
    expect(refusedByAll.rcode).toBe(Rcode.REFUSED);
    expect(refusedByAll.server).toBe(refusing.address);
  });

  it("throws a TemporaryError listing every server's failure when none answers", async () => {
    const down = `127.0.0.1:${await unusedPort()}`;
    const failing = await fake((req) => reply(req, { rcode: Rcode.SERVFAIL }));
    const err = await query([down, failing.address], "example.test.", "SOA").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as Error).message).toContain("connection refused");
    expect((err as Error).message).toContain(`${failing.address} answered SERVFAIL`);
  });

  it("stops at once when aborted instead of trying the next server", async () => {
    const silent = await fake(() => undefined);
    const good = await fake(zoneServer);
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort();
    }, 30);
    const err = await query([silent.address, good.address], "example.test.", "SOA", {
      signal: controller.signal,
    }).catch((e: unknown) => e);
    expect((err as Error).name).toBe("AbortError");
    expect(good.requests).toHaveLength(0);
  });
});

describe("findZone", () => {
  it("walks up from the record name to the closest name with its own SOA", async () => {
    const s = await fake(zoneServer);
    expect(await findZone("_acme-challenge.www.example.test.", [s.address])).toBe("example.test.");
    expect(await findZone("_acme-challenge.sub.example.test.", [s.address])).toBe("sub.example.test.");
    expect(await findZone("Example.Test", [s.address])).toBe("example.test.");
  });

  it("does not mistake a CNAME's target SOA for a zone at the alias", async () => {
    const s = await fake(zoneServer);
    expect(await findZone("_acme-challenge.alias.example.test.", [s.address])).toBe("example.test.");
    expect(await findZone("_acme-challenge.apex-alias.example.test.", [s.address])).toBe("example.test.");
  });

  it("throws ZoneNotFound, saying what each level answered, when no level has an SOA", async () => {
    const s = await fake(zoneServer);
    const err = await findZone("_acme-challenge.nope.invalid.", [s.address]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("ZoneNotFound");
    expect((err as Error).message).toBe(
      `no DNS zone holds _acme-challenge.nope.invalid.: the servers ${s.address} have no SOA record at that ` +
        "name or any parent (_acme-challenge.nope.invalid. REFUSED, nope.invalid. REFUSED, invalid. REFUSED)",
    );
  });

  it("finds no zone for the root name", async () => {
    const s = await fake(zoneServer);
    await expect(findZone(".", [s.address])).rejects.toBeInstanceOf(TerminalError);
    expect(s.requests).toHaveLength(0);
  });

  it("throws a TemporaryError when the servers fail rather than deny", async () => {
    const s = await fake((req) => reply(req, { rcode: Rcode.SERVFAIL }));
    await expect(findZone("a.example.test.", [s.address])).rejects.toBeInstanceOf(TemporaryError);
  });
});

describe("followCname", () => {
  it("follows a chain of aliases to the name at its end", async () => {
    const s = await fake(zoneServer);
    expect(await followCname("_acme-challenge.alias.example.test.", [s.address])).toBe(
      "_acme-challenge.sub.example.test.",
    );
  });

  it("returns the name itself when it is not an alias, exists or not", async () => {
    const s = await fake(zoneServer);
    expect(await followCname("_acme-challenge.sub.example.test.", [s.address])).toBe(
      "_acme-challenge.sub.example.test.",
    );
    expect(await followCname("_acme-challenge.none.example.test", [s.address])).toBe(
      "_acme-challenge.none.example.test.",
    );
  });

  it("throws CnameLoop for a loop", async () => {
    const s = await fake(zoneServer);
    const err = await followCname("loop-a.example.test.", [s.address]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("CnameLoop");
  });
});

describe("lookupAuthoritativeServers", () => {
  it("uses glue where the answer has it and queries addresses where it does not", async () => {
    const s = await fake((req) => {
      const { name, type } = question(req);
      if (name === "ns2.elsewhere.test." && type === "A") {
        return reply(req, { answers: [{ type: "A", name, ttl: 60, data: "127.0.0.2" }] });
      }
      if (name === "ns2.elsewhere.test." && type === "AAAA") {
        return reply(req, { answers: [{ type: "AAAA", name, ttl: 60, data: "::1" }] });
      }
      return zoneServer(req, "udp");
    });
    const found = await lookupAuthoritativeServers("example.test.", [s.address], { port: 8053 });
    expect(found).toEqual(["127.0.0.1:8053", "127.0.0.2:8053", "[::1]:8053"]);
  });

  it("throws ZoneNotFound for a name without NS records", async () => {
    const s = await fake(zoneServer);
    const err = await lookupAuthoritativeServers("www.example.test.", [s.address]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("ZoneNotFound");
  });

  it("throws a TemporaryError when no name server's address can be found", async () => {
    const s = await fake((req) => {
      const { name, type } = question(req);
      if (type === "NS")
        return reply(req, { answers: [{ type: "NS", name, ttl: 60, data: "ns.gone.test" }] });
      return reply(req, { rcode: Rcode.NXDOMAIN });
    });
    await expect(lookupAuthoritativeServers("example.test.", [s.address])).rejects.toThrow(
      /no address found for the name servers of example.test. \(ns.gone.test.\)/,
    );
  });
});
