import type { OvhProvider } from "../../crds/index.js";
import { TerminalError } from "../../errors.js";
import { readSecretRef, type ReadSecretRefOptions, type SecretRefField } from "../credentials.js";
import type { ProviderContext, ProviderDescriptor } from "../provider.js";
import {
  OVH_ENDPOINTS,
  OVH_OAUTH2_TOKEN_URLS,
  OVH_RATE_LIMIT,
  createOvhSolver,
  type OvhAuth,
} from "./ovh.js";

/** The environment variable that sends every OVH solver to another API root (tests, a proxy). */
export const OVH_API_URL_ENV = "DNS01_OVH_API_URL";
/** The environment variable that sends OAuth2 token requests elsewhere (tests, a proxy). */
export const OVH_OAUTH2_TOKEN_URL_ENV = "DNS01_OVH_OAUTH2_TOKEN_URL";

const CREDENTIAL: ReadSecretRefOptions = { trim: true, nonEmpty: true, prefixTemporary: false };

function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === "" ? undefined : v;
}

/** The API root and the token URL of a block's `endpoint`. */
function endpoints(block: OvhProvider): { api: string; tokenUrl: string } {
  const named = Object.hasOwn(OVH_ENDPOINTS, block.endpoint)
    ? (block.endpoint as keyof typeof OVH_ENDPOINTS)
    : undefined;
  const api = env(OVH_API_URL_ENV) ?? (named === undefined ? block.endpoint : OVH_ENDPOINTS[named]);
  const tokenUrl =
    env(OVH_OAUTH2_TOKEN_URL_ENV) ??
    (named === undefined ? `${new URL(api).origin}/auth/oauth2/token` : OVH_OAUTH2_TOKEN_URLS[named]);
  return { api, tokenUrl };
}

async function resolveAuth(block: OvhProvider, ctx: ProviderContext, tokenUrl: string): Promise<OvhAuth> {
  const {
    applicationKeySecretRef: ak,
    applicationSecretSecretRef: as,
    consumerKeySecretRef: ck,
    oauth2,
  } = block;
  const keys = ak !== undefined || as !== undefined || ck !== undefined;
  if (keys === (oauth2 !== undefined)) {
    throw new TerminalError(
      "ovh: set exactly one of the application keys (applicationKeySecretRef, applicationSecretSecretRef, " +
        "consumerKeySecretRef) or oauth2",
      "InvalidConfiguration",
    );
  }
  if (oauth2 !== undefined) {
    return {
      kind: "oauth2",
      clientId: oauth2.clientID.trim(),
      clientSecret: await readSecretRef(
        "ovh",
        "oauth2.clientSecretSecretRef",
        oauth2.clientSecretSecretRef,
        ctx,
        CREDENTIAL,
      ),
      tokenUrl,
    };
  }
  if (ak === undefined || as === undefined || ck === undefined) {
    throw new TerminalError(
      "ovh: applicationKeySecretRef, applicationSecretSecretRef and consumerKeySecretRef must be set together",
      "InvalidConfiguration",
    );
  }
  const read = (field: string, ref: SecretRefField) => readSecretRef("ovh", field, ref, ctx, CREDENTIAL);
  return {
    kind: "keys",
    applicationKey: await read("applicationKeySecretRef", ak),
    applicationSecret: await read("applicationSecretSecretRef", as),
    consumerKey: await read("consumerKeySecretRef", ck),
  };
}

/** The `ovh` provider: OVHcloud DNS zones through the API v1. */
export const descriptor: ProviderDescriptor<"ovh"> = {
  code: "ovh",
  displayName: "OVHcloud",
  summary:
    "Adds and removes the challenge TXT values through the OVHcloud API (`/domain/zone/{zone}/record`, then " +
    "`/refresh`), signed with an application key, secret and consumer key (the timestamp corrected from " +
    "`GET /auth/time`), or with OAuth2 client credentials. Records are found by name and value at every call, " +
    "never by a remembered ID.",
  credentials: [
    { field: "applicationKeySecretRef", description: "The application key (AK). With the next two." },
    { field: "applicationSecretSecretRef", description: "The application secret (AS)." },
    { field: "consumerKeySecretRef", description: "The consumer key (CK), which carries the access rules." },
    {
      field: "oauth2.clientSecretSecretRef",
      description:
        "Instead of the three keys: the client secret of an OVHcloud service account (`oauth2.clientID`).",
    },
  ],
  options: [
    {
      field: "endpoint",
      description: "`ovh-eu`, `ovh-ca`, `ovh-us`, or the API's base URL (with `/1.0`).",
      required: true,
    },
    {
      field: "oauth2.clientID",
      description: "The service account's client ID, with `oauth2.clientSecretSecretRef`.",
    },
    {
      field: `${OVH_API_URL_ENV}, ${OVH_OAUTH2_TOKEN_URL_ENV} (operator environment)`,
      description:
        "Another API root and token URL, for tests or an egress proxy. Not Issuer fields: they apply to every " +
        "OVH solver of the operator.",
    },
  ],
  leastPrivilege: [
    "**Application keys.** Create an application (for ovh-eu at <https://eu.api.ovh.com/createApp/>), then a",
    "consumer key whose access rules allow only the zone's records, and validate it while logged in:",
    "",
    "```sh",
    "curl -X POST https://eu.api.ovh.com/1.0/auth/credential \\",
    '  -H "X-Ovh-Application: <application key>" -H "Content-Type: application/json" \\',
    '  -d \'{"accessRules": [',
    '        {"method": "GET",    "path": "/domain/zone/<zone>/*"},',
    '        {"method": "POST",   "path": "/domain/zone/<zone>/*"},',
    '        {"method": "DELETE", "path": "/domain/zone/<zone>/*"}]}\'',
    "# open the validationUrl it returns, choose an expiry, and keep the consumerKey",
    "kubectl -n <issuer-namespace> create secret generic ovh-credentials \\",
    "  --from-literal=application-key=<AK> --from-literal=application-secret=<AS> \\",
    "  --from-literal=consumer-key=<CK>",
    "```",
    "",
    "One rule set per zone the issuer solves for (with `cnameStrategy: Follow`, the zone the CNAMEs point",
    "into). GET lists and reads the TXT records, POST creates them and refreshes the zone, DELETE removes",
    "them; nothing outside `/domain/zone/<zone>/` is reachable. `GET /auth/time` needs no credentials.",
    "",
    "**OAuth2.** Create a service account (`POST /me/api/oauth2/client` with `flow: CLIENT_CREDENTIALS`) and",
    "an IAM policy for it on the zone's resource (`urn:v1:eu:resource:dnsZone:<zone>`) allowing only the",
    "actions `dnsZone:apiovh:record/get`, `dnsZone:apiovh:record/create`, `dnsZone:apiovh:record/delete` and",
    "`dnsZone:apiovh:refresh`; put its client secret in a Secret and its client ID in `oauth2.clientID`.",
    "",
    "A record is found again by name and value at cleanup, so a restart loses nothing. One certificate for a",
    "name and its wildcard cost 21 requests in e2e (list, read, create or delete, refresh per value, plus re-presents).",
  ].join("\n"),
  rateLimit: OVH_RATE_LIMIT,
  links: [
    { title: "First steps with the OVHcloud API (signature, access rules)", url: OVH_RATE_LIMIT.source },
    {
      title: "OAuth2 service accounts",
      url: "https://help.ovhcloud.com/csm/en-gb-api-service-account-connection",
    },
    { title: "API console: /domain", url: "https://eu.api.ovh.com/console/?section=%2Fdomain&branch=v1" },
  ],
  issuerExample: `apiVersion: dns01.io/v1alpha1
kind: Issuer
metadata:
  name: letsencrypt-ovh
  namespace: default
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    email: admin@example.com
    privateKeySecretRef:
      name: letsencrypt-ovh-account
    solvers:
      - dns01:
          ovh:
            endpoint: ovh-eu
            applicationKeySecretRef:
              name: ovh-credentials
              key: application-key
            applicationSecretSecretRef:
              name: ovh-credentials
              key: application-secret
            consumerKeySecretRef:
              name: ovh-credentials
              key: consumer-key
`,
  async create(block, ctx) {
    const { api, tokenUrl } = endpoints(block);
    return createOvhSolver({ endpoint: api, auth: await resolveAuth(block, ctx, tokenUrl) });
  },
};
