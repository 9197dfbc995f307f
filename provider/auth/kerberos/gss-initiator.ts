/**
 * The initiator of a Kerberos GSS-API context (RFC 4121 4.1): an AP-REQ whose authenticator
 * carries a fresh subkey, a sequence number and the 0x8003 checksum (channel bindings and the
 * context flags), then the acceptor's AP-REP, which proves it read the ticket (mutual
 * authentication) and may bring the acceptor's own subkey. Messages are then CFX tokens under
 * the acceptor's subkey if it sent one, else under ours; or, when that key is rc4-hmac, RFC 4757
 * 7 tokens under our subkey (see readReply).
 */
import { randomBytes } from "node:crypto";
import { AuthenticationError, KerberosError } from "../../errors";
import { EncryptionType, KerberosKey } from "./crypto";
import { fromKrbError } from "./errors";
import {
  ContextTokenId,
  GSS_CHECKSUM_TYPE,
  WINRM_GSS_FLAGS,
  decodeContextToken,
  encodeContextToken,
  encodeGssChecksum,
} from "./gss-token";
import type { Credential } from "./kdc-client";
import { DerNode } from "./asn1";
import {
  ApOptions,
  KeyUsage,
  decodeApReply,
  decodeEncApReplyPart,
  decodeKrbError,
  encodeApRequest,
  encodeAuthenticator,
  principalToString,
} from "./messages";
import { type KerberosMessageSession, createMessageSession } from "./message-session";

export interface KerberosInitiatorOptions {
  /** A service ticket for the acceptor, with its session key. */
  ticket: Credential;
  /** tls-server-end-point application data, over TLS only (RFC 4121 4.1.1.2). */
  channelBindings?: Uint8Array;
  /** GSS flags to ask for; WinRM's by default. */
  flags?: number;
  now?: () => Date;
}

/** A random sequence number below 2^30, as MIT picks them, so no peer reads it as negative. */
export function randomSequenceNumber(): number {
  return randomBytes(4).readUInt32BE(0) & 0x3fffffff;
}

/** A fresh random key of the same enctype (random-to-key is the identity for AES and RC4). */
export function randomKeyLike(key: KerberosKey): KerberosKey {
  return new KerberosKey(key.etype, randomBytes(key.profile.keyLength));
}

type State = "initial" | "request-sent" | "complete" | "failed";

export class KerberosInitiator {
  private state: State = "initial";
  private readonly now: () => Date;
  private subkey: KerberosKey | undefined;
  private sequence = 0;
  private ctime: Date | undefined;
  private cusec = 0;
  private messages: KerberosMessageSession | undefined;

  constructor(private readonly options: KerberosInitiatorOptions) {
    this.now = options.now ?? (() => new Date());
  }

  get complete(): boolean {
    return this.state === "complete";
  }

  get session(): KerberosMessageSession {
    if (this.messages === undefined) {
      throw new AuthenticationError("the Kerberos context is not established yet");
    }
    return this.messages;
  }

  private get service(): string {
    const { ticket } = this.options;
    return principalToString(ticket.server, ticket.serverRealm);
  }

  /** The initial context token: TOK_ID 01 00 and the AP-REQ (RFC 4121 4.1). */
  initialToken(): Buffer {
    if (this.state !== "initial") {
      throw new AuthenticationError("the Kerberos context has already sent its AP-REQ");
    }
    const { ticket } = this.options;
    const now = this.now();
    this.ctime = new Date(Math.floor(now.getTime() / 1000) * 1000);
    this.cusec = (now.getTime() % 1000) * 1000 + (randomBytes(2).readUInt16BE(0) % 1000);
    this.subkey = randomKeyLike(ticket.sessionKey);
    this.sequence = randomSequenceNumber();
    const authenticator = encodeAuthenticator({
      crealm: ticket.client.realm,
      cname: ticket.client.name,
      cksum: {
        cksumtype: GSS_CHECKSUM_TYPE,
        checksum: encodeGssChecksum(
          this.options.flags ?? WINRM_GSS_FLAGS,
          this.options.channelBindings,
        ),
      },
      cusec: this.cusec,
      ctime: this.ctime,
      subkey: { keytype: this.subkey.etype, keyvalue: this.subkey.value },
      seqNumber: this.sequence,
    });
    const request = encodeApRequest(ApOptions.MUTUAL_REQUIRED, ticket.ticket.encoded, {
      etype: ticket.sessionKey.etype,
      cipher: ticket.sessionKey.encrypt(KeyUsage.AP_REQ_AUTHENTICATOR, authenticator),
    });
    this.state = "request-sent";
    return encodeContextToken(ContextTokenId.AP_REQ, request);
  }

  /** Reads the acceptor's AP-REP (or KRB-ERROR) and completes the context. */
  acceptReply(token: Uint8Array): void {
    if (this.state !== "request-sent") {
      throw new AuthenticationError(`no Kerberos reply is expected now (${this.state})`);
    }
    try {
      this.readReply(token);
      this.state = "complete";
    } catch (error) {
      this.state = "failed";
      throw error;
    }
  }

  private readReply(token: Uint8Array): void {
    const { tokenId, message } = decodeContextToken(token);
    const { ticket } = this.options;
    if (tokenId === ContextTokenId.KRB_ERROR) {
      const error = decodeKrbError(DerNode.parse(message, "KRB-ERROR"));
      throw fromKrbError(error, {
        client: ticket.client.text,
        service: this.service,
        now: this.now(),
      });
    }
    if (tokenId !== ContextTokenId.AP_REP) {
      throw new KerberosError(
        "protocol",
        `the acceptor answered with TOK_ID 0x${tokenId.toString(16)}, not an AP-REP`,
      );
    }
    const encPart = decodeApReply(DerNode.parse(message, "AP-REP"));
    let plaintext: Buffer;
    try {
      plaintext = ticket.sessionKey.decrypt(KeyUsage.AP_REP_ENC_PART, encPart.cipher);
    } catch (error) {
      throw new KerberosError(
        "protocol",
        `the AP-REP of ${this.service} does not decrypt with the ticket's session key: ` +
          "the host did not prove it holds the service key",
        { cause: error },
      );
    }
    const part = decodeEncApReplyPart(plaintext);
    // Mutual authentication: the acceptor echoes our authenticator's time (RFC 4120 3.2.5).
    if (part.ctime.getTime() !== this.ctime?.getTime() || part.cusec !== this.cusec) {
      throw new KerberosError(
        "protocol",
        `the AP-REP of ${this.service} does not echo our authenticator: mutual authentication failed`,
      );
    }
    let key = this.subkey!;
    let acceptorSubkey = false;
    if (part.subkey !== undefined) {
      const offered = new KerberosKey(part.subkey.keytype, Buffer.from(part.subkey.keyvalue));
      // An rc4 context keeps our rc4 subkey (RFC 4757 7's Kss): an acceptor subkey exists for
      // CFX (RFC 4121 2). MIT's acceptor sends none for rc4, and MIT's initiator ignores an
      // rc4 one when its own subkey is rc4 too; one of another enctype, it takes, as we do.
      if (!(offered.etype === EncryptionType.RC4_HMAC && key.etype === EncryptionType.RC4_HMAC)) {
        key = offered;
        acceptorSubkey = true;
      }
    }
    this.messages = createMessageSession({
      key,
      initiator: true,
      acceptorSubkey,
      sendSequence: this.sequence,
      // An AP-REP without a sequence number: the acceptor counts from ours, as MIT and Windows do.
      receiveSequence: part.seqNumber === undefined ? this.sequence : part.seqNumber >>> 0,
    });
  }
}
