/**
 * NTLM session security with extended session security and key exchange (MS-NLMP 3.4): signing,
 * sealing and their verification, once the handshake has produced the exported session key.
 *
 * Each direction has its own signing key, sealing key, sequence counter and RC4 keystream, and
 * the keystream continues from one message to the next (connection-oriented mode, MS-NLMP
 * 3.4.3): messages must be processed in the order they were produced.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { IntegrityError } from "../../errors";
import { Rc4 } from "../../crypto/rc4";
import { type Direction, sealKey, signKey } from "./crypto";

/** NTLMSSP_MESSAGE_SIGNATURE (MS-NLMP 2.2.2.9.1) is 16 bytes: Version, Checksum, SeqNum. */
export const SIGNATURE_LENGTH = 16;
const SIGNATURE_VERSION = 1;

export type Role = "initiator" | "acceptor";

/** Messages from this size on have their successor's keystream made ahead (prefillAfter). */
const PREFILL_FROM = 64 * 1024;

class DirectionState {
  readonly signKey: Buffer;
  private readonly sealKey: Buffer;
  rc4: Rc4;
  sequence = 0;

  constructor(exportedKey: Uint8Array, flags: number, direction: Direction) {
    this.signKey = signKey(exportedKey, direction);
    this.sealKey = sealKey(exportedKey, flags, direction);
    this.rc4 = new Rc4(this.sealKey);
  }

  /** Restarts the keystream from the sealing key; the sequence number carries on. */
  resetRc4(): void {
    this.rc4 = new Rc4(this.sealKey);
  }

  /**
   * After a large message, makes the next one's keystream while the peer is at work on this
   * one: the next message (an upload's next Send) usually has the same size. Small messages
   * (Receives, replies) are not worth it.
   *
   * Two turns of the event loop later, not one: undici writes a request on a reused socket in
   * a setImmediate of its own, queued when the previous response ended, so a prefill queued
   * with one setImmediate ran first and held every Send of an upload back by about 0.8 ms
   * (issue 15). Were undici to change that, a prefill would only run before the write again.
   */
  prefillAfter(length: number): void {
    if (length < PREFILL_FROM) return;
    const rc4 = this.rc4;
    setImmediate(() => {
      setImmediate(() => {
        if (this.rc4 === rc4) rc4.prefill(length + SIGNATURE_LENGTH);
      }).unref();
    }).unref();
  }

  /**
   * MAC (MS-NLMP 3.4.4.2): Version 1, the first 8 bytes of HMAC_MD5(SigningKey, SeqNum ||
   * Message) passed through this direction's RC4, then SeqNum. Consumes a sequence number.
   */
  mac(message: Uint8Array): Buffer {
    const signature = Buffer.allocUnsafe(SIGNATURE_LENGTH);
    signature.writeUInt32LE(SIGNATURE_VERSION, 0);
    signature.writeUInt32LE(this.sequence, 12);
    this.rc4.update(this.checksum(this.sequence, message), signature.subarray(4, 12));
    this.sequence = (this.sequence + 1) >>> 0;
    return signature;
  }

  /**
   * Takes the place of the peer's next MAC now (its sequence number and the 8 bytes of
   * keystream its checksum was sealed with, which come right after the message's) and returns
   * the check of `signature` against the message, to run later: the same test as comparing
   * it with mac(message), since RC4 is a XOR.
   */
  openMac(signature: Uint8Array): (message: Uint8Array) => boolean {
    const sequence = this.sequence;
    this.sequence = (sequence + 1) >>> 0;
    const checksum = Buffer.alloc(8);
    this.rc4.update(checksum, checksum); // the keystream itself
    const valid = signature.length === SIGNATURE_LENGTH;
    if (valid) for (let i = 0; i < 8; i++) checksum[i]! ^= signature[4 + i]!;
    const header = valid ? Buffer.from(signature.subarray(0, 16)) : undefined;
    return (message) =>
      header !== undefined &&
      header.readUInt32LE(0) === SIGNATURE_VERSION &&
      header.readUInt32LE(12) === sequence &&
      timingSafeEqual(this.checksum(sequence, message), checksum);
  }

  /** The first 8 bytes of HMAC_MD5(SigningKey, SeqNum || Message). */
  private checksum(sequence: number, message: Uint8Array): Buffer {
    const number = Buffer.allocUnsafe(4);
    number.writeUInt32LE(sequence, 0);
    return createHmac("md5", this.signKey).update(number).update(message).digest().subarray(0, 8);
  }
}

export class NtlmSession {
  private readonly outbound: DirectionState;
  private readonly inbound: DirectionState;

  /**
   * @param exportedKey the ExportedSessionKey of the handshake
   * @param flags the negotiated flags (decide the sealing key strength)
   * @param role which end this is: the initiator sends client-to-server
   */
  constructor(
    exportedKey: Uint8Array,
    flags: number,
    readonly role: Role,
  ) {
    const [out, into]: [Direction, Direction] =
      role === "initiator"
        ? ["client-to-server", "server-to-client"]
        : ["server-to-client", "client-to-server"];
    this.outbound = new DirectionState(exportedKey, flags, out);
    this.inbound = new DirectionState(exportedKey, flags, into);
  }

  /** The sequence numbers the next outgoing and incoming messages will carry. */
  get sequence(): { outbound: number; inbound: number } {
    return { outbound: this.outbound.sequence, inbound: this.inbound.sequence };
  }

  /** GSS_GetMIC (MS-NLMP 3.4.4): a signature over `message`, which is not encrypted. */
  sign(message: Uint8Array): Buffer {
    return this.outbound.mac(message);
  }

  /** GSS_VerifyMIC: throws IntegrityError unless `signature` is the next one the peer owes. */
  verify(message: Uint8Array, signature: Uint8Array): void {
    const sequence = this.inbound.sequence;
    if (!this.inbound.openMac(signature)(message)) throw signatureError(sequence);
  }

  /** GSS_WrapEx (MS-NLMP 3.4.3): encrypts first, then signs the plaintext with the same RC4. */
  seal(message: Uint8Array): { signature: Buffer; sealed: Buffer } {
    const sealed = Buffer.allocUnsafe(message.length);
    const signature = this.sealInto(message, sealed);
    return { signature, sealed };
  }

  /**
   * seal() with the ciphertext written into `out` (at least message.length bytes), such as
   * its place in a framed message, which spares a copy of every large request. Returns the
   * signature.
   */
  sealInto(message: Uint8Array, out: Uint8Array): Buffer {
    this.outbound.rc4.update(message, out);
    const signature = this.outbound.mac(message);
    this.outbound.prefillAfter(message.length);
    return signature;
  }

  /**
   * GSS_UnwrapEx: decrypts, then checks the signature over the recovered plaintext. `inPlace`
   * decrypts over `sealed` itself, which the caller then no longer has.
   */
  unseal(sealed: Uint8Array, signature: Uint8Array, inPlace = false): Buffer {
    const { message, verify } = this.open(sealed, signature, inPlace);
    verify();
    return message;
  }

  /**
   * unseal() in two steps: decrypts now, at the message's place in the sequence, and returns
   * the check of its signature to run later, so that a reader can act on the plaintext's
   * first bytes (ask the peer for more) while the check is still to come. Nothing else may be
   * made of the message before `verify` has returned; it throws IntegrityError.
   */
  open(
    sealed: Uint8Array,
    signature: Uint8Array,
    inPlace = false,
  ): { message: Buffer; verify: () => void } {
    const message = inPlace
      ? Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength)
      : Buffer.allocUnsafe(sealed.length);
    this.inbound.rc4.update(sealed, message);
    const sequence = this.inbound.sequence;
    const check = this.inbound.openMac(signature);
    this.inbound.prefillAfter(message.length);
    return {
      message,
      verify: () => {
        if (!check(message)) throw signatureError(sequence);
      },
    };
  }

  /**
   * Restarts one direction's RC4 keystream from its sealing key; its sequence number carries
   * on. SPNEGO does this right after that direction's mechListMIC is made or checked, as
   * Windows does (pyspnego reproduces it), so the first sealed message after the handshake
   * uses sequence number 1 with a fresh keystream.
   */
  resetKeystreams(direction: "outbound" | "inbound"): void {
    (direction === "outbound" ? this.outbound : this.inbound).resetRc4();
  }
}

function signatureError(sequence: number): IntegrityError {
  return new IntegrityError(
    `NTLM message signature does not verify (expected sequence number ${sequence}): ` +
      "the message was altered, replayed, reordered or sealed with another session key",
  );
}
