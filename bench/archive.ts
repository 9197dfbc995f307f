/**
 * A folder placed on a host, as RemoteArchive places it, against `scp -r` of the same folder
 * to a throwaway OpenSSH server on 127.0.0.1, measured in the same run (issue 17):
 *
 *   many files   BENCH_ARCHIVE_FILES (1000) files of 10 KB in 10 folders. Goal: at most 3x.
 *   large files  10 files of BENCH_ARCHIVE_LARGE_MB (50) MB. Goal: at most 3x.
 *
 * Each side pays its whole invocation. Ours: a new client, Identify, hashing the local folder
 * (the manifest), hashing the remote folder (empty: every file goes), one bundle with the
 * host's SHA-256 check of every file before it moves into place, and close: what a
 * RemoteArchive's create does, without the engine. scp: its process start, SSH handshake and
 * transfer. Every copy is compared with the source afterwards. Both the POSIX persona of the
 * loopback host (tar unpacks the bundle) and the Windows persona (the PowerShell reader in
 * pwsh) are measured, interleaved with scp; the loopback hosts run as processes of their own.
 *
 * Usage: npm run bench:archive [many] [large]
 * Knobs: BENCH_ARCHIVE_FILES (1000), BENCH_ARCHIVE_LARGE_MB (50), BENCH_ARCHIVE_RUNS (3).
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { openSource } from "../provider/archive-source";
import { WinRMClient } from "../provider/winrm/client";
import { findPwsh } from "../test/host/shell";
import { type Host, startLoopbackHost } from "./support/loopback-host";
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
import { Cleanup, log, run } from "./support/process";
import { startSshd } from "./support/sshd";

const CONFIG = Object.freeze({
  files: knob("BENCH_ARCHIVE_FILES", 1000, 10),
  largeMB: knob("BENCH_ARCHIVE_LARGE_MB", 50, 1),
  runs: knob("BENCH_ARCHIVE_RUNS", 3, 1),
  warmup: 1,
});

const CASES = ["many", "large"] as const;
type Case = (typeof CASES)[number];

/** Writes the source folder; resolves with each file's relative path and SHA-256. */
function makeFolder(root: string, which: Case): Map<string, string> {
  const hashes = new Map<string, string>();
  const count = which === "many" ? CONFIG.files : 10;
  const size = which === "many" ? 10 * 1024 : CONFIG.largeMB * 1_000_000;
  for (let n = 0; n < count; n++) {
    const relative = which === "many" ? `d${n % 10}/file-${n}.bin` : `part-${n}.bin`;
    const full = path.join(root, ...relative.split("/"));
    mkdirSync(path.dirname(full), { recursive: true });
    const bytes = randomBytes(size);
    writeFileSync(full, bytes);
    hashes.set(relative, createHash("sha256").update(bytes).digest("hex"));
  }
  return hashes;
}

/** Checks a copy against the source's hashes, by reading it back locally. */
async function verify(root: string, hashes: Map<string, string>, who: string): Promise<void> {
  const copied = await openSource(root);
  copied.close();
  const got = new Map(copied.entries.map((entry) => [entry.path, entry.sha256]));
  if (got.size !== hashes.size || [...hashes].some(([name, hash]) => got.get(name) !== hash)) {
    throw new Error(`${who}: the copy in ${root} differs from the source`);
  }
}

async function measure(which: Case, hosts: Host[], cleanup: Cleanup): Promise<Row[]> {
  const folder = await mkdtemp(path.join(tmpdir(), "pulumi-winrm-bench-archive-"));
  cleanup.add(`removing ${folder}`, () => rm(folder, { recursive: true, force: true }));
  const source = path.join(folder, "source");
  const hashes = makeFolder(source, which);
  const ssh = await startSshd(folder, cleanup);
  let round = 0;
  const fresh = (who: string) => path.join(folder, `${who}-${++round}`);

  const oursOnce = (host: Host, who: string) => async (): Promise<number> => {
    const destination = fresh(who);
    const start = process.hrtime.bigint();
    const client = new WinRMClient({
      host: "127.0.0.1",
      port: host.port,
      user: host.user,
      password: host.password,
    });
    try {
      const files = await client.files();
      const local = await openSource(source);
      const remote = await files.hashTree(destination);
      if (remote !== "absent") throw new Error(`${who}: ${destination} already exists`);
      await files.placeFiles(destination, local.entries);
      local.close();
    } finally {
      await client.close();
    }
    const elapsed = seconds(start);
    await verify(destination, hashes, who);
    await rm(destination, { recursive: true, force: true });
    return elapsed;
  };
  const scpOnce = async (): Promise<number> => {
    const destination = fresh("scp");
    const start = process.hrtime.bigint();
    await run("scp", ["-r", ...ssh.scpArgs, source, `${ssh.target}:${destination}`]);
    const elapsed = seconds(start);
    await verify(destination, hashes, "scp");
    await rm(destination, { recursive: true, force: true });
    return elapsed;
  };

  const names = hosts.map((_, index) => (index === 0 ? "posix" : "windows"));
  const contenders = [scpOnce, ...hosts.map((host, index) => oursOnce(host, names[index]!))];
  const times = await rotated(CONFIG.runs, CONFIG.warmup, contenders);
  const [scpTimes, ...ourTimes] = times;
  const what =
    which === "many" ? `${CONFIG.files} files of 10 KB` : `10 files of ${CONFIG.largeMB} MB`;
  log(
    `${what}: scp -r ${samples(scpTimes!)}; ` +
      names.map((name, index) => `${name} ${samples(ourTimes[index]!)}`).join("; "),
  );
  const peer = median(scpTimes!);
  return names.map((name, index) => {
    const ours = median(ourTimes[index]!);
    return {
      measurement: `${what}, ${name} persona`,
      ours: formatTime(ours),
      peer: `${formatTime(peer)} (scp -r)`,
      ratio: ours / peer,
      goal: 3,
    };
  });
}

async function main(): Promise<void> {
  const which = selected(CASES, "case");
  const cleanup = new Cleanup();
  const interrupt = (signal: NodeJS.Signals) => {
    log(`bench: ${signal}, cleaning up`);
    void cleanup.runAll().finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupt);
  process.once("SIGTERM", interrupt);
  const rows: Row[] = [];
  try {
    const hosts = [await startLoopbackHost(cleanup, "posix")];
    if (findPwsh() !== undefined) hosts.push(await startLoopbackHost(cleanup, "windows"));
    else if (process.env.CI) throw new Error("pwsh is missing; CI must have it");
    else log("windows persona: skipped: pwsh is not installed (bash test/setup/pwsh.sh)");
    for (const name of which) rows.push(...(await measure(name, hosts, cleanup)));
  } finally {
    await cleanup.runAll();
  }
  log(`\n${table(rows)}\n(${new Date().toISOString()}, node ${process.version})`);
}

main().catch((error: unknown) => {
  log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
