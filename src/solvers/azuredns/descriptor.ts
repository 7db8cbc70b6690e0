import { readFile } from "node:fs/promises";
import type { AzureDnsProvider } from "../../crds/index.js";
import { TerminalError } from "../../errors.js";
import { readSecretRef } from "../credentials.js";
import type { ProviderContext, ProviderDescriptor } from "../provider.js";
import {
  AZURE_DNS_RATE_LIMIT,
  AZURE_ENVIRONMENTS,
  createAzureDnsSolver,
  DEFAULT_TTL,
  type AzureCredentialConfig,
} from "./azuredns.js";

/** The environment variable that points the provider at another ARM endpoint (tests, a proxy). */
export const AZURE_DNS_API_URL_ENV = "DNS01_AZUREDNS_API_URL";
/** The environment variable that points the provider at another Microsoft Entra ID authority host. */
export const AZURE_DNS_AUTHORITY_HOST_ENV = "DNS01_AZUREDNS_AUTHORITY_HOST";
/** The environment variable naming a PEM file of CAs to trust instead of the default store. */
export const AZURE_DNS_CA_FILE_ENV = "DNS01_AZUREDNS_CA_FILE";

/** The credential a block names: a service principal, or (ClusterIssuers only) a managed identity. */
async function resolveCredential(
  block: AzureDnsProvider,
  ctx: ProviderContext,
): Promise<AzureCredentialConfig> {
  const { clientID, clientSecretSecretRef, tenantID, managedIdentity } = block;
  if (clientID !== undefined || clientSecretSecretRef !== undefined || tenantID !== undefined) {
    if (clientID === undefined || clientSecretSecretRef === undefined || tenantID === undefined) {
      throw new TerminalError(
        "azureDNS: clientID, clientSecretSecretRef and tenantID must be set together",
        "InvalidConfiguration",
      );
    }
    if (managedIdentity !== undefined) {
      throw new TerminalError(
        "azureDNS: managedIdentity cannot be used together with a service principal (clientID)",
        "InvalidConfiguration",
      );
    }
    return {
      kind: "clientSecret",
      tenantID,
      clientID,
      // A trailing newline from `--from-file` is never part of a client secret.
      clientSecret: await readSecretRef("azureDNS", "clientSecretSecretRef", clientSecretSecretRef, ctx, {
        trim: true,
        nonEmpty: true,
        prefixTemporary: false,
      }),
    };
  }
  if (!ctx.clusterScoped) {
    throw new TerminalError(
      "azureDNS: a service principal (clientID, clientSecretSecretRef, tenantID) is required: managed " +
        "identities are ambient credentials, only used by ClusterIssuers",
      "InvalidConfiguration",
    );
  }
  if (managedIdentity?.clientID !== undefined && managedIdentity.resourceID !== undefined) {
    throw new TerminalError(
      "azureDNS: managedIdentity.clientID and managedIdentity.resourceID are mutually exclusive",
      "InvalidConfiguration",
    );
  }
  return {
    kind: "managedIdentity",
    clientID: managedIdentity?.clientID,
    resourceID: managedIdentity?.resourceID,
    tenantID: managedIdentity?.tenantID,
  };
}

const env = (name: string): string | undefined => {
  const v = process.env[name];
  return v === undefined || v === "" ? undefined : v;
};

/** The `azureDNS` provider: Azure DNS through the official SDKs. */
export const descriptor: ProviderDescriptor<"azureDNS"> = {
  code: "azureDNS",
  displayName: "Azure DNS",
  summary:
    "Adds and removes the challenge TXT values in an Azure DNS zone through Azure Resource Manager " +
    "(`@azure/arm-dns`, `@azure/identity`), with a service principal's client secret or, for ClusterIssuers, " +
    "a managed identity (AKS workload identity or the node's identity). Every change to the name's TXT record " +
    "set is guarded by its ETag, so apex and wildcard values never overwrite each other.",
  credentials: [
    {
      field: "clientSecretSecretRef",
      description:
        "A client secret of the service principal named by `clientID` in `tenantID` (all three set together).",
    },
    {
      field: "managedIdentity",
      description:
        "ClusterIssuers only: with no service principal, the pod's workload identity (AZURE_FEDERATED_TOKEN_FILE " +
        "set by the AKS webhook) or the node's managed identity; `clientID` or `resourceID` picks a " +
        "user-assigned identity.",
    },
  ],
  options: [
    { field: "subscriptionID", description: "The subscription that holds the zone.", required: true },
    { field: "resourceGroupName", description: "The resource group that holds the zone.", required: true },
    {
      field: "hostedZoneName",
      description:
        "The DNS zone's name. When unset, the zone the challenge's name is found in (through DNS).",
    },
    {
      field: "environment",
      description:
        "The Azure cloud: AzurePublicCloud, AzureChinaCloud or AzureUSGovernmentCloud (AzureGermanCloud was " +
        "closed in 2021 and is refused).",
      default: "AzurePublicCloud",
    },
    { field: "clientID", description: "The service principal's application (client) ID." },
    { field: "tenantID", description: "The service principal's directory (tenant) ID." },
    {
      field: `${AZURE_DNS_API_URL_ENV}, ${AZURE_DNS_AUTHORITY_HOST_ENV} (operator environment)`,
      description:
        "Another ARM endpoint and Entra ID authority host, for tests or an egress proxy. Not Issuer fields: " +
        "they apply to every azureDNS solver of the operator.",
      default: `${AZURE_ENVIRONMENTS.AzurePublicCloud.arm}, ${AZURE_ENVIRONMENTS.AzurePublicCloud.authority}`,
    },
    {
      field: `${AZURE_DNS_CA_FILE_ENV} (operator environment)`,
      description:
        "A PEM file of CA certificates to trust for ARM and Entra ID instead of the default store.",
    },
  ],
  leastPrivilege: [
    "Give the identity the built-in role **DNS Zone Contributor** on **the zone** only (not the resource",
    "group or the subscription):",
    "",
    "```sh",
    "ZONE_ID=$(az network dns zone show -g <resource-group> -n example.com --query id -o tsv)",
    "az ad sp create-for-rbac --name dns01-operator --role 'DNS Zone Contributor' --scopes \"$ZONE_ID\"",
    "kubectl -n <issuer-namespace> create secret generic azuredns-dns01 --from-literal=client-secret=<password>",
    "```",
    "",
    "`create-for-rbac` prints `appId` (→ `clientID`), `tenant` (→ `tenantID`) and `password` (the Secret).",
    "The operator calls only `Microsoft.Network/dnszones/TXT/read`, `.../TXT/write` and `.../TXT/delete`: a",
    "custom role with these three actions, assigned on the zone, is narrower still. Client secrets expire:",
    "add the new one to the Secret before the old one lapses; the next challenge uses it without a restart.",
    "",
    "For a ClusterIssuer on AKS, prefer **workload identity**: a user-assigned managed identity with the same",
    "role on the zone, a federated credential for the operator's ServiceAccount, the label",
    '`azure.workload.identity/use: "true"` on the operator\'s pods, and `managedIdentity: {clientID: <id>}` in',
    "the block. No secret to leak or rotate. Issuers cannot use managed identities (ambient credentials).",
    "",
    `Azure Resource Manager throttles writes at a bucket of ${String(AZURE_DNS_RATE_LIMIT.requests)} refilled at`,
    "10 per second, per subscription and principal; the operator keeps its own bucket of that size, and waits",
    "as long as a 429's Retry-After says. One certificate for a name and its wildcard costs one token request",
    "(plus Entra's metadata document once per credential), two reads and two writes to present, and two",
    "reads plus a write and a delete to clean up.",
  ].join("\n"),
  rateLimit: AZURE_DNS_RATE_LIMIT,
  links: [
    { title: "Record Sets REST API", url: "https://learn.microsoft.com/en-us/rest/api/dns/record-sets" },
    {
      title: "DNS Zone Contributor role",
      url: "https://learn.microsoft.com/en-us/azure/role-based-access-control/built-in-roles/networking#dns-zone-contributor",
    },
    {
      title: "Etags and concurrent changes in Azure DNS",
      url: "https://learn.microsoft.com/en-us/azure/dns/dns-zones-records#etags",
    },
    { title: "ARM throttling", url: AZURE_DNS_RATE_LIMIT.source },
  ],
  issuerExample: `apiVersion: dns01.io/v1alpha1
kind: Issuer
metadata:
  name: letsencrypt-azuredns
  namespace: default
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    email: admin@example.com
    privateKeySecretRef:
      name: letsencrypt-azuredns-account
    solvers:
      - dns01:
          azureDNS:
            subscriptionID: 00000000-0000-0000-0000-000000000000
            resourceGroupName: dns
            hostedZoneName: example.com
            environment: AzurePublicCloud
            tenantID: 11111111-1111-1111-1111-111111111111
            clientID: 22222222-2222-2222-2222-222222222222
            clientSecretSecretRef:
              name: azuredns-dns01
              key: client-secret
`,
  async create(block: AzureDnsProvider, ctx) {
    const credential = await resolveCredential(block, ctx);
    const caFile = env(AZURE_DNS_CA_FILE_ENV);
    let caPem: string | undefined;
    if (caFile !== undefined) {
      try {
        caPem = await readFile(caFile, "utf8");
      } catch (err) {
        throw new TerminalError(
          `azureDNS: cannot read ${AZURE_DNS_CA_FILE_ENV} ${caFile}: ${(err as Error).message}`,
          "InvalidConfiguration",
          { cause: err },
        );
      }
    }
    const zone = block.hostedZoneName?.trim();
    return createAzureDnsSolver(
      {
        subscriptionID: block.subscriptionID,
        resourceGroupName: block.resourceGroupName,
        hostedZoneName: zone === undefined || zone === "" ? undefined : zone,
        environment: block.environment,
        credential,
        endpoint: env(AZURE_DNS_API_URL_ENV),
        authorityHost: env(AZURE_DNS_AUTHORITY_HOST_ENV),
        ttl: DEFAULT_TTL,
      },
      caPem === undefined ? {} : { caPem },
    );
  },
};
