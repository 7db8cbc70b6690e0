import { describe, expect, it } from "@jest/globals";
import { parseConfig, parseDuration } from "./config.js";

describe("parseDuration", () => {
  it("parses Go-style durations into milliseconds", () => {
    expect(parseDuration("2160h")).toBe(2160 * 3_600_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("0")).toBe(0);
  });
  it("rejects text that is not a duration, naming the syntax", () => {
    for (const bad of ["", "10", "1d", "h", "1h 30m", "-1h"]) {
      expect(() => parseDuration(bad)).toThrow(/Go syntax/);
    }
  });
});

describe("parseConfig", () => {
  it("takes the namespace from POD_NAMESPACE and defaults the others to it", () => {
    const c = parseConfig([], { POD_NAMESPACE: "ops" });
    expect(c.namespace).toBe("ops");
    expect(c.clusterResourceNamespace).toBe("ops");
    expect(c.leaderElectionNamespace).toBe("ops");
    expect(c.leaderElect).toBe(true);
    expect(c.leaseDurationMs).toBe(15_000);
  });
  it("serves metrics on loopback port 9402 by default and takes --metrics-addr", () => {
    expect(parseConfig([], {}).metricsAddr).toBe("127.0.0.1:9402");
    expect(parseConfig(["--metrics-addr", "0.0.0.0:9402"], {}).metricsAddr).toBe("0.0.0.0:9402");
  });
  it("refuses a --metrics-addr without a port, naming the flag", () => {
    expect(() => parseConfig(["--metrics-addr", "localhost"], {})).toThrow(/--metrics-addr/);
  });
  it("splits the recursive nameservers and honours --no-leader-elect", () => {
    const c = parseConfig(
      [
        "--dns01-recursive-nameservers",
        "127.0.0.1:5353, [::1]:53",
        "--dns01-recursive-nameservers-only",
        "--no-leader-elect",
      ],
      {},
    );
    expect(c.recursiveNameservers).toEqual(["127.0.0.1:5353", "[::1]:53"]);
    expect(c.recursiveNameserversOnly).toBe(true);
    expect(c.leaderElect).toBe(false);
  });
  it("refuses a renew deadline that is not shorter than the lease", () => {
    expect(() =>
      parseConfig(["--leader-election-lease-duration", "5s", "--leader-election-renew-deadline", "5s"], {}),
    ).toThrow(/renew-deadline/);
  });
  it("refuses recursive-only without any recursive nameserver", () => {
    expect(() => parseConfig(["--dns01-recursive-nameservers-only"], {})).toThrow(/needs/);
  });
  it("refuses an unknown flag", () => {
    expect(() => parseConfig(["--no-such-flag"], {})).toThrow();
  });
});
