/**
 * Per-message tokens of the Kerberos GSS-API mechanism (RFC 4121 4.2, "CFX"): wrap tokens
 * (TOK_ID 05 04) sealed or only signed, and MIC tokens (TOK_ID 04 04), with a 64-bit sequence
 * number per direction.
 *
 * WinRM carries a sealed wrap token split in two (MS-WSMV 2.2.9.1, MS-KILE 3.4.5.4.1): the
 * "signature" is everything up to the encrypted message bytes, the data is those bytes, exactly
 * as long as the plaintext. That works because the token is rotated right by RRC bytes (RFC 4121
 * 4.2.5): with EC 0 and RRC 28 (the encrypted header copy, 16 bytes, and the 12-byte HMAC), the
 * ciphertext's tail moves in front of the confounder, and what is left at the end is the message.
 * We send that layout, as Windows and MIT do; we read any EC and RRC.
 */
import { IntegrityError, ProtocolError } from "../../errors";
import type { KerberosKey } from "./crypto";
import type { WrappedMessage } from "../context";

const WRAP_TOKEN_ID = 0x0504;
const MIC_TOKEN_ID = 0x0404;
const HEADER_LENGTH = 16;

/** Flags of per-message tokens (RFC 4121 4.2.2). */
export const TokenFlags = Object.freeze({
  SENT_BY_ACCEPTOR: 0x01,
  SEALED: 0x02,
  ACCEPTOR_SUBKEY: 0x04,
} as const);

/** Key usages of per-message tokens (RFC 4121 2). */
export const CfxKeyUsage = Object.freeze({
  ACCEPTOR_SEAL: 22,
  ACCEPTOR_SIGN: 23,
  INITIATOR_SEAL: 24,
  INITIATOR_SIGN: 25,
} as const);

export interface CfxSessionOptions {
  /** The acceptor's subkey when it sent one, else the initiator's subkey (RFC 4121 2). */
  key: KerberosKey;
  /** Whether this side initiated the context. */
  initiator: boolean;
  acceptorSubkey: boolean;
  /** The first sequence number this side sends and the first it expects (RFC 4121 4.2.3). */
  sendSequence: number;
  receiveSequence: number;
}

const TWO_32 = 2 ** 32;

function writeSequence(header: Buffer, sequence: number): void {
  header.writeUInt32BE(Math.floor(sequence / TWO_32) >>> 0, 8);
  header.writeUInt32BE(sequence >>> 0, 12);
}

function readSequence(header: Buffer): number {
  return header.readUInt32BE(8) * TWO_32 + header.readUInt32BE(12);
}

/** `data` rotated left by `count` (undoes the sender's right rotation, RFC 4121 4.2.5). */
function rotateLeft(data: Buffer, count: number): Buffer {
  if (data.length === 0) return data;
  const shift = count % data.length;
  if (shift === 0) return data;
  return Buffer.concat([data.subarray(shift), data.subarray(0, shift)]);
}

export class CfxSession {
  private sendSequence: number;
  private receiveSequence: number;
  private readonly key: KerberosKey;
  private readonly initiator: boolean;
  private readonly sendFlags: number;
  private readonly receiveFlags: number;

  constructor(options: CfxSessionOptions) {
    this.key = options.key;
    this.initiator = options.initiator;
    this.sendSequence = options.sendSequence;
    this.receiveSequence = options.receiveSequence;
    const subkey = options.acceptorSubkey ? TokenFlags.ACCEPTOR_SUBKEY : 0;
    this.sendFlags = subkey | (options.initiator ? 0 : TokenFlags.SENT_BY_ACCEPTOR);
    this.receiveFlags = subkey | (options.initiator ? TokenFlags.SENT_BY_ACCEPTOR : 0);
  }

  private get sealUsage(): number {
    return this.initiator ? CfxKeyUsage.INITIATOR_SEAL : CfxKeyUsage.ACCEPTOR_SEAL;
  }

  private get peerSealUsage(): number {
    return this.initiator ? CfxKeyUsage.ACCEPTOR_SEAL : CfxKeyUsage.INITIATOR_SEAL;
  }

  private get signUsage(): number {
    return this.initiator ? CfxKeyUsage.INITIATOR_SIGN : CfxKeyUsage.ACCEPTOR_SIGN;
  }

  private get peerSignUsage(): number {
    return this.initiator ? CfxKeyUsage.ACCEPTOR_SIGN : CfxKeyUsage.INITIATOR_SIGN;
  }

  private nextSendSequence(): number {
    const sequence = this.sendSequence;
    this.sendSequence = sequence + 1;
    return sequence;
  }

  private wrapHeader(flags: number, ec: number, rrc: number, sequence: number): Buffer {
    const header = Buffer.alloc(HEADER_LENGTH);
    header.writeUInt16BE(WRAP_TOKEN_ID, 0);
    header[2] = flags;
    header[3] = 0xff;
    header.writeUInt16BE(ec, 4);
    header.writeUInt16BE(rrc, 6);
    writeSequence(header, sequence);
    return header;
  }

  /**
   * A sealed wrap token in the WinRM layout: `header` is the token up to the encrypted message
   * bytes, `data` those bytes (as long as the message).
   */
  wrap(message: Uint8Array): WrappedMessage {
    const sequence = this.nextSendSequence();
    const flags = this.sendFlags | TokenFlags.SEALED;
    // The copy of the header that is encrypted has RRC 0 (RFC 4121 4.2.4).
    const inner = this.wrapHeader(flags, 0, 0, sequence);
    const ciphertext = this.key.encrypt(this.sealUsage, Buffer.concat([message, inner]));
    // Rotating right by the bytes after the message (encrypted header copy and checksum) puts
    // them before the confounder; the message's ciphertext is then the token's last bytes.
    const rrc = ciphertext.length - this.key.profile.confounderLength - message.length;
    const header = this.wrapHeader(flags, 0, rrc, sequence);
    const tail = ciphertext.subarray(ciphertext.length - rrc);
    const confounder = ciphertext.subarray(0, ciphertext.length - rrc - message.length);
    return {
      header: Buffer.concat([header, tail, confounder]),
      data: ciphertext.subarray(confounder.length, confounder.length + message.length),
    };
  }

  /** A whole wrap token (RFC 4121 4.2.6.2), sealed or only signed, with RRC 0. */
  wrapToken(message: Uint8Array, confidential = true): Buffer {
    if (confidential) {
      const { header, data } = this.wrap(message);
      return Buffer.concat([header, data]);
    }
    const sequence = this.nextSendSequence();
    const checksumLength = this.key.profile.checksumLength;
    // Signed only: EC is the checksum's length; the checksum covers the header with EC and
    // RRC zeroed (RFC 4121 4.2.4), keyed with the seal usage, as for every wrap token (2).
    const zeroed = this.wrapHeader(this.sendFlags, 0, 0, sequence);
    const checksum = this.key.checksum(this.sealUsage, Buffer.concat([message, zeroed]));
    const header = this.wrapHeader(this.sendFlags, checksumLength, 0, sequence);
    return Buffer.concat([header, message, checksum]);
  }

  /** Opens a token given as its WinRM header and data; verifies it and its sequence number. */
  unwrap(header: Uint8Array, data: Uint8Array): Buffer {
    return this.unwrapToken(Buffer.concat([header, data]));
  }

  unwrapToken(tokenBytes: Uint8Array): Buffer {
    const token = Buffer.from(tokenBytes.buffer, tokenBytes.byteOffset, tokenBytes.byteLength);
    const structure = "Kerberos wrap token";
    if (token.length < HEADER_LENGTH) {
      throw new ProtocolError(structure, `${token.length} bytes, shorter than its header`);
    }
    const header = token.subarray(0, HEADER_LENGTH);
    const tokenId = header.readUInt16BE(0);
    if (tokenId !== WRAP_TOKEN_ID) {
      throw new ProtocolError(structure, `TOK_ID is 0x${tokenId.toString(16)}, not 0x0504`);
    }
    const flags = header[2]!;
    if (header[3] !== 0xff) throw new ProtocolError(structure, "the filler byte is not 0xFF");
    this.checkFlags(flags, structure);
    const ec = header.readUInt16BE(4);
    const rrc = header.readUInt16BE(6);
    const body = rotateLeft(token.subarray(HEADER_LENGTH), rrc);
    const sequence = readSequence(header);
    let message: Buffer;
    if (flags & TokenFlags.SEALED) {
      const plaintext = this.decrypt(body);
      if (plaintext.length < ec + HEADER_LENGTH) {
        throw new IntegrityError("a sealed Kerberos message is shorter than its trailer");
      }
      const copy = plaintext.subarray(plaintext.length - HEADER_LENGTH);
      // The encrypted copy must match the header, except RRC, which the sender sets after.
      if (
        !copy.subarray(0, 6).equals(header.subarray(0, 6)) ||
        !copy.subarray(8).equals(header.subarray(8))
      ) {
        throw new IntegrityError("a sealed Kerberos message's header does not match its copy");
      }
      message = plaintext.subarray(0, plaintext.length - ec - HEADER_LENGTH);
    } else {
      // Signed only: EC is the checksum's length (RFC 4121 4.2.4).
      if (ec !== this.key.profile.checksumLength || body.length < ec) {
        throw new ProtocolError(structure, `EC is ${ec} in a token that is only signed`);
      }
      message = body.subarray(0, body.length - ec);
      const zeroed = Buffer.from(header);
      zeroed.writeUInt32BE(0, 4); // EC and RRC
      const checksum = body.subarray(body.length - ec);
      if (
        !this.key.verifyChecksum(this.peerSealUsage, Buffer.concat([message, zeroed]), checksum)
      ) {
        throw new IntegrityError("a signed Kerberos message does not verify");
      }
    }
    this.checkSequence(sequence);
    return message;
  }

  getMic(message: Uint8Array): Buffer {
    const header = Buffer.alloc(HEADER_LENGTH, 0xff);
    header.writeUInt16BE(MIC_TOKEN_ID, 0);
    header[2] = this.sendFlags;
    writeSequence(header, this.nextSendSequence());
    const checksum = this.key.checksum(this.signUsage, Buffer.concat([message, header]));
    return Buffer.concat([header, checksum]);
  }

  verifyMic(message: Uint8Array, micBytes: Uint8Array): void {
    const mic = Buffer.from(micBytes.buffer, micBytes.byteOffset, micBytes.byteLength);
    const structure = "Kerberos MIC token";
    if (mic.length < HEADER_LENGTH) throw new ProtocolError(structure, "shorter than its header");
    const header = mic.subarray(0, HEADER_LENGTH);
    if (header.readUInt16BE(0) !== MIC_TOKEN_ID) {
      throw new ProtocolError(structure, `TOK_ID is 0x${header.readUInt16BE(0).toString(16)}`);
    }
    this.checkFlags(header[2]!, structure);
    if (!header.subarray(3, 8).equals(Buffer.alloc(5, 0xff))) {
      throw new ProtocolError(structure, "the filler bytes are not 0xFF");
    }
    const checksum = mic.subarray(HEADER_LENGTH);
    if (!this.key.verifyChecksum(this.peerSignUsage, Buffer.concat([message, header]), checksum)) {
      throw new IntegrityError("a Kerberos MIC does not verify");
    }
    this.checkSequence(readSequence(header));
  }

  private decrypt(ciphertext: Buffer): Buffer {
    try {
      return this.key.decrypt(this.peerSealUsage, ciphertext);
    } catch (error) {
      if (error instanceof IntegrityError) throw error;
      throw new IntegrityError("a sealed Kerberos message does not decrypt", { cause: error });
    }
  }

  private checkFlags(flags: number, structure: string): void {
    const direction = TokenFlags.SENT_BY_ACCEPTOR | TokenFlags.ACCEPTOR_SUBKEY;
    if ((flags & direction) !== this.receiveFlags) {
      throw new ProtocolError(
        structure,
        `flags 0x${flags.toString(16)} do not fit a token from the ` +
          `${this.initiator ? "acceptor" : "initiator"} (expected 0x${this.receiveFlags.toString(16)})`,
      );
    }
  }

  /** Messages arrive in order on one connection: anything else is a replay or a loss. */
  private checkSequence(sequence: number): void {
    if (sequence !== this.receiveSequence) {
      throw new IntegrityError(
        `a Kerberos message has sequence number ${sequence}, expected ${this.receiveSequence}`,
      );
    }
    this.receiveSequence = sequence + 1;
  }
}
