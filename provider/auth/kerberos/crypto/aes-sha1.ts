/**
 * aes128-cts-hmac-sha1-96 and aes256-cts-hmac-sha1-96 (RFC 3962), built on the simplified
 * profile of RFC 3961 5.3:
 *
 *   string-to-key  DK(random-to-key(PBKDF2-HMAC-SHA1(password, salt, iterations)), "kerberos")
 *   DK(key, c)     AES-encrypt n-fold(c) with the key, then each output again, to key length
 *   Kc, Ke, Ki     DK(base key, usage (4 bytes, big-endian) || 0x99 / 0xAA / 0x55)
 *   encrypt        CTS(Ke, confounder || plaintext) || HMAC-SHA1(Ki, confounder || plaintext)[0..12)
 *   checksum       HMAC-SHA1(Kc, data)[0..12)
 */
import { createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { IntegrityError, InvalidArgumentError, ProtocolError } from "../../../errors";
import { aesBlock, ctsDecrypt, ctsEncrypt } from "./aes-cts";
import { nfold } from "./nfold";
import {
  ChecksumType,
  EncryptionType,
  type EncryptionProfile,
  type KerberosKey,
  registerProfile,
} from "./profile";

const BLOCK = 16;
const MAC_LENGTH = 12;
const DEFAULT_ITERATIONS = 4096;
/** MIT's ceiling on iterations (2^24 - 1); a KDC asking for more is refused, not obeyed. */
const MAX_ITERATIONS = 0xffffff;

export const KeyDerivation = Object.freeze({ CHECKSUM: 0x99, ENCRYPTION: 0xaa, INTEGRITY: 0x55 });

/** DK(key, constant) for AES, where random-to-key is the identity (RFC 3962 4). */
export function deriveKey(base: Uint8Array, constant: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  let block = nfold(constant, BLOCK);
  for (let length = 0; length < base.length; length += BLOCK) {
    block = aesBlock(base, block);
    parts.push(block);
  }
  return Buffer.concat(parts).subarray(0, base.length);
}

function usageConstant(usage: number, kind: number): Buffer {
  const constant = Buffer.alloc(5);
  constant.writeUInt32BE(usage >>> 0, 0);
  constant[4] = kind;
  return constant;
}

function usageKey(key: KerberosKey, usage: number, kind: number): Buffer {
  return key.cached(`${usage}/${kind}`, () => deriveKey(key.value, usageConstant(usage, kind)));
}

function hmacSha1(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const hmac = createHmac("sha1", key);
  for (const part of parts) hmac.update(part);
  return hmac.digest().subarray(0, MAC_LENGTH);
}

/** The iteration count of s2kparams (RFC 3962 4: a 4-byte big-endian number; absent: 4096). */
function iterations(params: Uint8Array | undefined): number {
  if (params === undefined || params.length === 0) return DEFAULT_ITERATIONS;
  if (params.length !== 4) {
    throw new ProtocolError(
      "s2kparams",
      `AES string-to-key parameters are 4 bytes, not ${params.length}`,
    );
  }
  const count = Buffer.from(params).readUInt32BE(0);
  if (count === 0 || count > MAX_ITERATIONS) {
    throw new ProtocolError("s2kparams", `an iteration count of ${count} is refused`);
  }
  return count;
}

function aesProfile(etype: number, name: string, keyLength: number, checksumType: number) {
  const profile: EncryptionProfile = {
    etype,
    name,
    keyLength,
    checksumType,
    checksumLength: MAC_LENGTH,
    confounderLength: BLOCK,
    stringToKey(password, salt, params) {
      if (typeof password !== "string")
        throw new InvalidArgumentError("password", "must be a string");
      const seed = pbkdf2Sync(
        Buffer.from(password, "utf8"),
        Buffer.from(salt, "utf8"),
        iterations(params),
        keyLength,
        "sha1",
      );
      return deriveKey(seed, Buffer.from("kerberos", "latin1"));
    },
    encrypt(key, usage, plaintext) {
      const data = Buffer.allocUnsafe(BLOCK + plaintext.length);
      randomBytes(BLOCK).copy(data, 0);
      data.set(plaintext, BLOCK);
      const mac = hmacSha1(usageKey(key, usage, KeyDerivation.INTEGRITY), data);
      return Buffer.concat([ctsEncrypt(usageKey(key, usage, KeyDerivation.ENCRYPTION), data), mac]);
    },
    decrypt(key, usage, ciphertext) {
      if (ciphertext.length < BLOCK + MAC_LENGTH) {
        throw new IntegrityError(`a ${name} ciphertext of ${ciphertext.length} bytes is too short`);
      }
      const body = ciphertext.subarray(0, ciphertext.length - MAC_LENGTH);
      const data = ctsDecrypt(usageKey(key, usage, KeyDerivation.ENCRYPTION), body);
      const mac = hmacSha1(usageKey(key, usage, KeyDerivation.INTEGRITY), data);
      if (!timingSafeEqual(mac, ciphertext.subarray(body.length))) {
        throw new IntegrityError(
          `${name} decryption failed: the integrity check does not match (wrong key?)`,
        );
      }
      return data.subarray(BLOCK);
    },
    checksum(key, usage, data) {
      return hmacSha1(usageKey(key, usage, KeyDerivation.CHECKSUM), data);
    },
  };
  registerProfile(profile);
  return profile;
}

export const AES128_CTS_HMAC_SHA1_96 = aesProfile(
  EncryptionType.AES128_CTS_HMAC_SHA1_96,
  "aes128-cts-hmac-sha1-96",
  16,
  ChecksumType.HMAC_SHA1_96_AES128,
);

export const AES256_CTS_HMAC_SHA1_96 = aesProfile(
  EncryptionType.AES256_CTS_HMAC_SHA1_96,
  "aes256-cts-hmac-sha1-96",
  32,
  ChecksumType.HMAC_SHA1_96_AES256,
);
