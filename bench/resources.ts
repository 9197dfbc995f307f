/**
 * `pulumi up` of 50 commands against one host, measured in one run:
 *
 *   pulumi-winrm     50 RemoteCommands against the loopback host (HTTP, Negotiate, encrypted),
 *                    pulumi-winrm packed and installed into a project as a user installs it,
 *                    driven by the real Pulumi CLI through the Automation API.
 *   engine floor     50 resources of a dynamic provider that does nothing, in the same project:
 *                    what the engine and the dynamic-provider plugin cost by themselves.
 *   pulumi-command   50 remote.Command resources over SSH to a throwaway OpenSSH server: what a
 *                    Pulumi user would pick instead. Its provider must be built from the Go
 *                    module proxy (bench/setup/pulumi-command.sh); when it cannot be had, the
 *                    row says why instead of a figure.
 *
 * And, as context at the transport level (not the engine comparison above), the same 50
 * commands five at a time: through the OpenSSH client, one connection per command as
 * remote.Command dials one per resource, against through one WinRMClient.
 *
 * Figures are medians of BENCH_RESOURCES_ROUNDS rounds (3), the kinds interleaved within each
 * round so that all see the same load; each `up` is a fresh stack, destroyed afterwards (not
 * timed). Ratios are reported, never asserted.
 *
 * Usage: npm run bench:resources   Knobs: BENCH_RESOURCES_COUNT (50), BENCH_RESOURCES_ROUNDS (3)
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import * as path from "node:path";
import { WinRMClient } from "../provider/winrm/client";
import { pulumiCliDir } from "../test/e2e/support/cli";
import { type E2EProject, exec } from "../test/e2e/support/project";
import type { ResourceSpec } from "../test/e2e/support/scenario";
import { startLoopbackHost } from "./support/loopback-host";
import { knob } from "./support/measure";
import { startEngineProject } from "./support/engine-project";
import { Cleanup, log, LOOPBACK, REPO, run } from "./support/process";
import { startSshd, type Ssh } from "./support/sshd";

const COUNT = knob("BENCH_RESOURCES_COUNT", 50, 1);
const ROUNDS = knob("BENCH_RESOURCES_ROUNDS", 3, 1);
/** Commands in flight at once in the transport-level comparison (pulumi-winrm's default is 10). */
const TRANSPORT_CONCURRENCY = 5;

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const list = (values: readonly number[]) => values.map(seconds).join(", ");

/** The pulumi-command plugin, or why it cannot be had. */
function pulumiCommandPlugin(): { binary?: string; reason?: string } {
  const script = path.join(REPO, "bench", "setup", "pulumi-command.sh");
  const result = spawnSync("bash", [script], { cwd: REPO, encoding: "utf8" });
  const binary = result.stdout.trim().split("\n").pop();
  if (result.status === 0 && binary) return { binary };
  const reason = result.stderr.trim().split("\n").filter(Boolean).slice(-2).join(" ");
  return { reason: `bash bench/setup/pulumi-command.sh failed: ${reason}` };
}

/** Installs @pulumi/command and its plugin into the project. */
async function installPulumiCommand(project: E2EProject, binary: string): Promise<void> {
  const version = process.env.PULUMI_COMMAND_VERSION ?? "1.2.1";
  const npm = await exec(
    "npm",
    ["install", "--ignore-scripts", "--no-audit", "--no-fund", `@pulumi/command@${version}`],
    { cwd: project.dir, timeoutMs: 300_000 },
  );
  if (npm.code !== 0) throw new Error(`npm install @pulumi/command failed: ${npm.stderr}`);
  const home = path.join(project.dir, "..", "pulumi-home");
  const plugin = await exec(
    path.join(pulumiCliDir(), "pulumi"),
    ["plugin", "install", "resource", "command", `v${version}`, "--file", binary],
    { cwd: project.dir, env: { ...process.env, PULUMI_HOME: home }, timeoutMs: 120_000 },
  );
  if (plugin.code !== 0) throw new Error(`pulumi plugin install failed: ${plugin.stderr}`);
}

const commands = (kind: ResourceSpec["kind"], tag: string, extra = {}): ResourceSpec[] =>
  Array.from({ length: COUNT }, (_, index) => ({
    kind,
    name: `c${index}`,
    args:
      kind === "RemoteCommand"
        ? { shell: "cmd", logging: "none", create: `echo ${tag}-${index}` }
        : { create: `echo ${tag}-${index}`, ...extra },
  }));

/** One timed `up` of a fresh stack, destroyed afterwards. */
async function timedUp(
  project: E2EProject,
  stackName: string,
  connection: Record<string, unknown>,
  resources: ResourceSpec[],
): Promise<number> {
  const stack = project.stack(stackName, connection);
  const [up] = await stack.runOk(resources, ["up"]);
  await stack.runOk(resources, ["destroy"]);
  if (up?.changes?.create !== COUNT + 1) {
    throw new Error(`${stackName}: up created ${JSON.stringify(up?.changes)}`);
  }
  return up.durationMs;
}

/** `count` jobs, `concurrency` at a time; resolves with the elapsed milliseconds. */
async function pooled(count: number, concurrency: number, job: (n: number) => Promise<void>) {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await job(next++);
    }),
  );
  return performance.now() - started;
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  process.once("SIGINT", () => void cleanup.runAll().finally(() => process.exit(130)));
  const times = { winrm: [] as number[], floor: [] as number[], command: [] as number[] };
  const transport = { ssh: [] as number[], winrm: [] as number[] };
  let authentications = 0;
  let connections = 0;
  let commandReason: string | undefined;
  try {
    const folder = await mkdtemp(path.join(tmpdir(), "pulumi-winrm-bench-resources-"));
    cleanup.add("removing the temporary folder", () => rm(folder, { recursive: true }));
    const ssh: Ssh = await startSshd(folder, cleanup);
    const { host, project, connection } = await startEngineProject(cleanup);

    const plugin = pulumiCommandPlugin();
    if (plugin.binary) await installPulumiCommand(project, plugin.binary);
    else commandReason = plugin.reason;
    const sshPort = Number(ssh.sshArgs[ssh.sshArgs.indexOf("-p") + 1]);
    const keyFile = ssh.sshArgs[ssh.sshArgs.indexOf("-i") + 1]!;

    // Warm the CLI, the plugin and the disk cache once, untimed.
    await timedUp(project, "warmup", connection, commands("Noop", "warmup"));

    for (let round = 0; round < ROUNDS; round++) {
      const before = host.log.counters;
      times.winrm.push(
        await timedUp(project, `winrm-${round}`, connection, commands("RemoteCommand", "bench")),
      );
      const after = host.log.counters;
      authentications = after.authentications - before.authentications;
      connections = after.connections - before.connections;
      times.floor.push(
        await timedUp(project, `floor-${round}`, connection, commands("Noop", "floor")),
      );
      if (plugin.binary) {
        const sshConnection = {
          host: LOOPBACK,
          port: sshPort,
          user: ssh.target.split("@")[0],
          privateKey: await readFile(keyFile, "utf8"),
        };
        times.command.push(
          await timedUp(
            project,
            `command-${round}`,
            {},
            commands("SshCommand", "ssh", { connection: sshConnection }),
          ),
        );
      }
      log(
        `round ${round + 1}: pulumi-winrm ${seconds(times.winrm.at(-1)!)}, engine floor ` +
          `${seconds(times.floor.at(-1)!)}` +
          (plugin.binary ? `, pulumi-command ${seconds(times.command.at(-1)!)}` : ""),
      );
    }

    // Transport level: the host in a process of its own, so it does not share our event loop.
    const external = await startLoopbackHost(cleanup);
    for (let round = 0; round < ROUNDS; round++) {
      transport.ssh.push(
        await pooled(COUNT, TRANSPORT_CONCURRENCY, async (n) => {
          const out = await run("ssh", [...ssh.sshArgs, ssh.target, `echo ssh-${n}`]);
          if (out !== `ssh-${n}\n`) throw new Error(`ssh printed ${JSON.stringify(out)}`);
        }),
      );
      const client = new WinRMClient({
        host: LOOPBACK,
        port: external.port,
        user: external.user,
        password: external.password,
        maxShells: TRANSPORT_CONCURRENCY,
      });
      try {
        transport.winrm.push(
          await pooled(COUNT, TRANSPORT_CONCURRENCY, async (n) => {
            const result = await client.run(`echo winrm-${n}`);
            const out = result.stdout.toString("utf8");
            if (out !== `winrm-${n}\n`) throw new Error(`winrm printed ${JSON.stringify(out)}`);
          }),
        );
      } finally {
        await client.close();
      }
    }
  } finally {
    await cleanup.runAll();
  }

  const winrm = median(times.winrm);
  const floor = median(times.floor);
  const rows = [
    `pulumi up, ${COUNT} commands against one host (median of ${ROUNDS}; load ${loadavg()[0]!.toFixed(2)})`,
    "",
    `  pulumi-winrm RemoteCommand      ${seconds(winrm)}   (${list(times.winrm)}); ` +
      `${authentications} authentication(s) over ${connections} connection(s) per up`,
    `  engine floor (no-op dynamic)    ${seconds(floor)}   (${list(times.floor)}); ` +
      `pulumi-winrm adds ${seconds(winrm - floor)}`,
    times.command.length > 0
      ? `  pulumi-command remote.Command   ${seconds(median(times.command))}   (${list(times.command)}); ` +
        `ratio pulumi-winrm / pulumi-command = ${(winrm / median(times.command)).toFixed(2)}x`
      : `  pulumi-command remote.Command   not measured: ${commandReason ?? "unknown reason"}`,
    "",
    `transport only (context, not the comparison above): ${COUNT} commands, ${TRANSPORT_CONCURRENCY} at a time`,
    "",
    `  OpenSSH client, a connection per command   ${seconds(median(transport.ssh))}   (${list(transport.ssh)})`,
    `  pulumi-winrm WinRMClient, one client      ${seconds(median(transport.winrm))}   (${list(transport.winrm)})`,
    `  ratio pulumi-winrm / OpenSSH = ${(median(transport.winrm) / median(transport.ssh)).toFixed(2)}x`,
  ];
  process.stdout.write(`\n${rows.join("\n")}\n`);
}

main().catch((error: unknown) => {
  log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
