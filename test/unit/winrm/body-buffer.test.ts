import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BodyBuffer } from "../../../provider/winrm/http/body-buffer";

/** Whether two buffers share their memory. */
const sameMemory = (a: Buffer, b: Buffer) => a.buffer === b.buffer;

describe("a connection's reusable request body buffer", () => {
  test("a buffer given back is lent again, for a body of the same or a smaller size", () => {
    const bodies = new BodyBuffer();
    const first = bodies.take(700_000);
    assert.equal(first.length, 700_000);
    bodies.giveBack();
    const second = bodies.take(650_000);
    assert.equal(second.length, 650_000);
    assert.ok(sameMemory(first, second), "the kept buffer is reused");
    bodies.giveBack();
    const larger = bodies.take(900_000);
    assert.ok(!sameMemory(second, larger), "a body that does not fit gets a new buffer");
  });

  test("a dropped buffer is never lent again: its socket may still be writing it", () => {
    const bodies = new BodyBuffer();
    const first = bodies.take(700_000);
    bodies.drop();
    const second = bodies.take(700_000);
    assert.ok(!sameMemory(first, second));
    // Giving back after a drop keeps nothing of the dropped one either.
    bodies.drop();
    bodies.giveBack();
    assert.ok(!sameMemory(second, bodies.take(700_000)));
  });

  test("while one is lent, a second take gets its own memory", () => {
    const bodies = new BodyBuffer();
    const first = bodies.take(700_000);
    const second = bodies.take(700_000);
    assert.ok(!sameMemory(first, second));
  });

  test("small bodies come from Node's pool and never take the kept buffer's place", () => {
    const bodies = new BodyBuffer();
    const big = bodies.take(700_000);
    bodies.giveBack();
    const small = bodies.take(2000);
    assert.ok(!sameMemory(big, small), "a small body is not written into the kept buffer");
    bodies.giveBack();
    assert.ok(sameMemory(big, bodies.take(700_000)), "the kept buffer is still kept");
  });
});
