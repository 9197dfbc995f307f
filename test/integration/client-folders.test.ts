/**
 * A folder's files as a whole (issue 17, RemoteArchive's transfer): hashTree, placeFiles (a
 * bundle in one command) and removeFiles against both personas of the loopback host, with
 * names that break naive quoting, a corrupted bundle and a staging folder left by a killed run.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { IntegrityError } from "../../provider/errors";
import type { BundleEntry } from "../../provider/winrm/bundle";
import { WinRMClient } from "../../provider/winrm/client";
import { UPLOAD_TEMP_PREFIX } from "../../provider/winrm/scripts";
import { type Host, startHost } from "../host";
import { findPwsh } from "../host/shell";

const USER = { user: "winrm-test", password: randomBytes(12).toString("hex") };
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

function entry(path: string, content: Buffer): BundleEntry {
  return { path, size: content.length, sha256: sha256(content), open: () => content };
}

const CONTENTS: Record<string, Buffer> = {
  "index.html": Buffer.from("<h1>hello</h1>\n"),
  "empty.txt": Buffer.alloc(0),
  "css/site styles.css": Buffer.from("body { color: red }\n"),
  'it\'s "quoted" $HOME `id`/ünïcødé 😀.txt': Buffer.from("non-ascii\n"),
  "deep/a/b/c/d/big.bin": randomBytes(3 * 1024 * 1024 + 17),
  "-dash/*glob?[x].txt": Buffer.from("glob\n"),
};

for (const persona of ["posix", "windows"] as const) {
  describe(`a folder's files as a whole (${persona} persona)`, () => {
    if (persona === "windows" && findPwsh() === undefined && !process.env.CI) {
      test("needs pwsh", (t) => t.skip("pwsh is not installed (bash test/setup/pwsh.sh)"));
      return;
    }
    let host: Host;
    let client: WinRMClient;
    let work: string;
    let root: string;

    before(async () => {
      host = await startHost({ persona, users: [USER] });
      client = new WinRMClient({ host: "127.0.0.1", port: host.port, ...USER });
      work = mkdtempSync(join(tmpdir(), "pulumi-winrm-folders-"));
    });
    afterEach(() => {
      // Nothing of a run's staging is ever left behind.
      if (existsSync(root)) {
        assert.deepEqual(
          readdirSync(root).filter((name) => name.startsWith(UPLOAD_TEMP_PREFIX)),
          [],
        );
      }
    });
    after(async () => {
      await client.close();
      await host.close();
      rmSync(work, { recursive: true, force: true });
    });

    test("an absent folder hashes as absent; placed files hash as sent, byte for byte", async () => {
      root = join(work, "site ü");
      const files = await client.files();
      assert.equal(await files.hashTree(root), "absent");
      const entries = Object.entries(CONTENTS).map(([path, content]) => entry(path, content));
      const sent: string[] = [];
      await files.placeFiles(root, entries, { onFile: (item) => sent.push(item.path) });
      assert.deepEqual(sent, Object.keys(CONTENTS));
      const hashes = await files.hashTree(root);
      assert.notEqual(hashes, "absent");
      assert.deepEqual(
        new Map([...(hashes as Map<string, string>)].sort()),
        new Map(entries.map((item): [string, string] => [item.path, item.sha256]).sort()),
      );
      for (const [path, content] of Object.entries(CONTENTS)) {
        assert.ok(readFileSync(join(root, ...path.split("/"))).equals(content), path);
      }
    });

    test("a second placement replaces changed files and adds new ones; the rest is untouched", async () => {
      root = join(work, "replace");
      const files = await client.files();
      await files.placeFiles(root, [
        entry("a.txt", Buffer.from("one")),
        entry("b.txt", Buffer.from("bee")),
      ]);
      await files.placeFiles(root, [
        entry("a.txt", Buffer.from("two")),
        entry("sub/c.txt", Buffer.from("sea")),
      ]);
      assert.equal(readFileSync(join(root, "a.txt"), "utf8"), "two");
      assert.equal(readFileSync(join(root, "b.txt"), "utf8"), "bee");
      assert.equal(readFileSync(join(root, "sub", "c.txt"), "utf8"), "sea");
    });

    test("a file that does not verify moves nothing into place", async () => {
      root = join(work, "corrupt");
      const files = await client.files();
      await files.placeFiles(root, [entry("keep.txt", Buffer.from("old"))]);
      const lying = {
        ...entry("keep.txt", Buffer.from("new")),
        sha256: sha256(Buffer.from("other")),
      };
      await assert.rejects(
        files.placeFiles(root, [entry("fresh.txt", Buffer.from("fresh")), lying]),
        (error: unknown) => {
          assert.ok(error instanceof IntegrityError, String(error));
          assert.match(error.message, /keep\.txt/);
          assert.match(error.message, /no file was replaced/);
          return true;
        },
      );
      assert.equal(readFileSync(join(root, "keep.txt"), "utf8"), "old");
      assert.equal(existsSync(join(root, "fresh.txt")), false);
    });

    test("a file that changed locally while it was sent is reported as such; nothing is replaced", async () => {
      root = join(work, "changed");
      const files = await client.files();
      await files.placeFiles(root, [entry("keep.txt", Buffer.from("old"))]);
      const grown = { ...entry("keep.txt", Buffer.from("new")), open: () => Buffer.from("newer") };
      await assert.rejects(
        files.placeFiles(root, [grown]),
        /keep\.txt changed while it was being sent/,
      );
      assert.equal(readFileSync(join(root, "keep.txt"), "utf8"), "old");
    });

    test("removeFiles removes what is named and accepts what is absent", async () => {
      root = join(work, "prune");
      const files = await client.files();
      await files.placeFiles(root, [
        entry("x.txt", Buffer.from("x")),
        entry("d/y z.txt", Buffer.from("y")),
        entry("keep.txt", Buffer.from("k")),
      ]);
      await files.removeFiles(root, ["x.txt", "d/y z.txt", "never-there.txt"]);
      const hashes = (await files.hashTree(root)) as Map<string, string>;
      assert.deepEqual([...hashes.keys()], ["keep.txt"]);
    });

    test("a staging folder left by a run that was killed goes with the next placement", async () => {
      root = join(work, "stale");
      mkdirSync(root, { recursive: true });
      // A process id no process has (the kernel's limit is far lower).
      const stale = join(root, `${UPLOAD_TEMP_PREFIX}99999999-0123456789`);
      mkdirSync(stale);
      writeFileSync(join(stale, "1"), "half a file");
      const files = await client.files();
      assert.deepEqual([...((await files.hashTree(root)) as Map<string, string>).keys()], []);
      await files.placeFiles(root, [entry("new.txt", Buffer.from("new"))]);
      assert.equal(existsSync(stale), false);
    });
  });
}
