/**
 * Command-line parsing for the `pulumi-winrm` tool. Connection flags mirror the resources'
 * connection options; the password never comes from a flag (it would sit in shell history and
 * the process table), only from WINRM_PASSWORD or a prompt.
 */
import { parseArgs } from "node:util";
import type { ClientOptions } from "../winrm/options";

export class UsageError extends Error {
  override name = "UsageError";
}

export const COMMANDS = ["exec", "ps", "cp", "identify"] as const;
export type CommandName = (typeof COMMANDS)[number];

const CONNECTION_FLAGS = {
  host: { type: "string", short: "H" },
  port: { type: "string", short: "p" },
  user: { type: "string", short: "u" },
  auth: { type: "string" },
  https: { type: "boolean" },
  "ca-cert": { type: "string" },
  "cert-fingerprint": { type: "string" },
  insecure: { type: "boolean" },
  "allow-unencrypted": { type: "boolean" },
  "operation-timeout": { type: "string" },
  "ready-timeout": { type: "string" },
  timeout: { type: "string" },
  scripts: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export const CONNECTION_HELP = `Connection:
  -H, --host HOST              host name or address (required)
  -p, --port PORT              default 5985, or 5986 with --https
  -u, --user USER              DOMAIN\\user, user@domain or user (required)
      --auth METHOD            negotiate (default), ntlm or basic
      --https                  use HTTPS
      --ca-cert FILE           trust this PEM CA bundle (HTTPS)
      --cert-fingerprint HEX   trust exactly the certificate with this SHA-256 fingerprint (HTTPS)
      --insecure               do not verify the certificate (HTTPS; not recommended)
      --allow-unencrypted      permit Basic or unencrypted messages over plain HTTP
      --operation-timeout SEC  WS-Man OperationTimeout (default 20)
      --ready-timeout SEC      keep retrying a host that is still booting (default 30)
      --timeout SEC            whole-command limit (default: none)
      --scripts FAMILY         auto (default), powershell or posix
  -h, --help                   this help

The password comes from the environment variable WINRM_PASSWORD, or is prompted for.`;

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

function seconds(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0) {
    throw new UsageError(`--${flag} takes a positive number of seconds, not "${value}"`);
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
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new UsageError(`--port must be a number from 1 to 65535, not "${values.port}"`);
  }
  const auth = values.auth;
  if (auth !== undefined && !["negotiate", "ntlm", "basic"].includes(auth)) {
    throw new UsageError(`--auth must be negotiate, ntlm or basic, not "${auth}"`);
  }
  const scripts = values.scripts;
  if (scripts !== undefined && !["auto", "powershell", "posix"].includes(scripts)) {
    throw new UsageError(`--scripts must be auto, powershell or posix, not "${scripts}"`);
  }
  const trust = [values["ca-cert"], values["cert-fingerprint"], values.insecure].filter(
    (value) => value,
  );
  if (trust.length > 1)
    throw new UsageError("give at most one of --ca-cert, --cert-fingerprint and --insecure");
  const operationTimeout = seconds("operation-timeout", values["operation-timeout"]);
  const readyTimeout = seconds("ready-timeout", values["ready-timeout"]);
  const timeout = seconds("timeout", values.timeout);
  return {
    command,
    help: false,
    connection: {
      host: values.host,
      port,
      user: values.user,
      auth: auth as ClientOptions["auth"],
      https: values.https ?? false,
      certFingerprint: values["cert-fingerprint"],
      insecure: values.insecure ?? false,
      allowUnencrypted: values["allow-unencrypted"] ?? false,
      operationTimeout: operationTimeout === undefined ? undefined : Math.ceil(operationTimeout),
      readyTimeout: readyTimeout === undefined ? undefined : Math.round(readyTimeout * 1000),
      scripts: scripts as ClientOptions["scripts"],
      caCert: values["ca-cert"],
    },
    timeoutMs: timeout === undefined ? undefined : Math.round(timeout * 1000),
    positionals,
  };
}
