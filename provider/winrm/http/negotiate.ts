/**
 * HTTP Negotiate (RFC 4559 framing) with NTLM or SPNEGO inside, as WinRM uses it (MS-WSMV
 * 3.1.4.1.2): a handshake of empty-bodied POSTs on each new socket, after which messages on
 * that socket are sealed with the context (application/HTTP-SPNEGO-session-encrypted) when
 * the endpoint is plain HTTP or encryption is "always".
 */
import { type AuthProtocol, createInitiator, type SecurityContext } from "../../auth/context";
import { tlsServerEndPoint } from "../../auth/channel-bindings";
import { AuthenticationError, HttpError } from "../../errors";
import { type HandshakeSocket, type HttpAuthenticator, refusedError } from "./authenticator";
import { SPNEGO_ENCRYPTED } from "./encryption";
import { errorCode, isConnectionFailure, NotSent } from "./failures";
import type { TransportOptions } from "./options";

/** How long each leg of the handshake may take. */
const AUTH_TIMEOUT_MS = 30_000;

/** The token of a `WWW-Authenticate: Negotiate <base64>` header, if there is one. */
function negotiateToken(header: string | string[] | undefined): Buffer | undefined {
  for (const value of Array.isArray(header) ? header : header ? [header] : []) {
    for (const part of value.split(",")) {
      const match = /^\s*Negotiate\s+([A-Za-z0-9+/=]+)\s*$/i.exec(part);
      if (match) return Buffer.from(match[1]!, "base64");
    }
  }
  return undefined;
}

/** Whether messages are sealed: "auto" seals over plain HTTP, where TLS does not protect them. */
function seals(options: TransportOptions): boolean {
  if (options.encryption === "always") return true;
  if (options.encryption === "never") return false;
  return options.endpoint.protocol === "http:";
}

export function negotiateAuthenticator(options: TransportOptions): HttpAuthenticator {
  const refused = () => refusedError(options);
  const closedOnCredentials = (cause: unknown) =>
    refusedError(options, {
      how: `closed the connection in answer to the credentials (${errorCode(cause) ?? "closed"})`,
      cause,
    });
  return {
    name: options.auth,
    sealingProtocol: seals(options) ? SPNEGO_ENCRYPTED : undefined,
    requestHeaders: () => ({}),
    refused,
    /**
     * An empty probe first opens the socket, so that over TLS the certificate is known before
     * the context is made (channel bindings hash it), and shows which schemes the host offers.
     */
    async handshake(socket: HandshakeSocket): Promise<SecurityContext> {
      const { endpoint, auth, user, secret } = options;
      const probe = await socket.exchange(Buffer.alloc(0), undefined, AUTH_TIMEOUT_MS);
      if (probe.statusCode === 503)
        throw new NotSent(new HttpError(503, "the host is not ready (HTTP 503)"));
      const offered = probe.headers["www-authenticate"];
      const schemes = (Array.isArray(offered) ? offered.join(",") : (offered ?? "")).toLowerCase();
      if (probe.statusCode === 401 && !schemes.includes("negotiate")) {
        throw new AuthenticationError(
          `the host does not offer Negotiate authentication (it offers: ${schemes || "nothing"}): enable ` +
            'it on the listener (winrm set winrm/config/service/auth @{Negotiate="true"})',
          { user },
        );
      }
      const generation = socket.generation;
      const peer = socket.peerCertificate;
      const context = createInitiator({
        protocol: auth as AuthProtocol,
        user,
        secret,
        targetName: `HTTP/${endpoint.hostname}`,
        channelBindings: peer ? tlsServerEndPoint(peer) : undefined,
      });
      let token = await context.step();
      // Whether the host has answered a leg with its challenge: it is up and knows we are here.
      let challenged = false;
      while (token !== undefined) {
        let response;
        try {
          response = await socket.exchange(Buffer.alloc(0), undefined, AUTH_TIMEOUT_MS, {
            authorization: `Negotiate ${token.toString("base64")}`,
          });
        } catch (error) {
          // Some servers refuse credentials by closing the connection instead of answering
          // 401. After a challenge that is a refusal, not a host that is down: waiting for it
          // (readyTimeout) would only repeat the refused login.
          if (challenged && isConnectionFailure(error)) throw closedOnCredentials(error);
          throw error;
        }
        if (!socket.unchangedSince(generation)) {
          throw new NotSent(new Error("the connection dropped during authentication"));
        }
        const serverToken = negotiateToken(response.headers["www-authenticate"]);
        if (response.statusCode === 401) {
          if (!serverToken || context.complete) throw refused();
          token = await context.step(serverToken);
          challenged = true;
          if (token === undefined) throw refused();
          continue;
        }
        if (response.statusCode === 503)
          throw new NotSent(new HttpError(503, "the host is not ready"));
        if (serverToken && !context.complete) await context.step(serverToken);
        if (!context.complete) {
          throw new HttpError(
            response.statusCode,
            `the host answered HTTP ${response.statusCode} during authentication`,
          );
        }
        token = undefined;
      }
      return context;
    },
  };
}
