import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { parseCommandLine } from "./args.js";
import { loadCluster } from "./kube.js";

const kubeconfig = (): string => {
  const file = join(mkdtempSync(join(tmpdir(), "dns01ctl-kc-")), "config");
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters:
  - name: a
    cluster: { server: "https://127.0.0.1:6443" }
users:
  - name: u
    user: { token: t }
contexts:
  - name: dev
    context: { cluster: a, user: u, namespace: team-dev }
  - name: bare
    context: { cluster: a, user: u }
current-context: dev
`,
  );
  return file;
};

describe("loadCluster", () => {
  it("takes the namespace from -n, else the context's, else default", () => {
    const kc = kubeconfig();
    const load = (...args: string[]) =>
      loadCluster(parseCommandLine(["version", "--kubeconfig", kc, ...args]));
    expect(load()).toMatchObject({ context: "dev", namespace: "team-dev" });
    expect(load("-n", "other")).toMatchObject({ namespace: "other" });
    expect(load("--context", "bare")).toMatchObject({ context: "bare", namespace: "default" });
  });

  it("refuses a context the kubeconfig does not have and lists those it has", () => {
    const kc = kubeconfig();
    expect(() => loadCluster(parseCommandLine(["version", "--kubeconfig", kc, "--context", "prod"]))).toThrow(
      'context "prod" is not in the kubeconfig (it has dev, bare)',
    );
  });
});
