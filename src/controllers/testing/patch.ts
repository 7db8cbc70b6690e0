/**
 * The two patch formats the operator sends, applied the way the API server applies them, for the
 * in-memory cluster of the controller tests. No maintained JSON-patch library is among our
 * dependencies, and both formats are small enough to follow their RFCs here exactly.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** RFC 7386 JSON merge patch: objects merge key by key, `null` deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Why a JSON patch could not be applied; the fake answers it with 422 (or 409 for a failed `test`). */
export class JsonPatchError extends Error {
  override readonly name = "JsonPatchError";
  constructor(
    message: string,
    readonly testFailed = false,
  ) {
    super(message);
  }
}

function parsePointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw new JsonPatchError(`bad JSON pointer ${path}`);
  return path
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** RFC 6902 JSON patch with the operations add, remove, replace and test (the ones we send). */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new JsonPatchError("a JSON patch must be an array");
  let doc = structuredClone(target) as Json;
  for (const raw of ops as { op?: string; path?: string; value?: Json }[]) {
    const parts = parsePointer(raw.path ?? "");
    if (parts.length === 0) {
      if (raw.op === "test") {
        if (JSON.stringify(doc) !== JSON.stringify(raw.value)) throw new JsonPatchError("test failed", true);
        continue;
      }
      doc = structuredClone(raw.value ?? null);
      continue;
    }
    const last = parts[parts.length - 1] ?? "";
    let parent: Json = doc;
    for (const p of parts.slice(0, -1)) {
      const next: Json | undefined = Array.isArray(parent)
        ? parent[Number(p)]
        : isObject(parent)
          ? parent[p]
          : undefined;
      if (next === undefined)
        throw new JsonPatchError(`path ${raw.path ?? ""} does not exist`, raw.op === "test");
      parent = next;
    }
    const current: Json | undefined = Array.isArray(parent)
      ? parent[Number(last)]
      : isObject(parent)
        ? parent[last]
        : undefined;
    switch (raw.op) {
      case "test":
        if (JSON.stringify(current) !== JSON.stringify(raw.value)) {
          throw new JsonPatchError(`test of ${raw.path ?? ""} failed`, true);
        }
        break;
      case "add":
        if (Array.isArray(parent)) {
          const i = last === "-" ? parent.length : Number(last);
          if (!(i >= 0 && i <= parent.length)) throw new JsonPatchError(`index ${last} out of range`);
          parent.splice(i, 0, structuredClone(raw.value ?? null));
        } else if (isObject(parent)) parent[last] = structuredClone(raw.value ?? null);
        else throw new JsonPatchError(`cannot add below a scalar at ${raw.path ?? ""}`);
        break;
      case "replace":
      case "remove":
        if (current === undefined) throw new JsonPatchError(`path ${raw.path ?? ""} does not exist`);
        if (Array.isArray(parent)) {
          if (raw.op === "remove") parent.splice(Number(last), 1);
          else parent[Number(last)] = structuredClone(raw.value ?? null);
        } else if (isObject(parent)) {
          if (raw.op === "remove") Reflect.deleteProperty(parent, last);
          else parent[last] = structuredClone(raw.value ?? null);
        }
        break;
      default:
        throw new JsonPatchError(`JSON patch operation ${String(raw.op)} is not supported by the fake`);
    }
  }
  return doc;
}
