/**
 * The framing of Kerberos GSS-API context tokens (RFC 4121 4.1, RFC 2743 3.1): the mechanism
 * OID in an [APPLICATION 0] wrapper, a two-byte TOK_ID, then the Kerberos message (AP-REQ,
 * AP-REP or KRB-ERROR); and the authenticator checksum of type 0x8003 that carries channel
 * bindings and the context flags (RFC 4121 4.1.1).
 */
import { ProtocolError } from "../../errors";
import { channelBindingsHash } from "../channel-bindings";
import { applicationTag, DerTag, decodeOid, encodeOid, encodeTlv, readTlv } from "../der";

export const KERBEROS_OID = "1.2.840.113554.1.2.2";
/** The OID early Windows used by mistake; Windows still offers and accepts it beside the other. */
export const MS_KERBEROS_OID = "1.2.840.48018.1.2.2";

/** TOK_ID values of context tokens (RFC 4121 4.1). */
export const ContextTokenId = Object.freeze({
  AP_REQ: 0x0100,
  AP_REP: 0x0200,
  KRB_ERROR: 0x0300,
} as const);

/** GSS-API context flags as the 0x8003 checksum carries them (RFC 4121 4.1.1.1). */
export const GssFlags = Object.freeze({
  DELEG: 0x01,
  MUTUAL: 0x02,
  REPLAY: 0x04,
  SEQUENCE: 0x08,
  CONF: 0x10,
  INTEG: 0x20,
  DCE_STYLE: 0x1000,
} as const);

/** What WinRM asks for: mutual authentication, ordered and replay-checked sealed messages. */
export const WINRM_GSS_FLAGS =
  GssFlags.MUTUAL | GssFlags.REPLAY | GssFlags.SEQUENCE | GssFlags.CONF | GssFlags.INTEG;

/** The checksum type GSS-API puts in the authenticator (RFC 4121 4.1.1). */
export const GSS_CHECKSUM_TYPE = 0x8003;

export function encodeContextToken(tokenId: number, message: Uint8Array): Buffer {
  const id = Buffer.alloc(2);
  id.writeUInt16BE(tokenId);
  return encodeTlv(applicationTag(0), encodeOid(KERBEROS_OID), id, message);
}

/**
 * Reads a context token's mechanism, TOK_ID and inner message. The OID must be Kerberos (or
 * Microsoft's variant of it); anything else is not a Kerberos token at all.
 */
export function decodeContextToken(token: Uint8Array): { tokenId: number; message: Buffer } {
  const structure = "Kerberos context token";
  const { bytes, inner } = unframeKerberosToken(token, structure, () => "trailing bytes after it");
  if (bytes.length - inner < 2) throw new ProtocolError(structure, "TOK_ID is missing");
  return {
    tokenId: bytes.readUInt16BE(inner),
    message: bytes.subarray(inner + 2),
  };
}

/**
 * Reads the framing of a Kerberos token (RFC 2743 3.1): [APPLICATION 0], spanning the whole
 * input, then the mechanism OID, which must be Kerberos or Microsoft's variant of it. Returns
 * the input as a Buffer and where the inner token starts. `overrun` words the error for a
 * length that does not match the input.
 */
export function unframeKerberosToken(
  token: Uint8Array,
  structure: string,
  overrun: (declared: number, arrived: number) => string,
): { bytes: Buffer; inner: number } {
  const bytes = Buffer.from(token.buffer, token.byteOffset, token.byteLength);
  const outer = readTlv(bytes, 0, bytes.length, structure);
  if (outer.tag !== applicationTag(0)) {
    throw new ProtocolError(structure, `starts with tag 0x${outer.tag.toString(16)}, not 0x60`);
  }
  if (outer.end !== bytes.length) {
    throw new ProtocolError(structure, overrun(outer.end, bytes.length));
  }
  const oid = readTlv(bytes, outer.start, outer.end, structure);
  if (oid.tag !== DerTag.OBJECT_IDENTIFIER) {
    throw new ProtocolError(structure, "the mechanism OID is missing");
  }
  const mech = decodeOid(bytes.subarray(oid.start, oid.end));
  if (mech !== KERBEROS_OID && mech !== MS_KERBEROS_OID) {
    throw new ProtocolError(structure, `mechanism ${mech} is not Kerberos`);
  }
  return { bytes, inner: oid.end };
}

export interface GssChecksum {
  /** MD5 of the channel bindings, or 16 zero bytes when there are none. */
  bindings: Buffer;
  flags: number;
}

/** The 0x8003 checksum value: Lgth (16), Bnd, Flags, all little-endian (RFC 4121 4.1.1). */
export function encodeGssChecksum(flags: number, channelBindings?: Uint8Array): Buffer {
  const value = Buffer.alloc(24);
  value.writeUInt32LE(16, 0);
  if (channelBindings !== undefined) channelBindingsHash(channelBindings).copy(value, 4);
  value.writeUInt32LE(flags >>> 0, 20);
  return value;
}

export function decodeGssChecksum(value: Uint8Array): GssChecksum {
  const structure = "GSS authenticator checksum";
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (bytes.length < 24) throw new ProtocolError(structure, `${bytes.length} bytes, not 24`);
  const length = bytes.readUInt32LE(0);
  if (length !== 16) throw new ProtocolError(structure, `Lgth is ${length}, not 16`);
  const flags = bytes.readUInt32LE(20);
  // Delegation (DlgOpt and Deleg) would follow; this project never asks for nor accepts it.
  return { bindings: Buffer.from(bytes.subarray(4, 20)), flags };
}
