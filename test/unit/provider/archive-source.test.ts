/**
 * What a RemoteArchive's source holds (provider/archive-source.ts, archive-file.ts): folders,
 * zip and tar archives written by the real tools (Python's zipfile, GNU tar), AssetArchives in
 * the engine's wire form; names that would leave the folder refused before anything is written.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { openSource, SourceError, sourceNames } from "../../../provider/archive-source";
import { writeBundle } from "../../../provider/winrm/bundle";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const ARCHIVE = { "4dabf18193072939515e22adb298388d": "0def7320c3a5731c473e5ecbe6d01bc7" };
const ASSET = { "4dabf18193072939515e22adb298388d": "c44067f5952c0a294b673a41bacd8c17" };

describe("a RemoteArchive's source", () => {
  const root = mkdtempSync(join(tmpdir(), "pulumi-winrm-source-"));
  after(() => rmSync(root, { recursive: true, force: true }));
  const files = {
    "a.txt": "alpha",
    "sub dir/ünï.txt": "unicode",
    [`${"long".repeat(40)}/x.txt`]: "long",
  };
  const folder = join(root, "folder");
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(folder, ...name.split("/").slice(0, -1)), { recursive: true });
    writeFileSync(join(folder, ...name.split("/")), content);
  }
  const python = (script: string) => {
    const ran = spawnSync("python3", ["-c", script], { encoding: "utf8" });
    assert.equal(ran.status, 0, ran.stderr);
  };
  const zip = join(root, "site.zip");
  python(
    `import zipfile\nz = zipfile.ZipFile(${JSON.stringify(zip)}, "w")\nz.writestr("dir/", "")\n` +
      Object.entries(files)
        .map(
          ([name, content]) => `z.writestr(${JSON.stringify(name)}, ${JSON.stringify(content)})\n`,
        )
        .join("") +
      "z.close()",
  );
  const tgz = join(root, "site.tar.gz");
  const tarred = spawnSync("tar", ["--format=pax", "-czf", tgz, "-C", folder, "."], {
    encoding: "utf8",
  });
  assert.equal(tarred.status, 0, tarred.stderr);

  async function manifest(source: unknown): Promise<Record<string, string>> {
    const opened = await openSource(source);
    try {
      return Object.fromEntries(opened.entries.map((entry) => [entry.path, entry.sha256]));
    } finally {
      opened.close();
    }
  }
  const expected = Object.fromEntries(
    Object.entries(files).map(([name, content]) => [name, sha256(content)]),
  );

  test("a folder, a zip and a pax tar.gz of the same files give the same manifest", async () => {
    assert.deepEqual(await manifest(folder), expected);
    assert.deepEqual(await manifest({ ...ARCHIVE, path: zip }), expected);
    assert.deepEqual(await manifest(tgz), expected);
    assert.deepEqual((await sourceNames(zip)).sort(), Object.keys(files).sort());
  });

  test("what an archive was unpacked into is removed by close", async () => {
    // A temporary folder of this test's own: other test processes (CI runs the unit tier on
    // two Node versions at once) unpack archives into the shared one meanwhile.
    const own = mkdtempSync(join(tmpdir(), "archive-source-test-"));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = own;
    try {
      const opened = await openSource(zip);
      assert.equal(readdirSync(own).length, 1, "the archive was unpacked under TMPDIR");
      opened.close();
      assert.deepEqual(readdirSync(own), []);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      rmSync(own, { recursive: true, force: true });
    }
  });

  test("an AssetArchive: text, a file, a nested zip archive, and a zip FileAsset kept as a file", async () => {
    const source = {
      ...ARCHIVE,
      assets: {
        "conf/app.json": { ...ASSET, text: "{}" },
        site: { ...ARCHIVE, path: zip },
        "download/site.zip": { ...ASSET, path: zip },
      },
    };
    const got = await manifest(source);
    assert.equal(got["conf/app.json"], sha256("{}"));
    assert.equal(got["site/a.txt"], sha256("alpha"));
    assert.ok(got["download/site.zip"], "a FileAsset of a zip is one file");
    assert.equal(got["download/site.zip/a.txt"], undefined);
  });

  test("a zip member that would leave the folder is refused, and nothing is written for it", async () => {
    const evil = join(root, "evil.zip");
    python(
      `import zipfile\nz = zipfile.ZipFile(${JSON.stringify(evil)}, "w")\nz.writestr("../../escaped.txt", "x")\nz.close()`,
    );
    await assert.rejects(sourceNames(evil), (error: unknown) => {
      assert.ok(error instanceof SourceError);
      assert.match(error.message, /evil\.zip.*\.\.\/\.\.\/escaped\.txt/);
      return true;
    });
    await assert.rejects(openSource(evil), SourceError);
    assert.equal(existsSync(join(tmpdir(), "escaped.txt")), false);
  });

  test("a link in a tar, a loop of folder links, a plain file, and a missing path are refused", async () => {
    const linked = join(root, "linked");
    mkdirSync(linked);
    symlinkSync("/etc/passwd", join(linked, "passwd"));
    const withLink = join(root, "link.tar");
    assert.equal(spawnSync("tar", ["-cf", withLink, "-C", linked, "."]).status, 0);
    await assert.rejects(sourceNames(withLink), /symlink, not a file/);

    const looped = join(root, "looped");
    mkdirSync(join(looped, "inner"), { recursive: true });
    symlinkSync(looped, join(looped, "inner", "back"));
    await assert.rejects(sourceNames(looped), /loops back/);
    await assert.rejects(sourceNames(join(folder, "a.txt")), /is a file but not/);
    await assert.rejects(sourceNames(join(root, "nothing")), /does not exist/);
  });

  test("a small file that grows after it was hashed is read only one byte past its size, and refused", async () => {
    const grower = join(root, "grower");
    mkdirSync(grower);
    const path = join(grower, "log.txt");
    writeFileSync(path, "first line\n");
    const source = await openSource(grower);
    try {
      const [entry] = source.entries;
      assert.equal(entry?.size, 11);
      // 4 MiB more: read whole, as the old reader did, the bundle would hold all of it.
      writeFileSync(path, "first line\n" + "x".repeat(4 * 1024 * 1024));
      let read = 0;
      const opened = entry.open();
      if (opened instanceof Uint8Array) assert.fail("a file's entry opens a stream");
      for await (const chunk of opened) read += chunk.length;
      assert.equal(read, 12, "what the bundle reads of it");
      await assert.rejects(async () => {
        for await (const chunk of writeBundle(source.entries)) void chunk;
      }, /log\.txt changed while it was being sent: it was 11 bytes when hashed/);
    } finally {
      source.close();
    }
  });
});
