import { beforeEach, describe, expect, it } from "@jest/globals";
import {
  InvalidChangeBatch,
  NoSuchHostedZone,
  Route53ServiceException,
  type Change,
  type ChangeInfo,
  type ChangeResourceRecordSetsCommandInput,
  type GetChangeCommandInput,
  type HostedZone,
  type ListHostedZonesByNameCommandInput,
  type ListResourceRecordSetsCommandInput,
  type ResourceRecordSet,
} from "@aws-sdk/client-route-53";
import { TemporaryError, TerminalError } from "../../errors.js";
import { silentLogger } from "../../log.js";
import { RateLimits } from "../limits.js";
import type { SolverContext, TxtRecord } from "../types.js";
import { canonicalRoute53Name, decodeTxt } from "./names.js";
import {
  createRoute53Solver,
  DEFAULT_TXT_TTL,
  planChange,
  Route53Backend,
  type Route53Api,
  type Route53SolverDeps,
} from "./route53.js";

/** The order Route 53 lists names in: labels reversed. */
const reversed = (name: string): string =>
  canonicalRoute53Name(name).replace(/\.$/, "").split(".").reverse().join(".");

/**
 * An in-memory Route 53 with the real service's rules where moto is lax: a DELETE must repeat the
 * set's current values and TTL exactly, a batch may not touch one set twice, a CREATE of an
 * existing set fails, and a batch applies all or nothing.
 */
class StrictRoute53 implements Route53Api {
  readonly zones: { id: string; name: string; privateZone: boolean }[] = [];
  readonly sets = new Map<string, { zoneId: string; set: ResourceRecordSet }>();
  readonly calls: string[] = [];
  readonly batches: Change[][] = [];
  /** Status of new changes, and how many GetChange polls say PENDING before INSYNC. */
  pendingPolls = 0;
  private readonly polls = new Map<string, number>();
  private changeSeq = 0;
  /** Errors thrown by the next calls of an operation, in order. */
  readonly failures = new Map<string, Error[]>();
  /** Runs before a ChangeResourceRecordSets is applied (another writer, racing). */
  beforeChange: (() => void) | undefined;
  /** Resolves a ChangeResourceRecordSets only when released (to hold a flush in flight). */
  hold: Promise<void> | undefined;

  addZone(id: string, name: string, privateZone = false): void {
    this.zones.push({ id, name: canonicalRoute53Name(name), privateZone });
  }

  put(zoneId: string, name: string, values: string[], ttl = 300): void {
    this.sets.set(`${zoneId}|${canonicalRoute53Name(name)}|TXT`, {
      zoneId,
      set: {
        Name: canonicalRoute53Name(name),
        Type: "TXT",
        TTL: ttl,
        ResourceRecords: values.map((Value) => ({ Value })),
      },
    });
  }

  raw(zoneId: string, name: string): string[] | undefined {
    return this.sets
      .get(`${zoneId}|${canonicalRoute53Name(name)}|TXT`)
      ?.set.ResourceRecords?.map((r) => r.Value ?? "");
  }

  values(zoneId: string, name: string): string[] {
    return (this.raw(zoneId, name) ?? []).map(decodeTxt).sort();
  }

  count(op: string): number {
    return this.calls.filter((c) => c === op).length;
  }

  private fail(op: string): void {
    this.calls.push(op);
    const next = this.failures.get(op)?.shift();
    if (next) throw next;
  }

  listHostedZonesByName(input: ListHostedZonesByNameCommandInput) {
    this.fail("ListHostedZonesByName");
    const start = reversed(input.DNSName ?? "");
    const sorted = [...this.zones].sort((a, b) => (reversed(a.name) < reversed(b.name) ? -1 : 1));
    const from = sorted.filter((z) => reversed(z.name) >= start);
    const max = input.MaxItems ?? 100;
    const page = from.slice(0, max);
    const next = from[max];
    const HostedZones: HostedZone[] = page.map((z) => ({
      Id: `/hostedzone/${z.id}`,
      Name: z.name,
      CallerReference: z.id,
      Config: { PrivateZone: z.privateZone },
    }));
    return Promise.resolve({
      HostedZones,
      IsTruncated: next !== undefined,
      NextDNSName: next?.name,
      NextHostedZoneId: next?.id,
    });
  }

  listResourceRecordSets(input: ListResourceRecordSetsCommandInput) {
    this.fail("ListResourceRecordSets");
    if (!this.zones.some((z) => z.id === input.HostedZoneId)) {
      throw new NoSuchHostedZone({
        message: `No hosted zone found with ID: ${input.HostedZoneId ?? ""}`,
        $metadata: { httpStatusCode: 404 },
      });
    }
    const start = `${reversed(input.StartRecordName ?? "")}|${input.StartRecordType ?? ""}`;
    const sets = [...this.sets.values()]
      .filter((s) => s.zoneId === input.HostedZoneId)
      .map((s) => ({ key: `${reversed(s.set.Name ?? "")}|${s.set.Type ?? ""}`, set: s.set }))
      .filter((s) => s.key >= start)
      .sort((a, b) => (a.key < b.key ? -1 : 1))
      .slice(0, input.MaxItems ?? 300)
      .map((s) => structuredClone(s.set));
    return Promise.resolve({ ResourceRecordSets: sets });
  }

  async changeResourceRecordSets(input: ChangeResourceRecordSetsCommandInput) {
    this.fail("ChangeResourceRecordSets");
    if (this.hold) await this.hold;
    this.beforeChange?.();
    const changes = input.ChangeBatch?.Changes ?? [];
    this.batches.push(structuredClone(changes));
    const zoneId = input.HostedZoneId ?? "";
    const invalid = (m: string) =>
      new InvalidChangeBatch({ message: m, messages: [m], $metadata: { httpStatusCode: 400 } });
    const seen = new Set<string>();
    const next = new Map(this.sets);
    for (const c of changes) {
      const rr: ResourceRecordSet = c.ResourceRecordSet ?? { Name: undefined, Type: undefined };
      const key = `${zoneId}|${canonicalRoute53Name(rr.Name ?? "")}|${rr.Type ?? ""}`;
      if (seen.has(key)) throw invalid(`[Duplicate change to ${rr.Name ?? ""} ${rr.Type ?? ""}]`);
      seen.add(key);
      const current = next.get(key)?.set;
      if (c.Action === "DELETE") {
        if (!current)
          throw invalid(
            `[Tried to delete resource record set [name='${rr.Name ?? ""}', type='TXT'] but it was not found]`,
          );
        if (
          JSON.stringify(current.ResourceRecords) !== JSON.stringify(rr.ResourceRecords) ||
          current.TTL !== rr.TTL
        ) {
          throw invalid(
            `[Tried to delete resource record set [name='${rr.Name ?? ""}', type='TXT'] but the values provided do not match the current values]`,
          );
        }
        next.delete(key);
      } else if (c.Action === "CREATE" && current) {
        throw invalid(
          `[Tried to create resource record set [name='${rr.Name ?? ""}', type='TXT'] but it already exists]`,
        );
      } else {
        next.set(key, { zoneId, set: { ...structuredClone(rr), Name: canonicalRoute53Name(rr.Name ?? "") } });
      }
    }
    this.sets.clear();
    for (const [k, v] of next) this.sets.set(k, v);
    const id = `/change/C${++this.changeSeq}`;
    const ChangeInfo: ChangeInfo = {
      Id: id,
      Status: this.pendingPolls > 0 ? "PENDING" : "INSYNC",
      SubmittedAt: new Date(),
    };
    return { ChangeInfo };
  }

  getChange(input: GetChangeCommandInput) {
    this.fail("GetChange");
    const id = (input.Id ?? "").replace(/^\/change\//, "");
    const n = (this.polls.get(id) ?? 0) + 1;
    this.polls.set(id, n);
    const ChangeInfo: ChangeInfo = {
      Id: id,
      Status: n <= this.pendingPolls ? "PENDING" : "INSYNC",
      SubmittedAt: new Date(),
    };
    return Promise.resolve({ ChangeInfo });
  }
}

const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });
const rec = (value: string, name = "_acme-challenge.example.test."): TxtRecord => ({
  fqdn: name,
  zone: "example.test.",
  value,
});
const ROOMY = { requests: 1000, perMs: 1000, source: "test" };

describe("route53 solver", () => {
  let api: StrictRoute53;
  let now: number;
  let deps: Route53SolverDeps & { backend: Route53Backend; rateLimits: RateLimits };
  const solver = (
    extra: Partial<Parameters<typeof createRoute53Solver>[0]> = {},
    d: Partial<Route53SolverDeps> = {},
  ) =>
    createRoute53Solver(
      { credentials: { kind: "static", accessKeyId: "AKIAUNIT", secretAccessKey: "s" }, ...extra },
      { ...deps, ...d },
    );

  beforeEach(() => {
    api = new StrictRoute53();
    api.addZone("ZAPEX", "example.test.");
    now = 1_000_000;
    deps = {
      api,
      backend: new Route53Backend(() => now, 5),
      rateLimits: new RateLimits(() => now),
      rateLimit: ROOMY,
    };
  });

  it("creates the set with our value and a short TTL when there is none", async () => {
    await solver().present(rec("a"), ctx());
    expect(api.raw("ZAPEX", "_acme-challenge.example.test.")).toEqual(['"a"']);
    expect(api.batches[0]?.[0]?.ResourceRecordSet?.TTL).toBe(DEFAULT_TXT_TTL);
    expect(api.count("ListHostedZonesByName")).toBe(1);
  });

  it("merges apex and wildcard presents made at once into one UPSERT of both values", async () => {
    const s1 = solver();
    const s2 = solver();
    await Promise.all([s1.present(rec("apex"), ctx()), s2.present(rec("wild"), ctx())]);
    expect(api.values("ZAPEX", "_acme-challenge.example.test.")).toEqual(["apex", "wild"]);
    expect(api.count("ChangeResourceRecordSets")).toBe(1);
    expect(api.batches[0]).toHaveLength(1);
    expect(api.batches[0]?.[0]?.Action).toBe("UPSERT");
    // One zone listing shared by both, one read of the set.
    expect(api.count("ListHostedZonesByName")).toBe(1);
    expect(api.count("ListResourceRecordSets")).toBe(1);
  });

  it("runs a zone's flushes one after another, so a later change reads what the earlier one wrote", async () => {
    let release!: () => void;
    api.hold = new Promise((r) => (release = r));
    const first = solver().present(rec("apex"), ctx());
    // Let the first batch close and reach the held ChangeResourceRecordSets.
    await new Promise((r) => setTimeout(r, 30));
    const second = solver().present(rec("wild"), ctx());
    await new Promise((r) => setTimeout(r, 30));
    // The second flush has not read the set yet: it waits for the first write.
    expect(api.count("ListResourceRecordSets")).toBe(1);
    api.hold = undefined;
    release();
    await Promise.all([first, second]);
    expect(api.values("ZAPEX", "_acme-challenge.example.test.")).toEqual(["apex", "wild"]);
  });

  it("keeps another writer's values exactly as they were when it adds and removes its own", async () => {
    api.put("ZAPEX", "_acme-challenge.example.test.", ['"foreign" "split"', '"other"'], 120);
    const s = solver();
    await s.present(rec("ours"), ctx());
    expect(api.raw("ZAPEX", "_acme-challenge.example.test.")).toEqual([
      '"foreign" "split"',
      '"other"',
      '"ours"',
    ]);
    await s.cleanUp(rec("ours"), ctx());
    expect(api.raw("ZAPEX", "_acme-challenge.example.test.")).toEqual(['"foreign" "split"', '"other"']);
    expect(api.batches.map((b) => b[0]?.ResourceRecordSet?.TTL)).toEqual([120, 120]);
  });

  it("deletes the set, repeating its exact values and TTL, when our value was the last", async () => {
    const s = solver();
    await s.present(rec("a"), ctx());
    await s.present(rec("b"), ctx());
    await s.cleanUp(rec("a"), ctx());
    await s.cleanUp(rec("b"), ctx());
    expect(api.raw("ZAPEX", "_acme-challenge.example.test.")).toBeUndefined();
    const last = api.batches.at(-1)?.[0];
    expect(last?.Action).toBe("DELETE");
    expect(last?.ResourceRecordSet?.ResourceRecords).toEqual([{ Value: '"b"' }]);
  });

  it("merges a present and a cleanUp of the same name made at once into one change", async () => {
    const s = solver();
    await s.present(rec("old"), ctx());
    api.batches.length = 0;
    await Promise.all([s.present(rec("new"), ctx()), s.cleanUp(rec("old"), ctx())]);
    expect(api.batches).toHaveLength(1);
    expect(api.values("ZAPEX", "_acme-challenge.example.test.")).toEqual(["new"]);
  });

  it("submits nothing to present a value that is there or to clean up one that is not", async () => {
    const s = solver();
    await s.present(rec("a"), ctx());
    await s.present(rec("a"), ctx());
    await s.cleanUp(rec("zzz"), ctx());
    await s.cleanUp(rec("a", "_acme-challenge.nothing.example.test."), ctx());
    expect(api.count("ChangeResourceRecordSets")).toBe(1);
  });

  it("reads the set again and retries once when another writer changed it under us", async () => {
    const s = solver();
    await s.present(rec("a"), ctx());
    api.beforeChange = () => {
      api.beforeChange = undefined;
      api.put("ZAPEX", "_acme-challenge.example.test.", ['"a"', '"intruder"'], DEFAULT_TXT_TTL);
    };
    api.calls.length = 0;
    await s.cleanUp(rec("a"), ctx());
    expect(api.raw("ZAPEX", "_acme-challenge.example.test.")).toEqual(['"intruder"']);
    expect(api.calls).toEqual([
      "ListResourceRecordSets",
      "ChangeResourceRecordSets",
      "ListResourceRecordSets",
      "ChangeResourceRecordSets",
    ]);
  });

  it("gives up with a TemporaryError when the set changes under us twice", async () => {
    const s = solver();
    await s.present(rec("a"), ctx());
    // Route 53 has no conditional write: only a DELETE (which must match) can notice a change.
    // The other writer keeps changing the TTL, so both DELETEs miss.
    let n = 0;
    api.beforeChange = () => {
      api.put("ZAPEX", "_acme-challenge.example.test.", ['"a"'], 900 + ++n);
    };
    api.calls.length = 0;
    const err = await s.cleanUp(rec("a"), ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as Error).message).toMatch(
      /^route53: failed to change TXT record sets in hosted zone ZAPEX: InvalidChangeBatch/,
    );
    expect(api.count("ChangeResourceRecordSets")).toBe(2);
  });

  it("reports a record quota as TerminalError QuotaExceeded", async () => {
    api.failures.set("ChangeResourceRecordSets", [
      new InvalidChangeBatch({
        message: "[Tried to create resource record set but it exceeds the limit of 10000 record sets]",
        $metadata: { httpStatusCode: 400 },
      }),
    ]);
    const err = await solver()
      .present(rec("a"), ctx())
      .catch((e: unknown) => e);
    expect((err as TerminalError).reason).toBe("QuotaExceeded");
    expect(api.count("ChangeResourceRecordSets")).toBe(1);
  });

  describe("waiting for INSYNC", () => {
    it("throws a short TemporaryError while the change is PENDING, then checks GetChange without submitting again", async () => {
      api.pendingPolls = 1;
      const s = solver();
      const first = await s.present(rec("a"), ctx()).catch((e: unknown) => e);
      expect(first).toBeInstanceOf(TemporaryError);
      expect((first as TemporaryError).retryAfterMs).toBe(1000);
      expect((first as Error).message).toMatch(
        /^route53: change C1 for _acme-challenge\.example\.test\. is PENDING/,
      );

      api.calls.length = 0;
      now += 1000;
      await expect(s.present(rec("a"), ctx())).rejects.toBeInstanceOf(TemporaryError);
      expect(api.calls).toEqual(["GetChange"]);

      api.calls.length = 0;
      now += 1000;
      await s.present(rec("a"), ctx());
      // INSYNC now: one GetChange, then the set is read to confirm the value (nothing submitted).
      expect(api.calls).toEqual(["GetChange", "ListResourceRecordSets"]);
      expect(api.count("ChangeResourceRecordSets")).toBe(0);
    });

    it("asks GetChange once for apex and wildcard that shared one change", async () => {
      api.pendingPolls = 1;
      const s = solver();
      const results = await Promise.allSettled([
        s.present(rec("apex"), ctx()),
        s.present(rec("wild"), ctx()),
      ]);
      expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
      api.calls.length = 0;
      // First poll: PENDING, shared by both.
      await Promise.allSettled([s.present(rec("apex"), ctx()), s.present(rec("wild"), ctx())]);
      expect(api.count("GetChange")).toBe(1);
      // Second: INSYNC, learnt once and remembered.
      await Promise.all([s.present(rec("apex"), ctx()), s.present(rec("wild"), ctx())]);
      expect(api.count("GetChange")).toBe(2);
    });

    it("forgets a PENDING change when its value is cleaned up", async () => {
      api.pendingPolls = 5;
      const s = solver();
      await s.present(rec("a"), ctx()).catch(() => undefined);
      await s.cleanUp(rec("a"), ctx());
      api.calls.length = 0;
      api.pendingPolls = 0;
      await s.present(rec("a"), ctx());
      expect(api.calls).not.toContain("GetChange");
    });
  });

  describe("hosted zones", () => {
    it("finds the zone by the longest public suffix, skipping private zones", async () => {
      api.addZone("ZSUBPRIV", "sub.example.test.", true);
      api.addZone("ZSUB", "sub.example.test.");
      const s = solver();
      await s.present(
        { fqdn: "_acme-challenge.a.sub.example.test.", zone: "example.test.", value: "x" },
        ctx(),
      );
      await s.present(rec("y", "_acme-challenge.b.example.test."), ctx());
      expect(api.values("ZSUB", "_acme-challenge.a.sub.example.test.")).toEqual(["x"]);
      expect(api.values("ZAPEX", "_acme-challenge.b.example.test.")).toEqual(["y"]);
      // One listing from example.test serves both names.
      expect(api.count("ListHostedZonesByName")).toBe(1);
    });

    it("reads further pages while they are still under the zone", async () => {
      for (let i = 0; i < 120; i++) api.addZone(`Z${i}`, `z${String(i).padStart(3, "0")}.example.test.`);
      api.addZone("ZDEEP", "zzz.example.test.");
      await solver().present(
        { fqdn: "_acme-challenge.zzz.example.test.", zone: "example.test.", value: "v" },
        ctx(),
      );
      expect(api.values("ZDEEP", "_acme-challenge.zzz.example.test.")).toEqual(["v"]);
      expect(api.count("ListHostedZonesByName")).toBe(2);
    });

    it("fails with ZoneNotFound when no public zone holds the name, and cleanUp then succeeds", async () => {
      const s = solver();
      const r: TxtRecord = { fqdn: "_acme-challenge.other.test.", zone: "other.test.", value: "v" };
      const err = await s.present(r, ctx()).catch((e: unknown) => e);
      expect((err as TerminalError).reason).toBe("ZoneNotFound");
      expect((err as Error).message).toBe(
        "route53: no public hosted zone holds _acme-challenge.other.test. (ListHostedZonesByName from other.test. found none)",
      );
      await expect(s.cleanUp(r, ctx())).resolves.toBeUndefined();
    });

    it("uses a configured hostedZoneID without listing zones", async () => {
      api.addZone("ZCONF", "example.test.");
      await solver({ hostedZoneID: "/hostedzone/ZCONF" }).present(rec("a"), ctx());
      expect(api.values("ZCONF", "_acme-challenge.example.test.")).toEqual(["a"]);
      expect(api.count("ListHostedZonesByName")).toBe(0);
    });

    it("fails with ZoneNotFound for a configured zone that does not exist, and cleanUp then succeeds", async () => {
      const s = solver({ hostedZoneID: "ZGONE" });
      const err = await s.present(rec("a"), ctx()).catch((e: unknown) => e);
      expect((err as TerminalError).reason).toBe("ZoneNotFound");
      await expect(s.cleanUp(rec("a"), ctx())).resolves.toBeUndefined();
    });

    it("lists zones again after a found zone disappeared", async () => {
      const s = solver();
      await s.present(rec("a"), ctx());
      api.zones.splice(0, api.zones.length);
      api.addZone("ZNEW", "example.test.");
      await expect(s.present(rec("b"), ctx())).rejects.toBeInstanceOf(TemporaryError);
      await s.present(rec("b"), ctx());
      expect(api.values("ZNEW", "_acme-challenge.example.test.")).toEqual(["b"]);
      expect(api.count("ListHostedZonesByName")).toBe(2);
    });

    it("refuses a TXT set that uses a routing policy", async () => {
      api.sets.set("ZAPEX|_acme-challenge.example.test.|TXT", {
        zoneId: "ZAPEX",
        set: {
          Name: "_acme-challenge.example.test.",
          Type: "TXT",
          SetIdentifier: "w1",
          Weight: 1,
          TTL: 60,
          ResourceRecords: [{ Value: '"x"' }],
        },
      });
      const err = await solver()
        .present(rec("a"), ctx())
        .catch((e: unknown) => e);
      expect((err as TerminalError).reason).toBe("InvalidConfiguration");
    });
  });

  describe("rate limits", () => {
    const throttling = () =>
      new Route53ServiceException({
        name: "Throttling",
        $fault: "client",
        $metadata: { httpStatusCode: 400 },
        message: "Rate exceeded",
      });

    it("pauses the whole account for a second after Throttling, without another call", async () => {
      api.failures.set("ListHostedZonesByName", [throttling()]);
      const s = solver();
      const err = await s.present(rec("a"), ctx()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TemporaryError);
      expect((err as Error).message).toBe(
        "route53: failed to list hosted zones from example.test.: Throttling: Rate exceeded",
      );
      // Another solver of the same access key meets the paused bucket, not Route 53.
      const again = await solver()
        .present(rec("b"), ctx())
        .catch((e: unknown) => e);
      expect(again).toBeInstanceOf(TemporaryError);
      expect((again as TemporaryError).retryAfterMs).toBeGreaterThan(900);
      expect(api.calls).toEqual(["ListHostedZonesByName"]);
      now += 1100;
      await s.present(rec("a"), ctx());
      expect(api.values("ZAPEX", "_acme-challenge.example.test.")).toEqual(["a"]);
    });

    it("keeps to five calls per second per access key, and says how long to wait", async () => {
      const limited = { ...deps, rateLimit: undefined };
      const s = createRoute53Solver(
        { credentials: { kind: "static", accessKeyId: "AKIALIMIT", secretAccessKey: "s" } },
        limited,
      );
      // present: list zones, read set, change = 3 calls; the second present of a new name: read, change.
      await s.present(rec("a"), ctx());
      await s.present(rec("b", "_acme-challenge.www.example.test."), ctx());
      const err = await s
        .present(rec("c", "_acme-challenge.x.example.test."), ctx())
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TemporaryError);
      // A flush reserves its read and its change together: two tokens at five per second.
      expect((err as TemporaryError).retryAfterMs).toBe(400);
      expect(api.calls).toHaveLength(5);
      // Another access key has its own bucket.
      await createRoute53Solver(
        { credentials: { kind: "static", accessKeyId: "AKIAOTHER", secretAccessKey: "s" } },
        limited,
      ).present(rec("d", "_acme-challenge.y.example.test."), ctx());
    });
  });
});

describe("planChange", () => {
  const current = { name: "_acme-challenge.example.test.", ttl: 60, values: ['"a"', '"b"'] };

  it("applies a batch's changes to one name in order", () => {
    const change = planChange("_acme-challenge.example.test.", current, [
      { op: "add", value: "c" },
      { op: "remove", value: "a" },
      { op: "remove", value: "c" },
      { op: "add", value: "a" },
    ]);
    expect(change?.Action).toBe("UPSERT");
    expect(change?.ResourceRecordSet?.ResourceRecords).toEqual([{ Value: '"b"' }, { Value: '"a"' }]);
  });

  it("plans nothing when the set would not change", () => {
    expect(planChange("n.", current, [{ op: "add", value: "a" }])).toBeUndefined();
    expect(planChange("n.", undefined, [{ op: "remove", value: "a" }])).toBeUndefined();
  });
});
