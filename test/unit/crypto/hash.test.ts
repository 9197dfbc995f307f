import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { hmacMd5, md4, md5, systemEntropy } from "../../../provider/crypto/hash";
import { RFC1320_MD4 } from "../../vectors/rfc";

describe("MD4 (RFC 1320 A.5 test suite)", () => {
  for (const [input, digest] of RFC1320_MD4) {
    test(`MD4("${input.length > 20 ? input.slice(0, 20) + "..." : input}")`, () => {
      assert.equal(md4(Buffer.from(input, "latin1")).toString("hex"), digest);
    });
  }
});

describe("MD5 and HMAC-MD5", () => {
  test("MD5 of parts equals MD5 of their concatenation (RFC 1321 A.5)", () => {
    assert.equal(
      md5(Buffer.from("message "), Buffer.from("digest")).toString("hex"),
      "f96b697d7cb7938d525a2f31aaf161d0",
    );
  });

  test("HMAC-MD5 RFC 2104 test case 2", () => {
    const mac = hmacMd5(
      Buffer.from("Jefe"),
      Buffer.from("what do ya want "),
      Buffer.from("for nothing?"),
    );
    assert.equal(mac.toString("hex"), "750c783e6ab0b503eaa86e310a5db738");
  });
});

describe("system entropy", () => {
  test("FILETIME is 100 ns ticks since 1601", () => {
    const before = BigInt(Date.now()) * 10000n + 116444736000000000n;
    const now = systemEntropy.fileTime();
    assert.ok(now >= before && now - before < 10_000_000n * 60n);
  });

  test("random bytes have the requested length and differ between calls", () => {
    const a = systemEntropy.randomBytes(16);
    assert.equal(a.length, 16);
    assert.notDeepEqual(a, systemEntropy.randomBytes(16));
  });
});
