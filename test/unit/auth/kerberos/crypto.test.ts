import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { describe, test } from "node:test";
import { ctsDecrypt, ctsEncrypt } from "../../../../provider/auth/kerberos/crypto/aes-cts";
import { nfold } from "../../../../provider/auth/kerberos/crypto/nfold";
import {
  EncryptionType,
  KerberosKey,
  profileFor,
} from "../../../../provider/auth/kerberos/crypto/index";
import { IntegrityError, ProtocolError, UnsupportedError } from "../../../../provider/errors";
import { ntHash } from "../../../../provider/auth/ntlm/crypto";
import {
  RFC3961_NFOLD,
  RFC3962_CTS,
  RFC3962_CTS_KEY,
  RFC3962_STRING_TO_KEY,
} from "../../../vectors/kerberos";

const ALL = [
  EncryptionType.AES128_CTS_HMAC_SHA1_96,
  EncryptionType.AES256_CTS_HMAC_SHA1_96,
  EncryptionType.RC4_HMAC,
];

describe("n-fold (RFC 3961 A.1)", () => {
  for (const [input, bits, expected] of RFC3961_NFOLD) {
    test(`${bits}-fold("${input}")`, () => {
      assert.deepEqual(nfold(Buffer.from(input, "latin1"), bits / 8), expected);
    });
  }
});

describe("AES-CTS (RFC 3962 Appendix B)", () => {
  for (const [plaintext, ciphertext] of RFC3962_CTS) {
    test(`${plaintext.length} bytes encrypt and decrypt`, () => {
      assert.deepEqual(ctsEncrypt(RFC3962_CTS_KEY, plaintext), ciphertext);
      assert.deepEqual(ctsDecrypt(RFC3962_CTS_KEY, ciphertext), plaintext);
    });
  }

  test("every length from 16 to 100 bytes round-trips under both key sizes", () => {
    for (const keyLength of [16, 32]) {
      const key = randomBytes(keyLength);
      for (let length = 16; length <= 100; length++) {
        const plaintext = randomBytes(length);
        const ciphertext = ctsEncrypt(key, plaintext);
        assert.equal(ciphertext.length, length);
        assert.deepEqual(ctsDecrypt(key, ciphertext), plaintext, `length ${length}`);
      }
    }
  });

  test("less than one block is refused", () => {
    assert.throws(() => ctsEncrypt(RFC3962_CTS_KEY, Buffer.alloc(15)), RangeError);
  });
});

describe("string-to-key (RFC 3962 Appendix B)", () => {
  for (const vector of RFC3962_STRING_TO_KEY) {
    const params = Buffer.alloc(4);
    params.writeUInt32BE(vector.iterations, 0);
    test(`${vector.iterations} iterations, salt "${vector.salt.slice(0, 30)}"`, () => {
      const aes128 = profileFor(EncryptionType.AES128_CTS_HMAC_SHA1_96);
      const aes256 = profileFor(EncryptionType.AES256_CTS_HMAC_SHA1_96);
      assert.deepEqual(aes128.stringToKey(vector.password, vector.salt, params), vector.aes128);
      assert.deepEqual(aes256.stringToKey(vector.password, vector.salt, params), vector.aes256);
    });
  }

  test("absent parameters mean 4096 iterations; zero or more than 2^24-1 are refused", () => {
    const aes128 = profileFor(EncryptionType.AES128_CTS_HMAC_SHA1_96);
    const explicit = Buffer.from([0, 0, 0x10, 0]);
    assert.deepEqual(aes128.stringToKey("pw", "salt"), aes128.stringToKey("pw", "salt", explicit));
    assert.throws(() => aes128.stringToKey("pw", "s", Buffer.from([0, 0, 0, 0])), ProtocolError);
    assert.throws(() => aes128.stringToKey("pw", "s", Buffer.from([1, 0, 0, 0])), ProtocolError);
    assert.throws(() => aes128.stringToKey("pw", "s", Buffer.from([0, 1])), ProtocolError);
  });

  test("rc4-hmac's key is the NT hash, whatever the salt", () => {
    const rc4 = profileFor(EncryptionType.RC4_HMAC);
    assert.deepEqual(rc4.stringToKey("Secret-1", "ignored"), ntHash("Secret-1"));
  });
});

describe("encrypt, decrypt and checksum of every enctype", () => {
  for (const etype of ALL) {
    const profile = profileFor(etype);
    const key = new KerberosKey(etype, randomBytes(profile.keyLength));

    test(`${profile.name}: round trip of 0 to 70 bytes, each ciphertext fresh`, () => {
      for (let length = 0; length <= 70; length++) {
        const plaintext = randomBytes(length);
        const first = key.encrypt(7, plaintext);
        assert.equal(first.length, length + profile.confounderLength + profile.checksumLength);
        assert.notDeepEqual(key.encrypt(7, plaintext), first, "the confounder is random");
        assert.deepEqual(key.decrypt(7, first), plaintext);
      }
    });

    test(`${profile.name}: another usage, another key, or one changed bit fails integrity`, () => {
      const ciphertext = key.encrypt(11, Buffer.from("authenticator"));
      assert.throws(() => key.decrypt(12, ciphertext), IntegrityError);
      const other = new KerberosKey(etype, randomBytes(profile.keyLength));
      assert.throws(() => other.decrypt(11, ciphertext), IntegrityError);
      for (const index of [0, ciphertext.length >> 1, ciphertext.length - 1]) {
        const tampered = Buffer.from(ciphertext);
        tampered[index]! ^= 0x01;
        assert.throws(() => key.decrypt(11, tampered), IntegrityError, `byte ${index}`);
      }
      assert.throws(() => key.decrypt(11, ciphertext.subarray(0, 10)), IntegrityError);
    });

    test(`${profile.name}: checksums depend on key, usage and data`, () => {
      const data = Buffer.from("KDC-REQ-BODY");
      const checksum = key.checksum(6, data);
      assert.equal(checksum.length, profile.checksumLength);
      assert.ok(key.verifyChecksum(6, data, checksum));
      assert.ok(!key.verifyChecksum(7, data, checksum));
      assert.ok(!key.verifyChecksum(6, Buffer.from("KDC-REQ-BODX"), checksum));
      assert.ok(!key.verifyChecksum(6, data, checksum.subarray(1)));
    });
  }

  test("keys never print their material", () => {
    const material = Buffer.alloc(32, 0xab);
    const key = new KerberosKey(EncryptionType.AES256_CTS_HMAC_SHA1_96, material);
    for (const shown of [inspect(key), JSON.stringify({ key }), String(inspect({ key }))]) {
      assert.ok(!shown.includes("abab"), shown);
      assert.ok(!shown.includes("171, 171"), shown);
    }
  });

  test("a key of the wrong length or an unknown enctype is refused", () => {
    assert.throws(
      () => new KerberosKey(EncryptionType.AES256_CTS_HMAC_SHA1_96, Buffer.alloc(16)),
      ProtocolError,
    );
    assert.throws(() => new KerberosKey(3, Buffer.alloc(8)), UnsupportedError);
  });
});
