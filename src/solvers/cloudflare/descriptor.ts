import type { CloudflareProvider } from "../../crds/index.js";
import { TerminalError } from "../../errors.js";
import { readSecretRef, type ReadSecretRefOptions, type SecretRefField } from "../credentials.js";
import type { ProviderContext, ProviderDescriptor } from "../provider.js";
import {
  CLOUDFLARE_API_URL,
  CLOUDFLARE_RATE_LIMIT,
  createCloudflareSolver,
  type CloudflareAuth,
} from "./cloudflare.js";

/** The environment variable that points the provider at another API base URL (tests, a proxy). */
export const CLOUDFLARE_API_URL_ENV = "DNS01_CLOUDFLARE_API_URL";

/**
 * How a credential is read: a token never holds whitespace, and a trailing newline from
 * `kubectl create secret --from-file` would make an invalid header; an empty one is refused.
 */
const CREDENTIAL: ReadSecretRefOptions = { trim: true, nonEmpty: true, prefixTemporary: false };

/** The credentials a block names, read now. */
async function resolveAuth(block: CloudflareProvider, ctx: ProviderContext): Promise<CloudflareAuth> {
  const { apiTokenSecretRef: tokenRef, apiKeySecretRef: keyRef } = block;
  if ((tokenRef === undefined) === (keyRef === undefined)) {
    throw new TerminalError(
      "cloudflare: exactly one of apiTokenSecretRef or apiKeySecretRef must be set",
      "InvalidConfiguration",
    );
  }
  if (tokenRef !== undefined)
    return { apiToken: await readSecretRef("cloudflare", "apiTokenSecretRef", tokenRef, ctx, CREDENTIAL) };
  const email = block.email?.trim() ?? "";
  if (email === "") {
    throw new TerminalError("cloudflare: email is required with apiKeySecretRef", "InvalidConfiguration");
  }
  // keyRef is set here: exactly one of the two is.
  return {
    apiKey: await readSecretRef("cloudflare", "apiKeySecretRef", keyRef as SecretRefField, ctx, CREDENTIAL),
    email,
  };
}

/** The `cloudflare` provider: Cloudflare DNS through the API v4 and the official SDK. */
export const descriptor: ProviderDescriptor<"cloudflare"> = {
  code: "cloudflare",
  displayName: "Cloudflare",
  summary:
    "Adds and removes the challenge TXT values through the Cloudflare API v4 (the official `cloudflare` " +
    "SDK), with an API token or the legacy global API key. Records are found by name and value, so apex " +
    "and wildcard values at one name never touch each other.",
  credentials: [
    {
      field: "apiTokenSecretRef",
      description:
        "An API token (recommended): a Secret key holding the token. Exclusive with apiKeySecretRef.",
    },
    {
      field: "apiKeySecretRef",
      description:
        "The legacy Global API Key of the account, used with `email`. It can do everything the user can: " +
        "prefer a token.",
    },
  ],
  options: [
    {
      field: "email",
      description:
        "The account's email, sent with the global API key (X-Auth-Email). Required with apiKeySecretRef.",
    },
    {
      field: `${CLOUDFLARE_API_URL_ENV} (operator environment)`,
      description:
        "Another base URL for the API, for tests or an egress proxy. Not an Issuer field: it applies to every " +
        "Cloudflare solver of the operator.",
      default: CLOUDFLARE_API_URL,
    },
  ],
  leastPrivilege: [
    "Create an **API token** (My Profile → API Tokens → Create Token → *Create Custom Token*) with:",
    "",
    "- Permissions: **Zone → DNS → Edit** and **Zone → Zone → Read**;",
    "- Zone Resources: **Include → Specific zone →** each zone the issuer solves for (when `cnameStrategy: Follow`",
    "  delegates `_acme-challenge` names elsewhere, the zone the CNAMEs point into).",
    "",
    "Zone:Read lets the operator find the zone's ID by name; DNS:Edit lets it add and delete the TXT records.",
    "Nothing else is needed: the token never touches account settings or other zones. Optionally restrict it",
    "to the cluster's egress addresses (Client IP Address Filtering) and give it an expiry, then rotate the Secret:",
    "the next challenge reads the new value, without a restart.",
    "",
    "```sh",
    "kubectl -n <issuer-namespace> create secret generic cloudflare-api-token --from-literal=api-token=<token>",
    "```",
    "",
    "The **Global API Key** (`apiKeySecretRef` + `email`) has every permission of the user on every zone and",
    "cannot be restricted; use it only where tokens are not available.",
    "",
    `Cloudflare allows ${String(CLOUDFLARE_RATE_LIMIT.requests)} API requests per five minutes per user; the`,
    "operator keeps its own count per token and backs off on a 429 for as long as Retry-After says.",
    "One certificate for a name and its wildcard costs about 9 requests.",
  ].join("\n"),
  rateLimit: CLOUDFLARE_RATE_LIMIT,
  links: [
    {
      title: "Create an API token",
      url: "https://developers.cloudflare.com/fundamentals/api/get-started/create-token/",
    },
    {
      title: "API token permissions",
      url: "https://developers.cloudflare.com/fundamentals/api/reference/permissions/",
    },
    {
      title: "DNS records API",
      url: "https://developers.cloudflare.com/api/resources/dns/subresources/records/",
    },
    { title: "API rate limits", url: CLOUDFLARE_RATE_LIMIT.source },
  ],
  issuerExample: `apiVersion: dns01.io/v1alpha1
kind: Issuer
metadata:
  name: letsencrypt-cloudflare
  namespace: default
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    email: admin@example.com
    privateKeySecretRef:
      name: letsencrypt-cloudflare-account
    solvers:
      - dns01:
          cloudflare:
            apiTokenSecretRef:
              name: cloudflare-api-token
              key: api-token
`,
  async create(block, ctx) {
    const auth = await resolveAuth(block, ctx);
    const endpoint = process.env[CLOUDFLARE_API_URL_ENV];
    return createCloudflareSolver({
      auth,
      endpoint: endpoint === undefined || endpoint === "" ? undefined : endpoint,
    });
  },
};
