import { describe, expect, it } from "@jest/globals";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { GROUP } from "./common.js";
import { KINDS } from "./crd.js";
import { CRD_DIR, renderCrds } from "./generate.js";
import type { JsonSchema } from "./schema.js";

const repoRoot = resolve(import.meta.dirname, "../..");
const crdDir = join(repoRoot, CRD_DIR);

/** Every schema node with its path, depth first. */
function* walk(node: JsonSchema, path: string): Generator<[string, JsonSchema]> {
  yield [path, node];
  for (const [key, child] of Object.entries(node.properties ?? {})) yield* walk(child, `${path}.${key}`);
  if (node.items) yield* walk(node.items, `${path}[]`);
  if (node.additionalProperties) yield* walk(node.additionalProperties, `${path}{}`);
}

function openApiSchema(crd: unknown): JsonSchema {
  const versions = (crd as { spec: { versions: { schema: { openAPIV3Schema: JsonSchema } }[] } }).spec
    .versions;
  const first = versions[0];
  if (!first) throw new Error("CRD without versions");
  return first.schema.openAPIV3Schema;
}

describe("the generated CRDs", () => {
  const rendered = renderCrds();

  it("match the committed files in deploy/crds", () => {
    const stale: string[] = [];
    for (const [name, content] of rendered) {
      const path = join(crdDir, name);
      if (!existsSync(path) || readFileSync(path, "utf8") !== content) stale.push(name);
    }
    const extra = readdirSync(crdDir).filter((n) => n.startsWith(`${GROUP}_`) && !rendered.has(n));
    if (stale.length > 0 || extra.length > 0) {
      throw new Error(
        `deploy/crds is out of date with src/crds (differs: ${stale.join(", ") || "none"}; ` +
          `no longer generated: ${extra.join(", ") || "none"}). Run \`make crds\` and commit the result.`,
      );
    }
  });

  it("are the same on every run", () => {
    expect(renderCrds()).toEqual(rendered);
  });

  it("declare one CRD per kind, with a status subresource and the dns01 category", () => {
    expect([...rendered.keys()].sort()).toEqual(KINDS.map((k) => `${GROUP}_${k.names.plural}.yaml`).sort());
    for (const content of rendered.values()) {
      const crd = parse(content) as {
        spec: { names: { categories: string[] }; versions: { subresources: unknown; storage: boolean }[] };
      };
      expect(crd.spec.names.categories).toContain("dns01");
      expect(crd.spec.versions).toHaveLength(1);
      expect(crd.spec.versions[0]?.subresources).toEqual({ status: {} });
      expect(crd.spec.versions[0]?.storage).toBe(true);
    }
  });

  it("bound every list, and every string a CEL rule reads, so the apiserver can estimate rule costs", () => {
    const unbounded: string[] = [];
    for (const content of rendered.values()) {
      for (const [path, node] of walk(openApiSchema(parse(content)), "")) {
        if (node.type === "array" && node.maxItems === undefined) unbounded.push(`${path} (maxItems)`);
        const ruled = (node["x-kubernetes-validations"] ?? []).length > 0;
        if (ruled && node.type === "string" && node.maxLength === undefined)
          unbounded.push(`${path} (maxLength)`);
      }
    }
    expect(unbounded).toEqual([]);
  });

  it("give every CEL rule a message, which the apiserver shows instead of the expression", () => {
    const bare: string[] = [];
    for (const content of rendered.values()) {
      for (const [path, node] of walk(openApiSchema(parse(content)), "")) {
        for (const rule of node["x-kubernetes-validations"] ?? []) {
          if ((rule.message ?? "").length < 10) bare.push(`${path}: ${rule.rule}`);
        }
      }
    }
    expect(bare).toEqual([]);
  });
});
