/**
 * The `webhook` DNS-01 provider: an out-of-process solver over HTTP, so that any DNS provider lego
 * or acme.sh can reach is usable without a change here. The contract (docs/webhook.md) is
 * `POST {url}/present` and `POST {url}/cleanup` with one JSON document; 2xx means done, 401/403
 * rejected credentials, other 4xx a terminal refusal, 408/425/429/5xx and network failures a
 * temporary one (Retry-After honoured). The webhook must be idempotent, as every provider is.
 */
import { TemporaryError, TerminalError } from "../../errors.js";
import { parseRetryAfter } from "../limits.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../types.js";
import {
  excerpt,
  header,
  HttpTimeoutError,
  isCertificateError,
  postJson,
  type HttpPost,
  type HttpResponse,
} from "./http.js";

/** The `apiVersion` of the requests this version of the operator sends. */
export const WEBHOOK_API_VERSION = "dns01.io/webhook/v1";

/** What the operator asks of the webhook. */
export type WebhookAction = "present" | "cleanup";

/** The JSON body of every request (docs/webhook.md). */
export interface WebhookRequest {
  readonly apiVersion: typeof WEBHOOK_API_VERSION;
  readonly action: WebhookAction;
  /** The TXT record name, with a trailing dot, after any CNAME the operator followed. */
  readonly fqdn: string;
  /** The zone apex that holds `fqdn`, with a trailing dot. */
  readonly zone: string;
  /** The TXT value to add or remove. */
  readonly value: string;
  /** The challenge's DNS name (without `*.`), when the operator knows it. */
  readonly domain?: string;
  readonly groupName: string;
  readonly solverName: string;
  /** Where the Secrets that `config` names live: the Issuer's namespace, or the cluster resource namespace. */
  readonly resourceNamespace: string;
  /** The Issuer's `webhook.config`, as it is (null when unset). */
  readonly config: unknown;
}

/** A record that may carry the challenge's domain (forwarded when present). */
export type WebhookRecord = TxtRecord & { readonly domain?: string | undefined };

/** The provider's settings, resolved from the Issuer's block and the operator's configuration. */
export interface WebhookConfig {
  /** Base URL: requests go to `{url}/present` and `{url}/cleanup`. */
  readonly url: string;
  readonly groupName: string;
  readonly solverName: string;
  readonly config?: unknown;
  readonly resourceNamespace: string;
  /** Sent as `Authorization: Bearer <token>`; only over https (or to a loopback address). */
  readonly token?: string | undefined;
  /** PEM CA certificates that verify the webhook's https certificate instead of the system's. */
  readonly caBundle?: string | undefined;
  /** Default 30 s. */
  readonly timeoutMs?: number | undefined;
}

/** What a test may replace. */
export interface WebhookDeps {
  readonly post?: HttpPost;
  readonly now?: () => number;
}

/** How long one call may take unless configured otherwise. The webhook must not wait for DNS. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 30_000;
const MAX_RETRY_AFTER_MS = 15 * 60_000;
/** A reason the webhook may give for a 4xx: CamelCase, as status conditions want. */
const REASON = /^[A-Z][A-Za-z0-9]{0,63}$/;

function invalid(message: string): TerminalError {
  return new TerminalError(`webhook: ${message}`, "InvalidConfiguration");
}

function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * Checks a base URL and drops its trailing slashes. A token is only sent over https, or to a
 * loopback address (a sidecar): over plain http anyone on the path could read it.
 */
export function parseWebhookUrl(url: string, withToken: boolean): string {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    throw invalid(`url "${url}" is not a URL`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:")
    throw invalid(`url "${url}" must be http:// or https://`);
  if (u.username !== "" || u.password !== "")
    throw invalid("url must not carry credentials: use tokenSecretRef");
  if (u.search !== "" || u.hash !== "") throw invalid(`url "${url}" must have no query or fragment`);
  if (withToken && u.protocol === "http:" && !isLoopback(u.hostname)) {
    throw invalid(`a token is only sent over https (or to a loopback address), not to ${u.origin}`);
  }
  return u.href.replace(/\/+$/, "");
}

/** The message and reason of an error answer: `{"message", "reason"}`, `{"error"}`, or text. */
function readError(res: HttpResponse): { message: string; reason?: string } {
  try {
    const parsed = JSON.parse(res.body) as unknown;
    if (typeof parsed === "object" && parsed !== null) {
      const o = parsed as Record<string, unknown>;
      const m = o["message"] ?? o["error"];
      const r = o["reason"];
      if (typeof m === "string") {
        return {
          message: excerpt(m, 500),
          ...(typeof r === "string" && REASON.test(r) ? { reason: r } : {}),
        };
      }
    }
  } catch {
    // not JSON: the text is the message
  }
  return { message: excerpt(res.body, 500) || "(empty body)" };
}

/** Maps a non-2xx answer to the error the queue and the status need (docs/webhook.md). */
function failure(res: HttpResponse, what: string, now: number): Error {
  const status = res.status;
  const { message, reason } = readError(res);
  const text = `webhook: ${what}: HTTP ${status}: ${message}`;
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    const after = parseRetryAfter(header(res, "retry-after"), now);
    return new TemporaryError(text, after === undefined ? undefined : Math.min(after, MAX_RETRY_AFTER_MS));
  }
  if (status === 401 || status === 403) return new TerminalError(text, "InvalidCredentials");
  if (status >= 300 && status < 400) {
    return new TerminalError(
      `${text}; redirects are not followed: set the URL that answers`,
      "InvalidConfiguration",
    );
  }
  if ((status === 404 || status === 405) && reason === undefined) {
    return new TerminalError(`${text} (is the URL the webhook's base URL?)`, "InvalidConfiguration");
  }
  return new TerminalError(text, reason ?? "WebhookRejected");
}

/** Builds the webhook provider. Every call is one request; nothing is retried here. */
export function createWebhookSolver(config: WebhookConfig, deps: WebhookDeps = {}): Dns01Solver {
  const token = config.token?.trim();
  const base = parseWebhookUrl(config.url, token !== undefined && token !== "");
  const post = deps.post ?? postJson;
  const now = deps.now ?? Date.now;
  const timeoutMs = config.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  const headers: Record<string, string> =
    token === undefined || token === "" ? {} : { authorization: `Bearer ${token}` };
  const name = `${config.solverName}.${config.groupName}`;

  async function call(action: WebhookAction, record: WebhookRecord, ctx: SolverContext): Promise<void> {
    const request: WebhookRequest = {
      apiVersion: WEBHOOK_API_VERSION,
      action,
      fqdn: record.fqdn,
      zone: record.zone,
      value: record.value,
      ...(record.domain === undefined || record.domain === "" ? {} : { domain: record.domain }),
      groupName: config.groupName,
      solverName: config.solverName,
      resourceNamespace: config.resourceNamespace,
      config: config.config ?? null,
    };
    const what = `${name}: ${action} ${record.fqdn}`;
    let res: HttpResponse;
    try {
      res = await post(new URL(`${base}/${action}`), JSON.stringify(request), {
        headers,
        timeoutMs,
        ca: config.caBundle,
        signal: ctx.signal,
      });
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      const detail = err instanceof HttpTimeoutError ? err.message : (err as Error).message;
      if (isCertificateError(err)) {
        throw new TerminalError(
          `webhook: ${what}: the webhook's certificate is not trusted (${detail}): set caBundle to the CA that issued it`,
          "InvalidConfiguration",
          { cause: err },
        );
      }
      throw new TemporaryError(`webhook: ${what}: ${detail}`, undefined, { cause: err });
    }
    if (res.status < 200 || res.status > 299) throw failure(res, what, now());
    ctx.log.debug("webhook answered", {
      provider: "webhook",
      webhook: name,
      action,
      fqdn: record.fqdn,
      status: res.status,
    });
  }

  return {
    present: (record: WebhookRecord, ctx) => call("present", record, ctx),
    cleanUp: (record: WebhookRecord, ctx) => call("cleanup", record, ctx),
  };
}
