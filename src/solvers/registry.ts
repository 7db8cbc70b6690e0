/**
 * The provider registry: builds a Dns01Solver from a solver's `dns01` block, keyed by the field
 * name of its one provider block (`rfc2136`, `cloudflare`, ...). Credentials are read through a
 * SecretReader on every build, so a rotated Secret is used by the next solver built.
 */
import { DNS01_PROVIDERS, type Dns01Provider, type Dns01ProviderName } from "../crds/index.js";
import { TerminalError } from "../errors.js";
import type { KubeClient } from "../kube/client.js";
import type { SecretReader } from "./credentials.js";
import type { ProviderContext, ProviderDescriptor } from "./provider.js";
import { IMPLEMENTED_PROVIDERS, PROVIDERS } from "./providers.generated.js";
import type { Dns01Solver } from "./types.js";

export { IMPLEMENTED_PROVIDERS };

/** What building a solver may use besides its block. */
export interface CreateSolverContext {
  /** The namespace of the Secrets the block refers to: the Issuer's, or the cluster resource namespace. */
  readonly secretNamespace: string;
  readonly secrets: SecretReader;
  readonly signal?: AbortSignal;
  /**
   * True for a ClusterIssuer's solver: providers allow ambient credentials (instance roles,
   * workload identity) only there. False when unset, the safe side.
   */
  readonly clusterScoped?: boolean | undefined;
  /** The Kubernetes API for providers that call it; default: the SecretReader's own client, if any. */
  readonly kube?: KubeClient | undefined;
}

/** Descriptors by `dns01` field name: the generated PROVIDERS, or a table a test builds. */
export type ProviderTable = { readonly [K in Dns01ProviderName]?: ProviderDescriptor<K> };

/** The descriptor of a provider, or undefined while it is not built. */
export function providerDescriptor<K extends Dns01ProviderName>(
  name: K,
  providers: ProviderTable = PROVIDERS,
): ProviderDescriptor<K> | undefined {
  return providers[name];
}

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

/**
 * createSolver over a given table of descriptors (createSolver passes the generated one). The
 * provider gets a ProviderContext whose `clusterScoped` is false unless the caller says otherwise.
 */
export async function createSolverWith(
  providers: ProviderTable,
  dns01: Dns01Provider,
  ctx: CreateSolverContext,
): Promise<Dns01Solver> {
  const name = providerName(dns01);
  return build(providers, name, dns01[name], ctx);
}

async function build<K extends Dns01ProviderName>(
  providers: ProviderTable,
  name: K,
  block: Dns01Provider[K],
  ctx: CreateSolverContext,
): Promise<Dns01Solver> {
  const descriptor = providerDescriptor(name, providers);
  if (descriptor === undefined || block === undefined) {
    const implemented = DNS01_PROVIDERS.filter((p) => providers[p] !== undefined);
    throw new TerminalError(
      `the dns01 provider "${name}" is not implemented yet; implemented: ${implemented.join(", ")}`,
      "ProviderNotImplemented",
    );
  }
  const providerCtx: ProviderContext = {
    secretNamespace: ctx.secretNamespace,
    secrets: ctx.secrets,
    clusterScoped: ctx.clusterScoped ?? false,
    signal: ctx.signal,
    kube: ctx.kube ?? ctx.secrets.kube,
  };
  return descriptor.create(block, providerCtx);
}

/**
 * Builds the provider for a solver's dns01 block, reading its credentials from
 * `ctx.secretNamespace`, through the provider's descriptor (src/solvers/<code>/descriptor.ts,
 * wired by the generated src/solvers/providers.generated.ts). Exactly one provider field is set
 * (the CRD enforces it). A provider without a descriptor yet throws TerminalError reason
 * "ProviderNotImplemented". Credential errors are TerminalError `SecretNotFound`,
 * `SecretKeyNotFound` or `InvalidConfiguration`, or TemporaryError when the Secret cannot be read
 * right now; none carries a secret value. Ambient credentials are allowed only with
 * `ctx.clusterScoped` (a ClusterIssuer).
 */
export async function createSolver(dns01: Dns01Provider, ctx: CreateSolverContext): Promise<Dns01Solver> {
  return createSolverWith(PROVIDERS, dns01, ctx);
}
