import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  computeMic,
  decryptSessionKey,
  encryptSessionKey,
  lmv2Response,
  ntHash,
  ntlmv2ClientChallenge,
  ntlmv2Response,
  ntowfv2,
  sealKey,
  signKey,
} from "../../../../provider/auth/ntlm/crypto";
import { hmacMd5 } from "../../../../provider/crypto/hash";
import { COMMON, NTLMV2, NTOWFV1 } from "../../../vectors/ms-nlmp";

describe("NTLMv2 key derivation (MS-NLMP 4.2.4.1, 4.2.4.2)", () => {
  test("NT hash of the password (4.2.2.1.2 NTOWFv1)", () => {
    assert.deepEqual(ntHash(COMMON.password), NTOWFV1);
  });

  test("NTOWFv2 uppercases the user, not the domain (4.2.4.1.1)", () => {
    assert.deepEqual(ntowfv2(NTOWFV1, COMMON.user, COMMON.domain), NTLMV2.ntowfv2);
    assert.deepEqual(ntowfv2(NTOWFV1, "user", COMMON.domain), NTLMV2.ntowfv2);
    assert.notDeepEqual(ntowfv2(NTOWFV1, COMMON.user, "DOMAIN"), NTLMV2.ntowfv2);
  });

  test("temp, the NTLMv2_CLIENT_CHALLENGE (4.2.4.1.3)", () => {
    const temp = ntlmv2ClientChallenge(COMMON.time, COMMON.clientChallenge, NTLMV2.avPairs);
    assert.deepEqual(temp, NTLMV2.temp);
  });

  test("NTProofStr, NtChallengeResponse and session base key (4.2.4.1.2, 4.2.4.2.2)", () => {
    const response = ntlmv2Response(NTLMV2.ntowfv2, COMMON.serverChallenge, NTLMV2.temp);
    assert.deepEqual(response.ntProofStr, NTLMV2.ntProofStr);
    assert.deepEqual(response.ntChallengeResponse, Buffer.concat([NTLMV2.ntProofStr, NTLMV2.temp]));
    assert.deepEqual(response.sessionBaseKey, NTLMV2.sessionBaseKey);
  });

  test("LMv2 response (4.2.4.2.1)", () => {
    assert.deepEqual(
      lmv2Response(NTLMV2.ntowfv2, COMMON.serverChallenge, COMMON.clientChallenge),
      NTLMV2.lmv2Response,
    );
  });

  test("encrypted random session key and its decryption (4.2.4.2.3)", () => {
    const encrypted = encryptSessionKey(NTLMV2.sessionBaseKey, COMMON.randomSessionKey);
    assert.deepEqual(encrypted, NTLMV2.encryptedSessionKey);
    assert.deepEqual(decryptSessionKey(NTLMV2.sessionBaseKey, encrypted), COMMON.randomSessionKey);
  });

  test("client signing and sealing keys (4.2.4.4)", () => {
    assert.deepEqual(signKey(COMMON.randomSessionKey, "client-to-server"), NTLMV2.clientSignKey);
    assert.deepEqual(
      sealKey(COMMON.randomSessionKey, NTLMV2.challengeFlags, "client-to-server"),
      NTLMV2.clientSealKey,
    );
  });

  test("keys differ per direction and seal keys shrink with 56- and 40-bit strength", () => {
    const key = COMMON.randomSessionKey;
    assert.notDeepEqual(signKey(key, "server-to-client"), signKey(key, "client-to-server"));
    const strong = sealKey(key, 0x20000000, "server-to-client");
    const medium = sealKey(key, 0x80000000, "server-to-client");
    const weak = sealKey(key, 0, "server-to-client");
    assert.equal(new Set([strong, medium, weak].map((k) => k.toString("hex"))).size, 3);
  });

  test("MIC is HMAC_MD5 over the three messages in order", () => {
    const [a, b, c] = [Buffer.from("negotiate"), Buffer.from("challenge"), Buffer.from("auth")];
    assert.deepEqual(
      computeMic(COMMON.randomSessionKey, a, b, c),
      hmacMd5(COMMON.randomSessionKey, Buffer.concat([a, b, c])),
    );
  });
});
