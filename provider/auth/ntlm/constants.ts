/**
 * Constants of MS-NLMP, named as the specification names them (without the `NTLMSSP_` prefix).
 */

/** NegotiateFlags, MS-NLMP 2.2.2.5. */
export const NegotiateFlags = Object.freeze({
  NEGOTIATE_UNICODE: 0x00000001,
  NEGOTIATE_OEM: 0x00000002,
  REQUEST_TARGET: 0x00000004,
  NEGOTIATE_SIGN: 0x00000010,
  NEGOTIATE_SEAL: 0x00000020,
  NEGOTIATE_DATAGRAM: 0x00000040,
  NEGOTIATE_LM_KEY: 0x00000080,
  NEGOTIATE_NTLM: 0x00000200,
  ANONYMOUS: 0x00000800,
  NEGOTIATE_OEM_DOMAIN_SUPPLIED: 0x00001000,
  NEGOTIATE_OEM_WORKSTATION_SUPPLIED: 0x00002000,
  NEGOTIATE_ALWAYS_SIGN: 0x00008000,
  TARGET_TYPE_DOMAIN: 0x00010000,
  TARGET_TYPE_SERVER: 0x00020000,
  NEGOTIATE_EXTENDED_SESSIONSECURITY: 0x00080000,
  NEGOTIATE_IDENTIFY: 0x00100000,
  REQUEST_NON_NT_SESSION_KEY: 0x00400000,
  NEGOTIATE_TARGET_INFO: 0x00800000,
  NEGOTIATE_VERSION: 0x02000000,
  NEGOTIATE_128: 0x20000000,
  NEGOTIATE_KEY_EXCH: 0x40000000,
  NEGOTIATE_56: 0x80000000,
} as const);
export type NegotiateFlag = (typeof NegotiateFlags)[keyof typeof NegotiateFlags];

/** MessageType field values, MS-NLMP 2.2.1. */
export const MessageType = Object.freeze({
  NEGOTIATE: 1,
  CHALLENGE: 2,
  AUTHENTICATE: 3,
} as const);
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** AvId values of AV_PAIR, MS-NLMP 2.2.2.1. */
export const AvId = Object.freeze({
  MsvAvEOL: 0x0000,
  MsvAvNbComputerName: 0x0001,
  MsvAvNbDomainName: 0x0002,
  MsvAvDnsComputerName: 0x0003,
  MsvAvDnsDomainName: 0x0004,
  MsvAvDnsTreeName: 0x0005,
  MsvAvFlags: 0x0006,
  MsvAvTimestamp: 0x0007,
  MsvAvSingleHost: 0x0008,
  MsvAvTargetName: 0x0009,
  MsvAvChannelBindings: 0x000a,
} as const);
export type AvId = (typeof AvId)[keyof typeof AvId];

/** Bits of the MsvAvFlags value, MS-NLMP 2.2.2.1. */
export const AvFlags = Object.freeze({
  ACCOUNT_CONSTRAINED: 0x00000001,
  MIC_PRESENT: 0x00000002,
  UNTRUSTED_SPN_SOURCE: 0x00000004,
} as const);

/** The 8-byte Signature field that opens every NTLM message: "NTLMSSP\0". */
export const NTLMSSP_SIGNATURE = Buffer.from("NTLMSSP\0", "latin1");

/**
 * The flags this implementation insists on, in both roles: NTLMv2 session security with
 * 128-bit keys, a random exported session key, and signing plus sealing (MS-NLMP 3.1.1.1;
 * hosts with NtlmMinServerSec = 0x20080000 refuse anything less).
 */
export const REQUIRED_FLAGS =
  NegotiateFlags.NEGOTIATE_UNICODE |
  NegotiateFlags.NEGOTIATE_SIGN |
  NegotiateFlags.NEGOTIATE_SEAL |
  NegotiateFlags.NEGOTIATE_EXTENDED_SESSIONSECURITY |
  NegotiateFlags.NEGOTIATE_128 |
  NegotiateFlags.NEGOTIATE_KEY_EXCH;

/** What the initiator asks for in its NEGOTIATE_MESSAGE. */
export const INITIATOR_FLAGS =
  (REQUIRED_FLAGS |
    NegotiateFlags.NEGOTIATE_OEM |
    NegotiateFlags.REQUEST_TARGET |
    NegotiateFlags.NEGOTIATE_NTLM |
    NegotiateFlags.NEGOTIATE_ALWAYS_SIGN |
    NegotiateFlags.NEGOTIATE_VERSION |
    NegotiateFlags.NEGOTIATE_56) >>>
  0;
