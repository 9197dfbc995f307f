/**
 * n-fold (RFC 3961 5.1): stretches or shrinks a byte string to `outputBytes` by laying copies
 * of it, each rotated 13 bits further to the right, end to end until the total length is a
 * common multiple of both lengths, and adding the output-sized pieces with one's-complement
 * (end-around carry) addition. Used only on short constants during key derivation, so it is
 * written for clarity, with BigInt, rather than speed.
 */

/** The input rotated right by `bits`, bits numbered from the most significant of byte 0. */
function rotateRight(input: Uint8Array, bits: number): Uint8Array {
  const length = input.length * 8;
  const output = new Uint8Array(input.length);
  for (let target = 0; target < length; target++) {
    const source = (((target - bits) % length) + length) % length;
    const bit = (input[source >> 3]! >> (7 - (source & 7))) & 1;
    output[target >> 3]! |= bit << (7 - (target & 7));
  }
  return output;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export function nfold(input: Uint8Array, outputBytes: number): Buffer {
  if (input.length === 0 || outputBytes <= 0) throw new RangeError("n-fold of nothing");
  const total = (input.length * outputBytes) / gcd(input.length, outputBytes);
  const modulusBits = BigInt(outputBytes * 8);
  const mask = (1n << modulusBits) - 1n;
  let sum = 0n;
  let chunk = 0n;
  let filled = 0;
  for (let copy = 0; copy < total / input.length; copy++) {
    for (const byte of rotateRight(input, 13 * copy)) {
      chunk = (chunk << 8n) | BigInt(byte);
      if (++filled === outputBytes) {
        sum += chunk;
        chunk = 0n;
        filled = 0;
      }
    }
  }
  while (sum > mask) sum = (sum & mask) + (sum >> modulusBits);
  const output = Buffer.alloc(outputBytes);
  for (let index = outputBytes - 1; index >= 0; index--) {
    output[index] = Number(sum & 0xffn);
    sum >>= 8n;
  }
  return output;
}
