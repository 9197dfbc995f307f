/**
 * The NTLM initiator (client) and acceptor (server) state machines, MS-NLMP 3.1.5 and 3.2.5.
 * Each is one small class with an explicit state and one `step(token)` entry; once complete it
 * holds an NtlmSession for signing and sealing.
 */
import { timingSafeEqual } from "node:crypto";
import { AuthenticationError, InvalidArgumentError, ProtocolError, WinRMError } from "../../errors";
import { type Entropy, systemEntropy } from "../../crypto/hash";
import { ByteReader, utf16le } from "../bytes";
import { channelBindingsHash } from "../channel-bindings";
import { type CredentialLookup, parseUserName, resolveNtHash, type Secret } from "../credentials";
import {
  AvFlags,
  AvId,
  INITIATOR_FLAGS,
  MessageType,
  NegotiateFlags,
  REQUIRED_FLAGS,
} from "./constants";
import {
  computeMic,
  decryptSessionKey,
  encryptSessionKey,
  lmv2Response,
  ntlmv2ClientChallenge,
  ntlmv2Response,
  ntowfv2,
} from "./crypto";
import {
  AUTHENTICATE_MIC_OFFSET,
  type AvPair,
  decodeAuthenticateMessage,
  decodeAvPairs,
  decodeChallengeMessage,
  decodeNegotiateMessage,
  DEFAULT_VERSION,
  encodeAuthenticateMessage,
  encodeAvPairs,
  encodeChallengeMessage,
  encodeNegotiateMessage,
  findAvPair,
  peekMessageType,
} from "./messages";
import { NtlmSession } from "./security";

/** Names the flags in `mask` that `flags` lacks, for error messages. */
function missingFlags(flags: number, mask: number): string[] {
  return Object.entries(NegotiateFlags)
    .filter(([, bit]) => (mask & bit) !== 0 && (flags & bit) === 0)
    .map(([name]) => name);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Runs a step, turning anything that is not one of ours into a ProtocolError. */
function guarded<T>(structure: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof WinRMError) throw error;
    throw new ProtocolError(structure, "could not be processed", { cause: error });
  }
}

// ---------------------------------------------------------------------------------------------
// Initiator

export interface NtlmInitiatorOptions {
  /** `DOMAIN\user`, `user@domain` or `user`. */
  user: string;
  /** Absent only where Kerberos alone is used (a credential cache or keytab). */
  secret: Secret | undefined;
  /** The service principal name put in MsvAvTargetName, such as `HTTP/host.example.com`. */
  targetName?: string;
  /**
   * Channel binding application data (`tls-server-end-point:` + hash) when authenticating over
   * TLS; leave undefined over plain HTTP, where no binding is sent.
   */
  channelBindings?: Uint8Array;
  workstation?: string;
  entropy?: Entropy;
}

type InitiatorState = "initial" | "negotiate-sent" | "complete" | "failed";

export class NtlmInitiator {
  private state: InitiatorState = "initial";
  private negotiateMessage: Buffer | undefined;
  private sessionState: NtlmSession | undefined;
  private readonly user: string;
  private readonly domain: string;
  private readonly hash: Buffer;
  private readonly entropy: Entropy;

  constructor(private readonly options: NtlmInitiatorOptions) {
    const parsed = parseUserName(options.user);
    this.user = parsed.user;
    this.domain = parsed.domain;
    if (options.secret === undefined) {
      throw new InvalidArgumentError(
        "password",
        "NTLM needs the password (or ntHash); a credential cache or keytab serves Kerberos only",
      );
    }
    this.hash = resolveNtHash(options.secret);
    this.entropy = options.entropy ?? systemEntropy;
  }

  get complete(): boolean {
    return this.state === "complete";
  }

  /** Signing and sealing for the authenticated session; only once complete. */
  get session(): NtlmSession {
    if (!this.sessionState) throw new AuthenticationError("NTLM handshake is not complete");
    return this.sessionState;
  }

  /** The first call (no input) yields NEGOTIATE, the second (CHALLENGE) yields AUTHENTICATE. */
  step(input?: Uint8Array): Buffer {
    try {
      if (this.state === "initial") {
        if (input !== undefined && input.length > 0) {
          throw new ProtocolError("NEGOTIATE_MESSAGE", "the initiator speaks first");
        }
        this.negotiateMessage = encodeNegotiateMessage({
          flags: INITIATOR_FLAGS,
          domain: "",
          workstation: "",
          version: DEFAULT_VERSION,
        });
        this.state = "negotiate-sent";
        return this.negotiateMessage;
      }
      if (this.state === "negotiate-sent") {
        if (input === undefined) {
          throw new ProtocolError("CHALLENGE_MESSAGE", "no challenge token was received");
        }
        const authenticate = guarded("CHALLENGE_MESSAGE", () =>
          this.authenticate(Buffer.from(input)),
        );
        this.state = "complete";
        return authenticate;
      }
      throw new ProtocolError("NTLM message", `no further token is expected (${this.state})`);
    } catch (error) {
      this.state = "failed";
      throw error;
    }
  }

  /** Builds the AUTHENTICATE_MESSAGE for a CHALLENGE_MESSAGE (MS-NLMP 3.1.5.1.2). */
  private authenticate(challengeBytes: Buffer): Buffer {
    const challenge = decodeChallengeMessage(challengeBytes);
    const missing = missingFlags(challenge.flags, REQUIRED_FLAGS);
    if (missing.length > 0) {
      throw new AuthenticationError(
        `the server's NTLM challenge lacks ${missing.join(", ")}; pulumi-winrm requires NTLMv2 ` +
          "with 128-bit keys, key exchange, signing and sealing, and will not downgrade",
        { user: this.options.user },
      );
    }
    const flags =
      challenge.flags &
      (INITIATOR_FLAGS | NegotiateFlags.NEGOTIATE_TARGET_INFO) &
      ~NegotiateFlags.NEGOTIATE_OEM;

    const serverTimestamp = findAvPair(challenge.targetInfo, AvId.MsvAvTimestamp);
    if (serverTimestamp !== undefined && serverTimestamp.length !== 8) {
      throw new ProtocolError("CHALLENGE_MESSAGE", "MsvAvTimestamp is not 8 bytes");
    }
    const withMic = serverTimestamp !== undefined;
    const time = serverTimestamp ? serverTimestamp.readBigUInt64LE(0) : this.entropy.fileTime();
    const avPairs = this.clientAvPairs(challenge.targetInfo, withMic);

    const clientChallenge = this.entropy.randomBytes(8);
    const responseKey = ntowfv2(this.hash, this.user, this.domain);
    const temp = ntlmv2ClientChallenge(time, clientChallenge, encodeAvPairs(avPairs));
    const response = ntlmv2Response(responseKey, challenge.serverChallenge, temp);
    // With MsvAvTimestamp the client sends Z(24) as the LM response (MS-NLMP 3.1.5.1.2).
    const lmChallengeResponse = withMic
      ? Buffer.alloc(24)
      : lmv2Response(responseKey, challenge.serverChallenge, clientChallenge);

    const exportedKey = this.entropy.randomBytes(16);
    const message = {
      flags,
      lmChallengeResponse,
      ntChallengeResponse: response.ntChallengeResponse,
      domain: this.domain,
      user: this.user,
      workstation: this.options.workstation ?? "",
      encryptedRandomSessionKey: encryptSessionKey(response.sessionBaseKey, exportedKey),
      version: DEFAULT_VERSION,
      mic: withMic ? Buffer.alloc(16) : undefined,
    };
    const encoded = encodeAuthenticateMessage(message);
    if (withMic) {
      const mic = computeMic(exportedKey, this.negotiateMessage!, challengeBytes, encoded);
      mic.copy(encoded, AUTHENTICATE_MIC_OFFSET);
    }
    this.sessionState = new NtlmSession(exportedKey, flags, "initiator");
    return encoded;
  }

  /**
   * The server's AV pairs, extended as MS-NLMP 3.1.5.1.2 says: MsvAvFlags with the MIC bit when
   * a MIC is sent, MsvAvTargetName with the SPN, and MsvAvChannelBindings over TLS.
   */
  private clientAvPairs(serverPairs: AvPair[], withMic: boolean): AvPair[] {
    const rewritten = new Set<number>([
      AvId.MsvAvFlags,
      AvId.MsvAvTargetName,
      AvId.MsvAvChannelBindings,
    ]);
    const pairs = serverPairs.filter((pair) => !rewritten.has(pair.id));
    const serverFlags = findAvPair(serverPairs, AvId.MsvAvFlags);
    let avFlags = serverFlags?.length === 4 ? serverFlags.readUInt32LE(0) : 0;
    if (withMic) avFlags |= AvFlags.MIC_PRESENT;
    if (avFlags !== 0) {
      const value = Buffer.alloc(4);
      value.writeUInt32LE(avFlags >>> 0, 0);
      pairs.push({ id: AvId.MsvAvFlags, value });
    }
    if (this.options.targetName) {
      pairs.push({ id: AvId.MsvAvTargetName, value: utf16le(this.options.targetName) });
    }
    if (this.options.channelBindings) {
      pairs.push({
        id: AvId.MsvAvChannelBindings,
        value: channelBindingsHash(this.options.channelBindings),
      });
    }
    return pairs;
  }
}

// ---------------------------------------------------------------------------------------------
// Acceptor

/** CbtHardeningLevel of a Windows WinRM listener: how strictly channel bindings are checked. */
export type ChannelBindingPolicy = "none" | "relaxed" | "strict";

/** The names a server announces in its CHALLENGE_MESSAGE target information. */
export interface ServerNames {
  nbComputerName: string;
  nbDomainName: string;
  dnsComputerName: string;
  dnsDomainName: string;
}

export interface NtlmAcceptorOptions {
  credentials: CredentialLookup;
  names?: Partial<ServerNames>;
  /** The expected application data over TLS; undefined over plain HTTP. */
  channelBindings?: Uint8Array;
  channelBindingPolicy?: ChannelBindingPolicy;
  entropy?: Entropy;
}

/** Who authenticated, as the client named itself. */
export interface AuthenticatedIdentity {
  user: string;
  domain: string;
  workstation: string;
}

type AcceptorState = "initial" | "challenge-sent" | "complete" | "failed";

export class NtlmAcceptor {
  private state: AcceptorState = "initial";
  private negotiateMessage: Buffer | undefined;
  private challengeMessage: Buffer | undefined;
  private serverChallenge: Buffer | undefined;
  private sessionState: NtlmSession | undefined;
  private identityState: AuthenticatedIdentity | undefined;
  private readonly entropy: Entropy;
  private readonly names: ServerNames;

  constructor(private readonly options: NtlmAcceptorOptions) {
    this.entropy = options.entropy ?? systemEntropy;
    this.names = {
      nbComputerName: "LOOPBACK",
      nbDomainName: "WORKGROUP",
      dnsComputerName: "localhost",
      dnsDomainName: "",
      ...options.names,
    };
  }

  get complete(): boolean {
    return this.state === "complete";
  }

  get session(): NtlmSession {
    if (!this.sessionState) throw new AuthenticationError("NTLM handshake is not complete");
    return this.sessionState;
  }

  get identity(): AuthenticatedIdentity {
    if (!this.identityState) throw new AuthenticationError("NTLM handshake is not complete");
    return this.identityState;
  }

  /** NEGOTIATE in, CHALLENGE out; then AUTHENTICATE in, nothing out (complete). */
  step(input: Uint8Array): Buffer | undefined {
    try {
      const token = Buffer.from(input);
      if (this.state === "initial") {
        const challenge = guarded("NEGOTIATE_MESSAGE", () => this.challenge(token));
        this.state = "challenge-sent";
        return challenge;
      }
      if (this.state === "challenge-sent") {
        guarded("AUTHENTICATE_MESSAGE", () => this.verify(token));
        this.state = "complete";
        return undefined;
      }
      throw new ProtocolError("NTLM message", `no further token is expected (${this.state})`);
    } catch (error) {
      this.state = "failed";
      throw error;
    }
  }

  /** Answers a NEGOTIATE_MESSAGE with a CHALLENGE_MESSAGE (MS-NLMP 3.2.5.1.1). */
  private challenge(token: Buffer): Buffer {
    if (peekMessageType(token) !== MessageType.NEGOTIATE) {
      throw new ProtocolError("NEGOTIATE_MESSAGE", "the first token is not a NEGOTIATE_MESSAGE");
    }
    const negotiate = decodeNegotiateMessage(token);
    const missing = missingFlags(negotiate.flags, REQUIRED_FLAGS);
    if (missing.length > 0) {
      throw new AuthenticationError(`the client's NTLM negotiation lacks ${missing.join(", ")}`);
    }
    const flags =
      REQUIRED_FLAGS |
      NegotiateFlags.NEGOTIATE_NTLM |
      NegotiateFlags.NEGOTIATE_ALWAYS_SIGN |
      NegotiateFlags.NEGOTIATE_TARGET_INFO |
      NegotiateFlags.NEGOTIATE_VERSION |
      NegotiateFlags.TARGET_TYPE_SERVER |
      (negotiate.flags & NegotiateFlags.REQUEST_TARGET);
    const timestamp = Buffer.alloc(8);
    timestamp.writeBigUInt64LE(this.entropy.fileTime(), 0);
    const names = this.names;
    this.serverChallenge = this.entropy.randomBytes(8);
    this.negotiateMessage = token;
    this.challengeMessage = encodeChallengeMessage({
      flags: flags >>> 0,
      targetName: names.nbComputerName,
      serverChallenge: this.serverChallenge,
      targetInfo: [
        { id: AvId.MsvAvNbDomainName, value: utf16le(names.nbDomainName) },
        { id: AvId.MsvAvNbComputerName, value: utf16le(names.nbComputerName) },
        { id: AvId.MsvAvDnsDomainName, value: utf16le(names.dnsDomainName) },
        { id: AvId.MsvAvDnsComputerName, value: utf16le(names.dnsComputerName) },
        { id: AvId.MsvAvTimestamp, value: timestamp },
      ],
      version: DEFAULT_VERSION,
    });
    return this.challengeMessage;
  }

  /** Verifies an AUTHENTICATE_MESSAGE (MS-NLMP 3.2.5.1.2) and derives the session keys. */
  private verify(token: Buffer): void {
    const message = decodeAuthenticateMessage(token);
    const who = message.domain ? `${message.domain}\\${message.user}` : message.user;
    const refuse = (reason: string): never => {
      throw new AuthenticationError(
        `NTLM authentication of ${who || "(anonymous)"} failed: ${reason}`,
        {
          user: who,
        },
      );
    };
    if (message.user === "" && message.ntChallengeResponse.length === 0) {
      refuse("anonymous logons are not accepted");
    }
    // NTLMv1 responses are exactly 24 bytes; NTLMv2 carries NTProofStr and a client challenge.
    if (message.ntChallengeResponse.length <= 24) refuse("only NTLMv2 is accepted");
    const missing = missingFlags(message.flags, REQUIRED_FLAGS);
    if (missing.length > 0) refuse(`the negotiated flags lack ${missing.join(", ")}`);

    const ntProofStr = message.ntChallengeResponse.subarray(0, 16);
    const temp = message.ntChallengeResponse.subarray(16);
    const clientPairs = decodeClientChallengePairs(temp);

    const hash = this.options.credentials(message.user, message.domain);
    if (hash === undefined) return refuse("unknown user name or bad password");
    const responseKey = ntowfv2(hash, message.user, message.domain);
    const expected = ntlmv2Response(responseKey, this.serverChallenge!, temp);
    if (!sameBytes(expected.ntProofStr, ntProofStr)) refuse("unknown user name or bad password");

    if (message.encryptedRandomSessionKey.length !== 16) {
      refuse("EncryptedRandomSessionKey must be 16 bytes with key exchange");
    }
    const exportedKey = decryptSessionKey(
      expected.sessionBaseKey,
      message.encryptedRandomSessionKey,
    );

    // We always send MsvAvTimestamp, so a conforming client must send a MIC (MS-NLMP 3.1.5.1.2).
    const avFlagsValue = findAvPair(clientPairs, AvId.MsvAvFlags);
    const avFlags = avFlagsValue?.length === 4 ? avFlagsValue.readUInt32LE(0) : 0;
    const micOffset = message.micOffset;
    if ((avFlags & AvFlags.MIC_PRESENT) === 0 || micOffset === undefined) {
      return refuse("the client sent no MIC, so the exchange could have been tampered with");
    }
    const zeroed = Buffer.from(token);
    zeroed.fill(0, micOffset, micOffset + 16);
    const mic = computeMic(exportedKey, this.negotiateMessage!, this.challengeMessage!, zeroed);
    if (!sameBytes(mic, message.mic!)) refuse("the MIC does not match the exchanged messages");

    this.checkChannelBindings(findAvPair(clientPairs, AvId.MsvAvChannelBindings), refuse);

    this.sessionState = new NtlmSession(exportedKey, message.flags, "acceptor");
    this.identityState = {
      user: message.user,
      domain: message.domain,
      workstation: message.workstation,
    };
  }

  /** Extended Protection as CbtHardeningLevel None, Relaxed or Strict enforces it. */
  private checkChannelBindings(received: Buffer | undefined, refuse: (reason: string) => never) {
    const policy = this.options.channelBindingPolicy ?? "relaxed";
    const expectedData = this.options.channelBindings;
    if (policy === "none" || expectedData === undefined) return;
    const absent = received === undefined || received.every((byte) => byte === 0);
    if (absent) {
      if (policy === "strict") refuse("channel binding is required and the client sent none");
      return;
    }
    if (!sameBytes(received, channelBindingsHash(expectedData))) {
      refuse("the channel binding does not match this TLS connection (a relay is possible)");
    }
  }
}

/*
 * NTLMv2_CLIENT_CHALLENGE layout (MS-NLMP 2.2.2.7), the NtChallengeResponse after NTProofStr:
 *   0  RespType             1   1
 *   1  HiRespType           1   1
 *   2  Reserved             6
 *   8  TimeStamp            8
 *  16  ChallengeFromClient  8
 *  24  Reserved             4
 *  28  AvPairs              variable, ends with MsvAvEOL
 */
function decodeClientChallengePairs(temp: Buffer): AvPair[] {
  const reader = new ByteReader(temp, "NTLMv2_CLIENT_CHALLENGE");
  reader.require(0, 28, "the fixed header");
  if (reader.u8(0, "RespType") !== 1 || reader.u8(1, "HiRespType") !== 1) {
    reader.fail("RespType and HiRespType must be 1");
  }
  return decodeAvPairs(temp.subarray(28), "NTLMv2_CLIENT_CHALLENGE");
}
