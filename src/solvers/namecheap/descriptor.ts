import { TerminalError } from "../../errors.js";
import { readSecretRef } from "../credentials.js";
import type { ProviderDescriptor } from "../provider.js";
import {
  NAMECHEAP_API_URL,
  NAMECHEAP_RATE_LIMIT,
  NAMECHEAP_SANDBOX_API_URL,
  createNamecheapSolver,
} from "./namecheap.js";

/** The environment variable that points the provider at another API URL (tests, a proxy). */
export const NAMECHEAP_API_URL_ENV = "DNS01_NAMECHEAP_API_URL";

/** The `namecheap` provider: Namecheap BasicDNS through the XML API. */
export const descriptor: ProviderDescriptor<"namecheap"> = {
  code: "namecheap",
  displayName: "Namecheap",
  summary:
    "Adds and removes the challenge TXT values through Namecheap's XML API (`domains.dns.getHosts` and " +
    "`setHosts`). `setHosts` replaces the whole host list, so the operator reads it, changes only its one " +
    "TXT value and writes every other host back with all its attributes, one change at a time per domain.",
  credentials: [{ field: "apiKeySecretRef", description: "The ApiKey: a Secret key holding it." }],
  options: [
    {
      field: "apiUser",
      description: "The ApiUser: the Namecheap username that enabled API access.",
      required: true,
    },
    { field: "userName", description: "The UserName the commands run as.", default: "apiUser" },
    {
      field: "clientIP",
      description:
        "The public IPv4 address the operator's requests leave from, whitelisted at Namecheap (sent as ClientIp).",
      required: true,
    },
    {
      field: "sandbox",
      description: `Use the sandbox API (${NAMECHEAP_SANDBOX_API_URL}).`,
      default: "false",
    },
    {
      field: `${NAMECHEAP_API_URL_ENV} (operator environment)`,
      description:
        "Another API URL, for tests or an egress proxy. Not an Issuer field: it applies to every Namecheap " +
        "solver of the operator.",
      default: NAMECHEAP_API_URL,
    },
  ],
  leastPrivilege: [
    "Enable API access (Profile → Tools → Business & Dev Tools → **Namecheap API Access**; Namecheap grants it",
    "to accounts that meet its conditions) and **whitelist the egress IP** of the cluster: every call carries",
    "`ClientIp`, and Namecheap refuses calls from other addresses (error 1011150, which the operator's",
    "condition names). The key cannot be scoped: it can change every domain of the account, so keep it in a",
    "Secret only the operator reads. The domains must use Namecheap's BasicDNS (or PremiumDNS) servers.",
    "",
    "```sh",
    "kubectl -n <issuer-namespace> create secret generic namecheap-api --from-literal=api-key=<key>",
    "```",
    "",
    "**Why the whole host list.** `setHosts` replaces every host record of the domain. The operator reads",
    "the list, adds or removes only its TXT value and writes back every other host with its name, type,",
    "address, MX preference and TTL, and the domain's EmailType; changes to one domain are serialized. Edits",
    "made in Namecheap's dashboard in the second between a read and a write can still be overwritten: avoid",
    "editing the zone while a certificate is being issued.",
    "",
    "Namecheap allows 20 calls per minute, 700 per hour and 8,000 per day; the operator keeps its own count",
    "below the first. One certificate for a name and its wildcard costs 8 calls.",
  ].join("\n"),
  rateLimit: NAMECHEAP_RATE_LIMIT,
  links: [
    { title: "API introduction (access, whitelisting, limits)", url: NAMECHEAP_RATE_LIMIT.source },
    {
      title: "domains.dns.getHosts",
      url: "https://www.namecheap.com/support/api/methods/domains-dns/get-hosts/",
    },
    {
      title: "domains.dns.setHosts",
      url: "https://www.namecheap.com/support/api/methods/domains-dns/set-hosts/",
    },
  ],
  issuerExample: `apiVersion: dns01.io/v1alpha1
kind: Issuer
metadata:
  name: letsencrypt-namecheap
  namespace: default
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    email: admin@example.com
    privateKeySecretRef:
      name: letsencrypt-namecheap-account
    solvers:
      - dns01:
          namecheap:
            apiUser: example
            clientIP: 203.0.113.10
            apiKeySecretRef:
              name: namecheap-api
              key: api-key
`,
  async create(block, ctx) {
    const apiKey = await readSecretRef("namecheap", "apiKeySecretRef", block.apiKeySecretRef, ctx, {
      trim: true,
      nonEmpty: true,
      prefixTemporary: false,
    });
    const apiUser = block.apiUser.trim();
    if (apiUser === "") throw new TerminalError("namecheap: apiUser is required", "InvalidConfiguration");
    const override = process.env[NAMECHEAP_API_URL_ENV];
    return createNamecheapSolver({
      apiUser,
      apiKey,
      userName:
        block.userName === undefined || block.userName.trim() === "" ? undefined : block.userName.trim(),
      clientIP: block.clientIP,
      endpoint:
        override !== undefined && override !== ""
          ? override
          : block.sandbox === true
            ? NAMECHEAP_SANDBOX_API_URL
            : NAMECHEAP_API_URL,
    });
  },
};
