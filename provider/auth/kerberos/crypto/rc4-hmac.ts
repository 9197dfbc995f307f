/**
 * rc4-hmac (RFC 4757), for domains that still issue it:
 *
 *   string-to-key  MD4(UTF-16LE(password)), the NT hash; salt and parameters are ignored
 *   K1             HMAC-MD5(key, message type (4 bytes, little-endian))
 *   encrypt        C = HMAC-MD5(K1, confounder(8) || plaintext);
 *                  C || RC4(HMAC-MD5(K1, C), confounder || plaintext)
 *   checksum       HMAC-MD5(HMAC-MD5(key, "signaturekey\0"), MD5(usage (LE) || data))
 *
 * The message type is the key usage, except where Microsoft's numbering differs (RFC 4757 3).
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { IntegrityError } from "../../../errors";
import { hmacMd5, md5 } from "../../../crypto/hash";
import { rc4 } from "../../../crypto/rc4";
import { ntHash } from "../../ntlm/crypto";
import { ChecksumType, EncryptionType, type EncryptionProfile, registerProfile } from "./profile";

const CONFOUNDER = 8;
const MAC_LENGTH = 16;
const SIGNATURE_KEY = Buffer.from("signaturekey\0", "latin1");

/** RFC 4757 3: the AS-REP and TGS-REP encrypted parts are both message type 8; wrap is 13. */
export function messageType(usage: number): number {
  switch (usage) {
    case 3:
    case 9:
      return 8;
    case 23:
      return 13;
    default:
      return usage;
  }
}

function littleEndian(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value >>> 0, 0);
  return bytes;
}

export const RC4_HMAC: EncryptionProfile = {
  etype: EncryptionType.RC4_HMAC,
  name: "rc4-hmac",
  keyLength: 16,
  checksumType: ChecksumType.HMAC_MD5,
  checksumLength: MAC_LENGTH,
  confounderLength: CONFOUNDER,
  stringToKey(password) {
    return ntHash(password);
  },
  encrypt(key, usage, plaintext) {
    const k1 = hmacMd5(key.value, littleEndian(messageType(usage)));
    const data = Buffer.allocUnsafe(CONFOUNDER + plaintext.length);
    randomBytes(CONFOUNDER).copy(data, 0);
    data.set(plaintext, CONFOUNDER);
    const mac = hmacMd5(k1, data);
    return Buffer.concat([mac, rc4(hmacMd5(k1, mac), data)]);
  },
  decrypt(key, usage, ciphertext) {
    if (ciphertext.length < MAC_LENGTH + CONFOUNDER) {
      throw new IntegrityError(`an rc4-hmac ciphertext of ${ciphertext.length} bytes is too short`);
    }
    const k1 = hmacMd5(key.value, littleEndian(messageType(usage)));
    const mac = ciphertext.subarray(0, MAC_LENGTH);
    const data = rc4(hmacMd5(k1, mac), ciphertext.subarray(MAC_LENGTH));
    if (!timingSafeEqual(hmacMd5(k1, data), mac)) {
      throw new IntegrityError(
        "rc4-hmac decryption failed: the integrity check does not match (wrong key?)",
      );
    }
    return data.subarray(CONFOUNDER);
  },
  checksum(key, usage, data) {
    const signingKey = key.cached("signaturekey", () => hmacMd5(key.value, SIGNATURE_KEY));
    return hmacMd5(signingKey, md5(littleEndian(messageType(usage)), data));
  },
};
registerProfile(RC4_HMAC);
