import { describe, expect, it } from "@jest/globals";
import { TemporaryError, TerminalError } from "../../errors.js";
import { txtValue } from "./clouddns.js";
import { type Classified, classify, DEFAULT_THROTTLE_MS } from "./errors.js";
import { GOOGLE_TOKEN_URL, parseServiceAccountKey } from "./key.js";

/** The error of a classification that must be one. */
function errorOf(c: Classified): Error {
  if (c.kind !== "error") throw new Error(`expected an error, got ${c.kind}`);
  return c.error;
}

/** An ApiError as @google-cloud/common builds it from a Google error body. */
function apiError(code: number, reason: string, message: string, headers: Record<string, string> = {}) {
  return Object.assign(new Error(message), {
    code,
    errors: [{ reason, message, domain: "global" }],
    response: { headers },
  });
}

/** A GaxiosError from google-auth-library's token request. */
function tokenError(status: number | undefined, message: string) {
  return Object.assign(new Error(message), {
    name: "GaxiosError",
    ...(status === undefined ? {} : { status, code: status }),
    config: { url: GOOGLE_TOKEN_URL },
  });
}

const PEM = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";

describe("parseServiceAccountKey", () => {
  it("reads the fields of a service account key, with Google's token endpoint by default", () => {
    const key = parseServiceAccountKey(
      JSON.stringify({
        type: "service_account",
        client_email: "a@p.iam.gserviceaccount.com",
        private_key: PEM,
        private_key_id: "k1",
      }),
    );
    expect(key).toEqual({
      clientEmail: "a@p.iam.gserviceaccount.com",
      privateKey: PEM,
      privateKeyId: "k1",
      tokenUri: GOOGLE_TOKEN_URL,
    });
  });

  it.each([
    ["not JSON", "{not json", /does not hold JSON/],
    ["a JSON array", "[]", /does not hold a JSON object/],
    [
      "an authorized_user credential",
      JSON.stringify({ type: "authorized_user", refresh_token: "r" }),
      /type "authorized_user"/,
    ],
    ["a key without a type", JSON.stringify({ client_email: "a@b", private_key: PEM }), /type unset/],
    [
      "a key without client_email",
      JSON.stringify({ type: "service_account", private_key: PEM }),
      /no client_email/,
    ],
    [
      "a key without a PEM key",
      JSON.stringify({ type: "service_account", client_email: "a@b", private_key: "x" }),
      /no PEM private_key/,
    ],
    [
      "a plain-http token_uri on another host",
      JSON.stringify({
        type: "service_account",
        client_email: "a@b",
        private_key: PEM,
        token_uri: "http://10.0.0.1/token",
      }),
      /must be an https URL/,
    ],
  ])("refuses %s as InvalidConfiguration", (_what, text, message) => {
    let err: unknown;
    try {
      parseServiceAccountKey(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain("MIIB");
  });

  it("accepts an http token_uri on a loopback address (an emulator or a local proxy)", () => {
    const key = parseServiceAccountKey(
      JSON.stringify({
        type: "service_account",
        client_email: "a@b",
        private_key: PEM,
        token_uri: "http://127.0.0.1:8080/token",
      }),
    );
    expect(key.tokenUri).toBe("http://127.0.0.1:8080/token");
  });
});

describe("classify (Cloud DNS errors)", () => {
  const what = "failed to change TXT records";

  it.each([
    [
      409,
      "alreadyExists",
      "The resource 'entity.change.additions[0]' named 'x. (TXT)' already exists",
      "conflict",
    ],
    [412, "conditionNotMet", "Precondition not met for 'entity.change.deletions[0]'", "conflict"],
    [
      404,
      "notFound",
      "The 'entity.change.deletions[0]' resource named 'x. (TXT)' does not exist.",
      "conflict",
    ],
    [404, "notFound", "The 'parameters.managedZone' resource named 'z' does not exist.", "zoneGone"],
  ])("classifies %i %s as %s", (code, reason, message, kind) => {
    expect(classify(apiError(code, reason, message), what).kind).toBe(kind);
  });

  it.each([
    [401, "authError", "Invalid Credentials", TerminalError, "InvalidCredentials"],
    [403, "forbidden", "Forbidden", TerminalError, "InvalidCredentials"],
    [
      403,
      "quotaExceeded",
      "The change would exceed quota for resource records per rrset.",
      TerminalError,
      "QuotaExceeded",
    ],
    [
      400,
      "invalid",
      "Invalid value for 'entity.change.additions[0].name'",
      TerminalError,
      "InvalidConfiguration",
    ],
    [500, "backendError", "Internal Error", TemporaryError, undefined],
    [503, "backendError", "Unavailable", TemporaryError, undefined],
  ])(
    "turns %i %s into the right error, with the provider's message",
    (code, reason, message, type, terminalReason) => {
      const c = classify(apiError(code, reason, message), what);
      expect(c.kind).toBe("error");
      const err = errorOf(c);
      expect(err).toBeInstanceOf(type);
      expect(err.message).toBe(`cloudDNS: ${what}: ${code} ${message}`);
      if (terminalReason !== undefined) expect((err as TerminalError).reason).toBe(terminalReason);
    },
  );

  it("treats 429 and a 403 rateLimitExceeded as throttling, with Retry-After when given", () => {
    expect(
      classify(apiError(429, "rateLimitExceeded", "Quota exceeded", { "retry-after": "12" }), what),
    ).toEqual({
      kind: "throttled",
      retryAfterMs: 12000,
    });
    expect(classify(apiError(403, "userRateLimitExceeded", "User Rate Limit Exceeded"), what)).toEqual({
      kind: "throttled",
      retryAfterMs: DEFAULT_THROTTLE_MS,
    });
  });

  it("tells the token endpoint's refusal (InvalidCredentials) from its outage (temporary)", () => {
    const refused = classify(tokenError(400, "invalid_grant: Invalid JWT Signature."), what);
    expect((errorOf(refused) as TerminalError).reason).toBe("InvalidCredentials");
    expect(errorOf(refused).message).toBe(
      `cloudDNS: ${what}: the token endpoint rejected the service account key: invalid_grant: Invalid JWT Signature.`,
    );
    expect(errorOf(classify(tokenError(503, "Service Unavailable"), what))).toBeInstanceOf(TemporaryError);
    expect(errorOf(classify(tokenError(undefined, "getaddrinfo ENOTFOUND"), what))).toBeInstanceOf(
      TemporaryError,
    );
  });

  it("treats a network failure as temporary and missing ambient credentials as InvalidCredentials", () => {
    const net = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), {
      code: "ECONNREFUSED",
      name: "FetchError",
    });
    expect(errorOf(classify(net, what))).toBeInstanceOf(TemporaryError);
    const adc = new Error(
      "Could not load the default credentials. Browse to https://cloud.google.com/docs/authentication",
    );
    expect((errorOf(classify(adc, what)) as TerminalError).reason).toBe("InvalidCredentials");
  });
});

describe("txtValue", () => {
  it.each([
    ['"abc"', "abc"],
    ['"ab" "cd"', "abcd"],
    ['"a\\"b"', 'a"b'],
    ["plain", "plain"],
  ])("reads %s as %s", (rrdata, text) => {
    expect(txtValue(rrdata)).toBe(text);
  });
});
