#!/usr/bin/env node
/**
 * `pulumi-winrm`: check a host by hand with the same client the resources use.
 * Exit codes: the remote command's own for exec and ps; 0 or 1 for cp and identify; 2 for bad
 * usage; 1 for any other failure, with a one-line reason on stderr.
 */
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { WinRMError } from "../errors";
import { WinRMClient } from "../winrm/client";
import { parseCommandLine, type ParsedCommandLine, USAGE, UsageError } from "./args";

async function readPassword(): Promise<string> {
  const fromEnvironment = process.env.WINRM_PASSWORD;
  if (fromEnvironment !== undefined) return fromEnvironment;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new UsageError("no password: set WINRM_PASSWORD (there is no terminal to prompt on)");
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // Keep typed characters off the screen: print the prompt once, then nothing.
  const write = (prompt as unknown as { _writeToOutput: (text: string) => void })._writeToOutput;
  let prompted = false;
  (prompt as unknown as { _writeToOutput: (text: string) => void })._writeToOutput = (
    text: string,
  ) => {
    if (!prompted) {
      prompted = true;
      write.call(prompt, text);
    }
  };
  const answer = await new Promise<string>((resolve) => prompt.question("Password: ", resolve));
  prompt.close();
  process.stderr.write("\n");
  return answer;
}

async function connect(parsed: ParsedCommandLine): Promise<WinRMClient> {
  const connection = { ...parsed.connection };
  if (connection.caCert !== undefined) {
    try {
      connection.caCert = readFileSync(connection.caCert, "utf8");
    } catch (error) {
      throw new UsageError(
        `cannot read --ca-cert ${connection.caCert}: ${(error as Error).message}`,
      );
    }
  }
  return new WinRMClient({ ...connection, password: await readPassword() });
}

async function* stdinChunks(): AsyncGenerator<Uint8Array> {
  for await (const chunk of process.stdin) yield chunk as Buffer;
}

async function exec(parsed: ParsedCommandLine): Promise<number> {
  const [command, ...args] = parsed.positionals;
  if (command === undefined)
    throw new UsageError("exec needs a command: pulumi-winrm exec [OPTIONS] -- COMMAND [ARGS...]");
  const client = await connect(parsed);
  try {
    const result = await client.run(command, args, {
      stdin: process.stdin.isTTY ? undefined : stdinChunks(),
      onStdout: (chunk) => process.stdout.write(chunk),
      onStderr: (chunk) => process.stderr.write(chunk),
      timeoutMs: parsed.timeoutMs,
      maxOutputBytes: 0,
    });
    return result.exitCode;
  } finally {
    await client.close();
  }
}

async function identify(parsed: ParsedCommandLine): Promise<number> {
  const client = await connect(parsed);
  try {
    process.stdout.write(`${JSON.stringify(await client.identify(), null, 2)}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  let parsed: ParsedCommandLine;
  try {
    parsed = parseCommandLine(argv);
    if (parsed.help) {
      process.stdout.write(`${USAGE[parsed.command ?? "main"]}\n`);
      return 0;
    }
    switch (parsed.command) {
      case "exec":
        return await exec(parsed);
      case "identify":
        return await identify(parsed);
      case "ps":
      case "cp":
        throw new UsageError(`"${parsed.command}" is not available yet in this version`);
      default:
        throw new UsageError("no command given; see pulumi-winrm --help");
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`pulumi-winrm: ${error.message}\n`);
      return 2;
    }
    const message = error instanceof WinRMError ? error.message : String(error);
    process.stderr.write(`pulumi-winrm: ${message}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
