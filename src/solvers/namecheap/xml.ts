/**
 * Reading Namecheap's XML API answers: the `<ApiResponse Status>`, its `<Error Number>` list, and
 * the attributes of named elements (`<host .../>`, `<DomainDNSGetHostsResult .../>`). The answers
 * are small, flat and machine-made; a tag-and-attribute reader is enough, and takes no dependency.
 */

/** One element's attributes, by name as written (Namecheap's are PascalCase). */
export type Attributes = Readonly<Record<string, string>>;

/** An `<ApiResponse>` read. */
export interface ApiResponse {
  readonly ok: boolean;
  readonly errors: readonly { readonly number: string; readonly message: string }[];
  readonly xml: string;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Decodes XML character and entity references. */
export function decodeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (all, ref: string) => {
    if (ref.startsWith("#x")) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith("#")) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    return ENTITIES[ref] ?? all;
  });
}

/** Encodes text for an XML attribute or element (the emulator writes answers with it). */
export function encodeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&${Object.entries(ENTITIES).find(([, v]) => v === c)?.[0] ?? ""};`);
}

function attributesOf(source: string): Attributes {
  const out: Record<string, string> = {};
  for (const m of source.matchAll(/([A-Za-z_][\w.-]*)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
    out[m[1] ?? ""] = decodeXml(m[3] ?? m[4] ?? "");
  }
  return out;
}

/** The attributes of every `<tag ...>` element, in document order (tag names compare case-insensitively). */
export function elements(xml: string, tag: string): Attributes[] {
  const re = new RegExp(`<${tag}(\\s[^>]*?)?\\s*/?>`, "gi");
  return [...xml.matchAll(re)].map((m) => attributesOf(m[1] ?? ""));
}

/** Reads an `<ApiResponse>`: Status="OK" or the errors it lists. Throws when it is not one. */
export function parseApiResponse(xml: string): ApiResponse {
  const root = elements(xml, "ApiResponse")[0];
  if (root === undefined) throw new Error("not a Namecheap ApiResponse");
  const errors = [...xml.matchAll(/<Error\s([^>]*)>([\s\S]*?)<\/Error>/gi)].map((m) => ({
    number: attributesOf(m[1] ?? "")["Number"] ?? "",
    message: decodeXml((m[2] ?? "").trim()),
  }));
  return { ok: (root["Status"] ?? "").toUpperCase() === "OK", errors, xml };
}
