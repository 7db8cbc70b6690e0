/**
 * Label selectors, in both forms Kubernetes uses: the string of list calls (`app=x,tier!=db,
 * env in (a,b),!legacy`) and the metav1.LabelSelector object of specs. Both compile to the same
 * requirements, matched in memory by the informer's store.
 */

/** metav1.LabelSelector. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: {
    key: string;
    operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
    values?: string[];
  }[];
}

/** One requirement of a selector. */
export interface Requirement {
  key: string;
  op: "in" | "notin" | "exists" | "!exists";
  values: string[];
}

/** Parses the string form; throws on syntax it does not know (numeric `gt`/`lt` included). */
export function parseSelector(text: string): Requirement[] {
  const reqs: Requirement[] = [];
  let rest = text.trim();
  const fail = (why: string): never => {
    throw new Error(`label selector "${text}": ${why}`);
  };
  while (rest !== "") {
    let m: RegExpExecArray | null;
    if ((m = /^!\s*([^\s,=!()]+)\s*/.exec(rest))) {
      reqs.push({ key: m[1] ?? "", op: "!exists", values: [] });
    } else if ((m = /^([^\s,=!()]+)\s+(in|notin)\s*\(([^)]*)\)\s*/.exec(rest))) {
      const values = (m[3] ?? "").split(",").map((v) => v.trim());
      reqs.push({ key: m[1] ?? "", op: m[2] === "in" ? "in" : "notin", values });
    } else if ((m = /^([^\s,=!()]+)\s*(==|=|!=)\s*([^\s,=!()]*)\s*/.exec(rest))) {
      reqs.push({ key: m[1] ?? "", op: m[2] === "!=" ? "notin" : "in", values: [m[3] ?? ""] });
    } else if ((m = /^([^\s,=!()]+)\s*(?=,|$)/.exec(rest))) {
      reqs.push({ key: m[1] ?? "", op: "exists", values: [] });
    } else {
      fail(`cannot parse "${rest}"`);
    }
    rest = rest.slice(m?.[0].length ?? 0);
    if (rest.startsWith(",")) {
      rest = rest.slice(1).trim();
      if (rest === "") fail("trailing comma");
    } else if (rest !== "") {
      fail(`expected "," before "${rest}"`);
    }
  }
  return reqs;
}

/** Compiles the object form. */
export function selectorRequirements(sel: LabelSelector): Requirement[] {
  const reqs: Requirement[] = Object.entries(sel.matchLabels ?? {}).map(([key, v]) => ({
    key,
    op: "in",
    values: [v],
  }));
  for (const e of sel.matchExpressions ?? []) {
    const op = ({ In: "in", NotIn: "notin", Exists: "exists", DoesNotExist: "!exists" } as const)[e.operator];
    reqs.push({ key: e.key, op, values: e.values ?? [] });
  }
  return reqs;
}

/** The string form of an object selector, for a list or watch call's `labelSelector`. */
export function selectorToString(sel: LabelSelector): string {
  return selectorRequirements(sel)
    .map((r) => {
      switch (r.op) {
        case "exists":
          return r.key;
        case "!exists":
          return `!${r.key}`;
        case "in":
          return r.values.length === 1
            ? `${r.key}=${r.values[0] ?? ""}`
            : `${r.key} in (${r.values.join(",")})`;
        case "notin":
          return `${r.key} notin (${r.values.join(",")})`;
      }
      return "";
    })
    .join(",");
}

/** True when `labels` satisfy every requirement (an empty selector matches everything). */
export function matchesRequirements(
  labels: Record<string, string> | undefined,
  reqs: readonly Requirement[],
): boolean {
  return reqs.every((r) => {
    const v = labels?.[r.key];
    switch (r.op) {
      case "exists":
        return v !== undefined;
      case "!exists":
        return v === undefined;
      case "in":
        return v !== undefined && r.values.includes(v);
      case "notin":
        return v === undefined || !r.values.includes(v);
    }
    return false;
  });
}

/** Matches labels against a selector in either form. */
export function matchesSelector(
  labels: Record<string, string> | undefined,
  sel: string | LabelSelector,
): boolean {
  return matchesRequirements(
    labels,
    typeof sel === "string" ? parseSelector(sel) : selectorRequirements(sel),
  );
}
