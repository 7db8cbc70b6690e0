import { readSecretRef } from "../credentials.js";
import type { ProviderDescriptor } from "../provider.js";
import { createRfc2136Solver, DEFAULT_TXT_TTL } from "./rfc2136.js";

/** The `rfc2136` provider: TSIG-signed dynamic updates to an authoritative server you run. */
export const descriptor: ProviderDescriptor<"rfc2136"> = {
  code: "rfc2136",
  displayName: "RFC 2136 (BIND, Knot, PowerDNS, Windows DNS)",
  summary:
    "Adds and removes one TXT value with DNS UPDATE messages (RFC 2136) signed with a TSIG key " +
    "(RFC 8945), sent straight to the zone's primary server. Each update adds or deletes exactly one " +
    "value (class NONE), never the whole record set, so apex and wildcard never remove each other's " +
    "value. Answers are verified with the same key.",
  credentials: [
    {
      field: "tsigSecretSecretRef",
      description:
        "The TSIG secret, base64 as `tsig-keygen` prints it (the `secret` of the key block). The key is " +
        "required. Optional as a whole: without `tsigKeyName` and this, updates go unsigned, which only " +
        "a server that allows updates by address accepts. Read on every call, so a rotated key is used " +
        "at once.",
    },
  ],
  options: [
    {
      field: "nameserver",
      description:
        "The primary server that takes the updates: `host`, `host:port` or `[IPv6]:port`. Updates go " +
        "to this server only, whatever the zone's NS records say.",
      required: true,
    },
    {
      field: "tsigKeyName",
      description:
        "Name of the TSIG key as the server knows it (e.g. `acme-key.`). Set together with `tsigSecretSecretRef`.",
    },
    {
      field: "tsigAlgorithm",
      description: "HMACMD5, HMACSHA1, HMACSHA256 or HMACSHA512, case-insensitive (cert-manager's default).",
      default: "HMACMD5",
    },
    {
      field: "protocol",
      description: "UDP (retried over TCP when an answer is truncated) or TCP.",
      default: "UDP",
    },
    {
      field: "(record TTL)",
      description: "Not configurable: the TXT records live for minutes only.",
      default: `${String(DEFAULT_TXT_TTL)} s`,
    },
  ],
  leastPrivilege: [
    "Create a key used only by the operator, and let it change TXT records only, and only at the",
    "challenge names, with BIND's `update-policy` (prefer HMAC-SHA256 or stronger to the MD5 default):",
    "",
    "```sh",
    "tsig-keygen -a hmac-sha256 acme-key. > /etc/bind/acme-key.conf   # include it in named.conf",
    "```",
    "",
    "```",
    'zone "example.com" {',
    "  type primary;",
    '  file "example.com.db";',
    "  update-policy {",
    "    grant acme-key. name _acme-challenge.example.com. TXT;",
    "    grant acme-key. name _acme-challenge.www.example.com. TXT;",
    "  };",
    "};",
    "```",
    "",
    "One `name` rule per certificate name (apex and wildcard share `_acme-challenge.<name>`); when",
    "there are too many, `grant acme-key. zonesub TXT;` allows TXT records anywhere in the zone and",
    "nothing else. Then store the secret in a Secret in the Issuer's namespace (the cluster resource",
    "namespace for a ClusterIssuer):",
    "",
    "```sh",
    "kubectl create secret generic tsig-acme-key --from-literal=tsig-secret=<secret from the key block>",
    "```",
    "",
    "A wrong secret is answered NOTAUTH/BADSIG and a name outside the policy REFUSED; the Challenge then",
    "shows `InvalidCredentials` or `UpdateRefused` with the server's answer. Knot (`acl` with",
    "`update-type: TXT`) and PowerDNS (`TSIG-ALLOW-DNSUPDATE`) have equivalents.",
  ].join("\n"),
  links: [
    { title: "RFC 2136: Dynamic Updates in the DNS", url: "https://www.rfc-editor.org/rfc/rfc2136" },
    {
      title: "RFC 8945: Secret Key Transaction Authentication (TSIG)",
      url: "https://www.rfc-editor.org/rfc/rfc8945",
    },
    {
      title: "BIND 9: update-policy",
      url: "https://bind9.readthedocs.io/en/v9.18.28/reference.html#namedconf-statement-update-policy",
    },
    { title: "cert-manager: RFC2136", url: "https://cert-manager.io/docs/configuration/acme/dns01/rfc2136/" },
  ],
  issuerExample: `apiVersion: dns01.io/v1alpha1
kind: Issuer
metadata:
  name: letsencrypt-rfc2136
  namespace: default
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    email: admin@example.com
    privateKeySecretRef:
      name: letsencrypt-rfc2136-account-key
    solvers:
      - dns01:
          rfc2136:
            nameserver: ns1.example.com:53
            tsigKeyName: acme-key.
            tsigAlgorithm: HMACSHA256
            tsigSecretSecretRef:
              name: tsig-acme-key
              key: tsig-secret
`,
  async create(block, ctx) {
    const tsigSecret =
      block.tsigSecretSecretRef === undefined
        ? undefined
        : await readSecretRef("rfc2136", "tsigSecretSecretRef", block.tsigSecretSecretRef, ctx);
    return createRfc2136Solver({
      nameserver: block.nameserver,
      tsigKeyName: block.tsigKeyName,
      tsigAlgorithm: block.tsigAlgorithm,
      tsigSecret,
      protocol: block.protocol,
    });
  },
};
