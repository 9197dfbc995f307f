/**
 * SecurityContext: the one shape every authentication mechanism presents to the transport:
 * NTLM, Kerberos, and SPNEGO carrying either. `step` is asynchronous because a Kerberos
 * initiator must first get a ticket from a KDC.
 */
import { AuthenticationError, InvalidArgumentError, ProtocolError } from "../errors";
import type { Entropy } from "../crypto/hash";
import type { Secret } from "./credentials";
import {
  type AuthenticatedIdentity,
  NtlmAcceptor,
  type NtlmAcceptorOptions,
  NtlmInitiator,
} from "./ntlm/context";
import { type NtlmSession, SIGNATURE_LENGTH } from "./ntlm/security";
import { isRawNtlm, SpnegoAcceptor, SpnegoInitiator, type SpnegoMechanism } from "./spnego";
import type { KerberosMessageSession } from "./kerberos/message-session";
import { KerberosAcceptor, type KerberosAcceptorOptions } from "./kerberos/gss-acceptor";
import { KerberosInitiator } from "./kerberos/gss-initiator";
import { decodeContextToken } from "./kerberos/gss-token";
import type { Credential } from "./kerberos/kdc-client";

/**
 * `negotiate` is SPNEGO carrying Kerberos or NTLM; `ntlm` is a bare NTLM token and `kerberos` a
 * bare Kerberos token (RFC 4121 4.1) under the same HTTP scheme.
 */
export const AuthProtocol = Object.freeze({
  NTLM: "ntlm",
  NEGOTIATE: "negotiate",
  KERBEROS: "kerberos",
} as const);
export type AuthProtocol = (typeof AuthProtocol)[keyof typeof AuthProtocol];

/** A sealed message as MS-WSMV 2.2.9.1 frames it: the signature header, then the ciphertext. */
export interface WrappedMessage {
  header: Buffer;
  data: Buffer;
}

export interface SecurityContext {
  readonly protocol: AuthProtocol;
  /** The mechanism that authenticates: NTLM, or Kerberos (bare or inside SPNEGO). */
  readonly mechanism: SpnegoMechanism;
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

/** Message protection of an established mechanism. */
interface Protection {
  wrap(message: Uint8Array): WrappedMessage;
  unwrap(header: Uint8Array, data: Uint8Array, inPlace: boolean): Buffer;
}

function ntlmProtection(session: NtlmSession): Protection {
  return {
    wrap(message) {
      const { signature, sealed } = session.seal(message);
      return { header: signature, data: sealed };
    },
    unwrap(header, data, inPlace) {
      if (header.length !== SIGNATURE_LENGTH) {
        throw new AuthenticationError(
          `sealed message header is ${header.length} bytes; NTLM signatures are ${SIGNATURE_LENGTH}`,
        );
      }
      return session.unseal(data, header, inPlace);
    },
  };
}

function kerberosProtection(session: KerberosMessageSession): Protection {
  return {
    wrap: (message) => session.wrap(message),
    unwrap: (header, data) => session.unwrap(header, data),
  };
}

/** What each mechanism (bare or inside SPNEGO) presents to the adapter below. */
interface Mechanism {
  readonly complete: boolean;
  readonly mechanism: SpnegoMechanism;
  step(input?: Uint8Array): Buffer | undefined;
  protection(): Protection;
}

/** Adapts a mechanism to SecurityContext. */
class MechanismContext implements SecurityContext {
  constructor(
    protected protocolInUse: AuthProtocol,
    protected inner: Mechanism,
  ) {}

  get protocol(): AuthProtocol {
    return this.protocolInUse;
  }

  get mechanism(): SpnegoMechanism {
    return this.inner.mechanism;
  }

  get complete(): boolean {
    return this.inner.complete;
  }

  step(input?: Uint8Array): Promise<Buffer | undefined> {
    try {
      return Promise.resolve(this.inner.step(input));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  wrap(message: Uint8Array): WrappedMessage {
    return this.established().wrap(message);
  }

  unwrap(header: Uint8Array, data: Uint8Array, options: { inPlace?: boolean } = {}): Buffer {
    return this.established().unwrap(header, data, options.inPlace === true);
  }

  private established(): Protection {
    if (!this.inner.complete) {
      throw new AuthenticationError("the security context is not established yet");
    }
    return this.inner.protection();
  }
}

const bareNtlm = (ntlm: NtlmInitiator | NtlmAcceptor): Mechanism => ({
  get complete() {
    return ntlm.complete;
  },
  mechanism: "ntlm",
  step: (input) => ntlm.step(input as Uint8Array),
  protection: () => ntlmProtection(ntlm.session),
});

const spnego = (inner: SpnegoInitiator | SpnegoAcceptor): Mechanism => ({
  get complete() {
    return inner.complete;
  },
  get mechanism() {
    return inner.mechanism;
  },
  step: (input) => inner.step(input as Uint8Array),
  protection: () =>
    inner.mechanism === "kerberos"
      ? kerberosProtection(inner.kerberosSession)
      : ntlmProtection(inner.session),
});

const bareKerberosInitiator = (kerberos: KerberosInitiator): Mechanism => ({
  get complete() {
    return kerberos.complete;
  },
  mechanism: "kerberos",
  step(input) {
    if (input === undefined) return kerberos.initialToken();
    kerberos.acceptReply(input);
    return undefined;
  },
  protection: () => kerberosProtection(kerberos.session),
});

const bareKerberosAcceptor = (kerberos: KerberosAcceptor): Mechanism => ({
  get complete() {
    return kerberos.complete;
  },
  mechanism: "kerberos",
  step(input) {
    if (input === undefined) throw new ProtocolError("Kerberos context token", "none was sent");
    return kerberos.accept(input);
  },
  protection: () => kerberosProtection(kerberos.session),
});

/** The mechanism of an initiator before its first step has chosen one. */
const notStarted: Mechanism = {
  complete: false,
  mechanism: "kerberos",
  step: () => {
    throw new AuthenticationError("the security context has not started");
  },
  protection: () => {
    throw new AuthenticationError("the security context is not established yet");
  },
};

/** Gets a service ticket for the target; rejects with a KerberosError saying why not. */
export type TicketSource = () => Promise<Credential>;

export interface InitiatorOptions {
  protocol?: AuthProtocol;
  /** `DOMAIN\user`, `user@domain` or `user`. */
  user: string;
  /** Absent only for Kerberos from a credential cache or keytab (tickets). */
  secret: Secret | undefined;
  /** Service principal name, such as `HTTP/host.example.com`. */
  targetName?: string;
  /** tls-server-end-point application data, over TLS only. */
  channelBindings?: Uint8Array;
  workstation?: string;
  entropy?: Entropy;
  /**
   * Where Kerberos tickets come from. `kerberos` needs it; `negotiate` offers Kerberos first
   * when it yields a ticket and NTLM alone when it fails (onFallback says why).
   */
  tickets?: TicketSource;
  /** Told when negotiate could not get a ticket and offers NTLM alone. */
  onFallback?: (reason: Error) => void;
}

/**
 * An initiator whose mechanism is known only after its first step has asked the KDC for a
 * ticket (Kerberos needs one before it can say anything).
 */
class TicketingInitiatorContext extends MechanismContext {
  private started = false;

  constructor(
    protocol: AuthProtocol,
    private readonly options: InitiatorOptions,
  ) {
    super(protocol, notStarted);
  }

  override async step(input?: Uint8Array): Promise<Buffer | undefined> {
    if (!this.started) {
      this.started = true;
      this.inner = await this.choose();
    }
    return super.step(input);
  }

  private async choose(): Promise<Mechanism> {
    const { options } = this;
    const kerberosFrom = (ticket: Credential) =>
      new KerberosInitiator({
        ticket,
        ...(options.channelBindings === undefined
          ? {}
          : { channelBindings: options.channelBindings }),
      });
    if (this.protocolInUse === AuthProtocol.KERBEROS) {
      if (options.tickets === undefined) {
        throw new InvalidArgumentError(
          "auth",
          '"kerberos" needs a Kerberos configuration (kdc, keytab or ccache)',
        );
      }
      return bareKerberosInitiator(kerberosFrom(await options.tickets()));
    }
    const ntlm = new NtlmInitiator(options);
    if (options.tickets === undefined) return spnego(new SpnegoInitiator(ntlm));
    try {
      return spnego(new SpnegoInitiator(ntlm, kerberosFrom(await options.tickets())));
    } catch (error) {
      options.onFallback?.(error instanceof Error ? error : new Error(String(error)));
      return spnego(new SpnegoInitiator(ntlm));
    }
  }
}

export function createInitiator(options: InitiatorOptions): SecurityContext {
  const protocol = options.protocol ?? AuthProtocol.NEGOTIATE;
  switch (protocol) {
    case AuthProtocol.NTLM:
      return new MechanismContext(protocol, bareNtlm(new NtlmInitiator(options)));
    case AuthProtocol.NEGOTIATE:
      if (options.tickets === undefined) {
        return new MechanismContext(
          protocol,
          spnego(new SpnegoInitiator(new NtlmInitiator(options))),
        );
      }
      return new TicketingInitiatorContext(protocol, options);
    case AuthProtocol.KERBEROS:
      return new TicketingInitiatorContext(protocol, options);
    default:
      throw new InvalidArgumentError(
        "protocol",
        `expected "negotiate", "kerberos" or "ntlm", got ${String(protocol)}`,
      );
  }
}

export interface AcceptorOptions extends NtlmAcceptorOptions {
  /** Which token forms to accept; all by default, as a domain member's listener does. */
  protocols?: readonly AuthProtocol[];
  /** The service's Kerberos keys; without them Kerberos is refused and SPNEGO picks NTLM. */
  kerberos?: KerberosAcceptorOptions;
  /** False refuses NTLM, bare or in SPNEGO, as a domain that disabled it does. Default true. */
  allowNtlm?: boolean;
}

/** Whether a token is a bare Kerberos context token (RFC 4121 4.1), not SPNEGO or NTLM. */
function isBareKerberos(token: Uint8Array): boolean {
  try {
    decodeContextToken(token);
    return true;
  } catch {
    return false;
  }
}

/**
 * An acceptor for the HTTP `Negotiate` (and `Kerberos`) schemes: the first token decides whether
 * the client speaks SPNEGO, bare NTLM or bare Kerberos, and `protocol` reports which it chose.
 */
class NegotiateAcceptorContext extends MechanismContext implements AcceptorContext {
  private chosen = false;
  private who: (() => AuthenticatedIdentity) | undefined;

  constructor(private readonly options: AcceptorOptions) {
    super(AuthProtocol.NEGOTIATE, bareNtlm(new NtlmAcceptor(options)));
  }

  get identity(): AuthenticatedIdentity {
    if (!this.inner.complete || this.who === undefined)
      throw new AuthenticationError("the security context is not established");
    return this.who();
  }

  override step(input?: Uint8Array): Promise<Buffer | undefined> {
    if (!this.chosen) {
      this.chosen = true;
      const token = input ?? Buffer.alloc(0);
      const protocol = isRawNtlm(token)
        ? AuthProtocol.NTLM
        : isBareKerberos(token)
          ? AuthProtocol.KERBEROS
          : AuthProtocol.NEGOTIATE;
      const allowed = this.options.protocols ?? [
        AuthProtocol.NTLM,
        AuthProtocol.NEGOTIATE,
        AuthProtocol.KERBEROS,
      ];
      if (!allowed.includes(protocol)) {
        return Promise.reject(new AuthenticationError(`${protocol} tokens are not accepted here`));
      }
      if (protocol === AuthProtocol.NTLM && this.options.allowNtlm === false) {
        return Promise.reject(new AuthenticationError("NTLM is refused here; use Kerberos"));
      }
      this.protocolInUse = protocol;
      if (protocol === AuthProtocol.NTLM) {
        const ntlm = new NtlmAcceptor(this.options);
        this.inner = bareNtlm(ntlm);
        this.who = () => ntlm.identity;
      } else if (protocol === AuthProtocol.KERBEROS) {
        if (this.options.kerberos === undefined) {
          return Promise.reject(
            new AuthenticationError("this host has no Kerberos keys; Kerberos tokens are refused"),
          );
        }
        const kerberos = new KerberosAcceptor(this.options.kerberos);
        this.inner = bareKerberosAcceptor(kerberos);
        this.who = () => {
          const { user, realm } = kerberos.identity;
          return { user, domain: realm, workstation: "" };
        };
      } else {
        const negotiator = new SpnegoAcceptor(this.options);
        this.inner = spnego(negotiator);
        this.who = () => negotiator.identity;
      }
    }
    return super.step(input ?? Buffer.alloc(0));
  }
}

export function createAcceptor(options: AcceptorOptions): AcceptorContext {
  return new NegotiateAcceptorContext(options);
}
