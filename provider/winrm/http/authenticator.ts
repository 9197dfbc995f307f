/**
 * One strategy per HTTP authentication scheme. A scheme either adds a header to every request
 * (Basic) or runs a handshake on each new socket whose security context then binds, and where
 * the scheme has one seals, every later request on that socket (Negotiate: MS-WSMV 3.1.1.1.2).
 * Connection asks its authenticator and knows no scheme by name, so Kerberos
 * (application/HTTP-Kerberos-session-encrypted) and CredSSP
 * (application/HTTP-CredSSP-session-encrypted) plug in here as further strategies.
 */
import type { SecurityContext } from "../../auth/context";
import { AuthenticationError } from "../../errors";
import type { HttpResponse, TransportOptions } from "./options";

/** One empty-bodied or SOAP POST on the connection being authenticated. */
export type Exchange = (
  body: Buffer,
  contentType: string | undefined,
  timeoutMs: number,
  headers?: Record<string, string>,
) => Promise<HttpResponse>;

/** What a handshake may use of the connection it authenticates. */
export interface HandshakeSocket {
  exchange: Exchange;
  /** Whether the socket the handshake began on is still the connection's socket. */
  unchangedSince(generation: number): boolean;
  /**
   * The current socket's number, read after the first exchange opened it; a context is valid
   * only on the socket it was made on.
   */
  readonly generation: number;
  /**
   * DER of the server certificate of the current socket (TLS only, known once the first
   * exchange opened it), for channel bindings.
   */
  readonly peerCertificate: Buffer | undefined;
}

export interface HttpAuthenticator {
  /** The scheme as the user chose it, for messages. */
  readonly name: string;
  /**
   * The multipart protocol of the scheme's message sealing (MS-WSMV 2.2.9.1), when it has one
   * and the endpoint wants it; undefined: messages travel as they are.
   */
  readonly sealingProtocol: string | undefined;
  /** Headers every request carries: Basic's Authorization; none for a handshake scheme. */
  requestHeaders(): Record<string, string>;
  /**
   * Authenticates a new socket and returns its security context; undefined for a scheme
   * without one (Basic), which is never asked.
   */
  readonly handshake: ((socket: HandshakeSocket) => Promise<SecurityContext>) | undefined;
  /** The error for credentials the host refused. */
  refused(): AuthenticationError;
  /**
   * How the last handshake authenticated, for the user to see: "kerberos", "ntlm", or "ntlm"
   * with why negotiate could not use Kerberos; undefined before any handshake, and for Basic.
   */
  readonly mechanism?: string | undefined;
}

/** "The host refused ..." with the form the user name was written in, never the secret. */
export function refusedError(
  options: Pick<TransportOptions, "auth" | "user">,
  detail: { how?: string; cause?: unknown } = {},
): AuthenticationError {
  const { user, auth } = options;
  const form = user.includes("\\") ? "DOMAIN\\user" : user.includes("@") ? "user@domain" : "user";
  const how = detail.how === undefined ? "" : ` (it ${detail.how})`;
  return new AuthenticationError(
    `the host refused ${auth} authentication for "${user}" (written as ${form})${how}: check the ` +
      "user name and password, and that the account may use WinRM (Administrators or Remote " +
      "Management Users)",
    { user, cause: detail.cause },
  );
}
