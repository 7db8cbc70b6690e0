import { describe, expect, it } from "@jest/globals";
import { diagnose, renderStatus, type StatusReport } from "./status.js";

type Base = Omit<StatusReport, "waiting" | "ready">;

const ready = { status: "True", reason: "Ready", message: "Certificate is up to date and has not expired" };
const base: Base = {
  certificate: {
    namespace: "web",
    name: "site",
    dnsNames: ["example.test", "*.example.test"],
    secretName: "site-tls",
    ready: {
      status: "False",
      reason: "DoesNotExist",
      message: "Issuing certificate as Secret does not exist",
    },
    issuing: {
      status: "True",
      reason: "DoesNotExist",
      message: "Issuing certificate as Secret does not exist",
    },
  },
  issuer: { kind: "ClusterIssuer", name: "pebble", found: true, ready },
  order: { name: "site-1-abc", state: "pending", reason: "", created: "2026-01-01T00:00:00Z" },
  challenges: [
    {
      name: "site-1-abc-1",
      domain: "*.example.test",
      state: "pending",
      presented: true,
      reason: "Waiting for DNS propagation of _acme-challenge.example.test.",
      key: "wildcard-value",
      record: { fqdn: "_acme-challenge.example.test.", zone: "example.test." },
    },
    {
      name: "site-1-abc-2",
      domain: "example.test",
      state: "valid",
      presented: false,
      reason: "",
      key: "apex-value",
      record: { fqdn: "_acme-challenge.example.test.", zone: "example.test." },
    },
  ],
  dns: [
    {
      fqdn: "_acme-challenge.example.test.",
      zone: "example.test.",
      serverKind: "authoritative",
      servers: [
        { server: "10.0.0.1:53", values: ["wildcard-value"], challenges: ["*.example.test"] },
        { server: "10.0.0.2:53", values: [], challenges: [] },
      ],
    },
  ],
};

describe("diagnose", () => {
  it("is satisfied by a Ready Certificate that is not issuing", () => {
    expect(
      diagnose({
        ...base,
        certificate: { ...base.certificate, ready, issuing: undefined },
        order: undefined,
      }),
    ).toBeUndefined();
  });

  it("blames a missing issuer first", () => {
    expect(diagnose({ ...base, issuer: { ...base.issuer, found: false, ready: undefined } })).toEqual({
      step: "Issuer",
      reason: "ClusterIssuer pebble does not exist",
    });
  });

  it("blames an issuer that is not Ready, with its message", () => {
    const issuer = {
      ...base.issuer,
      ready: { status: "False", reason: "ErrRegister", message: "the CA is down" },
    };
    expect(diagnose({ ...base, issuer })?.reason).toBe("ClusterIssuer pebble is not Ready: the CA is down");
  });

  it("names the first challenge that is not valid and the servers that lack its value", () => {
    expect(diagnose(base)).toEqual({
      step: "Challenge *.example.test",
      reason:
        "Waiting for DNS propagation of _acme-challenge.example.test. (DNS now: 1 of 2 authoritative servers lack the value: 10.0.0.2:53)",
    });
  });

  it("reports a failed Order with its reason", () => {
    const order = { name: "site-1-abc", state: "errored", reason: "the CA refused: rejectedIdentifier" };
    expect(diagnose({ ...base, order, challenges: [] })).toEqual({
      step: "Order site-1-abc",
      reason: "errored: the CA refused: rejectedIdentifier",
    });
  });

  it("falls back to the Certificate's Issuing message when no Order exists yet", () => {
    expect(diagnose({ ...base, order: undefined, challenges: [], dns: [] })).toEqual({
      step: "Certificate",
      reason: "Issuing certificate as Secret does not exist",
    });
  });
});

describe("renderStatus", () => {
  it("shows each step, each server's values by challenge, and where it waits", () => {
    const text = renderStatus(
      { ...base, waiting: diagnose(base), ready: false },
      new Date("2026-01-01T00:00:30Z"),
    );
    expect(text).toContain(
      "Certificate web/site\n  Ready:      no (DoesNotExist: Issuing certificate as Secret does not exist)",
    );
    expect(text).toContain("Issuer ClusterIssuer pebble: Ready");
    expect(text).toContain("Order site-1-abc: pending, created 30s ago");
    expect(text).toMatch(/\*\.example\.test\s+pending\s+yes\s+Waiting for DNS propagation/);
    expect(text).toContain('  10.0.0.1:53: "wildcard-value" (*.example.test)');
    expect(text).toContain("  10.0.0.2:53: no TXT value");
    expect(text.split("\n").at(-1)).toMatch(/^Waiting at Challenge \*\.example\.test: /);
  });
});
