import type { Route53Provider } from "../../crds/index.js";
import { TerminalError } from "../../errors.js";
import { readSecretRef, type ReadSecretRefOptions } from "../credentials.js";
import type { ProviderContext, ProviderDescriptor } from "../provider.js";
import type { CredentialSource } from "./credentials.js";
import { createRoute53Solver, ROUTE53_RATE_LIMIT } from "./route53.js";
import { requestServiceAccountToken } from "./service-account.js";

/** Process-wide override of the Route 53 API endpoint: a testing and proxy knob, never needed on AWS. */
export const ROUTE53_API_URL_ENV = "DNS01_ROUTE53_API_URL";
/** Process-wide override of the STS endpoint used for `role`: a testing and proxy knob. */
export const ROUTE53_STS_API_URL_ENV = "DNS01_ROUTE53_STS_API_URL";

/**
 * How a key is read. Secrets made with `echo` end with a newline, which AWS would take as part of
 * the key. An empty value is not refused here: credentialSource judges the pair as a whole.
 */
const KEY: ReadSecretRefOptions = { trim: true, prefixTemporary: false };

/**
 * The credentials of a block, as cert-manager takes them: an access key pair when one is given
 * (both halves, or an error), else the ambient chain, which only a ClusterIssuer may use.
 */
async function credentialSource(block: Route53Provider, ctx: ProviderContext): Promise<CredentialSource> {
  const k8s = block.auth?.kubernetes;
  if (k8s !== undefined) return webIdentitySource(block, k8s.serviceAccountRef, ctx);
  const accessKeyId =
    block.accessKeyID !== undefined && block.accessKeyID !== ""
      ? block.accessKeyID.trim()
      : block.accessKeyIDSecretRef !== undefined
        ? await readSecretRef("route53", "accessKeyIDSecretRef", block.accessKeyIDSecretRef, ctx, KEY)
        : undefined;
  const secretAccessKey =
    block.secretAccessKeySecretRef !== undefined
      ? await readSecretRef("route53", "secretAccessKeySecretRef", block.secretAccessKeySecretRef, ctx, KEY)
      : undefined;
  if (
    accessKeyId !== undefined &&
    accessKeyId !== "" &&
    secretAccessKey !== undefined &&
    secretAccessKey !== ""
  ) {
    return { kind: "static", accessKeyId, secretAccessKey };
  }
  if ((accessKeyId ?? "") !== "" || (secretAccessKey ?? "") !== "") {
    throw new TerminalError(
      "route53: only one of the access key ID (accessKeyID or accessKeyIDSecretRef) and the secret access " +
        "key (secretAccessKeySecretRef) was provided, or one is empty: set both, or neither for ambient credentials",
      "InvalidConfiguration",
    );
  }
  if (!ctx.clusterScoped) {
    throw new TerminalError(
      "route53: no access key given, and an Issuer may not use the operator's ambient AWS credentials " +
        "(environment, IRSA web identity, instance profile): set accessKeyID or accessKeyIDSecretRef with " +
        "secretAccessKeySecretRef, or use a ClusterIssuer (as in cert-manager, ambient credentials are for " +
        "ClusterIssuers only, so that a namespace cannot borrow the operator's identity)",
      "InvalidConfiguration",
    );
  }
  return { kind: "ambient" };
}

/**
 * cert-manager's `auth.kubernetes`: a token of the ServiceAccount (in the issuer's namespace, the
 * cluster resource namespace for a ClusterIssuer) from the TokenRequest API, exchanged for `role`
 * by AssumeRoleWithWebIdentity. A token is requested only when STS is called (credentials are
 * cached until shortly before they expire).
 */
function webIdentitySource(
  block: Route53Provider,
  sa: { readonly name: string; readonly audiences?: readonly string[] | undefined },
  ctx: ProviderContext,
): CredentialSource {
  if (block.role === undefined || block.role === "") {
    throw new TerminalError(
      "route53: auth.kubernetes needs role: the ARN of the IAM role the ServiceAccount's token is exchanged for",
      "InvalidConfiguration",
    );
  }
  if (
    block.accessKeyID !== undefined ||
    block.accessKeyIDSecretRef !== undefined ||
    block.secretAccessKeySecretRef !== undefined
  ) {
    throw new TerminalError(
      "route53: auth.kubernetes and access keys (accessKeyID, accessKeyIDSecretRef, secretAccessKeySecretRef) are exclusive",
      "InvalidConfiguration",
    );
  }
  const kube = ctx.kube;
  if (kube === undefined) {
    throw new TerminalError(
      "route53: auth.kubernetes needs the Kubernetes API, which this operator process was not given",
      "InvalidConfiguration",
    );
  }
  const namespace = ctx.secretNamespace;
  const audiences = sa.audiences === undefined ? undefined : [...sa.audiences];
  return {
    kind: "webIdentity",
    // The audiences are part of what is exchanged: a change must not reuse cached credentials.
    subject: `${namespace}/${sa.name}${audiences === undefined ? "" : `|${audiences.join(",")}`}`,
    token: () => requestServiceAccountToken(kube, namespace, sa.name, audiences, ctx.signal),
  };
}

function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === "" ? undefined : v;
}

/** The `route53` provider: AWS Route 53, through the AWS SDK. */
export const descriptor: ProviderDescriptor<"route53"> = {
  code: "route53",
  displayName: "AWS Route 53",
  summary:
    "Writes the TXT value into the Route 53 hosted zone that holds the name (found with " +
    "ListHostedZonesByName, public zones only, or named by `hostedZoneID`). Both values of a name " +
    "(apex and wildcard) share one record set: each change reads the set, adds or removes one value, and " +
    "UPSERTs the rest or DELETEs the set, and concurrent changes to a zone go in one ChangeBatch. present " +
    "waits for INSYNC through GetChange, by requeueing, never sleeping.",
  credentials: [
    {
      field: "accessKeyIDSecretRef",
      description:
        "The access key ID, from a Secret (or `accessKeyID` in clear: it is not a secret). The key is required.",
    },
    {
      field: "secretAccessKeySecretRef",
      description:
        "The secret access key, from a Secret. The key is required. Read on every call, so a rotated key is used at once.",
    },
  ],
  options: [
    {
      field: "region",
      description:
        "Region of the credential scope and of STS for `role`. Route 53 itself is global. Default: " +
        "`AWS_REGION` of the operator's pod for ambient credentials, else `us-east-1`.",
      default: "us-east-1",
    },
    {
      field: "hostedZoneID",
      description:
        "The hosted zone to write to. When unset, the zone is found with ListHostedZonesByName from the zone " +
        "that DNS says holds the name: the public zone with the longest name that is a suffix of the record's " +
        "name. Private zones are skipped (the CA resolves public DNS), as in cert-manager.",
    },
    {
      field: "accessKeyID",
      description: "The access key ID in clear; exclusive with `accessKeyIDSecretRef`.",
    },
    {
      field: "role",
      description:
        "ARN of a role to assume (STS AssumeRole, session name `dns01-operator`) with the access key or the " +
        "ambient credentials; its temporary credentials are cached until five minutes before they expire.",
    },
    {
      field: "(no access key)",
      description:
        "Ambient credentials: the AWS SDK's default chain in the operator's pod (environment variables, IRSA " +
        "web identity token file, EKS Pod Identity and ECS container credentials, EC2 instance profile). " +
        "Allowed for ClusterIssuers only; an Issuer without an access key fails with `InvalidConfiguration`.",
    },
    {
      field: "auth.kubernetes",
      description:
        "`auth.kubernetes.serviceAccountRef: {name, audiences}` with `role`, as in cert-manager 1.15+: the " +
        "operator requests a 10-minute token of that ServiceAccount (in the issuer's namespace; the cluster " +
        "resource namespace for a ClusterIssuer) through the TokenRequest API, with the audience " +
        "`sts.amazonaws.com` unless `audiences` says otherwise, and exchanges it for `role` with " +
        "AssumeRoleWithWebIdentity. The operator needs `create` on `serviceaccounts/token` for that " +
        "ServiceAccount: grant it with a Role in that namespace (`resourceNames: [<name>]`); the role's trust " +
        "policy names the cluster's OIDC issuer and `system:serviceaccount:<namespace>:<name>`.",
    },
    {
      field: `${ROUTE53_API_URL_ENV} (operator environment)`,
      description:
        "Replaces the Route 53 API endpoint for the whole process: for tests (moto) and proxies, not for AWS. " +
        `${ROUTE53_STS_API_URL_ENV} does the same for STS.`,
    },
  ],
  leastPrivilege: [
    "Create an IAM user (or, better, a role for IRSA / Pod Identity) whose policy allows only what the",
    "operator calls, on the one hosted zone it writes to, and only TXT records under `_acme-challenge`:",
    "",
    "```json",
    "{",
    '  "Version": "2012-10-17",',
    '  "Statement": [',
    "    {",
    '      "Effect": "Allow",',
    '      "Action": "route53:ChangeResourceRecordSets",',
    '      "Resource": "arn:aws:route53:::hostedzone/Z0123456789EXAMPLE",',
    '      "Condition": {',
    '        "ForAllValues:StringEquals": { "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"] },',
    '        "ForAllValues:StringLike": { "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"] }',
    "      }",
    "    },",
    "    {",
    '      "Effect": "Allow",',
    '      "Action": "route53:ListResourceRecordSets",',
    '      "Resource": "arn:aws:route53:::hostedzone/Z0123456789EXAMPLE"',
    "    },",
    '    { "Effect": "Allow", "Action": "route53:GetChange", "Resource": "arn:aws:route53:::change/*" },',
    '    { "Effect": "Allow", "Action": "route53:ListHostedZonesByName", "Resource": "*" }',
    "  ]",
    "}",
    "```",
    "",
    "With `hostedZoneID` set, `route53:ListHostedZonesByName` is not needed. Then either create an access",
    "key and put it in a Secret in the Issuer's namespace (the cluster resource namespace for a",
    "ClusterIssuer):",
    "",
    "```sh",
    "kubectl create secret generic route53-credentials \\",
    "  --from-literal=access-key-id=AKIA... --from-literal=secret-access-key=...",
    "```",
    "",
    "or attach the policy to a role: either the role the operator's pod runs as (IRSA, Pod Identity;",
    "ClusterIssuers only), or a role named by `role`, whose trust policy lets the access key's user",
    "(or the pod's role) call `sts:AssumeRole`. AWS returns `AccessDenied` with the action and resource",
    "it refused; the Challenge then shows `InvalidCredentials` with that message.",
  ].join("\n"),
  rateLimit: ROUTE53_RATE_LIMIT,
  links: [
    {
      title: "Route 53 API reference",
      url: "https://docs.aws.amazon.com/Route53/latest/APIReference/Welcome.html",
    },
    {
      title: "Route 53 API throttling",
      url: "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/throttling-api-requests.html",
    },
    {
      title: "Route 53 IAM condition keys for record changes",
      url: "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/specifying-rrset-conditions.html",
    },
    { title: "cert-manager: Route53", url: "https://cert-manager.io/docs/configuration/acme/dns01/route53/" },
  ],
  issuerExample: `apiVersion: dns01.io/v1alpha1
kind: Issuer
metadata:
  name: letsencrypt-route53
  namespace: default
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    email: admin@example.com
    privateKeySecretRef:
      name: letsencrypt-route53-account-key
    solvers:
      - dns01:
          route53:
            region: us-east-1
            hostedZoneID: Z0123456789EXAMPLE
            accessKeyIDSecretRef:
              name: route53-credentials
              key: access-key-id
            secretAccessKeySecretRef:
              name: route53-credentials
              key: secret-access-key
`,
  async create(block, ctx) {
    const credentials = await credentialSource(block, ctx);
    return createRoute53Solver({
      region: block.region,
      hostedZoneID: block.hostedZoneID,
      credentials,
      role: block.role,
      endpoint: env(ROUTE53_API_URL_ENV),
      stsEndpoint: env(ROUTE53_STS_API_URL_ENV),
    });
  },
};
