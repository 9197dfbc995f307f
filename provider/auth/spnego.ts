/**
 * SPNEGO (RFC 4178, with the Microsoft extensions of MS-SPNG) carrying Kerberos or NTLM: the
 * token codec and the initiator and acceptor state machines around the mechanisms' own.
 *
 * With a Kerberos ticket the initiator offers [Kerberos, NTLM] with its AP-REQ as the optimistic
 * token; an acceptor that takes it answers accept-completed with its AP-REP, and no mechListMIC
 * is needed since the preferred mechanism was chosen (RFC 4178 5). Otherwise:
 *
 * The conversation under HTTP `Negotiate`:
 *   initiator  NegTokenInit  { mechTypes [NTLM], mechToken NEGOTIATE }
 *   acceptor   NegTokenResp  { accept-incomplete, supportedMech NTLM, responseToken CHALLENGE }
 *   initiator  NegTokenResp  { responseToken AUTHENTICATE, mechListMIC }
 *   acceptor   NegTokenResp  { accept-completed, mechListMIC }
 * Each mechListMIC is an NTLM signature over the DER mechTypes list, made with sequence number
 * 0; afterwards the RC4 keystream of that direction restarts and sequence numbers carry on
 * (the behaviour of Windows, which pyspnego reproduces).
 */
import { AuthenticationError, ProtocolError } from "../errors";
import {
  applicationTag,
  contextTag,
  decodeOid,
  DerTag,
  encodeOid,
  encodeTlv,
  expectTlv,
  readChildren,
  readTlv,
} from "./der";
import type { NtlmInitiator } from "./ntlm/context";
import { NTLMSSP_SIGNATURE } from "./ntlm/constants";
import type { NtlmSession } from "./ntlm/security";
import type { KerberosMessageSession } from "./kerberos/message-session";
import type { KerberosInitiator } from "./kerberos/gss-initiator";

export const Oid = Object.freeze({
  SPNEGO: "1.3.6.1.5.5.2",
  NTLMSSP: "1.3.6.1.4.1.311.2.2.10",
  KERBEROS: "1.2.840.113554.1.2.2",
  MS_KERBEROS: "1.2.840.48018.1.2.2",
} as const);

/** negState, RFC 4178 4.2.2. */
export const NegState = Object.freeze({
  ACCEPT_COMPLETED: 0,
  ACCEPT_INCOMPLETE: 1,
  REJECT: 2,
  REQUEST_MIC: 3,
} as const);
export type NegState = (typeof NegState)[keyof typeof NegState];

export interface NegTokenInit {
  mechTypes: string[];
  /** The DER MechTypeList exactly as encoded: what the mechListMIC covers. */
  mechTypesDer: Buffer;
  mechToken: Buffer | undefined;
  mechListMIC: Buffer | undefined;
}

export interface NegTokenResp {
  negState: number | undefined;
  supportedMech: string | undefined;
  responseToken: Buffer | undefined;
  mechListMIC: Buffer | undefined;
}

export type NegotiationToken =
  ({ kind: "init" } & NegTokenInit) | ({ kind: "resp" } & NegTokenResp);

export function encodeMechTypes(mechTypes: readonly string[]): Buffer {
  return encodeTlv(DerTag.SEQUENCE, ...mechTypes.map(encodeOid));
}

/**
 * InitialContextToken (RFC 2743 3.1) holding NegotiationToken.negTokenInit (RFC 4178 4.2.1):
 *   [APPLICATION 0] { OID 1.3.6.1.5.5.2, [0] SEQUENCE { [0] mechTypes, [2] mechToken,
 *   [3] mechListMIC } }
 */
export function encodeNegTokenInit(token: {
  mechTypes: readonly string[];
  mechToken?: Uint8Array;
}): Buffer {
  const fields = [encodeTlv(contextTag(0), encodeMechTypes(token.mechTypes))];
  if (token.mechToken) {
    fields.push(encodeTlv(contextTag(2), encodeTlv(DerTag.OCTET_STRING, token.mechToken)));
  }
  const negTokenInit = encodeTlv(contextTag(0), encodeTlv(DerTag.SEQUENCE, ...fields));
  return encodeTlv(applicationTag(0), encodeOid(Oid.SPNEGO), negTokenInit);
}

/** NegotiationToken.negTokenResp (RFC 4178 4.2.2): [1] SEQUENCE { [0]..[3] all optional }. */
export function encodeNegTokenResp(token: Partial<NegTokenResp>): Buffer {
  const fields: Buffer[] = [];
  if (token.negState !== undefined) {
    const state = encodeTlv(DerTag.ENUMERATED, Buffer.from([token.negState]));
    fields.push(encodeTlv(contextTag(0), state));
  }
  if (token.supportedMech) fields.push(encodeTlv(contextTag(1), encodeOid(token.supportedMech)));
  if (token.responseToken) {
    fields.push(encodeTlv(contextTag(2), encodeTlv(DerTag.OCTET_STRING, token.responseToken)));
  }
  if (token.mechListMIC) {
    fields.push(encodeTlv(contextTag(3), encodeTlv(DerTag.OCTET_STRING, token.mechListMIC)));
  }
  return encodeTlv(contextTag(1), encodeTlv(DerTag.SEQUENCE, ...fields));
}

/** Decodes either NegotiationToken choice, with or without the InitialContextToken wrapper. */
export function decodeNegotiationToken(input: Uint8Array): NegotiationToken {
  const data = Buffer.from(input);
  const outer = readTlv(data, 0, data.length, "NegotiationToken");
  if (outer.end !== data.length) {
    throw new ProtocolError("NegotiationToken", "trailing bytes after the token");
  }
  if (outer.tag === applicationTag(0)) {
    const structure = "InitialContextToken";
    const oid = expectTlv(
      data,
      outer.start,
      outer.end,
      DerTag.OBJECT_IDENTIFIER,
      structure,
      "thisMech",
    );
    const mech = decodeOid(data.subarray(oid.start, oid.end));
    if (mech !== Oid.SPNEGO) throw new ProtocolError(structure, `mechanism ${mech} is not SPNEGO`);
    const init = expectTlv(data, oid.end, outer.end, contextTag(0), structure, "negTokenInit");
    if (init.end !== outer.end) throw new ProtocolError(structure, "trailing bytes");
    return { kind: "init", ...decodeNegTokenInitBody(data, init.start, init.end) };
  }
  if (outer.tag === contextTag(0)) {
    return { kind: "init", ...decodeNegTokenInitBody(data, outer.start, outer.end) };
  }
  if (outer.tag === contextTag(1)) {
    return { kind: "resp", ...decodeNegTokenRespBody(data, outer.start, outer.end) };
  }
  throw new ProtocolError("NegotiationToken", `unexpected tag 0x${outer.tag.toString(16)}`);
}

function octetString(data: Buffer, start: number, end: number, structure: string, what: string) {
  const tlv = expectTlv(data, start, end, DerTag.OCTET_STRING, structure, what);
  return Buffer.from(data.subarray(tlv.start, tlv.end));
}

/*
 * NegTokenInit ::= SEQUENCE {
 *   mechTypes [0] MechTypeList, reqFlags [1] ContextFlags OPTIONAL,
 *   mechToken [2] OCTET STRING OPTIONAL, mechListMIC [3] OCTET STRING OPTIONAL }
 * MS-SPNG 2.2.1 NegTokenInit2 puts negHints (a SEQUENCE) at [3] and mechListMIC at [4].
 */
function decodeNegTokenInitBody(data: Buffer, start: number, end: number): NegTokenInit {
  const structure = "NegTokenInit";
  const sequence = expectTlv(data, start, end, DerTag.SEQUENCE, structure, "NegTokenInit");
  const token: NegTokenInit = {
    mechTypes: [],
    mechTypesDer: Buffer.alloc(0),
    mechToken: undefined,
    mechListMIC: undefined,
  };
  let sawMechTypes = false;
  for (const field of readChildren(data, sequence.start, sequence.end, structure)) {
    if (field.tag === contextTag(0)) {
      const list = expectTlv(data, field.start, field.end, DerTag.SEQUENCE, structure, "mechTypes");
      for (const oid of readChildren(data, list.start, list.end, structure)) {
        if (oid.tag !== DerTag.OBJECT_IDENTIFIER) {
          throw new ProtocolError(structure, "mechTypes holds something other than OIDs");
        }
        token.mechTypes.push(decodeOid(data.subarray(oid.start, oid.end)));
      }
      token.mechTypesDer = Buffer.from(data.subarray(field.start, list.end));
      sawMechTypes = true;
    } else if (field.tag === contextTag(2)) {
      token.mechToken = octetString(data, field.start, field.end, structure, "mechToken");
    } else if (field.tag === contextTag(3) || field.tag === contextTag(4)) {
      const inner = readTlv(data, field.start, field.end, structure);
      if (inner.tag === DerTag.OCTET_STRING) {
        token.mechListMIC = Buffer.from(data.subarray(inner.start, inner.end));
      }
    }
  }
  if (!sawMechTypes) throw new ProtocolError(structure, "mechTypes is missing");
  return token;
}

/*
 * NegTokenResp ::= SEQUENCE {
 *   negState [0] ENUMERATED OPTIONAL, supportedMech [1] MechType OPTIONAL,
 *   responseToken [2] OCTET STRING OPTIONAL, mechListMIC [3] OCTET STRING OPTIONAL }
 */
function decodeNegTokenRespBody(data: Buffer, start: number, end: number): NegTokenResp {
  const structure = "NegTokenResp";
  const sequence = expectTlv(data, start, end, DerTag.SEQUENCE, structure, "NegTokenResp");
  const token: NegTokenResp = {
    negState: undefined,
    supportedMech: undefined,
    responseToken: undefined,
    mechListMIC: undefined,
  };
  for (const field of readChildren(data, sequence.start, sequence.end, structure)) {
    if (field.tag === contextTag(0)) {
      const state = expectTlv(
        data,
        field.start,
        field.end,
        DerTag.ENUMERATED,
        structure,
        "negState",
      );
      if (state.end - state.start !== 1) throw new ProtocolError(structure, "negState length");
      token.negState = data[state.start];
    } else if (field.tag === contextTag(1)) {
      const oid = expectTlv(
        data,
        field.start,
        field.end,
        DerTag.OBJECT_IDENTIFIER,
        structure,
        "supportedMech",
      );
      token.supportedMech = decodeOid(data.subarray(oid.start, oid.end));
    } else if (field.tag === contextTag(2)) {
      token.responseToken = octetString(data, field.start, field.end, structure, "responseToken");
    } else if (field.tag === contextTag(3)) {
      token.mechListMIC = octetString(data, field.start, field.end, structure, "mechListMIC");
    }
  }
  return token;
}

/** True when a Negotiate token is a bare NTLM message rather than SPNEGO. */
export function isRawNtlm(token: Uint8Array): boolean {
  return token.length >= 8 && Buffer.from(token.subarray(0, 8)).equals(NTLMSSP_SIGNATURE);
}

export function expectResp(input: Uint8Array | undefined): NegTokenResp {
  if (input === undefined) throw new ProtocolError("NegTokenResp", "no token was received");
  const token = decodeNegotiationToken(input);
  if (token.kind !== "resp") throw new ProtocolError("NegTokenResp", "expected a NegTokenResp");
  if (token.negState === NegState.REJECT) {
    throw new AuthenticationError("the peer rejected the SPNEGO negotiation");
  }
  return token;
}

// ---------------------------------------------------------------------------------------------

type SpnegoInitiatorState =
  | "initial"
  | "kerberos-sent"
  | "mic-sent"
  | "init-sent"
  | "authenticate-sent"
  | "complete"
  | "failed";

/** The mechanism a SPNEGO exchange settled on. */
export type SpnegoMechanism = "kerberos" | "ntlm";

export const KERBEROS_OIDS: readonly string[] = [Oid.KERBEROS, Oid.MS_KERBEROS];

/**
 * SPNEGO initiator (RFC 4178 3.2, MS-SPNG 3.1.5). With a Kerberos context it offers Kerberos
 * first, with its AP-REQ as the optimistic token, and NTLM second; an acceptor that cannot use
 * the ticket picks NTLM, and the exchange goes on with NTLM's NEGOTIATE_MESSAGE. Without one it
 * offers NTLM alone.
 */
export class SpnegoInitiator {
  private state: SpnegoInitiatorState = "initial";
  private readonly mechTypesDer: Buffer;
  private chosen: SpnegoMechanism;
  private micVerified = false;

  constructor(
    private readonly ntlm: NtlmInitiator,
    private readonly kerberos?: KerberosInitiator,
  ) {
    this.chosen = kerberos === undefined ? "ntlm" : "kerberos";
    this.mechTypesDer = encodeMechTypes(this.offered);
  }

  private get offered(): string[] {
    return this.kerberos === undefined ? [Oid.NTLMSSP] : [Oid.KERBEROS, Oid.NTLMSSP];
  }

  get complete(): boolean {
    return this.state === "complete";
  }

  /** The mechanism in use: the one offered first until the acceptor chooses. */
  get mechanism(): SpnegoMechanism {
    return this.chosen;
  }

  get session(): NtlmSession {
    return this.ntlm.session;
  }

  /** The Kerberos message protection, once Kerberos was chosen and completed. */
  get kerberosSession(): KerberosMessageSession {
    if (this.kerberos === undefined || this.chosen !== "kerberos") {
      throw new AuthenticationError("SPNEGO did not settle on Kerberos");
    }
    return this.kerberos.session;
  }

  step(input?: Uint8Array): Buffer | undefined {
    try {
      switch (this.state) {
        case "initial": {
          if (this.kerberos !== undefined) {
            this.state = "kerberos-sent";
            return encodeNegTokenInit({
              mechTypes: this.offered,
              mechToken: this.kerberos.initialToken(),
            });
          }
          const token = encodeNegTokenInit({
            mechTypes: this.offered,
            mechToken: this.ntlm.step(),
          });
          this.state = "init-sent";
          return token;
        }
        case "kerberos-sent":
          return this.kerberosReply(this.kerberos!, input);
        case "mic-sent": {
          const response = expectResp(input);
          if (response.negState !== NegState.ACCEPT_COMPLETED) {
            throw new AuthenticationError("the server did not complete the SPNEGO negotiation");
          }
          if (response.mechListMIC && !this.micVerified) {
            this.kerberosSession.verifyMic(this.mechTypesDer, response.mechListMIC);
          }
          this.state = "complete";
          return undefined;
        }
        case "init-sent": {
          const response = expectResp(input);
          if (response.supportedMech !== undefined && response.supportedMech !== Oid.NTLMSSP) {
            throw new AuthenticationError(
              `the server chose mechanism ${response.supportedMech}; only NTLM is offered`,
            );
          }
          if (!response.responseToken) {
            throw new ProtocolError("NegTokenResp", "the server sent no NTLM challenge");
          }
          const authenticate = this.ntlm.step(response.responseToken);
          const mechListMIC = this.ntlm.session.sign(this.mechTypesDer);
          this.ntlm.session.resetKeystreams("outbound");
          this.state = "authenticate-sent";
          return encodeNegTokenResp({
            negState: NegState.ACCEPT_INCOMPLETE,
            responseToken: authenticate,
            mechListMIC,
          });
        }
        case "authenticate-sent": {
          const response = expectResp(input);
          if (response.negState !== NegState.ACCEPT_COMPLETED) {
            throw new AuthenticationError("the server did not complete the SPNEGO negotiation");
          }
          if (response.mechListMIC) {
            this.ntlm.session.verify(this.mechTypesDer, response.mechListMIC);
            this.ntlm.session.resetKeystreams("inbound");
          }
          this.state = "complete";
          return undefined;
        }
        default:
          throw new ProtocolError("NegTokenResp", `no further token is expected (${this.state})`);
      }
    } catch (error) {
      this.state = "failed";
      throw error;
    }
  }

  /** The acceptor's answer to the Kerberos offer: its AP-REP, or its choice of NTLM. */
  private kerberosReply(
    kerberos: KerberosInitiator,
    input: Uint8Array | undefined,
  ): Buffer | undefined {
    if (input === undefined) throw new ProtocolError("NegTokenResp", "no token was received");
    const token = decodeNegotiationToken(input);
    if (token.kind !== "resp") throw new ProtocolError("NegTokenResp", "expected a NegTokenResp");
    // A refusal may carry the acceptor's KRB-ERROR, which says why (skew, a stale key, ...).
    if (token.negState === NegState.REJECT && token.responseToken) {
      kerberos.acceptReply(token.responseToken);
    }
    const response = expectResp(input);
    const mech = response.supportedMech ?? Oid.KERBEROS;
    if (mech === Oid.NTLMSSP) {
      // The acceptor passed over the ticket (it has no key for it, or does not do Kerberos):
      // NTLM from its first message, and the mechListMIC at the end covers both offers.
      this.chosen = "ntlm";
      this.state = "init-sent";
      return encodeNegTokenResp({ responseToken: this.ntlm.step() });
    }
    if (!KERBEROS_OIDS.includes(mech)) {
      throw new AuthenticationError(`the server chose mechanism ${mech}, which was not offered`);
    }
    if (!response.responseToken) {
      throw new ProtocolError("NegTokenResp", "the server sent no Kerberos AP-REP");
    }
    kerberos.acceptReply(response.responseToken);
    if (response.mechListMIC) {
      kerberos.session.verifyMic(this.mechTypesDer, response.mechListMIC);
      this.micVerified = true;
    }
    if (response.negState === NegState.ACCEPT_COMPLETED) {
      this.state = "complete";
      return undefined;
    }
    // The acceptor wants the mechListMIC (RFC 4178 5): ours, over what we offered.
    this.state = "mic-sent";
    return encodeNegTokenResp({ mechListMIC: kerberos.session.getMic(this.mechTypesDer) });
  }
}
