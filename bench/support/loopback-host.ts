/**
 * The loopback WinRM host (test/host) in a process of its own, so that it does not share the
 * benchmark's event loop. The persona is the host's (test/host/cli.ts --persona): "posix" (the
 * default) gets POSIX sh from the client, "windows" gets PowerShell, run in pwsh.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { type Cleanup, LOOPBACK, REPO, stopProcess } from "./process";

const HOST_CLI = path.join(REPO, "dist", "test", "host", "cli.js");

export interface Host {
  url: string;
  port: number;
  user: string;
  password: string;
  pid: number | undefined;
}

export async function startLoopbackHost(
  cleanup: Cleanup,
  persona: "posix" | "windows" = "posix",
): Promise<Host> {
  if (!existsSync(HOST_CLI)) throw new Error(`${HOST_CLI} is missing: run npm run build first`);
  const user = "bench";
  const password = `Bench-${randomBytes(9).toString("base64url")}`;
  const child = spawn(
    process.execPath,
    [HOST_CLI, "--port", "0", "--user", user, "--password", password, "--persona", persona],
    { cwd: REPO, stdio: ["ignore", "pipe", "inherit"] },
  );
  cleanup.add(`stopping the loopback host (${persona} persona)`, () => stopProcess(child));
  const line = await new Promise<string>((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => reject(new Error("the loopback host did not start")), 30_000);
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const end = buffered.indexOf("\n");
      if (end >= 0) {
        clearTimeout(timer);
        resolve(buffered.slice(0, end));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the loopback host exited (code ${code}) before it was ready`));
    });
  });
  const info = JSON.parse(line) as { url: string };
  const url = new URL(info.url);
  if (url.hostname !== LOOPBACK) throw new Error(`the host listens on ${url.hostname}`);
  return { url: info.url, port: Number(url.port), user, password, pid: child.pid };
}
