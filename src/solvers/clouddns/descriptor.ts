import type { CloudDnsProvider } from "../../crds/index.js";
import { TerminalError } from "../../errors.js";
import { readSecretRef } from "../credentials.js";
import type { ProviderDescriptor } from "../provider.js";
import { CLOUD_DNS_API_URL, CLOUD_DNS_RATE_LIMIT, createCloudDnsSolver, DEFAULT_TTL } from "./clouddns.js";

/** The environment variable that points the provider at another API root (tests, a proxy). */
export const CLOUD_DNS_API_URL_ENV = "DNS01_CLOUDDNS_API_URL";

/** The `cloudDNS` provider: Google Cloud DNS through the official SDK. */
export const descriptor: ProviderDescriptor<"cloudDNS"> = {
  code: "cloudDNS",
  displayName: "Google Cloud DNS",
  summary:
    "Adds and removes the challenge TXT values through the Cloud DNS API (`@google-cloud/dns`), with a " +
    "service account key or, for ClusterIssuers, the pod's ambient Google credentials (Workload Identity). " +
    "Both values of a name live in one record set, rewritten whole in one change, so apex and wildcard " +
    "never drop each other; concurrent changes to a zone go out as one change.",
  credentials: [
    {
      field: "serviceAccountSecretRef",
      description:
        "A service account JSON key (`gcloud iam service-accounts keys create`). Only keys of " +
        '`"type": "service_account"` are accepted. When unset, a ClusterIssuer uses Application Default ' +
        "Credentials (GKE Workload Identity, GOOGLE_APPLICATION_CREDENTIALS, the metadata server); an Issuer " +
        "must set it.",
    },
  ],
  options: [
    {
      field: "project",
      description: "The Google Cloud project that holds the managed zone.",
      required: true,
    },
    {
      field: "hostedZoneName",
      description:
        "The managed zone's name (not its DNS name). When unset, the public zone whose DNS name holds the " +
        "record is found with managedZones.list (private zones of the same name are skipped).",
    },
    {
      field: `${CLOUD_DNS_API_URL_ENV} (operator environment)`,
      description:
        "Another API root for tests or an egress proxy (the SDK appends /dns/v1). Not an Issuer field: it " +
        "applies to every cloudDNS solver of the operator.",
      default: CLOUD_DNS_API_URL,
    },
  ],
  leastPrivilege: [
    "Create a service account in the zone's project and give it, **on that project**, either the predefined",
    "role **DNS Administrator** (`roles/dns.admin`), or a custom role with just what the operator calls:",
    "",
    "```sh",
    "gcloud iam roles create dns01Solver --project=<project> \\",
    "  --title='DNS-01 solver' \\",
    "  --permissions=dns.managedZones.list,dns.resourceRecordSets.list,dns.changes.create,\\",
    "dns.resourceRecordSets.create,dns.resourceRecordSets.update,dns.resourceRecordSets.delete",
    "gcloud projects add-iam-policy-binding <project> \\",
    "  --member=serviceAccount:dns01@<project>.iam.gserviceaccount.com \\",
    "  --role=projects/<project>/roles/dns01Solver",
    "```",
    "",
    "changes.create checks `dns.resourceRecordSets.create`/`update`/`delete` for what a change adds,",
    "rewrites and removes. `dns.managedZones.list` is only needed when `hostedZoneName` is unset (it is",
    "checked on the project). Cloud DNS grants roles on",
    "a project or on one managed zone; binding the custom role on the zone alone",
    "(`gcloud dns managed-zones add-iam-policy-binding`) is enough when `hostedZoneName` is set.",
    "",
    "Then either store a key in a Secret (`gcloud iam service-accounts keys create key.json",
    "--iam-account=dns01@<project>.iam.gserviceaccount.com`, then `kubectl create secret generic",
    "clouddns-dns01 --from-file=key.json`), or, for a ClusterIssuer on GKE, leave",
    "`serviceAccountSecretRef` unset and bind the operator's Kubernetes ServiceAccount to the Google one",
    "with Workload Identity (`roles/iam.workloadIdentityUser`): no key to leak or rotate.",
    "",
    "A rotated key is used by the next challenge, without a restart. The key's `token_uri` is honoured",
    "(as Go's oauth2 package does) and must be https.",
    "",
    "Google shows the API's per-user request quota on the project's Quotas page; the operator keeps",
    `to ${String(CLOUD_DNS_RATE_LIMIT.requests)} requests per minute per service account and backs off on`,
    "a 429. One certificate for a name and its wildcard costs one token request, one zone lookup",
    "(cached for five minutes), and two reads and two changes when its two challenges run together.",
  ].join("\n"),
  rateLimit: CLOUD_DNS_RATE_LIMIT,
  links: [
    {
      title: "Cloud DNS API: changes.create",
      url: "https://cloud.google.com/dns/docs/reference/rest/v1/changes/create",
    },
    { title: "Cloud DNS IAM roles and permissions", url: "https://cloud.google.com/dns/docs/access-control" },
    { title: "Cloud DNS quotas", url: CLOUD_DNS_RATE_LIMIT.source },
    {
      title: "Service account keys",
      url: "https://cloud.google.com/iam/docs/keys-create-delete",
    },
  ],
  issuerExample: `apiVersion: dns01.io/v1alpha1
kind: Issuer
metadata:
  name: letsencrypt-clouddns
  namespace: default
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    email: admin@example.com
    privateKeySecretRef:
      name: letsencrypt-clouddns-account
    solvers:
      - dns01:
          cloudDNS:
            project: my-project
            hostedZoneName: example-com
            serviceAccountSecretRef:
              name: clouddns-dns01
              key: key.json
`,
  async create(block: CloudDnsProvider, ctx) {
    let serviceAccountKey: string | undefined;
    if (block.serviceAccountSecretRef !== undefined) {
      serviceAccountKey = await readSecretRef(
        "cloudDNS",
        "serviceAccountSecretRef",
        block.serviceAccountSecretRef,
        ctx,
        { prefixTemporary: false },
      );
    } else if (!ctx.clusterScoped) {
      throw new TerminalError(
        "cloudDNS: serviceAccountSecretRef is required: ambient credentials are only used by ClusterIssuers",
        "InvalidConfiguration",
      );
    }
    const endpoint = process.env[CLOUD_DNS_API_URL_ENV];
    const zone = block.hostedZoneName?.trim();
    return createCloudDnsSolver({
      project: block.project,
      serviceAccountKey,
      hostedZoneName: zone === undefined || zone === "" ? undefined : zone,
      endpoint: endpoint === undefined || endpoint === "" ? undefined : endpoint,
      ttl: DEFAULT_TTL,
    });
  },
};
