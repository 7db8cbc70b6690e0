import { createHash } from "node:crypto";
import type { KubeClient } from "../../kube/client.js";
import type { Logger } from "../../log.js";
import { Kinds, type SecretObj } from "../kinds.js";
import { type Informer as InformerType, Informer, type WatchSpec, resourceSource } from "../runtime/index.js";

/**
 * Watches the account-key Secrets that issuers name, one field-selected watch per Secret, and
 * enqueues the issuers that use one when it changes or goes: a rotated key is noticed at once.
 *
 * The operator's shared Secret informer caches only the Secrets it manages (a label selector);
 * an account key the user made carries no such label, and caching every Secret of the cluster to
 * see it would grow memory with the cluster. A watch on `metadata.name=<name>` in one namespace
 * costs one connection per distinct key Secret (issuers are few), and the RBAC it needs (list and
 * watch on secrets) the shared informer needs already. The cache keeps a hash of the data, never
 * the key itself.
 */
export class AccountKeySecretWatch implements WatchSpec {
  /** Satisfies WatchSpec: these per-Secret watches never hold up the manager's start. */
  readonly informer = {
    name: "account-key-secrets",
    hasSynced: () => true,
    waitForSync: () => Promise.resolve(true),
  };
  private readonly watches = new Map<string, { informer: InformerType<SecretObj>; users: Set<string> }>();
  private readonly secretOf = new Map<string, string>();
  private enqueue: ((key: string) => void) | undefined;

  constructor(
    private readonly opts: {
      client: KubeClient;
      log: Logger;
      /** Builds the watch of one Secret (tests may pass their own). */
      informerFor?: (namespace: string, name: string) => InformerType<SecretObj>;
    },
  ) {}

  /** Subscribes the Issuer controller's queue; the returned function stops every watch. */
  connect(enqueue: (key: string) => void): () => void {
    this.enqueue = enqueue;
    return () => {
      this.enqueue = undefined;
      for (const w of this.watches.values()) void w.informer.stop();
      this.watches.clear();
      this.secretOf.clear();
    };
  }

  /**
   * Records that the issuer with queue key `issuerKey` uses Secret `namespace/name`; a watch on it
   * starts if none runs, and the issuer's previous Secret is released.
   */
  track(issuerKey: string, namespace: string, name: string): void {
    const id = `${namespace}/${name}`;
    const before = this.secretOf.get(issuerKey);
    if (before === id) return;
    if (before !== undefined) this.release(issuerKey, before);
    this.secretOf.set(issuerKey, id);
    let w = this.watches.get(id);
    if (w === undefined) {
      const informer = (this.opts.informerFor ?? this.defaultInformer.bind(this))(namespace, name);
      w = { informer, users: new Set() };
      const users = w.users;
      const notify = () => {
        for (const key of users) this.enqueue?.(key);
      };
      informer.addEventHandler({
        // The first list only tells us what the issuer's reconcile just read.
        onAdd: () => {
          if (informer.hasSynced()) notify();
        },
        onUpdate: (old, obj) => {
          if (old.data?.["sha256"] !== obj.data?.["sha256"]) notify();
        },
        onDelete: notify,
      });
      informer.start();
      this.watches.set(id, w);
    }
    w.users.add(issuerKey);
  }

  /** Forgets a deleted issuer; a watch nobody uses stops. */
  untrack(issuerKey: string): void {
    const id = this.secretOf.get(issuerKey);
    if (id !== undefined) this.release(issuerKey, id);
    this.secretOf.delete(issuerKey);
  }

  /** Secrets watched now, as `namespace/name` (for tests and debugging). */
  watched(): string[] {
    return [...this.watches.keys()];
  }

  private release(issuerKey: string, id: string): void {
    const w = this.watches.get(id);
    if (w === undefined) return;
    w.users.delete(issuerKey);
    if (w.users.size === 0) {
      void w.informer.stop();
      this.watches.delete(id);
    }
  }

  private defaultInformer(namespace: string, name: string): InformerType<SecretObj> {
    return new Informer<SecretObj>({
      source: resourceSource(this.opts.client, Kinds.secrets, {
        namespace,
        fieldSelector: `metadata.name=${name}`,
      }),
      name: `account-key-secret ${namespace}/${name}`,
      log: this.opts.log,
      transform: hashData,
    });
  }
}

/** Keeps a Secret's identity and a hash of its data, so that no key material stays in memory. */
export function hashData(secret: SecretObj): SecretObj {
  const data = secret.data ?? {};
  const hash = createHash("sha256");
  for (const k of Object.keys(data).sort()) hash.update(`${k}\0${data[k] ?? ""}\0`);
  return {
    ...(secret.apiVersion !== undefined ? { apiVersion: secret.apiVersion } : {}),
    ...(secret.kind !== undefined ? { kind: secret.kind } : {}),
    metadata: {
      ...(secret.metadata?.name !== undefined ? { name: secret.metadata.name } : {}),
      ...(secret.metadata?.namespace !== undefined ? { namespace: secret.metadata.namespace } : {}),
      ...(secret.metadata?.uid !== undefined ? { uid: secret.metadata.uid } : {}),
      ...(secret.metadata?.resourceVersion !== undefined
        ? { resourceVersion: secret.metadata.resourceVersion }
        : {}),
    },
    data: { sha256: hash.digest("hex") },
  };
}
