/**
 * When to renew, computed exactly as cert-manager does, and Go duration strings (the form of
 * `spec.duration` and `spec.renewBefore`).
 */

/** Inputs of `renewalTime`. Durations are in milliseconds (see `parseGoDuration`). */
export interface RenewalInput {
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** `spec.renewBefore`: used when positive and shorter than the certificate's lifetime. */
  readonly renewBefore?: number | undefined;
  /** `spec.renewBeforePercentage`: used when renewBefore is not, and strictly between 0 and 100. */
  readonly renewBeforePercentage?: number | undefined;
}

/**
 * The time to renew a certificate: `renewBefore` ahead of notAfter when it is set and shorter than
 * the lifetime, else `renewBeforePercentage` percent of the lifetime ahead of notAfter, else two
 * thirds into the lifetime. Truncated to the second, as cert-manager stores it in status (a
 * sub-second renewal time would requeue a hair early and then find nothing to do).
 */
export function renewalTime(input: RenewalInput): Date {
  const NS_PER_MS = 1_000_000n;
  const lifetimeNs = BigInt(input.notAfter.getTime() - input.notBefore.getTime()) * NS_PER_MS;
  const { renewBefore, renewBeforePercentage: pct } = input;
  let renewBeforeNs: bigint;
  if (renewBefore !== undefined && renewBefore > 0 && BigInt(Math.round(renewBefore * 1e6)) < lifetimeNs) {
    renewBeforeNs = BigInt(Math.round(renewBefore * 1e6));
  } else if (pct !== undefined && pct > 0 && pct < 100) {
    renewBeforeNs = (lifetimeNs * BigInt(Math.trunc(pct))) / 100n;
  } else {
    renewBeforeNs = lifetimeNs / 3n;
  }
  const renewAtNs = BigInt(input.notAfter.getTime()) * NS_PER_MS - renewBeforeNs;
  // Floor (not trunc) to the second, like Go's Time.Truncate for times after 1970.
  const NS_PER_S = 1_000_000_000n;
  let seconds = renewAtNs / NS_PER_S;
  if (renewAtNs < 0n && renewAtNs % NS_PER_S !== 0n) seconds -= 1n;
  return new Date(Number(seconds) * 1000);
}

const UNIT_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  "\u00b5s": 1e3, // micro sign
  "\u03bcs": 1e3, // Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * Parses a Go duration (`time.ParseDuration`): an optional sign, then one or more decimal numbers
 * each with a unit of ns, us (or µs), ms, s, m, h, e.g. `2160h30m` or `1.5h`; `0` alone is allowed.
 * Returns milliseconds (fractional below 1 ms). Throws on anything else.
 */
export function parseGoDuration(text: string): number {
  let s = text;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s.startsWith("-")) sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw new Error(`invalid duration "${text}"`);
  let totalNs = 0;
  const part = /^(\d*)(?:\.(\d*))?([^\d.]+)/;
  while (s !== "") {
    const m = part.exec(s);
    const [whole, int = "", frac, unit = ""] = m ?? [];
    if (!whole || (int === "" && (frac ?? "") === "")) {
      const missingUnit = /^\d*(\.\d*)?$/.test(s);
      throw new Error(`${missingUnit ? "missing unit in" : "invalid"} duration "${text}"`);
    }
    const unitNs = UNIT_NS[unit];
    if (unitNs === undefined) {
      throw new Error(`unknown unit "${unit}" in duration "${text}"`);
    }
    totalNs += Number(`${int || "0"}.${frac ?? ""}0`) * unitNs;
    s = s.slice(whole.length);
  }
  if (totalNs >= 2 ** 63) throw new Error(`invalid duration "${text}": too large`);
  return (sign * totalNs) / 1e6;
}

/**
 * Formats milliseconds as Go's `Duration.String` does, e.g. `2160h0m0s`, `1m30s`, `500ms`, `0s`.
 * The inverse of `parseGoDuration` for whole nanoseconds.
 */
export function formatGoDuration(ms: number): string {
  let ns = Math.round(ms * 1e6);
  if (ns === 0) return "0s";
  const sign = ns < 0 ? "-" : "";
  ns = Math.abs(ns);
  if (ns < 1e9) {
    if (ns < 1e3) return `${sign}${ns}ns`;
    if (ns < 1e6) return `${sign}${trimFraction(ns / 1e3)}\u00b5s`;
    return `${sign}${trimFraction(ns / 1e6)}ms`;
  }
  const h = Math.floor(ns / 3600e9);
  const m = Math.floor((ns % 3600e9) / 60e9);
  const sec = (ns % 60e9) / 1e9;
  let out = `${trimFraction(sec)}s`;
  if (h > 0 || m > 0) out = `${m}m${out}`;
  if (h > 0) out = `${h}h${out}`;
  return sign + out;
}

function trimFraction(n: number): string {
  return n.toFixed(9).replace(/\.?0+$/, "");
}
