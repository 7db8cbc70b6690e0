import { describe, expect, it } from "@jest/globals";
import type { Route53Provider } from "../../crds/index.js";
import { TerminalError } from "../../errors.js";
import { memorySecretReader } from "../credentials.js";
import type { ProviderContext } from "../provider.js";
import { descriptor } from "./descriptor.js";

const secrets = () =>
  memorySecretReader(
    new Map([
      ["certs/aws", { "access-key-id": "AKIAEXAMPLE\n", "secret-access-key": "wJalrXUtnFEMI/K7MDENG\n" }],
    ]),
  );
const ctx = (clusterScoped = false, reader = secrets()): ProviderContext => ({
  secretNamespace: "certs",
  secrets: reader,
  clusterScoped,
});
const idRef = { name: "aws", key: "access-key-id" };
const secretRef = { name: "aws", key: "secret-access-key" };
const keys: Route53Provider = { accessKeyIDSecretRef: idRef, secretAccessKeySecretRef: secretRef };

async function failure(block: Route53Provider, c: ProviderContext): Promise<TerminalError> {
  const err = await descriptor.create(block, c).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TerminalError);
  return err as TerminalError;
}

describe("route53 descriptor", () => {
  it("reads both halves of the access key from the Secret on every create", async () => {
    const reader = secrets();
    await descriptor.create(keys, ctx(false, reader));
    await descriptor.create(keys, ctx(false, reader));
    expect(reader.reads).toHaveLength(4);
    expect(reader.reads[0]).toEqual({ namespace: "certs", name: "aws", key: "access-key-id" });
  });

  it("takes the access key ID in clear with the secret key from a Secret", async () => {
    const reader = secrets();
    await descriptor.create(
      { accessKeyID: "AKIACLEAR", secretAccessKeySecretRef: { name: "aws", key: "secret-access-key" } },
      ctx(false, reader),
    );
    expect(reader.reads.map((r) => r.key)).toEqual(["secret-access-key"]);
  });

  it("refuses ambient credentials for an Issuer, saying why and what to set", async () => {
    const err = await failure({ region: "eu-west-1" }, ctx(false));
    expect(err.reason).toBe("InvalidConfiguration");
    expect(err.message).toMatch(
      /^route53: no access key given, and an Issuer may not use the operator's ambient AWS credentials/,
    );
    expect(err.message).toContain("ClusterIssuer");
  });

  it("allows ambient credentials for a ClusterIssuer, reading no Secret", async () => {
    const reader = secrets();
    const solver = await descriptor.create({ region: "eu-west-1" }, ctx(true, reader));
    expect(typeof solver.present).toBe("function");
    expect(reader.reads).toHaveLength(0);
  });

  it("refuses half an access key", async () => {
    const err = await failure({ accessKeyID: "AKIAONLY" }, ctx(true));
    expect(err.reason).toBe("InvalidConfiguration");
    expect(err.message).toMatch(/^route53: only one of the access key ID/);
    const err2 = await failure({ secretAccessKeySecretRef: secretRef }, ctx(true));
    expect(err2.reason).toBe("InvalidConfiguration");
  });

  it("keeps the reader's reason and names the field when the Secret or its key is missing", async () => {
    const missing = await failure({ ...keys, accessKeyIDSecretRef: { name: "nope", key: "id" } }, ctx());
    expect(missing.reason).toBe("SecretNotFound");
    expect(missing.message).toBe(
      'route53: accessKeyIDSecretRef: Secret certs/nope not found (wanted its key "id")',
    );
    const noKey = await failure({ ...keys, secretAccessKeySecretRef: { name: "aws", key: "typo" } }, ctx());
    expect(noKey.reason).toBe("SecretKeyNotFound");
    expect(noKey.message).toMatch(/^route53: secretAccessKeySecretRef: Secret certs\/aws has no key "typo"/);
  });

  it("requires the key of a Secret reference", async () => {
    const err = await failure({ ...keys, secretAccessKeySecretRef: { name: "aws" } }, ctx());
    expect(err.reason).toBe("InvalidConfiguration");
    expect(err.message).toContain("secretAccessKeySecretRef.key is required");
  });

  it("needs role with auth.kubernetes, since the token is exchanged for a role", async () => {
    const err = await failure({ auth: { kubernetes: { serviceAccountRef: { name: "sa" } } } }, ctx(true));
    expect(err.reason).toBe("InvalidConfiguration");
    expect(err.message).toBe(
      "route53: auth.kubernetes needs role: the ARN of the IAM role the ServiceAccount's token is exchanged for",
    );
  });

  it("says auth.kubernetes needs the Kubernetes API when the operator was given none", async () => {
    const err = await failure(
      {
        role: "arn:aws:iam::123456789012:role/dns",
        auth: { kubernetes: { serviceAccountRef: { name: "sa" } } },
      },
      ctx(true),
    );
    expect(err.reason).toBe("InvalidConfiguration");
    expect(err.message).toBe(
      "route53: auth.kubernetes needs the Kubernetes API, which this operator process was not given",
    );
  });

  it("never puts a credential value in an error", async () => {
    const err = await failure(
      {
        accessKeyIDSecretRef: idRef,
        secretAccessKeySecretRef: { name: "aws", key: "typo" },
      },
      ctx(),
    );
    expect(err.message).not.toContain("AKIAEXAMPLE");
    expect(err.message).not.toContain("wJalrXUtnFEMI");
  });
});
