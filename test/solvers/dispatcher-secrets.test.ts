/**
 * kubeSecretReader against the rig's kube-apiserver: a real Secret, a missing Secret, a missing
 * key, and a rotation seen on the next read.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { KubeClient } from "../../src/kube/client.js";
import { kubeSecretReader, type SecretReader } from "../../src/solvers/credentials.js";
import { createNamespace, deleteNamespace, testClients, type TestClients } from "../support/kube.js";

const TSIG = "3dbtjTcYzW9ft6jTKy3mBmW3cNqxLBLqVkFjE8Fbl3w=";

let clients: TestClients;
let namespace: string;
let reader: SecretReader;

beforeAll(async () => {
  clients = testClients();
  namespace = await createNamespace(clients.core, "secret-reader");
  reader = kubeSecretReader(new KubeClient(clients.kc));
  await clients.core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: "tsig" },
      // A trailing newline, as `kubectl create secret --from-file` keeps it: passed on as it is.
      data: {
        secret: Buffer.from(`${TSIG}\n`).toString("base64"),
        other: Buffer.from("x").toString("base64"),
      },
    },
  });
});

afterAll(async () => {
  await deleteNamespace(clients.core, namespace);
});

async function failure(p: Promise<unknown>): Promise<Error & { reason?: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error("expected the call to fail");
  return err;
}

describe("kubeSecretReader against the apiserver", () => {
  it("reads one key of a real Secret, decoded", async () => {
    await expect(reader.read(namespace, { name: "tsig", key: "secret" })).resolves.toBe(`${TSIG}\n`);
  });

  it("reports a missing Secret as SecretNotFound, naming namespace, name and key", async () => {
    const err = await failure(reader.read(namespace, { name: "absent", key: "secret" }));
    expect(err.reason).toBe("SecretNotFound");
    expect(err.message).toBe(`Secret ${namespace}/absent not found (wanted its key "secret")`);
  });

  it("reports a missing key as SecretKeyNotFound, listing key names and never a value", async () => {
    const err = await failure(reader.read(namespace, { name: "tsig", key: "tsig-secret" }));
    expect(err.reason).toBe("SecretKeyNotFound");
    expect(err.message).toBe(`Secret ${namespace}/tsig has no key "tsig-secret" (it has "other", "secret")`);
    expect(err.message).not.toContain(TSIG);
  });

  it("sees a rotated value on the next read", async () => {
    await clients.core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: "rotating" }, stringData: { key: "first" } },
    });
    await expect(reader.read(namespace, { name: "rotating", key: "key" })).resolves.toBe("first");
    await clients.core.replaceNamespacedSecret({
      namespace,
      name: "rotating",
      body: { metadata: { name: "rotating" }, stringData: { key: "second" } },
    });
    await expect(reader.read(namespace, { name: "rotating", key: "key" })).resolves.toBe("second");
  });
});
