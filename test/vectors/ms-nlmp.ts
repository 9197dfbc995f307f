/**
 * Test vectors of MS-NLMP section 4.2 (4.2.1 common values, 4.2.4 NTLMv2 authentication), as
 * published in the specification. Notes on the specification's own example:
 * - the AV pairs are listed Server then Domain but encoded Domain (AvId 2) first;
 * - `temp` includes the trailing Z(4) of MS-NLMP 3.3.2 (NTProofStr reproduces only with it);
 * - the AUTHENTICATE_MESSAGE has a Version field and no MIC (its payload starts at 0x48), and
 *   its flags (0xE2888235) differ from the CHALLENGE_MESSAGE's (0xE28A8233).
 */
const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ""), "hex");

/** MS-NLMP 4.2.1 Common Values. */
export const COMMON = Object.freeze({
  user: "User",
  domain: "Domain",
  password: "Password",
  serverName: "Server",
  workstation: "COMPUTER",
  randomSessionKey: hex("55555555555555555555555555555555"),
  time: 0n,
  clientChallenge: hex("aaaaaaaaaaaaaaaa"),
  serverChallenge: hex("0123456789abcdef"),
});

/** MS-NLMP 4.2.2.1.2 NTOWFv1 of "Password" (the NT hash). */
export const NTOWFV1 = hex("a4f49c406510bdcab6824ee7c30fd852");

/** MS-NLMP 4.2.4 NTLMv2 Authentication. */
export const NTLMV2 = Object.freeze({
  challengeFlags: 0xe28a8233,
  authenticateFlags: 0xe2888235,
  /** AV pairs as encoded: MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server", EOL. */
  avPairs: hex("02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000"),
  /** 4.2.4.1.1 NTOWFv2() and LMOWFv2(). */
  ntowfv2: hex("0c868a403bfd7a93a3001ef22ef02e3f"),
  /** 4.2.4.1.2 Session Base Key. */
  sessionBaseKey: hex("8de40ccadbc14a82f15cb0ad0de95ca3"),
  /** 4.2.4.1.3 temp. */
  temp: hex(
    "0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000" +
      "02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000 00000000",
  ),
  /** 4.2.4.2.1 LMv2 Response. */
  lmv2Response: hex("86c35097ac9cec102554764a57cccc19 aaaaaaaaaaaaaaaa"),
  /** 4.2.4.2.2 NTLMv2 Response: NTProofStr. */
  ntProofStr: hex("68cd0ab851e51c96aabc927bebef6a1c"),
  /** 4.2.4.2.3 Encrypted Session Key. */
  encryptedSessionKey: hex("c5dad2544fc9799094ce1ce90bc9d03e"),
  /** 4.2.4.3 Messages: CHALLENGE_MESSAGE. */
  challengeMessage: hex(
    "4e544c4d53535000 02000000 0c000c0038000000 33828ae2 0123456789abcdef 0000000000000000" +
      "2400240044000000 060070170000000f 530065007200760065007200" +
      "02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000",
  ),
  /** 4.2.4.3 Messages: AUTHENTICATE_MESSAGE. */
  authenticateMessage: hex(
    "4e544c4d53535000 03000000 180018006c000000 5400540084000000 0c000c0048000000" +
      "0800080054000000 100010005c000000 10001000d8000000 358288e2 0501280a0000000f" +
      "44006f006d00610069006e00 5500730065007200 43004f004d0050005500540045005200" +
      "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa" +
      "68cd0ab851e51c96aabc927bebef6a1c 0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa" +
      "00000000 02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000" +
      "00000000 c5dad2544fc9799094ce1ce90bc9d03e",
  ),
  /** 4.2.4.3: the Version fields of the example messages. */
  challengeVersion: { major: 6, minor: 0, build: 6000, revision: 15 },
  authenticateVersion: { major: 5, minor: 1, build: 2600, revision: 15 },
  /** 4.2.4.4 GSS_WrapEx Examples: client-to-server keys. */
  clientSealKey: hex("59f600973cc4960a25480a7c196e4c58"),
  clientSignKey: hex("4788dc861b4782f35d43fd98fe1a2d39"),
  /** "Plaintext" as UTF-16LE, sealed with sequence number 0. */
  plaintext: Buffer.from("Plaintext", "utf16le"),
  sealedData: hex("54e50165bf1936dc996020c1811b0f06fb5f"),
  signature: hex("01000000 7fb38ec5c55d4976 00000000"),
});
