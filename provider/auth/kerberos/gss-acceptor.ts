/**
 * The acceptor of a Kerberos GSS-API context (RFC 4121 4.1, RFC 4120 3.2.3): it opens the
 * ticket with its key from a keytab, checks the authenticator (same client as the ticket, within
 * the clock skew, not replayed, the 0x8003 checksum with channel bindings), and answers with an
 * AP-REP carrying its own subkey (none for rc4-hmac, whose RFC 4757 7 tokens use the
 * initiator's) and sequence number. The loopback host uses it so that the
 * client is tested against a Kerberos-only host as a domain member would be one.
 */
import { createHash } from "node:crypto";
import { AuthenticationError, KerberosError, ProtocolError } from "../../errors";
import { channelBindingsHash } from "../channel-bindings";
import { DerNode } from "./asn1";
import { EncryptionType, KerberosKey, enctypeName } from "./crypto";
import { randomKeyLike, randomSequenceNumber } from "./gss-initiator";
import {
  ContextTokenId,
  GSS_CHECKSUM_TYPE,
  decodeContextToken,
  decodeGssChecksum,
  encodeContextToken,
} from "./gss-token";
import { type KeytabEntry, keytabPrincipal } from "./keytab";
import {
  ApOptions,
  KeyUsage,
  type PrincipalName,
  decodeApRequest,
  decodeAuthenticator,
  decodeEncTicketPart,
  encodeApReply,
  encodeEncApReplyPart,
  principalToString,
} from "./messages";
import { type KerberosMessageSession, createMessageSession } from "./message-session";

const DEFAULT_SKEW_MS = 5 * 60 * 1000;

export interface KerberosIdentity {
  /** The client principal, user@REALM. */
  principal: string;
  user: string;
  realm: string;
}

export interface KerberosAcceptorOptions {
  /** The service's keys, as a keytab holds them. */
  keys: readonly KeytabEntry[];
  /** tls-server-end-point application data of this TLS connection, when over TLS. */
  channelBindings?: Uint8Array;
  /** As Windows' CbtHardeningLevel: "relaxed" (default) lets a client that sends none in. */
  channelBindingPolicy?: "none" | "relaxed" | "strict";
  now?: () => Date;
  maxSkewMs?: number;
  /** Authenticators already seen; share one between the contexts of a listener. */
  replayCache?: ReplayCache;
}

/** Remembers authenticators for the skew window, so a captured AP-REQ cannot be played again. */
export class ReplayCache {
  private readonly seen = new Map<string, number>();

  constructor(private readonly windowMs = 2 * DEFAULT_SKEW_MS) {}

  /** False when this authenticator was seen before. */
  admit(authenticatorCipher: Uint8Array, now: number): boolean {
    for (const [key, expires] of this.seen) {
      if (expires > now) break;
      this.seen.delete(key);
    }
    const key = createHash("sha256").update(authenticatorCipher).digest("base64");
    if (this.seen.has(key)) return false;
    this.seen.set(key, now + this.windowMs);
    return true;
  }
}

function samePrincipal(a: PrincipalName, b: PrincipalName): boolean {
  return a.names.length === b.names.length && a.names.every((name, i) => name === b.names[i]);
}

type State = "initial" | "complete" | "failed";

export class KerberosAcceptor {
  private state: State = "initial";
  private messages: KerberosMessageSession | undefined;
  private who: KerberosIdentity | undefined;
  private readonly now: () => Date;

  constructor(private readonly options: KerberosAcceptorOptions) {
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

  get identity(): KerberosIdentity {
    if (this.who === undefined) {
      throw new AuthenticationError("the Kerberos context is not established yet");
    }
    return this.who;
  }

  /** Reads the initiator's AP-REQ token and returns the AP-REP token. */
  accept(token: Uint8Array): Buffer {
    if (this.state !== "initial") {
      throw new AuthenticationError(`no Kerberos token is expected now (${this.state})`);
    }
    try {
      const reply = this.readRequest(token);
      this.state = "complete";
      return reply;
    } catch (error) {
      this.state = "failed";
      throw error;
    }
  }

  private serviceKey(sname: PrincipalName, realm: string, etype: number, kvno?: number) {
    const candidates = this.options.keys.filter(
      (entry) =>
        entry.realm === realm && samePrincipal(entry.principal, sname) && entry.key.etype === etype,
    );
    const exact = candidates.filter((entry) => kvno === undefined || entry.kvno === kvno);
    const chosen = (exact.length > 0 ? exact : candidates).sort((a, b) => b.kvno - a.kvno)[0];
    if (chosen === undefined) {
      const held = this.options.keys.map(
        (entry) => `${keytabPrincipal(entry)} ${enctypeName(entry.key.etype)}`,
      );
      throw new KerberosError(
        "acceptor-key",
        `no key for ${principalToString(sname, realm)} of enctype ${enctypeName(etype)}` +
          `${kvno === undefined ? "" : ` (kvno ${kvno})`} in the keytab (it holds ${held.join(", ") || "nothing"})`,
      );
    }
    return chosen.key;
  }

  private readRequest(token: Uint8Array): Buffer {
    const { tokenId, message } = decodeContextToken(token);
    if (tokenId !== ContextTokenId.AP_REQ) {
      throw new ProtocolError(
        "Kerberos context token",
        `TOK_ID 0x${tokenId.toString(16)} is not an AP-REQ`,
      );
    }
    const request = decodeApRequest(DerNode.parse(message, "AP-REQ"));
    const { ticket } = request;
    const serviceKey = this.serviceKey(
      ticket.sname,
      ticket.realm,
      ticket.encPart.etype,
      ticket.encPart.kvno,
    );
    const service = principalToString(ticket.sname, ticket.realm);
    let ticketPart;
    try {
      ticketPart = decodeEncTicketPart(serviceKey.decrypt(KeyUsage.TICKET, ticket.encPart.cipher));
    } catch (error) {
      throw new KerberosError(
        "acceptor-key",
        `the ticket for ${service} does not decrypt with the keytab's key: the keytab is stale`,
        { cause: error },
      );
    }
    const client = principalToString(ticketPart.cname, ticketPart.crealm);
    const now = this.now().getTime();
    const skew = this.options.maxSkewMs ?? DEFAULT_SKEW_MS;
    const starts = (ticketPart.starttime ?? ticketPart.authtime).getTime();
    if (ticketPart.endtime.getTime() + skew < now || starts - skew > now) {
      throw new KerberosError(
        "ticket-expired",
        `the ticket of ${client} for ${service} is not valid now (it ends ${ticketPart.endtime.toISOString()})`,
        { user: client },
      );
    }
    const sessionKey = new KerberosKey(
      ticketPart.key.keytype,
      Buffer.from(ticketPart.key.keyvalue),
    );
    let authenticator;
    try {
      authenticator = decodeAuthenticator(
        sessionKey.decrypt(KeyUsage.AP_REQ_AUTHENTICATOR, request.authenticator.cipher),
      );
    } catch (error) {
      throw new KerberosError("protocol", `the authenticator of ${client} does not decrypt`, {
        cause: error,
        user: client,
      });
    }
    if (
      authenticator.crealm !== ticketPart.crealm ||
      !samePrincipal(authenticator.cname, ticketPart.cname)
    ) {
      throw new KerberosError(
        "protocol",
        `the authenticator is not from the ticket's client ${client}`,
        {
          user: client,
        },
      );
    }
    const ctime = authenticator.ctime.getTime();
    if (Math.abs(ctime - now) > skew) {
      throw new KerberosError(
        "clock-skew",
        `the clocks of ${client}'s machine and this host differ by about ` +
          `${Math.round(Math.abs(ctime - now) / 1000)} s, more than ${skew / 1000} s: synchronise them (NTP)`,
        { user: client },
      );
    }
    if (
      this.options.replayCache &&
      !this.options.replayCache.admit(request.authenticator.cipher, now)
    ) {
      throw new KerberosError("protocol", `an authenticator of ${client} was replayed`, {
        user: client,
      });
    }
    const cksum = authenticator.cksum;
    if (cksum === undefined || cksum.cksumtype !== GSS_CHECKSUM_TYPE) {
      throw new KerberosError(
        "protocol",
        "the authenticator has no GSS-API checksum (type 0x8003)",
      );
    }
    this.checkChannelBindings(decodeGssChecksum(cksum.checksum).bindings, client);
    if (!(request.options & ApOptions.MUTUAL_REQUIRED)) {
      // WinRM always asks for mutual authentication; without it no AP-REP would be sent and
      // no acceptor subkey agreed.
      throw new KerberosError("protocol", `${client} did not ask for mutual authentication`);
    }

    const initiatorSubkey =
      authenticator.subkey === undefined
        ? sessionKey
        : new KerberosKey(authenticator.subkey.keytype, Buffer.from(authenticator.subkey.keyvalue));
    // RFC 4757 7 tokens are keyed with the initiator's subkey: an rc4 context gets no acceptor
    // subkey, as from MIT's acceptor (MIT's initiator would ignore an rc4 one anyway).
    const acceptorSubkey =
      initiatorSubkey.etype === EncryptionType.RC4_HMAC
        ? undefined
        : randomKeyLike(initiatorSubkey);
    const sequence = randomSequenceNumber();
    const part = encodeEncApReplyPart({
      ctime: authenticator.ctime,
      cusec: authenticator.cusec,
      ...(acceptorSubkey === undefined
        ? {}
        : { subkey: { keytype: acceptorSubkey.etype, keyvalue: acceptorSubkey.value } }),
      seqNumber: sequence,
    });
    const reply = encodeApReply({
      etype: sessionKey.etype,
      cipher: sessionKey.encrypt(KeyUsage.AP_REP_ENC_PART, part),
    });
    this.messages = createMessageSession({
      key: acceptorSubkey ?? initiatorSubkey,
      initiator: false,
      acceptorSubkey: acceptorSubkey !== undefined,
      sendSequence: sequence,
      receiveSequence: (authenticator.seqNumber ?? 0) >>> 0,
    });
    const [user = ""] = ticketPart.cname.names;
    this.who = { principal: client, user, realm: ticketPart.crealm };
    return encodeContextToken(ContextTokenId.AP_REP, reply);
  }

  /** Extended Protection as Windows' CbtHardeningLevel None, Relaxed or Strict enforces it. */
  private checkChannelBindings(received: Buffer, client: string): void {
    const policy = this.options.channelBindingPolicy ?? "relaxed";
    const expected = this.options.channelBindings;
    if (policy === "none" || expected === undefined) return;
    if (received.every((byte) => byte === 0)) {
      if (policy === "strict") {
        throw new KerberosError("protocol", `channel binding is required and ${client} sent none`, {
          user: client,
        });
      }
      return;
    }
    if (!received.equals(channelBindingsHash(expected))) {
      throw new KerberosError(
        "protocol",
        "the channel binding does not match this TLS connection (a relay is possible)",
        { user: client },
      );
    }
  }
}
