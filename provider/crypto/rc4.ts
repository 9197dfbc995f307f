/**
 * RC4 as a stateful stream cipher (RFC 6229 has the test vectors).
 *
 * NTLM sealing (MS-NLMP 3.4.3) keeps one RC4 keystream per direction that continues across
 * messages, so the cipher is an object whose state survives between calls. node:crypto cannot
 * be used: OpenSSL 3 moved RC4 to the legacy provider, which Node does not load by default.
 */
export class Rc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

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
    const s = this.s;
    let i = this.i;
    let j = this.j;
    const length = input.length;
    for (let n = 0; n < length; n++) {
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
    return output;
  }
}

/** One-shot RC4 with a fresh key: RC4K(key, data) in MS-NLMP 6 (used for KEY_EXCH). */
export function rc4(key: Uint8Array, data: Uint8Array): Buffer {
  const out = Buffer.alloc(data.length);
  new Rc4(key).update(data, out);
  return out;
}
