#!/usr/bin/env node
/**
 * `pulumi-winrm`: check a host by hand with the same client the resources use.
 * Exit codes: the remote command's own for exec and ps; 0 or 1 for cp and identify; 2 for bad
 * usage; 141 (quietly, as for SIGPIPE) when the reader of exec's or ps's output went away, the
 * command then stopped; 1 for any other failure, with a one-line reason on stderr.
 */
import { createReadStream, readFileSync, statSync } from "node:fs";
import { createInterface } from "node:readline";
import { setFlagsFromString } from "node:v8";
import { HostUnreachableError, WinRMError } from "../errors";
import { describeWait } from "../winrm/http/host-wait";
import { WinRMClient } from "../winrm/client";
import { parseCommandLine, type ParsedCommandLine, USAGE, UsageError } from "./args";
import { outputStream, READER_GONE_EXIT_CODE, ReaderGoneError } from "./output";

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
  // Kerberos can do without a password: a keytab, or the credential cache kinit wrote.
  const passwordless = connection.auth === "kerberos" && process.env.WINRM_PASSWORD === undefined;
  return new WinRMClient({
    ...connection,
    ...(passwordless ? {} : { password: await readPassword() }),
    onWaiting: (progress) =>
      process.stderr.write(
        `pulumi-winrm: ${describeWait(progress, { option: "--ready-timeout", unit: "s" })}\n`,
      ),
  });
}

async function* stdinChunks(): AsyncGenerator<Uint8Array> {
  for await (const chunk of process.stdin) yield chunk as Buffer;
}

async function exec(parsed: ParsedCommandLine): Promise<number> {
  const [command, ...args] = parsed.positionals;
  if (command === undefined)
    throw new UsageError("exec needs a command: pulumi-winrm exec [OPTIONS] -- COMMAND [ARGS...]");
  const client = await connect(parsed);
  const stop = new AbortController();
  const stdout = outputStream(process.stdout, "stdout", stop);
  const stderr = outputStream(process.stderr, "stderr", stop);
  try {
    const result = await client.run(command, args, {
      stdin: process.stdin.isTTY ? undefined : stdinChunks(),
      onStdout: stdout.write,
      onStderr: stderr.write,
      signal: stop.signal,
      timeoutMs: parsed.timeoutMs,
      maxOutputBytes: 0,
    });
    return result.exitCode;
  } catch (error) {
    if (error instanceof ReaderGoneError) return READER_GONE_EXIT_CODE;
    throw error;
  } finally {
    stdout.dispose();
    stderr.dispose();
    // A command that did not read all of its input is done all the same: stop reading a
    // stdin that stays open, which would otherwise keep this process alive.
    if (!process.stdin.isTTY) process.stdin.destroy();
    await client.close();
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8");
}

async function powershell(parsed: ParsedCommandLine): Promise<number> {
  const [file, extra] = parsed.positionals;
  if (extra !== undefined) throw new UsageError("ps takes one script file (or - for stdin)");
  let script: string;
  if (file === undefined || file === "-") {
    if (process.stdin.isTTY) throw new UsageError("ps needs a script file, or the script on stdin");
    script = await readAll(process.stdin);
  } else {
    try {
      script = readFileSync(file, "utf8");
    } catch (error) {
      throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
    }
  }
  const client = await connect(parsed);
  const stop = new AbortController();
  const stdout = outputStream(process.stdout, "stdout", stop);
  try {
    const result = await client.runPowerShell(script, {
      onStdout: stdout.write,
      signal: stop.signal,
      timeoutMs: parsed.timeoutMs,
      maxOutputBytes: 1024 * 1024,
    });
    // PowerShell writes errors to stderr as CLIXML; print them decoded, once, at the end.
    if (result.errorText.trim()) process.stderr.write(`${result.errorText.trimEnd()}\n`);
    return result.exitCode;
  } catch (error) {
    if (error instanceof ReaderGoneError) return READER_GONE_EXIT_CODE;
    throw error;
  } finally {
    stdout.dispose();
    await client.close();
  }
}

/** A one-line progress bar on stderr, redrawn at most ten times a second. */
function progressBar(total: number): (sent: number) => void {
  let last = 0;
  const started = Date.now();
  return (sent) => {
    const now = Date.now();
    if (now - last < 100 && sent < total) return;
    last = now;
    const fraction = total > 0 ? sent / total : 1;
    const width = 30;
    const filled = Math.round(fraction * width);
    const rate = sent / 1048576 / Math.max((now - started) / 1000, 0.001);
    process.stderr.write(
      `\r[${"#".repeat(filled)}${" ".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ` +
        `${(sent / 1048576).toFixed(1)} MiB ${rate.toFixed(1)} MiB/s`,
    );
  };
}

async function copy(parsed: ParsedCommandLine): Promise<number> {
  const [local, remote, extra] = parsed.positionals;
  if (local === undefined || remote === undefined || extra !== undefined) {
    throw new UsageError("cp needs LOCAL_FILE REMOTE_PATH");
  }
  let size: number;
  try {
    const stat = statSync(local);
    if (!stat.isFile()) throw new Error("not a regular file");
    size = stat.size;
  } catch (error) {
    throw new UsageError(`cannot read ${local}: ${(error as Error).message}`);
  }
  const client = await connect(parsed);
  try {
    const files = await client.files();
    const draw = process.stderr.isTTY ? progressBar(size) : undefined;
    const result = await files.upload(
      createReadStream(local, { highWaterMark: 1024 * 1024 }),
      remote,
      {
        size,
        timeoutMs: parsed.timeoutMs,
        onProgress: ({ sent }) => draw?.(sent),
      },
    );
    if (draw) process.stderr.write("\n");
    const kept = result.replaced ? "" : " (the host had it already: left unchanged)";
    process.stdout.write(`${remote}: ${result.size} bytes, sha256 ${result.sha256}${kept}\n`);
    return 0;
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
        return await powershell(parsed);
      case "cp":
        return await copy(parsed);
      default:
        throw new UsageError("no command given; see pulumi-winrm --help");
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`pulumi-winrm: ${error.message}\n`);
      return 2;
    }
    // The client names its option in milliseconds; the tool's flag is in seconds.
    const stated =
      error instanceof HostUnreachableError
        ? error.restated({ option: "--ready-timeout", unit: "s" })
        : error;
    const message = stated instanceof WinRMError ? stated.message : String(stated);
    process.stderr.write(`pulumi-winrm: ${message}\n`);
    return 1;
  }
}

if (require.main === module) {
  // undici parses HTTP with llhttp compiled to WebAssembly. V8 compiles it at once with its
  // baseline compiler and later, on a worker thread, again with its optimizing one; a process
  // waits for that second compilation before it can exit, which kept a one-command run alive
  // 150-350 ms after its result was printed. The baseline code parses a WinRM exchange (a few
  // headers, then a body of known length taken whole) as fast as this tool needs.
  setFlagsFromString("--liftoff-only");
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
