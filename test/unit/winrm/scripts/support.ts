/**
 * Runs a RemoteInvocation locally exactly as the loopback host does: `/bin/sh -c "<command>
 * <args joined by a space>"`, stdin piped and encoded per stdinEncoding; a powershell.exe
 * line as the Windows persona runs it: split into argv by powershell.exe's rules, in pwsh.
 * The child leads its own process group so a test can signal the whole command, as a host
 * terminating it would.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  type RemoteInvocation,
  type RemoteScripts,
  UPLOAD_TEMP_PREFIX,
} from "../../../../provider/winrm/scripts";
import { stdinEncoder } from "../../../../provider/winrm/scripts/stdin";
import { findPwsh, inConstrainedLanguage } from "../../../host/shell";
import { splitWindowsCommandLine } from "../../../host/windows-command-line";

function pwshPath(): string {
  const found = findPwsh();
  if (found === undefined) throw new Error("pwsh is not installed (bash test/setup/pwsh.sh)");
  return found;
}

/**
 * The host's shell. POSIX_TEST_SHELL lets the suite run under another sh, for example BusyBox
 * with PATH limited to its applets, to check the scripts on an Alpine-like userland.
 */
const SHELL = process.env.POSIX_TEST_SHELL ?? "/bin/sh";

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Where the command runs: its working directory and environment (default: this process's). */
export interface SpawnPlace {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** A program and its arguments that start the command, e.g. setpriv with fewer privileges. */
  wrapper?: string[];
  /** Start a PowerShell line in Constrained Language Mode, as the persona can (shell.ts). */
  constrainedLanguage?: boolean;
}

export interface Running {
  child: ChildProcess;
  done: Promise<RunResult>;
}

/** Starts the invocation; the caller feeds `child.stdin` (raw, before encoding) or not. */
export function start(invocation: RemoteInvocation, options: SpawnPlace = {}): Running {
  const line = [invocation.command, ...invocation.args].join(" ");
  const [program, ...split] = splitWindowsCommandLine(line);
  const args = options.constrainedLanguage ? inConstrainedLanguage(split) : split;
  const [file, ...argv] = [
    ...(options.wrapper ?? []),
    ...(/^powershell(\.exe)?$/i.test(program ?? "") ? [pwshPath(), ...args] : [SHELL, "-c", line]),
  ] as [string, ...string[]];
  const { cwd, env } = options;
  const child = spawn(file, argv, { detached: true, stdio: "pipe", cwd, env });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  // A test may stop writing at any point; a closed pipe is an expected outcome there.
  child.stdin.on("error", () => undefined);
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) =>
      resolve({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
      }),
    );
  });
  return { child, done };
}

/** Runs the invocation with `input` (raw bytes, encoded here per stdinEncoding) as stdin. */
export async function run(
  invocation: RemoteInvocation,
  input: Buffer | Iterable<Buffer> | AsyncIterable<Buffer> = Buffer.alloc(0),
  options: SpawnPlace = {},
): Promise<RunResult> {
  const { child, done } = start(invocation, options);
  const source = Buffer.isBuffer(input) ? Readable.from([input]) : Readable.from(input);
  const stdin = child.stdin;
  if (stdin === null) throw new Error("child has no stdin");
  await pipeline(source, stdinEncoder(invocation.stdinEncoding), stdin).catch(() => undefined);
  return done;
}

export function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** An upload script's stdin: the content, then its hex SHA-256 as the 64-byte trailer. */
export function uploadStream(content: Buffer, trailer = sha256(content)): Buffer {
  return Buffer.concat([content, Buffer.from(trailer, "latin1")]);
}

/** Temporary upload files left in `dir`. */
export function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith(UPLOAD_TEMP_PREFIX));
}

/** setpriv without root's permission bypass (CAP_DAC_*), so a mode-0 folder denies access. */
export function withoutPermissionBypass(): SpawnPlace {
  if (process.getuid?.() !== 0) return {};
  return {
    wrapper: ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps", "-all"],
  };
}

/**
 * Runs `body` on a file (`<dir>/locked/secret`, holding "hidden") inside a folder this account
 * may not search: mode 0, with `place` taking root's permission bypass away. The folder is
 * opened again afterwards, whatever happened; the file's path is returned for checks.
 */
export async function withHiddenFile(
  dir: string,
  body: (path: string, place: SpawnPlace) => Promise<void>,
): Promise<string> {
  const locked = join(dir, "locked");
  mkdirSync(locked);
  const path = join(locked, "secret");
  writeFileSync(path, "hidden");
  chmodSync(locked, 0);
  try {
    await body(path, withoutPermissionBypass());
  } finally {
    chmodSync(locked, 0o755);
  }
  return path;
}

/**
 * Uploads random content of each of `cases` (size and a name: the file is `<dir>/<size>-<name>`)
 * with the hash trailer, checks every file byte for byte, and that no temporary file is left.
 */
export async function assertUploadsPlace(
  scripts: RemoteScripts,
  dir: string,
  cases: readonly (readonly [size: number, name: string])[],
): Promise<void> {
  for (const [size, name] of cases) {
    const path = join(dir, `${size}-${name}`);
    const content = randomBytes(size);
    const result = await run(scripts.upload(path), uploadStream(content));
    assert.equal(result.code, 0, result.stderr);
    assert.ok(readFileSync(path).equals(content), `${size} ${name}`);
  }
  assert.deepEqual(leftovers(dir), []);
}

/**
 * An upload whose SHA-256 and size are named in the script (no trailer): it must place
 * `content` at `path` saying `replaced`, then say `unchanged` for the same bytes again.
 */
export async function assertKnownUploadRoundTrip(
  scripts: RemoteScripts,
  path: string,
  content: Buffer,
): Promise<void> {
  const known = { sha256: sha256(content), size: content.length };
  const result = await run(scripts.upload(path, known), content);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), "replaced", path);
  assert.ok(readFileSync(path).equals(content), path);
  const again = await run(scripts.upload(path, known), content);
  assert.equal(again.stdout.trim(), "unchanged", path);
}
