/**
 * A temporary Pulumi project with pulumi-winrm installed as a user installs it: the repository
 * (already built) is packed with `npm pack`, and the tarball is installed beside the locked
 * version of @pulumi/pulumi into a fresh folder. The driver script is copied in, and each
 * scenario runs as a child node process there (asynchronously, so that a loopback host in the
 * test's own process keeps serving).
 *
 * One project serves every test of a file (the install takes a while); each test uses a stack
 * of its own.
 */
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { lockedPulumiVersion, pulumiCliDir, REPO_ROOT } from "./cli";
import type { DriverResult, Operation, OperationResult, ResourceSpec, Scenario } from "./scenario";

export interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion without blocking the event loop; rejects past timeoutMs. */
export function exec(
  file: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so that a timeout ends the CLI and its plugins too.
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text));
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      reject(
        new Error(`${file} ${args.join(" ")} did not finish in ${options.timeoutMs} ms\n${stderr}`),
      );
    }, options.timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function check(what: string, result: Exec): Exec {
  if (result.code !== 0) {
    throw new Error(
      `${what} failed (exit ${String(result.code)}):\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result;
}

/** One stack of the project, with the connection its resources share. */
export interface TestStack {
  name: string;
  /** Runs operations on this stack's program (the given resources); returns each result. */
  run(resources: ResourceSpec[], operations: Operation[]): Promise<OperationResult[]>;
  /** Like run, but throws when an operation fails, with the CLI's output. */
  runOk(resources: ResourceSpec[], operations: Operation[]): Promise<OperationResult[]>;
}

export interface E2EProject {
  dir: string;
  /** The packed tarball's size in bytes. */
  tarballBytes: number;
  stack(
    name: string,
    connection: Record<string, unknown>,
    options?: { secretPassword?: boolean; exportResources?: boolean; parallel?: number },
  ): TestStack;
  close(): void;
}

const PASSPHRASE = "e2e-passphrase-not-a-secret";
/**
 * One driver run: the CLI's start, a few engine operations against the loopback host. The
 * longest (large-file's 200 MB uploads and a second up) took 118 s on a quiet machine and
 * over 120 s with the machine's two cores shared: the limit only catches a hung driver.
 */
const DRIVER_TIMEOUT_MS = 300_000;

export async function createProject(): Promise<E2EProject> {
  const cliDir = pulumiCliDir();
  const version = lockedPulumiVersion();
  const dir = mkdtempSync(join(tmpdir(), "pulumi-winrm-e2e-"));
  const packDir = join(dir, "pack");
  const projectDir = join(dir, "project");
  const backendDir = join(dir, "backend");
  const pulumiHome = join(dir, "pulumi-home");
  for (const folder of [packDir, projectDir, backendDir, pulumiHome]) {
    mkdirSync(folder, { recursive: true });
  }
  try {
    const packed = check(
      "npm pack",
      // The tree is built already; prepack's build would rewrite dist/ under tests running
      // from it beside this one.
      await exec("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", packDir], {
        cwd: REPO_ROOT,
        timeoutMs: 120_000,
      }),
    );
    const [{ filename, size }] = JSON.parse(packed.stdout) as [{ filename: string; size: number }];
    writeFileSync(
      join(projectDir, "package.json"),
      JSON.stringify({ name: "pulumi-winrm-e2e", version: "0.0.0", private: true }, null, 2),
    );
    check(
      "npm install",
      await exec(
        "npm",
        [
          "install",
          "--prefer-offline",
          "--no-audit",
          "--no-fund",
          join(packDir, filename),
          `@pulumi/pulumi@${version}`,
        ],
        { cwd: projectDir, timeoutMs: 300_000 },
      ),
    );
    copyFileSync(join(__dirname, "driver.js"), join(projectDir, "driver.js"));

    const pluginDir = join(projectDir, "node_modules", "@pulumi", "pulumi");
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: [cliDir, pluginDir, process.env.PATH ?? ""].join(delimiter),
      PULUMI_HOME: pulumiHome,
      PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
      PULUMI_BACKEND_URL: `file://${backendDir}`,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    };
    let runs = 0;
    const runScenario = async (scenario: Scenario): Promise<DriverResult> => {
      runs += 1;
      const scenarioFile = join(dir, `scenario-${runs}.json`);
      const resultFile = join(dir, `result-${runs}.json`);
      writeFileSync(scenarioFile, JSON.stringify(scenario, null, 2));
      const result = await exec(process.execPath, ["driver.js", scenarioFile, resultFile], {
        cwd: projectDir,
        env,
        timeoutMs: DRIVER_TIMEOUT_MS,
      });
      check("the driver", result);
      return JSON.parse(readFileSync(resultFile, "utf8")) as DriverResult;
    };

    return {
      dir: projectDir,
      tarballBytes: size,
      stack(name, connection, options = {}) {
        // Inside the project: the dynamic provider plugin resolves @pulumi/pulumi from here.
        const workDir = join(projectDir, "stacks", name);
        mkdirSync(workDir, { recursive: true });
        const run = async (resources: ResourceSpec[], operations: Operation[]) =>
          (
            await runScenario({
              project: "pulumi-winrm-e2e",
              stack: name,
              backendDir,
              workDir,
              passphrase: PASSPHRASE,
              connection,
              secretPassword: options.secretPassword,
              exportResources: options.exportResources,
              parallel: options.parallel,
              resources,
              operations,
            })
          ).operations;
        return {
          name,
          run,
          async runOk(resources, operations) {
            const results = await run(resources, operations);
            const failed = results.find((result) => !result.ok);
            if (failed) {
              throw new Error(
                `pulumi ${failed.operation} failed: ${failed.error}\n${failed.output}`,
              );
            }
            return results;
          },
        };
      },
      close() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
