/**
 * NTLM wire messages (MS-NLMP 2.2): each an interface plus pure encode and decode functions.
 * Decoders take untrusted bytes; every length, offset and count is checked against the buffer
 * before it is used, and failures are ProtocolErrors that name the message.
 */
import { ProtocolError } from "../../errors";
import { ByteReader } from "../bytes";
import { AvId, MessageType, NegotiateFlags, NTLMSSP_SIGNATURE } from "./constants";

/** VERSION, MS-NLMP 2.2.2.10. */
export interface NtlmVersion {
  major: number;
  minor: number;
  build: number;
  /** NTLMRevisionCurrent; 0x0F (NTLMSSP_REVISION_W2K3) on every current system. */
  revision: number;
}

/** The version this implementation reports: Windows 10 / Server 2016 and later, revision 15. */
export const DEFAULT_VERSION: NtlmVersion = Object.freeze({
  major: 10,
  minor: 0,
  build: 20348,
  revision: 0x0f,
});

/** AV_PAIR, MS-NLMP 2.2.2.1. The list keeps the peer's order; MsvAvEOL is implicit. */
export interface AvPair {
  id: number;
  value: Buffer;
}

export interface NegotiateMessage {
  flags: number;
  domain: string;
  workstation: string;
  version: NtlmVersion | undefined;
}

export interface ChallengeMessage {
  flags: number;
  targetName: string;
  serverChallenge: Buffer;
  targetInfo: AvPair[];
  version: NtlmVersion | undefined;
}

export interface AuthenticateMessage {
  flags: number;
  lmChallengeResponse: Buffer;
  ntChallengeResponse: Buffer;
  domain: string;
  user: string;
  workstation: string;
  encryptedRandomSessionKey: Buffer;
  version: NtlmVersion | undefined;
  /** The 16-byte MIC, or undefined when the message has no MIC field (pre-2008 layout). */
  mic: Buffer | undefined;
}

/** A decoded AUTHENTICATE_MESSAGE also says where its MIC sits, to zero it for verification. */
export interface DecodedAuthenticateMessage extends AuthenticateMessage {
  micOffset: number | undefined;
}

const NEGOTIATE_HEADER = 32;
const CHALLENGE_HEADER = 48;
const AUTHENTICATE_HEADER = 64;
const VERSION_LENGTH = 8;
const MIC_LENGTH = 16;
/** Offset of the MIC inside an AUTHENTICATE_MESSAGE that has one (after VERSION). */
export const AUTHENTICATE_MIC_OFFSET = AUTHENTICATE_HEADER + VERSION_LENGTH;

// ---------------------------------------------------------------------------------------------
// Shared pieces

function encodeVersion(version: NtlmVersion): Buffer {
  const out = Buffer.alloc(VERSION_LENGTH);
  out.writeUInt8(version.major, 0);
  out.writeUInt8(version.minor, 1);
  out.writeUInt16LE(version.build, 2);
  out.writeUInt8(version.revision, 7);
  return out;
}

function decodeVersion(reader: ByteReader, offset: number): NtlmVersion {
  return {
    major: reader.u8(offset, "ProductMajorVersion"),
    minor: reader.u8(offset + 1, "ProductMinorVersion"),
    build: reader.u16(offset + 2, "ProductBuild"),
    revision: reader.u8(offset + 7, "NTLMRevisionCurrent"),
  };
}

function encodeText(text: string, unicode: boolean): Buffer {
  return Buffer.from(text, unicode ? "utf16le" : "latin1");
}

function decodeText(bytes: Buffer, unicode: boolean, reader: ByteReader, what: string): string {
  if (unicode && bytes.length % 2 !== 0) reader.fail(`${what} has an odd length for UTF-16`);
  return bytes.toString(unicode ? "utf16le" : "latin1");
}

/**
 * Lays out variable-length fields: each gets an 8-byte (Len, MaxLen, BufferOffset) descriptor in
 * the fixed header and its bytes in the payload, in the order added.
 */
class PayloadWriter {
  private readonly parts: Buffer[] = [];
  private offset: number;

  constructor(
    private readonly header: Buffer,
    payloadStart: number,
  ) {
    this.offset = payloadStart;
  }

  field(descriptorOffset: number, value: Buffer): void {
    if (value.length > 0xffff) {
      throw new ProtocolError("NTLM message", `a field of ${value.length} bytes exceeds 65535`);
    }
    this.header.writeUInt16LE(value.length, descriptorOffset);
    this.header.writeUInt16LE(value.length, descriptorOffset + 2);
    this.header.writeUInt32LE(this.offset, descriptorOffset + 4);
    this.parts.push(value);
    this.offset += value.length;
  }

  finish(): Buffer {
    return Buffer.concat([this.header, ...this.parts]);
  }
}

/** Reads a (Len, MaxLen, BufferOffset) field descriptor and returns the bytes it points at. */
function readField(reader: ByteReader, descriptorOffset: number, what: string): Buffer {
  const length = reader.u16(descriptorOffset, `${what}Len`);
  const offset = reader.u32(descriptorOffset + 4, `${what}BufferOffset`);
  if (length === 0) return Buffer.alloc(0);
  return reader.bytes(offset, length, what);
}

function fieldOffset(reader: ByteReader, descriptorOffset: number, what: string): number {
  const length = reader.u16(descriptorOffset, `${what}Len`);
  return length === 0 ? Number.POSITIVE_INFINITY : reader.u32(descriptorOffset + 4, what);
}

function checkHeader(reader: ByteReader, type: MessageType, minimum: number): void {
  reader.require(0, minimum, "the fixed header");
  if (!reader.data.subarray(0, 8).equals(NTLMSSP_SIGNATURE)) {
    reader.fail("Signature is not NTLMSSP\\0");
  }
  const actual = reader.u32(8, "MessageType");
  if (actual !== type) reader.fail(`MessageType is ${actual}, expected ${type}`);
}

// ---------------------------------------------------------------------------------------------
// AV pairs, MS-NLMP 2.2.2.1

/** Encodes AV pairs followed by the MsvAvEOL terminator. */
export function encodeAvPairs(pairs: readonly AvPair[]): Buffer {
  const parts: Buffer[] = [];
  for (const pair of pairs) {
    if (pair.id === AvId.MsvAvEOL) continue;
    const head = Buffer.alloc(4);
    head.writeUInt16LE(pair.id, 0);
    head.writeUInt16LE(pair.value.length, 2);
    parts.push(head, pair.value);
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

/*
 * AV_PAIR layout:
 *   0  AvId   u16
 *   2  AvLen  u16
 *   4  Value  AvLen bytes
 * The list ends with MsvAvEOL (AvId 0, AvLen 0). Each pair consumes at least 4 bytes of input,
 * so the loop is bounded by the buffer, whatever the pairs claim.
 */
export function decodeAvPairs(data: Buffer, structure = "AV_PAIR list"): AvPair[] {
  const reader = new ByteReader(data, structure);
  const pairs: AvPair[] = [];
  let offset = 0;
  for (;;) {
    const id = reader.u16(offset, "AvId");
    const length = reader.u16(offset + 2, "AvLen");
    if (id === AvId.MsvAvEOL) {
      if (length !== 0) reader.fail("MsvAvEOL has a non-zero AvLen");
      return pairs;
    }
    pairs.push({ id, value: reader.bytes(offset + 4, length, `AV_PAIR ${id} Value`) });
    offset += 4 + length;
  }
}

export function findAvPair(pairs: readonly AvPair[], id: number): Buffer | undefined {
  return pairs.find((pair) => pair.id === id)?.value;
}

// ---------------------------------------------------------------------------------------------
// NEGOTIATE_MESSAGE, MS-NLMP 2.2.1.1

export function encodeNegotiateMessage(message: NegotiateMessage): Buffer {
  const withVersion = message.version !== undefined;
  const headerLength = NEGOTIATE_HEADER + (withVersion ? VERSION_LENGTH : 0);
  const header = Buffer.alloc(headerLength);
  NTLMSSP_SIGNATURE.copy(header, 0);
  header.writeUInt32LE(MessageType.NEGOTIATE, 8);
  let flags = message.flags;
  // DomainName and Workstation are OEM strings here (MS-NLMP 2.2.1.1).
  if (message.domain) flags |= NegotiateFlags.NEGOTIATE_OEM_DOMAIN_SUPPLIED;
  if (message.workstation) flags |= NegotiateFlags.NEGOTIATE_OEM_WORKSTATION_SUPPLIED;
  header.writeUInt32LE(flags >>> 0, 12);
  if (message.version) encodeVersion(message.version).copy(header, NEGOTIATE_HEADER);
  const writer = new PayloadWriter(header, headerLength);
  writer.field(16, encodeText(message.domain, false));
  writer.field(24, encodeText(message.workstation, false));
  return writer.finish();
}

/*
 * NEGOTIATE_MESSAGE layout:
 *   0  Signature          8   "NTLMSSP\0"
 *   8  MessageType        4   1
 *  12  NegotiateFlags     4
 *  16  DomainNameFields   8
 *  24  WorkstationFields  8
 *  32  Version            8   only with NEGOTIATE_VERSION
 */
export function decodeNegotiateMessage(data: Buffer): NegotiateMessage {
  const reader = new ByteReader(data, "NEGOTIATE_MESSAGE");
  checkHeader(reader, MessageType.NEGOTIATE, NEGOTIATE_HEADER);
  const flags = reader.u32(12, "NegotiateFlags");
  const hasVersion =
    (flags & NegotiateFlags.NEGOTIATE_VERSION) !== 0 &&
    data.length >= NEGOTIATE_HEADER + VERSION_LENGTH &&
    Math.min(fieldOffset(reader, 16, "DomainName"), fieldOffset(reader, 24, "Workstation")) >=
      NEGOTIATE_HEADER + VERSION_LENGTH;
  return {
    flags,
    domain: decodeText(readField(reader, 16, "DomainName"), false, reader, "DomainName"),
    workstation: decodeText(readField(reader, 24, "Workstation"), false, reader, "Workstation"),
    version: hasVersion ? decodeVersion(reader, NEGOTIATE_HEADER) : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// CHALLENGE_MESSAGE, MS-NLMP 2.2.1.2

export function encodeChallengeMessage(message: ChallengeMessage): Buffer {
  if (message.serverChallenge.length !== 8) {
    throw new ProtocolError("CHALLENGE_MESSAGE", "ServerChallenge must be 8 bytes");
  }
  const withVersion = message.version !== undefined;
  const headerLength = CHALLENGE_HEADER + (withVersion ? VERSION_LENGTH : 0);
  const header = Buffer.alloc(headerLength);
  NTLMSSP_SIGNATURE.copy(header, 0);
  header.writeUInt32LE(MessageType.CHALLENGE, 8);
  header.writeUInt32LE(message.flags >>> 0, 20);
  message.serverChallenge.copy(header, 24);
  if (message.version) encodeVersion(message.version).copy(header, CHALLENGE_HEADER);
  const unicode = (message.flags & NegotiateFlags.NEGOTIATE_UNICODE) !== 0;
  const writer = new PayloadWriter(header, headerLength);
  writer.field(12, encodeText(message.targetName, unicode));
  writer.field(40, encodeAvPairs(message.targetInfo));
  return writer.finish();
}

/*
 * CHALLENGE_MESSAGE layout:
 *   0  Signature          8   "NTLMSSP\0"
 *   8  MessageType        4   2
 *  12  TargetNameFields   8
 *  20  NegotiateFlags     4
 *  24  ServerChallenge    8
 *  32  Reserved           8
 *  40  TargetInfoFields   8
 *  48  Version            8   only with NEGOTIATE_VERSION
 */
export function decodeChallengeMessage(data: Buffer): ChallengeMessage {
  const reader = new ByteReader(data, "CHALLENGE_MESSAGE");
  checkHeader(reader, MessageType.CHALLENGE, CHALLENGE_HEADER);
  const flags = reader.u32(20, "NegotiateFlags");
  const unicode = (flags & NegotiateFlags.NEGOTIATE_UNICODE) !== 0;
  const hasVersion =
    (flags & NegotiateFlags.NEGOTIATE_VERSION) !== 0 &&
    Math.min(fieldOffset(reader, 12, "TargetName"), fieldOffset(reader, 40, "TargetInfo")) >=
      CHALLENGE_HEADER + VERSION_LENGTH;
  const targetInfoBytes = readField(reader, 40, "TargetInfo");
  return {
    flags,
    targetName: decodeText(readField(reader, 12, "TargetName"), unicode, reader, "TargetName"),
    serverChallenge: reader.bytes(24, 8, "ServerChallenge"),
    targetInfo:
      targetInfoBytes.length === 0 ? [] : decodeAvPairs(targetInfoBytes, "CHALLENGE_MESSAGE"),
    version: hasVersion ? decodeVersion(reader, CHALLENGE_HEADER) : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// AUTHENTICATE_MESSAGE, MS-NLMP 2.2.1.3

export function encodeAuthenticateMessage(message: AuthenticateMessage): Buffer {
  const withVersion = message.version !== undefined;
  const withMic = message.mic !== undefined;
  if (withMic && !withVersion) {
    throw new ProtocolError("AUTHENTICATE_MESSAGE", "a MIC requires the Version field");
  }
  if (message.mic !== undefined && message.mic.length !== MIC_LENGTH) {
    throw new ProtocolError("AUTHENTICATE_MESSAGE", "MIC must be 16 bytes");
  }
  const headerLength =
    AUTHENTICATE_HEADER + (withVersion ? VERSION_LENGTH : 0) + (withMic ? MIC_LENGTH : 0);
  const header = Buffer.alloc(headerLength);
  NTLMSSP_SIGNATURE.copy(header, 0);
  header.writeUInt32LE(MessageType.AUTHENTICATE, 8);
  header.writeUInt32LE(message.flags >>> 0, 60);
  if (message.version) encodeVersion(message.version).copy(header, AUTHENTICATE_HEADER);
  if (message.mic) message.mic.copy(header, AUTHENTICATE_MIC_OFFSET);
  const unicode = (message.flags & NegotiateFlags.NEGOTIATE_UNICODE) !== 0;
  // Payload order as Windows writes it (and MS-NLMP 4.2.4.3 shows): names, then responses.
  const writer = new PayloadWriter(header, headerLength);
  writer.field(28, encodeText(message.domain, unicode));
  writer.field(36, encodeText(message.user, unicode));
  writer.field(44, encodeText(message.workstation, unicode));
  writer.field(12, message.lmChallengeResponse);
  writer.field(20, message.ntChallengeResponse);
  writer.field(52, message.encryptedRandomSessionKey);
  return writer.finish();
}

/*
 * AUTHENTICATE_MESSAGE layout:
 *   0  Signature                        8   "NTLMSSP\0"
 *   8  MessageType                      4   3
 *  12  LmChallengeResponseFields        8
 *  20  NtChallengeResponseFields        8
 *  28  DomainNameFields                 8
 *  36  UserNameFields                   8
 *  44  WorkstationFields                8
 *  52  EncryptedRandomSessionKeyFields  8
 *  60  NegotiateFlags                   4
 *  64  Version                          8   only with NEGOTIATE_VERSION
 *  72  MIC                             16   when the payload starts at 88 or later
 * Neither Version nor MIC has a flag that proves it present, so both are read from where the
 * payload begins; a peer that omits Version but sends a MIC puts the MIC at 64 (pyspnego does
 * when the CHALLENGE_MESSAGE lacks NEGOTIATE_VERSION).
 */
export function decodeAuthenticateMessage(data: Buffer): DecodedAuthenticateMessage {
  const reader = new ByteReader(data, "AUTHENTICATE_MESSAGE");
  checkHeader(reader, MessageType.AUTHENTICATE, AUTHENTICATE_HEADER);
  const flags = reader.u32(60, "NegotiateFlags");
  const unicode = (flags & NegotiateFlags.NEGOTIATE_UNICODE) !== 0;
  const payloadStart = Math.min(
    fieldOffset(reader, 12, "LmChallengeResponse"),
    fieldOffset(reader, 20, "NtChallengeResponse"),
    fieldOffset(reader, 28, "DomainName"),
    fieldOffset(reader, 36, "UserName"),
    fieldOffset(reader, 44, "Workstation"),
    fieldOffset(reader, 52, "EncryptedRandomSessionKey"),
    data.length,
  );
  const hasVersion =
    (flags & NegotiateFlags.NEGOTIATE_VERSION) !== 0 &&
    payloadStart >= AUTHENTICATE_HEADER + VERSION_LENGTH;
  const micStart = hasVersion ? AUTHENTICATE_MIC_OFFSET : AUTHENTICATE_HEADER;
  const micOffset = payloadStart >= micStart + MIC_LENGTH ? micStart : undefined;
  return {
    flags,
    lmChallengeResponse: readField(reader, 12, "LmChallengeResponse"),
    ntChallengeResponse: readField(reader, 20, "NtChallengeResponse"),
    domain: decodeText(readField(reader, 28, "DomainName"), unicode, reader, "DomainName"),
    user: decodeText(readField(reader, 36, "UserName"), unicode, reader, "UserName"),
    workstation: decodeText(readField(reader, 44, "Workstation"), unicode, reader, "Workstation"),
    encryptedRandomSessionKey: readField(reader, 52, "EncryptedRandomSessionKey"),
    version: hasVersion ? decodeVersion(reader, AUTHENTICATE_HEADER) : undefined,
    mic: micOffset === undefined ? undefined : reader.bytes(micOffset, MIC_LENGTH, "MIC"),
    micOffset,
  };
}

/** Reads the MessageType of any NTLM message, to dispatch on it. */
export function peekMessageType(data: Buffer): number {
  const reader = new ByteReader(data, "NTLM message");
  reader.require(0, 12, "the NTLM header");
  if (!data.subarray(0, 8).equals(NTLMSSP_SIGNATURE)) reader.fail("Signature is not NTLMSSP\\0");
  return reader.u32(8, "MessageType");
}
