/**
 * route53 `auth.kubernetes.serviceAccountRef` (cert-manager v1.15+): a short-lived token of a
 * ServiceAccount in the issuer's namespace, from the TokenRequest API, for AssumeRoleWithWebIdentity.
 * The operator needs `create` on that ServiceAccount's `serviceaccounts/token` subresource, which the
 * namespace's owner grants with a Role (as with cert-manager), not the chart cluster-wide.
 */
import { apiStatusCode } from "../../kube/api-errors.js";
import { isAbortError, type KubeClient } from "../../kube/client.js";
import { TemporaryError, TerminalError } from "../../errors.js";

/** The audience AWS STS expects of a web identity token unless the issuer names others. */
export const STS_AUDIENCE = "sts.amazonaws.com";

/** Lifetime asked of each token: the API's minimum; one token serves one AssumeRoleWithWebIdentity. */
const TOKEN_SECONDS = 600;

/** What the TokenRequest answer carries (the field used here). */
interface TokenRequestStatus {
  readonly status?: { readonly token?: string };
}

/**
 * Requests a token for `namespace/name` with the audiences (default {@link STS_AUDIENCE}). A missing
 * ServiceAccount is TerminalError `ServiceAccountNotFound`; a 403 is TerminalError
 * `InvalidConfiguration` naming the RBAC to add; other failures are TemporaryErrors. The token is
 * never logged or put in an error.
 */
export async function requestServiceAccountToken(
  kube: KubeClient,
  namespace: string,
  name: string,
  audiences: readonly string[] | undefined,
  signal?: AbortSignal,
): Promise<string> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}/token`;
  const body = {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec: {
      audiences: audiences !== undefined && audiences.length > 0 ? [...audiences] : [STS_AUDIENCE],
      expirationSeconds: TOKEN_SECONDS,
    },
  };
  let res: TokenRequestStatus;
  try {
    res = await kube.request<TokenRequestStatus>("POST", path, { body, ...(signal ? { signal } : {}) });
  } catch (err) {
    if (signal?.aborted || isAbortError(err)) throw err;
    const code = apiStatusCode(err);
    if (code === 404) {
      throw new TerminalError(
        `route53: auth.kubernetes: ServiceAccount ${namespace}/${name} not found`,
        "ServiceAccountNotFound",
        { cause: err },
      );
    }
    if (code === 403) {
      throw new TerminalError(
        `route53: auth.kubernetes: the operator may not request tokens of ServiceAccount ${namespace}/${name}: ` +
          `grant its ServiceAccount "create" on "serviceaccounts/token" (resourceNames: [${name}]) with a Role ` +
          `in ${namespace}`,
        "InvalidConfiguration",
        { cause: err },
      );
    }
    throw new TemporaryError(
      `route53: auth.kubernetes: TokenRequest for ${namespace}/${name} failed: ${err instanceof Error ? err.message : String(err)}`,
      undefined,
      { cause: err },
    );
  }
  const token = res.status?.token;
  if (typeof token !== "string" || token === "") {
    throw new TemporaryError(
      `route53: auth.kubernetes: TokenRequest for ${namespace}/${name} returned no token`,
    );
  }
  return token;
}
