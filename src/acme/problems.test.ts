import { describe, expect, it } from "@jest/globals";
import { TemporaryError, TerminalError } from "../errors.js";
import {
  asProblem,
  describeProblem,
  hasProblemType,
  parseRetryAfter,
  problemOf,
  problemToError,
  reasonForProblemType,
} from "./problems.js";

const P = "urn:ietf:params:acme:error:";

describe("reasonForProblemType", () => {
  it.each([
    [`${P}rejectedIdentifier`, "RejectedIdentifier"],
    [`${P}caa`, "Caa"],
    [`${P}accountDoesNotExist`, "AccountDoesNotExist"],
    [`${P}externalAccountRequired`, "ExternalAccountRequired"],
    [`${P}badCSR`, "BadCSR"],
    ["about:blank", "AcmeError"],
    ["https://example.test/problems/odd", "AcmeError"],
    [`${P}we ird`, "AcmeError"],
  ])("turns %p into %p", (type, reason) => {
    expect(reasonForProblemType(type)).toBe(reason);
  });
});

describe("problemToError", () => {
  it.each([
    ["badNonce", 400, TemporaryError],
    ["serverInternal", 500, TemporaryError],
    ["rateLimited", 429, TemporaryError],
    ["malformed", 503, TemporaryError],
    ["malformed", 400, TerminalError],
    ["unauthorized", 403, TerminalError],
    ["caa", 403, TerminalError],
    ["dns", 400, TerminalError],
    ["incorrectResponse", 400, TerminalError],
    ["userActionRequired", 403, TerminalError],
    ["orderNotReady", 403, TerminalError],
  ])("classifies %s with HTTP %i as %p", (short, status, kind) => {
    const err = problemToError({ type: P + short, detail: "d" }, { httpStatus: status });
    expect(err).toBeInstanceOf(kind);
    expect(problemOf(err)?.type).toBe(P + short);
    expect(hasProblemType(err, short)).toBe(true);
  });

  it("keeps the CA's detail, the context and Retry-After", () => {
    const err = problemToError(
      { type: `${P}rateLimited`, detail: "slow down\n" },
      { httpStatus: 429, retryAfterMs: 5000, context: "creating an order" },
    );
    expect(err.message).toBe("creating an order: ACME server: slow down [rateLimited]");
    expect((err as TemporaryError).retryAfterMs).toBe(5000);
  });

  it("finds the problem through several layers of causes, and nothing where there is none", () => {
    const inner = problemToError({ type: `${P}caa`, detail: "no" });
    const outer = new TerminalError("wrapped", "Caa", { cause: new Error("middle", { cause: inner }) });
    expect(problemOf(outer)?.detail).toBe("no");
    expect(problemOf(new Error("plain"))).toBeUndefined();
    expect(problemOf("a string")).toBeUndefined();
  });
});

describe("asProblem and describeProblem", () => {
  it("reads a problem document defensively and describes it in one line", () => {
    const p = asProblem(
      {
        type: `${P}compound`,
        detail: "two problems",
        subproblems: [
          {
            type: `${P}dns`,
            detail: "SERVFAIL looking up TXT",
            identifier: { type: "dns", value: "a.test" },
          },
          "junk",
          { type: `${P}caa` },
        ],
      },
      400,
    );
    expect(p?.status).toBe(400);
    expect(p?.subproblems).toHaveLength(2);
    expect(describeProblem(p!)).toBe("two problems; a.test: SERVFAIL looking up TXT; caa [compound]");
    expect(asProblem({ detail: "no type" })).toBeUndefined();
    expect(asProblem("text")).toBeUndefined();
    expect(describeProblem({ type: "about:blank" })).toBe("(no detail) [about:blank]");
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2025-01-01T00:00:00Z");
  it.each<[string | undefined, number | undefined]>([
    [undefined, undefined],
    ["", undefined],
    ["120", 120_000],
    ["0", 0],
    ["Wed, 01 Jan 2025 00:01:30 GMT", 90_000],
    ["Tue, 31 Dec 2024 23:00:00 GMT", 0],
    ["soon", undefined],
  ])("reads %p as %p ms", (header, ms) => {
    expect(parseRetryAfter(header, now)).toBe(ms);
  });
});
