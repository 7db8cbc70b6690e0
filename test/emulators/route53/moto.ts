/**
 * moto (PyPI) in server mode: the Route 53 (and IAM, STS) emulator the Route 53 tests run against.
 * Each test file starts its own on a free port and stops it in afterAll; `hack/install-deps.sh`
 * installs it. Helpers here talk to moto directly (never through the counting proxy): to create
 * hosted zones, IAM users with access keys, and to read what a record set holds.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createServer } from "node:net";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import {
  CreateHostedZoneCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
} from "@aws-sdk/client-route-53";
import { canonicalRoute53Name, decodeTxt } from "../../../src/solvers/route53/names.js";

/** A running moto server. */
export interface MotoServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Forgets every zone, record, user and key (`POST /moto-api/reset`). */
  reset(): Promise<void>;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (free when asked; moto binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => {
        resolve(port);
      });
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else
      child.once("exit", () => {
        resolve();
      });
  });
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The moto_server to run: $MOTO_SERVER, else the one on PATH, else the one hack/install-deps.sh
 * installs into the cache ($DNS01_CACHE/bin, default ~/.cache/dns01-operator/bin).
 */
export function motoServerBinary(): string {
  const explicit = process.env["MOTO_SERVER"];
  if (explicit !== undefined && explicit !== "") return explicit;
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    if (dir !== "" && executable(join(dir, "moto_server"))) return join(dir, "moto_server");
  }
  const cached = join(
    process.env["DNS01_CACHE"] ?? join(homedir(), ".cache", "dns01-operator"),
    "bin",
    "moto_server",
  );
  return executable(cached) ? cached : "moto_server";
}

/** Starts `moto_server -H 127.0.0.1 -p <free port>` and waits until it answers (at most 30 s). */
export async function startMoto(): Promise<MotoServer> {
  const bin = motoServerBinary();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // Through a small shell watchdog that stops moto when this process goes away, even by SIGKILL
  // (a killed test run must not leave moto behind); SIGTERM to the shell stops moto at once.
  const watchdog = [
    '"$0" -H 127.0.0.1 -p "$1" & m=$!',
    "trap 'kill $m 2>/dev/null; wait $m; exit 0' TERM INT",
    'while kill -0 "$2" 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done',
    "kill $m 2>/dev/null; wait $m",
  ].join("\n");
  const child = spawn("sh", ["-c", watchdog, bin, String(port), String(process.pid)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-4000);
  });
  let failed: Error | undefined;
  child.once("error", (err) => {
    failed = new Error(`cannot start ${bin} (run hack/install-deps.sh to install moto): ${err.message}`);
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited(child);
    clearTimeout(timer);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (failed) throw failed;
    if (child.exitCode !== null) {
      throw new Error(
        `${bin} exited with ${child.exitCode} (is moto installed? hack/install-deps.sh): ${stderr}`,
      );
    }
    try {
      const res = await fetch(`${url}/moto-api/reset`, { method: "POST" });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${bin} did not answer on ${url} within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async reset() {
      const res = await fetch(`${url}/moto-api/reset`, { method: "POST" });
      if (!res.ok) throw new Error(`moto reset: HTTP ${res.status}`);
    },
    stop,
  };
}

/** Access keys for moto: any pair works while moto does not check auth. */
export interface TestKeys {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** The keys used for setup calls while moto's auth is off. */
export const SETUP_KEYS: TestKeys = { accessKeyId: "AKIASETUPSETUPSETUP0", secretAccessKey: "setup" };

/** A Route 53 client straight at moto, for setup and for reading what tests wrote. */
export function motoRoute53(url: string, keys: TestKeys = SETUP_KEYS): Route53Client {
  return new Route53Client({ endpoint: url, region: "us-east-1", credentials: keys, maxAttempts: 1 });
}

/** Creates a hosted zone; returns its ID without the `/hostedzone/` prefix. */
export async function createHostedZone(
  url: string,
  name: string,
  opts: { privateZone?: boolean; keys?: TestKeys } = {},
): Promise<string> {
  const out = await motoRoute53(url, opts.keys).send(
    new CreateHostedZoneCommand({
      Name: name,
      CallerReference: `${name}-${Date.now()}-${Math.random()}`,
      ...(opts.privateZone === true
        ? {
            VPC: { VPCRegion: "us-east-1", VPCId: "vpc-12345678" },
            HostedZoneConfig: { PrivateZone: true, Comment: "private" },
          }
        : {}),
    }),
  );
  const id = out.HostedZone?.Id;
  if (id === undefined) throw new Error("moto returned no hosted zone ID");
  return id.replace(/^\/hostedzone\//, "");
}

/** The TXT values at `name` in a zone, decoded, as moto holds them. */
export async function txtValues(
  url: string,
  zoneId: string,
  name: string,
  keys?: TestKeys,
): Promise<string[]> {
  const out = await motoRoute53(url, keys).send(
    new ListResourceRecordSetsCommand({
      HostedZoneId: zoneId,
      StartRecordName: name,
      StartRecordType: "TXT",
      MaxItems: 1,
    }),
  );
  const set = out.ResourceRecordSets?.[0];
  if (!set?.Name || set.Type !== "TXT" || canonicalRoute53Name(set.Name) !== canonicalRoute53Name(name)) {
    return [];
  }
  return (set.ResourceRecords ?? []).map((r) => decodeTxt(r.Value ?? ""));
}

/** The TTL of the TXT set at `name`, or undefined. */
export async function txtTtl(url: string, zoneId: string, name: string): Promise<number | undefined> {
  const out = await motoRoute53(url).send(
    new ListResourceRecordSetsCommand({
      HostedZoneId: zoneId,
      StartRecordName: name,
      StartRecordType: "TXT",
      MaxItems: 1,
    }),
  );
  const set = out.ResourceRecordSets?.[0];
  return set?.Name !== undefined && canonicalRoute53Name(set.Name) === canonicalRoute53Name(name)
    ? set.TTL
    : undefined;
}

/**
 * One IAM Query API call to moto. moto routes a request by the service in the Authorization
 * header's credential scope and does not check the signature while its auth is off, so setup
 * needs no IAM client.
 */
async function iam(url: string, params: Record<string, string>): Promise<string> {
  const res = await fetch(`${url}/`, {
    method: "POST",
    body: new URLSearchParams({ ...params, Version: "2010-05-08" }).toString(),
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `AWS4-HMAC-SHA256 Credential=${SETUP_KEYS.accessKeyId}/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0`,
    },
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`moto IAM ${params["Action"] ?? ""}: HTTP ${res.status}: ${text}`);
  return text;
}

function xmlField(xml: string, field: string): string {
  const m = new RegExp(`<${field}>([^<]*)</${field}>`).exec(xml);
  if (!m?.[1]) throw new Error(`no <${field}> in ${xml.slice(0, 200)}`);
  return m[1];
}

/**
 * Creates an IAM user in moto with an inline policy (none: the user may do nothing) and an
 * access key. Call before {@link enforceAuth}.
 */
export async function createIamUser(
  url: string,
  name: string,
  policy?: object,
): Promise<TestKeys & { arn: string }> {
  const user = await iam(url, { Action: "CreateUser", UserName: name });
  if (policy !== undefined) {
    await iam(url, {
      Action: "PutUserPolicy",
      UserName: name,
      PolicyName: `${name}-policy`,
      PolicyDocument: JSON.stringify(policy),
    });
  }
  const key = await iam(url, { Action: "CreateAccessKey", UserName: name });
  return {
    accessKeyId: xmlField(key, "AccessKeyId"),
    secretAccessKey: xmlField(key, "SecretAccessKey"),
    arn: xmlField(user, "Arn"),
  };
}

/** Creates an IAM role that anyone in the account may assume, with an inline policy; returns its ARN. */
export async function createIamRole(url: string, name: string, policy: object): Promise<string> {
  const trust = {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { AWS: "*" }, Action: "sts:AssumeRole" }],
  };
  const role = await iam(url, {
    Action: "CreateRole",
    RoleName: name,
    AssumeRolePolicyDocument: JSON.stringify(trust),
  });
  await iam(url, {
    Action: "PutRolePolicy",
    RoleName: name,
    PolicyName: `${name}-policy`,
    PolicyDocument: JSON.stringify(policy),
  });
  return xmlField(role, "Arn");
}

/**
 * Turns moto's IAM checks on (every later request must be signed by a known key whose policies
 * allow the action) or off. The switch is process-wide in moto, so tests that use it start their
 * own moto.
 */
export async function enforceAuth(url: string, on: boolean): Promise<void> {
  const res = await fetch(`${url}/moto-api/reset-auth`, {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: on ? "0" : "inf",
  });
  if (!res.ok) throw new Error(`moto reset-auth: HTTP ${res.status}`);
}

/** An IAM policy allowing every Route 53 action. */
export const ROUTE53_FULL_ACCESS = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: ["route53:*"], Resource: "*" }],
};
