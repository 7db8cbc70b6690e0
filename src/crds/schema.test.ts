import { describe, expect, it } from "@jest/globals";
import { s, type Infer } from "./schema.js";

/** Exact type equality; a `const x: Equal<A, B> = true` fails to type-check when A and B differ. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the usual exact-equality idiom
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

describe("the schema builder", () => {
  const ref = s.object({
    name: s.string({ maxLength: 253 }),
    key: s.string().optional(),
  });

  it("lists required properties and emits properties in alphabetical order", () => {
    const schema = s.object({ zeta: s.boolean(), alpha: s.integer().optional(), mid: s.string() });
    const out = schema.toJsonSchema();
    expect(Object.keys(out.properties ?? {})).toEqual(["alpha", "mid", "zeta"]);
    expect(out.required).toEqual(["mid", "zeta"]);
    expect(out.type).toBe("object");
  });

  it("omits required when every property is optional", () => {
    expect(s.object({ a: s.string().optional() }).toJsonSchema().required).toBeUndefined();
  });

  it("emits string keywords, enums, integer bounds and formats", () => {
    expect(s.string({ pattern: "^a$", minLength: 1, maxLength: 9, format: "byte" }).toJsonSchema()).toEqual({
      type: "string",
      format: "byte",
      minLength: 1,
      maxLength: 9,
      pattern: "^a$",
    });
    expect(s.enum(["A", "B"]).toJsonSchema()).toEqual({ type: "string", enum: ["A", "B"] });
    expect(s.integer({ minimum: 1, maximum: 99, format: "int32" }).toJsonSchema()).toEqual({
      type: "integer",
      format: "int32",
      minimum: 1,
      maximum: 99,
    });
  });

  it("makes lists atomic unless told otherwise, and requires keys for map lists", () => {
    expect(s.array(s.string(), { maxItems: 3 }).toJsonSchema()).toEqual({
      type: "array",
      items: { type: "string" },
      maxItems: 3,
      "x-kubernetes-list-type": "atomic",
    });
    const map = s
      .array(s.object({ type: s.string() }), { listType: "map", mapKeys: ["type"] })
      .toJsonSchema();
    expect(map["x-kubernetes-list-map-keys"]).toEqual(["type"]);
    expect(() => s.array(s.string(), { listType: "map" }).toJsonSchema()).toThrow(/mapKeys/);
  });

  it("emits maps, free JSON and opaque objects in structural form", () => {
    expect(s.record(s.string(), { maxProperties: 5 }).toJsonSchema()).toEqual({
      type: "object",
      additionalProperties: { type: "string" },
      maxProperties: 5,
    });
    expect(s.json().toJsonSchema()).toEqual({ "x-kubernetes-preserve-unknown-fields": true });
    expect(s.opaqueObject().toJsonSchema()).toEqual({
      type: "object",
      "x-kubernetes-preserve-unknown-fields": true,
    });
  });

  it("adds descriptions and CEL rules with their options", () => {
    const out = s
      .object({ a: s.string().optional(), b: s.string().optional() })
      .rule("!(has(self.a) && has(self.b))", "a and b are exclusive", { fieldPath: ".b" })
      .describe("Pick one.")
      .toJsonSchema();
    expect(out.description).toBe("Pick one.");
    expect(out["x-kubernetes-validations"]).toEqual([
      { rule: "!(has(self.a) && has(self.b))", message: "a and b are exclusive", fieldPath: ".b" },
    ]);
  });

  it("never changes a shared schema when a use site describes or constrains it", () => {
    const described = ref.describe("Here.").rule("self.name != ''", "name must not be empty");
    expect(described.toJsonSchema().description).toBe("Here.");
    expect(ref.toJsonSchema().description).toBeUndefined();
    expect(ref.toJsonSchema()["x-kubernetes-validations"]).toBeUndefined();
    expect(described.toJsonSchema()["x-kubernetes-validations"]).toHaveLength(1);
  });

  it("infers the TypeScript type: optional fields become optional properties", () => {
    const schema = s.object({
      ref,
      size: s.integer().optional(),
      algorithm: s.enum(["RSA", "ECDSA"]).optional(),
      names: s.array(s.string()),
      labels: s.record(s.string()).optional(),
      config: s.json().optional(),
    });
    type T = Infer<typeof schema>;
    // Checked by `make typecheck` (tsc): jest runs ts-jest without type diagnostics.
    const exact: Equal<
      T,
      {
        ref: { name: string; key?: string };
        names: string[];
        size?: number;
        algorithm?: "RSA" | "ECDSA";
        labels?: Record<string, string>;
        config?: unknown;
      }
    > = true;
    expect(exact).toBe(true);
    expect(schema.toJsonSchema().required).toEqual(["names", "ref"]);
  });
});
