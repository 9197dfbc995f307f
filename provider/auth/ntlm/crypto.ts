/**
 * NTLMv2 key derivation and proofs (MS-NLMP 3.3.2, 3.4.5). Pure functions over bytes; the
 * state machines in context.ts decide when each is called.
 */
import { hmacMd5, md4, md5 } from "../../crypto/hash";
import { rc4 } from "../../crypto/rc4";
import { utf16le } from "../bytes";
import { NegotiateFlags } from "./constants";

/** NT hash: MD4(UNICODE(Passwd)), the NTOWFv1 that NTOWFv2 keys its HMAC with (MS-NLMP 3.3.1). */
export function ntHash(password: string): Buffer {
  return md4(utf16le(password));
}

/**
 * NTOWFv2 (MS-NLMP 3.3.2): HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(Uppercase(User) || UserDom)).
 * Only the user name is uppercased, never the domain. LMOWFv2 is the same value.
 */
export function ntowfv2(hash: Uint8Array, user: string, domain: string): Buffer {
  return hmacMd5(hash, utf16le(user.toUpperCase() + domain));
}

/**
 * The NTLMv2_CLIENT_CHALLENGE structure (MS-NLMP 2.2.2.7) that MS-NLMP 3.3.2 calls `temp`:
 * RespType 1, HiRespType 1, 6 zero bytes, TimeStamp, ChallengeFromClient, 4 zero bytes, the AV
 * pairs (ending with MsvAvEOL) and 4 zero bytes.
 */
export function ntlmv2ClientChallenge(
  time: bigint,
  clientChallenge: Uint8Array,
  avPairs: Uint8Array,
): Buffer {
  const head = Buffer.alloc(28);
  head.writeUInt8(1, 0);
  head.writeUInt8(1, 1);
  head.writeBigUInt64LE(time, 8);
  Buffer.from(clientChallenge).copy(head, 16);
  return Buffer.concat([head, avPairs, Buffer.alloc(4)]);
}

export interface Ntlmv2Response {
  /** NtChallengeResponse: NTProofStr || temp. */
  ntChallengeResponse: Buffer;
  ntProofStr: Buffer;
  /** SessionBaseKey, which is also the KeyExchangeKey for NTLMv2 (MS-NLMP 3.4.5.1). */
  sessionBaseKey: Buffer;
}

/** ComputeResponse for NTLMv2 (MS-NLMP 3.3.2): NTProofStr and the session base key. */
export function ntlmv2Response(
  responseKeyNT: Uint8Array,
  serverChallenge: Uint8Array,
  temp: Uint8Array,
): Ntlmv2Response {
  const ntProofStr = hmacMd5(responseKeyNT, serverChallenge, temp);
  return {
    ntChallengeResponse: Buffer.concat([ntProofStr, temp]),
    ntProofStr,
    sessionBaseKey: hmacMd5(responseKeyNT, ntProofStr),
  };
}

/** LMv2 response (MS-NLMP 3.3.2): HMAC_MD5(ResponseKeyLM, Server || Client) || ClientChallenge. */
export function lmv2Response(
  responseKeyLM: Uint8Array,
  serverChallenge: Uint8Array,
  clientChallenge: Uint8Array,
): Buffer {
  return Buffer.concat([hmacMd5(responseKeyLM, serverChallenge, clientChallenge), clientChallenge]);
}

/** EncryptedRandomSessionKey = RC4K(KeyExchangeKey, ExportedSessionKey) (MS-NLMP 3.1.5.1.2). */
export function encryptSessionKey(keyExchangeKey: Uint8Array, exportedKey: Uint8Array): Buffer {
  return rc4(keyExchangeKey, exportedKey);
}

/** The acceptor's inverse of encryptSessionKey (MS-NLMP 3.2.5.1.2): RC4 is its own inverse. */
export const decryptSessionKey = encryptSessionKey;

/**
 * MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE || CHALLENGE || AUTHENTICATE), computed with the
 * AUTHENTICATE_MESSAGE's MIC field set to zero (MS-NLMP 3.1.5.1.2).
 */
export function computeMic(
  exportedKey: Uint8Array,
  negotiate: Uint8Array,
  challenge: Uint8Array,
  authenticateWithZeroMic: Uint8Array,
): Buffer {
  return hmacMd5(exportedKey, negotiate, challenge, authenticateWithZeroMic);
}

export type Direction = "client-to-server" | "server-to-client";

// The magic constants of MS-NLMP 3.4.5.2 and 3.4.5.3 include their terminating NUL byte.
const MAGIC = {
  sign: {
    "client-to-server": "session key to client-to-server signing key magic constant\0",
    "server-to-client": "session key to server-to-client signing key magic constant\0",
  },
  seal: {
    "client-to-server": "session key to client-to-server sealing key magic constant\0",
    "server-to-client": "session key to server-to-client sealing key magic constant\0",
  },
} as const;

/** SIGNKEY with extended session security (MS-NLMP 3.4.5.2). */
export function signKey(exportedKey: Uint8Array, direction: Direction): Buffer {
  return md5(exportedKey, Buffer.from(MAGIC.sign[direction], "latin1"));
}

/**
 * SEALKEY with extended session security (MS-NLMP 3.4.5.3): the exported key cut to 16, 7 or
 * 5 bytes by the negotiated strength, hashed with the direction's constant.
 */
export function sealKey(exportedKey: Uint8Array, flags: number, direction: Direction): Buffer {
  let length = 5;
  if (flags & NegotiateFlags.NEGOTIATE_128) length = 16;
  else if (flags & NegotiateFlags.NEGOTIATE_56) length = 7;
  return md5(exportedKey.subarray(0, length), Buffer.from(MAGIC.seal[direction], "latin1"));
}
