import { describe, expect, it } from "@jest/globals";
import { selectSolver, type SolverSelectorLike } from "./select.js";

const s = (selector?: SolverSelectorLike): { selector?: SolverSelectorLike } =>
  selector ? { selector } : {};

describe("selectSolver", () => {
  const cases: {
    name: string;
    solvers: { selector?: SolverSelectorLike }[];
    dnsName: string;
    wildcard?: boolean;
    labels?: Record<string, string>;
    want: number;
  }[] = [
    { name: "picks the only solver without a selector", solvers: [s()], dnsName: "a.example.com", want: 0 },
    { name: "returns -1 when there are no solvers", solvers: [], dnsName: "a.example.com", want: -1 },
    {
      name: "returns -1 when every selector excludes the name",
      solvers: [s({ dnsZones: ["other.com"] })],
      dnsName: "a.example.com",
      want: -1,
    },
    {
      name: "prefers a dnsNames match over a longer dnsZones match",
      solvers: [s({ dnsZones: ["a.example.com"] }), s({ dnsNames: ["a.example.com"] })],
      dnsName: "a.example.com",
      want: 1,
    },
    {
      name: "prefers the dnsZones match with more labels",
      solvers: [s({ dnsZones: ["example.com"] }), s({ dnsZones: ["sub.example.com"] })],
      dnsName: "x.sub.example.com",
      want: 1,
    },
    {
      name: "matches a zone at its apex",
      solvers: [s(), s({ dnsZones: ["example.com"] })],
      dnsName: "example.com",
      want: 1,
    },
    {
      name: "does not match a zone by a bare suffix that is not a label boundary",
      solvers: [s(), s({ dnsZones: ["ample.com"] })],
      dnsName: "example.com",
      want: 0,
    },
    {
      name: "prefers more matched labels when zones tie",
      solvers: [
        s({ dnsZones: ["example.com"], matchLabels: { a: "1" } }),
        s({ dnsZones: ["example.com"], matchLabels: { a: "1", b: "2" } }),
      ],
      dnsName: "x.example.com",
      labels: { a: "1", b: "2" },
      want: 1,
    },
    {
      name: "excludes a solver whose matchLabels are not all present",
      solvers: [s(), s({ matchLabels: { team: "a" } })],
      dnsName: "x.example.com",
      labels: { team: "b" },
      want: 0,
    },
    {
      name: "prefers a labels-only selector that matches over the fallback",
      solvers: [s(), s({ matchLabels: { team: "a" } })],
      dnsName: "x.example.com",
      labels: { team: "a" },
      want: 1,
    },
    {
      name: "gives a tie to the earlier solver",
      solvers: [s({ dnsZones: ["example.com"] }), s({ dnsZones: ["example.com"] })],
      dnsName: "x.example.com",
      want: 0,
    },
    {
      name: "uses the fallback when no selector matches",
      solvers: [s({ dnsNames: ["other.example.com"] }), s()],
      dnsName: "x.example.com",
      want: 1,
    },
    {
      name: "matches a wildcard identifier against dnsNames as *.domain",
      solvers: [s({ dnsNames: ["example.com"] }), s({ dnsNames: ["*.example.com"] })],
      dnsName: "example.com",
      wildcard: true,
      want: 1,
    },
    {
      name: "does not let the apex's dnsNames entry select the wildcard",
      solvers: [s(), s({ dnsNames: ["example.com"] })],
      dnsName: "example.com",
      wildcard: true,
      want: 0,
    },
    {
      name: "matches a wildcard identifier against dnsZones by its base name",
      solvers: [s(), s({ dnsZones: ["example.com"] })],
      dnsName: "example.com",
      wildcard: true,
      want: 1,
    },
    {
      name: "compares names case-insensitively and ignores a trailing dot",
      solvers: [s(), s({ dnsZones: ["Example.COM."] })],
      dnsName: "www.example.com",
      want: 1,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = selectSolver(c.solvers, {
        dnsName: c.dnsName,
        wildcard: c.wildcard ?? false,
        labels: c.labels ?? {},
      });
      expect(got).toBe(c.want);
    });
  }
});
