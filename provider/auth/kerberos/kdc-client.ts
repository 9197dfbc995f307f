/**
 * The client side of the KDC exchanges (RFC 4120 3.1, 3.3): an AS exchange for a ticket-granting
 * ticket with PA-ENC-TIMESTAMP pre-authentication, and a TGS exchange for a service ticket.
 *
 *   AS-REQ  (no pre-authentication)            ->  KRB-ERROR PREAUTH_REQUIRED + ETYPE-INFO2
 *   AS-REQ  (PA-ENC-TIMESTAMP, the user's key) ->  AS-REP, enc-part under the user's key
 *   TGS-REQ (PA-TGS-REQ: AP-REQ with the TGT)  ->  TGS-REP, enc-part under the TGT session key
 */
import { randomBytes } from "node:crypto";
import { KerberosError } from "../../errors";
import { findProfile, KerberosKey, EncryptionType } from "./crypto/index";
import { fromKrbError, KrbErrorCode } from "./errors";
import type { KdcAddress } from "./kdc-address";
import { exchangeWithKdc } from "./kdc-transport";
import {
  decodeEncKdcReplyPart,
  decodeEtypeInfo,
  decodeKdcReply,
  decodeKrbError,
  decodeMethodData,
  encodeEncryptedData,
  encodeApRequest,
  encodeAuthenticator,
  encodeEncryptedTimestamp,
  encodeKdcRequest,
  encodeKdcRequestBody,
  type EncKdcReplyPart,
  KdcOptions,
  KeyUsage,
  MessageType,
  NameType,
  type PaData,
  PaDataType,
  type PrincipalName,
  principalToString,
  replyKind,
  type Ticket,
} from "./messages";
import { type ClientPrincipal, defaultSalt } from "./principal";

/** The enctypes asked for, strongest first (RFC 4120 5.4.1: the KDC picks the first it can). */
export const DEFAULT_ENCTYPES: readonly number[] = [
  EncryptionType.AES256_CTS_HMAC_SHA1_96,
  EncryptionType.AES128_CTS_HMAC_SHA1_96,
  EncryptionType.RC4_HMAC,
];

/** A ticket and what its holder needs to use it. */
export interface Credential {
  client: ClientPrincipal;
  server: PrincipalName;
  serverRealm: string;
  ticket: Ticket;
  sessionKey: KerberosKey;
  flags: number;
  authtime: Date;
  starttime?: Date;
  endtime: Date;
  renewTill?: Date;
}

/** How the user's long-term key is had: from a password (with the KDC's salt) or given. */
export type LongTermKeys =
  { password: string } | { keys: ReadonlyArray<{ etype: number; value: Buffer }> };

export interface KdcClientOptions {
  client: ClientPrincipal;
  kdcs: readonly KdcAddress[];
  secret: LongTermKeys;
  enctypes?: readonly number[];
  timeoutMs?: number;
  /** The clock; tests move it to provoke skew. */
  now?: () => Date;
  /** Ticket lifetime asked for. */
  lifetimeMs?: number;
}

const DEFAULT_LIFETIME_MS = 10 * 60 * 60 * 1000;

function nonce(): number {
  return randomBytes(4).readUInt32BE(0) & 0x7fffffff;
}

export class KdcClient {
  private readonly now: () => Date;
  private readonly enctypes: readonly number[];

  constructor(private readonly options: KdcClientOptions) {
    this.now = options.now ?? (() => new Date());
    this.enctypes = options.enctypes ?? DEFAULT_ENCTYPES;
  }

  private get principal(): ClientPrincipal {
    return this.options.client;
  }

  private async send(request: Buffer, realm: string): Promise<Buffer> {
    return exchangeWithKdc(this.options.kdcs, request, {
      realm,
      ...(this.options.timeoutMs === undefined ? {} : { timeoutMs: this.options.timeoutMs }),
    });
  }

  private fail(reply: ReturnType<typeof replyKind>, service?: string): never {
    throw fromKrbError(decodeKrbError(reply.node), {
      client: this.principal.text,
      ...(service === undefined ? {} : { service }),
      now: this.now(),
    });
  }

  /** The user's key for `etype`, made from the password with the salt the KDC announced. */
  private userKey(
    etype: number,
    salt: string | undefined,
    params: Buffer | undefined,
  ): KerberosKey {
    const secret = this.options.secret;
    if ("password" in secret) {
      return KerberosKey.fromPassword(
        etype,
        secret.password,
        salt ?? defaultSalt(this.principal),
        params,
      );
    }
    const key = secret.keys.find((entry) => entry.etype === etype);
    if (key === undefined) {
      throw new KerberosError(
        "unsupported-enctype",
        `the KDC wants a ${findProfile(etype)?.name ?? `type ${etype}`} key for ` +
          `${this.principal.text}, and the keytab has none`,
        { user: this.principal.text },
      );
    }
    return new KerberosKey(etype, key.value);
  }

  /** Which etypes to offer: with given keys, only those the keys cover. */
  private offeredEnctypes(): number[] {
    const secret = this.options.secret;
    if ("password" in secret) return [...this.enctypes];
    return this.enctypes.filter((etype) => secret.keys.some((key) => key.etype === etype));
  }

  /** The AS exchange: a ticket-granting ticket for the client. */
  async getTicketGrantingTicket(): Promise<Credential> {
    const { client } = this.options;
    const tgs: PrincipalName = { nameType: NameType.SRV_INST, names: ["krbtgt", client.realm] };
    const etypes = this.offeredEnctypes();
    const request = (padata: PaData[], requestNonce: number) =>
      encodeKdcRequest(
        MessageType.AS_REQ,
        padata,
        encodeKdcRequestBody({
          options: KdcOptions.CANONICALIZE | KdcOptions.RENEWABLE_OK,
          cname: client.name,
          realm: client.realm,
          sname: tgs,
          till: new Date(this.now().getTime() + (this.options.lifetimeMs ?? DEFAULT_LIFETIME_MS)),
          nonce: requestNonce,
          etypes,
        }),
      );

    let requestNonce = nonce();
    let reply = replyKind(await this.send(request([], requestNonce), client.realm), "AS-REP");
    let hint: { etype: number; salt?: string; s2kparams?: Buffer } | undefined;
    if (reply.msgType === MessageType.ERROR) {
      const error = decodeKrbError(reply.node);
      if (error.errorCode !== KrbErrorCode.KDC_ERR_PREAUTH_REQUIRED) this.fail(reply);
      hint = this.chooseEtype(
        error.eData === undefined ? [] : decodeMethodData(error.eData),
        etypes,
      );
      const key = this.userKey(hint.etype, hint.salt, hint.s2kparams);
      const timestamp = key.encrypt(
        KeyUsage.AS_REQ_TIMESTAMP,
        encodeEncryptedTimestamp(this.now()),
      );
      const encryptedData = encodeEncryptedData({
        etype: key.etype,
        cipher: timestamp,
      });
      requestNonce = nonce();
      reply = replyKind(
        await this.send(
          request([{ type: PaDataType.ENC_TIMESTAMP, value: encryptedData }], requestNonce),
          client.realm,
        ),
        "AS-REP",
      );
      if (reply.msgType === MessageType.ERROR) this.fail(reply);
    }
    if (reply.msgType !== MessageType.AS_REP) {
      throw new KerberosError(
        "protocol",
        `the KDC answered an AS-REQ with message type ${reply.msgType}`,
      );
    }
    const asRep = decodeKdcReply(reply.node, MessageType.AS_REP);
    // The reply's own ETYPE-INFO2 (or PW-SALT) rules when present: a principal without
    // pre-authentication gets its salt only here.
    const replyHint = this.replySalt(asRep.padata, asRep.encPart.etype) ?? hint;
    const key = this.userKey(asRep.encPart.etype, replyHint?.salt, replyHint?.s2kparams);
    let part: EncKdcReplyPart;
    try {
      part = decodeEncKdcReplyPart(key.decrypt(KeyUsage.AS_REP_ENC_PART, asRep.encPart.cipher));
    } catch (error) {
      throw new KerberosError(
        "wrong-password",
        `the AS-REP for ${client.text} does not decrypt with the password's key: check the password`,
        { user: client.text, cause: error },
      );
    }
    return this.credential(part, requestNonce, asRep.ticket, client.realm);
  }

  private chooseEtype(methodData: PaData[], offered: readonly number[]) {
    const infos = methodData
      .filter((item) => item.type === PaDataType.ETYPE_INFO2 || item.type === PaDataType.ETYPE_INFO)
      .sort((a, b) => b.type - a.type)
      .flatMap((item) => decodeEtypeInfo(item.value, item.type));
    const usable = infos.find((info) => offered.includes(info.etype) && findProfile(info.etype));
    if (usable !== undefined) return usable;
    if (infos.length === 0 && offered.length > 0) {
      const pwSalt = methodData.find((item) => item.type === PaDataType.PW_SALT);
      return {
        etype: offered[0]!,
        ...(pwSalt === undefined ? {} : { salt: pwSalt.value.toString("utf8") }),
      };
    }
    throw new KerberosError(
      "unsupported-enctype",
      `the KDC offers ${this.principal.text} only encryption types ${infos.map((info) => info.etype).join(", ")}, ` +
        "none of which this client speaks (aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96, rc4-hmac)",
      { user: this.principal.text },
    );
  }

  private replySalt(padata: PaData[], etype: number) {
    for (const item of padata) {
      if (item.type === PaDataType.ETYPE_INFO2 || item.type === PaDataType.ETYPE_INFO) {
        const match = decodeEtypeInfo(item.value, item.type).find((info) => info.etype === etype);
        if (match) return match;
      }
      if (item.type === PaDataType.PW_SALT) return { etype, salt: item.value.toString("utf8") };
    }
    return undefined;
  }

  private credential(
    part: EncKdcReplyPart,
    requestNonce: number,
    ticket: Ticket,
    expectedRealm: string,
  ): Credential {
    if (part.nonce !== requestNonce) {
      throw new KerberosError(
        "protocol",
        "the KDC's reply answers another request (nonce mismatch)",
      );
    }
    if (
      part.srealm.toUpperCase() !== expectedRealm.toUpperCase() &&
      part.sname.names[0] !== "krbtgt"
    ) {
      throw new KerberosError(
        "protocol",
        `the KDC's reply is for realm ${part.srealm}, not ${expectedRealm}`,
      );
    }
    return {
      client: this.principal,
      server: part.sname,
      serverRealm: part.srealm,
      ticket,
      sessionKey: new KerberosKey(part.key.keytype, part.key.keyvalue),
      flags: part.flags,
      authtime: part.authtime,
      ...(part.starttime === undefined ? {} : { starttime: part.starttime }),
      endtime: part.endtime,
      ...(part.renewTill === undefined ? {} : { renewTill: part.renewTill }),
    };
  }

  /** The TGS exchange: a ticket for `service` (such as HTTP/host.example.com) from the TGT. */
  async getServiceTicket(
    tgt: Credential,
    service: PrincipalName,
    realm?: string,
  ): Promise<Credential> {
    const serviceRealm = realm ?? tgt.serverRealm;
    const serviceText = principalToString(service, serviceRealm);
    const requestNonce = nonce();
    const body = encodeKdcRequestBody({
      options: KdcOptions.CANONICALIZE,
      realm: serviceRealm,
      sname: service,
      till: tgt.endtime,
      nonce: requestNonce,
      etypes: this.enctypes,
    });
    const now = this.now();
    const authenticator = encodeAuthenticator({
      crealm: this.principal.realm,
      cname: this.principal.name,
      cksum: {
        cksumtype: tgt.sessionKey.profile.checksumType,
        checksum: tgt.sessionKey.checksum(KeyUsage.TGS_REQ_AUTH_CHECKSUM, body),
      },
      cusec: (now.getTime() % 1000) * 1000,
      ctime: new Date(Math.floor(now.getTime() / 1000) * 1000),
    });
    const apReq = encodeApRequest(0, tgt.ticket.encoded, {
      etype: tgt.sessionKey.etype,
      cipher: tgt.sessionKey.encrypt(KeyUsage.TGS_REQ_AUTHENTICATOR, authenticator),
    });
    const reply = replyKind(
      await this.send(
        encodeKdcRequest(MessageType.TGS_REQ, [{ type: PaDataType.TGS_REQ, value: apReq }], body),
        serviceRealm,
      ),
      "TGS-REP",
    );
    if (reply.msgType === MessageType.ERROR) this.fail(reply, serviceText);
    if (reply.msgType !== MessageType.TGS_REP) {
      throw new KerberosError(
        "protocol",
        `the KDC answered a TGS-REQ with message type ${reply.msgType}`,
      );
    }
    const tgsRep = decodeKdcReply(reply.node, MessageType.TGS_REP);
    let part: EncKdcReplyPart;
    try {
      part = decodeEncKdcReplyPart(
        tgt.sessionKey.decrypt(KeyUsage.TGS_REP_ENC_PART_SESSION_KEY, tgsRep.encPart.cipher),
      );
    } catch (error) {
      throw new KerberosError(
        "protocol",
        "the TGS-REP does not decrypt with the TGT's session key",
        {
          cause: error,
        },
      );
    }
    return this.credential(part, requestNonce, tgsRep.ticket, serviceRealm);
  }
}
