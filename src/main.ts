/**
 * The operator's entry point: flags, logger, wiring, and the exit code. Nothing else lives here.
 */
import { parseConfig } from "./config.js";
import { createLogger } from "./log.js";
import { buildOperator } from "./operator.js";

async function main(): Promise<number> {
  let config;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`dns01-operator: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const log = createLogger({ level: config.logLevel });
  log.info("starting dns01-operator", {
    namespace: config.namespace,
    clusterResourceNamespace: config.clusterResourceNamespace,
    leaderElect: config.leaderElect,
    recursiveNameservers: config.recursiveNameservers,
  });
  const result = await buildOperator(config, log).run();
  log.info("dns01-operator stopped", { result });
  // Losing the lease means another process may lead now: exit non-zero so the restart is visible.
  return result === "leadership-lost" ? 1 : 0;
}

main().then(
  (code) => {
    // Keep-alive sockets and timers of libraries would otherwise hold the process open after a
    // graceful shutdown; everything that had to finish has finished by now.
    process.exitCode = code;
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(
      `dns01-operator: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
