/**
 * The shipped alert rules and Grafana dashboard, checked offline:
 *
 * - `promtool check rules` (Prometheus's own parser) accepts the rule file and the chart's copy,
 *   and the copy is byte for byte the file in deploy/prometheus/;
 * - `promtool test rules` runs rules.promtool.yaml, whose series make each alert fire and others
 *   that must not, and it fails when a rule is weakened;
 * - every expression of the rules and of the dashboard (panels and template variables) selects only
 *   series that src/metrics/names.ts exports, and the dashboard shows every exported metric.
 *
 * promtool is Debian's `prometheus` package (2.42), which hack/install-deps.sh installs.
 */
import { describe, expect, it } from "@jest/globals";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { METRICS, seriesNames } from "../../src/metrics/names.js";
import { repoRoot } from "../support/rig.js";
import { metricNames } from "./promql.js";

const RULES = join(repoRoot, "deploy/prometheus/dns01-operator-rules.yaml");
const CHART_RULES = join(repoRoot, "charts/dns01-operator/files/prometheus/dns01-operator-rules.yaml");
const DASHBOARD = join(repoRoot, "charts/dns01-operator/files/dashboards/dns01-operator.json");
const PROMTOOL_TESTS = join(repoRoot, "test/monitoring/rules.promtool.yaml");

/** Every series name Prometheus can see from us, mapped to the metric that produces it. */
const SERIES = new Map(METRICS.flatMap((m) => seriesNames(m).map((s) => [s, m.name] as const)));

function promtool(...args: string[]): { code: number; out: string } {
  const r = spawnSync("promtool", args, { cwd: repoRoot, encoding: "utf8" });
  if (r.error) throw new Error(`promtool did not run (hack/install-deps.sh installs it): ${r.error.message}`);
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rules = (): Rule[] =>
  (parse(readFileSync(RULES, "utf8")) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

/** A Grafana dashboard's PromQL: each panel target's expr and each query variable's query. */
function dashboardExpressions(): { where: string; expr: string }[] {
  interface Panel {
    title: string;
    targets?: { expr?: string; refId: string }[];
    panels?: Panel[];
  }
  interface Dashboard {
    panels: Panel[];
    templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
  }
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as Dashboard;
  const found: { where: string; expr: string }[] = [];
  const walk = (panels: readonly Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        if (t.expr === undefined) throw new Error(`panel "${p.title}" target ${t.refId} has no expr`);
        found.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
      }
      walk(p.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating.list) {
    if (v.type !== "query") continue;
    const query = typeof v.query === "string" ? v.query : (v.query?.query ?? "");
    // Grafana's label_values(<selector>, <label>) is not PromQL; its selector is.
    const m = /^label_values\(([\s\S]+),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)$/.exec(query.trim());
    found.push({ where: `variable $${v.name}`, expr: m?.[1] ?? query });
  }
  return found;
}

/** Grafana's built-in interval variables, replaced by a duration so that promtool can parse. */
const withIntervals = (expr: string) => expr.replace(/\$__(rate_interval|interval|range)\b/g, "5m");

/** The series names an expression selects that we do not export. */
const unknownSeries = (expr: string) => metricNames(expr).filter((n) => !SERIES.has(n));

describe("metricNames", () => {
  it("finds the selectors of an expression and nothing else: not labels, functions, keywords, durations or strings", () => {
    expect(
      metricNames(
        `sum by (le, provider) (rate(a_bucket{job="x", le!="+Inf"}[5m] offset 1h)) / on (provider) group_left (zone)
         b_total unless ignoring (pod) c{__name__="d"} > bool 0.5 and topk(3, e @ start()) or
         label_replace(f, "dst", "$1", "src", "(.*)") * count_values("value", g) + h[10m:1m] - Inf
         + vector(1) + scalar(i) + j{a=~"$namespace"}[$__rate_interval]`,
      ),
    ).toEqual(["a_bucket", "b_total", "c", "d", "e", "f", "g", "h", "i", "j"]);
    expect(metricNames("sum(x) without (instance)")).toEqual(["x"]);
    expect(metricNames("time() - 1e3")).toEqual([]);
  });

  it("refuses what it cannot check: an unknown function, a __name__ regex, a stray character", () => {
    expect(() => metricNames("rates(x[5m])")).toThrow("unknown PromQL function rates()");
    expect(() => metricNames('{__name__=~"certmanager_.*"}')).toThrow("__name__");
    expect(() => metricNames("x ; y")).toThrow("unexpected character");
    expect(() => metricNames("x[5m")).toThrow("unclosed");
  });
});

describe("the alert rules", () => {
  it("pass promtool check rules, and the chart ships the very same file", () => {
    for (const file of [RULES, CHART_RULES]) {
      const r = promtool("check", "rules", file);
      expect({ file, ...r }).toMatchObject({ file, code: 0 });
      expect(r.out).toContain(`SUCCESS: ${rules().length} rules found`);
    }
    // hack/sync-chart-crds.sh copies it; the chart's PrometheusRule is rendered from the copy.
    expect(readFileSync(CHART_RULES, "utf8")).toBe(readFileSync(RULES, "utf8"));
  });

  it("cover each case the chart promises: expiry, readiness, failed issuances, throttling, lingering TXT, operator down and no leader", () => {
    expect(
      rules()
        .map((r) => r.alert)
        .sort(),
    ).toEqual([
      "DNS01CertificateExpired",
      "DNS01CertificateExpiringSoon",
      "DNS01CertificateIssuanceFailing",
      "DNS01CertificateNotReady",
      "DNS01OperatorDown",
      "DNS01OperatorNoLeader",
      "DNS01ProviderThrottling",
      "DNS01TXTRecordLingering",
    ]);
    for (const r of rules()) {
      expect({ alert: r.alert, severity: r.labels?.["severity"] }).toEqual({
        alert: r.alert,
        severity: expect.stringMatching(/^(warning|critical)$/),
      });
      expect(r.annotations?.["summary"]).toBeTruthy();
      expect(r.annotations?.["description"]).toBeTruthy();
    }
    const notReady = rules().find((r) => r.alert === "DNS01CertificateNotReady");
    expect(notReady?.for).toBe("10m");
  });

  it("select only series that src/metrics/names.ts exports, each rule at least one", () => {
    for (const r of rules()) {
      expect({ alert: r.alert, names: metricNames(r.expr).length > 0 }).toEqual({
        alert: r.alert,
        names: true,
      });
      expect({ alert: r.alert, unknown: unknownSeries(r.expr) }).toEqual({ alert: r.alert, unknown: [] });
    }
  });

  it("pass promtool test rules: each alert fires on its series, at its time, and not on the others", () => {
    const r = promtool("test", "rules", PROMTOOL_TESTS);
    expect(r.out).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });

  it("have promtool tests that fail when a rule is weakened or an alert loses its hold time", () => {
    const dir = mkdtempSync(join(tmpdir(), "dns01-rules-"));
    try {
      const tests = readFileSync(PROMTOOL_TESTS, "utf8");
      const ruleFile = "  - ../../deploy/prometheus/dns01-operator-rules.yaml\n";
      expect(tests).toContain(ruleFile);
      writeFileSync(join(dir, "tests.yaml"), tests.replace(ruleFile, "  - rules.yaml\n"));
      const mutate = (from: string, to: string) => {
        const text = readFileSync(RULES, "utf8");
        expect(text).toContain(from);
        writeFileSync(join(dir, "rules.yaml"), text.replace(from, to));
        return promtool("test", "rules", join(dir, "tests.yaml"));
      };
      // Unchanged, the copy passes: the failures below are the mutations' doing.
      expect(mutate("", "").code).toBe(0);
      const lingering = mutate("> 900", "> 9000");
      expect(lingering.code).not.toBe(0);
      expect(lingering.out).toContain("DNS01TXTRecordLingering");
      const notReady = mutate("for: 10m", "for: 0m");
      expect(notReady.code).not.toBe(0);
      expect(notReady.out).toContain("DNS01CertificateNotReady");
      const noCap = mutate("604800", "6048000");
      expect(noCap.code).not.toBe(0);
      expect(noCap.out).toContain("DNS01CertificateExpiringSoon");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("docs/monitoring.md", () => {
  const doc = readFileSync(join(repoRoot, "docs/monitoring.md"), "utf8");

  it("lists every exported metric in its table, and no metric that is not exported", () => {
    const listed = [...doc.matchAll(/^\| `([a-z0-9_:]+)` +\|/gm)].map((m) => m[1]).sort();
    expect(listed).toEqual(METRICS.map((m) => m.name).sort());
  });

  it("says what to do for every alert, in a section named after it", () => {
    const sections = [...doc.matchAll(/^### (DNS01\w+) \((warning|critical)\)$/gm)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    expect(sections.sort()).toEqual(
      rules()
        .map((r) => `${r.alert} ${r.labels?.["severity"]}`)
        .sort(),
    );
  });
});

describe("the Grafana dashboard", () => {
  const expressions = dashboardExpressions();

  it("has panels and a namespace variable, all of whose queries Prometheus's parser accepts", () => {
    expect(expressions.length).toBeGreaterThan(20);
    expect(expressions.map((e) => e.where)).toContain("variable $namespace");
    // promtool parses recording rules with the real PromQL parser: one rule per query.
    const dir = mkdtempSync(join(tmpdir(), "dns01-dashboard-"));
    try {
      const file = join(dir, "dashboard-queries.yaml");
      const rulesOf = expressions.map((e, i) => ({
        record: `dashboard:query:${i}`,
        expr: withIntervals(e.expr),
      }));
      writeFileSync(file, stringify({ groups: [{ name: "dashboard", rules: rulesOf }] }));
      const r = promtool("check", "rules", file);
      expect(r.out).toContain(`SUCCESS: ${expressions.length} rules found`);
      expect(r.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is a dashboard Grafana imports anywhere: unique panel ids, panels inside the 24-column grid, the data source a variable", () => {
    interface Panel {
      id: number;
      type: string;
      gridPos: { x: number; y: number; w: number; h: number };
      datasource?: { type: string; uid: string };
      targets?: { datasource?: { uid: string } }[];
    }
    const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
      uid: string;
      panels: Panel[];
      templating: { list: { name: string; type: string; query?: unknown }[] };
    };
    expect(dashboard.uid).toBe("dns01-operator");
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) {
      expect({ id: p.id, fits: p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24 }).toEqual({
        id: p.id,
        fits: true,
      });
      if (p.type === "row") continue;
      // No data source uid of one Grafana: each query goes to the $datasource the viewer picks.
      expect({ id: p.id, uid: p.datasource?.uid }).toEqual({ id: p.id, uid: "${datasource}" });
      for (const t of p.targets ?? [])
        expect({ id: p.id, uid: t.datasource?.uid }).toEqual({ id: p.id, uid: "${datasource}" });
    }
    expect(dashboard.templating.list.find((v) => v.name === "datasource")).toMatchObject({
      type: "datasource",
      query: "prometheus",
    });
  });

  it("queries only series that src/metrics/names.ts exports", () => {
    const wrong = expressions
      .map((e) => ({ where: e.where, names: metricNames(e.expr), unknown: unknownSeries(e.expr) }))
      .filter((e) => e.names.length === 0 || e.unknown.length > 0);
    expect(wrong).toEqual([]);
  });

  it("shows every metric that the operator exports", () => {
    const shown = new Set(expressions.flatMap((e) => metricNames(e.expr).map((n) => SERIES.get(n))));
    expect(METRICS.map((m) => m.name).filter((n) => !shown.has(n))).toEqual([]);
  });
});
