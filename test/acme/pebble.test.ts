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
import { AcmeClient, dns01Challenge, dns01RecordName, type AcmeClientOptions } from "../../src/acme/index.js";
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
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
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
});
