/**
 * The ACME layer against the rig's real Pebble (TLS verified with the rig's CA, 5 % of nonces
 * rejected on purpose) and BIND (TXT records published with nsupdate, TSIG-signed).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Resolver } from "node:dns/promises";
import { readFileSync } from "node:fs";
import https from "node:https";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import {
  AcmeClient,
  ariCertId,
  dns01Challenge,
  dns01RecordName,
  isReplacesRefused,
  type AcmeClientOptions,
  type AcmeOrder,
  type AcmeRequestRecord,
} from "../../src/acme/index.js";
import { TemporaryError, TerminalError } from "../../src/errors.js";
import {
  certificateInfo,
  createCsr,
  generatePrivateKey,
  publicKeyMatches,
  verifyChain,
} from "../../src/pki/index.js";
import { rigVar } from "../support/rig.js";

const ZONE = "example.test";
let caBundlePem: string;
let pebbleRoot: string;
const clients: AcmeClient[] = [];

async function newClient(extra: Partial<AcmeClientOptions> = {}): Promise<AcmeClient> {
  const c = new AcmeClient({
    directoryUrl: rigVar("ACME_DIRECTORY_URL"),
    accountKeyPem: (await generatePrivateKey({ algorithm: "ECDSA" })).pem,
    caBundlePem,
    ...extra,
  });
  clients.push(c);
  return c;
}

function httpsGet(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => {
          if ((res.statusCode ?? 0) >= 300) reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
          else resolve(body);
        });
      })
      .on("error", reject);
  });
}

/** POSTs JSON to Pebble's management API (trusting the rig's CA); returns the status and body. */
function httpsPostJson(url: string, body: unknown, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: "POST",
        ca,
        headers: { "Content-Type": "application/json", "User-Agent": "dns01-operator tests" },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => {
          resolve(`${res.statusCode ?? 0} ${text}`.trim());
        });
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

/** Adds or deletes one TXT value (never the whole RRset) with a TSIG-signed nsupdate. */
function nsupdate(op: "add" | "delete", fqdn: string, value: string): void {
  const [host, port] = rigVar("DNS_SERVER").split(":");
  const rr = op === "add" ? `update add ${fqdn} 60 TXT "${value}"` : `update delete ${fqdn} TXT "${value}"`;
  execFileSync("nsupdate", ["-y", `hmac-sha256:${rigVar("TSIG_KEY_NAME")}:${rigVar("TSIG_SECRET")}`], {
    input: `server ${host} ${port}\nzone ${ZONE}.\n${rr}\nsend\n`,
    stdio: ["pipe", "pipe", "pipe"],
  });
}

async function txtValues(fqdn: string): Promise<string[]> {
  const r = new Resolver();
  r.setServers([rigVar("DNS_SERVER")]);
  try {
    return (await r.resolveTxt(fqdn)).map((chunks) => chunks.join(""));
  } catch (err) {
    if (
      (err as NodeJS.ErrnoException).code === "ENODATA" ||
      (err as NodeJS.ErrnoException).code === "ENOTFOUND"
    ) {
      return [];
    }
    throw err;
  }
}

async function until<T>(
  what: string,
  read: () => Promise<T>,
  done: (v: T) => boolean,
  ms = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function caught(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

/**
 * One issuance the way the controllers drive it: order, publish both TXT values, accept, poll
 * (every 250 ms) until valid, remove the values, finalize, poll, download. Returns the chain.
 */
async function issueOnPebble(
  c: AcmeClient,
  names: readonly string[],
  opts: { replaces?: string } = {},
): Promise<{ pem: string; order: AcmeOrder }> {
  // Pebble picks a random profile for an order that names none; the window below assumes 90 days.
  const order = await c.newOrder(names, { profile: "default", ...opts });
  const published: { fqdn: string; value: string }[] = [];
  try {
    const authzs = await Promise.all(order.authorizations.map((u) => c.getAuthorization(u)));
    for (const authz of authzs) {
      if (authz.status === "valid") continue; // Pebble reuses some authorizations
      const challenge = dns01Challenge(authz)!;
      const value = await c.dns01Value(challenge);
      nsupdate("add", dns01RecordName(authz), value);
      published.push({ fqdn: dns01RecordName(authz), value });
    }
    for (const authz of authzs) {
      if (authz.status !== "valid") await c.acceptChallenge(dns01Challenge(authz)!);
    }
    for (const authz of authzs) {
      const done = await until(
        "the authorization",
        () => c.getAuthorization(authz.url),
        (a) => a.status !== "pending",
        30_000,
        250,
      );
      expect(done.status).toBe("valid");
    }
  } finally {
    for (const p of published) nsupdate("delete", p.fqdn, p.value);
  }
  const ready = await until(
    "the order",
    () => c.getOrder(order.url),
    (o) => o.status !== "pending",
    30_000,
    250,
  );
  const key = await generatePrivateKey({ algorithm: "ECDSA" });
  await c.finalize(ready, await createCsr({ key, dnsNames: [...names] }));
  const valid = await until(
    "the order",
    () => c.getOrder(order.url),
    (o) => o.status !== "processing",
    30_000,
    250,
  );
  expect(valid.status).toBe("valid");
  return { pem: (await c.downloadCertificate(valid)).pem, order: valid };
}

beforeAll(async () => {
  caBundlePem = readFileSync(rigVar("ACME_CA_FILE"), "utf8");
  pebbleRoot = await httpsGet(`${rigVar("PEBBLE_MANAGEMENT_URL")}/roots/0`, caBundlePem);
});

afterAll(() => {
  for (const c of clients) c.close();
});

describe("the ACME layer against Pebble", () => {
  it("registers an account and finds it again from its key alone", async () => {
    const accountKeyPem = (await generatePrivateKey({ algorithm: "RSA" })).pem;
    const c = await newClient({ accountKeyPem });
    const account = await c.ensureAccount({ email: "ops@example.test" });
    expect(account.status).toBe("valid");
    expect(account.url).toMatch(/^https:\/\//);
    expect(account.contact).toEqual(["mailto:ops@example.test"]);

    const sameKey = await newClient({ accountKeyPem });
    expect((await sameKey.ensureAccount({ onlyReturnExisting: true })).url).toBe(account.url);

    // A restarted controller that lost the account URL resumes with the key alone.
    const resumed = await newClient({ accountKeyPem });
    const order = await resumed.newOrder([`resume-${randomBytes(4).toString("hex")}.${ZONE}`]);
    expect(order.status).toBe("pending");
    expect(resumed.accountUrl).toBe(account.url);
  });

  it("registers an account bound to an external account, and refuses a wrong HMAC key", async () => {
    const kid = rigVar("PEBBLE_EAB_KID");
    const hmacKey = rigVar("PEBBLE_EAB_HMAC_KEY");
    const bound = await newClient({ externalAccountBinding: { kid, hmacKey } });
    expect((await bound.ensureAccount()).status).toBe("valid");

    const wrong = await newClient({
      externalAccountBinding: { kid, hmacKey: randomBytes(48).toString("base64url") },
    });
    const err = await caught(wrong.ensureAccount());
    expect(err).toBeInstanceOf(TerminalError);
    expect(err).toMatchObject({ reason: "Unauthorized" });
    expect(err.message).toMatch(/external account binding/i);
  });

  it("issues an apex and wildcard certificate step by step, with the TXT values published in BIND and removed after", async () => {
    const c = await newClient();
    await c.ensureAccount();
    const apex = `acme-${randomBytes(4).toString("hex")}.${ZONE}`;
    const names = [apex, `*.${apex}`];
    const order = await c.newOrder(names);
    expect(order.status).toBe("pending");
    expect(order.authorizations).toHaveLength(2);

    const published: { fqdn: string; value: string }[] = [];
    try {
      const authzs = await Promise.all(order.authorizations.map((u) => c.getAuthorization(u)));
      expect(authzs.map((a) => a.wildcard).sort()).toEqual([false, true]);
      for (const authz of authzs) {
        const challenge = dns01Challenge(authz);
        if (!challenge) throw new Error(`no dns-01 challenge for ${authz.identifier.value}`);
        const fqdn = dns01RecordName(authz);
        expect(fqdn).toBe(`_acme-challenge.${apex}.`);
        const value = await c.dns01Value(challenge);
        nsupdate("add", fqdn, value);
        published.push({ fqdn, value });
      }
      // Apex and wildcard share one name: both values must be there side by side.
      expect((await txtValues(`_acme-challenge.${apex}`)).sort()).toEqual(
        published.map((p) => p.value).sort(),
      );

      for (const authz of authzs) {
        const challenge = dns01Challenge(authz)!;
        const accepted = await c.acceptChallenge(challenge);
        expect(["pending", "processing", "valid"]).toContain(accepted.status);
      }
      for (const authz of authzs) {
        const done = await until(
          "the authorization",
          () => c.getAuthorization(authz.url),
          (a) => a.status !== "pending",
        );
        expect(done.status).toBe("valid");
      }
    } finally {
      for (const p of published) nsupdate("delete", p.fqdn, p.value);
    }
    expect(await txtValues(`_acme-challenge.${apex}`)).toEqual([]);

    const ready = await until(
      "the order",
      () => c.getOrder(order.url),
      (o) => o.status !== "pending",
    );
    expect(ready.status).toBe("ready");
    const certKey = await generatePrivateKey({ algorithm: "RSA", size: 2048 });
    const finalized = await c.finalize(ready, await createCsr({ key: certKey, dnsNames: names }));
    expect(["processing", "valid"]).toContain(finalized.status);
    const valid = await until(
      "the order",
      () => c.getOrder(order.url),
      (o) => o.status !== "processing",
    );
    expect(valid.status).toBe("valid");

    const { pem } = await c.downloadCertificate(valid);
    expect(verifyChain(pem, pebbleRoot)).toEqual({ valid: true });
    const info = certificateInfo(pem);
    expect([...info.dnsNames].sort()).toEqual([...names].sort());
    expect(publicKeyMatches(pem, certKey)).toBe(true);
    // The same chain does not verify against some other root.
    const otherRoot = readFileSync(rigVar("ACME_CA_FILE"), "utf8");
    expect(verifyChain(pem, otherRoot).valid).toBe(false);
  }, 90_000);

  it("gives a TerminalError carrying Pebble's detail for a name it refuses", async () => {
    const c = await newClient();
    await c.ensureAccount();
    const err = await caught(c.newOrder([`*.*.${ZONE}`]));
    expect(err).toBeInstanceOf(TerminalError);
    expect(err).toMatchObject({ reason: "Malformed" });
    expect(err.message).toContain(`too many wildcards "*.*.${ZONE}"`);

    const err2 = await caught(c.newOrder([`under_score.${ZONE}`]));
    expect(err2).toBeInstanceOf(TerminalError);
    expect(err2.message).toContain("illegal character");
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
    const c = await newClient({ directoryUrl: `https://127.0.0.1:${port}/dir` });
    const err = await caught(c.ensureAccount());
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it("never lets Pebble's rejected nonces reach the caller", async () => {
    const c = await newClient();
    await c.ensureAccount();
    const order = await c.newOrder([`nonce-${randomBytes(4).toString("hex")}.${ZONE}`]);
    // 150 signed requests: with 5 % of nonces rejected, some are (P(none) < 0.05 %).
    for (let i = 0; i < 150; i++) expect((await c.getOrder(order.url)).status).toBe("pending");
    expect(c.badNonceRetries).toBeGreaterThan(0);
  }, 60_000);

  it("reads an issued certificate's renewal window, sees Pebble move it, and orders the successor with replaces", async () => {
    const seen: AcmeRequestRecord[] = [];
    const c = await newClient({ onRequest: (r) => seen.push(r) });
    await c.ensureAccount();
    expect(await c.supportsRenewalInfo()).toBe(true);
    const apex = `ari-${randomBytes(4).toString("hex")}.${ZONE}`;
    const names = [apex, `*.${apex}`];
    const before = seen.length;
    const first = await issueOnPebble(c, names);
    const issuance = seen.slice(before);
    // The requests of one apex+wildcard issuance, polls included; the scale issue wants <= 14.
    const perAction = new Map<string, number>();
    for (const r of issuance) perAction.set(r.action, (perAction.get(r.action) ?? 0) + 1);
    process.stdout.write(
      `apex+wildcard issuance on Pebble: ${issuance.length} requests ${JSON.stringify(Object.fromEntries(perAction))}\n`,
    );
    // Fixed part: newOrder, 2 authorizations read, 2 accepts, finalize, download (nonce HEADs aside).
    expect(
      issuance.filter((r) => r.method !== "HEAD" && !r.action.startsWith("get_")).length,
    ).toBeLessThanOrEqual(6);
    expect(issuance.every((r) => r.status !== undefined && r.status < 500)).toBe(true);

    // Pebble's own window: two days around the point two thirds into the validity.
    const leaf = certificateInfo(first.pem);
    const info = await c.getRenewalInfo(first.pem);
    expect(info).toBeDefined();
    const ideal = leaf.notAfter.getTime() - (leaf.notAfter.getTime() + 1000 - leaf.notBefore.getTime()) / 3;
    expect(Math.abs((info?.suggestedWindow.start.getTime() ?? 0) - (ideal - 86_400_000))).toBeLessThan(5_000);
    expect(Math.abs((info?.suggestedWindow.end.getTime() ?? 0) - (ideal + 86_400_000))).toBeLessThan(5_000);
    expect(info?.retryAfterMs).toBe(6 * 3_600_000);
    const ariRequest = seen.at(-1);
    expect(ariRequest).toMatchObject({ action: "get_renewal_info", method: "GET", status: 200 });
    expect(ariRequest?.url.endsWith(`/${ariCertId(first.pem)}`)).toBe(true);

    // The management API moves the window to now (wfe.go SetRenewalInfo: the PEM and a literal answer).
    const start = new Date(Date.now() - 3_600_000);
    const end = new Date(Date.now() + 60_000);
    const answer = await httpsPostJson(
      `${rigVar("PEBBLE_MANAGEMENT_URL")}/set-renewal-info/`,
      {
        certificate: first.pem,
        ariResponse: JSON.stringify({
          suggestedWindow: { start: start.toISOString(), end: end.toISOString() },
          explanationURL: "https://pebble.example/why",
        }),
      },
      caBundlePem,
    );
    expect(answer).toBe("200");
    const moved = await c.getRenewalInfo(first.pem);
    expect(moved?.suggestedWindow).toEqual({ start, end });
    expect(moved?.explanationURL).toBe("https://pebble.example/why");

    // The successor names its predecessor; Pebble accepts and echoes it.
    const replaces = ariCertId(first.pem);
    const second = await issueOnPebble(c, names, { replaces });
    expect(second.order.replaces).toBe(replaces);
    expect(certificateInfo(second.pem).serialNumber).not.toBe(leaf.serialNumber);

    // Once the successor is finalized Pebble counts the predecessor replaced: a third order
    // naming it is refused in a way the Order controller recognises, and goes through without it.
    const refused = await caught(c.newOrder(names, { profile: "default", replaces }));
    expect(isReplacesRefused(refused)).toBe(true);
    expect(refused).toMatchObject({ reason: "AlreadyReplaced" });
    expect(refused.message).toContain("already has a replacement order");
    // Accepted without it: "pending", or "ready" when Pebble reuses the valid authorizations
    // (PEBBLE_AUTHZREUSE, 50 % by default).
    expect(["pending", "ready"]).toContain((await c.newOrder(names, { profile: "default" })).status);
  }, 120_000);
});
