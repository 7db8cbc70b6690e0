import {
  CERTIFICATES,
  CHALLENGES,
  CLUSTER_ISSUERS,
  GROUP,
  ISSUERS,
  ORDERS,
  VERSION,
  type Certificate,
  type Challenge,
  type ClusterIssuer,
  type Issuer,
  type Order,
} from "../crds/index.js";
import { CoreResources, resourceType } from "../kube/resources.js";
import type { KubeObject } from "../kube/types.js";

/** Resource descriptors of the kinds the operator reads and writes. */
export const Kinds = {
  certificates: resourceType(GROUP, VERSION, CERTIFICATES, "Certificate", true),
  issuers: resourceType(GROUP, VERSION, ISSUERS, "Issuer", true),
  clusterIssuers: resourceType(GROUP, VERSION, CLUSTER_ISSUERS, "ClusterIssuer", false),
  orders: resourceType(GROUP, VERSION, ORDERS, "Order", true),
  challenges: resourceType(GROUP, VERSION, CHALLENGES, "Challenge", true),
  secrets: CoreResources.secrets,
} as const;

/** The typed objects, as the runtime's caches hold them. */
export type CertificateObj = Certificate & KubeObject;
export type IssuerObj = Issuer & KubeObject;
export type ClusterIssuerObj = ClusterIssuer & KubeObject;
export type OrderObj = Order & KubeObject;
export type ChallengeObj = Challenge & KubeObject;

/** A core Secret in JSON form (data values base64). */
export interface SecretObj extends KubeObject {
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** Label on every object the operator creates, so its informers can watch only those. */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
/** Value of MANAGED_BY_LABEL. */
export const MANAGED_BY = "dns01-operator";
/** Label naming the Certificate an Order, Secret or next private key belongs to. */
export const CERTIFICATE_LABEL = "dns01.io/certificate-name";
/** Finalizer on Challenges while a TXT value may exist in DNS. */
export const CHALLENGE_FINALIZER = "dns01.io/txt-cleanup";
