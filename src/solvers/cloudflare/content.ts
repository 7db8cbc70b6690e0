/**
 * TXT content as Cloudflare's API carries it. Since 2024 the API documents TXT `content` as quoted
 * RFC 1035 character strings (`"value"`, or `"part1" "part2"` when split), while records written
 * by older clients hold the bare value. Both forms must compare equal to the value a challenge
 * asks for, or a value written one way would never be found (or cleaned up) the other way.
 */

/**
 * The text a TXT `content` stands for: the concatenated character strings when it is a sequence
 * of quoted strings (with `\"` and `\\` escapes, and `\DDD` decimal escapes), else the content as
 * it is.
 */
export function txtContentValue(content: string | null | undefined): string {
  if (content === null || content === undefined) return "";
  const s = content.trim();
  if (!s.startsWith('"')) return content;
  let out = "";
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === " " || c === "\t") {
      i++;
      continue;
    }
    // Anything outside quotes after the first string means it is not a list of strings after all.
    if (c !== '"') return content;
    i++;
    let closed = false;
    while (i < s.length) {
      const d = s.charAt(i);
      if (d === '"') {
        closed = true;
        i++;
        break;
      }
      if (d === "\\" && i + 1 < s.length) {
        const digits = /^[0-9]{3}/.exec(s.slice(i + 1, i + 4));
        if (digits) {
          out += String.fromCharCode(Number(digits[0]));
          i += 4;
        } else {
          out += s.charAt(i + 1);
          i += 2;
        }
        continue;
      }
      out += d;
      i++;
    }
    if (!closed) return content;
  }
  return out;
}

/** One quoted character string holding `value`, as the API wants TXT content written. */
export function quoteTxtContent(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}
