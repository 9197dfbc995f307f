/**
 * End-to-end speed of the WinRM client against peers measured in the same run, over HTTP with
 * NTLM and message encryption, on the loopback host (test/host) run as a separate process:
 *
 *   sequential  100 `echo` commands one after another, against pywinrm 0.5 running each the
 *               way Session.run_cmd does (a shell per command). Goal: at most half its time.
 *   cold        new client + connect + authenticate + first command's output, against a new
 *               pywinrm Protocol doing the same. Goal: at most pywinrm's time.
 *   upload      100 MB file upload (verified by SHA-256 on the host), against the same bytes
 *               sent with `scp` to a throwaway OpenSSH server on 127.0.0.1. Goal: at most 2x.
 *               Both sides pay their whole invocation: ours a new client, Identify, mkdir -p,
 *               the upload with its remote SHA-256 check, and close; scp its process start,
 *               SSH handshake and transfer. Both copies are checked byte for byte afterwards.
 *   upload, Windows persona
 *               the same upload to a second loopback host whose Identify answers as Windows,
 *               so the client sends the PowerShell upload script, run in pwsh: the bytes go
 *               as base64 lines decoded by [Convert]::FromBase64String, and SHA-256 in .NET.
 *               Measured interleaved with the two above; its ratio is against the same scp,
 *               and its time is also given as a multiple of the POSIX host's. Needs pwsh
 *               (bash test/setup/pwsh.sh): without it the row is skipped, saying why, and
 *               under CI the bench fails.
 *
 *   output      200 MB of a command's stdout (`cat` of a file of random bytes), received by
 *               client.run with an onStdout callback, against `ssh HOST cat` of the same file
 *               from the same throwaway OpenSSH server. Goal: at most 2x. Both pay a new
 *               client and its login; the bytes are counted, never kept.
 *   output, CLI the same 200 MB through `pulumi-winrm exec` in a process of its own, its
 *               stdout a pipe read by this bench, against the same ssh. Goal: at most 2x.
 *   cli         start to exit of `pulumi-winrm exec -- echo hello` with stdin a pipe that
 *               ends at once (as in CI), against a Python process running the same command
 *               with winrm.Session.run_cmd (bench/pywinrm_once.py). Goal: at most pywinrm's.
 *
 * Figures are medians after warmup, our runs and the peer's interleaved so that both see the
 * same load on the machine; goals are reported as ratios, never asserted. The same host
 * process serves our client and pywinrm; the Windows persona is a second host process, started
 * only for the upload. openssh-server is installed with apt-get when sshd is
 * missing; sshd then runs on a free 127.0.0.1 port with a host key, config and authorized key
 * in a temporary folder, and is stopped at the end, on failure too.
 *
 * Usage: npm run build && node dist/bench/client.js [sequential] [cold] [upload] [output] [cli]
 *        (upload includes the Windows persona's)
 * Knobs: BENCH_UPLOAD_MB (100), BENCH_UPLOAD_RUNS (3), BENCH_COLD_RUNS (9),
 *        BENCH_ECHO_COUNT (100), BENCH_ECHO_ROUNDS (5), BENCH_OUTPUT_MB (200),
 *        BENCH_OUTPUT_RUNS (3), BENCH_CLI_RUNS (9).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdtemp, open, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { WinRMClient } from "../provider/winrm/client";
import type { ClientOptions } from "../provider/winrm/options";
import { findPwsh } from "../test/host/shell";
import { type Host, startLoopbackHost } from "./support/loopback-host";
import { Cleanup, LOOPBACK, log, REPO, run, stopProcess } from "./support/process";
import {
  formatTime,
  knob,
  median,
  rotated,
  type Row,
  samples,
  seconds,
  selected,
  table,
} from "./support/measure";
import { type Ssh, startSshd } from "./support/sshd";

const PYWINRM_DRIVER = path.join(REPO, "bench", "pywinrm_bench.py");
const VENV_PYTHON = path.join(REPO, ".venv", "bin", "python");

const CONFIG = Object.freeze({
  echoCount: knob("BENCH_ECHO_COUNT", 100, 1),
  echoRounds: knob("BENCH_ECHO_ROUNDS", 5, 1),
  echoWarmup: 5,
  coldRuns: knob("BENCH_COLD_RUNS", 9, 5),
  coldWarmup: 2,
  uploadMB: knob("BENCH_UPLOAD_MB", 100, 1),
  uploadRuns: knob("BENCH_UPLOAD_RUNS", 3, 3),
  uploadWarmup: 1,
  outputMB: knob("BENCH_OUTPUT_MB", 200, 1),
  outputRuns: knob("BENCH_OUTPUT_RUNS", 3, 3),
  outputWarmup: 1,
  cliRuns: knob("BENCH_CLI_RUNS", 9, 5),
  cliWarmup: 2,
});

const MEASUREMENTS = ["sequential", "cold", "upload", "output", "cli"] as const;
const CLI = path.join(REPO, "dist", "provider", "cli", "main.js");
const PYWINRM_ONCE = path.join(REPO, "bench", "pywinrm_once.py");

// ---------------------------------------------------------------------------------------------
// Small helpers

async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest("hex");
}

function clientOptions(host: Host): ClientOptions {
  // The same security as the peer: NTLM with every message sealed, over plain HTTP.
  return {
    host: LOOPBACK,
    port: host.port,
    user: host.user,
    password: host.password,
    auth: "ntlm",
    encryption: "always",
  };
}

// ---------------------------------------------------------------------------------------------
// pywinrm, in the project's Python venv

async function pythonPeer(): Promise<string> {
  if (!existsSync(VENV_PYTHON)) {
    log("pywinrm: building the Python venv with test/setup/python.sh");
    await run("bash", [path.join(REPO, "test", "setup", "python.sh")]);
  }
  const version = (
    await run(VENV_PYTHON, ["-c", "import importlib.metadata as m; print(m.version('pywinrm'))"])
  ).trim();
  if (!version.startsWith("0.5")) log(`pywinrm: expected 0.5.x, found ${version}`);
  return version;
}

/** bench/pywinrm_bench.py kept running, answering one timing request at a time. */
class Pywinrm {
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private wake: (() => void) | undefined;
  private stderr = "";

  constructor(host: Host, cleanup: Cleanup) {
    this.child = spawn(VENV_PYTHON, [PYWINRM_DRIVER, host.url, host.user], {
      cwd: REPO,
      env: { ...process.env, WINRM_PASSWORD: host.password },
      stdio: ["pipe", "pipe", "pipe"],
    });
    cleanup.add("stopping pywinrm", () => stopProcess(this.child));
    this.child.stdin!.on("error", () => undefined); // an early exit is reported by time()
    let buffered = "";
    this.child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
        this.lines.push(buffered.slice(0, end));
        buffered = buffered.slice(end + 1);
      }
      this.wake?.();
    });
    this.child.stderr!.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString("utf8")).slice(-4000);
    });
    this.child.on("exit", () => this.wake?.());
  }

  /** Sends one request line and resolves with the seconds the peer measured. */
  async time(request: string): Promise<number> {
    this.child.stdin!.write(`${request}\n`);
    while (this.lines.length === 0) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`pywinrm_bench.py exited: ${this.stderr.trim()}`);
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    const answer = JSON.parse(this.lines.shift()!) as { seconds?: number; error?: string };
    if (answer.seconds === undefined) throw new Error(`pywinrm: ${answer.error}`);
    return answer.seconds;
  }
}

/** rotated() for two: ours and the peer's, alternating who goes first. */
async function interleaved(
  runs: number,
  warmup: number,
  ours: () => Promise<number>,
  peer: () => Promise<number>,
): Promise<{ ours: number[]; peer: number[] }> {
  const [oursTimes, peerTimes] = await rotated(runs, warmup, [ours, peer]);
  return { ours: oursTimes!, peer: peerTimes! };
}

// ---------------------------------------------------------------------------------------------
// Measurements

async function echo(client: WinRMClient): Promise<void> {
  const result = await client.run("echo", ["hello"]);
  if (result.exitCode !== 0 || result.stdout.toString("utf8").trim() !== "hello") {
    throw new Error(`echo gave exit ${result.exitCode}, stdout ${JSON.stringify(result.stdout)}`);
  }
}

async function sequential(host: Host, peer: Pywinrm): Promise<Row> {
  const { echoCount: count, echoRounds: rounds, echoWarmup: warmup } = CONFIG;
  const client = new WinRMClient(clientOptions(host));
  let times: { ours: number[]; peer: number[] };
  try {
    const ours = async () => {
      const start = process.hrtime.bigint();
      for (let n = 0; n < count; n++) await echo(client);
      return seconds(start);
    };
    times = await interleaved(rounds, warmup, ours, () => peer.time(`sequential ${count}`));
  } finally {
    await client.close();
  }
  log(`sequential: pulumi-winrm ${samples(times.ours)}; pywinrm ${samples(times.peer)}`);
  const [a, b] = [median(times.ours), median(times.peer)];
  return {
    measurement: `${count} sequential echo commands`,
    ours: formatTime(a),
    peer: `${formatTime(b)} (pywinrm)`,
    ratio: a / b,
    goal: 0.5,
  };
}

async function coldOnce(host: Host): Promise<number> {
  const start = process.hrtime.bigint();
  const client = new WinRMClient(clientOptions(host));
  try {
    await echo(client);
    return seconds(start);
  } finally {
    await client.close();
  }
}

async function cold(host: Host, peer: Pywinrm): Promise<Row> {
  const { coldRuns: runs, coldWarmup: warmup } = CONFIG;
  const times = await interleaved(
    runs,
    warmup,
    () => coldOnce(host),
    () => peer.time("cold"),
  );
  log(`cold: pulumi-winrm ${samples(times.ours)}; pywinrm ${samples(times.peer)}`);
  const [a, b] = [median(times.ours), median(times.peer)];
  return {
    measurement: "cold connect + auth + first command",
    ours: formatTime(a),
    peer: `${formatTime(b)} (pywinrm)`,
    ratio: a / b,
    goal: 1,
  };
}

// ---------------------------------------------------------------------------------------------
// Upload

async function makeSource(file: string, bytes: number): Promise<string> {
  const hash = createHash("sha256");
  const handle = await open(file, "w");
  try {
    for (let left = bytes; left > 0;) {
      const chunk = randomBytes(Math.min(left, 1 << 20));
      hash.update(chunk);
      left -= chunk.length;
      await handle.write(chunk);
    }
  } finally {
    await handle.close();
  }
  return hash.digest("hex");
}

async function verify(file: string, bytes: number, sha256: string, who: string): Promise<void> {
  const size = (await stat(file)).size;
  if (size !== bytes) throw new Error(`${who}: ${file} has ${size} bytes, expected ${bytes}`);
  if ((await sha256File(file)) !== sha256) throw new Error(`${who}: ${file} content differs`);
  await rm(file);
}

/** A precondition the bench cannot meet: reported as its message alone, without a stack. */
class Unmet extends Error {}

/**
 * Whether the Windows persona's upload can run: the pwsh it would use, else why not. Under CI
 * a missing pwsh is an error (test/setup/pwsh.sh must have installed it), as in the tests.
 */
async function windowsPersona(): Promise<{ pwsh: string } | { skipped: string }> {
  const pwsh = findPwsh();
  if (pwsh === undefined) {
    const reason =
      "pwsh (PowerShell 7) is not installed, so the Windows persona's upload cannot run " +
      "(bash test/setup/pwsh.sh installs it)";
    if (process.env.CI) throw new Unmet(`${reason}; CI must have it`);
    log(`upload, windows persona: skipped: ${reason}`);
    return { skipped: reason };
  }
  const version = (await run(pwsh, ["-NoLogo", "-NoProfile", "--version"])).trim();
  log(`upload, windows persona: ${version} (${pwsh})`);
  return { pwsh };
}

async function upload(
  host: Host,
  windows: { pwsh: string } | { skipped: string },
  { folder, ssh }: Workspace,
  cleanup: Cleanup,
): Promise<Row[]> {
  const { uploadMB, uploadRuns: runs, uploadWarmup: warmup } = CONFIG;
  const bytes = uploadMB * 1_000_000;
  const source = path.join(folder, "source.bin");
  const sha256 = await makeSource(source, bytes);
  let windowsHost: Host | undefined;
  if ("pwsh" in windows) {
    windowsHost = await startLoopbackHost(cleanup, "windows");
    log(`loopback host, windows persona: ${windowsHost.url} (process ${windowsHost.pid})`);
  }

  const oursOnce = async (target: Host, family: "posix" | "powershell"): Promise<number> => {
    const who = family === "posix" ? "pulumi-winrm" : "pulumi-winrm (windows persona)";
    const destination = path.join(folder, `winrm-${family}-upload.bin`);
    const start = process.hrtime.bigint();
    const client = new WinRMClient(clientOptions(target));
    try {
      const files = await client.files();
      // The persona must have chosen the script family, or this row measures the wrong thing.
      const chosen = (await client.scripts()).family;
      if (chosen !== family) throw new Error(`${who}: the client chose the ${chosen} scripts`);
      const stream = createReadStream(source, { highWaterMark: 1 << 20 });
      const result = await files.upload(stream as AsyncIterable<Buffer>, destination, {
        size: bytes,
      });
      if (result.sha256 !== sha256) throw new Error(`${who}: hashed other bytes`);
    } finally {
      await client.close();
    }
    const elapsed = seconds(start);
    await verify(destination, bytes, sha256, who);
    return elapsed;
  };
  const scpOnce = async (): Promise<number> => {
    const destination = path.join(folder, "scp-upload.bin");
    const start = process.hrtime.bigint();
    await run("scp", [...ssh.scpArgs, source, `${ssh.target}:${destination}`]);
    const elapsed = seconds(start);
    await verify(destination, bytes, sha256, "scp");
    return elapsed;
  };

  const contenders = [() => oursOnce(host, "posix"), scpOnce];
  if (windowsHost) contenders.push(() => oursOnce(windowsHost, "powershell"));
  const [posixTimes, scpTimes, windowsTimes] = await rotated(runs, warmup, contenders);
  log(
    `upload: pulumi-winrm ${samples(posixTimes!)}; scp ${samples(scpTimes!)}` +
      (windowsTimes ? `; pulumi-winrm, windows persona ${samples(windowsTimes)}` : ""),
  );
  const [a, b] = [median(posixTimes!), median(scpTimes!)];
  const rate = (time: number) => `${(bytes / 1e6 / time).toFixed(1)} MB/s`;
  const peer = `${formatTime(b)} (${rate(b)}, scp)`;
  const rows: Row[] = [
    {
      measurement: `upload ${uploadMB} MB`,
      ours: `${formatTime(a)} (${rate(a)})`,
      peer,
      ratio: a / b,
      goal: 2,
    },
  ];
  if (windowsTimes) {
    const w = median(windowsTimes);
    rows.push({
      measurement: `upload ${uploadMB} MB, windows persona (pwsh)`,
      ours: `${formatTime(w)} (${rate(w)}, ${(w / a).toFixed(2)}x posix host)`,
      peer,
      ratio: w / b,
      goal: 3,
    });
  }
  await rm(source);
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Output

/** A temporary folder and an OpenSSH server on loopback that serves it, for scp and ssh. */
interface Workspace {
  folder: string;
  ssh: Ssh;
}

async function workspace(cleanup: Cleanup): Promise<Workspace> {
  const folder = await mkdtemp(path.join(tmpdir(), "pulumi-winrm-bench-"));
  cleanup.add(`removing ${folder}`, () => rm(folder, { recursive: true, force: true }));
  return { folder, ssh: await startSshd(folder, cleanup) };
}

/** Runs a process to its end, counting its stdout bytes; rejects on a non-zero exit. */
function countStdout(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let bytes = 0;
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (bytes += chunk.length));
    child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    child.once("error", reject);
    child.once("close", (code) => {
      if (code === 0) resolve(bytes);
      else reject(new Error(`${path.basename(command)} exited ${code}: ${stderr.trim()}`));
    });
  });
}

function cliConnection(host: Host): { args: string[]; env: NodeJS.ProcessEnv } {
  return {
    args: ["--host", LOOPBACK, "--port", String(host.port), "--user", host.user, "--auth", "ntlm"],
    env: { ...process.env, WINRM_PASSWORD: host.password },
  };
}

async function output(host: Host, { folder, ssh }: Workspace): Promise<Row[]> {
  const { outputMB, outputRuns: runs, outputWarmup: warmup } = CONFIG;
  const bytes = outputMB * 1_000_000;
  const file = path.join(folder, "output.bin");
  await makeSource(file, bytes);
  const expect = (who: string, got: number) => {
    if (got !== bytes) throw new Error(`${who}: received ${got} bytes of ${bytes}`);
  };
  const clientOnce = async (): Promise<number> => {
    const start = process.hrtime.bigint();
    const client = new WinRMClient(clientOptions(host));
    let received = 0;
    try {
      const result = await client.run("cat", [file], {
        onStdout: (chunk) => (received += chunk.length),
        maxOutputBytes: 0,
      });
      if (result.exitCode !== 0) throw new Error(`cat exited ${result.exitCode}`);
    } finally {
      await client.close();
    }
    const elapsed = seconds(start);
    expect("pulumi-winrm", received);
    return elapsed;
  };
  const { args, env } = cliConnection(host);
  const cliOnce = async (): Promise<number> => {
    const start = process.hrtime.bigint();
    const received = await countStdout(
      process.execPath,
      [CLI, "exec", ...args, "--", "cat", file],
      env,
    );
    const elapsed = seconds(start);
    expect("pulumi-winrm exec", received);
    return elapsed;
  };
  const sshOnce = async (): Promise<number> => {
    const start = process.hrtime.bigint();
    const received = await countStdout("ssh", [...ssh.sshArgs, ssh.target, "cat", file]);
    const elapsed = seconds(start);
    expect("ssh", received);
    return elapsed;
  };
  const [clientTimes, cliTimes, sshTimes] = await rotated(runs, warmup, [
    clientOnce,
    cliOnce,
    sshOnce,
  ]);
  log(
    `output: pulumi-winrm ${samples(clientTimes!)}; pulumi-winrm exec ${samples(cliTimes!)}; ` +
      `ssh cat ${samples(sshTimes!)}`,
  );
  await rm(file);
  const [a, c, b] = [median(clientTimes!), median(cliTimes!), median(sshTimes!)];
  const rate = (time: number) => `${(bytes / 1e6 / time).toFixed(1)} MB/s`;
  const peer = `${formatTime(b)} (${rate(b)}, ssh cat)`;
  return [
    {
      measurement: `${outputMB} MB of command output`,
      ours: `${formatTime(a)} (${rate(a)})`,
      peer,
      ratio: a / b,
      goal: 2,
    },
    {
      measurement: `${outputMB} MB of output, pulumi-winrm exec`,
      ours: `${formatTime(c)} (${rate(c)})`,
      peer,
      ratio: c / b,
      goal: 2,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// The command-line tool, start to exit

/** Runs a process with stdin a pipe that ends at once; resolves with its seconds, start to exit. */
function timedProcess(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(command, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.end();
    child.once("error", reject);
    child.once("exit", (code) => {
      const elapsed = seconds(start);
      if (code !== 0 || stdout.trim() !== "hello") {
        reject(new Error(`${path.basename(command)} exited ${code}: ${stdout}${stderr}`.trim()));
      } else resolve(elapsed);
    });
  });
}

async function cli(host: Host): Promise<Row> {
  const { cliRuns: runs, cliWarmup: warmup } = CONFIG;
  const { args, env } = cliConnection(host);
  const ours = () =>
    timedProcess(process.execPath, [CLI, "exec", ...args, "--", "echo", "hello"], env);
  const peer = () =>
    timedProcess(VENV_PYTHON, [PYWINRM_ONCE, host.url, host.user], {
      ...process.env,
      WINRM_PASSWORD: host.password,
    });
  const times = await interleaved(runs, warmup, ours, peer);
  log(`cli: pulumi-winrm exec ${samples(times.ours)}; pywinrm ${samples(times.peer)}`);
  const [a, b] = [median(times.ours), median(times.peer)];
  return {
    measurement: "CLI start to exit, one command, stdin a pipe",
    ours: formatTime(a),
    peer: `${formatTime(b)} (pywinrm, python3)`,
    ratio: a / b,
    goal: 1,
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const which = selected(MEASUREMENTS, "measurement");
  const cleanup = new Cleanup();
  const interrupt = (signal: NodeJS.Signals) => {
    log(`bench: ${signal}, cleaning up`);
    void cleanup.runAll().finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupt);
  process.once("SIGTERM", interrupt);
  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    // Decided first, so that under CI a missing pwsh fails before anything is measured.
    const windows = which.includes("upload") ? await windowsPersona() : undefined;
    if (windows && "skipped" in windows)
      notes.push(`upload, windows persona: skipped: ${windows.skipped}`);
    const host = await startLoopbackHost(cleanup);
    log(`loopback host: ${host.url} (process ${host.pid}); client: node ${process.version}`);
    if (which.includes("sequential") || which.includes("cold") || which.includes("cli")) {
      log(`pywinrm ${await pythonPeer()}`);
    }
    if (which.includes("sequential") || which.includes("cold")) {
      const peer = new Pywinrm(host, cleanup);
      if (which.includes("sequential")) rows.push(await sequential(host, peer));
      if (which.includes("cold")) rows.push(await cold(host, peer));
    }
    if (which.includes("cli")) rows.push(await cli(host));
    const shared = windows || which.includes("output") ? await workspace(cleanup) : undefined;
    if (windows) rows.push(...(await upload(host, windows, shared!, cleanup)));
    if (which.includes("output")) rows.push(...(await output(host, shared!)));
  } finally {
    await cleanup.runAll();
  }
  process.stdout.write(
    `\npulumi-winrm client vs peers, loopback host over HTTP, NTLM, message encryption ` +
      `(median; ratio = our time / peer time)\n\n${table(rows)}\n` +
      notes.map((note) => `\n${note}\n`).join(""),
  );
}

main().catch((error: unknown) => {
  const why =
    error instanceof Unmet
      ? error.message
      : error instanceof Error
        ? (error.stack ?? error.message)
        : String(error);
  log(`bench failed: ${why}`);
  process.exit(1);
});
