/**
 * Command-line parsing for the `pulumi-winrm` tool. Connection flags mirror the resources'
 * connection options; the password never comes from a flag (it would sit in shell history and
 * the process table), only from WINRM_PASSWORD or a prompt.
 */
import { parseArgs } from "node:util";
import { type ConnectionOption, optionsOf } from "../winrm/connection-options";
import type { ClientOptions } from "../winrm/options";

export class UsageError extends Error {
  override name = "UsageError";
}

const COMMANDS = ["exec", "ps", "cp", "identify"] as const;
export type CommandName = (typeof COMMANDS)[number];

/** One flag per connection option the tool takes (connection-options.ts), and its own. */
const CONNECTION_FLAGS = Object.fromEntries([
  ...optionsOf("L").map((option) => [
    option.flag!.name,
    {
      type: option.kind === "boolean" ? "boolean" : "string",
      ...(option.flag!.short ? { short: option.flag!.short } : {}),
    },
  ]),
  ["timeout", { type: "string" }],
  ["help", { type: "boolean", short: "h" }],
]) as Record<string, { type: "string" | "boolean"; short?: string }>;

/** The default the tool uses, in the tool's unit (seconds for times). */
function cliDefault(option: ConnectionOption): string | undefined {
  const value = option.defaults?.client;
  if (option.kind === "boolean") return undefined;
  if (value === undefined) {
    const text = option.defaultText.replace(/`(https)`/g, "--$1").replace(/`/g, "");
    return text === "" || text === "(required)" ? undefined : text;
  }
  const inMs = option.unit?.client === "ms" && option.unit.resource === "s";
  if (typeof value === "number") return String(inMs ? value / 1000 : value);
  return typeof value === "string" ? value : undefined;
}

/** `  -H, --host HOST              help` for one option. */
function helpLine(flags: string, help: string): string {
  return `  ${flags.padEnd(27)}  ${help}`;
}

const CONNECTION_HELP = [
  "Connection:",
  ...optionsOf("L").map((option) => {
    const flag = option.flag!;
    const names = `${flag.short ? `-${flag.short}, ` : "    "}--${flag.name}${flag.argument ? ` ${flag.argument}` : ""}`;
    const given = cliDefault(option);
    const required = option.defaultText === "(required)" ? " (required)" : "";
    const help = option.help.replace(/`/g, "");
    return helpLine(names, `${help}${required}${given ? ` (default ${given})` : ""}`);
  }),
  helpLine("    --timeout SEC", "whole-command limit (default: none)"),
  helpLine("-h, --help", "this help"),
  "",
  "The password comes from the environment variable WINRM_PASSWORD, or is prompted for; with",
  "--auth kerberos and no WINRM_PASSWORD, a --keytab or kinit's credential cache serves instead.",
].join("\n");

export const USAGE: Record<CommandName | "main", string> = {
  main: `Usage: pulumi-winrm COMMAND [OPTIONS]

Commands:
  exec      run a command, stream its output, exit with its exit code
  ps        run a PowerShell script from a file or stdin
  cp        upload a local file, with a progress bar
  identify  show what the host says it is

Run "pulumi-winrm COMMAND --help" for a command's options.`,
  exec: `Usage: pulumi-winrm exec [CONNECTION] -- COMMAND [ARGS...]

Runs COMMAND on the host, streams its stdout and stderr, and exits with its exit code.
Standard input is forwarded when it is not a terminal.

${CONNECTION_HELP}`,
  ps: `Usage: pulumi-winrm ps [CONNECTION] [SCRIPT_FILE | -]

Runs a PowerShell script of any length (read from SCRIPT_FILE, or stdin with - or none).

${CONNECTION_HELP}`,
  cp: `Usage: pulumi-winrm cp [CONNECTION] LOCAL_FILE REMOTE_PATH

Uploads LOCAL_FILE to REMOTE_PATH, verified by SHA-256, showing progress on stderr.

${CONNECTION_HELP}`,
  identify: `Usage: pulumi-winrm identify [CONNECTION]

Prints the host's WS-Management Identify response as JSON.

${CONNECTION_HELP}`,
};

export interface ParsedCommandLine {
  command: CommandName | undefined;
  help: boolean;
  connection: Omit<ClientOptions, "password"> & { user: string };
  /** Whole-command timeout in ms. */
  timeoutMs: number | undefined;
  positionals: string[];
}

/** A flag's value as the client takes it, or a UsageError that says what the flag wants. */
function flagValue(option: ConnectionOption, value: string | boolean | undefined): unknown {
  const flag = option.flag!.name;
  if (option.kind === "boolean") return value ?? false;
  if (typeof value !== "string") return undefined;
  if (option.kind === "enum" && !(option.values ?? []).includes(value)) {
    const values = option.values ?? [];
    throw new UsageError(
      `--${flag} must be ${values.slice(0, -1).join(", ")} or ${values[values.length - 1]}, not "${value}"`,
    );
  }
  if (option.kind !== "integer") return value;
  if (option.unit?.resource === "s") {
    const time = seconds(flag, value, option.min === 0)!;
    return option.unit.client === "ms" ? Math.round(time * 1000) : Math.ceil(time);
  }
  const number = Number(value);
  const [min, max] = [option.min ?? 1, option.max ?? Number.MAX_SAFE_INTEGER];
  if (!Number.isInteger(number) || number < min || number > max) {
    throw new UsageError(`--${flag} must be a number from ${min} to ${max}, not "${value}"`);
  }
  return number;
}

function seconds(flag: string, value: string | undefined, zero = false): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(value) || (Number(value) <= 0 && !(zero && Number(value) === 0))) {
    const what = zero ? "a number of seconds, 0 or more" : "a positive number of seconds";
    throw new UsageError(`--${flag} takes ${what}, not "${value}"`);
  }
  return Number(value);
}

export function parseCommandLine(argv: readonly string[]): ParsedCommandLine {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    return {
      command: undefined,
      help: true,
      connection: { host: "", user: "" },
      timeoutMs: undefined,
      positionals: [],
    };
  }
  if (!(COMMANDS as readonly string[]).includes(first)) {
    throw new UsageError(`unknown command "${first}"; expected one of ${COMMANDS.join(", ")}`);
  }
  const command = first as CommandName;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: CONNECTION_FLAGS,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message.split("\n")[0]);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    return {
      command,
      help: true,
      connection: { host: "", user: "" },
      timeoutMs: undefined,
      positionals,
    };
  }
  if (!values.host) throw new UsageError("--host is required");
  if (!values.user) throw new UsageError("--user is required");
  const trust = [values["ca-cert"], values["cert-fingerprint"], values.insecure].filter(
    (value) => value,
  );
  if (trust.length > 1)
    throw new UsageError("give at most one of --ca-cert, --cert-fingerprint and --insecure");
  const connection: Record<string, unknown> = {};
  for (const option of optionsOf("L")) {
    connection[option.clientName ?? option.name] = flagValue(option, values[option.flag!.name]);
  }
  const timeout = seconds("timeout", values.timeout as string | undefined);
  return {
    command,
    help: false,
    connection: connection as ParsedCommandLine["connection"],
    timeoutMs: timeout === undefined ? undefined : Math.round(timeout * 1000),
    positionals,
  };
}
