import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Rc4, rc4 } from "../../../provider/crypto/rc4";
import { RFC6229_128_BIT, RFC6229_40_BIT, type Rc4Vector } from "../../vectors/rfc";

function keystream(key: Buffer, length: number): Buffer {
  return rc4(key, Buffer.alloc(length));
}

describe("RC4 (RFC 6229 section 2)", () => {
  for (const [name, vector] of [
    ["40-bit key 0x0102030405", RFC6229_40_BIT],
    ["128-bit key 0x0102...10", RFC6229_128_BIT],
  ] as const satisfies ReadonlyArray<readonly [string, Rc4Vector]>) {
    test(`${name}: keystream at every listed offset`, () => {
      const stream = keystream(vector.key, 4112);
      for (const [offset, expected] of vector.stream) {
        assert.deepEqual(stream.subarray(offset, offset + 16), expected, `offset ${offset}`);
      }
    });
  }

  test("the keystream continues across update calls of any size", () => {
    const whole = keystream(RFC6229_128_BIT.key, 4112);
    const cipher = new Rc4(RFC6229_128_BIT.key);
    const pieces: Uint8Array[] = [];
    for (const size of [0, 1, 7, 16, 100, 999, 2989])
      pieces.push(cipher.update(new Uint8Array(size)));
    assert.deepEqual(Buffer.concat(pieces), whole);
  });

  test("works in place and decrypts what it encrypted", () => {
    const message = Buffer.from("sealed with a continuing keystream");
    const data = Buffer.from(message);
    new Rc4(RFC6229_40_BIT.key).update(data, data);
    assert.notDeepEqual(data, message);
    new Rc4(RFC6229_40_BIT.key).update(data, data);
    assert.deepEqual(data, message);
  });

  test("rejects empty and oversized keys", () => {
    assert.throws(() => new Rc4(new Uint8Array(0)), RangeError);
    assert.throws(() => new Rc4(new Uint8Array(257)), RangeError);
  });
});
