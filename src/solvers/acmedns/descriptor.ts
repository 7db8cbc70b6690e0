import { TerminalError } from "../../errors.js";
import type { ProviderDescriptor } from "../provider.js";
import { createAcmeDnsSolver } from "./acmedns.js";

/** The `acmeDNS` provider: an acme-dns server, reached through CNAME delegation. */
export const descriptor: ProviderDescriptor<"acmeDNS"> = {
  code: "acmeDNS",
  displayName: "acme-dns",
  summary:
    "Updates the TXT record of an acme-dns account (`POST {host}/update`) to which " +
    "`_acme-challenge.<domain>` is delegated by a CNAME, so the operator never holds credentials " +
    "for the real zone. acme-dns keeps the two newest values of each account, which is exactly " +
    "what an apex and its wildcard need; it has no delete, so cleanup leaves the stale values " +
    "in place until the next two updates replace them.",
  credentials: [
    {
      field: "accountSecretRef",
      description:
        "A Secret key holding the account JSON that cert-manager and lego use: an object mapping each " +
        'domain (without `*.`) to the answer of `POST /register`: `{"example.com": {"username": ' +
        '"…", "password": "…", "fulldomain": "<uuid>.auth.example.org", "subdomain": "<uuid>", ' +
        '"allowfrom": []}}`. `server_url` (lego) is accepted and ignored: `host` is used. The key is ' +
        "required. It is read on every present, so a rotated Secret is used at once; cleanup needs " +
        "no account, so a deleted Secret never blocks the deletion of a Challenge.",
    },
  ],
  options: [
    {
      field: "host",
      description:
        "Base URL of the acme-dns HTTP API, e.g. `https://auth.acme-dns.io`; a path prefix (behind " +
        "a reverse proxy) is kept. Redirects are not followed. Trusts the system's CAs (add one " +
        "with `NODE_EXTRA_CA_CERTS` on the operator).",
      required: true,
    },
    {
      field: "cnameStrategy (of the dns01 block)",
      description:
        "Set `Follow`: the operator then checks propagation at the acme-dns zone's servers, where the " +
        "value really is. The account is found either way: by the challenge's domain, or by the " +
        "account whose `fulldomain` the CNAME points to.",
      default: "None",
    },
  ],
  leastPrivilege: [
    "acme-dns is itself the least-privilege pattern: an account can change only the TXT values of",
    "its own subdomain in the acme-dns zone, and nothing in your real zone.",
    "",
    "1. Register one account per domain (apex and wildcard share it), restricted to the addresses",
    "   the operator's pods leave from:",
    "   ```sh",
    "   curl -s -X POST https://auth.example.org/register \\",
    "     -H 'Content-Type: application/json' --data '{\"allowfrom\": [\"10.244.0.0/16\"]}'",
    "   ```",
    "2. In the real zone, once: `_acme-challenge.example.com. CNAME <fulldomain>.`",
    "3. Put the answers, keyed by domain, in a Secret in the Issuer's namespace (the cluster",
    "   resource namespace for a ClusterIssuer):",
    "   ```sh",
    "   kubectl create secret generic acme-dns --from-file=acmedns.json=accounts.json",
    "   ```",
    "",
    "The operator needs `get` on that Secret only. Keep `allowfrom` narrow: a leaked account lets its",
    "holder pass DNS-01 for that one domain, so treat the JSON like any credential. acme-dns answers",
    "HTTP 401 `forbidden` for a wrong password, a subdomain that is not the account's, and an address",
    "outside `allowfrom` alike; the Challenge then shows `InvalidCredentials` with that hint.",
    "",
    "Limits worth knowing: acme-dns keeps only the two newest values per account, so more than two",
    "challenges for one domain at once (two Certificates both covering `example.com` and",
    "`*.example.com`, issued at the same moment) push each other out; the later ones fail and are",
    "retried by their Orders. Nothing is deleted on cleanup (acme-dns has no delete endpoint).",
  ].join("\n"),
  links: [
    { title: "acme-dns", url: "https://github.com/joohoi/acme-dns" },
    {
      title: "cert-manager: ACMEDNS",
      url: "https://cert-manager.io/docs/configuration/acme/dns01/acme-dns/",
    },
    { title: "lego: Joohoi's ACME-DNS", url: "https://go-acme.github.io/lego/dns/acme-dns/" },
  ],
  issuerExample: `apiVersion: dns01.io/v1alpha1
kind: Issuer
metadata:
  name: letsencrypt-acmedns
  namespace: default
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    email: admin@example.com
    privateKeySecretRef:
      name: letsencrypt-acmedns-account-key
    solvers:
      - dns01:
          cnameStrategy: Follow
          acmeDNS:
            host: https://auth.acme-dns.io
            accountSecretRef:
              name: acme-dns
              key: acmedns.json
`,
  create(block, ctx) {
    const ref = block.accountSecretRef;
    if (ref.key === undefined || ref.key === "") {
      return Promise.reject(
        new TerminalError(
          `acmeDNS: accountSecretRef.key is required (the key of Secret ${ctx.secretNamespace}/${ref.name} that holds the account JSON)`,
          "InvalidConfiguration",
        ),
      );
    }
    try {
      return Promise.resolve(
        createAcmeDnsSolver({
          host: block.host,
          accounts: { secrets: ctx.secrets, namespace: ctx.secretNamespace, name: ref.name, key: ref.key },
        }),
      );
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  },
};
