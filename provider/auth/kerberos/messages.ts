/**
 * Kerberos V5 messages (RFC 4120 5): the types the initiator and acceptor exchange, with an
 * encoder and a decoder for each. Decoders take untrusted bytes and fail with ProtocolError;
 * they keep the raw encoding where a later step must hash or re-send it exactly (a Ticket, the
 * KDC-REQ-BODY).
 */
import { ProtocolError } from "../../errors";
import { DerNode, der } from "./asn1";

export const MessageType = Object.freeze({
  AS_REQ: 10,
  AS_REP: 11,
  TGS_REQ: 12,
  TGS_REP: 13,
  AP_REQ: 14,
  AP_REP: 15,
  ERROR: 30,
} as const);

/** Application tags of the encrypted parts (RFC 4120 5.3, 5.4.2, 5.5.1, 5.5.2). */
const Application = Object.freeze({
  TICKET: 1,
  AUTHENTICATOR: 2,
  ENC_TICKET_PART: 3,
  ENC_AS_REP_PART: 25,
  ENC_TGS_REP_PART: 26,
  ENC_AP_REP_PART: 27,
} as const);

/** Name types (RFC 4120 6.2). */
export const NameType = Object.freeze({ PRINCIPAL: 1, SRV_INST: 2, SRV_HST: 3 } as const);

/** Pre-authentication data types (RFC 4120 7.5.2, RFC 6113). */
export const PaDataType = Object.freeze({
  TGS_REQ: 1,
  ENC_TIMESTAMP: 2,
  PW_SALT: 3,
  ETYPE_INFO: 11,
  ETYPE_INFO2: 19,
  PAC_REQUEST: 128,
} as const);

/** Key usage numbers (RFC 4120 7.5.1). */
export const KeyUsage = Object.freeze({
  AS_REQ_TIMESTAMP: 1,
  TICKET: 2,
  AS_REP_ENC_PART: 3,
  TGS_REQ_AUTH_CHECKSUM: 6,
  TGS_REQ_AUTHENTICATOR: 7,
  TGS_REP_ENC_PART_SESSION_KEY: 8,
  TGS_REP_ENC_PART_SUBKEY: 9,
  AP_REQ_AUTHENTICATOR_CHECKSUM: 10,
  AP_REQ_AUTHENTICATOR: 11,
  AP_REP_ENC_PART: 12,
} as const);

/** KDCOptions bits (RFC 4120 5.4.1), as 32-bit values with bit 0 the most significant. */
export const KdcOptions = Object.freeze({
  FORWARDABLE: 1 << (31 - 1),
  RENEWABLE: 1 << (31 - 8),
  CANONICALIZE: 1 << (31 - 15),
  RENEWABLE_OK: 1 << (31 - 27),
} as const);

/** APOptions bits (RFC 4120 5.5.1). */
export const ApOptions = Object.freeze({ MUTUAL_REQUIRED: 1 << (31 - 2) } as const);

export interface PrincipalName {
  nameType: number;
  names: string[];
}

export interface EncryptedData {
  etype: number;
  kvno?: number;
  cipher: Buffer;
}

export interface EncryptionKeyValue {
  keytype: number;
  keyvalue: Buffer;
}

export interface Checksum {
  cksumtype: number;
  checksum: Buffer;
}

export interface PaData {
  type: number;
  value: Buffer;
}

export interface Ticket {
  realm: string;
  sname: PrincipalName;
  encPart: EncryptedData;
  /** The Ticket exactly as received, to be sent on in AP-REQs and credential caches. */
  encoded: Buffer;
}

export function principalToString(name: PrincipalName, realm?: string): string {
  const text = name.names.map((part) => part.replace(/([/@\\])/g, "\\$1")).join("/");
  return realm === undefined ? text : `${text}@${realm}`;
}

// ----------------------------------------------------------------------------- common types

export function encodePrincipalName(name: PrincipalName): Buffer {
  return der.sequence(
    der.field(0, der.integer(name.nameType)),
    der.field(1, der.sequenceOf(name.names.map(der.string))),
  );
}

export function decodePrincipalName(node: DerNode): PrincipalName {
  node.expectTag(0x30, "PrincipalName");
  return {
    nameType: node.field(0, "name-type").integer("name-type"),
    names: node
      .field(1, "name-string")
      .sequenceOf("name-string")
      .map((part) => part.string("name-string")),
  };
}

export function encodeEncryptedData(value: EncryptedData): Buffer {
  return der.sequence(
    der.field(0, der.integer(value.etype)),
    der.field(1, value.kvno === undefined ? undefined : der.integer(value.kvno)),
    der.field(2, der.octets(value.cipher)),
  );
}

export function decodeEncryptedData(node: DerNode): EncryptedData {
  node.expectTag(0x30, "EncryptedData");
  const kvno = node.optional(1, "kvno")?.integer("kvno");
  return {
    etype: node.field(0, "etype").integer("etype"),
    ...(kvno === undefined ? {} : { kvno }),
    cipher: node.field(2, "cipher").octets("cipher"),
  };
}

export function encodeEncryptionKey(key: EncryptionKeyValue): Buffer {
  return der.sequence(
    der.field(0, der.integer(key.keytype)),
    der.field(1, der.octets(key.keyvalue)),
  );
}

export function decodeEncryptionKey(node: DerNode): EncryptionKeyValue {
  node.expectTag(0x30, "EncryptionKey");
  return {
    keytype: node.field(0, "keytype").integer("keytype"),
    keyvalue: node.field(1, "keyvalue").octets("keyvalue"),
  };
}

export function encodeChecksum(value: Checksum): Buffer {
  return der.sequence(
    der.field(0, der.integer(value.cksumtype)),
    der.field(1, der.octets(value.checksum)),
  );
}

export function decodeChecksum(node: DerNode): Checksum {
  node.expectTag(0x30, "Checksum");
  return {
    cksumtype: node.field(0, "cksumtype").integer("cksumtype"),
    checksum: node.field(1, "checksum").octets("checksum"),
  };
}

function encodePaData(items: readonly PaData[]): Buffer {
  return der.sequenceOf(
    items.map((item) =>
      der.sequence(der.field(1, der.integer(item.type)), der.field(2, der.octets(item.value))),
    ),
  );
}

export function decodePaDataList(node: DerNode): PaData[] {
  return node.sequenceOf("PA-DATA").map((item) => {
    item.expectTag(0x30, "PA-DATA");
    return {
      type: item.field(1, "padata-type").integer("padata-type"),
      value: item.field(2, "padata-value").octets("padata-value"),
    };
  });
}

export function decodeTicket(node: DerNode): Ticket {
  const body = node.application(Application.TICKET, "Ticket");
  const vno = body.field(0, "tkt-vno").integer("tkt-vno");
  if (vno !== 5) body.fail(`tkt-vno is ${vno}, not 5`);
  return {
    realm: body.field(1, "realm").string("realm"),
    sname: decodePrincipalName(body.field(2, "sname")),
    encPart: decodeEncryptedData(body.field(3, "enc-part")),
    encoded: Buffer.from(node.encoded),
  };
}

export function encodeTicket(ticket: Omit<Ticket, "encoded">): Buffer {
  return der.application(
    Application.TICKET,
    der.sequence(
      der.field(0, der.integer(5)),
      der.field(1, der.string(ticket.realm)),
      der.field(2, encodePrincipalName(ticket.sname)),
      der.field(3, encodeEncryptedData(ticket.encPart)),
    ),
  );
}

// ----------------------------------------------------------------------------- KDC exchange

export interface KdcRequestBody {
  options: number;
  cname?: PrincipalName;
  realm: string;
  sname: PrincipalName;
  till: Date;
  nonce: number;
  etypes: readonly number[];
}

export function encodeKdcRequestBody(body: KdcRequestBody): Buffer {
  return der.sequence(
    der.field(0, der.flags(body.options)),
    der.field(1, body.cname === undefined ? undefined : encodePrincipalName(body.cname)),
    der.field(2, der.string(body.realm)),
    der.field(3, encodePrincipalName(body.sname)),
    der.field(5, der.time(body.till)),
    der.field(7, der.integer(body.nonce)),
    der.field(8, der.sequenceOf(body.etypes.map((etype) => der.integer(etype)))),
  );
}

/** AS-REQ or TGS-REQ around an already encoded KDC-REQ-BODY (the TGS checksum covers it). */
export function encodeKdcRequest(
  msgType: typeof MessageType.AS_REQ | typeof MessageType.TGS_REQ,
  padata: readonly PaData[],
  encodedBody: Buffer,
): Buffer {
  return der.application(
    msgType,
    der.sequence(
      der.field(1, der.integer(5)),
      der.field(2, der.integer(msgType)),
      der.field(3, padata.length === 0 ? undefined : encodePaData(padata)),
      der.field(4, encodedBody),
    ),
  );
}

export interface KdcReply {
  msgType: number;
  padata: PaData[];
  crealm: string;
  cname: PrincipalName;
  ticket: Ticket;
  encPart: EncryptedData;
}

export function decodeKdcReply(node: DerNode, msgType: number): KdcReply {
  const structure = msgType === MessageType.AS_REP ? "AS-REP" : "TGS-REP";
  const body = node.named(structure).application(msgType, structure);
  const pvno = body.field(0, "pvno").integer("pvno");
  if (pvno !== 5) body.fail(`pvno is ${pvno}, not 5`);
  const type = body.field(1, "msg-type").integer("msg-type");
  if (type !== msgType) body.fail(`msg-type is ${type}, expected ${msgType}`);
  const padata = body.optional(2, "padata");
  return {
    msgType,
    padata: padata === undefined ? [] : decodePaDataList(padata),
    crealm: body.field(3, "crealm").string("crealm"),
    cname: decodePrincipalName(body.field(4, "cname")),
    ticket: decodeTicket(body.field(5, "ticket")),
    encPart: decodeEncryptedData(body.field(6, "enc-part")),
  };
}

export interface EncKdcReplyPart {
  key: EncryptionKeyValue;
  nonce: number;
  flags: number;
  authtime: Date;
  starttime?: Date;
  endtime: Date;
  renewTill?: Date;
  srealm: string;
  sname: PrincipalName;
}

/** EncASRepPart or EncTGSRepPart; either tag is accepted for either reply, as KDCs mix them. */
export function decodeEncKdcReplyPart(plaintext: Uint8Array): EncKdcReplyPart {
  const node = DerNode.parse(plaintext, "EncKDCRepPart");
  const tag = node.tag & 0x1f;
  const body = node.application(
    tag === Application.ENC_TGS_REP_PART
      ? Application.ENC_TGS_REP_PART
      : Application.ENC_AS_REP_PART,
    "EncKDCRepPart",
  );
  const starttime = body.optional(6, "starttime")?.time("starttime");
  const renewTill = body.optional(8, "renew-till")?.time("renew-till");
  return {
    key: decodeEncryptionKey(body.field(0, "key")),
    nonce: body.field(2, "nonce").integer("nonce"),
    flags: body.field(4, "flags").flags("flags"),
    authtime: body.field(5, "authtime").time("authtime"),
    ...(starttime === undefined ? {} : { starttime }),
    endtime: body.field(7, "endtime").time("endtime"),
    ...(renewTill === undefined ? {} : { renewTill }),
    srealm: body.field(9, "srealm").string("srealm"),
    sname: decodePrincipalName(body.field(10, "sname")),
  };
}

export function encodeEncKdcReplyPart(
  application: typeof Application.ENC_AS_REP_PART | typeof Application.ENC_TGS_REP_PART,
  part: EncKdcReplyPart,
): Buffer {
  return der.application(
    application,
    der.sequence(
      der.field(0, encodeEncryptionKey(part.key)),
      der.field(1, der.sequenceOf([])),
      der.field(2, der.integer(part.nonce)),
      der.field(4, der.flags(part.flags)),
      der.field(5, der.time(part.authtime)),
      der.field(6, part.starttime === undefined ? undefined : der.time(part.starttime)),
      der.field(7, der.time(part.endtime)),
      der.field(8, part.renewTill === undefined ? undefined : der.time(part.renewTill)),
      der.field(9, der.string(part.srealm)),
      der.field(10, encodePrincipalName(part.sname)),
    ),
  );
}

/** PA-ENC-TS-ENC (RFC 4120 5.2.7.2), before encryption with key usage 1. */
export function encodeEncryptedTimestamp(now: Date): Buffer {
  const seconds = new Date(Math.floor(now.getTime() / 1000) * 1000);
  return der.sequence(
    der.field(0, der.time(seconds)),
    der.field(1, der.integer((now.getTime() % 1000) * 1000)),
  );
}

export interface EtypeInfo {
  etype: number;
  salt?: string;
  s2kparams?: Buffer;
}

/** ETYPE-INFO2 (RFC 4120 5.2.7.5) or the older ETYPE-INFO (5.2.7.4), whose salt is octets. */
export function decodeEtypeInfo(value: Uint8Array, type: number): EtypeInfo[] {
  const structure = type === PaDataType.ETYPE_INFO2 ? "ETYPE-INFO2" : "ETYPE-INFO";
  return DerNode.parse(value, structure)
    .sequenceOf(structure)
    .map((entry) => {
      entry.expectTag(0x30, structure);
      const saltNode = entry.optional(1, "salt");
      const salt =
        saltNode === undefined
          ? undefined
          : type === PaDataType.ETYPE_INFO2
            ? saltNode.string("salt")
            : saltNode.octets("salt").toString("utf8");
      const s2kparams =
        type === PaDataType.ETYPE_INFO2
          ? entry.optional(2, "s2kparams")?.octets("s2kparams")
          : undefined;
      return {
        etype: entry.field(0, "etype").integer("etype"),
        ...(salt === undefined ? {} : { salt }),
        ...(s2kparams === undefined ? {} : { s2kparams }),
      };
    });
}

export function encodeEtypeInfo2(entries: readonly EtypeInfo[]): Buffer {
  return der.sequenceOf(
    entries.map((entry) =>
      der.sequence(
        der.field(0, der.integer(entry.etype)),
        der.field(1, entry.salt === undefined ? undefined : der.string(entry.salt)),
        der.field(2, entry.s2kparams === undefined ? undefined : der.octets(entry.s2kparams)),
      ),
    ),
  );
}

// ----------------------------------------------------------------------------- KRB-ERROR

export interface KrbErrorMessage {
  errorCode: number;
  stime: Date;
  realm: string;
  sname: PrincipalName;
  crealm?: string;
  cname?: PrincipalName;
  eText?: string;
  eData?: Buffer;
}

export function decodeKrbError(node: DerNode): KrbErrorMessage {
  const body = node.named("KRB-ERROR").application(MessageType.ERROR, "KRB-ERROR");
  const crealm = body.optional(7, "crealm")?.string("crealm");
  const cnameNode = body.optional(8, "cname");
  const eText = body.optional(11, "e-text")?.string("e-text");
  const eData = body.optional(12, "e-data")?.octets("e-data");
  return {
    errorCode: body.field(6, "error-code").integer("error-code"),
    stime: body.field(4, "stime").time("stime"),
    realm: body.field(9, "realm").string("realm"),
    sname: decodePrincipalName(body.field(10, "sname")),
    ...(crealm === undefined ? {} : { crealm }),
    ...(cnameNode === undefined ? {} : { cname: decodePrincipalName(cnameNode) }),
    ...(eText === undefined ? {} : { eText }),
    ...(eData === undefined ? {} : { eData }),
  };
}

export function encodeKrbError(error: KrbErrorMessage): Buffer {
  const now = error.stime;
  return der.application(
    MessageType.ERROR,
    der.sequence(
      der.field(0, der.integer(5)),
      der.field(1, der.integer(MessageType.ERROR)),
      der.field(4, der.time(now)),
      der.field(5, der.integer((now.getTime() % 1000) * 1000)),
      der.field(6, der.integer(error.errorCode)),
      der.field(7, error.crealm === undefined ? undefined : der.string(error.crealm)),
      der.field(8, error.cname === undefined ? undefined : encodePrincipalName(error.cname)),
      der.field(9, der.string(error.realm)),
      der.field(10, encodePrincipalName(error.sname)),
      der.field(11, error.eText === undefined ? undefined : der.string(error.eText)),
      der.field(12, error.eData === undefined ? undefined : der.octets(error.eData)),
    ),
  );
}

/** The METHOD-DATA (a SEQUENCE OF PA-DATA) a KDC puts in e-data with PREAUTH_REQUIRED. */
export function decodeMethodData(eData: Uint8Array): PaData[] {
  return decodePaDataList(DerNode.parse(eData, "METHOD-DATA"));
}

export function encodeMethodData(items: readonly PaData[]): Buffer {
  return encodePaData(items);
}

/** Which message a KDC or acceptor reply is, from its APPLICATION tag. */
export function replyKind(data: Uint8Array, structure: string): { node: DerNode; msgType: number } {
  const node = DerNode.parse(data, structure);
  if ((node.tag & 0xe0) !== 0x60) {
    throw new ProtocolError(
      structure,
      `expected an APPLICATION tag, found 0x${node.tag.toString(16)}`,
    );
  }
  return { node, msgType: node.tag & 0x1f };
}

// ----------------------------------------------------------------------------- AP exchange

export interface Authenticator {
  crealm: string;
  cname: PrincipalName;
  cksum?: Checksum;
  cusec: number;
  ctime: Date;
  subkey?: EncryptionKeyValue;
  seqNumber?: number;
}

export function encodeAuthenticator(value: Authenticator): Buffer {
  return der.application(
    Application.AUTHENTICATOR,
    der.sequence(
      der.field(0, der.integer(5)),
      der.field(1, der.string(value.crealm)),
      der.field(2, encodePrincipalName(value.cname)),
      der.field(3, value.cksum === undefined ? undefined : encodeChecksum(value.cksum)),
      der.field(4, der.integer(value.cusec)),
      der.field(5, der.time(value.ctime)),
      der.field(6, value.subkey === undefined ? undefined : encodeEncryptionKey(value.subkey)),
      der.field(7, value.seqNumber === undefined ? undefined : der.integer(value.seqNumber)),
    ),
  );
}

export function decodeAuthenticator(plaintext: Uint8Array): Authenticator {
  const body = DerNode.parse(plaintext, "Authenticator").application(
    Application.AUTHENTICATOR,
    "Authenticator",
  );
  const vno = body.field(0, "authenticator-vno").integer("authenticator-vno");
  if (vno !== 5) body.fail(`authenticator-vno is ${vno}, not 5`);
  const cksum = body.optional(3, "cksum");
  const subkey = body.optional(6, "subkey");
  const seqNumber = body.optional(7, "seq-number")?.integer("seq-number");
  return {
    crealm: body.field(1, "crealm").string("crealm"),
    cname: decodePrincipalName(body.field(2, "cname")),
    ...(cksum === undefined ? {} : { cksum: decodeChecksum(cksum) }),
    cusec: body.field(4, "cusec").integer("cusec"),
    ctime: body.field(5, "ctime").time("ctime"),
    ...(subkey === undefined ? {} : { subkey: decodeEncryptionKey(subkey) }),
    ...(seqNumber === undefined ? {} : { seqNumber }),
  };
}

export interface ApRequest {
  options: number;
  ticket: Ticket;
  authenticator: EncryptedData;
}

export function encodeApRequest(options: number, ticket: Buffer, authenticator: EncryptedData) {
  return der.application(
    MessageType.AP_REQ,
    der.sequence(
      der.field(0, der.integer(5)),
      der.field(1, der.integer(MessageType.AP_REQ)),
      der.field(2, der.flags(options)),
      der.field(3, ticket),
      der.field(4, encodeEncryptedData(authenticator)),
    ),
  );
}

export function decodeApRequest(node: DerNode): ApRequest {
  const body = node.named("AP-REQ").application(MessageType.AP_REQ, "AP-REQ");
  const type = body.field(1, "msg-type").integer("msg-type");
  if (type !== MessageType.AP_REQ) body.fail(`msg-type is ${type}, not AP-REQ`);
  return {
    options: body.field(2, "ap-options").flags("ap-options"),
    ticket: decodeTicket(body.field(3, "ticket")),
    authenticator: decodeEncryptedData(body.field(4, "authenticator")),
  };
}

export interface EncApReplyPart {
  ctime: Date;
  cusec: number;
  subkey?: EncryptionKeyValue;
  seqNumber?: number;
}

export function encodeApReply(encPart: EncryptedData): Buffer {
  return der.application(
    MessageType.AP_REP,
    der.sequence(
      der.field(0, der.integer(5)),
      der.field(1, der.integer(MessageType.AP_REP)),
      der.field(2, encodeEncryptedData(encPart)),
    ),
  );
}

export function decodeApReply(node: DerNode): EncryptedData {
  const body = node.named("AP-REP").application(MessageType.AP_REP, "AP-REP");
  const type = body.field(1, "msg-type").integer("msg-type");
  if (type !== MessageType.AP_REP) body.fail(`msg-type is ${type}, not AP-REP`);
  return decodeEncryptedData(body.field(2, "enc-part"));
}

export function encodeEncApReplyPart(part: EncApReplyPart): Buffer {
  return der.application(
    Application.ENC_AP_REP_PART,
    der.sequence(
      der.field(0, der.time(part.ctime)),
      der.field(1, der.integer(part.cusec)),
      der.field(2, part.subkey === undefined ? undefined : encodeEncryptionKey(part.subkey)),
      der.field(3, part.seqNumber === undefined ? undefined : der.integer(part.seqNumber)),
    ),
  );
}

export function decodeEncApReplyPart(plaintext: Uint8Array): EncApReplyPart {
  const body = DerNode.parse(plaintext, "EncAPRepPart").application(
    Application.ENC_AP_REP_PART,
    "EncAPRepPart",
  );
  const subkey = body.optional(2, "subkey");
  const seqNumber = body.optional(3, "seq-number")?.integer("seq-number");
  return {
    ctime: body.field(0, "ctime").time("ctime"),
    cusec: body.field(1, "cusec").integer("cusec"),
    ...(subkey === undefined ? {} : { subkey: decodeEncryptionKey(subkey) }),
    ...(seqNumber === undefined ? {} : { seqNumber }),
  };
}

export interface EncTicketPart {
  flags: number;
  key: EncryptionKeyValue;
  crealm: string;
  cname: PrincipalName;
  authtime: Date;
  starttime?: Date;
  endtime: Date;
}

/** The part of a service ticket only the service can read (RFC 4120 5.3), for the acceptor. */
export function decodeEncTicketPart(plaintext: Uint8Array): EncTicketPart {
  const body = DerNode.parse(plaintext, "EncTicketPart").application(
    Application.ENC_TICKET_PART,
    "EncTicketPart",
  );
  const starttime = body.optional(6, "starttime")?.time("starttime");
  return {
    flags: body.field(0, "flags").flags("flags"),
    key: decodeEncryptionKey(body.field(1, "key")),
    crealm: body.field(2, "crealm").string("crealm"),
    cname: decodePrincipalName(body.field(3, "cname")),
    authtime: body.field(5, "authtime").time("authtime"),
    ...(starttime === undefined ? {} : { starttime }),
    endtime: body.field(7, "endtime").time("endtime"),
  };
}
