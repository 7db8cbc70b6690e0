/**
 * The Route 53 emulator as e2e uses it: the proxy mirrors each accepted change into the rig's
 * BIND before answering, so what the operator wrote through the Route 53 API is in DNS when
 * Route 53 says INSYNC, and Pebble can validate it.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { queryTxt } from "../../src/dns/query.js";
import { silentLogger } from "../../src/log.js";
import { RateLimits } from "../../src/solvers/limits.js";
import { createRoute53Solver, Route53Backend } from "../../src/solvers/route53/route53.js";
import type { Dns01Solver, SolverContext } from "../../src/solvers/types.js";
import { bindBackend } from "../emulators/bind-backend.js";
import { createHostedZone, startMoto, type MotoServer } from "../emulators/route53/moto.js";
import { Route53Proxy } from "../emulators/route53/proxy.js";
import { rigVar } from "../support/rig.js";

const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });

describe("route53 emulator mirrored into the rig's BIND", () => {
  let moto: MotoServer;
  let proxy: Route53Proxy;
  let solver: Dns01Solver;

  beforeAll(async () => {
    moto = await startMoto();
    await createHostedZone(moto.url, "example.test");
    await createHostedZone(moto.url, "second.test");
    proxy = new Route53Proxy({
      upstream: moto.url,
      backend: bindBackend(),
      mirrorZones: ["example.test", "second.test"],
    });
    const endpoint = await proxy.start();
    solver = createRoute53Solver(
      {
        credentials: { kind: "static", accessKeyId: "AKIAMIRROR0000000001", secretAccessKey: "mirror" },
        endpoint,
      },
      {
        backend: new Route53Backend(),
        rateLimits: new RateLimits(),
        rateLimit: { requests: 100, perMs: 1000, source: "test" },
      },
    );
  });

  afterAll(async () => {
    await proxy.stop();
    await moto.stop();
  });

  it.each(["example.test.", "second.test."])(
    "publishes apex and wildcard values in %s and removes them one by one",
    async (zone) => {
      const fqdn = `_acme-challenge.mirror${Date.now()}.${zone}`;
      const apex = { fqdn, zone, value: "apex-mirrored" };
      const wildcard = { fqdn, zone, value: "wildcard-mirrored" };
      await Promise.all([solver.present(apex, ctx()), solver.present(wildcard, ctx())]);
      expect((await queryTxt(fqdn, rigVar("DNS_SERVER"))).sort()).toEqual([
        "apex-mirrored",
        "wildcard-mirrored",
      ]);
      await solver.cleanUp(apex, ctx());
      expect(await queryTxt(fqdn, rigVar("DNS_SERVER"))).toEqual(["wildcard-mirrored"]);
      await solver.cleanUp(wildcard, ctx());
      expect(await queryTxt(fqdn, rigVar("DNS_SERVER"))).toEqual([]);
    },
  );
});
