/**
 * The acceptor side of SecurityContext: what a WinRM listener does with a client's tokens. The
 * loopback host and the interoperability tests use it; the client never loads it, so that a
 * command-line run or a provider start does not compile the Kerberos acceptor.
 */
import { AuthenticationError, ProtocolError } from "../errors";
import {
  AuthProtocol,
  bareNtlm,
  kerberosProtection,
  type Mechanism,
  MechanismContext,
  type SecurityContext,
  spnego,
} from "./context";
import { type AuthenticatedIdentity, NtlmAcceptor, type NtlmAcceptorOptions } from "./ntlm/context";
import { isRawNtlm } from "./spnego";
import { SpnegoAcceptor } from "./spnego-acceptor";
import { KerberosAcceptor, type KerberosAcceptorOptions } from "./kerberos/gss-acceptor";
import { decodeContextToken } from "./kerberos/gss-token";

export interface AcceptorContext extends SecurityContext {
  /** Who authenticated; only once complete. */
  readonly identity: AuthenticatedIdentity;
}

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
