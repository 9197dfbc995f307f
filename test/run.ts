/**
 * Runs one tier of the test suite with node's built-in runner, so that its summary (tests,
 * pass, fail) closes the output.
 *
 * Usage: node dist/test/run.js [TIERS] [FILTER]
 *   TIERS   all (the default: every tier but remote), or tier names joined by commas:
 *           unit,interop. The remote tier runs against WINRM_TEST_HOST (test/remote).
 *   FILTER  only test files whose path contains this text
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const TIERS = ["unit", "interop", "integration", "e2e", "remote"] as const;
/** What "all" runs: every tier but remote, which needs a host named in its environment. */
const ALL = ["unit", "interop", "integration", "e2e"];

function testFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return testFiles(path);
      return name.endsWith(".test.js") ? [path] : [];
    });
}

const [tier = "all", filter] = process.argv.slice(2);
const tiers = tier === "all" ? ALL : tier.split(",");
for (const name of tiers) {
  if (!(TIERS as readonly string[]).includes(name)) {
    console.error(`unknown test tier "${name}"; expected one of: all, ${TIERS.join(", ")}`);
    process.exit(2);
  }
}
const files = tiers
  .flatMap((name) => testFiles(join(__dirname, name)))
  .filter((file) => filter === undefined || file.includes(filter));
if (files.length === 0) {
  console.error(`no test files found for tier "${tier}"${filter ? ` matching "${filter}"` : ""}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...files], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
