import type { WebhookProvider } from "../../crds/index.js";
import { TerminalError } from "../../errors.js";
import { readSecretRef } from "../credentials.js";
import type { ProviderDescriptor } from "../provider.js";
import { createAggregatedWebhookSolver } from "./aggregated.js";
import { createWebhookSolver, DEFAULT_WEBHOOK_TIMEOUT_MS } from "./webhook.js";

/**
 * The fields this provider reads besides cert-manager's `groupName`, `solverName` and `config`.
 * They are proposed for the CRD's webhook block; until it has them the apiserver prunes them, and
 * the URL comes from the operator's {@link WEBHOOK_URL_ENV} template.
 */
export interface WebhookBlockExtensions {
  /** Base URL of the webhook: requests go to `{url}/present` and `{url}/cleanup`. */
  readonly url?: string;
  /** Base64 of the PEM CA bundle that verifies the webhook's https certificate. */
  readonly caBundle?: string;
  /** A Secret key whose value is sent as `Authorization: Bearer <value>`. */
  readonly tokenSecretRef?: { readonly name: string; readonly key?: string };
  /** Timeout of one call, in seconds (default 30). */
  readonly timeoutSeconds?: number;
}

/**
 * The operator's environment variable with the URL of webhooks whose Issuer block has no `url`: a
 * template in which `{groupName}` and `{solverName}` are replaced, e.g.
 * `http://{solverName}.dns01-webhooks.svc:8080`. Also the knob tests and e2e use.
 */
export const WEBHOOK_URL_ENV = "DNS01_WEBHOOK_API_URL";

function invalid(message: string): TerminalError {
  return new TerminalError(`webhook: ${message}`, "InvalidConfiguration");
}

/** The block's `url`, else the operator's template filled in; TerminalError when neither is set. */
export function resolveWebhookUrl(
  block: WebhookProvider & WebhookBlockExtensions,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (block.url !== undefined && block.url.trim() !== "") return block.url;
  const template = env[WEBHOOK_URL_ENV]?.trim();
  if (template === undefined || template === "") {
    throw invalid(
      `no URL for the webhook ${block.solverName}.${block.groupName}: set the operator's ${WEBHOOK_URL_ENV} ` +
        "(a template such as https://{solverName}.dns01-webhooks.svc) or the Issuer's webhook.url",
    );
  }
  return template
    .replaceAll("{groupName}", encodeURIComponent(block.groupName))
    .replaceAll("{solverName}", encodeURIComponent(block.solverName));
}

/**
 * Which contract a block speaks: `http` (ours, docs/webhook.md) when it has a `url` or the operator
 * has a {@link WEBHOOK_URL_ENV} template; else `aggregated`, cert-manager's: the solver is an
 * APIService called through the Kubernetes API as `POST /apis/<groupName>/v1alpha1/<solverName>`.
 */
export function webhookMode(
  block: WebhookProvider & WebhookBlockExtensions,
  env: NodeJS.ProcessEnv = process.env,
): "http" | "aggregated" {
  if (block.url !== undefined && block.url.trim() !== "") return "http";
  const template = env[WEBHOOK_URL_ENV]?.trim();
  return template === undefined || template === "" ? "aggregated" : "http";
}

function decodeCaBundle(b64: string): string {
  const pem = Buffer.from(b64, "base64").toString("utf8");
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw invalid("caBundle must be the base64 of PEM certificates");
  }
  return pem;
}

/** The `webhook` provider: an out-of-process solver over HTTP (docs/webhook.md). */
export const descriptor: ProviderDescriptor<"webhook"> = {
  code: "webhook",
  displayName: "Webhook (cert-manager webhook solvers, or our HTTP contract)",
  summary:
    "Two modes, picked by the block (docs/webhook.md). Without `url` (and without the operator's " +
    "`DNS01_WEBHOOK_API_URL`), cert-manager's webhook solvers run unchanged: the operator calls the " +
    "solver's APIService through the Kubernetes aggregation layer, `POST /apis/<groupName>/v1alpha1/<solverName>` " +
    "with a `ChallengePayload`. With `url`, it calls an HTTP service you run with `POST {url}/present` and " +
    "`POST {url}/cleanup` (our own JSON contract; examples/webhook/ has a reference server).",
  credentials: [
    {
      field: "tokenSecretRef",
      description:
        "Optional. A Secret key whose value is sent as `Authorization: Bearer <value>`. Sent only over " +
        "https or to a loopback address. The webhook's own DNS credentials stay with the webhook: " +
        "`config` may name Secrets for it to read from `resourceNamespace`, never hold values.",
    },
  ],
  options: [
    {
      field: "groupName",
      description: "As in cert-manager: the webhook's API group. Sent in every request.",
      required: true,
    },
    {
      field: "solverName",
      description: "As in cert-manager: the solver's name within the webhook. Sent in every request.",
      required: true,
    },
    {
      field: "config",
      description: "Any JSON, passed to the webhook as it is. No secret values here.",
    },
    {
      field: "url",
      description:
        "Base URL of a webhook speaking our HTTP contract. Without it, the operator's " +
        `\`${WEBHOOK_URL_ENV}\` is used as a template in which \`{groupName}\` and \`{solverName}\` are ` +
        "replaced, e.g. `http://{solverName}.dns01-webhooks.svc:8080`; with neither, the block is a " +
        "cert-manager webhook solver, called through the aggregation layer. Redirects are not followed.",
    },
    {
      field: "caBundle",
      description: "Base64 PEM CA bundle that verifies the webhook's https certificate.",
      default: "the system's roots (plus NODE_EXTRA_CA_CERTS)",
    },
    {
      field: "timeoutSeconds",
      description: "How long one call may take; a timeout is retried with backoff.",
      default: String(DEFAULT_WEBHOOK_TIMEOUT_MS / 1000),
    },
  ],
  leastPrivilege: [
    "The operator holds no DNS credentials for a webhook: the webhook does, and it should hold the",
    "narrowest its provider offers (a token limited to TXT records of the zones it serves, as the",
    "provider pages of lego describe). On the operator's side:",
    "",
    "- Give the webhook a bearer token (`tokenSecretRef`) and check it there; serve https, or run the",
    "  webhook as a sidecar on loopback.",
    "- Restrict who may reach the webhook (a NetworkPolicy allowing only the operator's pods).",
    "- If the webhook reads Secrets named in `config`, grant it `get` on those Secrets only, in",
    "  `resourceNamespace`; the operator forwards names, never values.",
    "- The webhook must answer without waiting for DNS propagation (the operator checks it) and be",
    "  idempotent: present of a value already there and cleanup of a value already gone are 2xx.",
  ].join("\n"),
  links: [
    { title: "The webhook contract (docs/webhook.md)", url: "docs/webhook.md" },
    { title: "Reference webhook server (examples/webhook/)", url: "examples/webhook/README.md" },
    {
      title: "lego's exec provider (a command per present/cleanup)",
      url: "https://go-acme.github.io/lego/dns/exec/",
    },
    {
      title: "cert-manager: webhook solvers",
      url: "https://cert-manager.io/docs/configuration/acme/dns01/webhook/",
    },
  ],
  issuerExample: `apiVersion: dns01.io/v1alpha1
kind: Issuer
metadata:
  name: letsencrypt-webhook
  namespace: default
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    email: admin@example.com
    privateKeySecretRef:
      name: letsencrypt-webhook-account-key
    solvers:
      - dns01:
          webhook:
            # The URL is the operator's DNS01_WEBHOOK_API_URL template with these two filled in,
            # e.g. http://{solverName}.dns01-webhooks.svc:8080 -> http://my-dns.dns01-webhooks.svc:8080
            groupName: acme.example.com
            solverName: my-dns
            config:
              apiKeySecretRef:
                name: my-dns-credentials
                key: api-key
              ttl: 60
`,
  async create(block, ctx) {
    const ext: WebhookProvider & WebhookBlockExtensions = block;
    const timeoutSeconds = ext.timeoutSeconds;
    if (webhookMode(ext) === "aggregated") {
      if (ctx.kube === undefined) {
        throw invalid(
          `${block.solverName}.${block.groupName} has no url, so it is called through the Kubernetes aggregation ` +
            `layer, but this operator process has no Kubernetes API client; set webhook.url or ${WEBHOOK_URL_ENV}`,
        );
      }
      return createAggregatedWebhookSolver({
        kube: ctx.kube,
        groupName: block.groupName,
        solverName: block.solverName,
        config: block.config,
        resourceNamespace: ctx.secretNamespace,
        allowAmbientCredentials: ctx.clusterScoped,
        timeoutMs: timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000,
      });
    }
    const url = resolveWebhookUrl(ext);
    const token =
      ext.tokenSecretRef === undefined
        ? undefined
        : await readSecretRef("webhook", "tokenSecretRef", ext.tokenSecretRef, ctx, {
            prefixTemporary: false,
          });
    const timeout = ext.timeoutSeconds;
    if (timeout !== undefined && !(Number.isInteger(timeout) && timeout >= 1 && timeout <= 300)) {
      throw invalid("timeoutSeconds must be a whole number of seconds from 1 to 300");
    }
    return createWebhookSolver({
      url,
      groupName: block.groupName,
      solverName: block.solverName,
      config: block.config,
      resourceNamespace: ctx.secretNamespace,
      token,
      caBundle: ext.caBundle === undefined || ext.caBundle === "" ? undefined : decodeCaBundle(ext.caBundle),
      timeoutMs: timeout === undefined ? undefined : timeout * 1000,
    });
  },
};
