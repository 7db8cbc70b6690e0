import type { AcmeSolver } from "../../crds/index.js";
import {
  CERTIFICATE_LABEL,
  type CertificateObj,
  type ChallengeObj,
  type ClusterIssuerObj,
  type IssuerObj,
  type OrderObj,
} from "../kinds.js";

/**
 * Objects for controller tests, shaped as the API server stores them. Each takes overrides of its
 * spec (and status), so that a test states only what it is about.
 */

/** The namespace fixtures live in. */
export const NS = "team-a";

/** An rfc2136 solver block; `nameserver` tells two apart. */
export function rfc2136Solver(nameserver = "10.0.0.1:53", zones: string[] = ["example.test"]): AcmeSolver {
  return {
    selector: { dnsZones: zones },
    dns01: {
      rfc2136: {
        nameserver,
        tsigKeyName: "tsig-key",
        tsigAlgorithm: "HMACSHA256",
        tsigSecretSecretRef: { name: "tsig", key: "secret" },
      },
    },
  };
}

/** A Ready Issuer with a registered account and the given solvers. */
export function issuer(name = "ca", solvers: AcmeSolver[] = [rfc2136Solver()], ready = true): IssuerObj {
  return {
    apiVersion: "dns01.io/v1alpha1",
    kind: "Issuer",
    metadata: { name, namespace: NS },
    spec: {
      acme: {
        server: "https://ca.test/directory",
        email: "ops@example.test",
        privateKeySecretRef: { name: `${name}-account-key` },
        solvers,
      },
    },
    status: {
      conditions: [
        {
          type: "Ready",
          status: ready ? "True" : "False",
          reason: ready ? "ACMEAccountRegistered" : "ErrRegisterACMEAccount",
          message: "",
          lastTransitionTime: "2026-01-01T00:00:00Z",
          observedGeneration: 1,
        },
      ],
      acme: {
        uri: "https://ca.test/acme/acct/1",
        lastRegisteredEmail: "ops@example.test",
        lastPrivateKeyHash: "",
      },
    },
  };
}

/** A ClusterIssuer like `issuer()`. */
export function clusterIssuer(name = "cluster-ca"): ClusterIssuerObj {
  const i = issuer(name);
  return { ...i, kind: "ClusterIssuer", metadata: { name } } as unknown as ClusterIssuerObj;
}

/** A Certificate for `dnsNames`. */
export function certificate(
  name = "web",
  dnsNames: string[] = ["example.test", "*.example.test"],
): CertificateObj {
  return {
    apiVersion: "dns01.io/v1alpha1",
    kind: "Certificate",
    metadata: { name, namespace: NS },
    spec: { secretName: `${name}-tls`, issuerRef: { name: "ca", kind: "Issuer" }, dnsNames },
  };
}

/** An Order owned by `cert` (stored: it has a uid). */
export function order(
  cert: CertificateObj,
  name = `${cert.metadata.name ?? ""}-1-abc`,
  spec: Partial<OrderObj["spec"]> = {},
): OrderObj {
  return {
    apiVersion: "dns01.io/v1alpha1",
    kind: "Order",
    metadata: {
      name,
      namespace: NS,
      labels: { [CERTIFICATE_LABEL]: cert.metadata.name ?? "" },
      ownerReferences: [
        {
          apiVersion: "dns01.io/v1alpha1",
          kind: "Certificate",
          name: cert.metadata.name ?? "",
          uid: cert.metadata.uid ?? "",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      request: Buffer.from(
        "-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n",
      ).toString("base64"),
      issuerRef: { name: "ca", kind: "Issuer" },
      dnsNames: cert.spec.dnsNames ?? [],
      ...spec,
    },
  };
}

/** A Challenge owned by `ord`, as the Order controller makes them. */
export function challenge(
  ord: OrderObj,
  opts: { name?: string; solver?: AcmeSolver; dnsName?: string } = {},
): ChallengeObj {
  return {
    apiVersion: "dns01.io/v1alpha1",
    kind: "Challenge",
    metadata: {
      name: opts.name ?? `${ord.metadata.name ?? ""}-c1`,
      namespace: NS,
      labels: { [CERTIFICATE_LABEL]: ord.metadata.labels?.[CERTIFICATE_LABEL] ?? "" },
      ownerReferences: [
        {
          apiVersion: "dns01.io/v1alpha1",
          kind: "Order",
          name: ord.metadata.name ?? "",
          uid: ord.metadata.uid ?? "",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      url: "https://ca.test/acme/chall/x",
      authorizationURL: "https://ca.test/acme/authz/x",
      dnsName: opts.dnsName ?? "example.test",
      wildcard: false,
      type: "DNS-01",
      token: "tok",
      key: "txt-value",
      solver: opts.solver ?? rfc2136Solver(),
      issuerRef: ord.spec.issuerRef,
    },
  };
}
