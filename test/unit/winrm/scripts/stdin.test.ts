/** The client-side stdin helpers: the SHA-256 trailer and the base64-lines encoder. */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, test } from "node:test";
import { BASE64_LINE_MAX } from "../../../../provider/winrm/scripts";
import { base64Lines, stdinEncoder } from "../../../../provider/winrm/scripts/stdin";

async function through(chunks: Buffer[], transform: NodeJS.ReadWriteStream): Promise<Buffer> {
  return buffer(Readable.from(chunks).pipe(transform));
}

describe("base64Lines", () => {
  test("lines are at most BASE64_LINE_MAX characters, end in \\n and decode one by one", async () => {
    const content = randomBytes(3 * BASE64_LINE_MAX + 12345);
    const chunks: Buffer[] = [];
    for (let at = 0; at < content.length; at += 10_007)
      chunks.push(content.subarray(at, at + 10_007));
    const text = (await through(chunks, base64Lines())).toString("latin1");
    assert.ok(text.endsWith("\n"));
    const lines = text.slice(0, -1).split("\n");
    for (const line of lines) assert.ok(line.length > 0 && line.length <= BASE64_LINE_MAX);
    const decoded = Buffer.concat(lines.map((line) => Buffer.from(line, "base64")));
    assert.ok(decoded.equals(content));
  });

  test("small line lengths and empty input", async () => {
    const text = (await through([Buffer.from("hello world")], base64Lines(8))).toString();
    assert.equal(text, "aGVsbG8g\nd29ybGQ=\n");
    assert.equal((await through([], base64Lines())).length, 0);
    assert.throws(() => base64Lines(3), RangeError);
  });

  test("raw is a pass-through", async () => {
    const bytes = randomBytes(1000);
    assert.ok((await through([bytes], stdinEncoder("raw"))).equals(bytes));
  });
});
