import { describe, expect, it } from "@jest/globals";
import { UsageError, listFlag, parseCommandLine, parseTimeout, stringFlag } from "./args.js";

describe("parseCommandLine", () => {
  it("accepts global flags before and after the command, as kubectl does", () => {
    const a = parseCommandLine(["-n", "team-a", "status", "certificate", "web", "-o", "json"]);
    expect(a).toMatchObject({
      command: "status",
      args: ["certificate", "web"],
      namespace: "team-a",
      output: "json",
    });
    const b = parseCommandLine(["status", "certificate", "web", "--namespace=team-a", "--context", "prod"]);
    expect(b).toMatchObject({ namespace: "team-a", context: "prod", output: "human" });
  });

  it("takes -o=yaml with an equals sign, which kubectl users type", () => {
    expect(parseCommandLine(["version", "-o=yaml"]).output).toBe("yaml");
  });

  it("refuses an output format other than json or yaml and names the value", () => {
    expect(() => parseCommandLine(["version", "-o", "wide"])).toThrow(/-o must be json or yaml.*"wide"/);
  });

  it("refuses a flag that exists but belongs to another command, naming both", () => {
    expect(() => parseCommandLine(["inspect", "secret", "x", "--issuer", "y"])).toThrow(
      new UsageError("inspect does not take --issuer"),
    );
  });

  it("refuses an unknown command and lists the commands", () => {
    expect(() => parseCommandLine(["statuz"])).toThrow(/unknown command "statuz"; commands: status, renew/);
  });

  it("refuses an unknown flag", () => {
    expect(() => parseCommandLine(["renew", "--force"])).toThrow(UsageError);
  });

  it("collects repeated -f flags in order", () => {
    const cl = parseCommandLine(["convert", "-f", "a.yaml", "-f", "-"]);
    expect(listFlag(cl, "filename")).toEqual(["a.yaml", "-"]);
  });

  it("reads renew's short flags -l and -A", () => {
    const cl = parseCommandLine(["renew", "-l", "app=web", "-A"]);
    expect(stringFlag(cl, "selector")).toBe("app=web");
    expect(cl.flags["all-namespaces"]).toBe(true);
  });

  it("treats --help, help COMMAND and no command at all as requests for help", () => {
    expect(parseCommandLine(["check-dns", "--help"])).toMatchObject({ command: "check-dns", help: true });
    expect(parseCommandLine(["help", "convert"])).toMatchObject({ command: "convert", help: true });
    expect(parseCommandLine([])).toMatchObject({ command: undefined, help: true });
  });
});

describe("parseTimeout", () => {
  it("reads Go durations and plain seconds", () => {
    expect(parseTimeout("90s")).toBe(90_000);
    expect(parseTimeout("1m30s")).toBe(90_000);
    expect(parseTimeout("120")).toBe(120_000);
  });

  it("refuses zero and text that is no duration", () => {
    expect(() => parseTimeout("0")).toThrow(/not a duration/);
    expect(() => parseTimeout("soon")).toThrow(/not a duration/);
  });
});
