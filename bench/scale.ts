/**
 * Scale: stacks of many resources on one host, beside the engine floor, in one run (issue 19).
 *
 *   engine floor     N resources of a dynamic provider that does nothing, in the same project:
 *                    what the engine, its checkpoint and the dynamic-provider plugin cost.
 *   secret floor     the same no-op resources, each carrying a secret of the connection's shape:
 *                    the engine's cost of the one secret every resource of ours stores.
 *   RemoteCommand    N RemoteCommands against the loopback host (HTTP, Negotiate, encrypted),
 *                    pulumi-winrm packed and installed into a project as a user installs it,
 *                    driven by the real Pulumi CLI through the Automation API.
 *
 * For each N of BENCH_SCALE_COUNTS: `up` of a fresh stack, a second `up` that changes nothing,
 * and `destroy`, each timed, for both kinds, with their ratios; the state per resource (its
 * entry in the checkpoint, and the checkpoint file divided by N); the peak RSS of the
 * dynamic-provider plugin; the logins and connections the host saw during the first `up`.
 * Then BENCH_SCALE_FILES RemoteFiles of BENCH_SCALE_FILE_BYTES each (distinct local files,
 * `source` inputs) beside as many no-op resources, and BENCH_SCALE_SLOW commands that each
 * sleep one second at --parallel BENCH_SCALE_PARALLEL: with real parallelism per host they take
 * about count / (commands at once) seconds.
 *
 * The stacks export no outputs, so the state holds the resources alone. Ratios are reported,
 * never asserted; each measure is the median of BENCH_SCALE_ROUNDS rounds (3), floor and ours
 * alternating which goes first. A whole run takes about a quarter of an hour on 2 cores.
 *
 * Usage: npm run bench:scale
 * Knobs: BENCH_SCALE_COUNTS ("50,200,500"), BENCH_SCALE_FILES (200), BENCH_SCALE_FILE_BYTES
 * (1048576), BENCH_SCALE_SLOW (50), BENCH_SCALE_PARALLEL (32), BENCH_SCALE_ROUNDS (3)
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import * as path from "node:path";
import type { E2EProject } from "../test/e2e/support/project";
import type { OperationResult, ResourceSpec } from "../test/e2e/support/scenario";
import { knob, median } from "./support/measure";
import { startEngineProject } from "./support/engine-project";
import { Cleanup, log } from "./support/process";

function counts(): number[] {
  const text = process.env.BENCH_SCALE_COUNTS ?? "50,200,500";
  const values = text.split(",").map((part) => Number(part.trim()));
  if (values.some((value) => !Number.isInteger(value) || value < 1)) {
    throw new Error(`BENCH_SCALE_COUNTS must list positive integers, got ${JSON.stringify(text)}`);
  }
  return values;
}

const COUNTS = counts();
const FILES = knob("BENCH_SCALE_FILES", 200, 1);
const FILE_BYTES = knob("BENCH_SCALE_FILE_BYTES", 1024 * 1024, 1);
const SLOW = knob("BENCH_SCALE_SLOW", 50, 1);
const PARALLEL = knob("BENCH_SCALE_PARALLEL", 32, 1);
const ROUNDS = knob("BENCH_SCALE_ROUNDS", 3, 1);

const secondsOf = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const ratio = (ours: number, floor: number) => `${(ours / floor).toFixed(2)}x`;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(2)} KiB`;
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;

/**
 * The largest peak RSS (VmHWM) of any dynamic-provider plugin process while `work` runs,
 * sampled every 200 ms from /proc: the kernel keeps each process's high-water mark, so a
 * sample shortly before the plugin exits sees its peak.
 */
async function pluginPeakRss<T>(work: () => Promise<T>): Promise<{ result: T; peakBytes: number }> {
  let peakBytes = 0;
  const sample = async () => {
    for (const pid of await readdir("/proc").catch(() => [] as string[])) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const command = await readFile(`/proc/${pid}/cmdline`, "utf8");
        if (!command.includes("dynamic-provider")) continue;
        const status = await readFile(`/proc/${pid}/status`, "utf8");
        const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
        if (match) peakBytes = Math.max(peakBytes, Number(match[1]) * 1024);
      } catch {
        // The process ended between listing and reading: nothing to sample.
      }
    }
  };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sample();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  try {
    return { result: await work(), peakBytes };
  } finally {
    sampling = false;
    await sampler;
  }
}

interface Lifecycle {
  upMs: number;
  quietUpMs: number;
  destroyMs: number;
  /** The resources' entries in the checkpoint, in bytes, divided by their number. */
  entryBytes: number;
  /** The whole checkpoint file, in bytes, divided by the number of resources. */
  fileBytes: number;
  peakRssBytes: number;
  logins: number;
  connections: number;
}

function expectChanges(what: string, result: OperationResult | undefined, key: string, n: number) {
  const changes = result?.changes ?? {};
  if (changes[key] !== n)
    throw new Error(`${what}: expected ${key} ${n}, got ${JSON.stringify(changes)}`);
}

/** The stack's checkpoint file in the project's file backend. */
function checkpointFile(project: E2EProject, stack: string): string {
  return path.join(
    project.dir,
    "..",
    "backend",
    ".pulumi",
    "stacks",
    "pulumi-winrm-e2e",
    `${stack}.json`,
  );
}

/** `up`, a quiet `up` and `destroy` of a fresh stack holding `resources`, measured. */
async function lifecycle(
  project: E2EProject,
  stackName: string,
  connection: Record<string, unknown>,
  resources: ResourceSpec[],
  counters: () => { authentications: number; connections: number },
): Promise<Lifecycle> {
  const n = resources.length;
  const stack = project.stack(stackName, connection, { exportResources: false });
  const before = counters();
  const measured = await pluginPeakRss(async () => {
    const [up, quiet, exported] = await stack.runOk(resources, ["up", "up", "export"]);
    const after = counters();
    const fileBytes = (await stat(checkpointFile(project, stackName))).size;
    const [destroy] = await stack.runOk(resources, ["destroy"]);
    return { up, quiet, exported, destroy, after, fileBytes };
  });
  const { up, quiet, exported, destroy, after, fileBytes } = measured.result;
  expectChanges(`${stackName} up`, up, "create", n + 1);
  expectChanges(`${stackName} second up`, quiet, "same", n + 1);
  expectChanges(`${stackName} destroy`, destroy, "delete", n + 1);
  const entries = (
    (exported?.deployment as { resources?: Array<{ type: string }> })?.resources ?? []
  )
    .filter((resource) => resource.type.startsWith("pulumi-nodejs:dynamic"))
    .map((resource) => Buffer.byteLength(JSON.stringify(resource)));
  if (entries.length !== n)
    throw new Error(`${stackName}: ${entries.length} resources in the state, not ${n}`);
  return {
    upMs: up!.durationMs,
    quietUpMs: quiet!.durationMs,
    destroyMs: destroy!.durationMs,
    entryBytes: entries.reduce((sum, bytes) => sum + bytes, 0) / n,
    fileBytes: fileBytes / n,
    peakRssBytes: measured.peakBytes,
    logins: after.authentications - before.authentications,
    connections: after.connections - before.connections,
  };
}

/** Each measure's median over the rounds. */
function medianOf(runs: readonly Lifecycle[]): Lifecycle {
  const pick = (key: keyof Lifecycle) => median(runs.map((run) => run[key]));
  return {
    upMs: pick("upMs"),
    quietUpMs: pick("quietUpMs"),
    destroyMs: pick("destroyMs"),
    entryBytes: pick("entryBytes"),
    fileBytes: pick("fileBytes"),
    peakRssBytes: Math.max(...runs.map((run) => run.peakRssBytes)),
    logins: Math.max(...runs.map((run) => run.logins)),
    connections: Math.max(...runs.map((run) => run.connections)),
  };
}

/**
 * ROUNDS rounds in which each contender runs once, the one that goes first rotating, so that
 * all see the same load; each measure's median (peaks and counts: the largest), in order.
 */
async function rounds(
  contenders: ReadonlyArray<(round: number) => Promise<Lifecycle>>,
): Promise<Lifecycle[]> {
  const runs = contenders.map(() => [] as Lifecycle[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const which = (round + k) % contenders.length;
      runs[which]!.push(await contenders[which]!(round));
    }
  }
  return runs.map(medianOf);
}

const noops = (n: number, tag: string): ResourceSpec[] =>
  Array.from({ length: n }, (_, index) => ({
    kind: "Noop",
    name: `r${index}`,
    args: { create: `echo ${tag}-${index}` },
  }));

/**
 * No-op resources that each carry a secret of the connection's shape: the engine encrypts
 * secrets into every checkpoint it writes, and a RemoteCommand stores its connection, a
 * secret, with its inputs and its outputs. This floor shows what that costs the engine.
 */
const secretNoops = (n: number, tag: string, connection: Record<string, unknown>): ResourceSpec[] =>
  noops(n, tag).map((spec) => ({
    ...spec,
    args: { ...spec.args, credentials: connection },
    secrets: ["credentials"],
  }));

const remoteCommands = (
  n: number,
  tag: string,
  command = (index: number) => `echo ${tag}-${index}`,
) =>
  Array.from({ length: n }, (_, index): ResourceSpec => ({
    kind: "RemoteCommand",
    name: `r${index}`,
    args: { shell: "cmd", logging: "none", create: command(index) },
  }));

function rows(kind: string, n: number, ours: Lifecycle, floor: Lifecycle): string[] {
  return [
    `${kind}, N = ${n} (floor: ${n} no-op dynamic resources)`,
    `  up          ${secondsOf(ours.upMs).padStart(9)}  floor ${secondsOf(floor.upMs).padStart(9)}  ${ratio(ours.upMs, floor.upMs)}`,
    `  quiet up    ${secondsOf(ours.quietUpMs).padStart(9)}  floor ${secondsOf(floor.quietUpMs).padStart(9)}  ${ratio(ours.quietUpMs, floor.quietUpMs)}`,
    `  destroy     ${secondsOf(ours.destroyMs).padStart(9)}  floor ${secondsOf(floor.destroyMs).padStart(9)}  ${ratio(ours.destroyMs, floor.destroyMs)}`,
    `  state per resource: entry ${kib(ours.entryBytes)} (floor ${kib(floor.entryBytes)}, ${ratio(ours.entryBytes, floor.entryBytes)}); ` +
      `checkpoint / N ${kib(ours.fileBytes)} (floor ${kib(floor.fileBytes)}, ${ratio(ours.fileBytes, floor.fileBytes)})`,
    `  provider plugin peak RSS ${mib(ours.peakRssBytes)} (floor ${mib(floor.peakRssBytes)}); ` +
      `${ours.logins} login(s) over ${ours.connections} connection(s) during up`,
  ];
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  process.once("SIGINT", () => void cleanup.runAll().finally(() => process.exit(130)));
  const report: string[] = [
    `bench:scale on ${cpus().length} cores, ${mib(totalmem())} memory, node ${process.version}`,
    "",
  ];
  const print = (lines: string[]) => {
    report.push(...lines, "");
    log(lines.join("\n"));
  };
  try {
    const folder = await mkdtemp(path.join(tmpdir(), "pulumi-winrm-bench-scale-"));
    cleanup.add("removing the temporary folder", () => rm(folder, { recursive: true }));
    const { host, project, connection } = await startEngineProject(cleanup);
    const counters = () => host.log.counters;

    /** The floor's `up` per count, for the slow commands' row. */
    const floorUp = new Map<number, number>();
    // Warm the CLI, the plugin and the disk cache once, untimed.
    await lifecycle(project, "warmup", connection, noops(10, "warmup"), counters);

    for (const n of COUNTS) {
      const [floor, ours, secretFloor] = await rounds([
        (round) =>
          lifecycle(project, `floor-${n}-${round}`, connection, noops(n, "floor"), counters),
        (round) =>
          lifecycle(
            project,
            `commands-${n}-${round}`,
            connection,
            remoteCommands(n, "bench"),
            counters,
          ),
        (round) =>
          lifecycle(
            project,
            `secret-floor-${n}-${round}`,
            connection,
            secretNoops(n, "floor", connection),
            counters,
          ),
      ]);
      floorUp.set(n, floor!.upMs);
      print([
        ...rows("RemoteCommand", n, ours!, floor!),
        `  beside ${n} no-op resources that carry a secret of the connection's shape: ` +
          `up ${secondsOf(secretFloor!.upMs)} (${ratio(ours!.upMs, secretFloor!.upMs)}), ` +
          `destroy ${secondsOf(secretFloor!.destroyMs)} (${ratio(ours!.destroyMs, secretFloor!.destroyMs)}), ` +
          `state ${kib(secretFloor!.entryBytes)} (${ratio(ours!.entryBytes, secretFloor!.entryBytes)})`,
      ]);
    }

    const sources = path.join(folder, "sources");
    const targets = path.join(folder, "targets");
    await Promise.all([mkdir(sources), mkdir(targets)]);
    const files: ResourceSpec[] = [];
    for (let index = 0; index < FILES; index++) {
      const source = path.join(sources, `f${index}.bin`);
      await writeFile(source, randomBytes(FILE_BYTES));
      files.push({
        kind: "RemoteFile",
        name: `r${index}`,
        args: { path: path.join(targets, `f${index}.bin`), source },
      });
    }
    const [fileFloor, fileRun] = await rounds([
      (round) =>
        lifecycle(project, `floor-files-${round}`, connection, noops(FILES, "floor"), counters),
      (round) => lifecycle(project, `files-${round}`, connection, files, counters),
    ]);
    print(rows(`RemoteFile of ${mib(FILE_BYTES)} (source)`, FILES, fileRun!, fileFloor!));

    const slow = project.stack("slow", connection, { exportResources: false, parallel: PARALLEL });
    const slowResources = remoteCommands(SLOW, "slow", () => "sleep 1");
    const before = counters();
    const [slowUp] = await slow.runOk(slowResources, ["up"]);
    const after = counters();
    await slow.runOk(slowResources, ["destroy"]);
    expectChanges("slow up", slowUp, "create", SLOW + 1);
    // The engine's own time for as many resources, measured above when SLOW is one of the
    // counts; the rest is the commands' time on the host.
    const engine = floorUp.get(SLOW);
    const commandsMs = engine === undefined ? undefined : slowUp!.durationMs - engine;
    print([
      `${SLOW} commands of one second each on one host, --parallel ${PARALLEL}, maxConcurrency 10`,
      `  up ${secondsOf(slowUp!.durationMs)}` +
        (commandsMs === undefined
          ? ""
          : `; less the engine floor for ${SLOW} (${secondsOf(engine!)}): ${secondsOf(commandsMs)}, ` +
            `about ${(SLOW / (commandsMs / 1000)).toFixed(1)} commands at once (ideal 10: ${SLOW / 10} s)`) +
        `; ${after.authentications - before.authentications} login(s) over ` +
        `${after.connections - before.connections} connection(s)`,
    ]);
  } finally {
    await cleanup.runAll();
  }
  process.stdout.write(`\n${report.join("\n")}load ${loadavg()[0]!.toFixed(2)} at the end\n`);
}

main().catch((error: unknown) => {
  log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
