import winston from "winston";

/** The logger type used everywhere: winston's, so that `child()` carries structured fields. */
export type Logger = winston.Logger;

/** Keys whose values are never written to a log line, whatever object they appear in. */
const REDACTED_KEYS =
  /^(secret|tsigsecret|token|apitoken|apikey|password|privatekey|key|hmackey|tls\.key|data|stringdata|authorization|clientsecret|secretaccesskey)$/i;

const redact = winston.format((info) => {
  for (const k of Object.keys(info)) {
    if (REDACTED_KEYS.test(k)) info[k] = "[redacted]";
  }
  return info;
});

/**
 * Creates the process's root logger: one JSON object per line on stdout, with a timestamp.
 * `level` defaults to LOG_LEVEL or "info". Reconcilers take `logger.child({controller, namespace, name})`.
 */
export function createLogger(opts: { level?: string; silent?: boolean } = {}): Logger {
  return winston.createLogger({
    level: opts.level ?? process.env["LOG_LEVEL"] ?? "info",
    silent: opts.silent ?? false,
    format: winston.format.combine(redact(), winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console()],
  });
}

/** A logger that writes nothing, for unit tests. */
export function silentLogger(): Logger {
  return createLogger({ silent: true });
}
