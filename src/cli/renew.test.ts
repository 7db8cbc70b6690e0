import { describe, expect, it } from "@jest/globals";
import { renderRenewed, renewTarget } from "./renew.js";

describe("renewTarget", () => {
  const base = { all: false, allNamespaces: false, namespace: "web" };

  it("renews one Certificate by name in the current namespace", () => {
    expect(renewTarget(["site"], base)).toEqual({ by: "name", name: "site", namespace: "web" });
  });

  it("renews by selector in every namespace with -A", () => {
    expect(renewTarget([], { ...base, selector: "tier=prod", allNamespaces: true })).toEqual({
      by: "selector",
      selector: "tier=prod",
      namespace: undefined,
    });
  });

  it("renews all in the namespace with --all", () => {
    expect(renewTarget([], { ...base, all: true })).toEqual({ by: "all", namespace: "web" });
  });

  it("refuses zero or several ways of choosing, and -A with a name", () => {
    expect(() => renewTarget([], base)).toThrow(/exactly one of/);
    expect(() => renewTarget(["a"], { ...base, all: true })).toThrow(/exactly one of/);
    expect(() => renewTarget(["a"], { ...base, allNamespaces: true })).toThrow(/-A goes with -l or --all/);
    expect(() => renewTarget(["a", "b"], base)).toThrow(/one NAME/);
  });

  it("says so when a selector matches nothing", () => {
    expect(renderRenewed([], { by: "selector", selector: "x=y", namespace: undefined })).toBe(
      "No certificates match x=y in any namespace.",
    );
  });
});
