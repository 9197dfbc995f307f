// Runs pywinrm (an independent WinRM client: requests_ntlm + pyspnego for NTLM and sealing)
// against a WinRM endpoint, through test/interop/peers/pywinrm_driver.py in the venv that
// test/setup/python.sh builds. One call = one Python process = one pywinrm Protocol, with a
// JSON spec in and a JSON result out; the .py file documents both.

import { spawn } from "node:child_process";
import * as path from "node:path";
import { peerPython, repoRoot } from "./pyspnego-peer";

const DRIVER = path.join("test", "interop", "peers", "pywinrm_driver.py");

export type PywinrmOperation =
  | {
      op: "run";
      command: string;
      args?: string[];
      stdin_b64?: string;
      codepage?: number;
      env?: Record<string, string>;
      cwd?: string;
      skip_cmd_shell?: boolean;
    }
  | { op: "sink"; command: string; args?: string[]; codepage?: number }
  | { op: "repeat"; count: number }
  | { op: "raw"; xml: string };

export interface PywinrmSpec {
  endpoint: string;
  user: string;
  password: string;
  transport?: "ntlm" | "basic" | "plaintext" | "ssl";
  message_encryption?: "always" | "auto" | "never";
  /** A PEM file holding the CA to trust, for HTTPS. */
  ca_trust_path?: string;
  send_cbt?: boolean;
  operation_timeout_sec?: number;
  read_timeout_sec?: number;
  ops: PywinrmOperation[];
}

/** One operation's outcome; which fields are present depends on the operation. */
export interface PywinrmResult {
  ok: boolean;
  error?: string;
  message?: string;
  http_status?: number;
  wsman_fault_code?: number;
  fault_subcode?: string;
  reason?: string;
  stdout_b64?: string;
  stderr_b64?: string;
  exit_code?: number;
  stdout_bytes?: number;
  stderr_bytes?: number;
  stdout_sha256?: string;
  receives?: number;
  largest_response?: number;
  requests?: number;
  response?: string;
  traceback?: string;
}

/** Runs the spec's operations with one pywinrm Protocol; rejects only if the driver breaks. */
export function runPywinrm(spec: PywinrmSpec, timeoutMs = 120_000): Promise<PywinrmResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(peerPython(), [path.join(repoRoot(), DRIVER)], {
      cwd: repoRoot(),
      env: { ...process.env, PYTHONUNBUFFERED: "1", NO_PROXY: "*", no_proxy: "*" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`pywinrm driver timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      const errors = Buffer.concat(stderr).toString("utf8").trim();
      try {
        const parsed = JSON.parse(Buffer.concat(stdout).toString("utf8")) as {
          results: PywinrmResult[];
        };
        resolve(parsed.results);
      } catch {
        reject(new Error(`pywinrm driver exited with ${String(code)}: ${errors.slice(-4000)}`));
      }
    });
    child.stdin.end(JSON.stringify(spec));
  });
}

export function decoded(result: PywinrmResult, stream: "stdout" | "stderr"): string {
  const value = stream === "stdout" ? result.stdout_b64 : result.stderr_b64;
  return Buffer.from(value ?? "", "base64").toString("utf8");
}
