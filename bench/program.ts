/**
 * The program's share of a stack (issue 19, "program-side cost"): the CPU time a Pulumi program
 * spends declaring N RemoteCommands, beside N no-op dynamic resources declared the same way
 * (the floor: what the Pulumi SDK costs per resource by itself). Pulumi's mocks stand in for
 * the engine, so only the program is measured: constructing each resource and waiting until
 * every registration has been answered.
 *
 * Each measurement runs in a Node process of its own (the same cold start for both kinds), the
 * kinds alternating, BENCH_PROGRAM_ROUNDS times (5); the medians and their ratio are printed.
 * Ratios are reported, never asserted. Goal: the issue asks for "near the floor", read here as
 * at most 1.5x.
 *
 * Usage: npm run bench:program   Knobs: BENCH_PROGRAM_COUNT (500), BENCH_PROGRAM_ROUNDS (5)
 */
import { spawnSync } from "node:child_process";
import * as pulumi from "@pulumi/pulumi";
import { RemoteCommand } from "../sdk";
import { useEchoMocks } from "../test/support/pulumi-mocks";
import { knob, median, rotated, type Row, table } from "./support/measure";
import { log } from "./support/process";

const COUNT = knob("BENCH_PROGRAM_COUNT", 500, 1);
const ROUNDS = knob("BENCH_PROGRAM_ROUNDS", 5, 1);
type Kind = "noop" | "RemoteCommand";

/** The floor's provider, as bench:scale's engine floor declares it (test/e2e/support/driver.ts). */
const noopProvider: pulumi.dynamic.ResourceProvider = {
  create: (inputs: Record<string, unknown>) => Promise.resolve({ id: "noop", outs: inputs }),
};

class Noop extends pulumi.dynamic.Resource {
  constructor(name: string, props: Record<string, unknown>) {
    super(noopProvider, name, props);
  }
}

/** In the child: declares `count` resources of `kind`; prints the CPU milliseconds it took. */
async function construct(kind: Kind, count: number): Promise<void> {
  await useEchoMocks("bench", "program");
  // As bench:scale's program declares them: a connection whose password is a secret.
  const connection = {
    host: "127.0.0.1",
    port: 5985,
    user: "bench",
    password: pulumi.secret("Bench-password-1"),
  };
  const started = process.cpuUsage();
  const resources: pulumi.CustomResource[] = [];
  for (let index = 0; index < count; index++) {
    const create = `echo ${kind}-${index}`;
    resources.push(
      kind === "noop"
        ? new Noop(`r${index}`, { create, connection: undefined })
        : new RemoteCommand(`r${index}`, { connection, shell: "cmd", logging: "none", create }),
    );
  }
  // Every registration answered: the SDK's work per resource is done.
  await Promise.all(
    resources.map((resource) => new Promise((resolve) => resource.id.apply(resolve))),
  );
  const used = process.cpuUsage(started);
  process.stdout.write(`${(used.user + used.system) / 1000}\n`);
}

function measureInChild(kind: Kind): Promise<number> {
  const child = spawnSync(process.execPath, [__filename, "--construct", kind, String(COUNT)], {
    encoding: "utf8",
  });
  if (child.status !== 0) {
    throw new Error(`declaring ${kind} failed (exit ${child.status}): ${child.stderr}`);
  }
  return Promise.resolve(Number(child.stdout.trim()) / 1000);
}

async function main(): Promise<void> {
  const times = await rotated(ROUNDS, 1, [
    () => measureInChild("noop"),
    () => measureInChild("RemoteCommand"),
  ]);
  const [floor, ours] = times.map((samples) => median(samples)) as [number, number];
  log(
    `program CPU for ${COUNT} resources: no-op ${times[0]!.map((t) => t.toFixed(3)).join(", ")} s; ` +
      `RemoteCommand ${times[1]!.map((t) => t.toFixed(3)).join(", ")} s`,
  );
  const perResource = (seconds: number) => `${((seconds / COUNT) * 1000).toFixed(2)} ms each`;
  const rows: Row[] = [
    {
      measurement: `program CPU, ${COUNT} RemoteCommands declared`,
      ours: `${ours.toFixed(2)} s (${perResource(ours)})`,
      peer: `${floor.toFixed(2)} s (${perResource(floor)}, no-op)`,
      ratio: ours / floor,
      goal: 1.5,
    },
  ];
  process.stdout.write(`${table(rows)}\n(${new Date().toISOString()}, node ${process.version})\n`);
}

if (process.argv[2] === "--construct") {
  void construct(process.argv[3] as Kind, Number(process.argv[4])).catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
} else {
  main().catch((error: unknown) => {
    process.stderr.write(
      `bench:program: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  });
}
