#!/usr/bin/env node
// A reference webhook for dns01-operator (docs/webhook.md), to copy and adapt. Plain Node.js
// (18 or later), no dependencies. It implements the contract with one of two backends:
//
//   WEBHOOK_BACKEND=exec      runs a lego "exec"-style command for each call:
//                               $WEBHOOK_EXEC present <fqdn> <value>
//                               $WEBHOOK_EXEC cleanup <fqdn> <value>
//                             so any script written for lego's exec provider (or one that calls
//                             acme.sh's dns_<provider>_add / _rm functions) works as it is.
//                             Exit 0 = done, exit 2 = refused for good (HTTP 400), other = try
//                             again later (HTTP 500). The request's zone, domain, config (JSON)
//                             and resourceNamespace are in WEBHOOK_ZONE, WEBHOOK_DOMAIN,
//                             WEBHOOK_CONFIG and WEBHOOK_RESOURCE_NAMESPACE.
//   WEBHOOK_BACKEND=nsupdate  sends an RFC 2136 update with BIND's nsupdate to NSUPDATE_SERVER
//                             (host or host:port), signed with the key in NSUPDATE_KEYFILE (a
//                             `key "name" { algorithm ...; secret "..."; };` file).
//
// Other settings: WEBHOOK_LISTEN (default 0.0.0.0:8080), WEBHOOK_TOKEN or WEBHOOK_TOKEN_FILE (the
// bearer token the operator must send; unset = no check, for a loopback sidecar only),
// WEBHOOK_TTL (TXT TTL for nsupdate, default 60), WEBHOOK_COMMAND_TIMEOUT_MS (default 20000).
// It prints its base URL on the first line of stdout, then one JSON line per request.
import { spawn } from "node:child_process";
import { timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

const API_VERSION = "dns01.io/webhook/v1";
const env = process.env;
const backend = env.WEBHOOK_BACKEND ?? "exec";
const token = env.WEBHOOK_TOKEN_FILE
  ? readFileSync(env.WEBHOOK_TOKEN_FILE, "utf8").trim()
  : env.WEBHOOK_TOKEN;
const ttl = Number(env.WEBHOOK_TTL ?? "60");
const commandTimeoutMs = Number(env.WEBHOOK_COMMAND_TIMEOUT_MS ?? "20000");

if (backend === "exec" && !env.WEBHOOK_EXEC) fail("WEBHOOK_EXEC must name the command to run");
if (backend === "nsupdate" && !env.NSUPDATE_SERVER) fail("NSUPDATE_SERVER must be host or host:port");
if (backend !== "exec" && backend !== "nsupdate") fail(`unknown WEBHOOK_BACKEND ${backend}`);

function fail(message) {
  process.stderr.write(`webhook: ${message}\n`);
  process.exit(1);
}

// Names and values end up in a command's input: accept only what DNS-01 can produce, so that
// nothing a caller sends can add a line to the nsupdate script.
const NAME = /^[A-Za-z0-9_*-]+(\.[A-Za-z0-9_-]+)*\.$/;
const VALUE = /^[A-Za-z0-9_-]{1,255}$/;

/** An answer of the contract: an HTTP status and `{message, reason?}`. */
class Answer extends Error {
  constructor(status, message, reason) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

function authorized(req) {
  if (!token) return true;
  const given = Buffer.from(req.headers.authorization ?? "");
  const wanted = Buffer.from(`Bearer ${token}`);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

function parse(body, action) {
  let r;
  try {
    r = JSON.parse(body);
  } catch {
    throw new Answer(400, "the body is not JSON", "InvalidConfiguration");
  }
  if (r?.apiVersion !== API_VERSION) {
    throw new Answer(400, `apiVersion must be ${API_VERSION}`, "InvalidConfiguration");
  }
  if (r.action !== action)
    throw new Answer(400, `action must be ${action} on this path`, "InvalidConfiguration");
  if (typeof r.fqdn !== "string" || !NAME.test(r.fqdn) || typeof r.zone !== "string" || !NAME.test(r.zone)) {
    throw new Answer(400, "fqdn and zone must be DNS names with a trailing dot", "InvalidConfiguration");
  }
  if (typeof r.value !== "string" || !VALUE.test(r.value)) {
    throw new Answer(400, "value must be a DNS-01 digest (base64url)", "InvalidConfiguration");
  }
  return r;
}

/** Runs a command; resolves with its exit code and the last line of its stderr. */
function run(command, args, input, extraEnv) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...env, ...extraEnv }, stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), commandTimeoutMs);
    child.stderr.on("data", (d) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: -1, message: err.message });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const last = stderr.trim().split("\n").pop() ?? "";
      resolve({ code: code ?? -1, message: signal ? `killed by ${signal} (timeout?)` : last });
    });
    child.stdin.on("error", () => undefined); // a command that ignores its input
    child.stdin.end(input);
  });
}

async function viaExec(r) {
  const { code, message } = await run(env.WEBHOOK_EXEC, [r.action, r.fqdn, r.value], "", {
    WEBHOOK_ZONE: r.zone,
    WEBHOOK_DOMAIN: r.domain ?? "",
    WEBHOOK_CONFIG: JSON.stringify(r.config ?? null),
    WEBHOOK_RESOURCE_NAMESPACE: r.resourceNamespace ?? "",
  });
  if (code === 0) return new Answer(200, `${r.action} done`);
  if (code === 2)
    return new Answer(400, message || "the command refused the request", "InvalidConfiguration");
  return new Answer(500, message || `the command exited with ${code}`);
}

async function viaNsupdate(r) {
  const [host, port = "53"] = env.NSUPDATE_SERVER.split(/:(?=\d+$)/);
  // Adding a record that exists and deleting one that does not are both no-ops in DNS UPDATE,
  // and "delete <name> TXT <value>" removes that one value only: idempotent, as the contract asks.
  const change =
    r.action === "present"
      ? `update add ${r.fqdn} ${ttl} IN TXT "${r.value}"`
      : `update delete ${r.fqdn} TXT "${r.value}"`;
  const script = `server ${host} ${port}\nzone ${r.zone}\n${change}\nsend\n`;
  const args = env.NSUPDATE_KEYFILE ? ["-k", env.NSUPDATE_KEYFILE] : [];
  const { code, message } = await run("nsupdate", args, script, {});
  if (code === 0) return new Answer(200, `${r.action} done`);
  if (/REFUSED|NOTAUTH|BADSIG|BADKEY|BADTIME/.test(message)) {
    return new Answer(403, `the DNS server refused the update: ${message}`, "InvalidCredentials");
  }
  if (/NOTZONE/.test(message))
    return new Answer(400, `${r.zone} is not a zone there: ${message}`, "ZoneNotFound");
  return new Answer(502, `nsupdate failed: ${message}`);
}

async function handle(req, body) {
  const action = req.url?.endsWith("/present")
    ? "present"
    : req.url?.endsWith("/cleanup")
      ? "cleanup"
      : undefined;
  if (action === undefined) return new Answer(404, "POST {url}/present or {url}/cleanup");
  if (req.method !== "POST") return new Answer(405, "use POST");
  if (!authorized(req)) return new Answer(401, "missing or wrong bearer token");
  const r = parse(body, action);
  return backend === "exec" ? viaExec(r) : viaNsupdate(r);
}

const server = createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    if (size <= 65536) chunks.push(c);
  });
  req.on("end", () => {
    const started = Date.now();
    handle(req, Buffer.concat(chunks).toString("utf8"))
      .catch((err) => (err instanceof Answer ? err : new Answer(500, String(err))))
      .then((a) => {
        res.writeHead(a.status, { "content-type": "application/json" });
        res.end(JSON.stringify(a.reason ? { message: a.message, reason: a.reason } : { message: a.message }));
        process.stdout.write(
          `${JSON.stringify({ path: req.url, status: a.status, message: a.message, ms: Date.now() - started })}\n`,
        );
      });
  });
});

const [listenHost, listenPort] = (env.WEBHOOK_LISTEN ?? "0.0.0.0:8080").split(/:(?=\d+$)/);
server.listen(Number(listenPort), listenHost.replace(/^\[|\]$/g, ""), () => {
  const { port } = server.address();
  process.stdout.write(`http://${listenHost === "0.0.0.0" ? "127.0.0.1" : listenHost}:${port}\n`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
