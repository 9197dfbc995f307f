/**
 * SecurityContext: the one shape every authentication mechanism presents to the transport.
 * NTLM and SPNEGO-wrapped NTLM implement it today; Kerberos can plug in later, which is why
 * `step` is asynchronous (a Kerberos initiator must talk to a KDC).
 */
import { AuthenticationError, InvalidArgumentError } from "../errors";
import type { Entropy } from "../crypto/hash";
import type { Secret } from "./credentials";
import {
  type AuthenticatedIdentity,
  NtlmAcceptor,
  type NtlmAcceptorOptions,
  NtlmInitiator,
} from "./ntlm/context";
import { type NtlmSession, SIGNATURE_LENGTH } from "./ntlm/security";
import { isRawNtlm, SpnegoAcceptor, SpnegoInitiator } from "./spnego";

/** `negotiate` is SPNEGO carrying NTLM; `ntlm` is a bare NTLM token under the same scheme. */
export const AuthProtocol = Object.freeze({ NTLM: "ntlm", NEGOTIATE: "negotiate" } as const);
export type AuthProtocol = (typeof AuthProtocol)[keyof typeof AuthProtocol];

/** A sealed message as MS-WSMV 2.2.9.1 frames it: the signature header, then the ciphertext. */
export interface WrappedMessage {
  header: Buffer;
  data: Buffer;
}

export interface SecurityContext {
  readonly protocol: AuthProtocol;
  readonly complete: boolean;
  /** Feeds the peer's token (none for an initiator's first step); returns the reply, if any. */
  step(input?: Uint8Array): Promise<Buffer | undefined>;
  /** Signs and encrypts one message (GSS_Wrap with confidentiality). */
  wrap(message: Uint8Array): WrappedMessage;
  /**
   * Decrypts and verifies one message; throws IntegrityError if it does not verify. With
   * `inPlace` the plaintext is written over `data` (which the caller owns and gives up), to
   * spare a copy of every large reply.
   */
  unwrap(header: Uint8Array, data: Uint8Array, options?: { inPlace?: boolean }): Buffer;
}

export interface AcceptorContext extends SecurityContext {
  /** Who authenticated; only once complete. */
  readonly identity: AuthenticatedIdentity;
}

interface Mechanism {
  readonly complete: boolean;
  readonly session: NtlmSession;
  step(input?: Uint8Array): Buffer | undefined;
}

/** Adapts an NTLM-based mechanism to SecurityContext; sealing is NTLM's in both cases. */
class NtlmSecurityContext implements SecurityContext {
  constructor(
    protected protocolInUse: AuthProtocol,
    protected mechanism: Mechanism,
  ) {}

  get protocol(): AuthProtocol {
    return this.protocolInUse;
  }

  get complete(): boolean {
    return this.mechanism.complete;
  }

  step(input?: Uint8Array): Promise<Buffer | undefined> {
    try {
      return Promise.resolve(this.mechanism.step(input));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  wrap(message: Uint8Array): WrappedMessage {
    const { signature, sealed } = this.established().seal(message);
    return { header: signature, data: sealed };
  }

  unwrap(header: Uint8Array, data: Uint8Array, options: { inPlace?: boolean } = {}): Buffer {
    if (header.length !== SIGNATURE_LENGTH) {
      throw new AuthenticationError(
        `sealed message header is ${header.length} bytes; NTLM signatures are ${SIGNATURE_LENGTH}`,
      );
    }
    return this.established().unseal(data, header, options.inPlace === true);
  }

  private established(): NtlmSession {
    if (!this.mechanism.complete) {
      throw new AuthenticationError("the security context is not established yet");
    }
    return this.mechanism.session;
  }
}

export interface InitiatorOptions {
  protocol?: AuthProtocol;
  /** `DOMAIN\user`, `user@domain` or `user`. */
  user: string;
  secret: Secret;
  /** Service principal name, such as `HTTP/host.example.com`. */
  targetName?: string;
  /** tls-server-end-point application data, over TLS only. */
  channelBindings?: Uint8Array;
  workstation?: string;
  entropy?: Entropy;
}

export function createInitiator(options: InitiatorOptions): SecurityContext {
  const protocol = options.protocol ?? AuthProtocol.NEGOTIATE;
  const ntlm = new NtlmInitiator(options);
  switch (protocol) {
    case AuthProtocol.NTLM:
      return new NtlmSecurityContext(protocol, ntlm);
    case AuthProtocol.NEGOTIATE:
      return new NtlmSecurityContext(protocol, new SpnegoInitiator(ntlm));
    default:
      throw new InvalidArgumentError(
        "protocol",
        `expected "negotiate" or "ntlm", got ${String(protocol)}`,
      );
  }
}

export interface AcceptorOptions extends NtlmAcceptorOptions {
  /** Which token forms to accept; both by default, as a Windows listener does. */
  protocols?: readonly AuthProtocol[];
}

/**
 * An acceptor for the HTTP `Negotiate` scheme: the first token decides whether the client
 * speaks SPNEGO or bare NTLM, and `protocol` reports which it chose.
 */
class NegotiateAcceptorContext extends NtlmSecurityContext implements AcceptorContext {
  private chosen = false;

  constructor(private readonly options: AcceptorOptions) {
    super(AuthProtocol.NEGOTIATE, new SpnegoAcceptor(options));
  }

  get identity(): AuthenticatedIdentity {
    const mechanism = this.mechanism as NtlmAcceptor | SpnegoAcceptor;
    if (!mechanism.complete)
      throw new AuthenticationError("the security context is not established");
    return mechanism.identity;
  }

  override step(input?: Uint8Array): Promise<Buffer | undefined> {
    if (!this.chosen) {
      this.chosen = true;
      const raw = input !== undefined && isRawNtlm(input);
      const protocol = raw ? AuthProtocol.NTLM : AuthProtocol.NEGOTIATE;
      const allowed = this.options.protocols ?? [AuthProtocol.NTLM, AuthProtocol.NEGOTIATE];
      if (!allowed.includes(protocol)) {
        return Promise.reject(new AuthenticationError(`${protocol} tokens are not accepted here`));
      }
      if (raw) {
        this.protocolInUse = AuthProtocol.NTLM;
        this.mechanism = new NtlmAcceptor(this.options);
      }
    }
    return super.step(input ?? Buffer.alloc(0));
  }
}

export function createAcceptor(options: AcceptorOptions): AcceptorContext {
  return new NegotiateAcceptorContext(options);
}
