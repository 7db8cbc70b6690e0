import { describe, expect, it } from "@jest/globals";
import { InvalidInput, NoSuchHostedZone, Route53ServiceException } from "@aws-sdk/client-route-53";
import { TemporaryError, TerminalError } from "../../errors.js";
import { classifyAwsError, describeAwsError, isThrottling } from "./errors.js";

function awsError(
  name: string,
  status: number,
  message: string,
  fault: "client" | "server" = "client",
): Error {
  return new Route53ServiceException({ name, $fault: fault, $metadata: { httpStatusCode: status }, message });
}

describe("classifyAwsError", () => {
  it.each([
    ["AccessDenied", 403, "User: arn:aws:iam::1:user/x is not authorized to perform: route53:GetChange"],
    ["InvalidClientTokenId", 403, "The security token included in the request is invalid."],
    ["SignatureDoesNotMatch", 403, "The request signature we calculated does not match"],
    ["UnknownError", 403, ""],
  ])(
    "makes %s (HTTP %d) a TerminalError InvalidCredentials carrying AWS's message",
    (code, status, message) => {
      const err = classifyAwsError(awsError(code, status, message), "list hosted zones");
      expect(err).toBeInstanceOf(TerminalError);
      expect((err as TerminalError).reason).toBe("InvalidCredentials");
      expect(err.message).toBe(
        `route53: failed to list hosted zones: ${message === "" ? code : `${code}: ${message}`}`,
      );
    },
  );

  it.each([
    ["Throttling", 400],
    ["ThrottlingException", 400],
    ["PriorRequestNotComplete", 400],
    ["InternalFailure", 500],
    ["ServiceUnavailable", 503],
    ["SomethingNew", 502],
  ])("makes %s (HTTP %d) a TemporaryError without a delay of its own", (code, status) => {
    const err = classifyAwsError(
      awsError(code, status, "x", status >= 500 ? "server" : "client"),
      "get change",
    );
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as TemporaryError).retryAfterMs).toBeUndefined();
  });

  it("makes a network failure a TemporaryError", () => {
    const err = classifyAwsError(
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }),
      "x",
    );
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toContain("ECONNREFUSED");
  });

  it("makes a malformed request a TerminalError InvalidConfiguration", () => {
    const err = classifyAwsError(
      new InvalidInput({ message: "bad name", $metadata: { httpStatusCode: 400 } }),
      "x",
    );
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
  });

  it("makes an empty default credential chain a TerminalError InvalidCredentials", () => {
    const err = Object.assign(new Error("Could not load credentials from any providers"), {
      name: "CredentialsProviderError",
    });
    expect((classifyAwsError(err, "x") as TerminalError).reason).toBe("InvalidCredentials");
  });

  it("passes errors that are already classified through unchanged", () => {
    const t = new TerminalError("x", "ZoneNotFound");
    expect(classifyAwsError(t, "y")).toBe(t);
    const abort = Object.assign(new Error("aborted"), { name: "AbortError" });
    expect(classifyAwsError(abort, "y")).toBe(abort);
  });
});

describe("isThrottling", () => {
  it("recognizes Route 53's HTTP 400 Throttling and a plain HTTP 429, not other errors", () => {
    expect(isThrottling(awsError("Throttling", 400, "Rate exceeded"))).toBe(true);
    expect(isThrottling(awsError("Whatever", 429, ""))).toBe(true);
    expect(isThrottling(new NoSuchHostedZone({ message: "x", $metadata: { httpStatusCode: 404 } }))).toBe(
      false,
    );
  });
});

describe("describeAwsError", () => {
  it("states the code and the message", () => {
    expect(describeAwsError(awsError("Throttling", 400, "Rate exceeded"))).toBe("Throttling: Rate exceeded");
  });
});
