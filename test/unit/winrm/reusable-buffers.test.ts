import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ReusableBuffers } from "../../../provider/winrm/reusable-buffers";

/** Whether two buffers share their memory. */
const sameMemory = (a: Buffer, b: Buffer) => a.buffer === b.buffer;

describe("buffers kept for large requests", () => {
  test("a buffer given back is lent again, for a body of the same or a smaller size", () => {
    const buffers = new ReusableBuffers(1);
    const first = buffers.take(700_000);
    assert.equal(first.length, 700_000);
    buffers.giveBack(first);
    const second = buffers.take(650_000);
    assert.equal(second.length, 650_000);
    assert.ok(sameMemory(first, second), "the kept buffer is reused");
    buffers.giveBack(second);
    const larger = buffers.take(900_000);
    assert.ok(!sameMemory(second, larger), "a body that does not fit gets a new buffer");
  });

  test("a buffer not given back is never lent again: a socket may still be writing it", () => {
    const buffers = new ReusableBuffers(2);
    const first = buffers.take(700_000);
    const second = buffers.take(700_000);
    assert.ok(!sameMemory(first, second), "while one is lent, a second take gets its own memory");
    buffers.giveBack(second);
    const third = buffers.take(700_000);
    assert.ok(sameMemory(second, third));
    assert.ok(!sameMemory(first, buffers.take(700_000)), "the one never given back stays out");
  });

  test("as many buffers as asked for are kept, and each only once", () => {
    const buffers = new ReusableBuffers(2);
    const lent = [buffers.take(500_000), buffers.take(500_000), buffers.take(500_000)];
    for (const buffer of lent) buffers.giveBack(buffer);
    buffers.giveBack(lent[0]!); // given back twice: must not be lent to two takers
    const again = [buffers.take(500_000), buffers.take(500_000), buffers.take(500_000)];
    const reused = again.filter((buffer) => lent.some((old) => sameMemory(old, buffer)));
    assert.equal(reused.length, 2, "two kept, the third taker gets new memory");
    assert.ok(!sameMemory(again[0]!, again[1]!));
  });

  test("small bodies come from Node's pool and never take a kept buffer's place", () => {
    const buffers = new ReusableBuffers(1);
    const big = buffers.take(700_000);
    buffers.giveBack(big);
    const small = buffers.take(2000);
    assert.ok(!sameMemory(big, small), "a small body is not written into the kept buffer");
    buffers.giveBack(small);
    assert.ok(sameMemory(big, buffers.take(700_000)), "the kept buffer is still kept");
  });
});
