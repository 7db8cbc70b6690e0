/**
 * ACME Renewal Information (RFC 9773) as decisions: when to ask the CA, which time inside its
 * suggested window to renew at (chosen once at random, kept in status so a restart keeps it, and
 * so a fleet of certificates spreads over the window), and the effective renewal time: the earlier
 * of that and renewalTime. Without ARI, or when the CA cannot be reached, renewalTime alone holds.
 */
import type { CertificateAriStatus } from "../../crds/index.js";
import { formatTime } from "../runtime/index.js";

/** What the CA answered (h-acme's `AcmeClient.getRenewalInfo`). */
export interface RenewalInfo {
  readonly suggestedWindow: { readonly start: Date | string; readonly end: Date | string };
  readonly explanationURL?: string | undefined;
  /** The CA's Retry-After, in milliseconds. */
  readonly retryAfterMs?: number | undefined;
}

/** Poll interval when the CA gives no Retry-After (Let's Encrypt's advice: about every 6 hours). */
export const DEFAULT_ARI_POLL_MS = 6 * 3_600_000;
/** Never poll more often than this, whatever Retry-After says. */
export const MIN_ARI_POLL_MS = 60_000;
/** Wait after a failed ARI request before asking again. */
export const ARI_ERROR_RETRY_MS = 15 * 60_000;
/** Retry-After is capped, as RFC 9773 section 4.3.1 allows (a day). */
export const MAX_ARI_POLL_MS = 24 * 3_600_000;

/** Whether this Certificate's status asks for a check now. */
export function ariCheckDue(ari: CertificateAriStatus | undefined, now: Date): boolean {
  if (!ari?.nextCheck) return true;
  return Date.parse(ari.nextCheck) <= now.getTime();
}

const toDate = (d: Date | string): Date => (d instanceof Date ? d : new Date(d));

/**
 * The status after a successful check. The selected time is kept while it lies inside the new
 * window (a restart or a repeated answer does not move it); otherwise a new one is drawn at random
 * from the part of the window not yet past. `random` is in [0, 1).
 */
export function ariStatusAfterCheck(
  previous: CertificateAriStatus | undefined,
  info: RenewalInfo,
  now: Date,
  random: () => number = Math.random,
): CertificateAriStatus {
  const start = toDate(info.suggestedWindow.start);
  const end = toDate(info.suggestedWindow.end);
  const kept = previous?.selectedRenewalTime ? new Date(previous.selectedRenewalTime) : undefined;
  let selected: Date;
  if (kept && kept >= start && kept <= end) {
    selected = kept;
  } else if (end <= now) {
    selected = now; // the window is past: renew now (RFC 9773 section 4.2)
  } else {
    const from = Math.max(start.getTime(), now.getTime());
    selected = new Date(Math.floor((from + random() * (end.getTime() - from)) / 1000) * 1000);
    if (selected.getTime() < from) selected = new Date(from);
  }
  const wait = Math.min(MAX_ARI_POLL_MS, Math.max(MIN_ARI_POLL_MS, info.retryAfterMs ?? DEFAULT_ARI_POLL_MS));
  return {
    suggestedWindow: { start: formatTime(start), end: formatTime(end) },
    ...(info.explanationURL ? { explanationURL: info.explanationURL } : {}),
    lastChecked: formatTime(now),
    nextCheck: formatTime(new Date(now.getTime() + wait)),
    selectedRenewalTime: formatTime(selected),
  };
}

/**
 * The status after a failed check: the last window and selected time are kept (they were the CA's
 * word), the error is shown, and the next check waits `ARI_ERROR_RETRY_MS` or the CA's Retry-After.
 */
export function ariStatusAfterError(
  previous: CertificateAriStatus | undefined,
  error: string,
  now: Date,
  retryAfterMs?: number,
): CertificateAriStatus {
  const wait = Math.min(MAX_ARI_POLL_MS, Math.max(MIN_ARI_POLL_MS, retryAfterMs ?? ARI_ERROR_RETRY_MS));
  return {
    ...(previous ?? {}),
    lastChecked: formatTime(now),
    nextCheck: formatTime(new Date(now.getTime() + wait)),
    lastError: error.slice(0, 4000),
  };
}

/** The effective renewal time: the earlier of renewalTime and the ARI selection, and which won. */
export function effectiveRenewalTime(
  renewalTime: Date | undefined,
  ari: CertificateAriStatus | undefined,
): { at: Date | undefined; fromAri: boolean } {
  const selected = ari?.selectedRenewalTime ? new Date(ari.selectedRenewalTime) : undefined;
  if (!selected) return { at: renewalTime, fromAri: false };
  if (!renewalTime || selected < renewalTime) return { at: selected, fromAri: true };
  return { at: renewalTime, fromAri: false };
}
