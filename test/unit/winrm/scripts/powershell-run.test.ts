/**
 * The PowerShell family executed for real: every helper script and the runScript bootstrap,
 * started as the Windows persona of the loopback host starts powershell.exe (the command line
 * split by powershell.exe's rules, run in pwsh 7.6), against temporary folders with names
 * that break naive quoting in PowerShell. pwsh is PowerShell 7 on .NET; powershell.exe is 5.1
 * on .NET Framework. The scripts avoid what differs between them (powershell.ts), and
 * powershell.test.ts refuses the syntax 5.1 lacks; this file proves what they do.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test, type TestContext } from "node:test";
import {
  BASE64_LINE_MAX,
  decodeClixml,
  RESTRICTED_LANGUAGE_EXIT,
  scriptsFor,
  UPLOAD_HASH_MISMATCH_EXIT,
  UPLOAD_TEMP_PREFIX,
  WRONG_TYPE_EXIT,
} from "../../../../provider/winrm/scripts";
import {
  BOOTSTRAP_RESTRICTED_LANGUAGE,
  framePowerShellInput,
} from "../../../../provider/winrm/scripts/powershell";
import { findPwsh } from "../../../host/shell";
import { fnmatchLiteral, fsFaultsEnv } from "../../../support/fs-faults";
import { havePwsh } from "../../../support/pwsh";
import {
  assertKnownUploadRoundTrip,
  assertUploadsPlace,
  leftovers,
  run,
  type RunResult,
  sha256,
  type SpawnPlace,
  start,
  uploadStream,
  withHiddenFile,
} from "./support";

const scripts = scriptsFor("powershell");
/** Bytes per base64 line of an upload's stdin ("base64-lines"). */
const LINE_BYTES = (BASE64_LINE_MAX / 4) * 3;

/**
 * Names that PowerShell would misread if a path were ever expanded rather than taken
 * literally: wildcards, `$` and subexpressions, backticks, both kinds of quote including the
 * typographic ones PowerShell also treats as quotes, a newline, non-ASCII, a leading dash.
 */
const NASTY_NAMES = [
  "plain",
  "sp ace",
  `it's "quoted"`,
  "smart ‘quotes’ “double” ‚low‛",
  "$env:HOME and $(Get-Date) and `backtick`",
  "wild[card]*?",
  "new\nline",
  "ünïcødé-😀",
  "-leading-dash",
];

let root = "";
before(() => {
  root = mkdtempSync(join(tmpdir(), "pulumi-winrm-pwsh-"));
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A fresh directory below `root` whose own name is hostile too. */
function freshDir(label: string): string {
  const dir = join(root, `${label} it's $x [y] ü`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Registers a test that needs pwsh: it fails under CI without it, else skips saying why. */
function pwshTest(name: string, body: () => Promise<void>, timeout = 120_000): void {
  test(name, { timeout }, async (t: TestContext) => {
    if (!havePwsh(t)) return;
    await body();
  });
}

/** The runScript bootstrap with `script` and, optionally, the script's own stdin. */
async function runScript(
  script: string,
  stdin?: Buffer,
  options: SpawnPlace = {},
): Promise<RunResult & { errorText: string }> {
  const input: Buffer[] = [];
  for await (const chunk of framePowerShellInput(script, stdin)) input.push(Buffer.from(chunk));
  const result = await run(scripts.runScript(), Buffer.concat(input), options);
  return { ...result, errorText: decodeClixml(result.stderr) };
}

describe("PowerShell sha256, in pwsh", () => {
  pwshTest(
    "matches node's SHA-256 for every nasty name, and says absent when missing",
    async () => {
      const dir = freshDir("sha");
      for (const name of NASTY_NAMES) {
        const content = randomBytes(1000 + name.length);
        const path = join(dir, name);
        writeFileSync(path, content);
        const result = await run(scripts.sha256(path));
        assert.equal(result.code, 0, result.stderr);
        assert.equal(scripts.parseSha256(result.stdout), sha256(content), name);
      }
      const missing = await run(scripts.sha256(join(dir, "wild[card]*? missing")));
      assert.equal(missing.code, 0, missing.stderr);
      assert.equal(scripts.parseSha256(missing.stdout), "absent");
    },
  );

  pwshTest("refuses a directory with the wrong-type exit code", async () => {
    const result = await run(scripts.sha256(freshDir("sha-dir")));
    assert.equal(result.code, WRONG_TYPE_EXIT);
    assert.match(result.stderr, /is a directory/);
  });
});

describe("PowerShell stat, in pwsh", () => {
  pwshTest("file: size and modification time in UTC, to the millisecond", async () => {
    const path = join(freshDir("stat"), "new\nline $x");
    writeFileSync(path, Buffer.alloc(12345));
    for (const iso of ["2000-02-29T12:34:56.789Z", "1999-12-31T23:59:59.000Z"]) {
      utimesSync(path, new Date(iso), new Date(iso));
      const result = await run(scripts.stat(path));
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(scripts.parseStat(result.stdout), {
        exists: true,
        type: "file",
        size: 12345,
        modified: iso,
      });
    }
  });

  pwshTest("a directory and a missing path", async () => {
    const dir = freshDir("stat-dir");
    const stat = scripts.parseStat((await run(scripts.stat(dir))).stdout);
    assert.equal(stat.type, "directory");
    assert.equal(stat.size, undefined);
    assert.equal(stat.modified, new Date(Math.floor(statSync(dir).mtimeMs)).toISOString());
    const missing = await run(scripts.stat(join(dir, "nothing [here]")));
    assert.equal(missing.code, 0, missing.stderr);
    assert.deepEqual(scripts.parseStat(missing.stdout), { exists: false });
  });
});

describe("PowerShell remove, in pwsh", () => {
  pwshTest("a file, an absent path, a tree only with recursive", async () => {
    const dir = freshDir("remove");
    for (const name of NASTY_NAMES.slice(0, 6)) {
      const path = join(dir, name);
      writeFileSync(path, "x");
      const result = await run(scripts.remove(path));
      assert.equal(result.code, 0, result.stderr);
      assert.equal(existsSync(path), false, name);
    }
    assert.equal((await run(scripts.remove(join(dir, "plain")))).code, 0, "absent is success");
    // A wildcard name must not take its neighbours with it.
    writeFileSync(join(dir, "a1"), "keep");
    writeFileSync(join(dir, "a[1]"), "x");
    assert.equal((await run(scripts.remove(join(dir, "a[1]")))).code, 0);
    assert.deepEqual(readdirSync(dir).sort(), ["a1"]);

    const tree = join(dir, "tree $x");
    mkdirSync(join(tree, "a b", "c'd"), { recursive: true });
    writeFileSync(join(tree, "a b", "c'd", "f"), "x", { mode: 0o444 });
    const refused = await run(scripts.remove(tree));
    assert.equal(refused.code, WRONG_TYPE_EXIT);
    assert.match(refused.stderr, /is a directory/);
    assert.equal(existsSync(tree), true);
    const removed = await run(scripts.remove(tree, { recursive: true }));
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(existsSync(tree), false);
  });

  pwshTest("a symbolic link to a directory goes, its target stays", async () => {
    const dir = freshDir("remove-link");
    const target = join(dir, "target");
    mkdirSync(target);
    writeFileSync(join(target, "keep"), "x");
    symlinkSync(target, join(dir, "link"));
    const result = await run(scripts.remove(join(dir, "link"), { recursive: true }));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(existsSync(join(dir, "link")), false);
    assert.equal(existsSync(join(target, "keep")), true);
  });
});

describe("PowerShell mkdirp, in pwsh", () => {
  pwshTest("creates nested directories, accepts an existing one, refuses a file", async () => {
    const dir = freshDir("mkdirp");
    const nested = join(dir, ...NASTY_NAMES.slice(0, 6));
    assert.equal((await run(scripts.mkdirp(nested))).code, 0);
    assert.equal(statSync(nested).isDirectory(), true);
    assert.equal((await run(scripts.mkdirp(nested))).code, 0);
    writeFileSync(join(dir, "file"), "x");
    const refused = await run(scripts.mkdirp(join(dir, "file")));
    assert.equal(refused.code, WRONG_TYPE_EXIT);
    assert.match(refused.stderr, /exists and is not a directory/);
  });
});

describe("PowerShell upload, in pwsh", () => {
  pwshTest(
    "0, 1, 63, 64, 65 bytes, 1 MiB and line-edge sizes, to nasty names, verified",
    async () => {
      const dir = freshDir("upload");
      const cases: Array<[number, string]> = [
        [0, "plain"],
        [1, "sp ace"],
        [63, `it's "quoted"`],
        [64, "smart ‘quotes’ “double” ‚low‛"],
        [65, "$env:HOME and $(Get-Date) and `backtick`"],
        [1 << 20, "wild[card]*? ünïcødé-😀"],
        // Content and trailer across several full lines, the last one holding 1 byte, 30
        // bytes (shorter than the trailer: joined to the held bytes) or none.
        [LINE_BYTES - 64 + 1, "last line of one byte"],
        [2 * LINE_BYTES - 64 + 30, "last line of thirty bytes"],
        [2 * LINE_BYTES - 64, "full lines only"],
      ];
      await assertUploadsPlace(scripts, dir, cases);
    },
  );

  pwshTest("replaces an existing file", async () => {
    const dir = freshDir("upload-replace");
    const path = join(dir, "target");
    writeFileSync(path, "old content that is longer than the new one");
    const result = await run(scripts.upload(path), uploadStream(Buffer.from("new")));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(readFileSync(path, "utf8"), "new");
    assert.equal(result.stdout.trim(), "replaced");
    assert.deepEqual(leftovers(dir), []);
  });

  pwshTest(
    "with the hash named in the script: no trailer, verified, unchanged when the same",
    async () => {
      const dir = freshDir("upload-known");
      for (const [size, name] of [
        [0, "empty"],
        [65, `it's "quoted"`],
        [(1 << 20) + 5, "wild[card]*? ünïcødé-😀"],
      ] as const) {
        await assertKnownUploadRoundTrip(scripts, join(dir, `${size}-${name}`), randomBytes(size));
      }
      // Bytes that do not hash to the named SHA-256: refused, the old file kept, nothing left.
      const path = join(dir, "target");
      writeFileSync(path, "previous");
      const content = randomBytes(5000);
      const wrong = await run(
        scripts.upload(path, { sha256: sha256(Buffer.from("x")), size: 5000 }),
        content,
      );
      assert.equal(wrong.code, UPLOAD_HASH_MISMATCH_EXIT, wrong.stderr);
      assert.match(wrong.stderr, /SHA-256 mismatch/);
      assert.equal(readFileSync(path, "utf8"), "previous");
      assert.deepEqual(leftovers(dir), []);
    },
  );

  pwshTest("leaves a destination that holds the same bytes untouched, and says so", async () => {
    const dir = freshDir("upload-same");
    const path = join(dir, "target");
    const content = randomBytes(70_000);
    writeFileSync(path, content);
    const past = new Date("2001-02-03T04:05:06Z");
    utimesSync(path, past, past);
    const same = await run(scripts.upload(path), uploadStream(content));
    assert.equal(same.code, 0, same.stderr);
    assert.equal(same.stdout.trim(), "unchanged");
    assert.equal(statSync(path).mtime.getTime(), past.getTime(), "the file was rewritten");
    assert.deepEqual(leftovers(dir), []);
    // Same length, other bytes: replaced.
    const other = Buffer.from(content);
    other[35_000] = other[35_000]! ^ 1;
    const replaced = await run(scripts.upload(path), uploadStream(other));
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.equal(replaced.stdout.trim(), "replaced");
    assert.ok(readFileSync(path).equals(other));
    assert.deepEqual(leftovers(dir), []);
  });

  pwshTest(
    `a wrong trailing hash exits ${UPLOAD_HASH_MISMATCH_EXIT} and leaves nothing`,
    async () => {
      const dir = freshDir("upload-mismatch");
      const content = randomBytes(100_000);
      const wrong = sha256(Buffer.from("something else"));
      const result = await run(scripts.upload(join(dir, "target")), uploadStream(content, wrong));
      assert.equal(result.code, UPLOAD_HASH_MISMATCH_EXIT);
      assert.match(result.stderr, new RegExp(`SHA-256 mismatch: ${sha256(content)}`));
      assert.deepEqual(readdirSync(dir), []);
    },
  );

  pwshTest("a mismatch keeps the previous destination intact", async () => {
    const dir = freshDir("upload-keep");
    const path = join(dir, "target");
    writeFileSync(path, "previous");
    const result = await run(scripts.upload(path), uploadStream(randomBytes(10), "0".repeat(64)));
    assert.equal(result.code, UPLOAD_HASH_MISMATCH_EXIT);
    assert.equal(readFileSync(path, "utf8"), "previous");
    assert.deepEqual(leftovers(dir), []);
  });

  pwshTest("stdin closed before the 64-byte trailer leaves nothing", async () => {
    const dir = freshDir("upload-short");
    const full = uploadStream(randomBytes(5000));
    for (const cut of [0, 63, 5000 + 63]) {
      const result = await run(scripts.upload(join(dir, "target")), full.subarray(0, cut));
      assert.equal(result.code, UPLOAD_HASH_MISMATCH_EXIT, `cut at ${cut}: ${result.stderr}`);
      assert.match(result.stderr, /no SHA-256 trailer|SHA-256 mismatch/);
      assert.deepEqual(readdirSync(dir), [], `cut at ${cut}`);
    }
  });

  pwshTest(
    "refuses a destination that is a directory, or a folder that is a file; creates a missing folder",
    async () => {
      const dir = freshDir("upload-dir");
      const refused = await run(scripts.upload(dir), uploadStream(Buffer.from("x")));
      assert.equal(refused.code, WRONG_TYPE_EXIT);
      const file = join(dir, "a file");
      writeFileSync(file, "in the way");
      const blocked = await run(scripts.upload(join(file, "f")), uploadStream(Buffer.from("x")));
      assert.equal(blocked.code, WRONG_TYPE_EXIT);
      assert.ok(
        blocked.stderr.startsWith(`upload: ${file}: exists and is not a directory`),
        blocked.stderr,
      );
      const missing = join(dir, "no such folder", "deeper", "f");
      const created = await run(scripts.upload(missing), uploadStream(Buffer.from("x")));
      assert.equal(created.code, 0, created.stderr);
      assert.equal(readFileSync(missing, "utf8"), "x");
    },
  );

  pwshTest(
    "killed halfway (TerminateProcess runs no finally): no destination, at most a temporary file",
    async () => {
      const dir = freshDir("upload-killed");
      const path = join(dir, "target");
      writeFileSync(path, "previous");
      const { child, done } = start(scripts.upload(path));
      const line = `${randomBytes(57 * 1000).toString("base64")}\n`;
      const feed = setInterval(() => child.stdin?.write(line), 5);
      try {
        for (
          let n = 0;
          n < 300 && !leftovers(dir).some((name) => statSync(join(dir, name)).size > 0);
          n++
        ) {
          await sleep(50);
        }
        assert.ok(leftovers(dir).length > 0, "the upload never started writing");
        process.kill(-(child.pid ?? 0), "SIGKILL");
      } finally {
        clearInterval(feed);
      }
      const result = await done;
      assert.equal(result.signal, "SIGKILL");
      assert.equal(readFileSync(path, "utf8"), "previous");
      for (const name of readdirSync(dir))
        assert.ok(name === "target" || name.startsWith(UPLOAD_TEMP_PREFIX), name);
    },
  );
});

/**
 * Issue 11, items 5 to 7: what a Windows host does to the helpers that pwsh on Linux does not do
 * by itself. Windows' refusals are brought about for real: fs-faults (an LD_PRELOAD library)
 * gives the file system Windows' read-only rule or a refused move, setpriv takes root's
 * permission bypass away, and the session is put in Constrained Language Mode as a WDAC or
 * AppLocker policy would start it.
 */
describe("PowerShell on a host that refuses, in pwsh", () => {
  /**
   * The upload's temporary file (the prefix, the script's process id, "-" and a GUID's 32 hex
   * digits), not its backup.
   */
  const TEMPORARY = fnmatchLiteral(UPLOAD_TEMP_PREFIX) + "[0-9]*-" + "[0-9a-f]".repeat(32);

  pwshTest("item 5: the destination is replaced, never deleted first (File.Replace)", async () => {
    const dir = freshDir("upload-replace-call");
    const path = join(dir, "target");
    writeFileSync(path, "previous");
    // Deleting the destination is refused, as Windows refuses it while another process holds
    // the file open: replacing it must not need a delete.
    const env = fsFaultsEnv({ refuseUnlink: fnmatchLiteral(path) });
    const result = await run(scripts.upload(path), uploadStream(Buffer.from("new")), { env });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(readFileSync(path, "utf8"), "new");
    assert.deepEqual(leftovers(dir), []);
  });

  pwshTest("item 5: a read-only destination is replaced and stays read-only", async () => {
    const dir = freshDir("upload-readonly");
    const path = join(dir, "target");
    writeFileSync(path, "previous");
    chmodSync(path, 0o444);
    const env = fsFaultsEnv({ windowsReadOnly: true });
    const result = await run(scripts.upload(path), uploadStream(Buffer.from("new")), { env });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(readFileSync(path, "utf8"), "new");
    assert.equal(statSync(path).mode & 0o777, 0o444, "still read-only");
    assert.deepEqual(leftovers(dir), []);
  });

  pwshTest("item 5: a refused move keeps the old file, read-only as it was", async () => {
    const dir = freshDir("upload-refused");
    const path = join(dir, "target");
    for (const mode of [0o644, 0o444]) {
      writeFileSync(path, "previous");
      chmodSync(path, mode);
      const env = fsFaultsEnv({
        windowsReadOnly: true,
        refuse: { onto: fnmatchLiteral(path), from: TEMPORARY },
      });
      const result = await run(scripts.upload(path), uploadStream(Buffer.from("new")), { env });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /^upload: .*target: kept the old file: .*denied/);
      assert.equal(readFileSync(path, "utf8"), "previous", `mode ${mode.toString(8)}`);
      assert.equal(statSync(path).mode & 0o777, mode);
      assert.deepEqual(leftovers(dir), []);
      chmodSync(path, 0o644);
    }
  });

  pwshTest("item 6: access denied is an error, never absent", async () => {
    const dir = freshDir("access-denied");
    const path = await withHiddenFile(dir, async (path, place) => {
      for (const [name, invocation] of [
        ["sha256", scripts.sha256(path)],
        ["stat", scripts.stat(path)],
        ["remove", scripts.remove(path)],
      ] as const) {
        const result = await run(invocation, Buffer.alloc(0), place);
        assert.equal(result.code, 1, `${name}: ${result.stdout}`);
        assert.equal(result.stdout, "", name);
        assert.match(result.stderr, new RegExp(`^${name}: .*secret: .*denied`), name);
      }
      const missing = await run(scripts.stat(join(dir, "missing")), Buffer.alloc(0), place);
      assert.equal(missing.stdout.trim(), '{"exists":false}', "a missing path is still absent");
    });
    assert.equal(readFileSync(path, "utf8"), "hidden", "remove did not remove it");
  });

  pwshTest(
    `item 7: in Constrained Language Mode every helper exits ${RESTRICTED_LANGUAGE_EXIT}, the bootstrap says so`,
    async () => {
      const dir = freshDir("constrained");
      const path = join(dir, "f");
      writeFileSync(path, "x");
      for (const [name, invocation] of [
        ["sha256", scripts.sha256(path)],
        ["stat", scripts.stat(path)],
        ["remove", scripts.remove(path)],
        ["mkdirp", scripts.mkdirp(join(dir, "d"))],
      ] as const) {
        const result = await run(invocation, Buffer.alloc(0), { constrainedLanguage: true });
        assert.equal(result.code, RESTRICTED_LANGUAGE_EXIT, `${name}: ${result.stderr}`);
      }
      assert.ok(existsSync(path) && !existsSync(join(dir, "d")), "nothing changed");
      const input: Buffer[] = [];
      for await (const chunk of framePowerShellInput("'never printed'"))
        input.push(Buffer.from(chunk));
      const boot = await run(scripts.runScript(), Buffer.concat(input), {
        constrainedLanguage: true,
      });
      assert.equal(boot.code, 1);
      assert.equal(boot.stdout, "");
      assert.match(decodeClixml(boot.stderr), BOOTSTRAP_RESTRICTED_LANGUAGE);
    },
  );
});

describe("PowerShell runScript bootstrap, in pwsh", () => {
  pwshTest(
    "a multi-KB script from stdin: its output, non-ASCII text and its exit code",
    async () => {
      const lines = ["$total = 0"];
      for (let i = 0; i < 500; i++) lines.push(`$total += ${i} # line ${i} of padding`);
      lines.push("Write-Output $total", "Write-Output 'ünï $HOME ✓'", "exit 7");
      const script = lines.join("\n");
      assert.ok(script.length > 10_000);
      const result = await runScript(script);
      assert.equal(result.code, 7, result.errorText);
      assert.equal(result.stdout, `${(499 * 500) / 2}\nünï $HOME ✓\n`);
    },
  );

  pwshTest("the script's own stdin arrives as $input, one string per line", async () => {
    const result = await runScript(
      "$input | ForEach-Object { 'got [' + $_ + ']' }",
      Buffer.from("one\r\ntwo\nthree ü\n"),
    );
    assert.equal(result.code, 0, result.errorText);
    assert.equal(result.stdout, "got [one]\ngot [two]\ngot [three ü]\n");
  });

  pwshTest(
    "non-ASCII text piped into a native program and back survives ($OutputEncoding)",
    async () => {
      // PowerShell 7 already pipes UTF-8; Windows PowerShell 5.1 pipes ASCII unless the
      // bootstrap sets $OutputEncoding, which powershell.test.ts checks it does.
      const result = await runScript("'Grüße, 世界 ✓' | cat");
      assert.equal(result.code, 0, result.errorText);
      assert.equal(result.stdout, "Grüße, 世界 ✓\n");
    },
  );

  pwshTest("environment and working directory are the command's", async () => {
    const dir = freshDir("cwd");
    const result = await runScript(
      "Write-Output (Get-Location).Path; Write-Output $env:PULUMI_WINRM_PROBE",
      undefined,
      { cwd: dir, env: { ...process.env, PULUMI_WINRM_PROBE: "probe ü $x" } },
    );
    assert.equal(result.code, 0, result.errorText);
    assert.equal(result.stdout, `${dir}\nprobe ü $x\n`);
  });

  pwshTest(
    "exit codes: exit N, throw, -ErrorAction Stop, a native command's code passed on",
    async () => {
      const table: Array<[string, number, RegExp | undefined]> = [
        ["Write-Output ok", 0, undefined],
        ["exit 0", 0, undefined],
        ["exit 3", 3, undefined],
        ["exit 255", 255, undefined],
        ["throw 'boom-thrown'", 1, /boom-thrown/],
        [
          "Get-Item -LiteralPath '/no/such/path' -ErrorAction Stop",
          1,
          /Cannot find path '\/no\/such\/path'/,
        ],
        ["sh -c 'exit 4'; exit $LASTEXITCODE", 4, undefined],
      ];
      for (const [script, code, error] of table) {
        const result = await runScript(script);
        assert.equal(result.code, code, `${script}: ${result.errorText}`);
        if (error) assert.match(result.errorText, error, script);
      }
    },
  );

  pwshTest(
    "a non-terminating error and a warning reach stderr as CLIXML, decoded; the script goes on",
    async () => {
      const result = await runScript(
        "Write-Warning 'careful'; Write-Error 'not fatal'; Write-Output 'went on'",
      );
      assert.equal(result.code, 0, result.errorText);
      assert.equal(result.stdout, "went on\n");
      assert.ok(result.stderr.startsWith("#< CLIXML"), result.stderr);
      assert.match(result.errorText, /^WARNING: careful$/m);
      assert.match(result.errorText, /not fatal/);
      assert.doesNotMatch(result.errorText, /<Objs|_x00/);
      assert.ok(!result.errorText.includes("\u001b"), "no colour sequences");
    },
  );

  pwshTest(
    "a script runs as powershell.exe -File runs it: the same output, continuation after errors and exit code",
    async () => {
      // [script, exit code, stdout, what stderr says]. Each row also runs under
      // `pwsh -NoProfile -NonInteractive -File`, the oracle, which must agree on code and stdout.
      const table: Array<[string, number, string, RegExp | undefined]> = [
        ["'out'", 0, "out\n", undefined],
        ["1/0\n'after'", 0, "after\n", /divide by zero/],
        ["Get-NoSuchCommand\n'after'", 0, "after\n", /Get-NoSuchCommand/],
        ["[int]::Parse('x')\n'after'", 0, "after\n", /input string|format/i],
        ["Get-Item -NoSuchParameter\n'after'", 0, "after\n", /NoSuchParameter/],
        ["Write-Error 'soft'\n'after'", 0, "after\n", /soft/],
        ["'before'\nthrow 'hard'\n'never'", 1, "before\n", /hard/],
        ["Get-Item -LiteralPath '/no/such' -ErrorAction Stop\n'never'", 1, "", /\/no\/such/],
        ["$ErrorActionPreference = 'Stop'\nGet-NoSuchCommand\n'never'", 1, "", /Get-NoSuchCommand/],
        ["'x'\nexit 7\n'never'", 7, "x\n", undefined],
        ["sh -c 'exit 4'", 0, "", undefined],
        ["sh -c 'exit 4'\nexit $LASTEXITCODE", 4, "", undefined],
        [
          "function f { throw 'in f' }\ntry { f } catch { 'caught ' + $_ }\n'after'",
          0,
          "caught in f\nafter\n",
          undefined,
        ],
      ];
      const dir = freshDir("file-oracle");
      const pwsh = findPwsh()!;
      for (const [script, code, stdout, stderr] of table) {
        const file = join(dir, "script.ps1");
        writeFileSync(file, script);
        const oracle = spawnSync(
          pwsh,
          ["-NoLogo", "-NoProfile", "-NonInteractive", "-File", file],
          {
            encoding: "utf8",
          },
        );
        const ours = await runScript(script);
        const row = JSON.stringify(script);
        assert.equal(oracle.status, code, `the oracle disagrees with the table on ${row}`);
        assert.equal(oracle.stdout, stdout, `the oracle's output for ${row}`);
        assert.equal(ours.code, code, `${row}: ${ours.errorText}`);
        assert.equal(ours.stdout, stdout, row);
        if (stderr) assert.match(ours.errorText, stderr, row);
        else assert.equal(ours.errorText, "", row);
      }
    },
    300_000,
  );

  pwshTest("a script that does not parse: exit 1 with line and column", async () => {
    const result = await runScript("Write-Output 'fine'\nif ( {");
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.match(result.errorText, /^line 2, column \d+: /m);
  });
});
