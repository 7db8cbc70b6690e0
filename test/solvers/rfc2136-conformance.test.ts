import { queryTxt } from "../../src/dns/query.js";
import { createRfc2136Solver } from "../../src/solvers/rfc2136/rfc2136.js";
import { rigVar } from "../support/rig.js";
import { describeConformance } from "./conformance.js";

describeConformance("rfc2136 against BIND", () =>
  Promise.resolve({
    zone: "example.test.",
    solver: () =>
      Promise.resolve(
        createRfc2136Solver({
          nameserver: rigVar("DNS_SERVER"),
          tsigKeyName: rigVar("TSIG_KEY_NAME"),
          tsigAlgorithm: rigVar("TSIG_ALGORITHM"),
          tsigSecret: rigVar("TSIG_SECRET"),
        }),
      ),
    values: (fqdn: string) => queryTxt(fqdn, rigVar("DNS_SERVER")),
  }),
);
