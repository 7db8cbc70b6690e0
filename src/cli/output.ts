/**
 * Output of dns01ctl: human text by default, `-o json` and `-o yaml` for scripts. Every command
 * builds one plain data object (its report) and a function that renders it for people, so the
 * machine formats always carry everything the human one shows.
 */
import { stringify as toYaml } from "yaml";
import type { OutputFormat } from "./args.js";

/** Where a command writes: stdout for results, stderr for diagnostics. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** Renders a report in the chosen format; the text always ends with a newline. */
export function render(report: unknown, format: OutputFormat, human: () => string): string {
  let text: string;
  if (format === "json") text = JSON.stringify(report, null, 2);
  else if (format === "yaml") text = toYaml(report, { lineWidth: 0 });
  else text = human();
  return text.endsWith("\n") ? text : `${text}\n`;
}

/**
 * Aligns rows into columns as kubectl does: upper-case headers, three spaces between columns, no
 * trailing spaces. Cells may be empty.
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers.map((h) => h.toUpperCase()), ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join("   ")
        .trimEnd(),
    )
    .join("\n");
}

/** Indents every line of `text` by `n` spaces. */
export function indent(text: string, n = 2): string {
  const pad = " ".repeat(n);
  return text
    .split("\n")
    .map((l) => (l === "" ? l : pad + l))
    .join("\n");
}

/** A duration for people: 89d, 5h12m, 3m4s, 850ms. */
export function humanDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(abs)}ms`;
  const s = Math.floor(abs / 1000);
  if (s < 60) return `${(abs / 1000).toFixed(abs < 10_000 ? 2 : 1).replace(/\.?0+$/, "")}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 === 0 ? "" : `${s % 60}s`}`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60 === 0 ? "" : `${m % 60}m`}`;
  return `${Math.floor(h / 24)}d`;
}

/** "in 89d" or "5h ago", relative to `now`. */
export function relativeTime(at: Date, now: Date): string {
  const d = at.getTime() - now.getTime();
  return d >= 0 ? `in ${humanDuration(d)}` : `${humanDuration(-d)} ago`;
}
