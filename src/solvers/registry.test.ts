import { afterEach, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { DNS01_PROVIDERS, type Dns01Provider } from "../crds/index.js";
import { reply, startFakeDnsServer, type FakeDnsServer } from "../dns/testing/fake-server.js";
import { extractTsig, signMessage, TsigErrorCode, verifyMessage, type TsigKey } from "../dns/tsig.js";
import { Rcode } from "../dns/wire.js";
import { TerminalError } from "../errors.js";
import { silentLogger } from "../log.js";
import { memorySecretReader } from "./credentials.js";
import type { ProviderContext, ProviderDescriptor } from "./provider.js";
import { descriptor as rfc2136Descriptor } from "./rfc2136/descriptor.js";
import {
  createSolver,
  createSolverWith,
  IMPLEMENTED_PROVIDERS,
  providerDescriptor,
  providerName,
  type ProviderTable,
} from "./registry.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "./types.js";

const RECORD: TxtRecord = {
  fqdn: "_acme-challenge.www.example.test.",
  zone: "example.test.",
  value: "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0",
};
const ctx: SolverContext = { signal: new AbortController().signal, log: silentLogger() };

const servers: FakeDnsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/**
 * A BIND-like update server that knows one key, whose secret the test can rotate: it accepts
 * updates signed with the current secret, answers NOTAUTH/BADSIG to anything else, and signs its
 * answers. `unsigned` counts updates that came without TSIG (it refuses them).
 */
async function updateServer(keyName: string) {
  const state = { secret: randomBytes(32), signedOk: 0, unsigned: 0 };
  const server = await startFakeDnsServer((req) => {
    const key: TsigKey = { name: keyName, algorithm: "HMACSHA256", secret: state.secret };
    const tsig = extractTsig(req);
    if (tsig === undefined) {
      state.unsigned++;
      return reply(req, { rcode: Rcode.REFUSED });
    }
    const ok = verifyMessage(req, key).status === "ok";
    if (ok) state.signedOk++;
    const { packet } = signMessage(reply(req, { rcode: ok ? Rcode.NOERROR : Rcode.NOTAUTH }), key, {
      requestMac: tsig.mac,
    });
    if (!ok) packet.writeUInt16BE(TsigErrorCode.BADSIG, packet.length - 4);
    return packet;
  });
  servers.push(server);
  return { server, state };
}

function rfc2136Block(nameserver: string): Dns01Provider {
  return {
    rfc2136: {
      nameserver,
      tsigKeyName: "acme-key.",
      tsigAlgorithm: "hmacsha256",
      tsigSecretSecretRef: { name: "tsig", key: "secret" },
    },
  };
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error("expected the call to fail");
  return err;
}

const reasonOf = (err: unknown): string | undefined =>
  err instanceof TerminalError ? err.reason : undefined;

describe("createSolver", () => {
  it("builds rfc2136 from its block, signing with the TSIG secret read from the issuer's namespace", async () => {
    const { server, state } = await updateServer("acme-key.");
    const secrets = memorySecretReader(
      new Map([["team-a/tsig", { secret: state.secret.toString("base64") }]]),
    );
    const solver = await createSolver(rfc2136Block(server.address), { secretNamespace: "team-a", secrets });
    await solver.present(RECORD, ctx);
    await solver.cleanUp(RECORD, ctx);
    expect(state.signedOk).toBe(2);
    expect(secrets.reads).toEqual([{ namespace: "team-a", name: "tsig", key: "secret" }]);
  });

  it("reads the Secret on every build, so the next solver uses a rotated TSIG secret", async () => {
    const { server, state } = await updateServer("acme-key.");
    const stored = { secret: state.secret.toString("base64") };
    const secrets = memorySecretReader(new Map([["team-a/tsig", stored]]));
    const build = () => createSolver(rfc2136Block(server.address), { secretNamespace: "team-a", secrets });
    const before = await build();
    await before.present(RECORD, ctx);

    // The DNS admin rotates the key, and the Secret is updated to match.
    state.secret = randomBytes(32);
    stored.secret = state.secret.toString("base64");
    const stale = await failure(before.present(RECORD, ctx));
    expect(reasonOf(stale)).toBe("InvalidCredentials");
    const after = await build();
    await after.present(RECORD, ctx);
    expect(state.signedOk).toBe(2);
    expect(secrets.reads).toHaveLength(2);
  });

  it("builds rfc2136 without TSIG, reading no Secret, when the block names none", async () => {
    const { server, state } = await updateServer("acme-key.");
    const secrets = memorySecretReader(new Map());
    const solver = await createSolver(
      { rfc2136: { nameserver: server.address } },
      { secretNamespace: "team-a", secrets },
    );
    // The server refuses unsigned updates; that it got one shows no key was used.
    expect(reasonOf(await failure(solver.present(RECORD, ctx)))).toBe("UpdateRefused");
    expect(state.unsigned).toBe(1);
    expect(secrets.reads).toEqual([]);
  });

  /** A descriptor that records the blocks and contexts it is built with, and reads no Secret. */
  function recordingDescriptor(): ProviderDescriptor<"cloudflare"> & { builds: ProviderContext[] } {
    const builds: ProviderContext[] = [];
    const solver: Dns01Solver = { present: () => Promise.resolve(), cleanUp: () => Promise.resolve() };
    return {
      builds,
      code: "cloudflare",
      displayName: "Recording",
      summary: "",
      credentials: [],
      options: [],
      leastPrivilege: "",
      links: [],
      issuerExample: "",
      create(_block, providerCtx) {
        builds.push(providerCtx);
        return Promise.resolve(solver);
      },
    };
  }
  const CLOUDFLARE: Dns01Provider = { cloudflare: { apiTokenSecretRef: { name: "cf", key: "token" } } };

  it("fails with ProviderNotImplemented for a provider without a descriptor, without reading its Secrets", async () => {
    const secrets = memorySecretReader(new Map());
    const table: ProviderTable = { rfc2136: rfc2136Descriptor };
    const err = await failure(createSolverWith(table, CLOUDFLARE, { secretNamespace: "team-a", secrets }));
    expect(reasonOf(err)).toBe("ProviderNotImplemented");
    expect(err.message).toBe('the dns01 provider "cloudflare" is not implemented yet; implemented: rfc2136');
    expect(secrets.reads).toEqual([]);
  });

  it("tells the provider whether it builds for a ClusterIssuer, and says no when the caller does not say", async () => {
    const recording = recordingDescriptor();
    const table: ProviderTable = { cloudflare: recording };
    const secrets = memorySecretReader(new Map());
    const controller = new AbortController();
    await createSolverWith(table, CLOUDFLARE, { secretNamespace: "team-a", secrets });
    await createSolverWith(table, CLOUDFLARE, { secretNamespace: "team-a", secrets, clusterScoped: false });
    await createSolverWith(table, CLOUDFLARE, {
      secretNamespace: "cert-manager",
      secrets,
      clusterScoped: true,
      signal: controller.signal,
    });
    expect(recording.builds.map((b) => [b.secretNamespace, b.clusterScoped])).toEqual([
      ["team-a", false],
      ["team-a", false],
      ["cert-manager", true],
    ]);
    expect(recording.builds[2]?.secrets).toBe(secrets);
    expect(recording.builds[2]?.signal).toBe(controller.signal);
  });

  it("builds every provider through the generated descriptor of its field name", () => {
    for (const name of IMPLEMENTED_PROVIDERS) {
      expect(providerDescriptor(name)?.code).toBe(name);
    }
    expect(DNS01_PROVIDERS.filter((p) => providerDescriptor(p) !== undefined)).toEqual(IMPLEMENTED_PROVIDERS);
  });

  it("names the Secret and key when the Secret is missing, and never prints a value", async () => {
    const secrets = memorySecretReader(new Map([["team-b/tsig", { secret: "VALUE-IN-ANOTHER-NAMESPACE" }]]));
    const err = await failure(
      createSolver(rfc2136Block("127.0.0.1:53"), { secretNamespace: "team-a", secrets }),
    );
    expect(reasonOf(err)).toBe("SecretNotFound");
    expect(err.message).toBe(
      'rfc2136: tsigSecretSecretRef: Secret team-a/tsig not found (wanted its key "secret")',
    );
    expect(err.message).not.toContain("VALUE-IN-ANOTHER-NAMESPACE");
  });

  it("names the Secret and key when the key is missing, and never prints a value", async () => {
    const secrets = memorySecretReader(new Map([["team-a/tsig", { tsig: "SOME-SECRET-VALUE" }]]));
    const err = await failure(
      createSolver(rfc2136Block("127.0.0.1:53"), { secretNamespace: "team-a", secrets }),
    );
    expect(reasonOf(err)).toBe("SecretKeyNotFound");
    expect(err.message).toBe(
      'rfc2136: tsigSecretSecretRef: Secret team-a/tsig has no key "secret" (it has "tsig")',
    );
    expect(err.message).not.toContain("SOME-SECRET-VALUE");
  });

  it("rejects a TSIG secret that is not base64 without printing it", async () => {
    const bad = "not base64 !!! but secret";
    const secrets = memorySecretReader(new Map([["team-a/tsig", { secret: bad }]]));
    const err = await failure(
      createSolver(rfc2136Block("127.0.0.1:53"), { secretNamespace: "team-a", secrets }),
    );
    expect(reasonOf(err)).toBe("InvalidConfiguration");
    expect(err.message).not.toContain(bad);
  });

  it("needs the key of tsigSecretSecretRef", async () => {
    const secrets = memorySecretReader(new Map([["team-a/tsig", { secret: "x" }]]));
    const block: Dns01Provider = {
      rfc2136: { nameserver: "127.0.0.1", tsigKeyName: "k.", tsigSecretSecretRef: { name: "tsig" } },
    };
    const err = await failure(createSolver(block, { secretNamespace: "team-a", secrets }));
    expect(reasonOf(err)).toBe("InvalidConfiguration");
    expect(err.message).toContain("tsigSecretSecretRef.key is required");
  });
});

describe("providerName", () => {
  it("names the one provider block that is set", () => {
    expect(providerName({ cnameStrategy: "Follow", rfc2136: { nameserver: "ns" } })).toBe("rfc2136");
    expect(providerName({ webhook: { groupName: "g", solverName: "s" } })).toBe("webhook");
  });

  it("rejects a block with no provider or with several as InvalidConfiguration", () => {
    const none = (): string => providerName({ cnameStrategy: "None" });
    const several = (): string =>
      providerName({
        rfc2136: { nameserver: "ns" },
        digitalocean: { tokenSecretRef: { name: "d", key: "t" } },
      });
    expect(none).toThrow(/no provider block/);
    expect(several).toThrow(
      "the dns01 solver has several provider blocks (rfc2136, digitalocean): set exactly one",
    );
    for (const call of [none, several]) {
      let thrown: unknown;
      try {
        call();
      } catch (err) {
        thrown = err;
      }
      expect(reasonOf(thrown)).toBe("InvalidConfiguration");
    }
  });

  it("lists rfc2136 among the implemented providers", () => {
    expect(IMPLEMENTED_PROVIDERS).toContain("rfc2136");
  });
});
