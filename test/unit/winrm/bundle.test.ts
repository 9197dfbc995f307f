/**
 * The bundle (provider/winrm/bundle.ts): a restricted ustar archive that GNU tar reads as it
 * is, a manifest in entry order, names that could leave the folder refused.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  type BundleEntry,
  bundlePathProblem,
  ustarHeader,
  windowsNameProblem,
  writeBundle,
} from "../../../provider/winrm/bundle";

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const entry = (path: string, content: Buffer): BundleEntry => ({
  path,
  size: content.length,
  sha256: sha256(content),
  open: () => content,
});

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

describe("the bundle", () => {
  test("tar unpacks it: the manifest as entry 0, then each file under its number", async () => {
    const files = [
      entry("a.txt", Buffer.from("alpha")),
      entry("empty", Buffer.alloc(0)),
      entry("dir/ünï ço de.bin", randomBytes(512 * 3)),
      entry("dir/odd.bin", randomBytes(1000)),
    ];
    const bundle = await collect(writeBundle(files));
    assert.equal(bundle.length % 512, 0);
    const out = mkdtempSync(join(tmpdir(), "pulumi-winrm-bundle-"));
    try {
      const tar = spawnSync("tar", ["-xf", "-", "-C", out], { input: bundle });
      assert.equal(tar.status, 0, tar.stderr.toString());
      assert.deepEqual(readdirSync(out).sort(), ["0", "1", "2", "3", "4"]);
      assert.equal(
        readFileSync(join(out, "0"), "utf8"),
        files.map((file) => `${file.sha256} ${file.size} ${file.path}\n`).join(""),
      );
      files.forEach((file, index) => {
        assert.ok(
          readFileSync(join(out, String(index + 1))).equals(file.open() as Buffer),
          file.path,
        );
      });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test("headers carry a valid checksum and refuse sizes an octal field cannot hold", () => {
    const header = ustarHeader("12", 1234);
    const stored = parseInt(header.toString("ascii", 148, 154), 8);
    const copy = Buffer.from(header);
    copy.write("        ", 148, "ascii");
    assert.equal(
      stored,
      copy.reduce((sum, byte) => sum + byte, 0),
    );
    assert.throws(() => ustarHeader("1", 8 * 1024 ** 3), RangeError);
    assert.throws(() => ustarHeader("name", 1), /digits/);
  });

  test("a file that changed size after hashing ends the stream with an error", async () => {
    const liar = {
      ...entry("grew.txt", Buffer.from("short")),
      open: () => Buffer.from("much longer now"),
    };
    await assert.rejects(collect(writeBundle([liar])), /changed while it was being sent/);
  });

  test("names that would leave the folder, or that a line-based manifest cannot carry, are refused", () => {
    for (const bad of [
      "",
      "/etc/passwd",
      "C:/x",
      "a/../../b",
      "..",
      "./a",
      "a//b",
      "a\\b",
      "new\nline",
      "nul\0",
    ]) {
      assert.notEqual(bundlePathProblem(bad), undefined, JSON.stringify(bad));
    }
    for (const fine of ["a", "a b/c d.txt", "ünï/😀", ".hidden", "a..b", "-dash"]) {
      assert.equal(bundlePathProblem(fine), undefined, fine);
    }
  });

  test("names a Windows host cannot store are told apart from those it can", () => {
    for (const bad of [
      "a:b",
      "dir/x?.txt",
      'q"uote',
      "trailing.",
      "sp /x",
      "CON",
      "dir/nul.txt",
      "com1.log",
      "tab\there",
    ]) {
      assert.notEqual(windowsNameProblem(bad), undefined, JSON.stringify(bad));
    }
    for (const fine of ["a b/c.txt", "ünï/😀", ".hidden", "console.txt", "it's", "[x]"]) {
      assert.equal(windowsNameProblem(fine), undefined, fine);
    }
  });
});
