/**
 * Hash functions and the randomness seam. MD4 comes from js-md4 (OpenSSL 3 refuses it, and this
 * is the only file that imports js-md4); MD5 and HMAC-MD5 come from node:crypto.
 */
import { createHash, createHmac, randomBytes as nodeRandomBytes } from "node:crypto";
import jsMd4 from "js-md4";

/** MD4 (RFC 1320), used by NTOWFv2 on the UTF-16LE password (MS-NLMP 3.3.2). */
export function md4(data: Uint8Array): Buffer {
  return Buffer.from(jsMd4.arrayBuffer(data));
}

export function md5(...parts: Uint8Array[]): Buffer {
  const hash = createHash("md5");
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** HMAC_MD5(K, M) of MS-NLMP 6, over the concatenation of `parts`. */
export function hmacMd5(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const hmac = createHmac("md5", key);
  for (const part of parts) hmac.update(part);
  return hmac.digest();
}

export function sha256(data: Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}

/**
 * Where NTLM gets its nonces, session keys and clock. Tests inject fixed values so the
 * specification's vectors (MS-NLMP 4.2) reproduce byte for byte.
 */
export interface Entropy {
  randomBytes(length: number): Buffer;
  /** Current time as a Windows FILETIME: 100 ns intervals since 1601-01-01 UTC. */
  fileTime(): bigint;
}

/** 100-nanosecond intervals between 1601-01-01 and 1970-01-01. */
const FILETIME_UNIX_EPOCH = 116444736000000000n;

export const systemEntropy: Entropy = Object.freeze({
  randomBytes: (length: number) => nodeRandomBytes(length),
  fileTime: () => BigInt(Date.now()) * 10000n + FILETIME_UNIX_EPOCH,
});
