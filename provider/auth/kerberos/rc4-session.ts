/**
 * Per-message tokens of the Kerberos GSS-API mechanism when the context's key is rc4-hmac
 * (RFC 4757 7): RFC 1964's token formats, with HMAC-MD5 for SGN_ALG and RC4 for SEAL_ALG.
 *
 * Every token is framed as RFC 1964 1.1 and RFC 2743 3.1 frame an initial context token:
 * [APPLICATION 0] { Kerberos OID, token }. The token after the OID is
 *
 *   0..1    TOK_ID       01 01 MIC (RFC 4757 7.2), 02 01 wrap (7.3)
 *   2..3    SGN_ALG      11 00, HMAC-MD5
 *   4..5    SEAL_ALG     wrap: 10 00 RC4, or ff ff when only signed; MIC: filler ff ff
 *   6..7    filler       ff ff
 *   8..15   SND_SEQ      RC4(Kseq, sequence number (4 bytes big-endian) || direction (4 bytes))
 *   16..23  SGN_CKSUM    the first 8 bytes of the keyed checksum
 *   24..31  confounder   wrap only; encrypted when sealed
 *
 * then, for a wrap token, the message and its padding (RFC 1964 1.2.2.3: RC4 has a block size
 * of 1, so the padding is one byte of value 1), encrypted when sealed. The keys, from the
 * context key Kss (RFC 4757 7.2, 7.3; the message type of an int32 is little-endian):
 *
 *   Ksign   = HMAC(Kss, "signaturekey\0")
 *   cksum   = HMAC(Ksign, MD5(int32 13 (wrap) or 15 (MIC) || token bytes 0..7
 *                             || confounder || padded message))    (no confounder in a MIC)
 *   Kseq    = HMAC(HMAC(Kss, int32 0), SGN_CKSUM)
 *   Kcrypt  = HMAC(HMAC(Kss XOR F0 (every byte), int32 0), sequence number (4 bytes BE))
 *   sealed  = RC4(Kcrypt, confounder || padded message), one keystream
 *
 * The direction bytes are 00 00 00 00 from the initiator and ff ff ff ff from the acceptor, so
 * a token cannot be reflected back to its sender. The sequence number is big-endian here, as
 * Windows writes it and MIT reads and writes it for rc4 (RFC 1964 1.2.1.2 had it little-endian
 * for DES); the tests against MIT hold it to that. SND_SEQ is outside the checksum: in a sealed
 * token its sequence number also keys Kcrypt, so altering it garbles the message and the
 * checksum fails; in a MIC or a token only signed, only the in-order check stands guard (a
 * weakness of the RFC 1964 formats, shared by every implementation; WinRM seals everything).
 *
 * WinRM (MS-WSMV 2.2.9.1, MS-KILE 3.4.5.4.1) carries a sealed wrap token split in two: the
 * "header" is everything up to the encrypted message (framing, OID, the 32 bytes above: 45 to
 * 48 bytes) and the "data" the encrypted message and its padding byte, one byte longer than the
 * message. The DER length of the framing counts both, so header || data is one whole token;
 * only DCE-style contexts (MS-RPCE), which WinRM does not use, leave the data out of it
 * (MS-KILE 3.4.5.4.1).
 * MIT 1.20's gss_wrap_iov produces exactly this for the HEADER, DATA and PADDING buffers, and
 * its gss_unwrap takes header || data as one token.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { IntegrityError, ProtocolError } from "../../errors";
import { hmacMd5, md5 } from "../../crypto/hash";
import { Rc4, rc4 } from "../../crypto/rc4";
import type { WrappedMessage } from "../context";
import { applicationTag, encodeOid } from "../der";
import { EncryptionType, type KerberosKey } from "./crypto";
import { KERBEROS_OID, unframeKerberosToken } from "./gss-token";
import type { KerberosMessageSession } from "./message-session";

/** TOK_ID values (RFC 4757 7.2, 7.3). */
export const Rc4TokenId = Object.freeze({ MIC: 0x0101, WRAP: 0x0201 } as const);

const SGN_ALG_HMAC_MD5 = 0x1100;
const SEAL_ALG_RC4 = 0x1000;
const SEAL_ALG_NONE = 0xffff;
/** The message types of the checksums (RFC 4757 7.2 and 7.3). */
const MIC_USAGE = 15;
const WRAP_USAGE = 13;
const MIC_TOKEN_LENGTH = 24;
const WRAP_TOKEN_LENGTH = 32;
const CHECKSUM_LENGTH = 8;
const CONFOUNDER_LENGTH = 8;
/** RC4 is a stream cipher (block size 1): RFC 1964 1.2.2.3 padding is then one byte. */
const PADDING = 1;
const OID = encodeOid(KERBEROS_OID);
const SIGNATURE_KEY = Buffer.from("signaturekey\0", "latin1");

function int32le(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value >>> 0, 0);
  return bytes;
}

/** The DER framing of a token whose contents (OID and token) are `length` bytes. */
function framing(length: number): Buffer {
  if (length < 0x80) return Buffer.from([applicationTag(0), length]);
  const bytes: number[] = [];
  for (let value = length; value > 0; value = Math.floor(value / 256)) bytes.unshift(value & 0xff);
  return Buffer.from([applicationTag(0), 0x80 | bytes.length, ...bytes]);
}

export interface Rc4HmacSessionOptions {
  /** Kss: the initiator's subkey (or the ticket's session key when it sent none). */
  key: KerberosKey;
  /** Whether this side initiated the context. */
  initiator: boolean;
  /** The first sequence number this side sends and the first it expects (RFC 1964 1.2.1.2). */
  sendSequence: number;
  receiveSequence: number;
}

export class Rc4HmacSession implements KerberosMessageSession {
  private sendSequence: number;
  private receiveSequence: number;
  private readonly initiator: boolean;
  /** Ksign. */
  private readonly signingKey: Buffer;
  /** HMAC(Kss, int32 0), which keys Kseq. */
  private readonly sequenceBase: Buffer;
  /** HMAC(Kss XOR F0, int32 0), which keys Kcrypt. */
  private readonly cryptBase: Buffer;

  constructor(options: Rc4HmacSessionOptions) {
    const { key } = options;
    if (key.etype !== EncryptionType.RC4_HMAC) {
      throw new TypeError(`RFC 4757 message tokens need an rc4-hmac key, not enctype ${key.etype}`);
    }
    this.initiator = options.initiator;
    this.sendSequence = options.sendSequence >>> 0;
    this.receiveSequence = options.receiveSequence >>> 0;
    this.signingKey = hmacMd5(key.value, SIGNATURE_KEY);
    this.sequenceBase = hmacMd5(key.value, int32le(0));
    const local = Buffer.from(key.value);
    for (let i = 0; i < local.length; i++) local[i] = local[i]! ^ 0xf0;
    this.cryptBase = hmacMd5(local, int32le(0));
  }

  /** The direction bytes of a token sent by the initiator (0x00) or the acceptor (0xff). */
  private static direction(fromInitiator: boolean): number {
    return fromInitiator ? 0x00 : 0xff;
  }

  private nextSendSequence(): number {
    const sequence = this.sendSequence;
    this.sendSequence = (sequence + 1) >>> 0;
    return sequence;
  }

  /** SND_SEQ before encryption: the sequence number, big-endian, then four direction bytes. */
  private sequenceBlock(sequence: number): Buffer {
    const block = Buffer.alloc(8, Rc4HmacSession.direction(this.initiator));
    block.writeUInt32BE(sequence, 0);
    return block;
  }

  /** HMAC(Ksign, MD5(usage || parts)): the checksum of RFC 4757 7.2 and 7.3, whole. */
  private checksum(usage: number, ...parts: Uint8Array[]): Buffer {
    return hmacMd5(this.signingKey, md5(int32le(usage), ...parts));
  }

  /** RC4 under Kseq, which the token's SGN_CKSUM keys; it both encrypts and decrypts. */
  private cryptSequence(checksum: Uint8Array, block: Uint8Array): Buffer {
    return rc4(hmacMd5(this.sequenceBase, checksum), block);
  }

  /** The RC4 keystream under Kcrypt for the sequence number's four big-endian bytes. */
  private dataCipher(sequenceBytes: Uint8Array): Rc4 {
    return new Rc4(hmacMd5(this.cryptBase, sequenceBytes));
  }

  /** A wrap token (RFC 4757 7.3) split where the padded message starts. */
  private seal(message: Uint8Array, confidential: boolean): WrappedMessage {
    const token = Buffer.alloc(WRAP_TOKEN_LENGTH);
    token.writeUInt16BE(Rc4TokenId.WRAP, 0);
    token.writeUInt16BE(SGN_ALG_HMAC_MD5, 2);
    token.writeUInt16BE(confidential ? SEAL_ALG_RC4 : SEAL_ALG_NONE, 4);
    token.writeUInt16BE(0xffff, 6);
    const confounder = token.subarray(24, 32);
    randomBytes(CONFOUNDER_LENGTH).copy(confounder);
    const data = Buffer.alloc(message.length + PADDING, PADDING);
    data.set(message, 0);
    const checksum = this.checksum(WRAP_USAGE, token.subarray(0, 8), confounder, data);
    checksum.copy(token, 16, 0, CHECKSUM_LENGTH);
    const block = this.sequenceBlock(this.nextSendSequence());
    if (confidential) {
      const cipher = this.dataCipher(block.subarray(0, 4));
      cipher.update(confounder, confounder);
      cipher.update(data, data);
    }
    this.cryptSequence(token.subarray(16, 24), block).copy(token, 8);
    const contents = OID.length + token.length + data.length;
    return { header: Buffer.concat([framing(contents), OID, token]), data };
  }

  /**
   * A sealed wrap token in the WinRM layout: `header` is the framing, OID and token up to the
   * confounder, `data` the encrypted message and its padding byte (message length + 1).
   */
  wrap(message: Uint8Array): WrappedMessage {
    return this.seal(message, true);
  }

  /** A whole wrap token (RFC 4757 7.3), sealed or only signed. */
  wrapToken(message: Uint8Array, confidential = true): Buffer {
    const { header, data } = this.seal(message, confidential);
    return Buffer.concat([header, data]);
  }

  /** Opens a token given as its WinRM header and data: together they are one whole token. */
  unwrap(header: Uint8Array, data: Uint8Array): Buffer {
    return this.open(Buffer.concat([header, data]), true);
  }

  unwrapToken(token: Uint8Array): Buffer {
    return this.open(token, false);
  }

  /** Opens a whole wrap token; `owned`: the bytes are ours to decrypt where they lie. */
  private open(tokenBytes: Uint8Array, owned: boolean): Buffer {
    const structure = "Kerberos rc4-hmac wrap token";
    const { token, rest } = this.parse(tokenBytes, Rc4TokenId.WRAP, WRAP_TOKEN_LENGTH, structure);
    const sealAlg = token.readUInt16BE(4);
    if (sealAlg !== SEAL_ALG_RC4 && sealAlg !== SEAL_ALG_NONE) {
      throw new ProtocolError(structure, `SEAL_ALG is 0x${sealAlg.toString(16)}, not RC4 (0x1000)`);
    }
    if (token.readUInt16BE(6) !== 0xffff) {
      throw new ProtocolError(structure, "the filler bytes are not 0xFF");
    }
    const checksum = token.subarray(16, 24);
    const block = this.cryptSequence(checksum, token.subarray(8, 16));
    // Decrypted in place when the bytes are ours (unwrap's concatenation), else in copies, so
    // that the caller's token stays as it was.
    const confounder = Buffer.from(token.subarray(24, 32));
    const data = owned ? rest : Buffer.from(rest);
    if (sealAlg === SEAL_ALG_RC4) {
      const cipher = this.dataCipher(block.subarray(0, 4));
      cipher.update(confounder, confounder);
      cipher.update(data, data);
    }
    const expected = this.checksum(WRAP_USAGE, token.subarray(0, 8), confounder, data);
    if (!timingSafeEqual(expected.subarray(0, CHECKSUM_LENGTH), checksum)) {
      throw new IntegrityError(
        `a ${sealAlg === SEAL_ALG_RC4 ? "sealed" : "signed"} Kerberos message does not verify`,
      );
    }
    // RFC 1964 1.2.2.3: 1 to 8 bytes, each holding their count. The padding is authenticated,
    // so a bad one is the sender's mistake, not an attack.
    const pad = data.length === 0 ? 0 : data[data.length - 1]!;
    if (pad < 1 || pad > 8 || pad > data.length || data.subarray(-pad).some((b) => b !== pad)) {
      throw new ProtocolError(structure, `bad padding (${pad}) after ${data.length} bytes of data`);
    }
    this.checkSequence(block);
    return data.subarray(0, data.length - pad);
  }

  /** A MIC token (RFC 4757 7.2). */
  getMic(message: Uint8Array): Buffer {
    const token = Buffer.alloc(MIC_TOKEN_LENGTH, 0xff);
    token.writeUInt16BE(Rc4TokenId.MIC, 0);
    token.writeUInt16BE(SGN_ALG_HMAC_MD5, 2);
    this.checksum(MIC_USAGE, token.subarray(0, 8), message).copy(token, 16, 0, CHECKSUM_LENGTH);
    const block = this.sequenceBlock(this.nextSendSequence());
    this.cryptSequence(token.subarray(16, 24), block).copy(token, 8);
    return Buffer.concat([framing(OID.length + token.length), OID, token]);
  }

  verifyMic(message: Uint8Array, micBytes: Uint8Array): void {
    const structure = "Kerberos rc4-hmac MIC token";
    const { token, rest } = this.parse(micBytes, Rc4TokenId.MIC, MIC_TOKEN_LENGTH, structure);
    if (rest.length !== 0) throw new ProtocolError(structure, "bytes after the checksum");
    if (!token.subarray(4, 8).equals(Buffer.alloc(4, 0xff))) {
      throw new ProtocolError(structure, "the filler bytes are not 0xFF");
    }
    const checksum = token.subarray(16, 24);
    const expected = this.checksum(MIC_USAGE, token.subarray(0, 8), message);
    if (!timingSafeEqual(expected.subarray(0, CHECKSUM_LENGTH), checksum)) {
      throw new IntegrityError("a Kerberos MIC does not verify");
    }
    this.checkSequence(this.cryptSequence(checksum, token.subarray(8, 16)));
  }

  /**
   * Reads the framing (RFC 2743 3.1), which must span the whole input, the OID, TOK_ID and
   * SGN_ALG; returns the fixed-size token and what follows it.
   */
  private parse(
    input: Uint8Array,
    tokenId: number,
    length: number,
    structure: string,
  ): { token: Buffer; rest: Buffer } {
    const { bytes, inner } = unframeKerberosToken(
      input,
      structure,
      (declared, arrived) => `its length says ${declared} bytes, but ${arrived} arrived`,
    );
    if (bytes.length - inner < length) {
      throw new ProtocolError(structure, `${bytes.length - inner} bytes, shorter than its header`);
    }
    const token = bytes.subarray(inner, inner + length);
    const id = token.readUInt16BE(0);
    if (id !== tokenId) {
      throw new ProtocolError(
        structure,
        `TOK_ID is 0x${id.toString(16).padStart(4, "0")}, not 0x${tokenId.toString(16).padStart(4, "0")}`,
      );
    }
    const sgnAlg = token.readUInt16BE(2);
    if (sgnAlg !== SGN_ALG_HMAC_MD5) {
      throw new ProtocolError(structure, `SGN_ALG is 0x${sgnAlg.toString(16)}, not HMAC-MD5`);
    }
    return { token, rest: bytes.subarray(inner + length) };
  }

  /**
   * The decrypted SND_SEQ of a token that verified: the direction must be the peer's (else it
   * is one of our own tokens reflected back), and messages arrive in order on one connection,
   * so any other sequence number is a replay or a loss.
   */
  private checkSequence(block: Buffer): void {
    const direction = Rc4HmacSession.direction(!this.initiator);
    if (!block.subarray(4, 8).equals(Buffer.alloc(4, direction))) {
      throw new IntegrityError(
        `a Kerberos message does not come from the ${this.initiator ? "acceptor" : "initiator"} ` +
          "(its direction bytes are wrong: a reflected token)",
      );
    }
    const sequence = block.readUInt32BE(0);
    if (sequence !== this.receiveSequence) {
      throw new IntegrityError(
        `a Kerberos message has sequence number ${sequence}, expected ${this.receiveSequence}`,
      );
    }
    this.receiveSequence = (sequence + 1) >>> 0;
  }
}
