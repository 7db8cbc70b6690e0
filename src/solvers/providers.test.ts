import { describe, expect, it } from "@jest/globals";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import {
  checkProviders,
  descriptorFolders,
  describeRate,
  loadProviders,
  renderProviders,
  REPO_ROOT,
  staleFiles,
} from "../../hack/gen-providers.js";
import { API_VERSION, DNS01_PROVIDERS } from "../crds/index.js";
import { issuerSpec } from "../crds/issuer.js";
import type { JsonSchema } from "../crds/schema.js";
import type { ProviderDescriptor } from "./provider.js";
import { IMPLEMENTED_PROVIDERS, PROVIDERS } from "./providers.generated.js";

const found = await loadProviders();

/**
 * The structural part of the apiserver's validation of an object against a CRD schema: types,
 * required fields, enums, patterns and unknown fields (which the apiserver would prune, so a
 * misspelt field in an example would silently do nothing). CEL rules are left to the apiserver
 * tests in test/crds.
 */
function schemaErrors(value: unknown, schema: JsonSchema, path: string): string[] {
  if (schema["x-kubernetes-preserve-unknown-fields"] === true && schema.type === undefined) return [];
  const errors: string[] = [];
  switch (schema.type) {
    case "object": {
      if (typeof value !== "object" || value === null || Array.isArray(value))
        return [`${path}: not an object`];
      const obj = value as Record<string, unknown>;
      for (const r of schema.required ?? []) if (!(r in obj)) errors.push(`${path}.${r}: required`);
      for (const [k, v] of Object.entries(obj)) {
        const prop = schema.properties?.[k] ?? schema.additionalProperties;
        if (prop === undefined) {
          if (schema["x-kubernetes-preserve-unknown-fields"] !== true)
            errors.push(`${path}.${k}: unknown field`);
          continue;
        }
        errors.push(...schemaErrors(v, prop, `${path}.${k}`));
      }
      return errors;
    }
    case "array":
      if (!Array.isArray(value)) return [`${path}: not an array`];
      return value.flatMap((v, i) =>
        schema.items ? schemaErrors(v, schema.items, `${path}[${String(i)}]`) : [],
      );
    case "string":
      if (typeof value !== "string") return [`${path}: not a string`];
      if (schema.enum && !schema.enum.includes(value))
        errors.push(`${path}: not one of ${schema.enum.join(", ")}`);
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
        errors.push(`${path}: does not match ${schema.pattern}`);
      }
      return errors;
    case "integer":
      return Number.isInteger(value) ? [] : [`${path}: not an integer`];
    case "boolean":
      return typeof value === "boolean" ? [] : [`${path}: not a boolean`];
    default:
      return [];
  }
}

describe("the generated provider registry and docs", () => {
  it("are what hack/gen-providers.ts writes from the descriptors (else run make providers)", async () => {
    const files = await renderProviders(found);
    const differing: string[] = [];
    for (const [path, content] of files) {
      const full = join(REPO_ROOT, path);
      if (!existsSync(full) || readFileSync(full, "utf8") !== content) differing.push(path);
    }
    const stale = staleFiles(REPO_ROOT, files);
    const hint = "out of date: run make providers (npx tsx hack/gen-providers.ts)";
    expect({ [hint]: [...differing, ...stale.map((p) => `${p} (no descriptor)`)] }).toEqual({ [hint]: [] });
  });

  it("wires the descriptor of every provider folder, each under its own code", () => {
    expect(found.map((p) => p.folder).sort()).toEqual(descriptorFolders());
    expect([...IMPLEMENTED_PROVIDERS]).toEqual(found.map((p) => p.descriptor.code));
    for (const name of DNS01_PROVIDERS) {
      const descriptor: ProviderDescriptor | undefined = PROVIDERS[name];
      expect(descriptor?.code ?? name).toBe(name);
      expect(descriptor === undefined).toBe(!IMPLEMENTED_PROVIDERS.includes(name));
    }
  });

  it("refuses a descriptor whose code is taken, unknown, or in a folder of another name", () => {
    const rfc = found.find((p) => p.descriptor.code === "rfc2136");
    if (!rfc) throw new Error("the rfc2136 descriptor is missing");
    const renamed = (code: string): ProviderDescriptor =>
      ({ ...rfc.descriptor, code }) as unknown as ProviderDescriptor;
    expect(() => checkProviders([rfc, { folder: "rfc2136", descriptor: rfc.descriptor }])).toThrow(
      'provider "rfc2136" is described twice: in rfc2136 and rfc2136',
    );
    expect(() => checkProviders([{ folder: "akamai", descriptor: renamed("akamai") }])).toThrow(
      'code "akamai" is not a dns01 provider field',
    );
    expect(() => checkProviders([{ folder: "cloud-dns", descriptor: renamed("cloudDNS") }])).toThrow(
      'the folder of provider "cloudDNS" must be clouddns',
    );
  });

  it("states rate limits in the units they are documented in", () => {
    expect(describeRate({ requests: 5, perMs: 1000, source: "" })).toBe("5 requests per second");
    expect(describeRate({ requests: 1200, perMs: 300_000, source: "" })).toBe("1200 requests per 5 minutes");
    expect(describeRate({ requests: 5000, perMs: 3_600_000, source: "" })).toBe("5000 requests per hour");
    expect(describeRate({ requests: 150, perMs: 115_200, source: "" })).toBe(
      "150 requests per 115.2 seconds",
    );
  });
});

describe.each(found.map((p) => [p.descriptor.code, p.descriptor] as const))(
  "the %s descriptor",
  (code, descriptor) => {
    it("has an Issuer example that parses as an Issuer or ClusterIssuer of ours using this provider", () => {
      const doc = parseYaml(descriptor.issuerExample) as Record<string, unknown>;
      expect(doc["apiVersion"]).toBe(API_VERSION);
      expect(["Issuer", "ClusterIssuer"]).toContain(doc["kind"]);
      const metadata = doc["metadata"] as { name?: unknown } | undefined;
      expect(typeof metadata?.name).toBe("string");
      const spec = doc["spec"] as { acme?: { solvers?: { dns01?: Record<string, unknown> }[] } };
      const solvers = spec.acme?.solvers ?? [];
      expect(solvers.length).toBeGreaterThan(0);
      for (const solver of solvers) {
        const providers = DNS01_PROVIDERS.filter((p) => solver.dns01?.[p] !== undefined);
        expect(providers).toEqual([code]);
      }
    });

    it("has an Issuer example whose spec fits the CRD's schema, with no unknown field", () => {
      const doc = parseYaml(descriptor.issuerExample) as Record<string, unknown>;
      expect(schemaErrors(doc["spec"], issuerSpec.toJsonSchema(), "spec")).toEqual([]);
    });

    it("documents every Secret reference and option once, with links and least privilege", () => {
      const fields = [...descriptor.credentials, ...descriptor.options].map((f) => f.field);
      expect(new Set(fields).size).toBe(fields.length);
      for (const f of [...descriptor.credentials, ...descriptor.options])
        expect(f.description.trim()).not.toBe("");
      expect(descriptor.displayName.trim()).not.toBe("");
      expect(descriptor.summary.trim()).not.toBe("");
      expect(descriptor.leastPrivilege.trim()).not.toBe("");
      expect(descriptor.links.length).toBeGreaterThan(0);
      if (descriptor.rateLimit !== undefined) {
        expect(descriptor.rateLimit.requests).toBeGreaterThan(0);
        expect(descriptor.rateLimit.perMs).toBeGreaterThan(0);
        expect(descriptor.rateLimit.source).toMatch(/^https:\/\//);
      }
    });
  },
);
