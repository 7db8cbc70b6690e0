import { describe, expect, it } from "@jest/globals";
import { READY_MESSAGE, notReady, readyState } from "./readiness.js";
import type { SecretFacts } from "./trigger.js";

const now = new Date("2026-06-01T00:00:00Z");
const good: SecretFacts = {
  exists: true,
  annotations: {},
  hasCertificate: true,
  hasPrivateKey: true,
  certificate: {
    dnsNames: ["example.test"],
    notBefore: new Date("2026-05-01T00:00:00Z"),
    notAfter: new Date("2026-08-01T00:00:00Z"),
  },
  privateKey: { algorithm: "ECDSA", size: 256 },
  keyMatchesCertificate: true,
};

describe("notReady", () => {
  it("finds a valid certificate with its key usable", () => {
    expect(notReady({ secret: good, now })).toBeNull();
  });
  it.each<[string, Partial<SecretFacts>, Date, string]>([
    ["a missing Secret", { exists: false }, now, "DoesNotExist"],
    ["a Secret without a certificate", { hasCertificate: false }, now, "MissingData"],
    ["a Secret without a key", { hasPrivateKey: false }, now, "MissingData"],
    ["an unparsable Secret", { parseError: "bad PEM" }, now, "InvalidData"],
    ["a key that does not match", { keyMatchesCertificate: false }, now, "InvalidKeyPair"],
    ["an expired certificate", {}, new Date("2026-08-01T00:00:00Z"), "Expired"],
    ["a certificate not yet valid", {}, new Date("2026-04-30T00:00:00Z"), "NotYetValid"],
  ])("refuses %s", (_name, over, at, reason) => {
    expect(notReady({ secret: { ...good, ...over }, now: at })?.reason).toBe(reason);
  });
});

describe("readyState", () => {
  const expired = { reason: "Expired", message: "The certificate expired at X" };
  it.each<[string, Parameters<typeof readyState>[0], { status: string; reason: string; message?: string }]>([
    [
      "is True for a usable, current certificate",
      { notReady: null, trigger: null },
      { status: "True", reason: "Ready", message: READY_MESSAGE },
    ],
    [
      "stays True while a scheduled renewal runs",
      { notReady: null, trigger: { reason: "Renewing", message: "m" } },
      { status: "True", reason: "Ready" },
    ],
    [
      "stays True while a manual renewal runs",
      { notReady: null, trigger: { reason: "ManuallyTriggered", message: "m" } },
      { status: "True", reason: "Ready" },
    ],
    [
      "is False with the trigger's reason when the spec asks for something else",
      { notReady: null, trigger: { reason: "RequestChanged", message: "m" } },
      { status: "False", reason: "RequestChanged", message: "m" },
    ],
    [
      "keeps the last failure while a changed spec keeps failing",
      { notReady: null, trigger: { reason: "SecretMismatch", message: "m" }, lastFailure: "CA said no" },
      { status: "False", reason: "Failed", message: "CA said no" },
    ],
    [
      "is False with the readiness reason once expired, whatever the trigger, and says what failed",
      { notReady: expired, trigger: { reason: "Expired", message: "m" }, lastFailure: "no TXT record" },
      {
        status: "False",
        reason: "Expired",
        message: "The certificate expired at X; the last issuance failed: no TXT record",
      },
    ],
    [
      "says Failed with the CA's words when no certificate was ever issued or the Secret is gone",
      {
        notReady: { reason: "DoesNotExist", message: "The Secret does not exist" },
        trigger: { reason: "DoesNotExist", message: "m" },
        lastFailure: "CA refused a.test",
      },
      { status: "False", reason: "Failed", message: "CA refused a.test" },
    ],
  ])("%s", (_n, input, want) => {
    expect(readyState(input)).toMatchObject(want);
  });
});
