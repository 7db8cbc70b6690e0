/**
 * The provider registry: builds a Dns01Solver from a solver's `dns01` block, keyed by the field
 * name of its one provider block (`rfc2136`, `cloudflare`, ...). Credentials are read through a
 * SecretReader on every build, so a rotated Secret is used by the next solver built.
 */
import {
  DNS01_PROVIDERS,
  type Dns01Provider,
  type Dns01ProviderName,
  type Rfc2136Provider,
} from "../crds/index.js";
import { TerminalError } from "../errors.js";
import { readSecretRef, type SecretReader } from "./credentials.js";
import { createRfc2136Solver } from "./rfc2136/rfc2136.js";
import type { Dns01Solver } from "./types.js";

/** What building a solver may use besides its block. */
export interface CreateSolverContext {
  /** The namespace of the Secrets the block refers to: the Issuer's, or the cluster resource namespace. */
  readonly secretNamespace: string;
  readonly secrets: SecretReader;
  readonly signal?: AbortSignal;
  /** True for a ClusterIssuer's solver (providers with ambient credentials may allow them only there). */
  readonly clusterScoped?: boolean | undefined;
}

type Factory<K extends Dns01ProviderName> = (
  block: NonNullable<Dns01Provider[K]>,
  ctx: CreateSolverContext,
) => Promise<Dns01Solver>;

const createRfc2136: Factory<"rfc2136"> = async (block: Rfc2136Provider, ctx) => {
  const tsigSecret =
    block.tsigSecretSecretRef === undefined
      ? undefined
      : await readSecretRef("rfc2136", "tsigSecretSecretRef", block.tsigSecretSecretRef, ctx);
  return createRfc2136Solver({
    nameserver: block.nameserver,
    tsigKeyName: block.tsigKeyName,
    tsigAlgorithm: block.tsigAlgorithm,
    tsigSecret,
    protocol: block.protocol,
  });
};

/** The providers built so far. The others are accepted by the CRD and fail here until they exist. */
const FACTORIES: { readonly [K in Dns01ProviderName]?: Factory<K> } = {
  rfc2136: createRfc2136,
};

/** The provider field names that createSolver can build, in the docs' order. */
export const IMPLEMENTED_PROVIDERS: readonly Dns01ProviderName[] = DNS01_PROVIDERS.filter(
  (p) => FACTORIES[p] !== undefined,
);

function setProviders(dns01: Dns01Provider): Dns01ProviderName[] {
  return DNS01_PROVIDERS.filter((p) => dns01[p] !== undefined);
}

/**
 * The field name of the block's one provider: "rfc2136", "cloudflare", ... Throws TerminalError
 * `InvalidConfiguration` when none or several are set (the CRD rejects both; a Challenge copied
 * from an older Issuer might not have been checked).
 */
export function providerName(dns01: Dns01Provider): Dns01ProviderName {
  const set = setProviders(dns01);
  const [only] = set;
  if (only === undefined || set.length > 1) {
    throw new TerminalError(
      set.length === 0
        ? `the dns01 solver has no provider block: set one of ${DNS01_PROVIDERS.join(", ")}`
        : `the dns01 solver has several provider blocks (${set.join(", ")}): set exactly one`,
      "InvalidConfiguration",
    );
  }
  return only;
}

async function build<K extends Dns01ProviderName>(
  name: K,
  block: Dns01Provider[K],
  ctx: CreateSolverContext,
): Promise<Dns01Solver> {
  const factory: Factory<K> | undefined = FACTORIES[name];
  if (factory === undefined || block === undefined) {
    throw new TerminalError(
      `the dns01 provider "${name}" is not implemented yet; implemented: ${IMPLEMENTED_PROVIDERS.join(", ")}`,
      "ProviderNotImplemented",
    );
  }
  return factory(block, ctx);
}

/**
 * Builds the provider for a solver's dns01 block, reading its credentials from
 * `ctx.secretNamespace`. Exactly one provider field is set (the CRD enforces it). rfc2136 is
 * implemented; every other provider (cloudflare, route53, cloudDNS, azureDNS, digitalocean,
 * acmeDNS, webhook) throws TerminalError reason "ProviderNotImplemented" for now. Credential
 * errors are TerminalError `SecretNotFound` / `SecretKeyNotFound` / `InvalidConfiguration`, or
 * TemporaryError when the Secret cannot be read right now; none carries a secret value.
 */
export async function createSolver(dns01: Dns01Provider, ctx: CreateSolverContext): Promise<Dns01Solver> {
  const name = providerName(dns01);
  return build(name, dns01[name], ctx);
}
