import { readSecretRef, type ReadSecretRefOptions } from "../credentials.js";
import type { ProviderDescriptor } from "../provider.js";
import { GODADDY_API_URL, GODADDY_OTE_API_URL, GODADDY_RATE_LIMIT, createGoDaddySolver } from "./godaddy.js";

/** The environment variable that points the provider at another API root (tests, a proxy). */
export const GODADDY_API_URL_ENV = "DNS01_GODADDY_API_URL";

/** Keys hold no whitespace; a trailing newline (kubectl --from-file) would break the header. */
const CREDENTIAL: ReadSecretRefOptions = { trim: true, nonEmpty: true, prefixTemporary: false };

/** The `godaddy` provider: GoDaddy DNS through the Domains API v1. */
export const descriptor: ProviderDescriptor<"godaddy"> = {
  code: "godaddy",
  displayName: "GoDaddy",
  summary:
    "Adds and removes the challenge TXT values through GoDaddy's Domains API v1 with an API key and secret " +
    "(`Authorization: sso-key`). GoDaddy writes the values of a name as one set, so the operator reads the " +
    "set, adds or removes its value and writes the rest back as they were, one change at a time per name.",
  credentials: [
    { field: "apiKeySecretRef", description: "The API key: a Secret key holding it." },
    { field: "apiSecretSecretRef", description: "The API secret of that key." },
  ],
  options: [
    {
      field: "environment",
      description: `\`production\` (${GODADDY_API_URL}) or \`ote\`, GoDaddy's test environment (${GODADDY_OTE_API_URL}).`,
      default: "production",
    },
    {
      field: "ttl",
      description: "TTL of the TXT values, in seconds (GoDaddy's minimum is 600).",
      default: "600",
    },
    {
      field: `${GODADDY_API_URL_ENV} (operator environment)`,
      description:
        "Another API root, for tests or an egress proxy. Not an Issuer field: it applies to every GoDaddy " +
        "solver of the operator, whatever `environment` says.",
    },
  ],
  leastPrivilege: [
    "Create a **Production** API key at <https://developer.godaddy.com/keys> (an *OTE* key works only with",
    "`environment: ote`). GoDaddy keys cannot be scoped: a key can change every domain of the account, so",
    "keep the key in a Secret only the operator reads, and delete it at GoDaddy when it is no longer used.",
    "",
    "```sh",
    "kubectl -n <issuer-namespace> create secret generic godaddy-api \\",
    "  --from-literal=api-key=<key> --from-literal=api-secret=<secret>",
    "```",
    "",
    "**Account restriction.** Since May 2024 GoDaddy's Domains and DNS APIs answer",
    "`403 ACCESS_DENIED: Authenticated user is not allowed access` to accounts with fewer than 10 domains",
    "(or without a Discount Domain Club plan). The operator's condition names this as the likely cause; the",
    "only fixes are on GoDaddy's side, or delegating `_acme-challenge` (with `cnameStrategy: Follow`) to a",
    "zone at another provider.",
    "",
    "GoDaddy allows 60 requests per minute per key; the operator keeps its own count below that and backs off",
    "on a 429 as Retry-After (or the body's `retryAfterSec`) says. One certificate for a name and its wildcard",
    "costs 8 requests: a read and a write for each value, presented and cleaned up.",
  ].join("\n"),
  rateLimit: GODADDY_RATE_LIMIT,
  links: [
    { title: "API keys", url: "https://developer.godaddy.com/keys" },
    { title: "Domains API reference", url: "https://developer.godaddy.com/doc/endpoint/domains" },
    { title: "Getting started (rate limits)", url: GODADDY_RATE_LIMIT.source },
  ],
  issuerExample: `apiVersion: dns01.io/v1alpha1
kind: Issuer
metadata:
  name: letsencrypt-godaddy
  namespace: default
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    email: admin@example.com
    privateKeySecretRef:
      name: letsencrypt-godaddy-account
    solvers:
      - dns01:
          godaddy:
            apiKeySecretRef:
              name: godaddy-api
              key: api-key
            apiSecretSecretRef:
              name: godaddy-api
              key: api-secret
`,
  async create(block, ctx) {
    const apiKey = await readSecretRef("godaddy", "apiKeySecretRef", block.apiKeySecretRef, ctx, CREDENTIAL);
    const apiSecret = await readSecretRef(
      "godaddy",
      "apiSecretSecretRef",
      block.apiSecretSecretRef,
      ctx,
      CREDENTIAL,
    );
    const override = process.env[GODADDY_API_URL_ENV];
    const endpoint =
      override !== undefined && override !== ""
        ? override
        : block.environment === "ote"
          ? GODADDY_OTE_API_URL
          : GODADDY_API_URL;
    return createGoDaddySolver({ apiKey, apiSecret, endpoint, ttl: block.ttl });
  },
};
