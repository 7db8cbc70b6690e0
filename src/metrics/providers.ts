import type { Dns01ProviderName } from "../crds/index.js";
import type { ProviderRateLimit } from "../solvers/provider.js";
import { PROVIDERS } from "../solvers/providers.generated.js";

/**
 * The provider a rate limit belongs to, for the wait metric's `provider` label: each provider
 * sizes its buckets from the limit in its descriptor, so the limit object (or, for a limit a test
 * or option built anew, its documentation link) names the provider. Account keys cannot: some
 * carry no provider prefix.
 */
export function providerOfRateLimit(limit: ProviderRateLimit): string {
  let bySource: string | undefined;
  for (const [code, d] of Object.entries(PROVIDERS) as [
    Dns01ProviderName,
    { rateLimit?: ProviderRateLimit },
  ][]) {
    if (d.rateLimit === limit) return code;
    if (d.rateLimit?.source === limit.source) bySource = code;
  }
  return bySource ?? "unknown";
}
