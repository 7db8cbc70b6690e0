import { describe, expect, it } from "@jest/globals";
import { renderCheckDns, type CheckDnsReport } from "./check-dns.js";

const issuer = { kind: "ClusterIssuer", name: "le" };

describe("renderCheckDns", () => {
  it("shows each server's timings under the kind of servers asked", () => {
    const report: CheckDnsReport = {
      issuer,
      ok: true,
      domains: [
        {
          domain: "*.example.com",
          ok: true,
          solver: { index: 1, provider: "cloudflare" },
          record: { fqdn: "_acme-challenge.example.com.", zone: "example.com." },
          checked: { fqdn: "_acme-challenge.example.com.", zone: "example.com." },
          serverKind: "authoritative",
          presentMs: 420,
          cleanUpMs: 310,
          servers: [
            { server: "108.162.192.1:53", seenAfterMs: 1200, goneAfterMs: 900 },
            { server: "172.64.33.1:53", seenAfterMs: 2500, goneAfterMs: 1100 },
          ],
        },
      ],
    };
    expect(renderCheckDns(report)).toBe(
      [
        "OK  *.example.com  via cloudflare (solver 1 of ClusterIssuer le)",
        "  record _acme-challenge.example.com. in zone example.com.",
        "  presented in 420ms, removed in 310ms",
        "  AUTHORITATIVE SERVER   ANSWERED AFTER   GONE AFTER",
        "  108.162.192.1:53       1.2s             900ms",
        "  172.64.33.1:53         2.5s             1.1s",
      ].join("\n"),
    );
  });

  it("names the failed step with the provider's message, and a CNAME target when there is one", () => {
    const report: CheckDnsReport = {
      issuer,
      ok: false,
      domains: [
        {
          domain: "app.example.com",
          ok: false,
          solver: { index: 0, provider: "acmeDNS" },
          record: { fqdn: "abc.auth.example.org.", zone: "auth.example.org." },
          checked: { fqdn: "abc.auth.example.org.", zone: "auth.example.org." },
          servers: [{ server: "10.0.0.1:53", seenAfterMs: undefined, lastError: "timeout" }],
          serverKind: "authoritative",
          failedStep: "propagate",
          error: "after 2m, 1 of 1 authoritative servers of auth.example.org. still do not answer the value",
          cleanUpError: "acmeDNS: 500 Internal Server Error",
        },
      ],
    };
    const text = renderCheckDns(report);
    expect(text).toContain("FAILED  app.example.com  via acmeDNS");
    expect(text).toMatch(/10\.0\.0\.1:53\s+never\s*$/m);
    expect(text).toContain("  propagate: after 2m, 1 of 1 authoritative servers");
    expect(text).toContain("  removing the test value failed: acmeDNS: 500 Internal Server Error");
  });

  it("does not repeat a refusal for the removal after present itself was refused", () => {
    const text = renderCheckDns({
      issuer,
      ok: false,
      domains: [
        {
          domain: "a.example.com",
          ok: false,
          servers: [],
          failedStep: "present",
          error: "rfc2136: NOTAUTH (BADSIG)",
          cleanUpError: "rfc2136: NOTAUTH (BADSIG)",
        },
      ],
    });
    expect(text).toBe("FAILED  a.example.com\n  present: rfc2136: NOTAUTH (BADSIG)");
  });
});
