/**
 * AES in CBC mode with ciphertext stealing, as RFC 3962 section 5 uses it: an all-zero IV, and
 * the last two blocks always swapped (the "CS3" variant), so the output is exactly as long as
 * the input, which must be at least one block. The bulk goes through node:crypto's CBC; only
 * the last two blocks are handled here.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";

const BLOCK = 16;
const ZERO_IV = Buffer.alloc(BLOCK);

function algorithm(key: Uint8Array, mode: "cbc" | "ecb"): string {
  return `aes-${key.length * 8}-${mode}`;
}

function cbcEncrypt(key: Uint8Array, data: Uint8Array): Buffer {
  const cipher = createCipheriv(algorithm(key, "cbc"), key, ZERO_IV).setAutoPadding(false);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

function cbcDecrypt(key: Uint8Array, data: Uint8Array, iv: Uint8Array): Buffer {
  const decipher = createDecipheriv(algorithm(key, "cbc"), key, iv).setAutoPadding(false);
  return Buffer.concat([decipher.update(data), decipher.final()]);
}

/** One block through the raw cipher (what RFC 3961's E() is on a single block with a zero IV). */
export function aesBlock(key: Uint8Array, block: Uint8Array): Buffer {
  const cipher = createCipheriv(algorithm(key, "ecb"), key, null).setAutoPadding(false);
  return Buffer.concat([cipher.update(block), cipher.final()]);
}

function aesBlockDecrypt(key: Uint8Array, block: Uint8Array): Buffer {
  const decipher = createDecipheriv(algorithm(key, "ecb"), key, null).setAutoPadding(false);
  return Buffer.concat([decipher.update(block), decipher.final()]);
}

/** Last-block length (1..16) and block count of a message of `length` bytes. */
function shape(length: number): { blocks: number; tail: number } {
  if (length < BLOCK) throw new RangeError(`AES-CTS needs at least ${BLOCK} bytes, got ${length}`);
  const blocks = Math.ceil(length / BLOCK);
  return { blocks, tail: length - (blocks - 1) * BLOCK };
}

export function ctsEncrypt(key: Uint8Array, plaintext: Uint8Array): Buffer {
  const { blocks, tail } = shape(plaintext.length);
  if (blocks === 1) return aesBlock(key, plaintext);
  // CBC over the message padded with zeros to whole blocks, then the last two ciphertext blocks
  // swapped and the (now last) one cut to the tail's length.
  const padded = Buffer.alloc(blocks * BLOCK);
  padded.set(plaintext);
  const cbc = cbcEncrypt(key, padded);
  const output = Buffer.allocUnsafe(plaintext.length);
  const penultimate = (blocks - 2) * BLOCK;
  cbc.copy(output, 0, 0, penultimate);
  cbc.copy(output, penultimate, penultimate + BLOCK, penultimate + 2 * BLOCK);
  cbc.copy(output, penultimate + BLOCK, penultimate, penultimate + tail);
  return output;
}

export function ctsDecrypt(key: Uint8Array, ciphertext: Uint8Array): Buffer {
  const { blocks, tail } = shape(ciphertext.length);
  if (blocks === 1) return aesBlockDecrypt(key, ciphertext);
  const penultimate = (blocks - 2) * BLOCK;
  const output = Buffer.allocUnsafe(ciphertext.length);
  const previous =
    blocks > 2 ? ciphertext.subarray(penultimate - BLOCK, penultimate) : new Uint8Array(BLOCK);
  if (blocks > 2) cbcDecrypt(key, ciphertext.subarray(0, penultimate), ZERO_IV).copy(output, 0);
  // The full block that arrived second to last is the CBC output of the last plaintext block;
  // decrypting it gives that block XOR the stolen block, whose missing bytes it also supplies.
  const lastCipher = ciphertext.subarray(penultimate, penultimate + BLOCK);
  const stolenPrefix = ciphertext.subarray(penultimate + BLOCK);
  const mixed = aesBlockDecrypt(key, lastCipher);
  const stolen = Buffer.allocUnsafe(BLOCK);
  stolen.set(stolenPrefix);
  mixed.copy(stolen, tail, tail);
  for (let index = 0; index < tail; index++) {
    output[penultimate + BLOCK + index] = mixed[index]! ^ stolenPrefix[index]!;
  }
  const secondToLast = aesBlockDecrypt(key, stolen);
  for (let index = 0; index < BLOCK; index++) {
    output[penultimate + index] = secondToLast[index]! ^ previous[index]!;
  }
  return output;
}
