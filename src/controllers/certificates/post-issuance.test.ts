import { describe, expect, it } from "@jest/globals";
import type { SecretObj } from "../kinds.js";
import {
  TEMPLATE_KEYS_ANNOTATION,
  postIssuanceFixes,
  updatedSecret,
  type DesiredMetadata,
  type PostIssuanceInput,
} from "./post-issuance.js";
import { Annotations } from "./trigger.js";

const desired: DesiredMetadata = {
  labels: { "app.kubernetes.io/managed-by": "dns01-operator", team: "a" },
  annotations: { [Annotations.certificateName]: "web", [Annotations.requestHash]: "h" },
  templateKeys: { labels: ["team"], annotations: [] },
};
const b64 = (s: string) => Buffer.from(s).toString("base64");
const current: SecretObj = {
  metadata: {
    name: "web-tls",
    labels: { ...desired.labels },
    annotations: {
      ...desired.annotations,
      [TEMPLATE_KEYS_ANNOTATION]: JSON.stringify({ labels: ["team"], annotations: [] }),
    },
  },
  data: { "tls.crt": b64("c"), "tls.key": b64("k") },
};
const MANAGED = [
  "tls-combined.pem",
  "key.der",
  "keystore.jks",
  "truststore.jks",
  "keystore.p12",
  "truststore.p12",
];
const input = (over: Partial<PostIssuanceInput> = {}): PostIssuanceInput => ({
  secret: current,
  desired,
  outputsCurrent: true,
  managedOutputKeys: MANAGED,
  wantedOutputKeys: [],
  ...over,
});
const withMeta = (labels: Record<string, string>, annotations: Record<string, string>): SecretObj => ({
  ...current,
  metadata: { ...current.metadata, labels, annotations },
});

describe("postIssuanceFixes", () => {
  it("finds nothing to fix in a current Secret", () => {
    expect(postIssuanceFixes(input())).toEqual([]);
  });
  it.each<[string, Partial<PostIssuanceInput>, string]>([
    [
      "stamps the request hash on a Secret written before it existed",
      {
        secret: withMeta(current.metadata?.labels ?? {}, {
          ...current.metadata?.annotations,
          [Annotations.requestHash]: undefined,
        } as unknown as Record<string, string>),
      },
      "RequestHashMissing",
    ],
    [
      "restores a changed template label",
      { secret: withMeta({ ...desired.labels, team: "b" }, current.metadata?.annotations ?? {}) },
      "SecretMetadataOutdated",
    ],
    [
      "removes a label that the template dropped",
      {
        desired: {
          ...desired,
          labels: { "app.kubernetes.io/managed-by": "dns01-operator" },
          templateKeys: { labels: [], annotations: [] },
        },
      },
      "SecretTemplateRemoved",
    ],
    [
      "removes a stale cert-manager output key",
      { secret: { ...current, data: { ...current.data, "keystore.jks": b64("x") } } },
      "StaleOutputs",
    ],
    [
      "rewrites outputs that are not current",
      { outputsCurrent: false, wantedOutputKeys: ["tls-combined.pem"] },
      "OutputsOutdated",
    ],
  ])("%s", (_n, over, reason) => {
    expect(postIssuanceFixes(input(over)).map((f) => f.reason)).toContain(reason);
  });
  it("keeps a key that a user put on the Secret and the template never set", () => {
    const s = withMeta({ ...desired.labels, mine: "1" }, current.metadata?.annotations ?? {});
    expect(postIssuanceFixes(input({ secret: s }))).toEqual([]);
  });
});

describe("updatedSecret", () => {
  it("sets template keys, drops the ones removed from the template and stale outputs, keeps foreign ones", () => {
    const s: SecretObj = {
      ...current,
      metadata: {
        ...current.metadata,
        labels: { ...desired.labels, old: "1", mine: "2" },
        annotations: {
          ...current.metadata?.annotations,
          [TEMPLATE_KEYS_ANNOTATION]: JSON.stringify({ labels: ["team", "old"], annotations: [] }),
        },
      },
      data: { ...current.data, "keystore.jks": b64("stale"), "custom.txt": b64("keep") },
    };
    const next = updatedSecret(s, desired, {
      managedOutputKeys: MANAGED,
      data: { "tls-combined.pem": b64("kc") },
    });
    expect(next.metadata?.labels).toEqual({ ...desired.labels, mine: "2" });
    expect(JSON.parse(next.metadata?.annotations?.[TEMPLATE_KEYS_ANNOTATION] ?? "")).toEqual({
      labels: ["team"],
      annotations: [],
    });
    expect(Object.keys(next.data ?? {}).sort()).toEqual([
      "custom.txt",
      "tls-combined.pem",
      "tls.crt",
      "tls.key",
    ]);
  });
});
