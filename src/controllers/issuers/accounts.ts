import { createHash } from "node:crypto";
import { AcmeClient, type AcmeClientOptions } from "../../acme/index.js";
import type { IssuerRef } from "../../crds/index.js";
import { TemporaryError } from "../../errors.js";
import type { Logger } from "../../log.js";
import type { SecretReader } from "../../solvers/credentials.js";
import type { Informer } from "../runtime/index.js";
import type { ClusterIssuerObj, IssuerObj } from "../kinds.js";

/** Either issuer object, as the caches hold them. */
export type AnyIssuerObj = IssuerObj | ClusterIssuerObj;

/** Default key of the account key in `privateKeySecretRef` (cert-manager's). */
export const ACCOUNT_KEY_KEY = "tls.key";

/** The group names that mean our issuers (cert-manager's is accepted so that manifests port). */
const OUR_GROUPS = new Set(["", "dns01.io", "cert-manager.io"]);

/** A short hash, to notice a changed account key without keeping the key itself around. */
export function keyHash(pem: string): string {
  return createHash("sha256").update(pem).digest("hex").slice(0, 16);
}

/**
 * Finds issuers by reference and builds ACME clients for them. Clients are cached per issuer and
 * rebuilt when anything they depend on changes (server, CA bundle, account key, account URL), so a
 * thousand Orders of one issuer share one client, one directory fetch and one nonce pool.
 */
export class AcmeAccounts {
  private readonly clients = new Map<string, { fingerprint: string; client: AcmeClient }>();

  constructor(
    private readonly opts: {
      issuers: Informer<IssuerObj>;
      clusterIssuers: Informer<ClusterIssuerObj>;
      secrets: SecretReader;
      clusterResourceNamespace: string;
      log: Logger;
      /** Sees every ACME HTTP request (the `certmanager_http_acme_client_request_*` metrics). */
      onRequest?: AcmeClientOptions["onRequest"];
    },
  ) {}

  /** The issuer a Certificate, Order or Challenge in `namespace` refers to, from the cache. */
  resolve(namespace: string, ref: IssuerRef): AnyIssuerObj | undefined {
    if (!OUR_GROUPS.has(ref.group ?? "")) return undefined;
    return ref.kind === "ClusterIssuer"
      ? this.opts.clusterIssuers.get(ref.name)
      : this.opts.issuers.get(`${namespace}/${ref.name}`);
  }

  /** Where an issuer's Secrets live: its own namespace, or the cluster resource namespace. */
  secretNamespace(issuer: AnyIssuerObj): string {
    return this.secretNamespaceOf(issuer.metadata.namespace ?? "", issuer.kind === "ClusterIssuer");
  }

  /** The same, from a referring object's namespace and the issuer kind alone (no cache lookup). */
  secretNamespaceOf(namespace: string, clusterScoped: boolean): string {
    return clusterScoped || namespace === "" ? this.opts.clusterResourceNamespace : namespace;
  }

  /** The CA bundle of an issuer as PEM, if it has one. */
  static caBundlePem(issuer: AnyIssuerObj): string | undefined {
    const b = issuer.spec.acme.caBundle;
    return b ? Buffer.from(b, "base64").toString("utf8") : undefined;
  }

  /**
   * An ACME client for a Ready issuer, for Orders and Challenges. Throws TemporaryError while the
   * issuer has no registered account yet (its own controller is on it).
   */
  async clientFor(issuer: AnyIssuerObj, signal?: AbortSignal): Promise<AcmeClient> {
    const acme = issuer.spec.acme;
    const id = `${issuer.kind}/${issuer.metadata.namespace ?? ""}/${issuer.metadata.name ?? ""}`;
    const uri = issuer.status?.acme?.uri;
    if (!uri) throw new TemporaryError(`${id} has no registered ACME account yet`, 2000);
    const cached = this.clients.get(id);
    const hash = issuer.status?.acme?.lastPrivateKeyHash ?? "";
    const fingerprint = JSON.stringify([
      issuer.metadata.uid,
      acme.server,
      acme.caBundle,
      acme.skipTLSVerify,
      uri,
      hash,
    ]);
    if (cached?.fingerprint === fingerprint) return cached.client;
    const keyPem = await this.opts.secrets.read(
      this.secretNamespace(issuer),
      { name: acme.privateKeySecretRef.name, key: acme.privateKeySecretRef.key ?? ACCOUNT_KEY_KEY },
      signal,
    );
    if (hash !== "" && keyHash(keyPem) !== hash) {
      // The key was rotated and the Issuer has not registered it yet: signing with the new key
      // under the old account URL would be refused. Its controller is on it (it watches the Secret).
      throw new TemporaryError(`${id}: the account key changed; waiting for the issuer to re-register`, 2000);
    }
    const client = this.build(issuer, keyPem, uri);
    cached?.client.close();
    this.clients.set(id, { fingerprint, client });
    return client;
  }

  /** Builds a client for an issuer's account (the Issuer controller uses it to register). */
  build(
    issuer: AnyIssuerObj,
    accountKeyPem: string,
    accountUrl?: string,
    externalAccountBinding?: { kid: string; hmacKey: string },
  ): AcmeClient {
    const acme = issuer.spec.acme;
    return new AcmeClient({
      directoryUrl: acme.server,
      accountKeyPem,
      accountUrl,
      externalAccountBinding,
      caBundlePem: AcmeAccounts.caBundlePem(issuer),
      skipTlsVerify: acme.skipTLSVerify === true,
      userAgent: "dns01-operator/0.1",
      log: this.opts.log,
      onRequest: this.opts.onRequest,
    });
  }

  /** Drops the cached client of a deleted or changed issuer. */
  forget(kind: string, namespace: string | undefined, name: string): void {
    const id = `${kind}/${namespace ?? ""}/${name}`;
    this.clients.get(id)?.client.close();
    this.clients.delete(id);
  }
}
