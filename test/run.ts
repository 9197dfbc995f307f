/**
 * Runs tiers of the test suite with node's built-in runner, two files at a time: first the
 * unit, interop, integration, security and faults files, then the e2e files; each group closes
 * with its own summary (tests, pass, fail), and the exit status is non-zero if either group
 * failed.
 *
 * Usage: node dist/test/run.js [TIERS] [FILTER]
 *   TIERS   all (the default: every tier but remote), or tier names joined by commas:
 *           unit,interop. The remote tier runs against WINRM_TEST_HOST (test/remote).
 *   FILTER  only test files whose path contains this text; "!text": all but those. Several
 *           terms joined by commas: a file must contain one of the plain terms (if any is
 *           given) and none of the "!" ones, as in "!powershell-run,!pyspnego-harness"
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";

const TIERS = ["unit", "interop", "integration", "security", "faults", "e2e", "remote"] as const;
/** What "all" runs: every tier but remote, which needs a host named in its environment. */
const ALL = ["unit", "interop", "integration", "security", "faults", "e2e"];

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
/**
 * The tiers of the first group; the e2e files (and the remote ones) form the second. Every
 * file is its own process with its own loopback host (an e2e file also has its own Pulumi
 * home and backend), and nothing in them depends on timing tighter than seconds, so each group
 * runs two files at a time. An e2e file alone keeps about 1.2 of 2 cores busy (the engine,
 * the program and the provider take turns, and its hosts restart, refuse and time out by
 * design): one at a time, the second core sat idle for ten minutes of every CI run. The
 * remote files run one at a time: they may share one real Windows host and its quotas.
 */
const FIRST_GROUP_TIERS = new Set(["unit", "interop", "integration", "security", "faults"]);
const CONCURRENCY = Math.max(1, Math.min(2, availableParallelism()));

const terms = (filter ?? "").split(",").filter((term) => term !== "");
const excluded = terms.filter((term) => term.startsWith("!")).map((term) => term.slice(1));
const included = terms.filter((term) => !term.startsWith("!"));
const select = (names: string[]) =>
  names
    .flatMap((name) => testFiles(join(__dirname, name)))
    .filter(
      (file) =>
        (included.length === 0 || included.some((term) => file.includes(term))) &&
        !excluded.some((term) => file.includes(term)),
    );
const groups = [
  { files: select(tiers.filter((name) => FIRST_GROUP_TIERS.has(name))), concurrency: CONCURRENCY },
  {
    files: select(tiers.filter((name) => !FIRST_GROUP_TIERS.has(name))),
    concurrency: tiers.includes("remote") ? 1 : CONCURRENCY,
  },
].filter((group) => group.files.length > 0);
if (groups.length === 0) {
  console.error(`no test files found for tier "${tier}"${filter ? ` matching "${filter}"` : ""}`);
  process.exit(1);
}
/**
 * TEST_PROGRESS_DIR: a folder where a file `first-group.done` appears once the first group has
 * finished. .ci/run uses it to start other work beside the end-to-end files.
 */
const progressDir = process.env.TEST_PROGRESS_DIR;
let failed = false;
for (const group of groups) {
  const result = spawnSync(
    process.execPath,
    ["--test", "--test-reporter=spec", `--test-concurrency=${group.concurrency}`, ...group.files],
    { stdio: "inherit" },
  );
  if (result.status !== 0) failed = true;
  if (progressDir && group === groups[0]) {
    writeFileSync(join(progressDir, "first-group.done"), failed ? "failed\n" : "passed\n");
  }
}
process.exit(failed ? 1 : 0);
