/**
 * RC4 as a stateful stream cipher (RFC 6229 has the test vectors).
 *
 * NTLM sealing (MS-NLMP 3.4.3) keeps one RC4 keystream per direction that continues across
 * messages, so the cipher is an object whose state survives between calls. node:crypto cannot
 * be used: OpenSSL 3 moved RC4 to the legacy provider, which Node does not load by default.
 *
 * Speed matters here: every byte of a sealed upload or of sealed command output passes through
 * this loop, and it is the client's largest cost (bench:seal). Runs of 64 bytes or more go
 * through the WebAssembly loop of rc4.wat (about 740 MB/s on Node 20, 22 and 24, against
 * 420 to 680 MB/s for the JavaScript loop below, which V8 runs faster with each version).
 * Where WebAssembly cannot be compiled (node --jitless), the JavaScript loop does the work: it
 * makes four keystream bytes and XORs them into the data as one 32-bit word, a quarter of the
 * loads and stores of the byte loop. The word is built in little-endian order, so that path
 * runs only on little-endian hosts (all the platforms Node ships for but s390x and ppc64
 * big-endian, which take the byte loop).
 */
import { endianness } from "node:os";
import { RC4_WASM_BASE64 } from "./rc4-wasm";

const LITTLE_ENDIAN = endianness() === "LE";

/** The most keystream prefill() keeps ready: about two of WinRM's largest envelopes. */
const MAX_AHEAD = 1 << 20;

/** Shorter runs stay in JavaScript: copying the state in and out would cost more. */
const WASM_MIN_LENGTH = 64;

/**
 * The WebAssembly loop (rc4.wat), one instance for the process. It keeps no cipher between
 * calls: each call copies one cipher's state in, runs, and copies it back, so any number of
 * Rc4 objects share it (JavaScript runs one call at a time).
 */
class WasmKeystream {
  /** rc4.wat's layout: S at 0, i at 256, j at 257, the data from 1024. */
  private static readonly STATE_END = 258;
  private static readonly DATA = 1024;
  /** Data per call: memory stays at most this plus a page. */
  private static readonly CHUNK = 1 << 20;
  private readonly memory: WebAssembly.Memory;
  private readonly xorKeystream: (length: number) => void;

  constructor(module: WebAssembly.Module) {
    const exports = new WebAssembly.Instance(module, {}).exports as unknown as {
      memory: WebAssembly.Memory;
      xorKeystream: (length: number) => void;
    };
    this.memory = exports.memory;
    this.xorKeystream = exports.xorKeystream;
  }

  /** Like Rc4.generate: the next input.length keystream bytes XORed into output. */
  run(state: Uint8Array, input: Uint8Array, output: Uint8Array): void {
    const { DATA, CHUNK, STATE_END } = WasmKeystream;
    const needed = DATA + Math.min(input.length, CHUNK);
    const have = this.memory.buffer.byteLength;
    if (have < needed) this.memory.grow(Math.ceil((needed - have) / 65536));
    // A view made after grow(): growing detaches the views of the old buffer.
    const memory = new Uint8Array(this.memory.buffer);
    memory.set(state, 0);
    for (let at = 0; at < input.length; at += CHUNK) {
      const length = Math.min(CHUNK, input.length - at);
      memory.set(input.subarray(at, at + length), DATA);
      this.xorKeystream(length);
      output.set(memory.subarray(DATA, DATA + length), at);
    }
    state.set(memory.subarray(0, STATE_END));
  }
}

let wasm: WasmKeystream | null | undefined;

/** The shared WebAssembly loop, or null where WebAssembly is unavailable. */
function wasmKeystream(): WasmKeystream | null {
  if (wasm === undefined) {
    try {
      wasm = new WasmKeystream(new WebAssembly.Module(Buffer.from(RC4_WASM_BASE64, "base64")));
    } catch {
      wasm = null;
    }
  }
  return wasm;
}

/** For tests: run the JavaScript loop even where WebAssembly works (false), or restore (true). */
export function useWebAssembly(enabled: boolean): void {
  wasm = enabled ? undefined : null;
}

export class Rc4 {
  /** S, then room for i and j: the state as the WebAssembly loop takes it. */
  private readonly state = new Uint8Array(258);
  private readonly s = this.state.subarray(0, 256);
  private i = 0;
  private j = 0;
  /**
   * Keystream made ahead by prefill(): bytes [aheadUsed, aheadEnd) are the next to use. The
   * buffer is kept and refilled, so a long upload does not allocate one per message.
   */
  private ahead = new Uint8Array(0);
  private aheadUsed = 0;
  private aheadEnd = 0;

  constructor(key: Uint8Array) {
    if (key.length === 0 || key.length > 256) {
      throw new RangeError("RC4 key must be 1 to 256 bytes");
    }
    const s = this.s;
    for (let n = 0; n < 256; n++) s[n] = n;
    let j = 0;
    for (let n = 0; n < 256; n++) {
      const sn = s[n]!;
      j = (j + sn + key[n % key.length]!) & 0xff;
      s[n] = s[j]!;
      s[j] = sn;
    }
  }

  /**
   * XORs the next `input.length` keystream bytes into `output` (which may be `input` itself, to
   * work in place) and returns `output`.
   */
  update(input: Uint8Array, output: Uint8Array = new Uint8Array(input.length)): Uint8Array {
    if (output.length < input.length) throw new RangeError("RC4 output shorter than input");
    const ready = Math.min(input.length, this.aheadEnd - this.aheadUsed);
    if (ready === 0) {
      this.generate(input, output);
      return output;
    }
    xorInto(input.subarray(0, ready), this.ahead.subarray(this.aheadUsed), output);
    this.aheadUsed += ready;
    if (ready < input.length) this.generate(input.subarray(ready), output.subarray(ready));
    return output;
  }

  /**
   * Makes the next `count` keystream bytes now (at most MAX_AHEAD), so that a later update()
   * only XORs them in. A sealed session calls this while it waits for the peer, which moves
   * the cipher's work off the path of the next message (issue 15: the two ends of an upload
   * otherwise take turns). The keystream is the same whether made ahead or not.
   */
  prefill(count: number): void {
    const want = Math.min(count, MAX_AHEAD);
    const unused = this.aheadEnd - this.aheadUsed;
    if (unused >= want) return;
    if (this.ahead.length < want) {
      const bigger = new Uint8Array(want);
      bigger.set(this.ahead.subarray(this.aheadUsed, this.aheadEnd));
      this.ahead = bigger;
    } else if (this.aheadUsed > 0) {
      this.ahead.copyWithin(0, this.aheadUsed, this.aheadEnd);
    }
    // RC4 of zeros is the keystream itself.
    const rest = this.ahead.subarray(unused, want).fill(0);
    this.generate(rest, rest);
    this.aheadUsed = 0;
    this.aheadEnd = want;
  }

  /** The cipher proper: the next keystream bytes XORed from `input` into `output`. */
  private generate(input: Uint8Array, output: Uint8Array): void {
    const length = input.length;
    const engine = length >= WASM_MIN_LENGTH ? wasmKeystream() : null;
    if (engine !== null) {
      this.state[256] = this.i;
      this.state[257] = this.j;
      engine.run(this.state, input, output);
      this.i = this.state[256]!;
      this.j = this.state[257]!;
      return;
    }
    let done = 0;
    // Words need input and output at the same alignment; buffers from Node's pool usually are.
    if (LITTLE_ENDIAN && length >= 64 && ((input.byteOffset ^ output.byteOffset) & 3) === 0) {
      done = this.bytes(input, output, 0, (4 - (input.byteOffset & 3)) & 3);
      done = this.words(input, output, done, (length - done) >>> 2);
    }
    this.bytes(input, output, done, length - done);
  }

  /** The byte-at-a-time loop over `count` bytes from `start`; returns the end offset. */
  private bytes(input: Uint8Array, output: Uint8Array, start: number, count: number): number {
    const s = this.s;
    let i = this.i;
    let j = this.j;
    const end = start + count;
    for (let n = start; n < end; n++) {
      i = (i + 1) & 0xff;
      const si = s[i]!;
      j = (j + si) & 0xff;
      const sj = s[j]!;
      s[i] = sj;
      s[j] = si;
      output[n] = input[n]! ^ s[(si + sj) & 0xff]!;
    }
    this.i = i;
    this.j = j;
    return end;
  }

  /** Four keystream bytes per step over `count` aligned words from `start`; returns the end. */
  private words(input: Uint8Array, output: Uint8Array, start: number, count: number): number {
    const s = this.s;
    let i = this.i;
    let j = this.j;
    const from = new Int32Array(input.buffer, input.byteOffset + start, count);
    const to = new Int32Array(output.buffer, output.byteOffset + start, count);
    for (let w = 0; w < count; w++) {
      i = (i + 1) & 0xff;
      let si = s[i]!;
      j = (j + si) & 0xff;
      let sj = s[j]!;
      s[i] = sj;
      s[j] = si;
      let key = s[(si + sj) & 0xff]!;
      i = (i + 1) & 0xff;
      si = s[i]!;
      j = (j + si) & 0xff;
      sj = s[j]!;
      s[i] = sj;
      s[j] = si;
      key |= s[(si + sj) & 0xff]! << 8;
      i = (i + 1) & 0xff;
      si = s[i]!;
      j = (j + si) & 0xff;
      sj = s[j]!;
      s[i] = sj;
      s[j] = si;
      key |= s[(si + sj) & 0xff]! << 16;
      i = (i + 1) & 0xff;
      si = s[i]!;
      j = (j + si) & 0xff;
      sj = s[j]!;
      s[i] = sj;
      s[j] = si;
      key |= s[(si + sj) & 0xff]! << 24;
      to[w] = from[w]! ^ key;
    }
    this.i = i;
    this.j = j;
    return start + count * 4;
  }
}

/** output = input XOR key, over input's length; four bytes at a time when all three align. */
function xorInto(input: Uint8Array, key: Uint8Array, output: Uint8Array): void {
  const length = input.length;
  let n = 0;
  const shift = input.byteOffset & 3;
  if (
    LITTLE_ENDIAN &&
    length >= 64 &&
    (key.byteOffset & 3) === shift &&
    (output.byteOffset & 3) === shift
  ) {
    for (; n < length && ((input.byteOffset + n) & 3) !== 0; n++) output[n] = input[n]! ^ key[n]!;
    const words = (length - n) >>> 2;
    const from = new Int32Array(input.buffer, input.byteOffset + n, words);
    const stream = new Int32Array(key.buffer, key.byteOffset + n, words);
    const to = new Int32Array(output.buffer, output.byteOffset + n, words);
    for (let w = 0; w < words; w++) to[w] = from[w]! ^ stream[w]!;
    n += words * 4;
  }
  for (; n < length; n++) output[n] = input[n]! ^ key[n]!;
}

/** One-shot RC4 with a fresh key: RC4K(key, data) in MS-NLMP 6 (used for KEY_EXCH). */
export function rc4(key: Uint8Array, data: Uint8Array): Buffer {
  const out = Buffer.alloc(data.length);
  new Rc4(key).update(data, out);
  return out;
}
