import { describe, expect, it } from "@jest/globals";
import { TemporaryError, TerminalError } from "../../errors.js";
import { silentLogger } from "../../log.js";
import { createAzureDnsSolver } from "./azuredns.js";
import { type Classified, classify, DEFAULT_THROTTLE_MS, entraMessage } from "./errors.js";

/** The error of a classification that must be one. */
function errorOf(c: Classified): Error {
  if (c.kind !== "error") throw new Error(`expected an error, got ${c.kind}`);
  return c.error;
}

/** A RestError as @azure/core-rest-pipeline builds it from ARM's `{error: {code, message}}`. */
function restError(statusCode: number, code: string, message: string, headers: Record<string, string> = {}) {
  return Object.assign(new Error(message), {
    name: "RestError",
    statusCode,
    code,
    response: { headers: { get: (n: string) => headers[n] } },
  });
}

const MSAL_MESSAGE =
  "invalid_client: Error(s): 7000215 - Timestamp: 2026-01-01 10:00:00Z - Description: AADSTS7000215: Invalid client " +
  "secret provided. Ensure the secret being sent in the request is the client secret value. - Correlation ID: " +
  "0c2e - Trace ID: 9a1f";

describe("classify (Azure errors)", () => {
  const what = "failed to create TXT record";

  it.each([
    [412, "PreconditionFailed", "The Record set x has been modified (etag mismatch).", "conflict"],
    [
      404,
      "NotFound",
      "The resource record 'x' does not exist in resource group 'rg' of subscription 's'.",
      "notFound",
    ],
  ])("classifies %i %s as %s", (status, code, message, kind) => {
    expect(classify(restError(status, code, message), what).kind).toBe(kind);
  });

  it.each([
    [
      404,
      "ParentResourceNotFound",
      "Parent resource 'example.com' not found.",
      TerminalError,
      "ZoneNotFound",
    ],
    [404, "ResourceGroupNotFound", "Resource group 'rg' could not be found.", TerminalError, "ZoneNotFound"],
    [
      403,
      "AuthorizationFailed",
      "The client 'c' does not have authorization",
      TerminalError,
      "InvalidCredentials",
    ],
    [401, "InvalidAuthenticationToken", "The access token is invalid.", TerminalError, "InvalidCredentials"],
    [
      409,
      "RecordSetRecordLimitReached",
      "the limit is 20 records per record set",
      TerminalError,
      "QuotaExceeded",
    ],
    [
      400,
      "BadRequest",
      "The TXT record set must hold at least one record",
      TerminalError,
      "InvalidConfiguration",
    ],
    [500, "InternalServerError", "Encountered internal server error.", TemporaryError, undefined],
    [503, "ServiceUnavailable", "The service is currently unavailable.", TemporaryError, undefined],
  ])(
    "turns %i %s into the right error, with ARM's code and message",
    (status, code, message, type, reason) => {
      const c = classify(restError(status, code, message), what);
      const err = errorOf(c);
      expect(err).toBeInstanceOf(type);
      expect(err.message).toBe(`azureDNS: ${what}: ${status} ${code}: ${message}`);
      if (reason !== undefined) expect((err as TerminalError).reason).toBe(reason);
    },
  );

  it("reads Retry-After (or retry-after-ms) from a 429, and backs off by default without one", () => {
    expect(
      classify(restError(429, "SubscriptionRequestsThrottled", "x", { "retry-after": "17" }), what),
    ).toEqual({
      kind: "throttled",
      retryAfterMs: 17000,
    });
    expect(classify(restError(429, "TooManyRequests", "x", { "retry-after-ms": "1500" }), what)).toEqual({
      kind: "throttled",
      retryAfterMs: 1500,
    });
    expect(classify(restError(429, "TooManyRequests", "x"), what)).toEqual({
      kind: "throttled",
      retryAfterMs: DEFAULT_THROTTLE_MS,
    });
  });

  it("turns Entra ID's refusal into InvalidCredentials and its outage into a TemporaryError", () => {
    const refused = classify(
      Object.assign(new Error(MSAL_MESSAGE), { name: "AuthenticationRequiredError" }),
      what,
    );
    const err = errorOf(refused) as TerminalError;
    expect(err.reason).toBe("InvalidCredentials");
    expect(err.message).toBe(
      `azureDNS: ${what}: Microsoft Entra ID refused the credentials: invalid_client: AADSTS7000215: Invalid client ` +
        "secret provided. Ensure the secret being sent in the request is the client secret value.",
    );
    const outage = classify(
      Object.assign(
        new Error("ServiceUnavailable: Error(s):  - Timestamp: t - Description: down - Trace ID: x"),
        {
          name: "AuthenticationRequiredError",
        },
      ),
      what,
    );
    expect(errorOf(outage)).toBeInstanceOf(TemporaryError);
  });

  it("treats a network failure as temporary", () => {
    const net = Object.assign(new Error("connect ECONNREFUSED"), {
      name: "RestError",
      code: "REQUEST_SEND_ERROR",
    });
    expect(errorOf(classify(net, what))).toBeInstanceOf(TemporaryError);
  });
});

describe("entraMessage", () => {
  it("keeps the OAuth code and the AADSTS description, without timestamps and trace ids", () => {
    expect(entraMessage(MSAL_MESSAGE).code).toBe("invalid_client");
    expect(entraMessage(MSAL_MESSAGE).text).toMatch(
      /^invalid_client: AADSTS7000215: Invalid client secret provided\./,
    );
    expect(entraMessage("something else")).toEqual({ code: undefined, text: "something else" });
  });
});

describe("createAzureDnsSolver", () => {
  const base = {
    subscriptionID: "s",
    resourceGroupName: "rg",
    credential: { kind: "clientSecret", tenantID: "t", clientID: "c", clientSecret: "x" },
  } as const;
  const ctx = () => ({ signal: new AbortController().signal, log: silentLogger() });

  it("refuses an empty subscriptionID or resourceGroupName", () => {
    expect(() => createAzureDnsSolver({ ...base, subscriptionID: " " })).toThrow(
      "azureDNS: subscriptionID is required",
    );
    expect(() => createAzureDnsSolver({ ...base, resourceGroupName: "" })).toThrow(
      "azureDNS: resourceGroupName is required",
    );
  });

  it("writes the apex of a zone as the record set '@' (and refuses names outside the zone)", async () => {
    const s = createAzureDnsSolver({ ...base, hostedZoneName: "example.com." });
    const aborted = new AbortController();
    aborted.abort();
    // An aborted signal stops before any call; the name check runs first for a foreign name.
    await expect(
      s.present(
        { fqdn: "example.org.", zone: "example.org.", value: "v" },
        { ...ctx(), signal: aborted.signal },
      ),
    ).rejects.toThrow(/aborted/i);
    await expect(
      s.present({ fqdn: "a.example.org.", zone: "example.org.", value: "v" }, ctx()),
    ).rejects.toThrow("azureDNS: a.example.org. is not in the zone example.com (hostedZoneName)");
  });
});
