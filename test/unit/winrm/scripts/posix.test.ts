/**
 * The POSIX sh scripts, executed for real the way the loopback host runs them
 * (`/bin/sh -c "<command> <args>"`), against temporary folders with hostile names.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
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
import { after, before, describe, test } from "node:test";
import {
  quotePosix,
  scriptsFor,
  UPLOAD_HASH_MISMATCH_EXIT,
  UPLOAD_TEMP_PREFIX,
  WRONG_TYPE_EXIT,
} from "../../../../provider/winrm/scripts";
import { writeBundle } from "../../../../provider/winrm/bundle";
import {
  assertKnownUploadRoundTrip,
  assertUploadsPlace,
  leftovers,
  run,
  sha256,
  type SpawnPlace,
  start,
  uploadStream,
  withHiddenFile,
  withoutPermissionBypass,
} from "./support";

const scripts = scriptsFor("posix");

/** Names that break naive quoting: spaces, quotes, $, backticks, backslashes, newlines, non-ASCII, a leading dash. */
const NASTY_NAMES = [
  "plain",
  "sp ace",
  `it's "quoted"`,
  "$HOME and $(id) and `id`",
  "back\\slash\\n",
  "new\nline",
  "ünïcødé-😀",
  "-leading-dash",
  "*glob?[x]",
  "trailing-newline\n",
];

let root = "";

before(() => {
  root = mkdtempSync(join(tmpdir(), "pulumi-winrm-posix-"));
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A fresh directory below `root` whose own name is hostile too. */
function freshDir(label: string): string {
  const dir = join(root, `${label} it's $x \`y\` \n ü`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

describe("posix sha256", () => {
  test("matches node's SHA-256 for every nasty name, and says absent when missing", async () => {
    const dir = freshDir("sha");
    for (const name of NASTY_NAMES) {
      const content = randomBytes(1000 + name.length);
      const path = join(dir, name);
      writeFileSync(path, content);
      const result = await run(scripts.sha256(path));
      assert.equal(result.code, 0, result.stderr);
      assert.equal(scripts.parseSha256(result.stdout), sha256(content), name);
      const missing = await run(scripts.sha256(`${path}.missing`));
      assert.equal(missing.code, 0, missing.stderr);
      assert.equal(scripts.parseSha256(missing.stdout), "absent");
    }
  });

  test("refuses a directory with the wrong-type exit code", async () => {
    const result = await run(scripts.sha256(freshDir("sha-dir")));
    assert.equal(result.code, WRONG_TYPE_EXIT);
    assert.match(result.stderr, /is a directory/);
  });
});

describe("posix stat", () => {
  test("file: size and modification time", async () => {
    const path = join(freshDir("stat"), "new\nline $x");
    writeFileSync(path, Buffer.alloc(12345));
    utimesSync(path, new Date("2000-02-29T12:34:56Z"), new Date("2000-02-29T12:34:56Z"));
    const result = await run(scripts.stat(path));
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(scripts.parseStat(result.stdout), {
      exists: true,
      type: "file",
      size: 12345,
      modified: "2000-02-29T12:34:56.000Z",
    });
  });

  test("the shell's date arithmetic agrees with Date for dates across four centuries", async () => {
    const path = join(freshDir("stat-dates"), "f");
    writeFileSync(path, "x");
    for (const iso of [
      "1970-01-01T00:00:00Z",
      "1999-12-31T23:59:59Z",
      "2024-02-29T00:00:01Z",
      "2100-03-01T10:00:00Z",
      "2400-12-31T23:59:59Z",
    ]) {
      utimesSync(path, new Date(iso), new Date(iso));
      const stat = scripts.parseStat((await run(scripts.stat(path))).stdout);
      assert.equal(stat.modified, new Date(iso).toISOString(), iso);
    }
  });

  test("directory, missing path and a character device", async () => {
    const dir = freshDir("stat-dir");
    const stat = scripts.parseStat((await run(scripts.stat(dir))).stdout);
    assert.equal(stat.type, "directory");
    assert.equal(stat.size, undefined);
    const mtime = Math.floor(statSync(dir).mtimeMs / 1000) * 1000;
    assert.equal(stat.modified, new Date(mtime).toISOString());
    const missing = await run(scripts.stat(join(dir, "nothing here")));
    assert.deepEqual(scripts.parseStat(missing.stdout), { exists: false });
    const device = scripts.parseStat((await run(scripts.stat("/dev/null"))).stdout);
    assert.equal(device.type, "other");
  });
});

describe("posix access denied", () => {
  test("a path below a folder this account may not search is an error, never absent", async () => {
    const dir = freshDir("access-denied");
    const path = await withHiddenFile(dir, async (path, place) => {
      for (const [name, invocation] of [
        ["sha256", scripts.sha256(path)],
        ["stat", scripts.stat(path)],
        ["stat below", scripts.stat(join(path, "..", "deeper", "f"))],
        ["remove", scripts.remove(path)],
      ] as const) {
        const result = await run(invocation, Buffer.alloc(0), place);
        assert.equal(result.code, 1, `${name}: ${result.stdout}`);
        assert.equal(result.stdout, "", name);
        assert.match(result.stderr, /Permission denied/, name);
      }
      const missing = await run(scripts.stat(join(dir, "missing", "f")), Buffer.alloc(0), place);
      assert.equal(missing.stdout.trim(), '{"exists":false}', "a missing path is still absent");
    });
    assert.equal(readFileSync(path, "utf8"), "hidden", "remove did not remove it");
  });
});

describe("posix remove", () => {
  test("a file, an absent path, a tree with recursive", async () => {
    const dir = freshDir("remove");
    for (const name of NASTY_NAMES) {
      const path = join(dir, name);
      writeFileSync(path, "x");
      assert.equal((await run(scripts.remove(path))).code, 0);
      assert.equal(existsSync(path), false, name);
      assert.equal((await run(scripts.remove(path))).code, 0, "absent is success");
    }
    const tree = join(dir, "tree $x");
    mkdirSync(join(tree, "a b", "c'd"), { recursive: true });
    writeFileSync(join(tree, "a b", "c'd", "f"), "x");
    const refused = await run(scripts.remove(tree));
    assert.equal(refused.code, WRONG_TYPE_EXIT);
    assert.equal(existsSync(tree), true);
    assert.equal((await run(scripts.remove(tree, { recursive: true }))).code, 0);
    assert.equal(existsSync(tree), false);
  });

  test("a symbolic link to a directory goes, its target stays", async () => {
    const dir = freshDir("remove-link");
    const target = join(dir, "target");
    mkdirSync(target);
    writeFileSync(join(target, "keep"), "x");
    symlinkSync(target, join(dir, "link"));
    assert.equal((await run(scripts.remove(join(dir, "link"), { recursive: true }))).code, 0);
    assert.equal(existsSync(join(dir, "link")), false);
    assert.equal(existsSync(join(target, "keep")), true);
  });
});

describe("posix mkdirp", () => {
  test("creates nested directories, accepts an existing one, refuses a file", async () => {
    const dir = freshDir("mkdirp");
    const nested = join(dir, ...NASTY_NAMES.slice(0, 6));
    assert.equal((await run(scripts.mkdirp(nested))).code, 0);
    assert.equal(statSync(nested).isDirectory(), true);
    assert.equal((await run(scripts.mkdirp(nested))).code, 0);
    writeFileSync(join(dir, "file"), "x");
    assert.notEqual((await run(scripts.mkdirp(join(dir, "file")))).code, 0);
  });
});

describe("posix upload", () => {
  test("0 bytes, 1 byte and 1 MiB of random bytes, to every nasty name", async () => {
    const sizes = [0, 1, 63, 64, 65, 1 << 20];
    const cases = sizes.flatMap((size) => NASTY_NAMES.map((name) => [size, name] as const));
    await assertUploadsPlace(scripts, freshDir("upload"), cases);
  });

  test("replaces an existing file and gives it the default mode", async () => {
    const dir = freshDir("upload-replace");
    const path = join(dir, "target");
    writeFileSync(path, "old content that is longer than the new one");
    const result = await run(scripts.upload(path), uploadStream(Buffer.from("new")));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(readFileSync(path, "utf8"), "new");
    const umask = process.umask();
    assert.equal(statSync(path).mode & 0o777, 0o666 & ~umask);
  });

  test("leaves a destination that holds the same bytes untouched, and says so", async () => {
    const dir = freshDir("upload-same");
    for (const size of [0, 1, 70_000, 5 * 1024 * 1024]) {
      const path = join(dir, `same-${size}`);
      const content = randomBytes(size);
      writeFileSync(path, content);
      chmodSync(path, 0o640);
      const past = new Date("2001-02-03T04:05:06Z");
      utimesSync(path, past, past);
      const inode = statSync(path).ino;
      const same = await run(scripts.upload(path), uploadStream(content));
      assert.equal(same.code, 0, same.stderr);
      assert.equal(same.stdout.trim(), "unchanged", `${size}`);
      assert.equal(statSync(path).ino, inode, `${size}: the file was replaced`);
      assert.equal(statSync(path).mtime.getTime(), past.getTime(), `${size}: rewritten`);
      assert.equal(statSync(path).mode & 0o777, 0o640);
      if (size === 0) continue;
      // Same length, other bytes: replaced, keeping the mode.
      const other = Buffer.from(content);
      other[size >> 1] = other[size >> 1]! ^ 1;
      const replaced = await run(scripts.upload(path), uploadStream(other));
      assert.equal(replaced.code, 0, replaced.stderr);
      assert.equal(replaced.stdout.trim(), "replaced", `${size}`);
      assert.ok(readFileSync(path).equals(other), `${size}`);
      assert.equal(statSync(path).mode & 0o777, 0o640);
    }
    assert.deepEqual(leftovers(dir), []);
  });

  test("with the hash named in the script: no trailer, verified, unchanged when the same", async () => {
    const dir = freshDir("upload-known");
    for (const size of [0, 1, 65, 1 << 20, 5 * 1024 * 1024]) {
      for (const name of NASTY_NAMES.slice(0, 3)) {
        await assertKnownUploadRoundTrip(scripts, join(dir, `${size}-${name}`), randomBytes(size));
      }
    }
    assert.deepEqual(leftovers(dir), []);
    // Bytes that do not hash to the named SHA-256 (one byte short, or other bytes): refused,
    // the old file kept, nothing left.
    const path = join(dir, "target");
    writeFileSync(path, "previous");
    const content = randomBytes(5000);
    for (const sent of [content.subarray(0, 4999), randomBytes(5000)]) {
      const known = { sha256: sha256(content), size: 5000 };
      const wrong = await run(scripts.upload(path, known), sent);
      assert.equal(wrong.code, UPLOAD_HASH_MISMATCH_EXIT, wrong.stderr);
      assert.match(wrong.stderr, /SHA-256 mismatch/);
      assert.equal(readFileSync(path, "utf8"), "previous");
      assert.deepEqual(leftovers(dir), []);
    }
  });

  test("a named hash or size that is not what a script may hold verbatim is refused", () => {
    for (const known of [
      { sha256: "A".repeat(64), size: 1 },
      { sha256: `${"0".repeat(62)}'x`, size: 1 },
      { sha256: "0".repeat(63), size: 1 },
      { sha256: "0".repeat(64), size: -1 },
      { sha256: "0".repeat(64), size: 1.5 },
    ]) {
      assert.throws(() => scripts.upload("/tmp/x", known), TypeError, JSON.stringify(known));
      assert.throws(
        () => scriptsFor("powershell").upload("C:\\x", known),
        TypeError,
        JSON.stringify(known),
      );
    }
  });

  test("a destination of the same size that cannot be read is replaced, saying nothing of it", async () => {
    const dir = freshDir("upload-unreadable");
    const path = join(dir, "target");
    const content = randomBytes(1000);
    writeFileSync(path, content);
    chmodSync(path, 0o200); // write-only: the comparison cannot read it
    const result = await run(
      scripts.upload(path),
      uploadStream(content),
      withoutPermissionBypass(),
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), "replaced");
    assert.equal(result.stderr, "");
    assert.equal(statSync(path).mode & 0o777, 0o200);
    chmodSync(path, 0o600);
    assert.ok(readFileSync(path).equals(content));
    assert.deepEqual(leftovers(dir), []);
  });

  test("replacing a file keeps its permission bits, without setuid, setgid or sticky", async () => {
    const dir = freshDir("upload-mode");
    for (const [before, after] of [
      [0o600, 0o600],
      [0o755, 0o755],
      [0o640, 0o640],
      [0o4755, 0o755],
      [0o3775, 0o775],
    ] as const) {
      const path = join(dir, `mode-${before.toString(8)}`);
      writeFileSync(path, "old");
      chmodSync(path, before);
      const result = await run(scripts.upload(path), uploadStream(Buffer.from("new")));
      assert.equal(result.code, 0, result.stderr);
      assert.equal(readFileSync(path, "utf8"), "new");
      assert.equal(
        (statSync(path).mode & 0o7777).toString(8),
        after.toString(8),
        before.toString(8),
      );
    }
  });

  test("a symbolic link to a directory swapped in during the upload is replaced, never entered", async () => {
    const dir = freshDir("upload-swap");
    const path = join(dir, "target");
    const elsewhere = join(dir, "elsewhere");
    mkdirSync(elsewhere);
    const content = randomBytes(1000);
    const { child, done } = start(scripts.upload(path));
    child.stdin?.write(content.subarray(0, 500));
    await waitFor(() => leftovers(dir).length > 0);
    symlinkSync(elsewhere, path);
    child.stdin?.end(uploadStream(content).subarray(500));
    const result = await done;
    assert.deepEqual(readdirSync(elsewhere), [], "the upload went into the linked directory");
    if (result.code === 0) {
      assert.ok(readFileSync(path).equals(content));
    } else {
      assert.equal(result.code, WRONG_TYPE_EXIT, result.stderr);
    }
    assert.deepEqual(leftovers(dir), []);
  });

  test("a relative destination whose directory starts with a dash", async () => {
    const dir = freshDir("upload-relative");
    mkdirSync(join(dir, "-n"));
    const invocation = scripts.upload("-n/file");
    const content = Buffer.from("relative");
    const result = await run(
      { ...invocation, command: `cd '${dir.replace(/'/g, `'\\''`)}' && ${invocation.command}` },
      uploadStream(content),
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(readFileSync(join(dir, "-n", "file"), "utf8"), "relative");
  });

  test(`a wrong trailing hash exits ${UPLOAD_HASH_MISMATCH_EXIT} and leaves nothing`, async () => {
    const dir = freshDir("upload-mismatch");
    const path = join(dir, "target");
    const content = randomBytes(100_000);
    const wrong = sha256(Buffer.from("something else"));
    const result = await run(scripts.upload(path), uploadStream(content, wrong));
    assert.equal(result.code, UPLOAD_HASH_MISMATCH_EXIT);
    assert.match(result.stderr, /SHA-256 mismatch/);
    assert.deepEqual(readdirSync(dir), []);
  });

  test("a mismatch keeps the previous destination intact", async () => {
    const dir = freshDir("upload-keep");
    const path = join(dir, "target");
    writeFileSync(path, "previous");
    const result = await run(scripts.upload(path), uploadStream(randomBytes(10), "0".repeat(64)));
    assert.equal(result.code, UPLOAD_HASH_MISMATCH_EXIT);
    assert.equal(readFileSync(path, "utf8"), "previous");
    assert.deepEqual(leftovers(dir), []);
  });

  test("stdin closed before the 64-byte trailer leaves nothing", async () => {
    const dir = freshDir("upload-short");
    const path = join(dir, "target");
    const full = uploadStream(randomBytes(5000));
    for (const cut of [0, 10, 63, 5000, 5000 + 63]) {
      const result = await run(scripts.upload(path), full.subarray(0, cut));
      assert.equal(result.code, UPLOAD_HASH_MISMATCH_EXIT, `cut at ${cut}: ${result.stderr}`);
      assert.deepEqual(readdirSync(dir), [], `cut at ${cut}`);
    }
  });

  test("refuses a destination that is a directory", async () => {
    const dir = freshDir("upload-dir");
    const result = await run(scripts.upload(dir), uploadStream(Buffer.from("x")));
    assert.equal(result.code, WRONG_TYPE_EXIT);
  });

  for (const signal of ["SIGTERM", "SIGHUP", "SIGKILL"] as const) {
    test(
      `${signal} to the process group halfway leaves no destination file`,
      { timeout: 30_000 },
      async () => {
        const dir = freshDir(`upload-${signal}`);
        const path = join(dir, "target");
        const { child, done } = start(scripts.upload(path));
        child.stdin?.write(randomBytes(4 << 20));
        // Wait until cat is copying: a signal that lands between sh's fork and cat's exec is
        // taken by the forked shell and never reaches cat, and sh then waits on cat for EOF.
        await waitFor(() => leftovers(dir).some((name) => statSync(join(dir, name)).size > 0));
        process.kill(-(child.pid ?? 0), signal);
        const result = await done;
        assert.notEqual(result.code, 0);
        assert.equal(existsSync(path), false);
        if (signal === "SIGKILL") {
          // SIGKILL cannot be trapped, so the EXIT trap never runs; what may remain is a
          // temporary file in the destination's own directory under the recognisable prefix,
          // never a partial destination. A later upload to the same place is unaffected.
          for (const name of readdirSync(dir)) assert.ok(name.startsWith(UPLOAD_TEMP_PREFIX));
        } else {
          assert.deepEqual(readdirSync(dir), []);
        }
      },
    );
  }

  test("256 MiB streamed through the script (timing printed)", { timeout: 120_000 }, async (t) => {
    const dir = freshDir("upload-big");
    const path = join(dir, "big.bin");
    const chunk = randomBytes(1 << 20);
    const chunks = 256;
    const hash = createHash("sha256");
    function* content(): Generator<Buffer> {
      for (let i = 0; i < chunks; i++) {
        const piece = Buffer.from(chunk);
        piece.writeUInt32LE(i, 0); // each MiB differs
        hash.update(piece);
        yield piece;
      }
      yield Buffer.from(hash.copy().digest("hex"), "latin1");
    }
    const started = process.hrtime.bigint();
    const result = await run(scripts.upload(path), content());
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(statSync(path).size, chunks << 20);
    t.diagnostic(`256 MiB upload: ${seconds.toFixed(2)} s end to end`);
    console.log(`# posix upload of 256 MiB: ${seconds.toFixed(2)} s end to end`);
    assert.deepEqual(leftovers(dir), []);
  });
});

describe("posix placeBundle", () => {
  /** Bundle names: anything but a NUL, a line break or a backslash, in nested folders. */
  const NAMES = NASTY_NAMES.filter((name) => !/[\n\\]/.test(name));
  const files = (count: number) =>
    Array.from({ length: count }, (_, index) => ({
      path: `${NAMES[index % NAMES.length]}/${index % 3 === 0 ? "deep/er/" : ""}f ${index} ${NAMES[(index + 1) % NAMES.length]}`,
      content: randomBytes(index % 7 === 0 ? 70_000 : index),
    }));
  const bundleOf = async (list: { path: string; content: Buffer }[]) => {
    const parts: Buffer[] = [];
    const entries = list.map(({ path, content }) => ({
      path,
      size: content.length,
      sha256: sha256(content),
      open: () => content,
    }));
    for await (const chunk of writeBundle(entries)) parts.push(Buffer.from(chunk));
    return Buffer.concat(parts);
  };

  /**
   * PATH folders of symbolic links to every program of /usr/local/bin, /usr/bin and /bin:
   * without perl (a host that lacks it: the script moves each file with mv), and with a perl
   * that notes each start before it runs the real one.
   */
  function hostPaths(dir: string): {
    withoutPerl: SpawnPlace;
    countedPerl: SpawnPlace;
    log: string;
  } {
    const bin = join(dir, "bin-without-perl");
    mkdirSync(bin);
    for (const folder of ["/usr/local/bin", "/usr/bin", "/bin"]) {
      if (!existsSync(folder)) continue;
      for (const name of readdirSync(folder)) {
        if (name.startsWith("perl") || existsSync(join(bin, name))) continue;
        symlinkSync(join(folder, name), join(bin, name));
      }
    }
    const counted = join(dir, "bin-counted-perl");
    mkdirSync(counted);
    const log = join(dir, "perl-starts");
    const perl = join(counted, "perl");
    writeFileSync(perl, `#!/bin/sh\necho start >> ${quotePosix(log)}\nexec /usr/bin/perl "$@"\n`);
    chmodSync(perl, 0o755);
    return {
      withoutPerl: { env: { ...process.env, PATH: bin } },
      countedPerl: { env: { ...process.env, PATH: `${counted}:${process.env.PATH}` } },
      log,
    };
  }

  for (const mover of ["perl", "mv"] as const) {
    test(`places 60 files with hostile names byte for byte (moved by ${mover})`, async () => {
      const dir = freshDir(`bundle-${mover}`);
      const paths = hostPaths(dir);
      const place = mover === "perl" ? paths.countedPerl : paths.withoutPerl;
      const target = join(dir, "site");
      const list = files(60);
      const result = await run(scripts.tree.placeBundle(target), await bundleOf(list), place);
      assert.equal(result.code, 0, result.stderr);
      for (const { path, content } of list) {
        assert.ok(readFileSync(join(target, ...path.split("/"))).equals(content), path);
      }
      assert.deepEqual(leftovers(target), []);
      const starts = existsSync(paths.log) ? readFileSync(paths.log, "utf8") : "";
      assert.equal(starts, mover === "perl" ? "start\n" : "", "one perl for every move, or none");
    });

    test(`a symbolic link at a destination is replaced, never entered; a folder there is refused (${mover})`, async () => {
      const dir = freshDir(`bundle-links-${mover}`);
      const paths = hostPaths(dir);
      const place = mover === "perl" ? paths.countedPerl : paths.withoutPerl;
      const target = join(dir, "site");
      const elsewhere = join(dir, "elsewhere");
      mkdirSync(join(target, "sub"), { recursive: true });
      mkdirSync(elsewhere);
      symlinkSync(elsewhere, join(target, "sub", "link"));
      const placed = await run(
        scripts.tree.placeBundle(target),
        await bundleOf([{ path: "sub/link", content: Buffer.from("a file now") }]),
        place,
      );
      assert.equal(placed.code, 0, placed.stderr);
      assert.equal(readFileSync(join(target, "sub", "link"), "utf8"), "a file now");
      assert.deepEqual(readdirSync(elsewhere), [], "nothing went into the link's target");
      mkdirSync(join(target, "a folder"));
      const refused = await run(
        scripts.tree.placeBundle(target),
        await bundleOf([{ path: "a folder", content: Buffer.from("x") }]),
        place,
      );
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /a folder is a folder on the host, not a file/);
      assert.deepEqual(leftovers(target), []);
    });
  }

  test("a file that does not match the manifest is named, and nothing moves", async () => {
    const dir = freshDir("bundle-mismatch");
    const target = join(dir, "site");
    const list = files(20);
    const bundle = await bundleOf(list);
    // A byte of entry 13's content (12 random bytes, found by its first 8), not of a header.
    const at = bundle.indexOf(list[12]!.content.subarray(0, 8));
    assert.ok(at > 0);
    bundle[at] = bundle[at]! ^ 0xff;
    const result = await run(scripts.tree.placeBundle(target), bundle);
    assert.equal(result.code, UPLOAD_HASH_MISMATCH_EXIT, result.stderr);
    assert.match(result.stderr, /SHA-256 mismatch for .*f 12 /);
    assert.deepEqual(readdirSync(target), []);
  });
});

describe("posix runScript", () => {
  test("runs a multi-KB script from stdin and keeps its exit code", async () => {
    const lines = ["set -e", "total=0"];
    for (let i = 0; i < 500; i++) lines.push(`total=$((total + ${i})) # line ${i} of padding`);
    lines.push(`printf '%s\\n' "$total" 'ünï $HOME'`, "echo to-stderr >&2", "exit 7");
    const script = Buffer.from(lines.join("\n"), "utf8");
    assert.ok(script.length > 10_000);
    const result = await run(scripts.runScript(), script);
    assert.equal(result.code, 7, result.stderr);
    assert.equal(result.stdout, `${(499 * 500) / 2}\nünï $HOME\n`);
    assert.equal(result.stderr, "to-stderr\n");
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!safely(condition)) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(10);
  }
}

/** A condition that may race with files disappearing counts as not yet met. */
function safely(condition: () => boolean): boolean {
  try {
    return condition();
  } catch {
    return false;
  }
}

describe("posix restart scripts (Reboot)", () => {
  const power = scripts.power;
  /** A folder put first on PATH holding stand-ins written as sh scripts. */
  const withTools = (tools: Record<string, string>): NodeJS.ProcessEnv => {
    const bin = freshDir("bin");
    for (const [name, body] of Object.entries(tools)) {
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    }
    return { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` };
  };
  const procBootSeconds = () => {
    const line = readFileSync("/proc/stat", "utf8")
      .split("\n")
      .find((text) => text.startsWith("btime "));
    return Number(line?.split(" ")[1]);
  };

  test("the boot time: from uptime -s, else /proc/stat's btime, as ISO 8601 UTC", async (t) => {
    if (!existsSync("/proc/stat")) return t.skip("no /proc/stat here");
    const fromProc = await run(power.bootTime(), undefined, {
      env: withTools({ uptime: "exit 1" }),
    });
    assert.equal(fromProc.code, 0, fromProc.stderr);
    assert.equal(power.parseBootTime(fromProc.stdout).getTime(), procBootSeconds() * 1000);

    const fromUptime = await run(power.bootTime(), undefined, {
      env: withTools({ uptime: `[ "$1" = -s ] && echo '2026-01-02 03:04:05'` }),
    });
    assert.equal(fromUptime.code, 0, fromUptime.stderr);
    const local = new Date(2026, 0, 2, 3, 4, 5);
    assert.equal(power.parseBootTime(fromUptime.stdout).getTime(), local.getTime());
  });

  test("a pending restart: needs-restarting -r exiting 1 is one, exiting 0 is none", async () => {
    const pending = await run(power.pendingRestart(), undefined, {
      env: withTools({ "needs-restarting": `[ "$1" = -r ] && exit 1; exit 2` }),
    });
    assert.equal(pending.code, 0, pending.stderr);
    assert.match(pending.stdout, /needs-restarting -r/);
    const none = await run(power.pendingRestart(), undefined, {
      env: withTools({ "needs-restarting": "exit 0" }),
    });
    assert.equal(none.code, 0, none.stderr);
    assert.doesNotMatch(none.stdout, /needs-restarting/);
  });

  test("the restart runs shutdown -r with the message as one argument", async () => {
    const record = join(freshDir("argv"), "argv");
    const env = withTools({ shutdown: `printf '%s\\n' "$@" > ${quotePosix(record)}` });
    const message = `it's "quoted" $HOME ü`;
    const now = await run(power.restart(message, 2), undefined, { env });
    assert.equal(now.code, 0, now.stderr);
    assert.equal(readFileSync(record, "utf8"), `-r\nnow\n${message}\n`);
    const later = await run(power.restart(message, 150), undefined, { env });
    assert.equal(later.code, 0, later.stderr);
    assert.equal(readFileSync(record, "utf8"), `-r\n+3\n${message}\n`);
    const none = await run(power.restart(message, 2), undefined, {
      env: { ...process.env, PATH: freshDir("empty") },
    });
    assert.equal(none.code, 127);
    assert.match(none.stderr, /this host has no shutdown command/);
  });
});
