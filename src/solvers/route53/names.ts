/**
 * The text forms Route 53 speaks: TXT values in their quoted presentation form, record and zone
 * names with Route 53's octal escapes, and the choice of the hosted zone that holds a name.
 */

/**
 * Decodes one TXT value as Route 53 returns it (`"abc"`, or `"part1" "part2"` for a value longer
 * than 255 characters; `\"`, `\\` and octal `\ddd` escapes) into the text it carries. Unquoted words are
 * accepted too, as the API accepts them on input.
 */
export function decodeTxt(raw: string): string {
  let out = "";
  let i = 0;
  const n = raw.length;
  const escape = (): void => {
    // At a backslash: a three-digit escape, which Route 53 writes in octal (RFC 1035 says decimal;
    // Route 53's documentation says octal, e.g. `\052`), or an escaped literal character.
    const digits = raw.slice(i + 1, i + 4);
    if (/^[0-7]{3}$/.test(digits)) {
      out += String.fromCharCode(parseInt(digits, 8));
      i += 4;
    } else {
      out += raw[i + 1] ?? "";
      i += 2;
    }
  };
  while (i < n) {
    const c = raw[i];
    if (c === " " || c === "\t") {
      i++;
    } else if (c === '"') {
      i++;
      while (i < n && raw[i] !== '"') {
        if (raw[i] === "\\") escape();
        else out += raw[i++] ?? "";
      }
      i++; // the closing quote
    } else {
      while (i < n && raw[i] !== " " && raw[i] !== "\t") {
        if (raw[i] === "\\") escape();
        else out += raw[i++] ?? "";
      }
    }
  }
  return out;
}

/** The longest character-string of a TXT record (RFC 1035 §3.3). */
const MAX_STRING = 255;

/**
 * Encodes a TXT value into Route 53's presentation form: quoted, `"` and `\` escaped, split into
 * strings of at most 255 characters. A DNS-01 value (43 base64url characters) is just `"value"`.
 */
export function encodeTxt(value: string): string {
  const parts: string[] = [];
  for (let i = 0; i < value.length || parts.length === 0; i += MAX_STRING) {
    parts.push(`"${value.slice(i, i + MAX_STRING).replace(/[\\"]/g, (m) => `\\${m}`)}"`);
  }
  return parts.join(" ");
}

/**
 * A DNS name in the form used for comparisons: lower case, absolute (trailing dot), with Route
 * 53's escapes decoded (it returns `*` as `\052`, and other characters outside letters, digits,
 * `-` and `_` as three-digit octal escapes).
 */
export function canonicalRoute53Name(name: string): string {
  const decoded = name.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  const lower = decoded.toLowerCase();
  return lower.endsWith(".") ? lower : `${lower}.`;
}

/** A hosted zone as ListHostedZonesByName describes it. */
export interface HostedZoneSummary {
  /** The zone's ID without the `/hostedzone/` prefix. */
  readonly id: string;
  /** The zone's name, canonical (see {@link canonicalRoute53Name}). */
  readonly name: string;
  readonly privateZone: boolean;
}

/**
 * The hosted zone that holds `fqdn`, as cert-manager picks it: among the public zones listed, the
 * one with the longest name that is `fqdn` itself or a whole-label suffix of it. Private zones are
 * skipped (cert-manager does too): the CA resolves through public DNS, so a value written to a
 * private zone would never be seen. When two public zones have the same name (Route 53 allows it;
 * only one is delegated), the first listed wins, as in cert-manager.
 */
export function pickHostedZone(
  fqdn: string,
  zones: readonly HostedZoneSummary[],
): HostedZoneSummary | undefined {
  const name = canonicalRoute53Name(fqdn);
  let best: HostedZoneSummary | undefined;
  for (const zone of zones) {
    if (zone.privateZone) continue;
    const holds = name === zone.name || name.endsWith(`.${zone.name}`) || zone.name === ".";
    if (holds && (best === undefined || zone.name.length > best.name.length)) best = zone;
  }
  return best;
}

/** A hosted zone ID as the API takes it: without the `/hostedzone/` prefix the responses carry. */
export function bareZoneId(id: string): string {
  return id.replace(/^\/?hostedzone\//, "");
}

/** A change ID without the `/change/` prefix. */
export function bareChangeId(id: string): string {
  return id.replace(/^\/?change\//, "");
}
