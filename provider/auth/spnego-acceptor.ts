/**
 * SPNEGO acceptor (RFC 4178 3.2, MS-SPNG 3.2.5), for the loopback host and the tests. Apart from
 * the initiator so that the client does not load the Kerberos acceptor.
 */
import { AuthenticationError, ProtocolError } from "../errors";
import { type AuthenticatedIdentity, NtlmAcceptor, type NtlmAcceptorOptions } from "./ntlm/context";
import type { NtlmSession } from "./ntlm/security";
import type { KerberosMessageSession } from "./kerberos/message-session";
import { KerberosAcceptor, type KerberosAcceptorOptions } from "./kerberos/gss-acceptor";
import {
  decodeNegotiationToken,
  encodeNegTokenResp,
  expectResp,
  KERBEROS_OIDS,
  NegState,
  type NegTokenResp,
  Oid,
  type SpnegoMechanism,
} from "./spnego";

type SpnegoAcceptorState = "initial" | "awaiting-ntlm" | "challenge-sent" | "complete" | "failed";

/** SPNEGO acceptor that selects NTLM (RFC 4178 3.2, MS-SPNG 3.2.5). */
export class SpnegoAcceptor {
  private state: SpnegoAcceptorState = "initial";
  private mechTypesDer: Buffer = Buffer.alloc(0);
  private readonly ntlm: NtlmAcceptor;
  private readonly kerberos: KerberosAcceptor | undefined;
  private chosen: SpnegoMechanism = "ntlm";

  private readonly allowNtlm: boolean;

  constructor(
    options: NtlmAcceptorOptions & { kerberos?: KerberosAcceptorOptions; allowNtlm?: boolean },
  ) {
    this.ntlm = new NtlmAcceptor(options);
    this.allowNtlm = options.allowNtlm !== false;
    this.kerberos =
      options.kerberos === undefined ? undefined : new KerberosAcceptor(options.kerberos);
  }

  get complete(): boolean {
    return this.state === "complete";
  }

  get mechanism(): SpnegoMechanism {
    return this.chosen;
  }

  get session(): NtlmSession {
    return this.ntlm.session;
  }

  get kerberosSession(): KerberosMessageSession {
    if (this.kerberos === undefined || this.chosen !== "kerberos") {
      throw new AuthenticationError("SPNEGO did not settle on Kerberos");
    }
    return this.kerberos.session;
  }

  get identity(): AuthenticatedIdentity {
    if (this.chosen === "kerberos") {
      const who = this.kerberos!.identity;
      return { user: who.user, domain: who.realm, workstation: "" };
    }
    return this.ntlm.identity;
  }

  step(input: Uint8Array): Buffer | undefined {
    try {
      switch (this.state) {
        case "initial":
          return this.init(input);
        case "awaiting-ntlm": {
          const response = expectResp(input);
          if (!response.responseToken) {
            throw new ProtocolError("NegTokenResp", "no NTLM NEGOTIATE_MESSAGE was sent");
          }
          return this.challenge(response.responseToken, NegState.REQUEST_MIC);
        }
        case "challenge-sent":
          return this.finish(expectResp(input));
        default:
          throw new ProtocolError("NegTokenInit", `no further token is expected (${this.state})`);
      }
    } catch (error) {
      this.state = "failed";
      throw error;
    }
  }

  private init(input: Uint8Array): Buffer {
    const token = decodeNegotiationToken(input);
    if (token.kind !== "init") throw new ProtocolError("NegTokenInit", "expected a NegTokenInit");
    const first = token.mechTypes[0];
    if (this.kerberos !== undefined && first !== undefined && KERBEROS_OIDS.includes(first)) {
      if (!token.mechToken) {
        throw new ProtocolError("NegTokenInit", "Kerberos was offered without its AP-REQ");
      }
      // The optimistic token of the preferred mechanism is accepted: no mechListMIC is needed
      // (RFC 4178 5), and the reply names the OID the client used (MS-SPNG 3.2.5.1).
      const reply = this.kerberos.accept(token.mechToken);
      this.chosen = "kerberos";
      this.state = "complete";
      return encodeNegTokenResp({
        negState: NegState.ACCEPT_COMPLETED,
        supportedMech: first,
        responseToken: reply,
      });
    }
    if (!this.allowNtlm) {
      throw new AuthenticationError(
        `the client offered ${token.mechTypes.join(", ") || "no mechanism"} without a Kerberos ` +
          "ticket first; NTLM is refused here",
      );
    }
    if (!token.mechTypes.includes(Oid.NTLMSSP)) {
      throw new AuthenticationError(
        `the client offered ${token.mechTypes.join(", ") || "no mechanism"}; only NTLM is accepted`,
      );
    }
    this.mechTypesDer = token.mechTypesDer;
    // An optimistic token for another mechanism is ignored; the client is asked for NTLM and,
    // since its preferred mechanism was passed over, for a mechListMIC (RFC 4178 5).
    if (token.mechTypes[0] !== Oid.NTLMSSP || !token.mechToken) {
      this.state = "awaiting-ntlm";
      return encodeNegTokenResp({ negState: NegState.REQUEST_MIC, supportedMech: Oid.NTLMSSP });
    }
    return this.challenge(token.mechToken, NegState.ACCEPT_INCOMPLETE);
  }

  private challenge(negotiate: Uint8Array, negState: NegState): Buffer {
    const challenge = this.ntlm.step(negotiate);
    this.state = "challenge-sent";
    return encodeNegTokenResp({
      negState,
      supportedMech: Oid.NTLMSSP,
      responseToken: challenge,
    });
  }

  private finish(response: NegTokenResp): Buffer {
    if (!response.responseToken) {
      throw new ProtocolError("NegTokenResp", "no NTLM AUTHENTICATE_MESSAGE was sent");
    }
    this.ntlm.step(response.responseToken);
    // The NTLM exchange carried a MIC, so MS-SPNG 3.2.5.1 requires the client's mechListMIC.
    if (!response.mechListMIC) {
      throw new AuthenticationError("the client sent no SPNEGO mechListMIC", {
        user: this.ntlm.identity.user,
      });
    }
    this.ntlm.session.verify(this.mechTypesDer, response.mechListMIC);
    this.ntlm.session.resetKeystreams("inbound");
    const mechListMIC = this.ntlm.session.sign(this.mechTypesDer);
    this.ntlm.session.resetKeystreams("outbound");
    this.state = "complete";
    return encodeNegTokenResp({ negState: NegState.ACCEPT_COMPLETED, mechListMIC });
  }
}
