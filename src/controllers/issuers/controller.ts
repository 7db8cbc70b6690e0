import { generatePrivateKey } from "../../pki/index.js";
import { TemporaryError, TerminalError } from "../../errors.js";
import type { EventRecorder } from "../../kube/events.js";
import { apiStatusCode, describeError, isAlreadyExists, isNotFound } from "../../kube/api-errors.js";
import type { SecretReader } from "../../solvers/credentials.js";
import {
  type ControllerDefinition,
  type Informer,
  type ReconcileRequest,
  type ReconcileResult,
  ResourceClient,
  generationChanged,
  isTrue,
  setCondition,
  watch,
} from "../runtime/index.js";
import type { KubeClient } from "../../kube/client.js";
import { silentLogger } from "../../log.js";
import {
  Kinds,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  type ClusterIssuerObj,
  type IssuerObj,
  type SecretObj,
} from "../kinds.js";
import type { AcmeClient } from "../../acme/index.js";
import { ACCOUNT_KEY_KEY, type AcmeAccounts, type AnyIssuerObj, keyHash } from "./accounts.js";
import { AccountKeySecretWatch } from "./secret-watch.js";

/** What the Issuer controller needs of AcmeAccounts (tests pass a scripted CA through `build`). */
export type IssuerAccounts = Pick<AcmeAccounts, "secretNamespace" | "forget"> & {
  build(...args: Parameters<AcmeAccounts["build"]>): Pick<AcmeClient, "ensureAccount" | "close">;
};

/** What the Issuer controller needs. */
export interface IssuerControllerDeps {
  client: KubeClient;
  accounts: IssuerAccounts;
  secrets: SecretReader;
  events: EventRecorder;
  issuers: Informer<IssuerObj>;
  clusterIssuers: Informer<ClusterIssuerObj>;
  /** Watches of the account-key Secrets; one is made on `client` when not given. */
  keySecrets?: { issuers: AccountKeySecretWatch; clusterIssuers: AccountKeySecretWatch };
  now?: () => Date;
}

/**
 * The error for an RBAC refusal on the account-key Secret: it names the verb, the resource and the
 * namespace to grant, instead of passing for a missing Secret.
 */
function forbidden(verb: string, namespace: string, name: string, err: unknown): TerminalError {
  return new TerminalError(
    `the operator is not allowed to ${verb} Secret ${namespace}/${name}: grant its ServiceAccount ` +
      `"${verb}" on "secrets" in namespace "${namespace}" (a Role and RoleBinding there). ` +
      `The API server said: ${describeError(err)}`,
    "AccountKeySecretForbidden",
    { cause: err },
  );
}

/** Whether an error (or its causes) is an API server 403. */
function isForbidden(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 5; depth++) {
    if (apiStatusCode(e) === 403) return true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}

/**
 * The Issuer and ClusterIssuer controllers: keep the ACME account key in `privateKeySecretRef`
 * (generated when absent unless `disableAccountKeyGeneration`), register the account with the CA
 * (with external account binding when configured), and report `status.acme.uri` and `Ready`.
 * A Ready issuer whose spec and key are unchanged costs no CA round trip.
 */
export function issuerControllers(deps: IssuerControllerDeps): ControllerDefinition[] {
  const keySecrets = deps.keySecrets ?? {
    issuers: new AccountKeySecretWatch({ client: deps.client, log: silentLogger() }),
    clusterIssuers: new AccountKeySecretWatch({ client: deps.client, log: silentLogger() }),
  };
  return [
    {
      name: "issuers",
      watches: [watch(deps.issuers, { filter: generationChanged }), keySecrets.issuers],
      reconcile: (req) => reconcileIssuer(deps, "Issuer", keySecrets.issuers, req),
    },
    {
      name: "clusterissuers",
      watches: [watch(deps.clusterIssuers, { filter: generationChanged }), keySecrets.clusterIssuers],
      reconcile: (req) => reconcileIssuer(deps, "ClusterIssuer", keySecrets.clusterIssuers, req),
    },
  ];
}

async function reconcileIssuer(
  deps: IssuerControllerDeps,
  kind: "Issuer" | "ClusterIssuer",
  keySecrets: AccountKeySecretWatch,
  req: ReconcileRequest,
): Promise<ReconcileResult> {
  const issuer: AnyIssuerObj | undefined =
    kind === "Issuer" ? deps.issuers.get(req.key) : deps.clusterIssuers.get(req.key);
  if (!issuer) {
    deps.accounts.forget(kind, req.namespace, req.name);
    keySecrets.untrack(req.key);
    return;
  }
  const acme = issuer.spec.acme;
  const generation = issuer.metadata.generation;
  const now = deps.now ?? (() => new Date());
  const resource = new ResourceClient<AnyIssuerObj>(
    deps.client,
    kind === "Issuer" ? Kinds.issuers : Kinds.clusterIssuers,
  );
  const writeReady = async (
    status: "True" | "False",
    reason: string,
    message: string,
    acmeStatus?: Record<string, string>,
  ): Promise<void> => {
    const conditions = setCondition(
      issuer.status?.conditions,
      {
        type: "Ready",
        status,
        reason,
        message,
        ...(generation !== undefined ? { observedGeneration: generation } : {}),
      },
      now(),
    );
    await resource.patchStatus(
      issuer,
      { conditions, ...(acmeStatus ? { acme: acmeStatus } : {}) },
      {
        signal: req.signal,
      },
    );
  };

  const secretNamespace = deps.accounts.secretNamespace(issuer);
  const keyRef = {
    name: acme.privateKeySecretRef.name,
    key: acme.privateKeySecretRef.key ?? ACCOUNT_KEY_KEY,
  };
  // Watch the key Secret from the first run on, so that a rotation (or its creation) brings us back.
  keySecrets.track(req.key, secretNamespace, keyRef.name);
  let keyPem: string;
  try {
    keyPem = await ensureAccountKey(deps, issuer, secretNamespace, keyRef, req);
  } catch (err) {
    const reason = err instanceof TerminalError ? err.reason : "ErrGetKeyPair";
    await writeReady("False", reason, `Failed to load the ACME account key: ${describeError(err)}`);
    throw new TemporaryError(`account key: ${describeError(err)}`, undefined, { cause: err });
  }

  const hash = keyHash(keyPem);
  const registered = issuer.status?.acme;
  if (registered?.lastPrivateKeyHash !== undefined && registered.lastPrivateKeyHash !== hash) {
    // A rotated key: the cached client signs with the old one. Drop it; the account is looked up
    // (or registered) for the new key below, and Orders wait until the status carries its hash.
    deps.accounts.forget(kind, req.namespace, req.name);
    req.log.info("the ACME account key changed; registering or looking up its account", {
      secretName: `${secretNamespace}/${keyRef.name}`,
    });
  }
  if (
    isTrue(issuer.status?.conditions, "Ready", generation) &&
    registered?.uri &&
    registered.lastPrivateKeyHash === hash &&
    (registered.lastRegisteredEmail ?? "") === (acme.email ?? "")
  ) {
    return;
  }

  let eab: { kid: string; hmacKey: string } | undefined;
  try {
    if (acme.externalAccountBinding) {
      const ref = acme.externalAccountBinding.keySecretRef;
      const hmacKey = await deps.secrets.read(
        secretNamespace,
        { name: ref.name, key: ref.key ?? "secret" },
        req.signal,
      );
      eab = { kid: acme.externalAccountBinding.keyID, hmacKey: hmacKey.trim() };
    }
  } catch (err) {
    await writeReady(
      "False",
      "ErrGetEABKey",
      `Failed to read the external account binding key: ${describeError(err)}`,
    );
    throw new TemporaryError(`external account binding: ${describeError(err)}`, undefined, { cause: err });
  }

  const client = deps.accounts.build(issuer, keyPem, undefined, eab);
  try {
    const account = await client.ensureAccount({ email: acme.email });
    await writeReady(
      "True",
      "ACMEAccountRegistered",
      "The ACME account was registered with the ACME server",
      {
        uri: account.url,
        lastRegisteredEmail: acme.email ?? "",
        lastPrivateKeyHash: hash,
      },
    );
    if (registered?.uri !== account.url) {
      void deps.events.record(
        issuer,
        "Normal",
        "ACMEAccountRegistered",
        `Registered ACME account ${account.url}`,
      );
    }
    req.log.info("ACME account registered", { accountUrl: account.url });
  } catch (err) {
    const message = `Failed to register the ACME account: ${describeError(err)}`;
    await writeReady("False", "ErrRegisterACMEAccount", message);
    void deps.events.record(issuer, "Warning", "ErrRegisterACMEAccount", message);
    // Retried with the queue's backoff, terminal or not: a CA that refuses today may accept after
    // the user fixes the email or the binding, which changes the generation and requeues at once.
    throw new TemporaryError(message, undefined, { cause: err });
  } finally {
    client.close();
  }
}

/** Reads the account key, or generates and stores one when allowed. */
async function ensureAccountKey(
  deps: IssuerControllerDeps,
  issuer: AnyIssuerObj,
  namespace: string,
  ref: { name: string; key: string },
  req: ReconcileRequest,
): Promise<string> {
  try {
    return await deps.secrets.read(namespace, ref, req.signal);
  } catch (err) {
    if (isForbidden(err)) throw forbidden("get", namespace, ref.name, err);
    const missing =
      err instanceof TerminalError && (err.reason === "SecretNotFound" || isNotFound(err.cause));
    if (!missing || issuer.spec.acme.disableAccountKeyGeneration === true) throw err;
  }
  // ECDSA P-256 (ES256) is the one algorithm RFC 8555 requires every CA to accept, and it signs
  // far faster than RSA, which matters when one account signs every request of a thousand orders.
  const key = await generatePrivateKey({ algorithm: "ECDSA", size: 256, encoding: "PKCS8" });
  const secrets = new ResourceClient<SecretObj>(deps.client, Kinds.secrets);
  try {
    await secrets.create(
      {
        metadata: {
          name: ref.name,
          namespace,
          labels: { [MANAGED_BY_LABEL]: MANAGED_BY },
          annotations: {
            "dns01.io/issuer-name": issuer.metadata.name ?? "",
            "dns01.io/issuer-kind": issuer.kind,
          },
        },
        type: "Opaque",
        data: { [ref.key]: Buffer.from(key.pem).toString("base64") },
      },
      req.signal,
    );
    req.log.info("generated a new ACME account key", { secretName: `${namespace}/${ref.name}` });
    return key.pem;
  } catch (err) {
    if (isForbidden(err)) throw forbidden("create", namespace, ref.name, err);
    if (!isAlreadyExists(err)) throw err;
    // Another writer created it first (or it appeared since our read): use theirs.
    return deps.secrets.read(namespace, ref, req.signal);
  }
}
