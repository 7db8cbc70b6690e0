/**
 * The metric names a PromQL expression selects, found by tokenizing it the way Prometheus's lexer
 * does rather than by matching name-shaped words: label names in matchers and in `by (...)` /
 * `on (...)` lists, function and aggregation names, keywords, durations, strings and Grafana
 * variables are told apart from vector selectors. An unknown function, a `__name__` regex, or a
 * token Prometheus would not accept is an error, so a typo cannot slip through as "no metric".
 * Syntax as a whole is left to Prometheus's own parser (`promtool check rules`), which the tests
 * run on the same expressions.
 */

/** PromQL's functions (Prometheus 2.42), each called as `name(...)`. */
const FUNCTIONS = new Set(
  (
    "abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp " +
    "clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month " +
    "deg delta deriv exp floor histogram_quantile holt_winters hour idelta increase irate label_join " +
    "label_replace last_over_time ln log10 log2 max_over_time min_over_time minute month pi " +
    "predict_linear present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh " +
    "sort sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh time timestamp " +
    "vector year"
  ).split(" "),
);

/** Aggregation operators: `sum by (a) (x)` and `sum(x) by (a)` alike. */
const AGGREGATIONS = new Set(
  "sum min max avg group stddev stdvar count count_values bottomk topk quantile".split(" "),
);

/** Keywords followed by a parenthesized list of label names (group_left/right: optionally). */
const LABEL_LIST_KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);

/** Other keywords: binary set operators, `bool`, `offset`, and `@ start()` / `@ end()`. */
const KEYWORDS = new Set(["and", "or", "unless", "atan2", "bool", "offset"]);

type TokenKind = "ident" | "number" | "string" | "variable" | "punct";

interface Token {
  kind: TokenKind;
  text: string;
  at: number;
}

const IDENT = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
// Numbers, durations (5m, 1h30m) and hex; PromQL lexes them all from a leading digit or dot.
const NUMBER = /(0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?([a-zA-Z]+[0-9]*)*)/y;
// Grafana's template variables: $var, ${var}, ${var:format}, [[var]].
const VARIABLE = /\$\{[^}]+\}|\$[a-zA-Z_][a-zA-Z0-9_]*|\[\[[a-zA-Z0-9_:]+\]\]/y;
const PUNCT = /=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}[\],@:]/y;

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const at = (re: RegExp): string | undefined => {
    re.lastIndex = i;
    return re.exec(expr)?.[0];
  };
  while (i < expr.length) {
    const c = expr[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "#") {
      const end = expr.indexOf("\n", i);
      i = end === -1 ? expr.length : end;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < expr.length && expr[j] !== c) j += c !== "`" && expr[j] === "\\" ? 2 : 1;
      if (j >= expr.length) throw new Error(`unterminated string at ${i} in: ${expr}`);
      tokens.push({ kind: "string", text: expr.slice(i, j + 1), at: i });
      i = j + 1;
      continue;
    }
    const variable = at(VARIABLE);
    if (variable !== undefined) {
      tokens.push({ kind: "variable", text: variable, at: i });
      i += variable.length;
      continue;
    }
    const ident = at(IDENT);
    if (ident !== undefined) {
      const isNumber = /^(inf|nan)$/i.test(ident);
      tokens.push({ kind: isNumber ? "number" : "ident", text: ident, at: i });
      i += ident.length;
      continue;
    }
    const number = at(NUMBER);
    if (number !== undefined && number !== "") {
      tokens.push({ kind: "number", text: number, at: i });
      i += number.length;
      continue;
    }
    const punct = at(PUNCT);
    if (punct !== undefined) {
      tokens.push({ kind: "punct", text: punct, at: i });
      i += punct.length;
      continue;
    }
    throw new Error(`unexpected character ${JSON.stringify(c)} at ${i} in: ${expr}`);
  }
  return tokens;
}

/** The index just past the group that opens at `open` (a `(`, `{` or `[`), balanced. */
function closing(tokens: readonly Token[], open: number, expr: string): number {
  const pairs: Record<string, string> = { "(": ")", "{": "}", "[": "]" };
  const want: string[] = [];
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== "punct") continue;
    if (pairs[t.text] !== undefined) want.push(pairs[t.text]!);
    else if (t.text === want[want.length - 1]) {
      want.pop();
      if (want.length === 0) return i + 1;
    } else if (Object.values(pairs).includes(t.text))
      throw new Error(`unbalanced ${t.text} at ${t.at} in: ${expr}`);
  }
  throw new Error(`unclosed ${tokens[open]?.text ?? "group"} in: ${expr}`);
}

/** The metric names from a label-matcher block `{...}` (tokens between the braces). */
function namesInMatchers(tokens: readonly Token[], expr: string): string[] {
  const names: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== "ident" || t.text !== "__name__") continue;
    const op = tokens[i + 1]?.text;
    const value = tokens[i + 2];
    if (op !== "=" || value?.kind !== "string")
      throw new Error(`a __name__ matcher other than = "name" cannot be checked: ${expr}`);
    names.push(value.text.slice(1, -1));
  }
  return names;
}

/** The metric names that a PromQL expression selects, in order of appearance, without repeats. */
export function metricNames(expr: string): string[] {
  const tokens = tokenize(expr);
  const names: string[] = [];
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    if (t.kind === "punct" && t.text === "[") {
      // A range or subquery: durations, a colon, Grafana's $__rate_interval; no metric inside.
      i = closing(tokens, i, expr);
      continue;
    }
    if (t.kind === "punct" && t.text === "{") {
      const end = closing(tokens, i, expr);
      names.push(...namesInMatchers(tokens.slice(i + 1, end - 1), expr));
      i = end;
      continue;
    }
    if (t.kind !== "ident") {
      i++;
      continue;
    }
    if (LABEL_LIST_KEYWORDS.has(t.text)) {
      i = next?.text === "(" ? closing(tokens, i + 1, expr) : i + 1;
      continue;
    }
    if (KEYWORDS.has(t.text) || AGGREGATIONS.has(t.text)) {
      i++;
      continue;
    }
    if ((t.text === "start" || t.text === "end") && tokens[i - 1]?.text === "@") {
      i++;
      continue;
    }
    if (next?.text === "(") {
      if (!FUNCTIONS.has(t.text)) throw new Error(`unknown PromQL function ${t.text}() in: ${expr}`);
      i++;
      continue;
    }
    names.push(t.text);
    i++;
  }
  return [...new Set(names)];
}
