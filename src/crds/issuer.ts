import { DNS_ZONE, conditions, dnsName, secretKeySelector, type KindNames } from "./common.js";
import { s, type Infer } from "./schema.js";

/** Names of the namespaced Issuer kind. */
export const ISSUER_NAMES: KindNames = {
  kind: "Issuer",
  listKind: "IssuerList",
  plural: "issuers",
  singular: "issuer",
  shortNames: ["diss"],
  categories: ["dns01"],
};

/** Names of the cluster-scoped ClusterIssuer kind. */
export const CLUSTER_ISSUER_NAMES: KindNames = {
  kind: "ClusterIssuer",
  listKind: "ClusterIssuerList",
  plural: "clusterissuers",
  singular: "clusterissuer",
  shortNames: ["dciss"],
  categories: ["dns01"],
};

/** TSIG algorithms of the rfc2136 provider; cert-manager compares them case-insensitively. */
export const TSIG_ALGORITHMS = ["HMACMD5", "HMACSHA1", "HMACSHA256", "HMACSHA512"] as const;

/** The provider blocks of a dns01 solver, by field name, in the order the docs list them. */
export const DNS01_PROVIDERS = [
  "rfc2136",
  "cloudflare",
  "route53",
  "cloudDNS",
  "azureDNS",
  "digitalocean",
  "ovh",
  "godaddy",
  "namecheap",
  "acmeDNS",
  "webhook",
] as const;
/** The field name of one DNS-01 provider block. */
export type Dns01ProviderName = (typeof DNS01_PROVIDERS)[number];

/** `host` or `host:port`, IPv6 in brackets. */
const NAMESERVER = "^(\\[[0-9a-fA-F:.]+\\]|[-_a-zA-Z0-9.]+)(:[0-9]{1,5})?$";
const EMAIL = "^[^@\\s]+@[^@\\s]+$";
const HTTP_URL = "^https?://[^\\s]+$";

const rfc2136 = s
  .object({
    nameserver: s
      .string({ minLength: 1, maxLength: 261, pattern: NAMESERVER })
      .describe(
        "The authoritative DNS server that takes the updates: host:port (port 53 if omitted), IPv6 in brackets.",
      ),
    tsigKeyName: s
      .string({ minLength: 1, maxLength: 255, pattern: "^[-_a-zA-Z0-9.]+$" })
      .describe("Name of the TSIG key, as configured in the DNS server. Required with tsigSecretSecretRef.")
      .optional(),
    tsigAlgorithm: s
      .string({ maxLength: 16 })
      .rule(
        `self.upperAscii() in [${TSIG_ALGORITHMS.map((a) => `'${a}'`).join(", ")}]`,
        `must be one of ${TSIG_ALGORITHMS.join(", ")} (case-insensitive)`,
      )
      .describe(`TSIG algorithm: ${TSIG_ALGORITHMS.join(", ")} (case-insensitive); HMACMD5 if unset.`)
      .optional(),
    tsigSecretSecretRef: secretKeySelector()
      .describe("The Secret key that holds the base64 TSIG secret. Required with tsigKeyName.")
      .optional(),
    protocol: s
      .enum(["TCP", "UDP"])
      .describe("Transport of the updates: UDP (the default) or TCP.")
      .optional(),
  })
  .rule(
    "has(self.tsigKeyName) == has(self.tsigSecretSecretRef)",
    "tsigKeyName and tsigSecretSecretRef must be set together",
    { fieldPath: ".tsigSecretSecretRef" },
  )
  .describe("RFC 2136 dynamic updates, signed with TSIG, to an authoritative server.");

const cloudflare = s
  .object({
    email: s
      .string({ maxLength: 254, pattern: EMAIL })
      .describe("Email of the account; required with apiKeySecretRef.")
      .optional(),
    apiKeySecretRef: secretKeySelector()
      .describe("A global API key (legacy; prefer an API token).")
      .optional(),
    apiTokenSecretRef: secretKeySelector()
      .describe("An API token with Zone:Read and DNS:Edit permissions.")
      .optional(),
  })
  .rule(
    "has(self.apiTokenSecretRef) != has(self.apiKeySecretRef)",
    "exactly one of apiTokenSecretRef or apiKeySecretRef must be set",
  )
  .rule("!has(self.apiKeySecretRef) || has(self.email)", "email is required with apiKeySecretRef", {
    fieldPath: ".email",
    reason: "FieldValueRequired",
  })
  .describe("The Cloudflare API.");

const route53 = s
  .object({
    auth: s
      .object({
        kubernetes: s
          .object({
            serviceAccountRef: s
              .object({
                name: s.string({ minLength: 1, maxLength: 253 }).describe("Name of the ServiceAccount."),
                audiences: s
                  .array(s.string({ maxLength: 256 }), { maxItems: 16 })
                  .describe("Audiences of the token (default sts.amazonaws.com).")
                  .optional(),
              })
              .describe("The ServiceAccount whose token is exchanged by AssumeRoleWithWebIdentity."),
          })
          .describe("Authenticate with a bound ServiceAccount token."),
      })
      .describe("How to authenticate with AWS.")
      .optional(),
    accessKeyID: s.string({ maxLength: 128 }).describe("Access key ID, in clear.").optional(),
    accessKeyIDSecretRef: secretKeySelector().describe("Access key ID, from a Secret.").optional(),
    secretAccessKeySecretRef: secretKeySelector().describe("Secret access key, from a Secret.").optional(),
    role: s.string({ maxLength: 2048 }).describe("ARN of a role to assume.").optional(),
    hostedZoneID: s
      .string({ maxLength: 64 })
      .describe("Use this hosted zone rather than looking it up.")
      .optional(),
    region: s.string({ maxLength: 64 }).describe("AWS region hint for the credential scope.").optional(),
  })
  .rule(
    "!(has(self.accessKeyID) && has(self.accessKeyIDSecretRef))",
    "accessKeyID and accessKeyIDSecretRef are mutually exclusive",
    { fieldPath: ".accessKeyIDSecretRef" },
  )
  .rule(
    "!(has(self.accessKeyID) || has(self.accessKeyIDSecretRef)) || has(self.secretAccessKeySecretRef)",
    "secretAccessKeySecretRef is required with an access key ID",
    { fieldPath: ".secretAccessKeySecretRef", reason: "FieldValueRequired" },
  )
  .describe("AWS Route 53.");

const cloudDNS = s
  .object({
    project: s.string({ minLength: 1, maxLength: 128 }).describe("The Google Cloud project of the zone."),
    serviceAccountSecretRef: secretKeySelector()
      .describe("A service account JSON key; ambient credentials if unset.")
      .optional(),
    hostedZoneName: s
      .string({ maxLength: 128 })
      .describe("The managed zone to use rather than looking it up.")
      .optional(),
  })
  .describe("Google Cloud DNS.");

const azureDNS = s
  .object({
    subscriptionID: s.string({ minLength: 1, maxLength: 64 }).describe("ID of the Azure subscription."),
    resourceGroupName: s
      .string({ minLength: 1, maxLength: 90 })
      .describe("Resource group that holds the DNS zone."),
    hostedZoneName: s.string({ maxLength: 253 }).describe("The DNS zone to use.").optional(),
    clientID: s.string({ maxLength: 64 }).describe("Service principal client ID.").optional(),
    clientSecretSecretRef: secretKeySelector().describe("Service principal secret.").optional(),
    tenantID: s.string({ maxLength: 64 }).describe("Service principal tenant ID.").optional(),
    environment: s
      .enum(["AzurePublicCloud", "AzureChinaCloud", "AzureGermanCloud", "AzureUSGovernmentCloud"])
      .describe("The Azure cloud (default AzurePublicCloud).")
      .optional(),
    managedIdentity: s
      .object({
        clientID: s.string({ maxLength: 64 }).describe("Client ID of the managed identity.").optional(),
        resourceID: s.string({ maxLength: 1024 }).describe("Resource ID of the managed identity.").optional(),
        tenantID: s.string({ maxLength: 64 }).describe("Tenant ID of the managed identity.").optional(),
      })
      .rule(
        "!(has(self.clientID) && has(self.resourceID))",
        "clientID and resourceID are mutually exclusive",
        {
          fieldPath: ".resourceID",
        },
      )
      .describe("Workload identity or managed identity settings.")
      .optional(),
  })
  .rule(
    "has(self.clientID) == has(self.clientSecretSecretRef) && has(self.clientID) == has(self.tenantID)",
    "clientID, clientSecretSecretRef and tenantID must be set together",
    { fieldPath: ".clientID" },
  )
  .rule(
    "!(has(self.managedIdentity) && has(self.clientID))",
    "managedIdentity cannot be used together with a service principal (clientID)",
    { fieldPath: ".managedIdentity" },
  )
  .describe("Azure DNS.");

const digitalocean = s
  .object({ tokenSecretRef: secretKeySelector().describe("A DigitalOcean API token.") })
  .describe("DigitalOcean Domains.");

const ovh = s
  .object({
    endpoint: s
      .string({ minLength: 1, maxLength: 2048, pattern: "^(ovh-eu|ovh-ca|ovh-us|https?://[^\\s]+)$" })
      .describe("The OVHcloud API: ovh-eu, ovh-ca, ovh-us, or its base URL (with /1.0)."),
    applicationKeySecretRef: secretKeySelector()
      .describe("The application key (AK), with applicationSecretSecretRef and consumerKeySecretRef.")
      .optional(),
    applicationSecretSecretRef: secretKeySelector().describe("The application secret (AS).").optional(),
    consumerKeySecretRef: secretKeySelector().describe("The consumer key (CK).").optional(),
    oauth2: s
      .object({
        clientID: s.string({ minLength: 1, maxLength: 256 }).describe("The service account's client ID."),
        clientSecretSecretRef: secretKeySelector().describe("The service account's client secret."),
      })
      .describe("OAuth2 client credentials of an OVHcloud service account, instead of application keys.")
      .optional(),
  })
  .rule(
    "has(self.applicationKeySecretRef) == has(self.applicationSecretSecretRef) && " +
      "has(self.applicationKeySecretRef) == has(self.consumerKeySecretRef)",
    "applicationKeySecretRef, applicationSecretSecretRef and consumerKeySecretRef must be set together",
    { fieldPath: ".applicationKeySecretRef" },
  )
  .rule(
    "has(self.applicationKeySecretRef) != has(self.oauth2)",
    "set exactly one of the application keys (applicationKeySecretRef, ...) or oauth2",
  )
  .describe("OVHcloud DNS zones.");

const godaddy = s
  .object({
    apiKeySecretRef: secretKeySelector().describe("The GoDaddy API key."),
    apiSecretSecretRef: secretKeySelector().describe("The GoDaddy API secret."),
    environment: s
      .enum(["production", "ote"])
      .describe("production (api.godaddy.com) or ote, the test environment (default production).")
      .optional(),
    ttl: s
      .integer({ minimum: 600, maximum: 604800 })
      .describe("TTL of the TXT records (default 600).")
      .optional(),
  })
  .describe("GoDaddy DNS.");

const namecheap = s
  .object({
    apiUser: s.string({ minLength: 1, maxLength: 64 }).describe("The ApiUser (the account's username)."),
    apiKeySecretRef: secretKeySelector().describe("The ApiKey."),
    userName: s
      .string({ maxLength: 64 })
      .describe("The UserName the commands run as (default apiUser).")
      .optional(),
    clientIP: s
      .string({ minLength: 1, maxLength: 45, pattern: "^[0-9a-fA-F.:]+$" })
      .describe("The operator's public IP address, as whitelisted for API access at Namecheap."),
    sandbox: s.boolean().describe("Use the sandbox API (api.sandbox.namecheap.com).").optional(),
  })
  .describe("Namecheap BasicDNS, through the XML API.");

const acmeDNS = s
  .object({
    host: s.string({ maxLength: 2048, pattern: HTTP_URL }).describe("URL of the acme-dns server."),
    accountSecretRef: secretKeySelector().describe("The acme-dns account JSON, by domain."),
  })
  .describe("An acme-dns server (https://github.com/joohoi/acme-dns).");

const webhook = s
  .object({
    groupName: s.string({ minLength: 1, maxLength: 253 }).describe("API group of the webhook solver."),
    solverName: s.string({ minLength: 1, maxLength: 253 }).describe("Name of the solver in the webhook."),
    config: s
      .json()
      .describe("Configuration passed to the webhook as it is. No secret values here.")
      .optional(),
    url: s
      .string({ maxLength: 2048, pattern: HTTP_URL })
      .describe(
        "Base URL of the webhook: the operator POSTs to <url>/present and <url>/cleanup (docs/webhook.md). " +
          "Default: the operator's DNS01_WEBHOOK_API_URL template.",
      )
      .optional(),
    caBundle: s
      .string({ format: "byte" })
      .describe("Base64 PEM CA bundle that verifies the webhook's https certificate.")
      .optional(),
    tokenSecretRef: secretKeySelector()
      .describe("A Secret key sent as Authorization: Bearer <value> (https or loopback only).")
      .optional(),
    timeoutSeconds: s
      .integer({ minimum: 1, maximum: 300 })
      .describe("Timeout of one call in seconds (default 30).")
      .optional(),
  })
  .describe("An external webhook solver: cert-manager's fields, plus where to reach it over HTTP.");

// akamai counts too, so that an akamai block alone gets only its own, clearer, error.
const providerCount = [...DNS01_PROVIDERS, "akamai"].map((p) => `(has(self.${p}) ? 1 : 0)`).join(" + ");

const dns01 = s
  .object({
    cnameStrategy: s
      .enum(["None", "Follow"])
      .describe("Follow CNAMEs at _acme-challenge names to the zone that is updated (Follow), or not (None).")
      .optional(),
    rfc2136: rfc2136.optional(),
    cloudflare: cloudflare.optional(),
    route53: route53.optional(),
    cloudDNS: cloudDNS.optional(),
    azureDNS: azureDNS.optional(),
    digitalocean: digitalocean.optional(),
    ovh: ovh.optional(),
    godaddy: godaddy.optional(),
    namecheap: namecheap.optional(),
    acmeDNS: acmeDNS.optional(),
    webhook: webhook.optional(),
    akamai: s.opaqueObject().describe("cert-manager's Akamai provider: not supported.").optional(),
  })
  .rule("!has(self.akamai)", `akamai is not supported; supported providers: ${DNS01_PROVIDERS.join(", ")}`, {
    fieldPath: ".akamai",
    reason: "FieldValueForbidden",
  })
  .rule(
    `${providerCount} == 1`,
    `exactly one DNS provider must be set, one of: ${DNS01_PROVIDERS.join(", ")}`,
  )
  .describe("A DNS-01 solver: exactly one provider block, and how to treat CNAMEs.");

const selector = s
  .object({
    matchLabels: s
      .record(s.string({ maxLength: 63 }))
      .describe("Use this solver only for Certificates with these labels.")
      .optional(),
    dnsNames: s
      .array(dnsName(), { maxItems: 100 })
      .describe("DNS names this solver is for; an exact name wins over a zone.")
      .optional(),
    dnsZones: s
      .array(s.string({ minLength: 1, maxLength: 253, pattern: DNS_ZONE }), { maxItems: 100 })
      .describe("Zones this solver is for; the most specific zone wins.")
      .optional(),
  })
  .describe("Which names this solver is for. An empty selector matches everything with the lowest priority.");

const solver = s
  .object({
    selector: selector.optional(),
    dns01: dns01.optional(),
    http01: s.opaqueObject().describe("Not supported: this operator solves only DNS-01.").optional(),
  })
  .rule(
    "!has(self.http01)",
    "http01 is not supported: only DNS-01 is supported by dns01-operator; configure a dns01 solver",
    { fieldPath: ".http01", reason: "FieldValueForbidden" },
  )
  .rule("has(self.http01) || has(self.dns01)", "a solver needs a dns01 block", {
    fieldPath: ".dns01",
    reason: "FieldValueRequired",
  })
  .describe("How to solve challenges for the names its selector matches.");

const acme = s
  .object({
    server: s
      .string({ minLength: 1, maxLength: 2048, pattern: HTTP_URL })
      .describe("URL of the ACME server's directory, e.g. https://acme-v02.api.letsencrypt.org/directory."),
    email: s
      .string({ maxLength: 254, pattern: EMAIL })
      .describe("Contact email of the ACME account.")
      .optional(),
    privateKeySecretRef: secretKeySelector().describe(
      "The Secret that holds the account's private key (key tls.key if unset); created unless " +
        "disableAccountKeyGeneration is true.",
    ),
    externalAccountBinding: s
      .object({
        keyID: s.string({ minLength: 1, maxLength: 1024 }).describe("The key ID given by the CA."),
        keySecretRef: secretKeySelector().describe(
          "The Secret key with the MAC key, base64url without padding.",
        ),
        keyAlgorithm: s
          .enum(["HS256", "HS384", "HS512"])
          .describe("Deprecated; ignored (HS256 is always used).")
          .optional(),
      })
      .describe("External account binding, for CAs that require one.")
      .optional(),
    preferredChain: s
      .string({ maxLength: 64 })
      .describe("Prefer the chain whose root's issuer common name is this.")
      .optional(),
    caBundle: s
      .string({ format: "byte" })
      .describe(
        "Base64 PEM CA bundle that verifies the ACME server's TLS certificate. Exclusive with skipTLSVerify.",
      )
      .optional(),
    skipTLSVerify: s
      .boolean()
      .describe("INSECURE: do not verify the ACME server's TLS certificate.")
      .optional(),
    disableAccountKeyGeneration: s
      .boolean()
      .describe("Never create the account key; expect it in privateKeySecretRef.")
      .optional(),
    enableDurationFeature: s
      .boolean()
      .describe("Ask the CA for a notAfter that matches the Certificate's duration.")
      .optional(),
    profile: s
      .string({ maxLength: 64 })
      .describe("A certificate profile the server lists in its directory.")
      .optional(),
    renewalInformationSource: s
      .enum(["ARI", "None"])
      .describe(
        "ARI (the default) renews inside the window the CA suggests (RFC 9773) when its directory lists " +
          "renewalInfo; None renews at renewalTime only.",
      )
      .optional(),
    solvers: s
      .array(solver, { maxItems: 32 })
      .describe("Solvers, chosen per DNS name by their selectors.")
      .optional(),
  })
  .rule(
    "!(has(self.caBundle) && has(self.skipTLSVerify) && self.skipTLSVerify)",
    "caBundle and skipTLSVerify are mutually exclusive",
    { fieldPath: ".skipTLSVerify" },
  )
  .describe("An ACME (RFC 8555) account and how to solve its challenges.");

const issuerSpecSchema = s
  .object({ acme: acme })
  .describe("The issuer. Only ACME issuers exist here, solving DNS-01 challenges.");

const issuerStatusSchema = s
  .object({
    conditions: conditions().optional(),
    acme: s
      .object({
        uri: s.string({ maxLength: 2048 }).describe("URL of the registered ACME account.").optional(),
        lastRegisteredEmail: s
          .string({ maxLength: 254 })
          .describe("The email the account was last registered with.")
          .optional(),
        lastPrivateKeyHash: s
          .string({ maxLength: 128 })
          .describe("Hash of the account key last registered.")
          .optional(),
      })
      .describe("State of the ACME account.")
      .optional(),
  })
  .describe("The observed state, written by the operator.");

/** The spec schema shared by Issuer and ClusterIssuer. */
export const issuerSpec = issuerSpecSchema;
/** The status schema shared by Issuer and ClusterIssuer. */
export const issuerStatus = issuerStatusSchema;
/** The schema of one solver, also copied into each Challenge. */
export const acmeSolver = solver;

/** The spec of an Issuer or ClusterIssuer. */
export type IssuerSpec = Infer<typeof issuerSpecSchema>;
/** The status of an Issuer or ClusterIssuer. */
export type IssuerStatus = Infer<typeof issuerStatusSchema>;
/** `spec.acme`: the ACME account and solvers. */
export type AcmeIssuer = Infer<typeof acme>;
/** `spec.acme.externalAccountBinding`. */
export type AcmeExternalAccountBinding = Infer<typeof acme.shape.externalAccountBinding.inner>;
/** One entry of `spec.acme.solvers`. */
export type AcmeSolver = Infer<typeof solver>;
/** `selector` of a solver. */
export type AcmeSolverSelector = Infer<typeof selector>;
/** `dns01` of a solver: cnameStrategy plus exactly one provider block. */
export type Dns01Provider = Infer<typeof dns01>;
/** The rfc2136 provider block. */
export type Rfc2136Provider = Infer<typeof rfc2136>;
/** The cloudflare provider block. */
export type CloudflareProvider = Infer<typeof cloudflare>;
/** The route53 provider block. */
export type Route53Provider = Infer<typeof route53>;
/** The cloudDNS provider block. */
export type CloudDnsProvider = Infer<typeof cloudDNS>;
/** The azureDNS provider block. */
export type AzureDnsProvider = Infer<typeof azureDNS>;
/** The digitalocean provider block. */
export type DigitalOceanProvider = Infer<typeof digitalocean>;
/** The ovh provider block. */
export type OvhProvider = Infer<typeof ovh>;
/** The godaddy provider block. */
export type GoDaddyProvider = Infer<typeof godaddy>;
/** The namecheap provider block. */
export type NamecheapProvider = Infer<typeof namecheap>;
/** The acmeDNS provider block. */
export type AcmeDnsProvider = Infer<typeof acmeDNS>;
/** The webhook provider block. */
export type WebhookProvider = Infer<typeof webhook>;
/** The TSIG algorithm names, upper case. */
export type TsigAlgorithm = (typeof TSIG_ALGORITHMS)[number];
