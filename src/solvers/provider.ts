import type { Dns01Provider, Dns01ProviderName } from "../crds/index.js";
import type { KubeClient } from "../kube/client.js";
import type { SecretReader } from "./credentials.js";
import type { Dns01Solver } from "./types.js";

/** What building a provider may use besides its block. */
export interface ProviderContext {
  /** The namespace of the Secrets the block refers to: the Issuer's, or the cluster resource namespace. */
  readonly secretNamespace: string;
  readonly secrets: SecretReader;
  /** True for a ClusterIssuer: ambient credentials (instance roles, workload identity) are allowed only there by default. */
  readonly clusterScoped: boolean;
  readonly signal?: AbortSignal | undefined;
  /** The Kubernetes API, when the operator runs against one (TokenRequest, aggregated webhook solvers). */
  readonly kube?: KubeClient | undefined;
}

/** A provider's documented rate limit, which its token bucket is sized from. */
export interface ProviderRateLimit {
  /** Requests allowed per `perMs` for one account. */
  readonly requests: number;
  readonly perMs: number;
  /** Where the figure comes from (a link to the provider's documentation). */
  readonly source: string;
}

/**
 * Everything about one provider, in its folder (`src/solvers/<code>/descriptor.ts`): how to build
 * it, and what its generated page in docs/providers/ says. The registry and the docs are generated
 * from these (hack/gen-providers.ts), so every provider is documented the same way.
 */
export interface ProviderDescriptor<K extends Dns01ProviderName = Dns01ProviderName> {
  /** The field name in an Issuer's `dns01` block, e.g. `cloudflare`. */
  readonly code: K;
  readonly displayName: string;
  /** One or two sentences on what it talks to and how. */
  readonly summary: string;
  /** The Secret references it reads, by field, and what each must hold. */
  readonly credentials: readonly { readonly field: string; readonly description: string }[];
  /** Its other fields, with defaults. */
  readonly options: readonly {
    readonly field: string;
    readonly description: string;
    readonly default?: string;
    readonly required?: boolean;
  }[];
  /** Markdown: the credentials to create and the least privilege they need. */
  readonly leastPrivilege: string;
  readonly rateLimit?: ProviderRateLimit | undefined;
  readonly links: readonly { readonly title: string; readonly url: string }[];
  /** YAML of an Issuer using it, shown in the docs (and checked against the CRD by a test). */
  readonly issuerExample: string;
  /** Builds the provider from its block; reads credentials on every call, so a rotated Secret is used. */
  create(block: NonNullable<Dns01Provider[K]>, ctx: ProviderContext): Promise<Dns01Solver>;
}
