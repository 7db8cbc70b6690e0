/**
 * Reads a certificate Secret's extra outputs with the tools users check them with: `openssl` for
 * PKCS#12, DER and PEM, the JDK's `keytool` for JKS. Each reader returns what the tool found, so a
 * test compares it with `tls.crt` and `tls.key` rather than trusting our own parsers.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What `openssl pkcs12` read from a keystore. */
export interface Pkcs12Contents {
  /** `openssl pkcs12 -info` lines naming the MAC and the bag encryptions. */
  readonly info: string;
  /** The certificates inside, as PEM blocks, in the file's order. */
  readonly certificates: string[];
  /** The private key inside, as PEM. */
  readonly privateKey: string | undefined;
}

/** What `keytool` read from a JKS keystore (converted to PKCS#12 by keytool itself to reach the key). */
export interface JksContents {
  /** `keytool -list -v` output. */
  readonly listing: string;
  readonly certificates: string[];
  readonly privateKey: string | undefined;
}

/** Opens a PKCS#12 file with openssl (with the legacy provider, which RC2-40 needs). */
export function readPkcs12(file: Buffer, password: string): Pkcs12Contents {
  return withTempDir((dir) => {
    const path = join(dir, "keystore.p12");
    writeFileSync(path, file);
    const pass = `pass:${password}`;
    const info = run("openssl", ["pkcs12", "-info", "-noout", "-legacy", "-in", path, "-passin", pass]);
    const pem = run("openssl", ["pkcs12", "-nodes", "-legacy", "-in", path, "-passin", pass]);
    return {
      info,
      certificates: pemBlocks(pem, "CERTIFICATE"),
      privateKey: pemBlocks(pem, "PRIVATE KEY")[0],
    };
  });
}

/** Opens a JKS file with keytool; the key is reached by letting keytool convert the store to PKCS#12. */
export function readJks(file: Buffer, password: string): JksContents {
  return withTempDir((dir) => {
    const path = join(dir, "keystore.jks");
    writeFileSync(path, file);
    const listing = run("keytool", [
      "-list",
      "-v",
      "-storetype",
      "JKS",
      "-keystore",
      path,
      "-storepass",
      password,
    ]);
    const p12 = join(dir, "converted.p12");
    run("keytool", [
      "-importkeystore",
      "-noprompt",
      "-srckeystore",
      path,
      "-srcstoretype",
      "JKS",
      "-srcstorepass",
      password,
      "-destkeystore",
      p12,
      "-deststoretype",
      "PKCS12",
      "-deststorepass",
      password,
    ]);
    const pem = run("openssl", ["pkcs12", "-nodes", "-in", p12, "-passin", `pass:${password}`]);
    return {
      listing,
      certificates: pemBlocks(pem, "CERTIFICATE"),
      privateKey: pemBlocks(pem, "PRIVATE KEY")[0],
    };
  });
}

/** The public key (SPKI PEM) of a private key given as DER, as `openssl pkey -inform DER` reads it. */
export function publicKeyOfDer(der: Buffer): string {
  return withTempDir((dir) => {
    const path = join(dir, "key.der");
    writeFileSync(path, der);
    return run("openssl", ["pkey", "-inform", "DER", "-in", path, "-pubout"]);
  });
}

/** The public key (SPKI PEM) of a PEM private key, as openssl reads it. */
export function publicKeyOfPem(pem: string): string {
  return withTempDir((dir) => {
    const path = join(dir, "key.pem");
    writeFileSync(path, pem);
    return run("openssl", ["pkey", "-in", path, "-pubout"]);
  });
}

/**
 * The PEM blocks of one kind in a text, normalised (base64 on one line per block is not assumed:
 * the body is re-joined so that two encodings of the same bytes compare equal). `PRIVATE KEY`
 * matches every private key label (PKCS#8, RSA, EC).
 */
export function pemBlocks(text: string, kind: "CERTIFICATE" | "PRIVATE KEY"): string[] {
  const label = kind === "CERTIFICATE" ? "CERTIFICATE" : "(?:RSA |EC |ENCRYPTED )?PRIVATE KEY";
  const re = new RegExp(`-----BEGIN (${label})-----([\\s\\S]*?)-----END \\1-----`, "g");
  return [...text.matchAll(re)].map((m) => {
    const body = (m[2] ?? "").replace(/\s+/g, "");
    const lines = body.match(/.{1,64}/g) ?? [];
    return `-----BEGIN ${m[1] ?? ""}-----\n${lines.join("\n")}\n-----END ${m[1] ?? ""}-----\n`;
  });
}

/** Runs a tool; returns its stdout and stderr together (openssl writes `-info` to stderr). */
function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args[0] ?? ""} exited ${String(r.status)}: ${r.stderr}`);
  return r.stdout + r.stderr;
}

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "dns01-outputs-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
