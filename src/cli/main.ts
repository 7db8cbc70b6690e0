/**
 * dns01ctl's entry point (bin/dns01ctl runs the compiled copy): process streams, Ctrl-C, the exit
 * code. Everything else is in run.ts.
 */
import { runCli } from "./run.js";

const controller = new AbortController();
let interrupted = 0;
const onSignal = (): void => {
  // The first Ctrl-C aborts the command, which still removes a test TXT value it presented; a
  // second one exits at once.
  interrupted += 1;
  if (interrupted > 1) process.exit(130);
  controller.abort(new Error("interrupted"));
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on("data", (c: Buffer) => chunks.push(c));
    process.stdin.on("end", () => {
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    process.stdin.on("error", reject);
  });
}

runCli(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  readStdin,
  signal: controller.signal,
}).then(
  (code) => {
    process.exitCode = interrupted > 0 ? 130 : code;
    // Keep-alive sockets would hold the process open; flush stdout first, then leave.
    process.stdout.write("", () => process.exit(process.exitCode));
  },
  (err: unknown) => {
    process.stderr.write(
      `dns01ctl: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
