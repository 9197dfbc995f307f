/**
 * Starts the loopback WinRM host from the command line, for the demo and for trying the client
 * by hand:
 *
 *   npm run host -- --port 5985 --user alice --password 'S3cret!'
 *
 * Prints exactly one line of JSON ({url, user, password, caCertificatePem?}) once listening,
 * then serves until SIGINT or SIGTERM, when it closes and ends every process it started.
 */
import { type HostOptions, startHost } from "./index";

const USAGE = `usage: node dist/test/host/cli.js [options]

A loopback WinRM host on 127.0.0.1 that behaves like a default-configured Windows host.

options:
  --port N                 listen on port N (default 5985; 0 picks a free port)
  --user NAME              the account (default winrm-test)
  --password SECRET        its password (default: random, printed in the JSON line)
  --https rsa|ec           serve HTTPS with a fresh CA and server certificate
  --basic                  enable Basic authentication (Auth/Basic)
  --allow-unencrypted      accept unencrypted messages over HTTP (AllowUnencrypted)
  --cbt none|relaxed|strict  CbtHardeningLevel for HTTPS (default relaxed)
  --max-envelope-kb N      MaxEnvelopeSizekb (default 500)
  --persona posix|windows  who the host says it is (default posix). windows: Identify
                           answers as Windows Server 2022, so clients send PowerShell, which
                           runs in pwsh with powershell.exe's argument rules. There is no
                           cmd.exe here: cmd lines run under the --shell in both personas.
  --shell PATH             the shell that stands in for cmd.exe (default /bin/sh)
  --help                   print this help

Prints one line of JSON {url, user, password, caCertificatePem?} and serves until SIGINT/SIGTERM.`;

class UsageError extends Error {}

/** Parses the command line into HostOptions; throws UsageError with a one-line reason. */
export function parseArguments(argv: readonly string[]): HostOptions | "help" {
  const options: HostOptions = { port: 5985 };
  let user: string | undefined;
  let password: string | undefined;
  const value = (index: number, flag: string): string => {
    const next = argv[index + 1];
    if (next === undefined || next.startsWith("--")) throw new UsageError(`${flag} needs a value`);
    return next;
  };
  const integer = (text: string, flag: string, min: number, max: number): number => {
    const parsed = Number(text);
    if (!/^\d+$/.test(text) || parsed < min || parsed > max) {
      throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got "${text}"`);
    }
    return parsed;
  };
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index]!;
    switch (flag) {
      case "--help":
      case "-h":
        return "help";
      case "--port":
        options.port = integer(value(index++, flag), flag, 0, 65535);
        break;
      case "--user":
        user = value(index++, flag);
        break;
      case "--password":
        password = value(index++, flag);
        break;
      case "--https": {
        const kind = value(index++, flag);
        if (kind !== "rsa" && kind !== "ec")
          throw new UsageError(`--https must be rsa or ec, got "${kind}"`);
        options.https = kind;
        break;
      }
      case "--basic":
        options.basic = true;
        break;
      case "--allow-unencrypted":
        options.allowUnencrypted = true;
        break;
      case "--cbt": {
        const level = value(index++, flag).toLowerCase();
        if (level !== "none" && level !== "relaxed" && level !== "strict") {
          throw new UsageError(`--cbt must be none, relaxed or strict, got "${level}"`);
        }
        options.cbtHardeningLevel = level;
        break;
      }
      case "--max-envelope-kb":
        options.maxEnvelopeSizeKb = integer(value(index++, flag), flag, 1, 1024 * 1024);
        break;
      case "--persona": {
        const persona = value(index++, flag);
        if (persona !== "posix" && persona !== "windows")
          throw new UsageError(`--persona must be posix or windows, got "${persona}"`);
        options.persona = persona;
        break;
      }
      case "--shell":
        options.shell = value(index++, flag);
        break;
      default:
        throw new UsageError(`unknown option "${flag}" (see --help)`);
    }
  }
  if (password !== undefined && user === undefined) user = "winrm-test";
  if (user !== undefined) {
    if (password === undefined) throw new UsageError("--user needs --password too");
    const slash = user.indexOf("\\");
    options.users = [
      slash >= 0
        ? { domain: user.slice(0, slash), user: user.slice(slash + 1), password }
        : { user, password },
    ];
  }
  return options;
}

async function main(): Promise<void> {
  let options: HostOptions | "help";
  try {
    options = parseArguments(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`loopback host: ${error.message}\n`);
    process.exit(2);
  }
  if (options === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const host = await startHost(options);
  const line: Record<string, string> = { url: host.url, user: host.user, password: host.password };
  if (host.caCertificatePem !== undefined) line.caCertificatePem = host.caCertificatePem;
  process.stdout.write(`${JSON.stringify(line)}\n`);

  let closing = false;
  const stop = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    process.stderr.write(`loopback host: ${signal}, closing\n`);
    host.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`loopback host: close failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `loopback host: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  });
}
