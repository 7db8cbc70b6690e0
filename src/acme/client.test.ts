import { createHash, createPublicKey } from "node:crypto";
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "@jest/globals";
import { TemporaryError, TerminalError } from "../errors.js";
import { certificateInfo, verifyChain } from "../pki/certificates.js";
import { createCsr } from "../pki/csr.js";
import { generatePrivateKey, type PrivateKey } from "../pki/keys.js";
import { createTestCa, issueTestCertificate } from "../pki/testing.js";
import { ACME_ACTIONS, type AcmeRequestRecord } from "./actions.js";
import { ariCertId } from "./ari.js";
import { AcmeClient, alternateLinks, isReplacesRefused, type AcmeClientOptions } from "./client.js";
import { problemOf, problemToError } from "./problems.js";
import { dns01Challenge, type AcmeOrder } from "./resources.js";
import { FakeAcmeServer, fakeCertId, thumbprint, type FakeAcmeServerOptions } from "./testing.js";

const P = "urn:ietf:params:acme:error:";
const open: { close(): unknown }[] = [];

afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

async function fake(opts: FakeAcmeServerOptions = {}): Promise<FakeAcmeServer> {
  const server = await FakeAcmeServer.start(opts);
  open.push(server);
  return server;
}

function client(server: FakeAcmeServer, key: PrivateKey, extra: Partial<AcmeClientOptions> = {}): AcmeClient {
  const c = new AcmeClient({ directoryUrl: server.directoryUrl, accountKeyPem: key.pem, ...extra });
  open.push(c);
  return c;
}

async function caught(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await read();
    if (done(v)) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Drives an order through the client's steps the way the controllers will, polling in the test. */
async function solveAuthorizations(c: AcmeClient, order: AcmeOrder): Promise<void> {
  for (const url of order.authorizations) {
    const authz = await c.getAuthorization(url);
    const challenge = dns01Challenge(authz);
    if (!challenge) throw new Error("no dns-01 challenge");
    expect(await c.dns01Value(challenge)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const accepted = await c.acceptChallenge(challenge);
    expect(accepted.status).toBe("processing");
    await until(
      "the challenge",
      () => c.getChallenge(challenge.url),
      (ch) => ch.status === "valid",
    );
  }
}

/** Issues a certificate for the names end to end and returns its chain and the order. */
async function issue(
  c: AcmeClient,
  names: readonly string[],
  opts: { replaces?: string } = {},
): Promise<{ pem: string; order: AcmeOrder }> {
  const order = await c.newOrder(names, opts);
  await solveAuthorizations(c, order);
  await until(
    "the order",
    () => c.getOrder(order.url),
    (o) => o.status === "ready",
  );
  const key = await generatePrivateKey({ algorithm: "ECDSA" });
  await c.finalize(order, await createCsr({ key, dnsNames: [...names] }));
  const valid = await until(
    "the order",
    () => c.getOrder(order.url),
    (o) => o.status === "valid",
  );
  return { pem: (await c.downloadCertificate(valid)).pem, order: valid };
}

describe("AcmeClient against a fake CA", () => {
  it("drives an apex and wildcard order step by step to a chain under the CA's root", async () => {
    const server = await fake();
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    const c = client(server, key);
    const account = await c.ensureAccount({ email: "ops@example.test" });
    expect(account).toEqual({ url: c.accountUrl, status: "valid", contact: ["mailto:ops@example.test"] });

    const names = ["example.test", "*.example.test"];
    const order = await c.newOrder(names);
    expect(order.status).toBe("pending");
    expect(order.identifiers.map((i) => i.value)).toEqual(names);
    const authzs = await Promise.all(order.authorizations.map((u) => c.getAuthorization(u)));
    expect(authzs.map((a) => [a.identifier.value, a.wildcard])).toEqual([
      ["example.test", false],
      ["example.test", true],
    ]);

    await solveAuthorizations(c, order);
    expect((await c.getOrder(order.url)).status).toBe("ready");
    const certKey = await generatePrivateKey({ algorithm: "RSA" });
    const finalized = await c.finalize(order, await createCsr({ key: certKey, dnsNames: names }));
    expect(["processing", "valid"]).toContain(finalized.status);
    const valid = await until(
      "the order",
      () => c.getOrder(order.url),
      (o) => o.status === "valid",
    );
    const { pem, preferredChainFound } = await c.downloadCertificate(valid);
    expect(preferredChainFound).toBeUndefined();
    expect(verifyChain(pem, server.root.certPem)).toEqual({ valid: true });
    expect(certificateInfo(pem).dnsNames.sort()).toEqual([...names].sort());

    // After newAccount, every request is signed with the account URL as key ID, never the JWK.
    const signed = server.signedRequests;
    expect(signed[0]?.path).toBe("/new-acct");
    for (const r of signed.filter((x) => x.path !== "/new-acct")) {
      expect(r.protectedHeader?.["kid"]).toBe(account.url);
      expect(r.protectedHeader?.["jwk"]).toBeUndefined();
    }
  });

  it("signs with nonces from earlier answers instead of asking newNonce before every request", async () => {
    const server = await fake();
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    const c = client(server, key);
    await c.ensureAccount({ email: "ops@example.test" });
    const order = await c.newOrder(["a.example.test"]);
    await c.getOrder(order.url);
    await c.getOrder(order.url);
    const heads = server.requests.filter((r) => r.method === "HEAD").length;
    const posts = server.signedRequests.length;
    // At most the first signed request asks newNonce (the directory answer may carry one already);
    // every answer's Replay-Nonce serves the next.
    expect(posts).toBeGreaterThanOrEqual(4);
    expect(heads).toBeLessThanOrEqual(1);
  });

  it("computes the dns-01 TXT value as RFC 8555 section 8.4 defines it", async () => {
    const server = await fake();
    const key = await generatePrivateKey({ algorithm: "RSA" });
    const c = client(server, key);
    const jwk = createPublicKey(key.keyObject).export({ format: "jwk" });
    const token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
    const expected = createHash("sha256")
      .update(`${token}.${thumbprint(jwk)}`)
      .digest("base64url");
    expect(await c.dns01Value({ token })).toBe(expected);
  });

  it("absorbs a burst of badNonce answers, signing each retry with a fresh nonce", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    server.rejectNonces(4, "/new-order");
    const order = await c.newOrder(["burst.example.test"]);
    expect(order.status).toBe("pending");
    expect(c.badNonceRetries).toBe(4);
    const attempts = server.signedRequests.filter((r) => r.path === "/new-order");
    expect(attempts).toHaveLength(5);
    expect(new Set(attempts.map((r) => r.protectedHeader?.["nonce"])).size).toBe(5);
  });

  it("turns badNonce answers beyond the limit into a TemporaryError", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }), { maxBadNonceRetries: 2 });
    await c.ensureAccount();
    server.rejectNonces(10, "/new-order");
    const err = await caught(c.newOrder(["burst.example.test"]));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toMatch(/rejected 3 nonces in a row/);
  });

  it("reports a rate limit as a TemporaryError carrying Retry-After, without waiting for it", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    server.script("POST", "/new-order", {
      status: 429,
      headers: { "Retry-After": "3600" },
      body: { type: `${P}rateLimited`, detail: "too many new orders recently" },
    });
    const started = Date.now();
    const err = await caught(c.newOrder(["limited.example.test"]));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err).toMatchObject({ retryAfterMs: 3_600_000 });
    expect(err.message).toContain("too many new orders recently");
    expect(problemOf(err)?.type).toBe(`${P}rateLimited`);
  });

  it.each([
    [
      "serverInternal",
      { status: 500, body: { type: `${P}serverInternal`, detail: "database hiccup" } },
      /database hiccup/,
    ],
    ["a bare 503", { status: 503, body: "<html>down for maintenance</html>" }, /HTTP 503/],
    [
      "a malformed problem with a 5xx status",
      { status: 502, body: { type: `${P}malformed`, detail: "proxy" } },
      /proxy/,
    ],
  ])("treats %s as temporary", async (_what, response, message) => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    server.script("POST", "/new-order", response);
    const err = await caught(c.newOrder(["flaky.example.test"]));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toMatch(message);
  });

  it("maps a rejected identifier to a TerminalError with the problem's reason and the CA's detail", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const err = await caught(c.newOrder(["bad_name.example.test"]));
    expect(err).toBeInstanceOf(TerminalError);
    expect(err).toMatchObject({ reason: "RejectedIdentifier" });
    expect(err.message).toBe(
      'creating an order for bad_name.example.test: ACME server: cannot issue for "bad_name.example.test" [rejectedIdentifier]',
    );
  });

  it("puts each subproblem's identifier and detail into the message", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    server.script("POST", "/new-order", {
      status: 400,
      body: {
        type: `${P}compound`,
        detail: "several identifiers were refused",
        subproblems: [
          {
            type: `${P}caa`,
            detail: "CAA forbids issuance",
            identifier: { type: "dns", value: "a.example.test" },
          },
          { type: `${P}rejectedIdentifier`, identifier: { type: "dns", value: "b.example.test" } },
        ],
      },
    });
    const err = await caught(c.newOrder(["a.example.test", "b.example.test"]));
    expect(err).toMatchObject({ reason: "Compound" });
    expect(err.message).toContain(
      "several identifiers were refused; a.example.test: CAA forbids issuance; b.example.test: rejectedIdentifier [compound]",
    );
  });

  it("gives a TemporaryError when the CA cannot be reached", async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((r) => {
      probe.close(() => {
        r();
      });
    });
    const c = new AcmeClient({
      directoryUrl: `https://127.0.0.1:${port}/dir`,
      accountKeyPem: (await generatePrivateKey({ algorithm: "ECDSA" })).pem,
    });
    open.push(c);
    const err = await caught(c.ensureAccount());
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toMatch(/cannot reach the ACME server .*ECONNREFUSED/);
  });

  it("gives a TemporaryError when the CA does not answer in time", async () => {
    const server = await fake();
    server.script("GET", "/dir", { status: 200, hang: true });
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }), { timeoutMs: 200 });
    const started = Date.now();
    const err = await caught(c.ensureAccount());
    expect(Date.now() - started).toBeLessThan(3000);
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toMatch(/did not answer .* within 200 ms/);
  });

  it("finds its account URL with onlyReturnExisting when it was not given one", async () => {
    const server = await fake();
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    const first = await client(server, key).ensureAccount();
    const restarted = client(server, key);
    expect(restarted.accountUrl).toBeUndefined();
    const order = await restarted.newOrder(["resume.example.test"]);
    expect(order.status).toBe("pending");
    expect(restarted.accountUrl).toBe(first.url);
    const lookups = server.signedRequests.filter((r) => r.path === "/new-acct");
    expect(lookups.at(-1)?.payload).toMatchObject({ onlyReturnExisting: true });
  });

  it("refuses to use a key that has no account, with reason AccountDoesNotExist", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    const err = await caught(c.newOrder(["nobody.example.test"]));
    expect(err).toMatchObject({ reason: "AccountDoesNotExist" });
    const err2 = await caught(c.ensureAccount({ onlyReturnExisting: true }));
    expect(err2).toMatchObject({ reason: "AccountDoesNotExist" });
    expect(server.signedRequests.every((r) => r.path === "/new-acct")).toBe(true);
  });

  it("replaces a stale account URL by the CA's answer, and updates the contact", async () => {
    const server = await fake();
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    const real = await client(server, key).ensureAccount({ email: "a@example.test" });
    const c = client(server, key, { accountUrl: `${server.baseUrl}/acct/stale` });
    const again = await c.ensureAccount({ email: "b@example.test" });
    expect(again.url).toBe(real.url);
    expect(c.accountUrl).toBe(real.url);
    expect(again.contact).toEqual(["mailto:b@example.test"]);
  });

  it("binds a new account to an external account with an HMAC the CA verifies", async () => {
    const hmacKey = Buffer.from("a very secret hmac key of 32 byt").toString("base64url");
    const server = await fake({ eabKeys: { "kid-1": hmacKey } });
    const ok = client(server, await generatePrivateKey({ algorithm: "ECDSA" }), {
      externalAccountBinding: { kid: "kid-1", hmacKey },
    });
    expect((await ok.ensureAccount()).status).toBe("valid");

    const without = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    expect(await caught(without.ensureAccount())).toMatchObject({ reason: "ExternalAccountRequired" });

    const wrong = client(server, await generatePrivateKey({ algorithm: "ECDSA" }), {
      externalAccountBinding: {
        kid: "kid-1",
        hmacKey: Buffer.from("another key entirely, 32 bytes!!").toString("base64url"),
      },
    });
    expect(await caught(wrong.ensureAccount())).toMatchObject({ reason: "Unauthorized" });
  });

  it("resumes after a restart: finalizing or accepting again returns the current state", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const order = await c.newOrder(["again.example.test"]);
    const authz = await c.getAuthorization(order.authorizations[0]!);
    const challenge = dns01Challenge(authz)!;
    await c.acceptChallenge(challenge.url);
    const second = await c.acceptChallenge(challenge.url);
    expect(["processing", "valid"]).toContain(second.status);

    await until(
      "the order",
      () => c.getOrder(order.url),
      (o) => o.status === "ready",
    );
    const csr = await createCsr({
      key: await generatePrivateKey({ algorithm: "ECDSA" }),
      dnsNames: ["again.example.test"],
    });
    await c.finalize(order, csr);
    const twice = await c.finalize(order, csr);
    expect(["processing", "valid"]).toContain(twice.status);
  });

  it("refuses to finalize an order whose authorizations are pending, temporarily", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const order = await c.newOrder(["early.example.test"]);
    const csr = await createCsr({
      key: await generatePrivateKey({ algorithm: "ECDSA" }),
      dnsNames: ["early.example.test"],
    });
    const err = await caught(c.finalize(order, csr));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toMatch(/is pending, not ready to finalize/);
  });

  it("rejects a CSR whose names differ from the order with reason BadCSR", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const order = await c.newOrder(["csr.example.test"]);
    await solveAuthorizations(c, order);
    await until(
      "the order",
      () => c.getOrder(order.url),
      (o) => o.status === "ready",
    );
    const csr = await createCsr({
      key: await generatePrivateKey({ algorithm: "ECDSA" }),
      dnsNames: ["other.example.test"],
    });
    expect(await caught(c.finalize(order, csr))).toMatchObject({ reason: "BadCSR" });
  });

  it("shows why a challenge failed through its problem", async () => {
    const server = await fake({ challengeOutcome: "invalid" });
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const order = await c.newOrder(["wrong.example.test"]);
    const challenge = dns01Challenge(await c.getAuthorization(order.authorizations[0]!))!;
    await c.acceptChallenge(challenge);
    const failed = await c.getChallenge(challenge.url);
    expect(failed.status).toBe("invalid");
    const err = problemToError(failed.error!);
    expect(err).toBeInstanceOf(TerminalError);
    expect(err).toMatchObject({ reason: "IncorrectResponse" });
    expect(err.message).toContain("no TXT record with the expected value");
    expect((await c.getAuthorization(order.authorizations[0]!)).status).toBe("invalid");
  });

  it("picks the preferred chain by its topmost issuer, following the alternate links", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const order = await c.newOrder(["chain.example.test"]);
    await solveAuthorizations(c, order);
    await until(
      "the order",
      () => c.getOrder(order.url),
      (o) => o.status === "ready",
    );
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    await c.finalize(order, await createCsr({ key, dnsNames: ["chain.example.test"] }));
    const valid = await until(
      "the order",
      () => c.getOrder(order.url),
      (o) => o.status === "valid",
    );

    const y = await c.downloadCertificate(valid, "Fake Root Y");
    expect(y.preferredChainFound).toBe(true);
    expect(y.pem.endsWith(server.crossIntermediate.certPem)).toBe(true);
    expect(verifyChain(y.pem, server.altRoot.certPem)).toEqual({ valid: true });

    const x = await c.downloadCertificate(valid.certificate!, "Fake Root X");
    expect(x.preferredChainFound).toBe(true);
    expect(verifyChain(x.pem, server.root.certPem)).toEqual({ valid: true });

    const none = await c.downloadCertificate(valid, "Nobody's Root");
    expect(none).toEqual({ pem: x.pem, preferredChainFound: false });
  });

  it("says there is no certificate yet for an order that has none", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    const err = await caught(c.downloadCertificate({ status: "processing" }));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toMatch(/no certificate yet \(status processing\)/);
  });

  it("passes an ACME profile and the server's Retry-After polling hint through", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const order = await c.newOrder(["profile.example.test"], { profile: "shortlived" });
    expect(server.signedRequests.at(-1)?.payload).toMatchObject({ profile: "shortlived" });
    server.script("POST", new URL(order.url).pathname, {
      status: 200,
      headers: { "Retry-After": "7" },
      body: {
        status: "processing",
        identifiers: order.identifiers,
        authorizations: order.authorizations,
        finalize: order.finalize,
      },
    });
    const polled = await c.getOrder(order.url);
    expect([polled.status, polled.retryAfterMs]).toEqual(["processing", 7000]);
  });

  it("treats a malformed order from the CA as a temporary failure", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const order = await c.newOrder(["odd.example.test"]);
    server.script("POST", new URL(order.url).pathname, { status: 200, body: { status: "bogus" } });
    const err = await caught(c.getOrder(order.url));
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toMatch(/malformed order/);
  });

  it("refuses an Ed25519 account key, which ACME JWS here cannot use", async () => {
    const server = await fake();
    const ed = await generatePrivateKey({ algorithm: "Ed25519" });
    expect(() => client(server, ed)).toThrow(expect.objectContaining({ reason: "InvalidAccountKey" }));
  });
});

describe("AcmeClient account keys", () => {
  it.each<[string, { algorithm: "RSA" | "ECDSA"; size: number }]>([
    ["RSA 3072", { algorithm: "RSA", size: 3072 }],
    ["ECDSA P-384", { algorithm: "ECDSA", size: 384 }],
    ["ECDSA P-521", { algorithm: "ECDSA", size: 521 }],
  ])("issues with a %s account key, every request verified by the CA", async (_what, spec) => {
    const server = await fake();
    const c = client(server, await generatePrivateKey(spec));
    await c.ensureAccount();
    const { pem } = await issue(c, ["keys.example.test"]);
    expect(verifyChain(pem, server.root.certPem)).toEqual({ valid: true });
  });
});

describe("AcmeClient renewal information (ARI)", () => {
  it("reads an issued certificate's window and the CA's Retry-After with an unauthenticated GET", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const { pem } = await issue(c, ["ari.example.test"]);
    expect(await c.supportsRenewalInfo()).toBe(true);
    expect(ariCertId(pem)).toBe(fakeCertId(pem));

    const info = await c.getRenewalInfo(pem);
    const leaf = certificateInfo(pem);
    const ideal = leaf.notBefore.getTime() + ((leaf.notAfter.getTime() - leaf.notBefore.getTime()) * 2) / 3;
    expect(info?.suggestedWindow.start.getTime()).toBeCloseTo(ideal - 86_400_000, -4);
    expect(info?.suggestedWindow.end.getTime()).toBeCloseTo(ideal + 86_400_000, -4);
    expect(info?.retryAfterMs).toBe(21_600_000);
    expect(info?.explanationURL).toBeUndefined();
    const get = server.requests.at(-1);
    expect(get).toEqual({ method: "GET", path: `/renewal-info/${fakeCertId(pem)}` });
  });

  it("sees a window the CA moved, with its explanation URL", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const { pem } = await issue(c, ["moved.example.test"]);
    const start = new Date(Date.now() - 60_000);
    const end = new Date(Date.now() + 60_000);
    server.setRenewalInfo(
      pem,
      {
        suggestedWindow: { start: start.toISOString(), end: end.toISOString() },
        explanationURL: "https://ca.example/incident-42",
      },
      { "Retry-After": "3600" },
    );
    expect(await c.getRenewalInfo(pem)).toEqual({
      suggestedWindow: { start, end },
      explanationURL: "https://ca.example/incident-42",
      retryAfterMs: 3_600_000,
    });
  });

  it("answers undefined, asking nothing more, when the directory has no renewalInfo", async () => {
    const server = await fake({ noRenewalInfo: true });
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const { pem } = await issue(c, ["noari.example.test"]);
    const before = server.requests.length;
    expect(await c.supportsRenewalInfo()).toBe(false);
    expect(await c.getRenewalInfo(pem)).toBeUndefined();
    expect(server.requests.length).toBe(before);
  });

  it.each<
    [string, { status: number; headers?: Record<string, string>; body?: unknown }, number | undefined, RegExp]
  >([
    [
      "a 503 with Retry-After",
      { status: 503, headers: { "Retry-After": "120" }, body: "busy" },
      120_000,
      /HTTP 503/,
    ],
    [
      "a rate limit",
      {
        status: 429,
        headers: { "Retry-After": "30" },
        body: { type: `${P}rateLimited`, detail: "slow down on renewalInfo" },
      },
      30_000,
      /slow down on renewalInfo/,
    ],
    [
      "a 404 for a certificate the CA does not know",
      { status: 404, body: { type: `${P}malformed`, detail: "no such certificate" } },
      undefined,
      /no such certificate/,
    ],
    [
      "a malformed window",
      { status: 200, headers: { "Retry-After": "60" }, body: { suggestedWindow: { start: "x" } } },
      60_000,
      /malformed renewal information/,
    ],
  ])("turns %s into a TemporaryError with the retry time", async (_what, response, retryAfterMs, message) => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const { pem } = await issue(c, ["flaky-ari.example.test"]);
    server.script("GET", "/renewal-info/", response);
    const err = await caught(c.getRenewalInfo(pem));
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as TemporaryError).retryAfterMs).toBe(retryAfterMs);
    expect(err.message).toMatch(message);
    expect(err.message).toContain(`fetching renewal information for certificate ${ariCertId(pem)}`);
  });
});

describe("AcmeClient orders that replace a certificate", () => {
  it("sends replaces, gets an order that carries it, and the CA counts the predecessor replaced", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const first = await issue(c, ["renew.example.test"]);
    const replaces = ariCertId(first.pem);
    const second = await issue(c, ["renew.example.test"], { replaces });
    expect(second.order.replaces).toBe(replaces);
    const newOrders = server.signedRequests.filter((r) => r.path === "/new-order");
    expect(newOrders.at(-1)?.payload).toMatchObject({ replaces });
    expect(newOrders[0]?.payload).not.toHaveProperty("replaces");
    expect(server.replacedCertIds).toEqual([replaces]);
  });

  it("recognises every way a CA refuses replaces, and nothing else", async () => {
    const server = await fake();
    const key = await generatePrivateKey({ algorithm: "ECDSA" });
    const c = client(server, key);
    await c.ensureAccount();
    const first = await issue(c, ["refuse.example.test"]);
    const replaces = ariCertId(first.pem);
    await issue(c, ["refuse.example.test"], { replaces });

    const already = await caught(c.newOrder(["refuse.example.test"], { replaces }));
    expect(isReplacesRefused(already)).toBe(true);
    expect(already).toBeInstanceOf(TerminalError);
    expect(already).toMatchObject({ reason: "AlreadyReplaced", replaces });
    expect(already.message).toMatch(
      /^creating an order for refuse\.example\.test: the CA refused to let this order replace certificate .*already has a replacement order \[alreadyReplaced\]$/,
    );

    const unknown = await caught(c.newOrder(["refuse.example.test"], { replaces: "AAAA.BBBB" }));
    expect(isReplacesRefused(unknown)).toBe(true);
    const garbage = await caught(c.newOrder(["refuse.example.test"], { replaces: "not-a-cert-id" }));
    expect(isReplacesRefused(garbage)).toBe(true);

    const other = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await other.ensureAccount();
    const second = await issue(c, ["refuse2.example.test"]);
    const foreign = await caught(
      other.newOrder(["refuse2.example.test"], { replaces: ariCertId(second.pem) }),
    );
    expect(isReplacesRefused(foreign)).toBe(true);

    // Not a refusal of replaces: a rate limit on such an order, or a refusal without replaces.
    server.rateLimit("POST", "/new-order", 60);
    const limited = await caught(c.newOrder(["refuse2.example.test"], { replaces: ariCertId(second.pem) }));
    expect(isReplacesRefused(limited)).toBe(false);
    expect(limited).toBeInstanceOf(TemporaryError);
    expect(limited).toMatchObject({ retryAfterMs: 60_000 });
    const plain = await caught(c.newOrder(["bad_name.example.test"]));
    expect(isReplacesRefused(plain)).toBe(false);

    // Retrying without replaces, as the Order controller does, works.
    expect((await c.newOrder(["refuse.example.test"])).status).toBe("pending");
  });
});

describe("AcmeClient request observer", () => {
  it("reports every HTTP request once, with cert-manager's action names, for an apex and wildcard issuance", async () => {
    const server = await fake();
    const seen: AcmeRequestRecord[] = [];
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }), {
      onRequest: (r) => seen.push(r),
    });
    await c.ensureAccount({ email: "ops@example.test" });
    const accountRequests = seen.length;
    const names = ["count.example.test", "*.count.example.test"];
    const order = await c.newOrder(names);
    for (const url of order.authorizations) {
      const challenge = dns01Challenge(await c.getAuthorization(url))!;
      await c.dns01Value(challenge);
      await c.acceptChallenge(challenge);
      // The fake validates on the first read after the answer, as a CA that is quick would.
      expect((await c.getChallenge(challenge.url)).status).toBe("valid");
    }
    const ready = await c.getOrder(order.url);
    expect(ready.status).toBe("ready");
    await c.finalize(
      ready,
      await createCsr({ key: await generatePrivateKey({ algorithm: "ECDSA" }), dnsNames: names }),
    );
    const valid = await until(
      "the order",
      () => c.getOrder(order.url),
      (o) => o.status === "valid",
    );
    await c.downloadCertificate(valid);

    expect(seen).toHaveLength(server.requests.length);
    expect(seen.map((r) => r.method)).toEqual(server.requests.map((r) => r.method));
    for (const r of seen) {
      expect(ACME_ACTIONS).toContain(r.action);
      expect(r.status).toBeGreaterThanOrEqual(200);
      expect(r.durationSeconds).toBeGreaterThanOrEqual(0);
      expect(r.url.startsWith(server.baseUrl)).toBe(true);
    }
    expect(seen.slice(0, 2).map((r) => [r.action, r.method])).toEqual([
      ["discover", "GET"],
      ["register_account", "POST"],
    ]);
    const byAction = (a: string) => seen.filter((r) => r.action === a && r.method === "POST").length;
    expect([
      byAction("authorize_order"),
      byAction("get_authorization"),
      byAction("accept_challenge"),
      byAction("get_challenge"),
      byAction("create_order_cert"),
      byAction("fetch_cert"),
    ]).toEqual([1, 2, 2, 2, 1, 1]);
    // No newNonce at all: the fake, like Boulder, puts a Replay-Nonce on every answer (the
    // directory's included), and each one serves the next request.
    expect(seen.filter((r) => r.method === "HEAD")).toHaveLength(0);
    // The issuance itself (account registration aside): newOrder, 2 authorizations, 2 accepts,
    // 2 challenge reads, order reads until valid, finalize, download.
    const issuance = seen.length - accountRequests;
    expect(issuance).toBeLessThanOrEqual(14);
  });

  it("reports a request that got no answer with an undefined status", async () => {
    const server = await fake();
    server.script("GET", "/dir", { status: 200, hang: true });
    const seen: AcmeRequestRecord[] = [];
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }), {
      timeoutMs: 100,
      onRequest: (r) => seen.push(r),
    });
    await caught(c.ensureAccount());
    expect(seen).toEqual([
      {
        action: "discover",
        method: "GET",
        url: server.directoryUrl,
        status: undefined,
        durationSeconds: expect.any(Number),
      },
    ]);
  });

  it("keeps working when the observer throws", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }), {
      onRequest: () => {
        throw new Error("observer bug");
      },
    });
    expect((await c.ensureAccount()).status).toBe("valid");
  });

  it("retries a badNonce with the nonce that answer carried, without a newNonce round trip", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const order = await c.newOrder(["nonce.example.test"]);
    server.rejectNonces(1, "/order/");
    expect((await c.getOrder(order.url)).status).toBe("pending");
    const [rejected, retried] = server.signedRequests.slice(-2);
    expect(rejected?.protectedHeader?.["nonce"]).not.toBe(retried?.protectedHeader?.["nonce"]);
    expect(c.badNonceRetries).toBe(1);
    expect(server.requests.filter((r) => r.method === "HEAD")).toHaveLength(0);
  });

  it("signs many requests at once against a CA that hands out nonces only from newNonce", async () => {
    const server = await fake({ nonceOnlyFromNewNonce: true });
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const order = await c.newOrder(["many.example.test"]);
    const orders = await Promise.all(Array.from({ length: 12 }, () => c.getOrder(order.url)));
    expect(orders.every((o) => o.status === "pending")).toBe(true);
    const heads = server.requests.filter((r) => r.method === "HEAD").length;
    expect(heads).toBe(server.signedRequests.length);
  });

  it("drops every pooled nonce after a badNonce, so a restarted CA costs one retry, not one per nonce", async () => {
    const server = await fake();
    const c = client(server, await generatePrivateKey({ algorithm: "ECDSA" }));
    await c.ensureAccount();
    const order = await c.newOrder(["restart.example.test"]);
    // Eight requests at once pool eight nonces from their answers.
    await Promise.all(Array.from({ length: 8 }, () => c.getOrder(order.url)));
    server.forgetNonces();
    const before = c.badNonceRetries;
    expect((await c.getOrder(order.url)).status).toBe("pending");
    // Three at once would each take a stale pooled nonce, had the first badNonce not dropped them.
    await Promise.all(Array.from({ length: 3 }, () => c.getOrder(order.url)));
    expect(c.badNonceRetries - before).toBe(1);
  });
});

describe("AcmeClient TLS trust", () => {
  it("trusts exactly its own CA bundle, skips verification only when told, and leaves others alone", async () => {
    const ca = await createTestCa({ commonName: "Fake HTTPS CA" });
    const serverCert = await issueTestCertificate({
      issuer: ca,
      commonName: "127.0.0.1",
      ipAddresses: ["127.0.0.1"],
    });
    const server = await fake({ tls: { certPem: serverCert.certPem, keyPem: serverCert.key.pem } });
    const key = () => generatePrivateKey({ algorithm: "ECDSA" });

    expect((await client(server, await key(), { caBundlePem: ca.certPem }).ensureAccount()).status).toBe(
      "valid",
    );

    const untrusted = await caught(client(server, await key()).ensureAccount());
    expect(untrusted).toBeInstanceOf(TemporaryError);
    expect(untrusted.message).toMatch(/certificate/);

    const otherCa = await createTestCa({ commonName: "Someone Else" });
    const wrongBundle = await caught(
      client(server, await key(), { caBundlePem: otherCa.certPem }).ensureAccount(),
    );
    expect(wrongBundle).toBeInstanceOf(TemporaryError);

    expect((await client(server, await key(), { skipTlsVerify: true }).ensureAccount()).status).toBe("valid");
    // Skipping verification for one client did not make a later one trusting.
    expect(await caught(client(server, await key()).ensureAccount())).toBeInstanceOf(TemporaryError);
  });
});

describe("alternateLinks", () => {
  it.each<[string | undefined, string[]]>([
    [undefined, []],
    ['<https://ca/cert/1/alt/0>;rel="alternate"', ["https://ca/cert/1/alt/0"]],
    [
      '<https://ca/dir>;rel="index", <https://ca/a1>; rel="alternate", <https://ca/a2>;rel=alternate',
      ["https://ca/a1", "https://ca/a2"],
    ],
    ['<https://ca/up>;rel="up"', []],
  ])("reads %p as %p", (header, urls) => {
    expect(alternateLinks(header)).toEqual(urls);
  });
});
