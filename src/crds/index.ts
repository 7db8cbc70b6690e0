/**
 * The dns01.io/v1alpha1 API: the TypeScript types of every kind and the constants to address them.
 * The types are inferred from the same schemas that generate deploy/crds, so they cannot drift.
 */
import type { V1ObjectMeta } from "@kubernetes/client-node";
import { CERTIFICATE_NAMES, type CertificateSpec, type CertificateStatus } from "./certificate.js";
import { CHALLENGE_NAMES, type ChallengeSpec, type ChallengeStatus } from "./challenge.js";
import { API_VERSION } from "./common.js";
import { CLUSTER_ISSUER_NAMES, ISSUER_NAMES, type IssuerSpec, type IssuerStatus } from "./issuer.js";
import { ORDER_NAMES, type OrderSpec, type OrderStatus } from "./order.js";

export { API_VERSION, CERT_MANAGER_GROUP, GROUP, VERSION } from "./common.js";
export type { Condition, IssuerRef, KindNames, SecretKeySelector } from "./common.js";
export {
  CERTIFICATE_NAMES,
  ECDSA_KEY_SIZES,
  KEY_USAGES,
  RSA_KEY_SIZES,
  type CertificateAriStatus,
  type CertificatePrivateKey,
  type CertificateSpec,
  type CertificateStatus,
  type KeyUsage,
} from "./certificate.js";
export {
  CLUSTER_ISSUER_NAMES,
  DNS01_PROVIDERS,
  ISSUER_NAMES,
  TSIG_ALGORITHMS,
  type AcmeDnsProvider,
  type AcmeExternalAccountBinding,
  type AcmeIssuer,
  type AcmeSolver,
  type AcmeSolverSelector,
  type AzureDnsProvider,
  type CloudDnsProvider,
  type CloudflareProvider,
  type DigitalOceanProvider,
  type Dns01Provider,
  type Dns01ProviderName,
  type IssuerSpec,
  type GoDaddyProvider,
  type IssuerStatus,
  type NamecheapProvider,
  type OvhProvider,
  type Rfc2136Provider,
  type Route53Provider,
  type TsigAlgorithm,
  type WebhookProvider,
} from "./issuer.js";
export {
  ACME_STATES,
  ORDER_NAMES,
  type AcmeAuthorization,
  type AcmeChallenge,
  type AcmeState,
  type OrderSpec,
  type OrderStatus,
} from "./order.js";
export {
  CHALLENGE_NAMES,
  type ChallengeSpec,
  type ChallengeStatus,
  type PresentedRecord,
} from "./challenge.js";

/** Plural resource name of Certificate, for API paths and informers. */
export const CERTIFICATES = CERTIFICATE_NAMES.plural;
/** Plural resource name of Issuer. */
export const ISSUERS = ISSUER_NAMES.plural;
/** Plural resource name of ClusterIssuer. */
export const CLUSTER_ISSUERS = CLUSTER_ISSUER_NAMES.plural;
/** Plural resource name of Order. */
export const ORDERS = ORDER_NAMES.plural;
/** Plural resource name of Challenge. */
export const CHALLENGES = CHALLENGE_NAMES.plural;

/** The envelope of an object of this API. */
export interface Resource<K extends string, Spec, Status> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: V1ObjectMeta;
  spec: Spec;
  status?: Status;
}

/** A Certificate: names, key and Secret, kept issued and renewed. */
export type Certificate = Resource<"Certificate", CertificateSpec, CertificateStatus>;
/** An Issuer: a namespaced ACME account with its DNS-01 solvers. */
export type Issuer = Resource<"Issuer", IssuerSpec, IssuerStatus>;
/** A ClusterIssuer: a cluster-scoped ACME account with its DNS-01 solvers. */
export type ClusterIssuer = Resource<"ClusterIssuer", IssuerSpec, IssuerStatus>;
/** Either issuer kind. */
export type AnyIssuer = Issuer | ClusterIssuer;
/** An Order: one ACME order for one Certificate revision. */
export type Order = Resource<"Order", OrderSpec, OrderStatus>;
/** A Challenge: one DNS-01 challenge of an Order. */
export type Challenge = Resource<"Challenge", ChallengeSpec, ChallengeStatus>;
