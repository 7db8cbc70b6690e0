import { readSecretRef } from "../credentials.js";
import type { ProviderDescriptor } from "../provider.js";
import { DIGITALOCEAN_API_URL, DIGITALOCEAN_RATE_LIMIT, createDigitalOceanSolver } from "./digitalocean.js";

/** The environment variable that points the provider at another API root (tests, a proxy). */
export const DIGITALOCEAN_API_URL_ENV = "DNS01_DIGITALOCEAN_API_URL";

/** The `digitalocean` provider: DigitalOcean Domains through the API v2. */
export const descriptor: ProviderDescriptor<"digitalocean"> = {
  code: "digitalocean",
  displayName: "DigitalOcean",
  summary:
    "Adds and removes the challenge TXT values through the DigitalOcean API v2 (Domain Records) with a " +
    "personal access token. Records are found by name and value, so apex and wildcard values at one name " +
    "never touch each other.",
  credentials: [
    {
      field: "tokenSecretRef",
      description: "A DigitalOcean personal access token: a Secret key holding it (`dop_v1_...`).",
    },
  ],
  options: [
    {
      field: `${DIGITALOCEAN_API_URL_ENV} (operator environment)`,
      description:
        "Another API root, for tests or an egress proxy. Not an Issuer field: it applies to every " +
        "DigitalOcean solver of the operator.",
      default: DIGITALOCEAN_API_URL,
    },
  ],
  leastPrivilege: [
    "Create a **personal access token** (API → Tokens → Generate New Token) with **Custom Scopes**, and",
    "select only the **domain** resource: `domain:read`, `domain:create`, `domain:update` and `domain:delete`.",
    "",
    "- `domain:read` lists the records of the domain (the operator finds its records by name and value);",
    "- `domain:create` adds the challenge TXT records (DigitalOcean's API reference lists `domain:create` and",
    "  `domain:update` for creating a record, so grant both);",
    "- `domain:delete` removes them.",
    "",
    "DigitalOcean scopes cannot be narrowed to one domain: the token can edit every domain of the team. Keep",
    "the domains in a team of their own when that matters, and give the token an expiry; when you rotate it,",
    "update the Secret: the next challenge reads the new value, without a restart. A legacy *Full Access*",
    "(read + write) token works too, but can change everything else in the team.",
    "",
    "```sh",
    "kubectl -n <issuer-namespace> create secret generic digitalocean-token --from-literal=access-token=<token>",
    "```",
    "",
    "DigitalOcean allows 5,000 requests per hour and 250 per minute per token; the operator keeps its own",
    "count below both and backs off on a 429 as Retry-After (or RateLimit-Reset) says. One certificate for a",
    "name and its wildcard costs 8 requests.",
  ].join("\n"),
  rateLimit: DIGITALOCEAN_RATE_LIMIT,
  links: [
    {
      title: "Create a personal access token",
      url: "https://docs.digitalocean.com/reference/api/create-personal-access-token/",
    },
    { title: "Token scopes", url: "https://docs.digitalocean.com/reference/api/scopes/" },
    {
      title: "Domain Records API",
      url: "https://docs.digitalocean.com/reference/api/digitalocean/#tag/Domain-Records",
    },
    { title: "API rate limits", url: DIGITALOCEAN_RATE_LIMIT.source },
  ],
  issuerExample: `apiVersion: dns01.io/v1alpha1
kind: Issuer
metadata:
  name: letsencrypt-digitalocean
  namespace: default
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    email: admin@example.com
    privateKeySecretRef:
      name: letsencrypt-digitalocean-account
    solvers:
      - dns01:
          digitalocean:
            tokenSecretRef:
              name: digitalocean-token
              key: access-token
`,
  async create(block, ctx) {
    // A token holds no whitespace; a trailing newline (kubectl --from-file) would break the header.
    const token = await readSecretRef("digitalocean", "tokenSecretRef", block.tokenSecretRef, ctx, {
      trim: true,
      nonEmpty: true,
      prefixTemporary: false,
    });
    const endpoint = process.env[DIGITALOCEAN_API_URL_ENV];
    return createDigitalOceanSolver({
      token,
      endpoint: endpoint === undefined || endpoint === "" ? undefined : endpoint,
    });
  },
};
