/**
 * The `rfc2136` DNS-01 provider: adds and removes one TXT value with TSIG-signed dynamic updates
 * (RFC 2136, RFC 8945), configured with cert-manager's fields.
 */
import { randomInt } from "node:crypto";
import { TemporaryError, TerminalError } from "../../errors.js";
import { formatServer, parseServer, type ServerAddress } from "../../dns/server.js";
import { exchange, type DnsProtocol, type ExchangeResult } from "../../dns/transport.js";
import {
  decodeTsigSecret,
  parseTsigAlgorithm,
  signMessage,
  TSIG_ALGORITHMS,
  TsigErrorCode,
  tsigErrorName,
  verifyMessage,
  type TsigKey,
} from "../../dns/tsig.js";
import { Rcode, rcodeName, validateName } from "../../dns/wire.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../types.js";
import { encodeTxtUpdate, type UpdateAction } from "./update.js";

/**
 * The provider's settings: cert-manager's `rfc2136` block, with the TSIG secret already read from
 * the Secret that `tsigSecretSecretRef` names (its value as stored: the base64 text of the key).
 */
export interface Rfc2136Config {
  /** `host:port`, `[v6]:port`; the port defaults to 53. */
  readonly nameserver: string;
  readonly tsigKeyName?: string | undefined;
  /** HMACMD5 (default, as in cert-manager), HMACSHA1, HMACSHA256 or HMACSHA512; case-insensitive. */
  readonly tsigAlgorithm?: string | undefined;
  /** Base64 text, as `tsig-keygen` prints it. */
  readonly tsigSecret?: string | undefined;
  /** "UDP" (default; retried over TCP when the answer is truncated) or "TCP". */
  readonly protocol?: string | undefined;
  /** TTL of the TXT records it adds, in seconds. Default 60. */
  readonly ttl?: number | undefined;
  /** Per-attempt timeout in ms. Default 5000. */
  readonly timeoutMs?: number | undefined;
  /** UDP retransmissions after the first try. Default 2. */
  readonly retries?: number | undefined;
}

/** TTL of added records unless configured otherwise: short, since they live for minutes. */
export const DEFAULT_TXT_TTL = 60;

interface Settings {
  readonly server: ServerAddress;
  readonly serverLabel: string;
  readonly key: TsigKey | undefined;
  readonly protocol: DnsProtocol;
  readonly ttl: number;
  readonly timeoutMs: number | undefined;
  readonly retries: number | undefined;
}

function invalid(message: string, cause?: unknown): TerminalError {
  return new TerminalError(
    `rfc2136: ${message}`,
    "InvalidConfiguration",
    cause === undefined ? {} : { cause },
  );
}

function parseConfig(config: Rfc2136Config): Settings {
  let server: ServerAddress;
  try {
    server = parseServer(config.nameserver);
  } catch (err) {
    throw invalid(`nameserver: ${(err as Error).message}`, err);
  }
  const algorithmText = config.tsigAlgorithm?.trim() ?? "";
  const algorithm = algorithmText === "" ? "HMACMD5" : parseTsigAlgorithm(algorithmText);
  if (algorithm === undefined) {
    throw invalid(
      `tsigAlgorithm "${algorithmText}" is not supported: use one of ${Object.keys(TSIG_ALGORITHMS).join(", ")}`,
    );
  }
  const keyName = config.tsigKeyName?.trim() ?? "";
  const secretText = config.tsigSecret ?? "";
  let key: TsigKey | undefined;
  if (keyName !== "" || secretText.trim() !== "") {
    if (keyName === "") throw invalid("a TSIG secret is set but tsigKeyName is empty");
    if (secretText.trim() === "")
      throw invalid(`tsigKeyName "${keyName}" is set but its TSIG secret is empty`);
    let name: string;
    try {
      name = validateName(keyName);
    } catch (err) {
      throw invalid(`tsigKeyName: ${(err as Error).message}`, err);
    }
    let secret: Buffer;
    try {
      secret = decodeTsigSecret(secretText);
    } catch (err) {
      throw invalid((err as Error).message, err);
    }
    key = { name, algorithm, secret };
  }
  const protocolText = config.protocol?.trim() ?? "";
  if (protocolText !== "" && protocolText !== "UDP" && protocolText !== "TCP") {
    throw invalid(`protocol "${protocolText}" is not supported: use UDP or TCP`);
  }
  const ttl = config.ttl ?? DEFAULT_TXT_TTL;
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 2147483647) throw invalid(`ttl ${ttl} is not a valid TTL`);
  return {
    server,
    serverLabel: formatServer(server),
    key,
    protocol: protocolText === "TCP" ? "tcp" : "udp",
    ttl,
    timeoutMs: config.timeoutMs,
    retries: config.retries,
  };
}

/** What the server's answer means for the caller; throws the matching error when it is a failure. */
function interpretAnswer(
  s: Settings,
  action: UpdateAction,
  zone: string,
  fqdn: string,
  response: Buffer,
  requestMac: Buffer | undefined,
): void {
  const rcode = response.readUInt16BE(2) & 0x0f;
  const where = `${s.serverLabel} (zone ${zone}, ${action} TXT at ${fqdn})`;
  if (s.key !== undefined && requestMac !== undefined) {
    const v = verifyMessage(response, s.key, { requestMac });
    if (v.status === "peer-error") {
      const tsigError = tsigErrorName(v.error);
      const hint =
        v.error === TsigErrorCode.BADKEY
          ? `the server has no key named ${s.key.name} with algorithm ${s.key.algorithm}: check tsigKeyName and tsigAlgorithm`
          : v.error === TsigErrorCode.BADSIG
            ? `the signature did not verify: check the TSIG secret and tsigAlgorithm of key ${s.key.name}`
            : v.error === TsigErrorCode.BADTIME
              ? `the clocks of this host and the server differ by more than the ${v.tsig.fudge} s allowed`
              : `the server rejected the TSIG record of key ${s.key.name}`;
      throw new TerminalError(
        `rfc2136: ${where}: the server answered ${rcodeName(rcode)} (${tsigError}): ${hint}`,
        "InvalidCredentials",
      );
    }
    if (v.status !== "ok" && !(v.status === "unsigned" && rcode !== Rcode.NOERROR)) {
      // A success we cannot authenticate proves nothing; an unsigned error can only make us fail.
      const why =
        v.status === "unsigned"
          ? "the answer is not signed"
          : v.status === "bad-mac"
            ? "the answer's TSIG MAC does not verify"
            : v.status === "bad-time"
              ? "the answer's TSIG time is outside the fudge window"
              : `the answer is signed with another key (${v.tsig.keyName}, ${v.tsig.algorithm})`;
      throw new TemporaryError(`rfc2136: ${where}: ${why}; ignoring it`);
    }
  }
  switch (rcode) {
    case Rcode.NOERROR:
      return;
    case Rcode.NOTAUTH:
    case Rcode.NOTZONE:
    case Rcode.NXDOMAIN: {
      const what =
        rcode === Rcode.NOTZONE
          ? `it says ${fqdn} is outside zone ${zone}`
          : rcode === Rcode.NXDOMAIN
            ? `it has no zone ${zone}`
            : `it is not authoritative for zone ${zone}`;
      throw new TerminalError(
        `rfc2136: ${where}: the server answered ${rcodeName(rcode)}: ${what}; check the nameserver and the zone`,
        "ZoneNotFound",
      );
    }
    case Rcode.REFUSED:
      throw new TerminalError(
        `rfc2136: ${where}: the server answered REFUSED: ` +
          (s.key === undefined
            ? "it does not accept unsigned updates; set tsigKeyName and tsigSecretSecretRef"
            : `its update policy does not let key ${s.key.name} change ${fqdn}`),
        "UpdateRefused",
      );
    case Rcode.NOTIMP:
      throw new TerminalError(
        `rfc2136: ${where}: the server answered NOTIMP: it does not support dynamic updates`,
        "UpdateRefused",
      );
    case Rcode.FORMERR:
      throw new TerminalError(
        `rfc2136: ${where}: the server answered FORMERR to the update`,
        "UpdateRejected",
      );
    default:
      throw new TemporaryError(`rfc2136: ${where}: the server answered ${rcodeName(rcode)}`);
  }
}

function checkRecord(record: TxtRecord): { zone: string; fqdn: string } {
  let zone: string;
  let fqdn: string;
  try {
    zone = validateName(record.zone);
    fqdn = validateName(record.fqdn);
  } catch (err) {
    throw new TerminalError(`rfc2136: ${(err as Error).message}`, "InvalidRecord", { cause: err });
  }
  if (zone === "." || !(fqdn === zone || fqdn.endsWith(`.${zone}`))) {
    throw new TerminalError(`rfc2136: ${fqdn} is not inside zone ${zone}`, "InvalidRecord");
  }
  return { zone, fqdn };
}

async function update(
  s: Settings,
  action: UpdateAction,
  record: TxtRecord,
  ctx: SolverContext,
): Promise<void> {
  const { zone, fqdn } = checkRecord(record);
  const message = encodeTxtUpdate({
    id: randomInt(0, 65536),
    zone,
    fqdn,
    value: record.value,
    action,
    ttl: s.ttl,
  });
  const signed = s.key === undefined ? undefined : signMessage(message, s.key);
  const log = ctx.log.child({ provider: "rfc2136", server: s.serverLabel, zone, fqdn, action });
  let result: ExchangeResult;
  try {
    result = await exchange(s.server, signed?.packet ?? message, {
      protocol: s.protocol,
      signal: ctx.signal,
      ...(s.timeoutMs === undefined ? {} : { timeoutMs: s.timeoutMs }),
      ...(s.retries === undefined ? {} : { retries: s.retries }),
    });
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    log.debug("dynamic update failed to get an answer", { error: detail });
    throw new TemporaryError(`rfc2136: ${action} TXT at ${fqdn}: ${detail}`, undefined, { cause: err });
  }
  const rcode = result.response.readUInt16BE(2) & 0x0f;
  log.debug("dynamic update answered", { rcode: rcodeName(rcode), protocol: result.protocol });
  interpretAnswer(s, action, zone, fqdn, result.response, signed?.mac);
}

/**
 * Creates the `rfc2136` provider. Throws TerminalError `InvalidConfiguration` for a bad nameserver,
 * algorithm, protocol or secret (the message never contains the secret). `present` adds one TXT
 * value (a no-op when it is there); `cleanUp` deletes that value only (a no-op when it is gone).
 */
export function createRfc2136Solver(config: Rfc2136Config): Dns01Solver {
  const settings = parseConfig(config);
  return {
    present: (record, ctx) => update(settings, "add", record, ctx),
    cleanUp: (record, ctx) => update(settings, "delete", record, ctx),
  };
}
