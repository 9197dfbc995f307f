/**
 * SecurityContext: the one shape every authentication mechanism presents to the transport:
 * NTLM, Kerberos, and SPNEGO carrying either. `step` is asynchronous because a Kerberos
 * initiator must first get a ticket from a KDC.
 */
import { AuthenticationError, InvalidArgumentError } from "../errors";
import type { Entropy } from "../crypto/hash";
import type { Secret } from "./credentials";
import { type NtlmAcceptor, NtlmInitiator } from "./ntlm/context";
import { type NtlmSession, SIGNATURE_LENGTH } from "./ntlm/security";
import { SpnegoInitiator, type SpnegoMechanism } from "./spnego";
import type { SpnegoAcceptor } from "./spnego-acceptor";
import type { KerberosMessageSession } from "./kerberos/message-session";
import type { KerberosInitiator } from "./kerberos/gss-initiator";
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

/** Where wrapInto writes: the signature header's bytes, then the ciphertext right after. */
export interface WrapLayout {
  /** The signature header's length, known before sealing for mechanisms that offer wrapInto. */
  headerLength: number;
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
   * The layout wrapInto writes, when the established mechanism can seal into a caller's buffer
   * (NTLM: a 16-byte signature, then ciphertext as long as the message); undefined otherwise.
   */
  readonly wrapLayout: WrapLayout | undefined;
  /**
   * wrap() writing the header at `out[at]` and the ciphertext right after it, as wrapLayout
   * says; only when wrapLayout is defined.
   */
  wrapInto(message: Uint8Array, out: Buffer, at: number): void;
  /**
   * Decrypts and verifies one message; throws IntegrityError if it does not verify. With
   * `inPlace` the plaintext is written over `data` (which the caller owns and gives up), to
   * spare a copy of every large reply.
   */
  unwrap(header: Uint8Array, data: Uint8Array, options?: { inPlace?: boolean }): Buffer;
  /**
   * unwrap() in two steps where the mechanism allows it: decrypts now, at the message's place
   * in the sequence, and returns the check of its signature to run later (NTLM; see
   * NtlmSession.open). Nothing may be made of the plaintext but a decision to ask the peer
   * for more before `verify` has returned. Mechanisms that check first (Kerberos, RFC 4121)
   * have checked already, and their `verify` does nothing.
   */
  open(header: Uint8Array, data: Uint8Array, options?: { inPlace?: boolean }): OpenedMessage;
}

/** A message decrypted whose signature is still to be checked (SecurityContext.open). */
export interface OpenedMessage {
  plaintext: Buffer;
  /** Throws IntegrityError unless the message is the peer's, unaltered, at its place. */
  verify: () => void;
}

/** Message protection of an established mechanism. */
interface Protection {
  wrap(message: Uint8Array): WrappedMessage;
  unwrap(header: Uint8Array, data: Uint8Array, inPlace: boolean): Buffer;
  open?(header: Uint8Array, data: Uint8Array, inPlace: boolean): OpenedMessage;
  layout?: WrapLayout;
  wrapInto?(message: Uint8Array, out: Buffer, at: number): void;
}

const NTLM_LAYOUT: WrapLayout = Object.freeze({ headerLength: SIGNATURE_LENGTH });

/** The header of an NTLM-sealed message, which must be a signature (MS-NLMP 2.2.2.9.1). */
function ntlmSignature(header: Uint8Array): Uint8Array {
  if (header.length !== SIGNATURE_LENGTH) {
    throw new AuthenticationError(
      `sealed message header is ${header.length} bytes; NTLM signatures are ${SIGNATURE_LENGTH}`,
    );
  }
  return header;
}

function ntlmProtection(session: NtlmSession): Protection {
  return {
    wrap(message) {
      const { signature, sealed } = session.seal(message);
      return { header: signature, data: sealed };
    },
    layout: NTLM_LAYOUT,
    wrapInto(message, out, at) {
      const dataAt = at + SIGNATURE_LENGTH;
      const signature = session.sealInto(message, out.subarray(dataAt, dataAt + message.length));
      signature.copy(out, at);
    },
    unwrap(header, data, inPlace) {
      const { message, verify } = session.open(data, ntlmSignature(header), inPlace);
      verify();
      return message;
    },
    open(header, data, inPlace) {
      const { message, verify } = session.open(data, ntlmSignature(header), inPlace);
      return { plaintext: message, verify };
    },
  };
}

export function kerberosProtection(session: KerberosMessageSession): Protection {
  return {
    wrap: (message) => session.wrap(message),
    unwrap: (header, data) => session.unwrap(header, data),
  };
}

/** What each mechanism (bare or inside SPNEGO) presents to the adapter below. */
export interface Mechanism {
  readonly complete: boolean;
  readonly mechanism: SpnegoMechanism;
  step(input?: Uint8Array): Buffer | undefined;
  protection(): Protection;
}

/** Adapts a mechanism to SecurityContext. */
export class MechanismContext implements SecurityContext {
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

  get wrapLayout(): WrapLayout | undefined {
    return this.inner.complete ? this.inner.protection().layout : undefined;
  }

  wrapInto(message: Uint8Array, out: Buffer, at: number): void {
    const protection = this.established();
    if (protection.wrapInto === undefined) {
      throw new AuthenticationError("this mechanism does not seal into a caller's buffer");
    }
    protection.wrapInto(message, out, at);
  }

  unwrap(header: Uint8Array, data: Uint8Array, options: { inPlace?: boolean } = {}): Buffer {
    return this.established().unwrap(header, data, options.inPlace === true);
  }

  open(header: Uint8Array, data: Uint8Array, options: { inPlace?: boolean } = {}): OpenedMessage {
    const protection = this.established();
    const inPlace = options.inPlace === true;
    if (protection.open !== undefined) return protection.open(header, data, inPlace);
    return { plaintext: protection.unwrap(header, data, inPlace), verify: () => undefined };
  }

  private established(): Protection {
    if (!this.inner.complete) {
      throw new AuthenticationError("the security context is not established yet");
    }
    return this.inner.protection();
  }
}

export const bareNtlm = (ntlm: NtlmInitiator | NtlmAcceptor): Mechanism => ({
  get complete() {
    return ntlm.complete;
  },
  mechanism: "ntlm",
  step: (input) => ntlm.step(input as Uint8Array),
  protection: () => ntlmProtection(ntlm.session),
});

export const spnego = (inner: SpnegoInitiator | SpnegoAcceptor): Mechanism => ({
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
    // Loaded here, not at the top: NTLM alone (most runs) never compiles the Kerberos modules.
    const { KerberosInitiator } = await import("./kerberos/gss-initiator.js");
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
