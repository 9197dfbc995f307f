import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AvId, NegotiateFlags } from "../../../../provider/auth/ntlm/constants";
import {
  decodeAuthenticateMessage,
  decodeAvPairs,
  decodeChallengeMessage,
  decodeNegotiateMessage,
  DEFAULT_VERSION,
  encodeAuthenticateMessage,
  encodeAvPairs,
  encodeChallengeMessage,
  encodeNegotiateMessage,
} from "../../../../provider/auth/ntlm/messages";
import { ProtocolError } from "../../../../provider/errors";
import { COMMON, NTLMV2 } from "../../../vectors/ms-nlmp";

const utf16 = (text: string) => Buffer.from(text, "utf16le");

describe("CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2, vector 4.2.4.3)", () => {
  test("decodes the specification's message", () => {
    const message = decodeChallengeMessage(NTLMV2.challengeMessage);
    assert.equal(message.flags, NTLMV2.challengeFlags);
    assert.equal(message.targetName, COMMON.serverName);
    assert.deepEqual(message.serverChallenge, COMMON.serverChallenge);
    assert.deepEqual(message.version, NTLMV2.challengeVersion);
    assert.deepEqual(message.targetInfo, [
      { id: AvId.MsvAvNbDomainName, value: utf16("Domain") },
      { id: AvId.MsvAvNbComputerName, value: utf16("Server") },
    ]);
  });

  test("encodes the specification's message byte for byte", () => {
    const encoded = encodeChallengeMessage(decodeChallengeMessage(NTLMV2.challengeMessage));
    assert.deepEqual(encoded, NTLMV2.challengeMessage);
  });
});

describe("AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3, vector 4.2.4.3)", () => {
  test("decodes the specification's message: Version present, no MIC", () => {
    const message = decodeAuthenticateMessage(NTLMV2.authenticateMessage);
    assert.equal(message.flags, NTLMV2.authenticateFlags);
    assert.equal(message.user, COMMON.user);
    assert.equal(message.domain, COMMON.domain);
    assert.equal(message.workstation, COMMON.workstation);
    assert.deepEqual(message.lmChallengeResponse, NTLMV2.lmv2Response);
    assert.deepEqual(message.ntChallengeResponse, Buffer.concat([NTLMV2.ntProofStr, NTLMV2.temp]));
    assert.deepEqual(message.encryptedRandomSessionKey, NTLMV2.encryptedSessionKey);
    assert.deepEqual(message.version, NTLMV2.authenticateVersion);
    assert.equal(message.mic, undefined);
    assert.equal(message.micOffset, undefined);
  });

  test("encodes the specification's message byte for byte from its computed parts", () => {
    const encoded = encodeAuthenticateMessage({
      flags: NTLMV2.authenticateFlags,
      lmChallengeResponse: NTLMV2.lmv2Response,
      ntChallengeResponse: Buffer.concat([NTLMV2.ntProofStr, NTLMV2.temp]),
      domain: COMMON.domain,
      user: COMMON.user,
      workstation: COMMON.workstation,
      encryptedRandomSessionKey: NTLMV2.encryptedSessionKey,
      version: NTLMV2.authenticateVersion,
      mic: undefined,
    });
    assert.deepEqual(encoded, NTLMV2.authenticateMessage);
  });

  test("round-trips a message with a MIC at offset 72", () => {
    const mic = Buffer.alloc(16, 0x4d);
    const encoded = encodeAuthenticateMessage({
      flags: NTLMV2.authenticateFlags,
      lmChallengeResponse: Buffer.alloc(24),
      ntChallengeResponse: Buffer.concat([NTLMV2.ntProofStr, NTLMV2.temp]),
      domain: "",
      user: "alice@example.com",
      workstation: "",
      encryptedRandomSessionKey: NTLMV2.encryptedSessionKey,
      version: DEFAULT_VERSION,
      mic,
    });
    assert.deepEqual(encoded.subarray(72, 88), mic);
    const decoded = decodeAuthenticateMessage(encoded);
    assert.deepEqual(decoded.mic, mic);
    assert.equal(decoded.micOffset, 72);
    assert.equal(decoded.user, "alice@example.com");
    assert.equal(decoded.domain, "");
  });
});

describe("NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1)", () => {
  test("round-trips flags, version and OEM names", () => {
    const encoded = encodeNegotiateMessage({
      flags: NegotiateFlags.NEGOTIATE_UNICODE | NegotiateFlags.NEGOTIATE_VERSION,
      domain: "CORP",
      workstation: "WS1",
      version: DEFAULT_VERSION,
    });
    const decoded = decodeNegotiateMessage(encoded);
    assert.equal(decoded.domain, "CORP");
    assert.equal(decoded.workstation, "WS1");
    assert.deepEqual(decoded.version, DEFAULT_VERSION);
    assert.ok(decoded.flags & NegotiateFlags.NEGOTIATE_OEM_DOMAIN_SUPPLIED);
  });
});

describe("AV pairs (MS-NLMP 2.2.2.1)", () => {
  test("round-trip, in order, with the terminator", () => {
    const pairs = [
      { id: AvId.MsvAvNbDomainName, value: utf16("Domain") },
      { id: AvId.MsvAvNbComputerName, value: utf16("Server") },
    ];
    assert.deepEqual(encodeAvPairs(pairs), NTLMV2.avPairs);
    assert.deepEqual(decodeAvPairs(NTLMV2.avPairs), pairs);
  });

  test("a missing terminator or a value past the end is a ProtocolError", () => {
    assert.throws(() => decodeAvPairs(NTLMV2.avPairs.subarray(0, 32)), ProtocolError);
    const tooLong = Buffer.from(NTLMV2.avPairs);
    tooLong.writeUInt16LE(0xfff0, 2);
    assert.throws(() => decodeAvPairs(tooLong), ProtocolError);
  });
});

describe("decoders refuse what is not their message", () => {
  test("wrong signature, wrong type, truncated header, offsets past the end", () => {
    const badSignature = Buffer.from(NTLMV2.challengeMessage);
    badSignature[0] = 0x41;
    assert.throws(() => decodeChallengeMessage(badSignature), /Signature/);
    assert.throws(() => decodeChallengeMessage(NTLMV2.authenticateMessage), /MessageType is 3/);
    assert.throws(
      () => decodeAuthenticateMessage(NTLMV2.authenticateMessage.subarray(0, 40)),
      ProtocolError,
    );
    const pastEnd = Buffer.from(NTLMV2.authenticateMessage);
    pastEnd.writeUInt32LE(0xfffffff0, 24);
    assert.throws(
      () => decodeAuthenticateMessage(pastEnd),
      (error: unknown) => {
        assert.ok(error instanceof ProtocolError);
        assert.equal(error.structure, "AUTHENTICATE_MESSAGE");
        return true;
      },
    );
  });
});
