/**
 * The image's Dockerfile cannot be built here (no Docker engine), so it is checked against what it
 * must agree with: the Node.js version pinned in hack/versions.sh, the Deployment the Helm chart
 * renders (user, ports, entry point, read-only root filesystem) and the build's output layout.
 */
import { describe, expect, it } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { parseConfig } from "../../src/config.js";
import { repoRoot } from "../support/rig.js";

interface Instruction {
  stage: number;
  op: string;
  args: string;
}

/** The Dockerfile's instructions with line continuations joined and comments dropped. */
function dockerfile(): Instruction[] {
  const text = readFileSync(join(repoRoot, "Dockerfile"), "utf8").replace(/\\\n/g, " ");
  const out: Instruction[] = [];
  let stage = -1;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m?.[1] || m[2] === undefined) throw new Error(`unparsable Dockerfile line: ${line}`);
    const op = m[1].toUpperCase();
    if (op === "FROM") stage++;
    out.push({ stage, op, args: m[2].trim() });
  }
  return out;
}

function pinned(name: string): string {
  const m = new RegExp(`^${name}=(\\S+)$`, "m").exec(
    readFileSync(join(repoRoot, "hack/versions.sh"), "utf8"),
  );
  if (m?.[1] === undefined) throw new Error(`hack/versions.sh does not pin ${name}`);
  return m[1];
}

interface Container {
  image: string;
  command?: string[];
  args?: string[];
  ports?: { containerPort: number; name?: string }[];
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
  volumeMounts?: { name: string; mountPath: string }[];
}

interface PodSpec {
  securityContext?: { runAsUser?: number; runAsGroup?: number; runAsNonRoot?: boolean };
  containers: Container[];
}

/** The chart's Deployment pod spec with default values, rendered by the pinned Helm. */
function renderedPod(): PodSpec {
  const helm = join(
    process.env["DNS01_CACHE"] ?? join(homedir(), ".cache/dns01-operator"),
    "bin",
    `helm-${pinned("HELM_VERSION")}`,
  );
  if (!existsSync(helm)) execFileSync("bash", [join(repoRoot, "hack/build-rig-binaries.sh"), "helm"]);
  const out = execFileSync(helm, ["template", "t", join(repoRoot, "charts/dns01-operator"), "-n", "ops"], {
    encoding: "utf8",
  });
  const deployment = parseAllDocuments(out)
    .map((d) => d.toJS() as { kind?: string; spec?: { template: { spec: PodSpec } } } | null)
    .find((d) => d?.kind === "Deployment");
  if (!deployment?.spec) throw new Error("the chart rendered no Deployment");
  return deployment.spec.template.spec;
}

describe("the Dockerfile agrees with the chart and the pinned runtime", () => {
  const steps = dockerfile();
  const last = Math.max(...steps.map((s) => s.stage));
  const final = steps.filter((s) => s.stage === last);
  const pod = renderedPod();
  const container = pod.containers[0];

  it("is multi-stage and every stage runs the Node.js version pinned in hack/versions.sh", () => {
    expect(last).toBeGreaterThanOrEqual(1);
    const nodeVersion = pinned("NODE_VERSION");
    const arg = steps.find((s) => s.op === "ARG" && s.args.startsWith("NODE_VERSION="));
    expect(arg?.args).toBe(`NODE_VERSION=${nodeVersion}`);
    for (const from of steps.filter((s) => s.op === "FROM")) {
      expect(from.args).toMatch(/^node:\$\{NODE_VERSION\}-\S+/);
    }
    // The final stage installs nothing: no compiler, no dev dependencies, no network at run time.
    expect(final.filter((s) => s.op === "RUN")).toEqual([]);
  });

  it("runs as the non-root user the chart's pod security context names", () => {
    const user = final.filter((s) => s.op === "USER").at(-1)?.args;
    expect(user).toBeDefined();
    const [uid, gid] = (user ?? "").split(":").map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(pod.securityContext?.runAsUser).toBe(uid);
    if (gid !== undefined) expect(pod.securityContext?.runAsGroup).toBe(gid);
  });

  it("exposes exactly the ports the chart's container declares", () => {
    const exposed = final
      .filter((s) => s.op === "EXPOSE")
      .flatMap((s) => s.args.split(/\s+/))
      .map((p) => Number(p.replace(/\/tcp$/, "")))
      .sort();
    const declared = (container?.ports ?? []).map((p) => p.containerPort).sort();
    expect(exposed).toEqual(declared);
    expect(exposed.length).toBeGreaterThan(0);
  });

  it("starts the compiled operator, which the chart runs with flags the operator accepts", () => {
    const entry = final.filter((s) => s.op === "ENTRYPOINT").at(-1)?.args;
    expect(JSON.parse(entry ?? "null")).toEqual(["node", "dist/main.js"]);
    // tsconfig.build.json compiles src/ into dist/, so src/main.ts becomes dist/main.js.
    const build = JSON.parse(readFileSync(join(repoRoot, "tsconfig.build.json"), "utf8")) as {
      compilerOptions: { rootDir: string; outDir: string };
    };
    expect(build.compilerOptions).toMatchObject({ rootDir: "src", outDir: "dist" });
    expect(existsSync(join(repoRoot, "src/main.ts"))).toBe(true);
    expect(final.some((s) => s.op === "COPY" && s.args.endsWith("/dist ./dist"))).toBe(true);
    // No command in the chart: the image's entry point runs, with the chart's args.
    expect(container?.command).toBeUndefined();
    expect(() => parseConfig(container?.args ?? [], { POD_NAMESPACE: "ops" })).not.toThrow();
  });

  it("needs nothing writable but the /tmp the chart mounts, under a read-only root filesystem", () => {
    expect(container?.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(container?.securityContext?.allowPrivilegeEscalation).toBe(false);
    expect(container?.volumeMounts?.map((m) => m.mountPath)).toContain("/tmp");
    expect(final.some((s) => s.op === "VOLUME")).toBe(false);
  });
});
