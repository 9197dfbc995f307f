/**
 * Process and cleanup helpers shared by the benchmarks: running a command, a free loopback
 * port, stopping a child, and undo actions that run at the end, on failure and on signals.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import * as path from "node:path";

export const REPO = path.resolve(__dirname, "..", "..", "..");
export const LOOPBACK = "127.0.0.1";

export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Runs a command to completion, resolving with its stdout; rejects with its stderr on failure. */
export function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? REPO,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) return resolve(Buffer.concat(stdout).toString("utf8"));
      const why = signal ? `signal ${signal}` : `exit code ${code}`;
      const detail = Buffer.concat(stderr).toString("utf8").trim().split("\n").slice(-5);
      reject(new Error(`${command} ${args.join(" ")} failed (${why}): ${detail.join(" | ")}`));
    });
  });
}

/** Asks the kernel for a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Sends SIGTERM, then SIGKILL if the process has not exited within `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Undo actions run in reverse order at the end, on failure and on SIGINT/SIGTERM too. */
export class Cleanup {
  private readonly actions: Array<{ what: string; action: () => Promise<void> }> = [];

  add(what: string, action: () => Promise<void>): void {
    this.actions.push({ what, action });
  }

  async runAll(): Promise<void> {
    for (let next = this.actions.pop(); next; next = this.actions.pop()) {
      try {
        await next.action();
      } catch (error) {
        log(
          `cleanup: ${next.what} failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  }
}
