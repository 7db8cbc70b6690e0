/** Name helpers shared by the HTTP-API providers. */

/** A DNS name without its trailing dot, as most provider APIs spell names. */
export function trimDot(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/**
 * The zone names to try for a record in `zone`: the zone itself, then each parent down to two
 * labels (providers hold no zone at a public suffix), so a zone the provider holds higher up than
 * DNS showed is still found. Lower case, without trailing dots.
 */
export function zoneCandidates(zone: string): string[] {
  const labels = trimDot(zone)
    .toLowerCase()
    .split(".")
    .filter((l) => l !== "");
  const out: string[] = [];
  for (let i = 0; i <= labels.length - 2; i++) out.push(labels.slice(i).join("."));
  if (out.length === 0 && labels.length > 0) out.push(labels.join("."));
  return out;
}
