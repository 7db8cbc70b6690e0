/**
 * A small schema builder in the spirit of zod: one definition gives both the OpenAPI v3 schema that
 * the apiserver validates with (structural, with CEL rules) and the TypeScript type of the data, so
 * the two cannot drift apart.
 *
 *   const selector = s.object({ name: s.string({ maxLength: 253 }), key: s.string().optional() });
 *   type Selector = Infer<typeof selector>;            // { name: string; key?: string }
 *   selector.toJsonSchema();                           // { type: "object", required: ["name"], ... }
 *
 * Every modifier returns a new schema, so a shared piece (a Secret reference, a condition) can be
 * described or constrained at one use site without changing it at the others.
 */

/** One CEL rule in `x-kubernetes-validations`. */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  /** JSON path (relative to the node) that the apiserver names in the error, e.g. `.size`. */
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps that this builder emits. */
export interface JsonSchema {
  type?: "object" | "array" | "string" | "integer" | "boolean" | "number";
  description?: string;
  format?: string;
  enum?: (string | number)[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema;
  items?: JsonSchema;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-map-type"?: "atomic" | "granular";
  "x-kubernetes-preserve-unknown-fields"?: true;
  "x-kubernetes-validations"?: ValidationRule[];
  /** A structural default; the apiserver applies it on create, update and when reading from etcd. */
  default?: unknown;
}

/** Options of a CEL rule besides the expression and its message. */
export type RuleOptions = Pick<ValidationRule, "fieldPath" | "reason" | "messageExpression">;

/** The base of every schema node. `T` is the TypeScript type of the data it accepts. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- T is the phantom data type
export abstract class Schema<T> {
  /** Phantom member carrying the inferred type; never set at run time. */
  declare readonly _type: T;
  private description: string | undefined;
  private rules: readonly ValidationRule[] = [];

  /** The node's own keywords, without description and rules (added by toJsonSchema). */
  protected abstract emit(): JsonSchema;

  /** The OpenAPI v3 schema of this node. */
  toJsonSchema(): JsonSchema {
    const out: JsonSchema = {};
    if (this.description !== undefined) out.description = this.description;
    Object.assign(out, this.emit());
    if (this.rules.length > 0) out["x-kubernetes-validations"] = this.rules.map((r) => ({ ...r }));
    return out;
  }

  /** Sets the description shown by `kubectl explain`. */
  describe(text: string): this {
    const copy = this.clone();
    copy.description = text;
    return copy;
  }

  /** Adds a CEL rule (`self` is this node); the message should name what is wrong and how to fix it. */
  rule(rule: string, message: string, options: RuleOptions = {}): this {
    const copy = this.clone();
    copy.rules = [...this.rules, { rule, message, ...options }];
    return copy;
  }

  /** Marks the field optional in its parent object (absent from `required`, `?:` in the type). */
  optional(): Optional<this> {
    return new Optional(this);
  }

  /** A shallow copy with the same prototype; subclasses keep their options in readonly fields. */
  protected clone(): this {
    return Object.assign(Object.create(Object.getPrototypeOf(this) as object) as this, this);
  }
}

/** Any schema node, whatever its data type. */
export type AnySchema = Schema<unknown>;

/** A field that may be absent; only meaningful as a property of `s.object`. */
export class Optional<S extends AnySchema> {
  constructor(readonly inner: S) {}
}

/** The TypeScript type of the data a schema accepts. */
export type Infer<S> = S extends Optional<infer I> ? Infer<I> : S extends Schema<infer T> ? T : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The properties of an object schema. */
export type Shape = Record<string, AnySchema | Optional<AnySchema>>;

type OptionalKeys<S extends Shape> = {
  [K in keyof S]: S[K] extends Optional<AnySchema> ? K : never;
}[keyof S];
type RequiredKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>;

/** The object type of a shape: optional properties become `key?: T`. */
export type InferShape<S extends Shape> = Simplify<
  { [K in RequiredKeys<S>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> }
>;

/** Keywords of a string node. */
export interface StringOptions {
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  format?: "byte" | "date-time" | "int-or-string" | "uri" | "email" | "hostname";
}

/** A string node, optionally restricted to an enum (then `T` is the union of its values). */
export class StringSchema<T extends string = string> extends Schema<T> {
  constructor(
    private readonly options: StringOptions,
    private readonly values?: readonly string[],
  ) {
    super();
  }
  protected emit(): JsonSchema {
    const out: JsonSchema = { type: "string" };
    if (this.values) out.enum = [...this.values];
    const { format, pattern, minLength, maxLength } = this.options;
    if (format !== undefined) out.format = format;
    if (minLength !== undefined) out.minLength = minLength;
    if (maxLength !== undefined) out.maxLength = maxLength;
    if (pattern !== undefined) out.pattern = pattern;
    return out;
  }
}

/** Keywords of an integer node. */
export interface IntegerOptions {
  minimum?: number;
  maximum?: number;
  format?: "int32" | "int64";
}

/** An integer node. */
export class IntegerSchema extends Schema<number> {
  constructor(private readonly options: IntegerOptions) {
    super();
  }
  protected emit(): JsonSchema {
    const out: JsonSchema = { type: "integer" };
    const { format, minimum, maximum } = this.options;
    if (format !== undefined) out.format = format;
    if (minimum !== undefined) out.minimum = minimum;
    if (maximum !== undefined) out.maximum = maximum;
    return out;
  }
}

/** A boolean node. */
export class BooleanSchema extends Schema<boolean> {
  protected emit(): JsonSchema {
    return { type: "boolean" };
  }
}

/** Keywords of an array node. `listType` defaults to `atomic`; `map` needs `mapKeys`. */
export interface ArrayOptions {
  minItems?: number;
  maxItems?: number;
  listType?: "atomic" | "set" | "map";
  mapKeys?: string[];
}

/** A list node. */
export class ArraySchema<I extends AnySchema> extends Schema<Infer<I>[]> {
  constructor(
    private readonly item: I,
    private readonly options: ArrayOptions,
  ) {
    super();
  }
  protected emit(): JsonSchema {
    const { minItems, maxItems, listType = "atomic", mapKeys } = this.options;
    const out: JsonSchema = { type: "array", items: this.item.toJsonSchema() };
    if (minItems !== undefined) out.minItems = minItems;
    if (maxItems !== undefined) out.maxItems = maxItems;
    out["x-kubernetes-list-type"] = listType;
    if (listType === "map") {
      if (!mapKeys?.length) throw new Error("an array with listType map needs mapKeys");
      out["x-kubernetes-list-map-keys"] = [...mapKeys];
    }
    return out;
  }
}

/**
 * An object node with fixed properties. Properties are emitted in alphabetical order, as
 * controller-gen does, so that the output does not depend on the order of the source.
 */
export class ObjectSchema<S extends Shape> extends Schema<InferShape<S>> {
  constructor(readonly shape: S) {
    super();
  }
  protected emit(): JsonSchema {
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const key of Object.keys(this.shape).sort()) {
      const field = this.shape[key];
      if (field === undefined) continue;
      if (field instanceof Optional) {
        properties[key] = field.inner.toJsonSchema();
      } else {
        properties[key] = field.toJsonSchema();
        required.push(key);
      }
    }
    const out: JsonSchema = { type: "object", properties };
    if (required.length > 0) out.required = required;
    return out;
  }
}

/** A string-keyed map node (`additionalProperties`). */
export class RecordSchema<V extends AnySchema> extends Schema<Record<string, Infer<V>>> {
  constructor(
    private readonly value: V,
    private readonly maxProperties?: number,
  ) {
    super();
  }
  protected emit(): JsonSchema {
    const out: JsonSchema = { type: "object", additionalProperties: this.value.toJsonSchema() };
    if (this.maxProperties !== undefined) out.maxProperties = this.maxProperties;
    return out;
  }
}

/** Arbitrary JSON kept as it is (`x-kubernetes-preserve-unknown-fields`), e.g. a webhook's config. */
export class JsonValueSchema extends Schema<unknown> {
  protected emit(): JsonSchema {
    return { "x-kubernetes-preserve-unknown-fields": true };
  }
}

/** An object whose content the apiserver keeps unvalidated (`type: object` + preserve unknown fields). */
export class OpaqueObjectSchema extends Schema<Record<string, unknown>> {
  protected emit(): JsonSchema {
    return { type: "object", "x-kubernetes-preserve-unknown-fields": true };
  }
}

/** The builder's entry points. */
export const s = {
  /** A string; `options` holds pattern, length bounds and format. */
  string: (options: StringOptions = {}): StringSchema => new StringSchema(options),
  /** A string that must be one of `values`; its type is their union. */
  enum: <const V extends readonly [string, ...string[]]>(
    values: V,
    options: StringOptions = {},
  ): StringSchema<V[number]> => new StringSchema<V[number]>(options, values),
  /** An integer with optional bounds. */
  integer: (options: IntegerOptions = {}): IntegerSchema => new IntegerSchema(options),
  /** A boolean. */
  boolean: (): BooleanSchema => new BooleanSchema(),
  /** A list of `item`; atomic unless `listType` says otherwise. */
  array: <I extends AnySchema>(item: I, options: ArrayOptions = {}): ArraySchema<I> =>
    new ArraySchema(item, options),
  /** An object with fixed properties; unknown properties are pruned by the apiserver. */
  object: <S extends Shape>(shape: S): ObjectSchema<S> => new ObjectSchema(shape),
  /** A string-keyed map of `value`. */
  record: <V extends AnySchema>(value: V, options: { maxProperties?: number } = {}): RecordSchema<V> =>
    new RecordSchema(value, options.maxProperties),
  /** Any JSON value, kept as sent. */
  json: (): JsonValueSchema => new JsonValueSchema(),
  /** Any JSON object, kept as sent. */
  opaqueObject: (): OpaqueObjectSchema => new OpaqueObjectSchema(),
};
