/** The part of an ACME solver entry that selection looks at (cert-manager's `selector`). */
export interface SolverSelectorLike {
  readonly dnsNames?: readonly string[] | undefined;
  readonly dnsZones?: readonly string[] | undefined;
  readonly matchLabels?: Readonly<Record<string, string>> | undefined;
}

/** The identifier a challenge is for, as an ACME authorization carries it. */
export interface ChallengeIdentifier {
  /** The base name, without `*.` (ACME strips it and sets `wildcard`). */
  readonly dnsName: string;
  readonly wildcard: boolean;
  /** Labels of the Certificate the challenge belongs to (cert-manager matches `matchLabels` against them). */
  readonly labels: Readonly<Record<string, string>>;
}

interface Score {
  readonly dnsNameMatch: boolean;
  readonly zoneLabels: number;
  readonly labelCount: number;
}

const normalize = (name: string): string => name.toLowerCase().replace(/\.$/, "");

/** Scores one solver for an identifier, or returns null when its selector excludes it. */
function score(selector: SolverSelectorLike | undefined, id: ChallengeIdentifier): Score | null {
  if (!selector) return { dnsNameMatch: false, zoneLabels: 0, labelCount: 0 };
  const labels = Object.entries(selector.matchLabels ?? {});
  if (labels.some(([k, v]) => id.labels[k] !== v)) return null;

  const domain = normalize(id.wildcard ? `*.${id.dnsName}` : id.dnsName);
  const dnsNames = selector.dnsNames ?? [];
  const dnsZones = selector.dnsZones ?? [];
  const dnsNameMatch = dnsNames.some((n) => normalize(n) === domain);
  let zoneLabels = 0;
  for (const zone of dnsZones) {
    const z = normalize(zone);
    const base = normalize(id.dnsName);
    if (base === z || base.endsWith(`.${z}`)) zoneLabels = Math.max(zoneLabels, z.split(".").length);
  }
  // A selector that names hosts or zones selects only those: matching labels alone is not enough.
  if ((dnsNames.length > 0 || dnsZones.length > 0) && !dnsNameMatch && zoneLabels === 0) return null;
  return { dnsNameMatch, zoneLabels, labelCount: labels.length };
}

/** True when `a` should win over `b` (both already eligible). */
function better(a: Score, b: Score): boolean {
  if (a.dnsNameMatch !== b.dnsNameMatch) return a.dnsNameMatch;
  if (a.zoneLabels !== b.zoneLabels) return a.zoneLabels > b.zoneLabels;
  return a.labelCount > b.labelCount;
}

/**
 * Picks the solver for one identifier with cert-manager's precedence: a `dnsNames` match beats
 * everything; then the `dnsZones` match with the most labels; then more matched labels; a solver
 * without a selector is the fallback; a tie goes to the earlier solver. Wildcard identifiers are
 * matched against `dnsNames` as `*.domain` and against `dnsZones` by their base name.
 * Returns the index of the chosen solver, or -1 when none applies.
 */
export function selectSolver(
  solvers: readonly { readonly selector?: SolverSelectorLike | undefined }[],
  id: ChallengeIdentifier,
): number {
  let best = -1;
  let bestScore: Score | null = null;
  solvers.forEach((solver, i) => {
    const s = score(solver.selector, id);
    if (s && (bestScore === null || better(s, bestScore))) {
      best = i;
      bestScore = s;
    }
  });
  return best;
}
