/**
 * Finds the Pulumi CLI for the end-to-end tests: test/setup/pulumi-cli.sh prints the folder of
 * a `pulumi` binary at the version of @pulumi/pulumi in package-lock.json, building it from the
 * Go module proxy into a cache outside the clone when it is missing. A failure throws: the
 * end-to-end tier fails loudly rather than skipping.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

/** The repository root, from dist/test/e2e/support. */
export const REPO_ROOT = resolve(__dirname, "..", "..", "..", "..");

let cached: string | undefined;

/** The folder holding the `pulumi` binary. */
export function pulumiCliDir(): string {
  if (cached !== undefined) return cached;
  const script = join(REPO_ROOT, "test", "setup", "pulumi-cli.sh");
  const result = spawnSync("bash", [script], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const dir = result.stdout?.trim().split("\n").pop() ?? "";
  if (result.status !== 0 || dir === "" || !existsSync(join(dir, "pulumi"))) {
    throw new Error(
      `test/setup/pulumi-cli.sh did not provide a pulumi binary (exit ${String(result.status)}` +
        `${result.error ? `, ${result.error.message}` : ""}); the end-to-end tests need it`,
    );
  }
  cached = dir;
  return dir;
}

/** The version of @pulumi/pulumi this repository is locked to (and the CLI is built at). */
export function lockedPulumiVersion(): string {
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, { version?: string }>;
  };
  const version = lock.packages["node_modules/@pulumi/pulumi"]?.version;
  if (version === undefined) throw new Error("package-lock.json does not lock @pulumi/pulumi");
  return version;
}
