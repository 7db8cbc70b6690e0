/**
 * What each HTTP request to the CA was for, with the bounded label values cert-manager uses for
 * `certmanager_http_acme_client_request_*{action}` (v1.19+, `pkg/acme/client/middleware/logger.go`,
 * which replaced the unbounded `path` label). Dashboards and alerts written for cert-manager then
 * work unchanged.
 */

/**
 * cert-manager's action values, in its order. We send: `discover` (the directory),
 * `register_account`, `get_registration` (finding the account for a key), `update_registration`,
 * `authorize_order` (newOrder), `get_order`, `get_authorization`, `get_challenge`,
 * `accept_challenge`, `create_order_cert` (finalize), `fetch_cert` (the chain and its alternates)
 * and `get_renewal_info`. A newNonce request carries the action of the request it is for, as in
 * cert-manager. `list_cert_alternates`, `wait_order` and `wait_authorization` are cert-manager's
 * blocking helpers, which we never run; `unnamed_action` is its fallback for an unlabelled request.
 * All are listed so that a metric can be pre-declared for each.
 */
export const ACME_ACTIONS = [
  "authorize_order",
  "get_order",
  "fetch_cert",
  "list_cert_alternates",
  "wait_order",
  "create_order_cert",
  "accept_challenge",
  "get_challenge",
  "get_authorization",
  "wait_authorization",
  "register_account",
  "get_registration",
  "discover",
  "update_registration",
  "get_renewal_info",
  "unnamed_action",
] as const;

/** One of cert-manager's ACME action label values. */
export type AcmeAction = (typeof ACME_ACTIONS)[number];

/**
 * One HTTP request to the CA, as `AcmeClientOptions.onRequest` sees it. `status` is undefined
 * when no answer came (timeout, refused connection, TLS failure); cert-manager labels those
 * `status="999"`.
 */
export interface AcmeRequestRecord {
  readonly action: AcmeAction;
  readonly method: string;
  /** The full URL; the metric keeps only its scheme and host. */
  readonly url: string;
  readonly status: number | undefined;
  readonly durationSeconds: number;
}
