import { TemporaryError } from "../../errors.js";
import { kubeSecretReader, memorySecretReader } from "../../solvers/credentials.js";
import { Kinds, type ClusterIssuerObj, type IssuerObj, type SecretObj } from "../kinds.js";
import { type ControllerDefinition, getCondition } from "../runtime/index.js";
import { ControllerTestRig, collectKeys, rejectionOf } from "../testing/index.js";
import { ScriptedAcme } from "../testing/fake-acme.js";
import { NS, issuer } from "../testing/fixtures.js";
import { AcmeAccounts, keyHash } from "./accounts.js";
import { issuerControllers } from "./controller.js";
import { AccountKeySecretWatch, hashData } from "./secret-watch.js";

const KEY_A = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
const KEY_B = "-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n";

interface World {
  rig: ControllerTestRig;
  ca: ScriptedAcme;
  def: ControllerDefinition;
  forgotten: string[];
  watch: AccountKeySecretWatch;
  key: string;
  stored(): IssuerObj | undefined;
  setKey(pem: string): void;
}

let current: World | undefined;
afterEach(async () => {
  await current?.rig.stop();
  current = undefined;
});

/** An Issuer not yet registered, with its account key Secret when `keyPem` is given. */
async function start(opts: { keyPem?: string; disableGeneration?: boolean } = {}): Promise<World> {
  const rig = new ControllerTestRig();
  const ca = new ScriptedAcme();
  const fresh = issuer();
  delete fresh.status;
  if (opts.disableGeneration === true) fresh.spec.acme.disableAccountKeyGeneration = true;
  rig.cluster.seed(Kinds.issuers, fresh);
  const secretName = fresh.spec.acme.privateKeySecretRef.name;
  if (opts.keyPem !== undefined) {
    rig.cluster.seed<SecretObj>(Kinds.secrets, {
      metadata: { name: secretName, namespace: NS },
      data: { "tls.key": Buffer.from(opts.keyPem).toString("base64") },
    });
  }
  const issuers = rig.informer<IssuerObj>(Kinds.issuers);
  const clusterIssuers = rig.informer<ClusterIssuerObj>(Kinds.clusterIssuers);
  const real = new AcmeAccounts({
    issuers,
    clusterIssuers,
    secrets: memorySecretReader(new Map()),
    clusterResourceNamespace: "dns01-operator",
    log: rig.log,
  });
  const forgotten: string[] = [];
  const watch = new AccountKeySecretWatch({ client: rig.client, log: rig.log });
  const [def] = issuerControllers({
    client: rig.client,
    accounts: {
      secretNamespace: (i) => real.secretNamespace(i),
      forget: (kind, ns, name) => {
        forgotten.push(`${kind}/${ns ?? ""}/${name}`);
      },
      build: (_issuer, keyPem) => ca.client(keyPem),
    },
    secrets: kubeSecretReader(rig.client),
    events: rig.events,
    issuers,
    clusterIssuers,
    keySecrets: {
      issuers: watch,
      clusterIssuers: new AccountKeySecretWatch({ client: rig.client, log: rig.log }),
    },
  });
  if (!def) throw new Error("no issuer controller");
  await rig.sync();
  const w: World = {
    rig,
    ca,
    def,
    forgotten,
    watch,
    key: `${NS}/ca`,
    stored: () => rig.cluster.get<IssuerObj>(Kinds.issuers, NS, "ca"),
    setKey(pem) {
      rig.cluster.modify<SecretObj>(Kinds.secrets, NS, secretName, (s) => {
        s.data = { "tls.key": Buffer.from(pem).toString("base64") };
      });
    },
  };
  current = w;
  return w;
}

const ready = (i: IssuerObj | undefined) => getCondition(i?.status?.conditions, "Ready");

describe("the Issuer controller", () => {
  it("registers the account for its key and reports Ready with the key's hash", async () => {
    const w = await start({ keyPem: KEY_A });
    const out = await w.rig.reconcile(w.def, w.key);
    expect(out).toMatchObject({ ok: true });
    expect(ready(w.stored())).toMatchObject({ status: "True", reason: "ACMEAccountRegistered" });
    expect(w.stored()?.status?.acme?.lastPrivateKeyHash).toBe(keyHash(KEY_A));
    expect(w.ca.count("ensureAccount")).toBe(1);
  });

  it("watches the account-key Secret: a rotated key enqueues the Issuer, drops its cached client and registers the new key", async () => {
    const w = await start({ keyPem: KEY_A });
    const keys = collectKeys(w.def);
    await w.rig.reconcile(w.def, w.key);
    const firstUri = w.stored()?.status?.acme?.uri;
    keys.take();
    // A no-op run costs no CA request.
    await w.rig.reconcile(w.def, w.key);
    expect(w.ca.count("ensureAccount")).toBe(1);

    w.setKey(KEY_B);
    await w.rig.sync();
    expect(keys.take()).toContain(w.key);
    keys.stop();
    await w.rig.reconcile(w.def, w.key);
    expect(w.forgotten).toEqual([`Issuer/${NS}/ca`]);
    expect(w.ca.count("ensureAccount")).toBe(2);
    expect(w.stored()?.status?.acme?.lastPrivateKeyHash).toBe(keyHash(KEY_B));
    expect(w.stored()?.status?.acme?.uri).not.toBe(firstUri);
    expect(ready(w.stored())?.status).toBe("True");
  });

  it("keeps no key material in the watch's cache, only a hash that changes with the data", () => {
    const secret: SecretObj = {
      metadata: { name: "k", namespace: NS, resourceVersion: "7" },
      data: { "tls.key": Buffer.from(KEY_A).toString("base64") },
    };
    const cached = hashData(secret);
    expect(JSON.stringify(cached)).not.toContain(Buffer.from(KEY_A).toString("base64"));
    expect(Object.keys(cached.data ?? {})).toEqual(["sha256"]);
    const rotated = hashData({ ...secret, data: { "tls.key": Buffer.from(KEY_B).toString("base64") } });
    expect(rotated.data?.["sha256"]).not.toBe(cached.data?.["sha256"]);
  });

  it.each([
    [
      "reading the Secret",
      { verb: "get" as const },
      { keyPem: KEY_A },
      `not allowed to get Secret ${NS}/ca-account-key: grant its ServiceAccount "get" on "secrets" in namespace "${NS}"`,
    ],
    [
      "creating a generated key",
      { verb: "create" as const },
      {},
      `not allowed to create Secret ${NS}/ca-account-key: grant its ServiceAccount "create" on "secrets" in namespace "${NS}"`,
    ],
  ])(
    "reports an RBAC 403 %s as forbidden, naming the missing permission, not as not found",
    async (_what, match, opts, message) => {
      const w = await start(opts);
      w.rig.cluster.failNext({ ...match, resource: "secrets" }, 403);
      const out = await w.rig.reconcile(w.def, w.key);
      expect(out.ok).toBe(false);
      const cond = ready(w.stored());
      expect(cond).toMatchObject({ status: "False", reason: "AccountKeySecretForbidden" });
      expect(cond?.message).toContain(message);
      expect(cond?.message).not.toMatch(/not found/i);
    },
  );

  it("reports a missing Secret as not found when key generation is disabled", async () => {
    const w = await start({ disableGeneration: true });
    await w.rig.reconcile(w.def, w.key);
    expect(ready(w.stored())).toMatchObject({ status: "False", reason: "SecretNotFound" });
  });

  it("generates a key when the Secret is missing and watches the new Secret", async () => {
    const w = await start();
    await w.rig.reconcile(w.def, w.key);
    expect(
      w.rig.cluster.get<SecretObj>(Kinds.secrets, NS, "ca-account-key")?.data?.["tls.key"],
    ).toBeDefined();
    expect(ready(w.stored())?.status).toBe("True");
  });
});

describe("AcmeAccounts.clientFor", () => {
  it("refuses to sign with a key other than the one the Issuer registered, until it re-registers", async () => {
    const rig = new ControllerTestRig();
    current = { rig } as World;
    const registered = issuer();
    if (registered.status?.acme) registered.status.acme.lastPrivateKeyHash = keyHash(KEY_A);
    const accounts = new AcmeAccounts({
      issuers: rig.informer<IssuerObj>(Kinds.issuers),
      clusterIssuers: rig.informer<ClusterIssuerObj>(Kinds.clusterIssuers),
      secrets: memorySecretReader(new Map([[`${NS}/ca-account-key`, { "tls.key": KEY_B }]])),
      clusterResourceNamespace: "dns01-operator",
      log: rig.log,
    });
    const err = await rejectionOf(accounts.clientFor(registered));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(String(err)).toContain("account key changed");
  });
});
