/**
 * HTTP Negotiate (RFC 4559 framing) with SPNEGO, NTLM or Kerberos inside, as WinRM uses it
 * (MS-WSMV 3.1.4.1.2), and the HTTP `Kerberos` scheme a domain member's listener also offers: a
 * handshake of empty-bodied POSTs on each new socket, after which messages on that socket are
 * sealed with the context when the endpoint is plain HTTP or encryption is "always"
 * (application/HTTP-SPNEGO-session-encrypted, or HTTP-Kerberos-session-encrypted for
 * auth "kerberos", MS-WSMV 2.2.9.1).
 */
import { type AuthProtocol, createInitiator, type SecurityContext } from "../../auth/context";
import { tlsServerEndPoint } from "../../auth/channel-bindings";
import type { KerberosSettings } from "../../auth/kerberos/tickets";
import type { Credential } from "../../auth/kerberos/kdc-client";
import { AuthenticationError, HttpError } from "../../errors";
import { type HandshakeSocket, type HttpAuthenticator, refusedError } from "./authenticator";
import { KERBEROS_ENCRYPTED, SPNEGO_ENCRYPTED } from "./encryption";
import { errorCode, isConnectionFailure, NotSent } from "./failures";
import type { TransportOptions } from "./options";

/** How long each leg of the handshake may take. */
const AUTH_TIMEOUT_MS = 30_000;

/** The token of a `WWW-Authenticate: <scheme> <base64>` header, if there is one. */
function schemeToken(header: string | string[] | undefined, scheme: string): Buffer | undefined {
  const pattern = new RegExp(`^\\s*${scheme}\\s+([A-Za-z0-9+/=]+)\\s*$`, "i");
  for (const value of Array.isArray(header) ? header : header ? [header] : []) {
    for (const part of value.split(",")) {
      const match = pattern.exec(part);
      if (match) return Buffer.from(match[1]!, "base64");
    }
  }
  return undefined;
}

/** Gets a service ticket for the host (TicketSource of auth/context). */
type ServiceTickets = () => Promise<Credential>;

/**
 * Whether the settings name anything Kerberos could start from: a KDC, keytab or cache, or a
 * realm (the `realm` option or user@REALM). Without one, negotiate is NTLM and the Kerberos
 * modules are never loaded, which keeps a workgroup client's start short.
 */
function namesKerberos(settings: KerberosSettings): boolean {
  return Boolean(
    settings.kdc?.length ||
    settings.keytab ||
    settings.ccache ||
    settings.realm !== undefined ||
    settings.user.includes("@"),
  );
}

/**
 * The service tickets of this client, decided once and shared by its connections, when Kerberos
 * is to be tried: always for auth "kerberos"; for "negotiate" only when something configures it
 * (a kdc, keytab or ccache option, or a krb5.conf or credential cache that knows the user's
 * realm), so that a workgroup host costs no KDC lookups. Resolves to undefined otherwise.
 */
function serviceTicketsOf(
  options: TransportOptions,
  spn: string,
): () => Promise<ServiceTickets | undefined> {
  const settings: KerberosSettings = {
    user: options.user,
    ...(options.secret === undefined ? {} : { secret: options.secret }),
    ...options.kerberos,
    timeoutMs: Math.min(options.connectTimeoutMs, 10_000),
  };
  const kerberosOnly = options.auth === "kerberos";
  if (options.auth === "ntlm" || (!kerberosOnly && !namesKerberos(settings))) {
    return () => Promise.resolve(undefined);
  }
  let decided: Promise<ServiceTickets | undefined> | undefined;
  const decide = async (): Promise<ServiceTickets | undefined> => {
    const { KerberosTickets } = await import("../../auth/kerberos/tickets.js");
    if (!kerberosOnly && !KerberosTickets.configured(settings)) return undefined;
    let tickets: InstanceType<typeof KerberosTickets> | undefined;
    // Made at the first handshake that needs a ticket, inside the promise: a keytab that
    // cannot be read is a rejected ticket (negotiate then falls back to NTLM), not a throw.
    return () =>
      Promise.resolve().then(() => (tickets ??= new KerberosTickets(settings)).serviceTicket(spn));
  };
  return () => (decided ??= decide());
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
  const kerberosOnly = options.auth === "kerberos";
  const spn = options.kerberos?.spn ?? `HTTP/${options.endpoint.hostname}`;
  const serviceTickets = serviceTicketsOf(options, spn);
  /** Which mechanism the last handshake used, and why negotiate fell back, for messages. */
  let used: string | undefined;
  let fallbackReason: string | undefined;
  return {
    name: options.auth,
    sealingProtocol: seals(options)
      ? kerberosOnly
        ? KERBEROS_ENCRYPTED
        : SPNEGO_ENCRYPTED
      : undefined,
    get mechanism() {
      return used;
    },
    requestHeaders: () => ({}),
    refused,
    /**
     * An empty probe first opens the socket, so that over TLS the certificate is known before
     * the context is made (channel bindings hash it), and shows which schemes the host offers.
     */
    async handshake(socket: HandshakeSocket): Promise<SecurityContext> {
      const { auth, user, secret } = options;
      const probe = await socket.exchange(Buffer.alloc(0), undefined, AUTH_TIMEOUT_MS);
      if (probe.statusCode === 503)
        throw new NotSent(new HttpError(503, "the host is not ready (HTTP 503)"));
      const offered = probe.headers["www-authenticate"];
      const schemes = (Array.isArray(offered) ? offered.join(",") : (offered ?? "")).toLowerCase();
      // auth "kerberos" uses the Kerberos scheme where the host offers it (a domain member
      // does) and a bare Kerberos token under Negotiate where it does not.
      const scheme = kerberosOnly && /(^|[\s,])kerberos\b/.test(schemes) ? "Kerberos" : "Negotiate";
      if (probe.statusCode === 401 && !schemes.includes(scheme.toLowerCase())) {
        throw new AuthenticationError(
          `the host does not offer Negotiate authentication (it offers: ${schemes || "nothing"}): enable ` +
            'it on the listener (winrm set winrm/config/service/auth @{Negotiate="true"})',
          { user },
        );
      }
      const generation = socket.generation;
      const peer = socket.peerCertificate;
      const tickets = await serviceTickets();
      const context = createInitiator({
        protocol: auth as AuthProtocol,
        user,
        secret,
        targetName: spn,
        channelBindings: peer ? tlsServerEndPoint(peer) : undefined,
        ...(tickets === undefined ? {} : { tickets }),
        onFallback: (reason) => {
          fallbackReason = reason.message;
        },
      });
      let token = await context.step();
      // Whether the host has answered a leg with its challenge: it is up and knows we are here.
      let challenged = false;
      while (token !== undefined) {
        let response;
        try {
          response = await socket.exchange(Buffer.alloc(0), undefined, AUTH_TIMEOUT_MS, {
            authorization: `${scheme} ${token.toString("base64")}`,
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
        const serverToken = schemeToken(response.headers["www-authenticate"], scheme);
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
      used =
        context.mechanism === "ntlm" && fallbackReason !== undefined
          ? `ntlm (Kerberos was not used: ${fallbackReason})`
          : context.mechanism;
      return context;
    },
  };
}
