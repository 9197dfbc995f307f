/**
 * rechunk: a byte source cut into the Sends of an upload. Every chunk but the last is exactly
 * the size asked for, the bytes are the source's in order, and chunks that lie within one of
 * the source's buffers are views of it rather than copies (an upload of 500 MB otherwise
 * copied every byte once more).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { rechunk } from "../../../provider/winrm/winrs/command";

async function collect(source: AsyncIterable<Uint8Array> | Uint8Array, size: number) {
  const chunks: Buffer[] = [];
  for await (const chunk of rechunk(source, size)) chunks.push(chunk);
  return chunks;
}

async function* pieces(data: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let at = 0;
  for (let index = 0; at < data.length; index++) {
    const size = sizes[index % sizes.length]!;
    // A fresh buffer per piece, delivered later, as a file stream reads them.
    yield await Promise.resolve(Buffer.from(data.subarray(at, at + size)));
    at += size;
  }
}

describe("rechunk", () => {
  test("any cut of the source gives chunks of exactly the size, then the rest, in order", async () => {
    // node:test tracks every promise through async hooks, which makes each round trip through
    // the two generators costly: one-byte pieces and one-byte chunks run on a short input.
    const long = randomBytes(200_003);
    const short = long.subarray(0, 2_003);
    for (const sizes of [[1], [7, 1_000], [65_536], [1 << 20], [99_999, 3, 50_001], [400_000]]) {
      for (const size of [1, 1000, 65_536, 380_000]) {
        const data = sizes[0] === 1 || size === 1 ? short : long;
        const chunks = await collect(pieces(data, sizes), size);
        const last = chunks.at(-1)!;
        const wrong = chunks.slice(0, -1).findIndex((chunk) => chunk.length !== size);
        assert.equal(wrong, -1, `chunk ${wrong} of ${chunks.length} is not ${size} bytes`);
        assert.ok(last.length > 0 && last.length <= size);
        assert.ok(Buffer.concat(chunks).equals(data), `pieces ${sizes.join(",")} into ${size}`);
      }
    }
  });

  test("chunks within one of the source's buffers are views of it; straddling ones are copies", async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const buffers: Buffer[] = [];
    async function* read(): AsyncGenerator<Buffer> {
      for (let at = 0; at < data.length; at += 1024 * 1024) {
        const buffer = Buffer.from(data.subarray(at, at + 1024 * 1024));
        buffers.push(buffer);
        yield await Promise.resolve(buffer);
      }
    }
    const chunks = await collect(read(), 380_000);
    const views = chunks.filter((chunk) =>
      buffers.some((buffer) => buffer.buffer === chunk.buffer),
    );
    // Per MiB read: two whole chunks inside it, and one that straddles into the next read.
    assert.equal(chunks.length, Math.ceil(data.length / 380_000));
    assert.ok(views.length >= 5, `${views.length} of ${chunks.length} chunks were views`);
    assert.ok(Buffer.concat(chunks).equals(data));
  });

  test("a source that is one buffer is cut into views of it", async () => {
    const data = randomBytes(1_000_000);
    const chunks = await collect(data, 300_000);
    assert.deepEqual(
      chunks.map((chunk) => chunk.length),
      [300_000, 300_000, 300_000, 100_000],
    );
    for (const chunk of chunks) assert.equal(chunk.buffer, data.buffer);
  });
});
