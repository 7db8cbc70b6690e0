/**
 * Reading the credentials that solver blocks name by Secret reference. Every read goes to the
 * source (no cache), so a rotated Secret takes effect on the next call; errors name the
 * namespace, Secret and key, and never carry a value.
 */
import { isNotFound } from "../kube/api-errors.js";
import { isAbortError, type KubeClient } from "../kube/client.js";
import { TemporaryError, TerminalError } from "../errors.js";

/** A reference to one key of one Secret (the namespace comes from the issuer). */
export interface SecretKeyRef {
  readonly name: string;
  readonly key: string;
}

/** Reads one key of one Secret, fresh on every call (so a rotated Secret is used on the next call). */
export interface SecretReader {
  read(namespace: string, ref: SecretKeyRef, signal?: AbortSignal): Promise<string>;
  /**
   * The Kubernetes API client behind the reader, when it reads from one: providers that need more
   * than Secrets (TokenRequest for route53 `auth.kubernetes`, the aggregation layer for `webhook`)
   * use it, so the controllers need not pass a second dependency.
   */
  readonly kube?: KubeClient;
}

/** The error for a Secret that does not exist: TerminalError `SecretNotFound`. */
export function secretNotFound(namespace: string, ref: SecretKeyRef): TerminalError {
  return new TerminalError(
    `Secret ${namespace}/${ref.name} not found (wanted its key "${ref.key}")`,
    "SecretNotFound",
  );
}

/**
 * The error for a Secret without the key: TerminalError `SecretKeyNotFound`. It lists the keys the
 * Secret has (names only), since the usual cause is a typo in the key.
 */
export function secretKeyNotFound(
  namespace: string,
  ref: SecretKeyRef,
  presentKeys: readonly string[],
): TerminalError {
  const has =
    presentKeys.length === 0
      ? "it has no keys"
      : `it has ${[...presentKeys]
          .sort()
          .map((k) => `"${k}"`)
          .join(", ")}`;
  return new TerminalError(
    `Secret ${namespace}/${ref.name} has no key "${ref.key}" (${has})`,
    "SecretKeyNotFound",
  );
}

/** The fields of a Secret this module reads. */
interface SecretObject {
  readonly data?: Record<string, string> | null;
}

function pathOf(namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`;
}

/**
 * A SecretReader over the Kubernetes API (GET /api/v1/namespaces/{ns}/secrets/{name}); a missing
 * Secret gives TerminalError reason "SecretNotFound", a missing key "SecretKeyNotFound", both with
 * messages naming namespace/name/key and never any value. Other API failures (403, 5xx, network)
 * give TemporaryError: an RBAC fix or a recovering apiserver needs no spec change to be noticed.
 * The value is the key's data decoded from base64 as UTF-8 text.
 */
export function kubeSecretReader(client: KubeClient): SecretReader {
  return {
    kube: client,
    async read(namespace, ref, signal) {
      let secret: SecretObject;
      try {
        secret = await client.get<SecretObject>(pathOf(namespace, ref.name), signal ? { signal } : {});
      } catch (err) {
        if (signal?.aborted || isAbortError(err)) throw err;
        if (isNotFound(err)) throw secretNotFound(namespace, ref);
        // The API's message names the object and the verb, never the data.
        const detail = err instanceof Error ? err.message : String(err);
        throw new TemporaryError(`cannot read Secret ${namespace}/${ref.name}: ${detail}`, undefined, {
          cause: err,
        });
      }
      const data = secret.data ?? {};
      const encoded = Object.hasOwn(data, ref.key) ? data[ref.key] : undefined;
      if (encoded === undefined) throw secretKeyNotFound(namespace, ref, Object.keys(data));
      return Buffer.from(encoded, "base64").toString("utf8");
    },
  };
}

/**
 * A SecretReader over an in-memory map `{ "namespace/name": { key: value } }`, with the same errors
 * as {@link kubeSecretReader}. For unit tests of code that reads credentials; the map may be
 * changed between calls to model a rotation. Records every read in `reads`.
 */
export function memorySecretReader(
  secrets: Map<string, Record<string, string>>,
): SecretReader & { readonly reads: { namespace: string; name: string; key: string }[] } {
  const reads: { namespace: string; name: string; key: string }[] = [];
  return {
    reads,
    // eslint-disable-next-line @typescript-eslint/require-await -- async so that every failure is a rejection
    async read(namespace, ref, signal) {
      signal?.throwIfAborted();
      reads.push({ namespace, name: ref.name, key: ref.key });
      const data = secrets.get(`${namespace}/${ref.name}`);
      if (data === undefined) throw secretNotFound(namespace, ref);
      const value = Object.hasOwn(data, ref.key) ? data[ref.key] : undefined;
      if (value === undefined) throw secretKeyNotFound(namespace, ref, Object.keys(data));
      return value;
    },
  };
}

/** A Secret reference as the CRD types it: the key is optional in the schema, required by most fields. */
export interface SecretRefField {
  readonly name: string;
  readonly key?: string | undefined;
}

/** How {@link readSecretRef} treats the value it read, and the reader's temporary failures. */
export interface ReadSecretRefOptions {
  /**
   * Drop surrounding whitespace: a trailing newline from `kubectl create secret --from-file` or
   * `echo` is never part of a token or key, and would break a header or a signature.
   */
  readonly trim?: boolean;
  /** Refuse an empty value (after trimming, if asked) with TerminalError `InvalidConfiguration`. */
  readonly nonEmpty?: boolean;
  /**
   * Prefix the reader's TemporaryErrors with the provider and field, as its TerminalErrors always
   * are (default true). False passes them through unchanged.
   */
  readonly prefixTemporary?: boolean;
}

/**
 * Reads the Secret key that a provider's field names, from `ctx.secretNamespace`. A reference
 * without a key is TerminalError `InvalidConfiguration`; the reader's errors keep their reason
 * (SecretNotFound, SecretKeyNotFound) and gain the provider and field, lego-style:
 * `rfc2136: tsigSecretSecretRef: Secret ns/name not found (...)`. With `nonEmpty`, an empty value is
 * TerminalError `InvalidConfiguration`: `cloudflare: apiTokenSecretRef: key "k" of Secret ns/name is empty`.
 */
export async function readSecretRef(
  provider: string,
  field: string,
  ref: SecretRefField,
  ctx: {
    readonly secretNamespace: string;
    readonly secrets: SecretReader;
    readonly signal?: AbortSignal | undefined;
  },
  options: ReadSecretRefOptions = {},
): Promise<string> {
  const key = ref.key;
  if (key === undefined || key === "") {
    throw new TerminalError(
      `${provider}: ${field}.key is required (the key of Secret ${ctx.secretNamespace}/${ref.name} to read)`,
      "InvalidConfiguration",
    );
  }
  let value: string;
  try {
    value = await ctx.secrets.read(ctx.secretNamespace, { name: ref.name, key }, ctx.signal);
  } catch (err) {
    if (err instanceof TerminalError) {
      throw new TerminalError(`${provider}: ${field}: ${err.message}`, err.reason, { cause: err });
    }
    if (err instanceof TemporaryError && options.prefixTemporary !== false) {
      throw new TemporaryError(`${provider}: ${field}: ${err.message}`, err.retryAfterMs, { cause: err });
    }
    throw err;
  }
  if (options.trim === true) value = value.trim();
  if (options.nonEmpty === true && value === "") {
    throw new TerminalError(
      `${provider}: ${field}: key "${key}" of Secret ${ctx.secretNamespace}/${ref.name} is empty`,
      "InvalidConfiguration",
    );
  }
  return value;
}
