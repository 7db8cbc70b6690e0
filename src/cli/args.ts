/**
 * The command line of dns01ctl, parsed the way kubectl users expect: global flags (`-n`,
 * `--context`, `--kubeconfig`, `-o`) may come before or after the command, `--flag=value` and
 * `-o=json` both work, and every command has its own `--help`. Parsing is pure: it returns a
 * description of what to run, or a UsageError saying what is wrong.
 */
import { parseArgs } from "node:util";
import { parseDuration } from "../config.js";

/** A mistake in the command line; the CLI prints it with a hint and exits 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  constructor(
    message: string,
    /** The command whose usage to point at, when known. */
    readonly command?: string,
  ) {
    super(message);
  }
}

/** Output formats of `-o`. */
export const OUTPUT_FORMATS = ["human", "json", "yaml"] as const;
/** One output format. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
}

/** Flags every command takes. */
const GLOBAL_OPTIONS = {
  kubeconfig: { type: "string" },
  context: { type: "string" },
  namespace: { type: "string", short: "n" },
  output: { type: "string", short: "o" },
  help: { type: "boolean", short: "h" },
} as const satisfies Record<string, OptionSpec>;

/** Flags of the commands that read live DNS (status, check-dns), named as the operator's. */
const DNS_OPTIONS = {
  "dns01-recursive-nameservers": { type: "string" },
  "dns01-recursive-nameservers-only": { type: "boolean" },
  "dns01-authoritative-port": { type: "string" },
} as const satisfies Record<string, OptionSpec>;

const COMMAND_OPTIONS = {
  status: { ...DNS_OPTIONS },
  renew: {
    selector: { type: "string", short: "l" },
    all: { type: "boolean" },
    "all-namespaces": { type: "boolean", short: "A" },
  },
  "check-dns": {
    ...DNS_OPTIONS,
    issuer: { type: "string" },
    kind: { type: "string" },
    "cluster-resource-namespace": { type: "string" },
    timeout: { type: "string" },
  },
  convert: { filename: { type: "string", short: "f", multiple: true } },
  inspect: {},
  version: { client: { type: "boolean" } },
  help: {},
} as const satisfies Record<string, Record<string, OptionSpec>>;

/** The commands, as typed. */
export type CommandName = keyof typeof COMMAND_OPTIONS;
/** Every command name, in the order help lists them. */
export const COMMANDS = Object.keys(COMMAND_OPTIONS) as CommandName[];

/** What the command line asks for. */
export interface ParsedCommandLine {
  /** undefined when only `--help` (or nothing) was given. */
  readonly command: CommandName | undefined;
  /** Positional arguments after the command word. */
  readonly args: readonly string[];
  readonly help: boolean;
  readonly output: OutputFormat;
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
  readonly namespace: string | undefined;
  /** The command's own flags, by long name: strings, booleans, or string lists for repeated flags. */
  readonly flags: Readonly<Record<string, string | boolean | readonly string[] | undefined>>;
}

const ALL_OPTIONS: Record<string, OptionSpec> = Object.assign(
  {},
  GLOBAL_OPTIONS,
  ...Object.values(COMMAND_OPTIONS),
) as Record<string, OptionSpec>;

function isCommand(word: string): word is CommandName {
  return Object.hasOwn(COMMAND_OPTIONS, word);
}

/** `-o=json` reaches parseArgs as the value "=json" (kubectl accepts the form); drop the "=". */
function cleanValue(rawName: string, value: string): string {
  return !rawName.startsWith("--") && value.startsWith("=") ? value.slice(1) : value;
}

/**
 * Parses argv (without node and the script). Flags may appear anywhere; a flag that the command
 * does not take is a UsageError naming both, so that a typo is never silently ignored.
 */
export function parseCommandLine(argv: readonly string[]): ParsedCommandLine {
  const parsed = (() => {
    try {
      return parseArgs({
        args: [...argv],
        options: ALL_OPTIONS,
        allowPositionals: true,
        strict: true,
        tokens: true,
      });
    } catch (err) {
      // parseArgs's messages are good ("Unknown option '--foo'"); keep them, minus its long hint.
      throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ""));
    }
  })();
  const [word, ...args] = parsed.positionals;
  if (word !== undefined && !isCommand(word)) {
    throw new UsageError(`unknown command "${word}"; commands: ${COMMANDS.join(", ")}`);
  }
  const command = word;
  const own: Record<string, OptionSpec> = command ? COMMAND_OPTIONS[command] : {};
  const flags: Record<string, string | boolean | string[] | undefined> = {};
  let output: OutputFormat = "human";
  const globals: Record<string, string | undefined> = {};
  let help = false;
  for (const token of parsed.tokens) {
    if (token.kind !== "option") continue;
    const value = token.value === undefined ? undefined : cleanValue(token.rawName, token.value);
    if (token.name === "help") {
      help = true;
    } else if (token.name === "output") {
      if (!(OUTPUT_FORMATS as readonly string[]).includes(value ?? "")) {
        throw new UsageError(
          `-o must be json or yaml (or human, the default), not "${value ?? ""}"`,
          command,
        );
      }
      output = value as OutputFormat;
    } else if (Object.hasOwn(GLOBAL_OPTIONS, token.name)) {
      globals[token.name] = value;
    } else if (!Object.hasOwn(own, token.name)) {
      throw new UsageError(
        command
          ? `${command} does not take ${token.rawName}`
          : `${token.rawName} needs a command; commands: ${COMMANDS.join(", ")}`,
        command,
      );
    } else if (own[token.name]?.multiple === true) {
      const list = (flags[token.name] ??= []) as string[];
      list.push(value ?? "");
    } else {
      flags[token.name] = value ?? true;
    }
  }
  if (command === "help") {
    const [topic] = args;
    if (topic !== undefined && !isCommand(topic)) {
      throw new UsageError(`unknown command "${topic}"; commands: ${COMMANDS.join(", ")}`);
    }
    return {
      command: topic,
      args: [],
      help: true,
      output,
      kubeconfig: undefined,
      context: undefined,
      namespace: undefined,
      flags: {},
    };
  }
  return {
    command,
    args,
    help: help || command === undefined,
    output,
    kubeconfig: globals["kubeconfig"],
    context: globals["context"],
    namespace: globals["namespace"],
    flags,
  };
}

/** A string flag, or undefined. */
export function stringFlag(cl: ParsedCommandLine, name: string): string | undefined {
  const v = cl.flags[name];
  return typeof v === "string" ? v : undefined;
}

/** A boolean flag (false when absent). */
export function boolFlag(cl: ParsedCommandLine, name: string): boolean {
  return cl.flags[name] === true;
}

/** A repeated string flag, in order (empty when absent). */
export function listFlag(cl: ParsedCommandLine, name: string): readonly string[] {
  const v = cl.flags[name];
  return Array.isArray(v) ? (v as readonly string[]) : typeof v === "string" ? [v] : [];
}

/**
 * Parses `--timeout`: a Go duration (`90s`, `2m`, `1m30s`, as the operator's flags take) or plain
 * seconds.
 */
export function parseTimeout(text: string): number {
  let ms: number;
  try {
    ms = /^\d+$/.test(text) ? Number(text) * 1000 : parseDuration(text);
  } catch {
    ms = Number.NaN;
  }
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new UsageError(`--timeout "${text}" is not a duration such as 90s, 2m or 120`);
  }
  return ms;
}
