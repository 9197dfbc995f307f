/**
 * Per-message protection of an established Kerberos GSS-API context, whichever token format
 * its key calls for: RFC 4121 4.2 ("CFX") tokens for the AES enctypes (cfx.ts), RFC 4757 7
 * tokens (RFC 1964's formats with HMAC-MD5 and RC4) for rc4-hmac (rc4-session.ts). RFC 4121 1
 * keeps the RFC 1964 formats for the enctypes that predate it, rc4-hmac among them, so the
 * format follows from the enctype of the key that protects messages.
 */
import type { WrappedMessage } from "../context";
import { CfxSession, type CfxSessionOptions } from "./cfx";
import { EncryptionType } from "./crypto";
import { Rc4HmacSession } from "./rc4-session";

/** GSS_Wrap, GSS_Unwrap, GSS_GetMIC and GSS_VerifyMIC (RFC 2743 2.3) of one context. */
export interface KerberosMessageSession {
  /**
   * A sealed wrap token in the WinRM layout (MS-WSMV 2.2.9.1, MS-KILE 3.4.5.4.1): `header` is
   * the token up to the encrypted message bytes, `data` the rest (the encrypted message, and
   * for rc4-hmac the padding byte after it).
   */
  wrap(message: Uint8Array): WrappedMessage;
  /** Opens a token given as its WinRM header and data; verifies it and its sequence number. */
  unwrap(header: Uint8Array, data: Uint8Array): Buffer;
  /** A whole wrap token, sealed or only signed. */
  wrapToken(message: Uint8Array, confidential?: boolean): Buffer;
  /** Opens a whole wrap token, sealed or only signed; throws IntegrityError if it does not verify. */
  unwrapToken(token: Uint8Array): Buffer;
  getMic(message: Uint8Array): Buffer;
  /** Throws IntegrityError when the MIC does not verify or is out of sequence. */
  verifyMic(message: Uint8Array, mic: Uint8Array): void;
}

/**
 * The message protection for a context's key: RFC 4757 7 tokens for an rc4-hmac key, CFX
 * tokens otherwise. `acceptorSubkey` only matters to CFX (its flag, RFC 4121 4.2.2).
 */
export function createMessageSession(options: CfxSessionOptions): KerberosMessageSession {
  if (options.key.etype === EncryptionType.RC4_HMAC) {
    return new Rc4HmacSession({
      key: options.key,
      initiator: options.initiator,
      sendSequence: options.sendSequence,
      receiveSequence: options.receiveSequence,
    });
  }
  return new CfxSession(options);
}
