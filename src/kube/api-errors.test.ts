import { describe, expect, it } from "@jest/globals";
import { ApiException } from "@kubernetes/client-node";
import {
  apiStatus,
  apiStatusCode,
  describeError,
  isAlreadyExists,
  isGone,
  isNotFound,
} from "./api-errors.js";
import { KubeApiError } from "./client.js";

describe("classifying API errors without client-node's class", () => {
  it("reads the status and Status of our KubeApiError", () => {
    const err = new KubeApiError(
      "POST",
      "/x",
      409,
      { code: 409, reason: "AlreadyExists", message: "x exists" },
      {},
    );
    expect(apiStatusCode(err)).toBe(409);
    expect(isAlreadyExists(err)).toBe(true);
    expect(describeError(err)).toBe("409 x exists");
  });

  it("reads client-node's ApiException, whose body is a JSON string, by its shape", () => {
    const err = new ApiException(
      404,
      "Not Found",
      JSON.stringify({ reason: "NotFound", message: "gone" }),
      {},
    );
    expect(isNotFound(err)).toBe(true);
    expect(apiStatus(err)?.reason).toBe("NotFound");
    expect(isGone(new ApiException(410, "", "", {}))).toBe(true);
  });

  it("does not take a network error with a string code, or a plain object, for an API error", () => {
    const net = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    expect(apiStatusCode(net)).toBeUndefined();
    expect(apiStatus({ code: 404, body: { reason: "NotFound" } })).toBeUndefined();
    expect(apiStatusCode(Object.assign(new Error("watch"), { statusCode: 410 }))).toBe(410);
  });
});
