import { afterAll } from "@jest/globals";
import { RateLimits } from "../../src/solvers/limits.js";
import { createRoute53Solver, Route53Backend } from "../../src/solvers/route53/route53.js";
import { createHostedZone, startMoto, txtValues, type MotoServer } from "../emulators/route53/moto.js";
import { Route53Proxy } from "../emulators/route53/proxy.js";
import { describeConformance } from "./conformance.js";

let moto: MotoServer | undefined;
let proxy: Route53Proxy | undefined;

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

describeConformance("route53 against moto", async () => {
  moto = await startMoto();
  const zoneId = await createHostedZone(moto.url, "example.test");
  proxy = new Route53Proxy({ upstream: moto.url });
  const endpoint = await proxy.start();
  const url = moto.url;
  // Its own backend and a roomy bucket: the suite's calls come quicker than 5 per second, and the
  // client-side limit is tested on its own in route53.test.ts.
  const deps = {
    backend: new Route53Backend(),
    rateLimits: new RateLimits(),
    rateLimit: { requests: 1000, perMs: 1000, source: "test" },
  };
  return {
    zone: "example.test.",
    solver: () =>
      Promise.resolve(
        createRoute53Solver(
          {
            region: "us-east-1",
            credentials: {
              kind: "static",
              accessKeyId: "AKIACONFORMANCE00001",
              secretAccessKey: "conformance",
            },
            endpoint,
          },
          deps,
        ),
      ),
    values: (fqdn: string) => txtValues(url, zoneId, fqdn),
  };
});
