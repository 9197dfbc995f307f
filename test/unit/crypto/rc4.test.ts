import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Rc4, rc4, useWebAssembly } from "../../../provider/crypto/rc4";
import { join } from "node:path";
import { RFC6229_128_BIT, RFC6229_40_BIT, type Rc4Vector } from "../../vectors/rfc";

const ROOT = join(__dirname, "..", "..", "..", "..");

function keystream(key: Buffer, length: number): Buffer {
  return rc4(key, Buffer.alloc(length));
}

// Every case runs twice: through the WebAssembly loop (rc4.wat, what runs wherever WebAssembly
// compiles) and through the JavaScript loops (what runs where it does not, as under
// node --jitless). Runs shorter than 64 bytes take the JavaScript byte loop in both.
for (const engine of ["WebAssembly", "JavaScript"] as const) {
  describe(`RC4 (RFC 6229 section 2), ${engine} loop`, () => {
    before(() => useWebAssembly(engine === "WebAssembly"));
    after(() => useWebAssembly(true));

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

    test("every alignment of input and output gives the same keystream as one call", () => {
      // The word loop runs only when input and output share an alignment; cover the head, the
      // words, the tail, and the byte loop taken when they differ.
      const whole = keystream(RFC6229_128_BIT.key, 70_000);
      for (const [inShift, outShift] of [
        [0, 0],
        [1, 1],
        [3, 3],
        [1, 2],
        [0, 3],
      ] as const) {
        const cipher = new Rc4(RFC6229_128_BIT.key);
        const input = new Uint8Array(new ArrayBuffer(70_010), inShift, 70_000);
        const output = new Uint8Array(new ArrayBuffer(70_010), outShift, 70_000);
        let offset = 0;
        for (const size of [63, 64, 65, 4099, 13, 65_696]) {
          cipher.update(
            input.subarray(offset, offset + size),
            output.subarray(offset, offset + size),
          );
          offset += size;
        }
        assert.equal(offset, 70_000);
        assert.deepEqual(Buffer.from(output), whole, `input +${inShift}, output +${outShift}`);
      }
    });

    test("agrees with OpenSSL's RC4 on a megabyte of random data, in uneven pieces", () => {
      // OpenSSL 3 keeps RC4 in its legacy provider, so the peer is a node started with it.
      const key = randomBytes(16);
      const data = randomBytes(1 << 20);
      const peer = spawnSync(
        process.execPath,
        [
          "--openssl-legacy-provider",
          "-e",
          "const c=require('node:crypto');const k=Buffer.from(process.argv[1],'hex');" +
            "const d=require('node:fs').readFileSync(0);" +
            "process.stdout.write(c.createCipheriv('rc4',k,null).update(d));",
          key.toString("hex"),
        ],
        { input: data, maxBuffer: 4 << 20 },
      );
      assert.equal(peer.status, 0, String(peer.stderr));
      const cipher = new Rc4(key);
      const ours = Buffer.alloc(data.length);
      for (let offset = 0, size = 1; offset < data.length; offset += size, size = size * 3 + 1) {
        const end = Math.min(data.length, offset + size);
        cipher.update(data.subarray(offset, end), ours.subarray(offset, end));
      }
      assert.deepEqual(ours, peer.stdout);
    });

    test("keystream made ahead by prefill is the same keystream, used up in order", () => {
      const whole = keystream(RFC6229_128_BIT.key, 200_000);
      const cipher = new Rc4(RFC6229_128_BIT.key);
      const out: Buffer[] = [];
      const take = (size: number) => out.push(Buffer.from(cipher.update(new Uint8Array(size))));
      take(5);
      cipher.prefill(70_000); // more than the next call needs
      take(1_000);
      cipher.prefill(10); // already there: nothing to make
      take(3);
      cipher.prefill(100_000); // keeps what is left and makes more
      take(60_001); // uses part of it, across an odd alignment
      cipher.prefill(50_000); // refills the same buffer, the unused part moved to its front
      take(49_989); // part of it
      take(89_002); // the rest of it, then on past its end
      assert.deepEqual(Buffer.concat(out), whole);
    });

    test("rejects empty and oversized keys", () => {
      assert.throws(() => new Rc4(new Uint8Array(0)), RangeError);
      assert.throws(() => new Rc4(new Uint8Array(257)), RangeError);
    });

    test("ciphers used in turn keep their own keystreams, across the 1 MiB chunk of a call", () => {
      // The WebAssembly loop is one instance for the process: each call brings its cipher's
      // state and takes it back. Two ciphers interleaved, with calls longer than one chunk.
      const first = keystream(RFC6229_128_BIT.key, 3_000_000);
      const second = keystream(RFC6229_40_BIT.key, 3_000_000);
      const a = new Rc4(RFC6229_128_BIT.key);
      const b = new Rc4(RFC6229_40_BIT.key);
      const outA: Buffer[] = [];
      const outB: Buffer[] = [];
      for (const size of [100, (1 << 20) + 3, 999, 1_500_000, 450_322]) {
        outA.push(Buffer.from(a.update(new Uint8Array(size))));
        outB.push(Buffer.from(b.update(new Uint8Array(size))));
      }
      assert.ok(Buffer.concat(outA).equals(first), "first cipher");
      assert.ok(Buffer.concat(outB).equals(second), "second cipher");
    });
  });
}

describe("RC4's WebAssembly loop", () => {
  test("provider/crypto/rc4-wasm.ts is rc4.wat assembled (npm run build:wasm)", () => {
    const check = spawnSync(
      process.execPath,
      [join(ROOT, "test/setup/assemble-wasm.mjs"), "--check"],
      {
        encoding: "utf8",
      },
    );
    assert.equal(check.status, 0, check.stderr);
  });

  test("it is what runs: WebAssembly and JavaScript give one keystream, and node --jitless still ciphers", () => {
    // Under --jitless WebAssembly cannot compile: the JavaScript loops must take over, giving
    // RFC 6229's keystream; a normal node runs the WebAssembly loop (asserted through the
    // module's own choice, not assumed).
    const script = (jitless: boolean) =>
      spawnSync(
        process.execPath,
        [
          ...(jitless ? ["--jitless"] : []),
          "-e",
          `const { rc4 } = require(${JSON.stringify(join(ROOT, "dist/provider/crypto/rc4.js"))});` +
            "const key = Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex');" +
            "process.stdout.write(JSON.stringify({ wasm: typeof WebAssembly === 'object' && (() => { try { new WebAssembly.Module(Buffer.from('AGFzbQEAAAA=', 'base64')); return true; } catch { return false; } })(), stream: rc4(key, Buffer.alloc(4112)).toString('hex') }));",
        ],
        { encoding: "utf8" },
      );
    const jit = JSON.parse(script(false).stdout) as { wasm: boolean; stream: string };
    const jitless = JSON.parse(script(true).stdout) as { wasm: boolean; stream: string };
    assert.equal(jit.wasm, true, "WebAssembly compiles in a normal node");
    assert.equal(jitless.wasm, false, "WebAssembly does not compile under --jitless");
    const expected = keystream(RFC6229_128_BIT.key, 4112).toString("hex");
    assert.equal(jit.stream, expected);
    assert.equal(jitless.stream, expected);
  });
});
