import { afterEach, describe, expect, it } from "@jest/globals";
import dgram from "node:dgram";
import dns from "node:dns";
import dnsPacket, { type Answer, type Question } from "dns-packet";
import { reply, startFakeDnsServer, unusedPort, type FakeDnsServer } from "../dns/testing/fake-server.js";
import { Rcode } from "../dns/wire.js";
import { TemporaryError, TerminalError } from "../errors.js";
import { silentLogger } from "../log.js";
import {
  Dns01Dispatcher,
  type DispatcherMetrics,
  type DispatcherOptions,
  type ProviderCallStatus,
  type PropagationCheckResult,
} from "./dispatcher.js";
import type { Dns01Solver } from "./types.js";

const AA_FLAG = 0x0400;
const RA_FLAG = 0x0080;
const RD_FLAG = 0x0100;

const soa = (zone: string): Answer => ({
  type: "SOA",
  name: zone,
  ttl: 60,
  data: { mname: `ns1.${zone}`, rname: `hostmaster.${zone}`, serial: 1, minimum: 60 },
});

const isWithin = (name: string, zone: string): boolean => name === zone || name.endsWith(`.${zone}`);

/**
 * The DNS as a recursive resolver presents it: hosted zones (the longest matching apex holds a
 * name, so a child zone is a delegation), their records, CNAMEs chased across zones, negative
 * answers with the holding zone's SOA in the authority section unless `omitNegativeSoa`.
 */
class World {
  readonly zones = new Set<string>();
  records: Answer[] = [];
  omitNegativeSoa = false;

  zone(apex: string, nameServers: Record<string, string> = { [`ns1.${apex}`]: "127.0.0.1" }): this {
    this.zones.add(apex);
    this.records.push(soa(apex));
    for (const [ns, ip] of Object.entries(nameServers)) {
      this.records.push({ type: "NS", name: apex, ttl: 60, data: ns });
      this.records.push({ type: "A", name: ns, ttl: 60, data: ip });
    }
    return this;
  }

  cname(from: string, to: string): this {
    this.records.push({ type: "CNAME", name: from, ttl: 60, data: to });
    return this;
  }

  txt(name: string, ...values: string[]): this {
    for (const v of values) this.records.push({ type: "TXT", name, ttl: 60, data: v });
    return this;
  }

  private holder(name: string): string | undefined {
    let best: string | undefined;
    for (const z of this.zones)
      if (isWithin(name, z) && (best === undefined || z.length > best.length)) best = z;
    return best;
  }

  answer(q: Question): { rcode: number; answers: Answer[]; authorities: Answer[] } {
    const answers: Answer[] = [];
    let current = q.name.toLowerCase().replace(/\.?$/, ".");
    for (let hop = 0; hop < 10; hop++) {
      const zone = this.holder(current);
      if (zone === undefined)
        return { rcode: answers.length > 0 ? 0 : Rcode.REFUSED, answers, authorities: [] };
      const at = this.records.filter((r) => r.name === current && this.holder(r.name) === zone);
      const exact = at.filter((r) => r.type === q.type);
      if (exact.length > 0) return { rcode: Rcode.NOERROR, answers: [...answers, ...exact], authorities: [] };
      const alias = at.find((r) => r.type === "CNAME");
      if (alias?.type === "CNAME" && q.type !== "CNAME") {
        answers.push(alias);
        current = alias.data;
        continue;
      }
      const exists = at.length > 0 || this.records.some((r) => r.name.endsWith(`.${current}`));
      return {
        rcode: exists ? Rcode.NOERROR : Rcode.NXDOMAIN,
        answers,
        authorities: this.omitNegativeSoa ? [] : [soa(zone)],
      };
    }
    return { rcode: Rcode.SERVFAIL, answers: [], authorities: [] };
  }
}

function question(message: Buffer): Question {
  const q = dnsPacket.decode(message).questions?.[0];
  if (q === undefined) throw new Error("a request without a question");
  return q;
}

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A fake recursive resolver over `world`. */
async function resolver(world: World): Promise<FakeDnsServer> {
  const s = await startFakeDnsServer((request) => {
    const a = world.answer(question(request));
    return reply(request, { rcode: a.rcode, flags: RA_FLAG, answers: a.answers, authorities: a.authorities });
  });
  servers.push(s);
  return s;
}

/** The questions a fake server got, as "TYPE name". */
const asked = (s: { requests: readonly { message: Buffer }[] }): string[] =>
  s.requests.map((r) => {
    const q = question(r.message);
    return `${q.type} ${q.name.toLowerCase()}.`;
  });

/** One authoritative server's view: TXT values by name; names it does not know are NXDOMAIN. */
type AuthView = Map<string, string[]>;

interface AuthServers {
  readonly port: number;
  readonly requests: { host: string; message: Buffer }[];
  close(): Promise<void>;
}

/**
 * Authoritative servers on several loopback addresses sharing one port (as NS records name hosts
 * and the dispatcher asks them all at one port). UDP only, which is all a TXT check needs.
 */
async function authoritative(zone: string, views: Record<string, AuthView>): Promise<AuthServers> {
  const requests: { host: string; message: Buffer }[] = [];
  const hosts = Object.keys(views);
  for (let attempt = 0; attempt < 20; attempt++) {
    const sockets: dgram.Socket[] = [];
    let port = 0;
    try {
      for (const host of hosts) {
        const socket = dgram.createSocket("udp4");
        sockets.push(socket);
        await new Promise<void>((resolve, reject) => {
          socket.once("error", reject);
          socket.bind(port, host, () => {
            socket.off("error", reject);
            resolve();
          });
        });
        port = socket.address().port;
        socket.on("message", (msg, rinfo) => {
          requests.push({ host, message: msg });
          const q = question(msg);
          const name = `${q.name.toLowerCase()}.`;
          const values = views[host]?.get(name);
          const out =
            q.type === "TXT" && values !== undefined && values.length > 0
              ? reply(msg, {
                  flags: AA_FLAG,
                  answers: values.map((v): Answer => ({ type: "TXT", name, ttl: 60, data: v })),
                })
              : reply(msg, { flags: AA_FLAG, rcode: Rcode.NXDOMAIN, authorities: [soa(zone)] });
          socket.send(out, rinfo.port, rinfo.address);
        });
      }
    } catch {
      for (const s of sockets) s.close();
      continue;
    }
    const handle: AuthServers = {
      port,
      requests,
      close: async () => {
        await Promise.all(
          sockets.map(
            (s) =>
              new Promise<void>((resolve) => {
                s.close(() => {
                  resolve();
                });
              }),
          ),
        );
      },
    };
    servers.push(handle);
    return handle;
  }
  throw new Error("no port free on every loopback address");
}

function dispatcher(extra: Partial<DispatcherOptions> & Pick<DispatcherOptions, "recursiveNameservers">) {
  return new Dns01Dispatcher({
    recursiveNameserversOnly: false,
    log: silentLogger(),
    queryTimeoutMs: 500,
    queryRetries: 1,
    ...extra,
  });
}

/** The status reason of a terminal error, undefined for any other error. */
const reasonOf = (err: unknown): string | undefined =>
  err instanceof TerminalError ? err.reason : undefined;

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error("expected the call to fail");
  return err;
}

describe("Dns01Dispatcher.resolveRecord", () => {
  it("finds the zone with one SOA query when the negative answer names it", async () => {
    const r = await resolver(new World().zone("example.com."));
    const d = dispatcher({ recursiveNameservers: [r.address] });
    await expect(d.resolveRecord("www.example.com", "None")).resolves.toEqual({
      fqdn: "_acme-challenge.www.example.com.",
      zone: "example.com.",
    });
    expect(asked(r)).toEqual(["SOA _acme-challenge.www.example.com."]);
  });

  it("walks up one level at a time when negative answers carry no SOA", async () => {
    const world = new World().zone("example.com.");
    world.omitNegativeSoa = true;
    const r = await resolver(world);
    const d = dispatcher({ recursiveNameservers: [r.address] });
    await expect(d.resolveRecord("a.b.example.com", undefined)).resolves.toEqual({
      fqdn: "_acme-challenge.a.b.example.com.",
      zone: "example.com.",
    });
    expect(asked(r)).toEqual([
      "SOA _acme-challenge.a.b.example.com.",
      "SOA a.b.example.com.",
      "SOA b.example.com.",
      "SOA example.com.",
    ]);
  });

  it("finds a delegated child zone rather than its parent, with or without negative SOAs", async () => {
    for (const omit of [false, true]) {
      const world = new World().zone("example.com.").zone("dev.example.com.");
      world.omitNegativeSoa = omit;
      const r = await resolver(world);
      const d = dispatcher({ recursiveNameservers: [r.address] });
      await expect(d.resolveRecord("api.dev.example.com", "None")).resolves.toEqual({
        fqdn: "_acme-challenge.api.dev.example.com.",
        zone: "dev.example.com.",
      });
    }
  });

  it("follows a CNAME chain across zones when cnameStrategy is Follow", async () => {
    const world = new World()
      .zone("example.com.")
      .zone("proxy.net.")
      .zone("acme.org.")
      .cname("_acme-challenge.www.example.com.", "_acme-challenge.www.proxy.net.")
      .cname("_acme-challenge.www.proxy.net.", "www.challenges.acme.org.");
    const r = await resolver(world);
    const d = dispatcher({ recursiveNameservers: [r.address] });
    await expect(d.resolveRecord("www.example.com", "Follow")).resolves.toEqual({
      fqdn: "www.challenges.acme.org.",
      zone: "acme.org.",
    });
  });

  it("keeps an aliased name in its own zone when cnameStrategy is None, though its SOA answer ends in another zone", async () => {
    const world = new World()
      .zone("example.com.")
      .zone("other.net.")
      .cname("_acme-challenge.www.example.com.", "_acme-challenge.x.other.net.");
    const r = await resolver(world);
    const d = dispatcher({ recursiveNameservers: [r.address] });
    await expect(d.resolveRecord("www.example.com", "None")).resolves.toEqual({
      fqdn: "_acme-challenge.www.example.com.",
      zone: "example.com.",
    });
  });

  it("reports a CNAME loop as a terminal CnameLoop error", async () => {
    const world = new World()
      .zone("example.com.")
      .cname("_acme-challenge.a.example.com.", "b.example.com.")
      .cname("b.example.com.", "_acme-challenge.a.example.com.");
    const r = await resolver(world);
    const err = await failure(
      dispatcher({ recursiveNameservers: [r.address] }).resolveRecord("a.example.com", "Follow"),
    );
    expect(err).toBeInstanceOf(TerminalError);
    expect(reasonOf(err)).toBe("CnameLoop");
  });

  it("gives a wildcard's challenge the same name as its base name", async () => {
    const r = await resolver(new World().zone("example.com."));
    const d = dispatcher({ recursiveNameservers: [r.address] });
    const apex = await d.resolveRecord("example.com", "None");
    const wildcard = await d.resolveRecord("*.example.com", "None");
    expect(wildcard).toEqual(apex);
    expect(apex.fqdn).toBe("_acme-challenge.example.com.");
  });

  it("rejects an empty or malformed DNS name with the terminal reason InvalidDnsName", async () => {
    const d = dispatcher({ recursiveNameservers: ["127.0.0.1:1"] });
    for (const name of ["", ".", "a..example.com", `${"x".repeat(64)}.example.com`]) {
      const err = await failure(d.resolveRecord(name, "None"));
      expect(err).toBeInstanceOf(TerminalError);
      expect(reasonOf(err)).toBe("InvalidDnsName");
    }
  });

  it("reports ZoneNotFound, naming the levels it tried, when no level has an SOA", async () => {
    const r = await resolver(new World());
    const err = await failure(
      dispatcher({ recursiveNameservers: [r.address] }).resolveRecord("a.nowhere.test", "None"),
    );
    expect(err).toBeInstanceOf(TerminalError);
    expect(reasonOf(err)).toBe("ZoneNotFound");
    expect(err.message).toContain("_acme-challenge.a.nowhere.test.");
    expect(err.message).toContain("nowhere.test. not a zone");
  });

  it("throws TemporaryError when no resolver answers", async () => {
    const d = dispatcher({ recursiveNameservers: [`127.0.0.1:${await unusedPort()}`] });
    await expect(d.resolveRecord("www.example.com", "None")).rejects.toBeInstanceOf(TemporaryError);
  });

  it("stops waiting at once when the caller aborts", async () => {
    const silent = await startFakeDnsServer(() => undefined);
    servers.push(silent);
    const d = dispatcher({ recursiveNameservers: [silent.address], queryTimeoutMs: 10_000 });
    const controller = new AbortController();
    const started = Date.now();
    const p = d.resolveRecord("www.example.com", "None", controller.signal);
    setTimeout(() => {
      controller.abort(new Error("reconcile cancelled"));
    }, 50);
    await expect(p).rejects.toThrow("reconcile cancelled");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("carries on by itself when the caller whose lookup it joined aborts", async () => {
    const world = new World().zone("example.com.");
    const slow = await startFakeDnsServer(async (request) => {
      await new Promise((r) => setTimeout(r, 150));
      const a = world.answer(question(request));
      return reply(request, { rcode: a.rcode, answers: a.answers, authorities: a.authorities });
    });
    servers.push(slow);
    const d = dispatcher({ recursiveNameservers: [slow.address], queryTimeoutMs: 2000 });
    const first = new AbortController();
    const a = d.resolveRecord("www.example.com", "None", first.signal);
    const b = d.resolveRecord("www.example.com", "None");
    setTimeout(() => {
      first.abort(new Error("first caller cancelled"));
    }, 30);
    await expect(a).rejects.toThrow("first caller cancelled");
    await expect(b).resolves.toEqual({ fqdn: "_acme-challenge.www.example.com.", zone: "example.com." });
    expect(slow.requests).toHaveLength(2);
  });

  it("uses the system's resolvers from node:dns when none are configured", async () => {
    const r = await resolver(new World().zone("example.com."));
    const saved = dns.getServers();
    dns.setServers([r.address]);
    try {
      const d = dispatcher({ recursiveNameservers: [] });
      await expect(d.resolveRecord("www.example.com", "None")).resolves.toEqual({
        fqdn: "_acme-challenge.www.example.com.",
        zone: "example.com.",
      });
      expect(asked(r)).toEqual(["SOA _acme-challenge.www.example.com."]);
    } finally {
      dns.setServers(saved);
    }
  });

  it("takes a system resolver without a port as port 53, and fails temporarily when there is none", async () => {
    const seen: string[] = [];
    const d = dispatcher({ recursiveNameservers: [], systemNameservers: () => seen });
    const none = await failure(d.resolveRecord("www.example.invalid", "None"));
    expect(none).toBeInstanceOf(TemporaryError);
    expect(none.message).toContain("--dns01-recursive-nameservers");
    // Port 53 on loopback: nothing listens there in tests, so the error names the address asked.
    seen.push("127.0.0.1");
    const err = await failure(d.resolveRecord("www.example.invalid", "None"));
    expect(err.message).toContain("127.0.0.1:53");
  });

  it("refuses a recursive nameserver flag value that is not an address", () => {
    expect(() => dispatcher({ recursiveNameservers: ["127.0.0.1:99999"] })).toThrow(
      /--dns01-recursive-nameservers: .*port/,
    );
  });
});

describe("Dns01Dispatcher zone cache", () => {
  it("resolves an apex and a wildcard challenge at the same time with one SOA query", async () => {
    const r = await resolver(new World().zone("example.com."));
    const d = dispatcher({ recursiveNameservers: [r.address] });
    const [apex, wildcard] = await Promise.all([
      d.resolveRecord("example.com", "None"),
      d.resolveRecord("example.com", "None"),
    ]);
    expect(apex).toEqual(wildcard);
    expect(asked(r)).toEqual(["SOA _acme-challenge.example.com."]);
  });

  it("does not ask again for the levels another certificate's lookup already walked", async () => {
    const world = new World().zone("example.com.");
    world.omitNegativeSoa = true;
    const r = await resolver(world);
    const d = dispatcher({ recursiveNameservers: [r.address] });
    await d.resolveRecord("a.example.com", "None");
    await d.resolveRecord("b.example.com", "None");
    await d.resolveRecord("a.example.com", "None");
    expect(asked(r)).toEqual([
      "SOA _acme-challenge.a.example.com.",
      "SOA a.example.com.",
      "SOA example.com.",
      "SOA _acme-challenge.b.example.com.",
      "SOA b.example.com.",
    ]);
  });

  it("asks again once an entry is older than the cache TTL", async () => {
    let now = 1_000_000;
    const r = await resolver(new World().zone("example.com."));
    const d = dispatcher({ recursiveNameservers: [r.address], cacheTtlMs: 60_000, now: () => now });
    await d.resolveRecord("www.example.com", "None");
    now += 59_999;
    await d.resolveRecord("www.example.com", "None");
    expect(r.requests).toHaveLength(1);
    now += 1;
    await d.resolveRecord("www.example.com", "None");
    expect(r.requests).toHaveLength(2);
  });

  it("sees a new delegation once the cached answer has expired", async () => {
    let now = 0;
    const world = new World().zone("example.com.");
    const r = await resolver(world);
    const d = dispatcher({ recursiveNameservers: [r.address], now: () => now });
    expect((await d.resolveRecord("x.dev.example.com", "None")).zone).toBe("example.com.");
    world.zone("dev.example.com.");
    expect((await d.resolveRecord("x.dev.example.com", "None")).zone).toBe("example.com.");
    now += 60_000;
    expect((await d.resolveRecord("x.dev.example.com", "None")).zone).toBe("dev.example.com.");
  });

  it("keeps at most cacheSize entries, dropping the least recently used", async () => {
    const world = new World().zone("example.com.");
    world.omitNegativeSoa = true;
    const r = await resolver(world);
    // One lookup of x.example.com caches three levels; a size of three keeps only the latest walk.
    const d = dispatcher({ recursiveNameservers: [r.address], cacheSize: 3 });
    await d.resolveRecord("a.example.com", "None");
    await d.resolveRecord("b.example.com", "None");
    const before = r.requests.length;
    await d.resolveRecord("a.example.com", "None");
    expect(asked(r).slice(before)).toEqual(["SOA _acme-challenge.a.example.com.", "SOA a.example.com."]);
  });

  it("asks every time when the cache is turned off, and after clearCache()", async () => {
    const r = await resolver(new World().zone("example.com."));
    const off = dispatcher({ recursiveNameservers: [r.address], cacheTtlMs: 0 });
    await off.resolveRecord("www.example.com", "None");
    await off.resolveRecord("www.example.com", "None");
    expect(r.requests).toHaveLength(2);
    const on = dispatcher({ recursiveNameservers: [r.address] });
    await on.resolveRecord("www.example.com", "None");
    on.clearCache();
    await on.resolveRecord("www.example.com", "None");
    expect(r.requests).toHaveLength(4);
  });
});

describe("Dns01Dispatcher.checkPropagation", () => {
  const FQDN = "_acme-challenge.www.example.com.";
  const RECORD = { fqdn: FQDN, zone: "example.com." };
  const VALUE = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
  const NS = {
    "ns1.example.com.": "127.0.0.1",
    "ns2.example.com.": "127.0.0.2",
    "ns3.example.com.": "127.0.0.3",
  };

  async function threeNameServers(): Promise<{
    r: FakeDnsServer;
    auth: AuthServers;
    views: Record<string, AuthView>;
    d: Dns01Dispatcher;
  }> {
    const r = await resolver(new World().zone("example.com.", NS));
    const views: Record<string, AuthView> = {
      "127.0.0.1": new Map([[FQDN, [VALUE]]]),
      "127.0.0.2": new Map(),
      "127.0.0.3": new Map([[FQDN, [VALUE]]]),
    };
    const auth = await authoritative("example.com.", views);
    const d = dispatcher({ recursiveNameservers: [r.address], authoritativePort: auth.port });
    return { r, auth, views, d };
  }

  it("is true only when every authoritative server has the value, and names the one that lags", async () => {
    const { auth, views, d } = await threeNameServers();
    const before = await d.checkPropagation(RECORD, VALUE);
    expect(before.propagated).toBe(false);
    expect(before.detail).toBe(
      `waiting for the TXT value at ${FQDN} on 1 of 3 authoritative name servers of example.com.: ` +
        `127.0.0.2:${auth.port} (no TXT record)`,
    );
    views["127.0.0.2"]?.set(FQDN, [VALUE]);
    const after = await d.checkPropagation(RECORD, VALUE);
    expect(after.propagated).toBe(true);
    expect(after.detail).toContain("all 3 authoritative name servers of example.com.");
  });

  it("does not take another value at the same name for ours", async () => {
    const { views, d } = await threeNameServers();
    views["127.0.0.2"]?.set(FQDN, ["the-other-authorization"]);
    const result = await d.checkPropagation(RECORD, VALUE);
    expect(result.propagated).toBe(false);
    expect(result.detail).toContain("(1 other value)");
    views["127.0.0.2"]?.set(FQDN, ["the-other-authorization", VALUE]);
    expect((await d.checkPropagation(RECORD, VALUE)).propagated).toBe(true);
  });

  it("times each check for the metrics, by the record's provider and the result", async () => {
    const { r, auth, views } = await threeNameServers();
    const seen: [string, PropagationCheckResult, number][] = [];
    const metrics: DispatcherMetrics = {
      propagationCheck: (provider, result, seconds) => seen.push([provider, result, seconds]),
    };
    const d = dispatcher({ recursiveNameservers: [r.address], authoritativePort: auth.port, metrics });
    await d.checkPropagation({ ...RECORD, provider: "rfc2136" }, VALUE);
    views["127.0.0.2"]?.set(FQDN, [VALUE]);
    await d.checkPropagation(RECORD, VALUE);
    const nobody = dispatcher({
      recursiveNameservers: [r.address],
      authoritativePort: await unusedPort(),
      metrics,
    });
    await failure(nobody.checkPropagation({ ...RECORD, provider: "rfc2136" }, VALUE));
    expect(seen.map(([p, res]) => [p, res])).toEqual([
      ["rfc2136", "not_seen"],
      ["unknown", "seen"],
      ["rfc2136", "error"],
    ]);
    for (const [, , seconds] of seen) expect(seconds).toBeGreaterThanOrEqual(0);
  });

  it("asks the authoritative servers without recursion and the resolver with it", async () => {
    const { r, auth, d } = await threeNameServers();
    await d.checkPropagation(RECORD, VALUE);
    expect(auth.requests.map((q) => q.host).sort()).toEqual(["127.0.0.1", "127.0.0.2", "127.0.0.3"]);
    for (const q of auth.requests) expect(q.message.readUInt16BE(2) & RD_FLAG).toBe(0);
    expect(r.requests.length).toBeGreaterThan(0);
    for (const q of r.requests) expect(q.message.readUInt16BE(2) & RD_FLAG).toBe(RD_FLAG);
    expect(asked(r)).toContain("NS example.com.");
  });

  it("looks the zone's name servers up once within the cache TTL", async () => {
    const { r, d } = await threeNameServers();
    await d.checkPropagation(RECORD, VALUE);
    const first = r.requests.length;
    await d.checkPropagation(RECORD, VALUE);
    await d.checkPropagation(RECORD, VALUE);
    expect(r.requests).toHaveLength(first);
  });

  it("counts a server that does not answer as not yet, and throws TemporaryError when none answers", async () => {
    const r = await resolver(new World().zone("example.com.", NS));
    // Only 127.0.0.1 and .2 listen; .3 answers with ICMP port unreachable.
    const auth = await authoritative("example.com.", {
      "127.0.0.1": new Map([[FQDN, [VALUE]]]),
      "127.0.0.2": new Map([[FQDN, [VALUE]]]),
    });
    const d = dispatcher({ recursiveNameservers: [r.address], authoritativePort: auth.port });
    const result = await d.checkPropagation(RECORD, VALUE);
    expect(result.propagated).toBe(false);
    expect(result.detail).toMatch(new RegExp(`on 1 of 3 .*: 127\\.0\\.0\\.3:${auth.port} \\(no answer: `));

    const nobody = dispatcher({ recursiveNameservers: [r.address], authoritativePort: await unusedPort() });
    const err = await failure(nobody.checkPropagation(RECORD, VALUE));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toContain("none of the authoritative name servers of example.com. answered");
  });

  it("throws TemporaryError when the name servers cannot be looked up", async () => {
    const d = dispatcher({ recursiveNameservers: [`127.0.0.1:${await unusedPort()}`] });
    await expect(d.checkPropagation(RECORD, VALUE)).rejects.toBeInstanceOf(TemporaryError);
  });

  it("checks every recursive nameserver, and never an authoritative one, when recursiveNameserversOnly", async () => {
    const fresh = await resolver(new World().zone("example.com.").txt(FQDN, VALUE));
    const lagging = await resolver(new World().zone("example.com."));
    const d = dispatcher({
      recursiveNameservers: [fresh.address, lagging.address],
      recursiveNameserversOnly: true,
    });
    const before = await d.checkPropagation(RECORD, VALUE);
    expect(before).toEqual({
      propagated: false,
      detail: `waiting for the TXT value at ${FQDN} on 1 of 2 recursive name servers: ${lagging.address} (no TXT record)`,
    });
    // One CNAME lookup (through the first resolver) to find where the chain ends, then the TXT on each.
    expect([...asked(fresh), ...asked(lagging)]).toEqual([`CNAME ${FQDN}`, `TXT ${FQDN}`, `TXT ${FQDN}`]);
    for (const q of [...fresh.requests, ...lagging.requests])
      expect(q.message.readUInt16BE(2) & RD_FLAG).toBe(RD_FLAG);

    const caughtUp = await resolver(new World().zone("example.com.").txt(FQDN, "other", VALUE));
    const d2 = dispatcher({
      recursiveNameservers: [fresh.address, caughtUp.address],
      recursiveNameserversOnly: true,
    });
    expect((await d2.checkPropagation(RECORD, VALUE)).propagated).toBe(true);
  });

  it("checks the system's resolvers when recursive-only and none are configured", async () => {
    const r = await resolver(new World().zone("example.com.").txt(FQDN, VALUE));
    const d = dispatcher({
      recursiveNameservers: [],
      recursiveNameserversOnly: true,
      systemNameservers: () => [r.address],
    });
    expect((await d.checkPropagation(RECORD, VALUE)).propagated).toBe(true);
    expect(asked(r)).toEqual([`CNAME ${FQDN}`, `TXT ${FQDN}`]);
  });
});

describe("Dns01Dispatcher.checkPropagation through a CNAME", () => {
  const FQDN = "_acme-challenge.www.example.com.";
  const RECORD = { fqdn: FQDN, zone: "example.com." };
  const VALUE = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
  it("checks the value where a CNAME at the record name ends, as the CA will, even without Follow", async () => {
    const target = "_acme-challenge.www.delegated.net.";
    const r = await resolver(
      new World().zone("example.com.").zone("delegated.net.").cname(FQDN, target).txt(target, VALUE),
    );
    const d = dispatcher({ recursiveNameservers: [r.address], recursiveNameserversOnly: true });
    const result = await d.checkPropagation(RECORD, VALUE);
    expect(result.propagated).toBe(true);
    expect(result.detail).toContain(target);
  });
});

describe("Dns01Dispatcher.instrument", () => {
  const record = { fqdn: "_acme-challenge.example.test.", zone: "example.test.", value: "v" };
  const ctx = { signal: new AbortController().signal, log: silentLogger() };

  it("counts each present and cleanUp by outcome and passes results and errors through unchanged", async () => {
    const calls: [string, string, ProviderCallStatus][] = [];
    const d = dispatcher({
      recursiveNameservers: ["127.0.0.1:53"],
      metrics: { providerCall: (p, op, status) => calls.push([p, op, status]) },
    });
    const throttled = new TemporaryError("429", 3000);
    const refused = new TerminalError("bad token", "InvalidCredentials");
    const failures: (Error | undefined)[] = [undefined, throttled, new TemporaryError("timeout"), refused];
    const solver: Dns01Solver = {
      present: () => {
        const e = failures.shift();
        return e === undefined ? Promise.resolve() : Promise.reject(e);
      },
      cleanUp: () => Promise.resolve(),
    };
    const wrapped = d.instrument("cloudflare", solver);
    await wrapped.present(record, ctx);
    expect(await failure(wrapped.present(record, ctx))).toBe(throttled);
    await failure(wrapped.present(record, ctx));
    expect(await failure(wrapped.present(record, ctx))).toBe(refused);
    await wrapped.cleanUp(record, ctx);
    expect(calls).toEqual([
      ["cloudflare", "present", "success"],
      ["cloudflare", "present", "throttled"],
      ["cloudflare", "present", "temporary_error"],
      ["cloudflare", "present", "terminal_error"],
      ["cloudflare", "cleanup", "success"],
    ]);
  });

  it("gives the solver back as it is when no metrics are configured", () => {
    const solver: Dns01Solver = { present: () => Promise.resolve(), cleanUp: () => Promise.resolve() };
    expect(dispatcher({ recursiveNameservers: ["127.0.0.1:53"] }).instrument("rfc2136", solver)).toBe(solver);
  });
});
