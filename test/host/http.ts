/**
 * The loopback host's HTTP listener, configured like a Windows WinRM listener
 * (`winrm get winrm/config/service`): HTTP authentication (Negotiate always, Basic when
 * enabled), MS-WSMV 2.2.9.1 message encryption, and the refusals Windows makes.
 *
 * What Windows does, and what this reproduces:
 * - An unauthenticated request gets 401 with `WWW-Authenticate: Negotiate` (plus
 *   `Basic realm="WSMAN"` when Basic is on), except an Identify carrying the
 *   `WSMANIDENTIFY: unauthenticated` header, which Windows answers without authentication.
 * - A Negotiate handshake belongs to its TCP connection (HTTP authentication of connection-
 *   oriented schemes, RFC 4559 4.3): legs answer 401 with `WWW-Authenticate: Negotiate <token>`;
 *   the completing request gets the final token (SPNEGO accept-completed with its mechListMIC)
 *   in the header of its response. A new connection means a new handshake.
 * - With AllowUnencrypted=false, on HTTP, every message after authentication must be sealed
 *   (`multipart/encrypted`). A plaintext body sent along with the completing Authorization
 *   header is answered 401 (go-winrm and pywinrm with encryption off see "credentials rejected",
 *   as their users report against Windows); plaintext sent later on an authenticated connection
 *   gets HTTP 500 with an empty body (what pywinrm users see: "Bad HTTP response returned from
 *   server. Code 500", the event log naming the unencrypted message). Both are logged.
 * - Over HTTPS, TLS protects the messages, so plaintext SOAP is accepted after authentication;
 *   sealed messages are accepted too. Basic works only over HTTPS, or over HTTP when
 *   AllowUnencrypted is also on (Windows refuses Basic on HTTP otherwise).
 * - Responses to sealed requests are sealed, faults (HTTP 500) included (MS-WSMV 3.1.4.1.33).
 * - Requests larger than MaxEnvelopeSizekb get the w:EncodingLimit fault.
 */
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { AuthProtocol } from "../../provider/auth/context";
import { type AcceptorContext, createAcceptor } from "../../provider/auth/acceptor-context";
import { ReplayCache } from "../../provider/auth/kerberos/gss-acceptor";
import type { KeytabEntry } from "../../provider/auth/kerberos/keytab";
import type { CredentialLookup } from "../../provider/auth/credentials";
import type { ChannelBindingPolicy } from "../../provider/auth/ntlm/context";
import {
  decryptMessage,
  encryptedContentType,
  KERBEROS_ENCRYPTED,
  SPNEGO_ENCRYPTED,
  encryptMessage,
  isEncryptedContentType,
} from "../../provider/winrm/http/encryption";
import type { FaultController, MessageFault } from "./faults";
import { type ExecutionLog, LogKind } from "./log";
import type { WinRsService } from "./shell";
import {
  buildFault,
  buildIdentifyResponse,
  type FaultSpec,
  Faults,
  HostFault,
  type IdentifyFacts,
  parseEnvelope,
} from "./wsman";

const SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8";
/** The listener's URL prefix, as Windows' default `URLPrefix = wsman`. */
export const WSMAN_PATH = "/wsman";

export interface ListenerOptions {
  log: ExecutionLog;
  faults: FaultController;
  service: WinRsService;
  /** NT hashes for Negotiate. */
  credentials: CredentialLookup;
  /**
   * The service's Kerberos keys (a keytab's entries for HTTP/<host>), as a domain member has:
   * the listener then offers the Kerberos scheme too and accepts Kerberos inside Negotiate.
   */
  kerberosKeys?: readonly KeytabEntry[];
  /** False: NTLM is refused (a domain that disabled it); Kerberos is the only way in. */
  allowNtlm: boolean;
  /** Checks a Basic user name and password; returns the account name, or undefined. */
  checkBasic: (user: string, password: string) => string | undefined;
  /** The account name for a Negotiate identity (so quotas count one user once). */
  accountName: (user: string, domain: string) => string;
  /** The server certificate in DER, when serving HTTPS. */
  tlsCertificateDer?: Buffer;
  channelBindingApplicationData?: Buffer;
  basic: boolean;
  allowUnencrypted: boolean;
  cbtHardeningLevel: ChannelBindingPolicy;
  /** MaxEnvelopeSizekb in bytes. */
  maxEnvelopeSize: number;
  /** Refuse OperationTimeouts with a fraction of a second. */
  wholeSecondTimeoutsOnly: boolean;
  identify: IdentifyFacts;
  /** The name reported in WSManFault/@Machine. */
  machine: string;
}

interface Connection {
  id: number;
  /** The Negotiate context of this connection, during and after its handshake. */
  context: AcceptorContext | undefined;
  /** FaultController.contextEpoch when the context completed. */
  epoch: number;
  /** The authenticated account, once a handshake (or a Basic request) succeeded. */
  user: string | undefined;
  basicUser: string | undefined;
  /** Aborted when the connection closes: a waiting Receive gives up. */
  closed: AbortController;
  /**
   * The buffer request bodies are read into, kept between requests: a fresh one of 700 KB per
   * Send costs its page faults (about 4 ms each while an upload streams, a ninth of the host's
   * time). Taken by one request at a time; a request that finds it taken reads into its own.
   */
  bodyBuffer: Buffer | undefined;
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The request was a WS-Management message: fault switches apply to its response. */
  message: boolean;
  /** Close the connection instead of answering (a fault switch). */
  close?: string;
}

/** The sealing protocol a Content-Type announces (MS-WSMV 2.2.9.1), if it is sealed. */
function sealingProtocolOf(contentType: string | undefined): string | undefined {
  for (const protocol of [SPNEGO_ENCRYPTED, KERBEROS_ENCRYPTED]) {
    if (isEncryptedContentType(contentType, protocol)) return protocol;
  }
  return undefined;
}

export class WsmanListener {
  private readonly connections = new WeakMap<Socket, Connection>();
  /** Authenticators seen by any connection: a captured AP-REQ cannot log in twice. */
  private readonly replayCache = new ReplayCache();
  private nextConnection = 1;

  constructor(private readonly options: ListenerOptions) {}

  /** Attaches the request handler to an http or https server. */
  attach(server: Server): void {
    server.on("request", (request: IncomingMessage, response: ServerResponse) => {
      this.serve(request, response).catch((error: unknown) => {
        // Nothing sensible can be answered any more: drop the connection.
        console.error("loopback host: request failed:", error);
        request.socket.destroy();
      });
    });
  }

  private connectionOf(socket: Socket): Connection {
    let connection = this.connections.get(socket);
    if (connection === undefined) {
      const created: Connection = {
        id: this.nextConnection++,
        context: undefined,
        epoch: 0,
        user: undefined,
        basicUser: undefined,
        closed: new AbortController(),
        bodyBuffer: undefined,
      };
      socket.once("close", () => created.closed.abort());
      this.connections.set(socket, created);
      connection = created;
    }
    return connection;
  }

  private get tls(): boolean {
    return this.options.tlsCertificateDer !== undefined;
  }

  /** Whether a plaintext SOAP message is acceptable (AllowUnencrypted applies to HTTP only). */
  private get plaintextAllowed(): boolean {
    return this.tls || this.options.allowUnencrypted;
  }

  private challenge(extra: Record<string, string> = {}): Reply {
    const schemes = ["Negotiate"];
    if (this.options.kerberosKeys !== undefined) schemes.push("Kerberos");
    if (this.options.basic && this.plaintextAllowed) schemes.push('Basic realm="WSMAN"');
    return {
      status: 401,
      headers: { "WWW-Authenticate": schemes.join(", "), ...extra },
      body: Buffer.alloc(0),
      message: false,
    };
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.options.log.count("requests");
    const connection = this.connectionOf(request.socket);
    const lent = connection.bodyBuffer;
    connection.bodyBuffer = undefined;
    const read = await readBody(request, this.options.maxEnvelopeSize * 2 + 64 * 1024, lent);
    try {
      return await this.serveBody(request, response, connection, read?.body);
    } finally {
      // Nothing keeps a view of the body after its reply (decryption, parsing and base64
      // decoding all copy out of it), so the next request on this connection may have it.
      connection.bodyBuffer = read?.buffer ?? lent;
    }
  }

  private async serveBody(
    request: IncomingMessage,
    response: ServerResponse,
    connection: Connection,
    body: Buffer | undefined,
  ): Promise<void> {
    const { log, faults } = this.options;
    const socket = request.socket;
    if (body === undefined) {
      log.record(LogKind.REQUEST_REFUSED, { connection: connection.id, detail: "body too large" });
      return this.send(response, {
        status: 413,
        headers: { Connection: "close" },
        body: Buffer.alloc(0),
        message: false,
      });
    }
    const path = (request.url ?? "").split("?")[0]?.toLowerCase();
    if (path !== WSMAN_PATH) {
      return this.send(response, {
        status: 404,
        headers: {},
        body: Buffer.alloc(0),
        message: false,
      });
    }
    if (request.method !== "POST") {
      return this.send(response, {
        status: 405,
        headers: { Allow: "POST" },
        body: Buffer.alloc(0),
        message: false,
      });
    }
    const isMessage = body.length > 0;
    const injected = isMessage ? faults.nextMessage() : undefined;
    if (injected?.kind === "drop") {
      log.record(LogKind.FAULT_INJECTED, {
        connection: connection.id,
        detail: "connection dropped on request",
      });
      socket.destroy();
      return;
    }
    const reply = await this.authenticateAndServe(request, connection, body, injected);
    reply.message = reply.message || isMessage;
    return this.send(response, reply);
  }

  private async authenticateAndServe(
    request: IncomingMessage,
    connection: Connection,
    body: Buffer,
    injected: MessageFault | undefined,
  ): Promise<Reply> {
    const { log } = this.options;
    const authorization = request.headers.authorization ?? "";
    const [scheme = "", credentials = ""] = authorization.trim().split(/\s+/, 2);
    const contentType = request.headers["content-type"];

    const handshakeScheme =
      scheme.toLowerCase() === "negotiate"
        ? "Negotiate"
        : scheme.toLowerCase() === "kerberos" && this.options.kerberosKeys !== undefined
          ? "Kerberos"
          : undefined;
    if (handshakeScheme !== undefined && credentials !== "") {
      const step = await this.negotiateStep(
        connection,
        Buffer.from(credentials, "base64"),
        handshakeScheme,
      );
      if (step.reply) return step.reply;
      const finalHeader: Record<string, string> = step.token
        ? { "WWW-Authenticate": `${handshakeScheme} ${step.token.toString("base64")}` }
        : {};
      if (body.length === 0)
        return { status: 200, headers: finalHeader, body: Buffer.alloc(0), message: false };
      if (sealingProtocolOf(contentType) === undefined && !this.plaintextAllowed) {
        // The handshake is discarded with the plaintext it carried.
        connection.context = undefined;
        connection.user = undefined;
        log.record(LogKind.REQUEST_REFUSED, {
          connection: connection.id,
          detail: "plaintext message sent with the authentication; AllowUnencrypted is false",
        });
        return this.challenge();
      }
      const reply = await this.serveMessage(
        connection,
        connection.user,
        body,
        contentType,
        injected,
      );
      reply.headers = { ...finalHeader, ...reply.headers };
      return reply;
    }

    if (scheme.toLowerCase() === "basic") {
      const user = this.basic(connection, credentials);
      if (user === undefined) return this.challenge();
      if (sealingProtocolOf(contentType) !== undefined) {
        log.record(LogKind.REQUEST_REFUSED, {
          connection: connection.id,
          detail: "Basic cannot seal messages",
        });
        return { status: 400, headers: {}, body: Buffer.alloc(0), message: true };
      }
      return this.serveMessage(connection, user, body, contentType, injected);
    }

    if (scheme !== "") {
      log.record(LogKind.AUTHENTICATION_FAILED, {
        connection: connection.id,
        detail: `unsupported authentication scheme ${scheme}`,
      });
      return this.challenge();
    }

    const context = connection.context;
    if (context?.complete && connection.user !== undefined) {
      if (connection.epoch !== this.options.faults.contextEpoch) {
        connection.context = undefined;
        connection.user = undefined;
        log.record(LogKind.REQUEST_REFUSED, {
          connection: connection.id,
          detail: "security context forgotten (injected): authenticate again",
        });
        return this.challenge();
      }
      return this.serveMessage(connection, connection.user, body, contentType, injected);
    }

    // Unauthenticated: only Identify, and only when it asks to be unauthenticated (MS-WSMV 3.1.4.16).
    const unauthenticatedIdentify =
      String(request.headers.wsmanidentify ?? "").toLowerCase() === "unauthenticated";
    if (
      unauthenticatedIdentify &&
      body.length > 0 &&
      sealingProtocolOf(contentType) === undefined
    ) {
      return this.serveMessage(connection, undefined, body, contentType, injected);
    }
    return this.challenge();
  }

  /** One leg of the connection's Negotiate handshake. */
  private async negotiateStep(
    connection: Connection,
    token: Buffer,
    scheme: "Negotiate" | "Kerberos",
  ): Promise<{ reply?: Reply; token?: Buffer }> {
    const { log } = this.options;
    if (connection.context === undefined || connection.context.complete) {
      // A first leg, or a new handshake on a connection that had one: start afresh.
      const keys = this.options.kerberosKeys;
      connection.context = createAcceptor({
        credentials: this.options.credentials,
        channelBindings: this.options.channelBindingApplicationData,
        channelBindingPolicy: this.options.cbtHardeningLevel,
        allowNtlm: this.options.allowNtlm,
        // The Kerberos scheme carries bare Kerberos tokens only, never SPNEGO or NTLM.
        ...(scheme === "Kerberos" ? { protocols: [AuthProtocol.KERBEROS] } : {}),
        ...(keys === undefined
          ? {}
          : {
              kerberos: {
                keys,
                replayCache: this.replayCache,
                ...(this.options.channelBindingApplicationData === undefined
                  ? {}
                  : { channelBindings: this.options.channelBindingApplicationData }),
                channelBindingPolicy: this.options.cbtHardeningLevel,
              },
            }),
      });
      connection.user = undefined;
    }
    const context = connection.context;
    let output: Buffer | undefined;
    try {
      output = await context.step(token);
    } catch (error) {
      connection.context = undefined;
      log.record(LogKind.AUTHENTICATION_FAILED, {
        connection: connection.id,
        detail: error instanceof Error ? error.message : String(error),
      });
      if (this.options.faults.closesConnectionOnRefusedLogin) {
        return { reply: { ...this.challenge(), close: "connection closed on a refused login" } };
      }
      return { reply: this.challenge() };
    }
    if (!context.complete) {
      if (output === undefined) {
        connection.context = undefined;
        return { reply: this.challenge() };
      }
      return {
        reply: {
          status: 401,
          headers: { "WWW-Authenticate": `${scheme} ${output.toString("base64")}` },
          body: Buffer.alloc(0),
          message: false,
        },
      };
    }
    const identity = context.identity;
    connection.user = this.options.accountName(identity.user, identity.domain);
    connection.epoch = this.options.faults.contextEpoch;
    log.record(LogKind.AUTHENTICATED, {
      connection: connection.id,
      user: identity.domain ? `${identity.domain}\\${identity.user}` : identity.user,
      detail: `${scheme} (${context.protocol}, ${context.mechanism})${this.tls ? " over TLS" : ""}`,
    });
    return output === undefined ? {} : { token: output };
  }

  /** Checks a Basic Authorization; returns the account, or undefined after logging why not. */
  private basic(connection: Connection, credentials: string): string | undefined {
    const { log } = this.options;
    const refuse = (detail: string) => {
      log.record(LogKind.AUTHENTICATION_FAILED, { connection: connection.id, detail });
      return undefined;
    };
    if (!this.options.basic) return refuse("Basic authentication is disabled");
    if (!this.plaintextAllowed) {
      return refuse("Basic over HTTP needs AllowUnencrypted (the password would travel in clear)");
    }
    const decoded = Buffer.from(credentials, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return refuse("malformed Basic credentials");
    const name = decoded.slice(0, colon);
    const user = this.options.checkBasic(name, decoded.slice(colon + 1));
    if (user === undefined) return refuse(`Basic authentication of ${name} failed`);
    if (connection.basicUser !== user) {
      connection.basicUser = user;
      log.record(LogKind.AUTHENTICATED, { connection: connection.id, user: name, detail: "Basic" });
    }
    return user;
  }

  /**
   * Decrypts (when sealed), checks and serves one WS-Management message, and builds the reply,
   * sealed when the request was. `user` is undefined only for an unauthenticated Identify.
   */
  private async serveMessage(
    connection: Connection,
    user: string | undefined,
    body: Buffer,
    contentType: string | undefined,
    injected: MessageFault | undefined,
  ): Promise<Reply> {
    const { log } = this.options;
    const sealing = sealingProtocolOf(contentType);
    const sealed = sealing !== undefined;
    const context = connection.context;
    let soap: Buffer;
    if (sealed) {
      if (context?.complete !== true) {
        return { status: 400, headers: {}, body: Buffer.alloc(0), message: true };
      }
      try {
        soap = decryptMessage(context, body);
      } catch (error) {
        // A message that does not verify is not from the authenticated peer.
        connection.context = undefined;
        connection.user = undefined;
        log.record(LogKind.REQUEST_REFUSED, {
          connection: connection.id,
          user,
          detail: `sealed message rejected: ${error instanceof Error ? error.message : String(error)}`,
        });
        return {
          status: 400,
          headers: { Connection: "close" },
          body: Buffer.alloc(0),
          message: true,
        };
      }
      log.count("sealedMessages");
    } else {
      if (!this.plaintextAllowed && user !== undefined) {
        log.record(LogKind.REQUEST_REFUSED, {
          connection: connection.id,
          user,
          detail: "plaintext message on HTTP; AllowUnencrypted is false",
        });
        return { status: 500, headers: {}, body: Buffer.alloc(0), message: true };
      }
      soap = body;
      log.count("plaintextMessages");
    }

    const seal = (xml: string | Buffer, status: number): Reply => {
      const plain = typeof xml === "string" ? Buffer.from(xml, "utf8") : xml;
      log.noteResponseEnvelope(plain.length);
      if (sealed && context?.complete) {
        return {
          status,
          headers: { "Content-Type": encryptedContentType(sealing) },
          body: encryptMessage(context, plain, sealing),
          message: true,
        };
      }
      return { status, headers: { "Content-Type": SOAP_CONTENT_TYPE }, body: plain, message: true };
    };
    const fault = (
      spec: FaultSpec,
      relatesTo: string | undefined,
      injectedFault = false,
    ): Reply => {
      log.record(injectedFault ? LogKind.FAULT_INJECTED : LogKind.FAULT, {
        connection: connection.id,
        user,
        detail: `${spec.subcode} ${spec.wsmanCode}`,
      });
      return seal(buildFault(spec, relatesTo, this.options.machine), 500);
    };

    if (injected?.kind === "status") {
      log.record(LogKind.FAULT_INJECTED, {
        connection: connection.id,
        user,
        detail: `HTTP ${injected.status}`,
      });
      return { status: injected.status, headers: {}, body: Buffer.alloc(0), message: true };
    }
    if (soap.length > this.options.maxEnvelopeSize) {
      return fault(Faults.requestTooLarge(soap.length, this.options.maxEnvelopeSize), undefined);
    }
    let relatesTo: string | undefined;
    try {
      const envelope = parseEnvelope(soap);
      relatesTo = envelope.headers.messageId;
      if (injected?.kind === "fault") {
        const spec: FaultSpec = {
          code: "s:Receiver",
          subcode: injected.fault.subcode ?? "w:InternalError",
          reason: injected.fault.message,
          wsmanCode: injected.fault.code,
        };
        return fault(spec, relatesTo, true);
      }
      if (envelope.identify) return seal(buildIdentifyResponse(this.options.identify), 200);
      if (user === undefined) return this.challenge();
      const timeoutMs = envelope.headers.operationTimeoutMs;
      if (this.options.wholeSecondTimeoutsOnly && timeoutMs !== undefined && timeoutMs % 1000) {
        return fault(Faults.operationTimeoutNotWhole(timeoutMs), relatesTo);
      }
      const xml = await this.options.service.handle(envelope, {
        user,
        connection: connection.id,
        signal: connection.closed.signal,
      });
      return seal(xml, 200);
    } catch (error) {
      if (error instanceof HostFault) return fault(error.spec, relatesTo);
      const reason = error instanceof Error ? error.message : String(error);
      return fault(
        { code: "s:Receiver", subcode: "w:InternalError", reason, wsmanCode: 2150858755 },
        relatesTo,
      );
    }
  }

  /** Writes a reply, applying the delay and truncation switches to WS-Management messages. */
  private async send(response: ServerResponse, reply: Reply): Promise<void> {
    const { faults, log } = this.options;
    const socket = await socketOf(response);
    if (socket === null || socket.destroyed) return;
    if (reply.close !== undefined) {
      log.record(LogKind.FAULT_INJECTED, { detail: reply.close });
      socket.destroy();
      return;
    }
    const headers: Record<string, string> = {
      Server: "pulumi-winrm-loopback",
      ...reply.headers,
      "Content-Length": String(reply.body.length),
    };
    if (reply.message) {
      const delay = faults.responseDelayMs;
      if (delay > 0) {
        log.record(LogKind.FAULT_INJECTED, { detail: `response delayed ${delay} ms` });
        await new Promise((resolve) => setTimeout(resolve, delay));
        if (socket.destroyed) return;
      }
      const cut = faults.takeResponseCut();
      if (cut !== undefined) {
        log.record(LogKind.FAULT_INJECTED, { detail: `response cut after ${cut} bytes` });
        const head =
          `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ""}\r\n` +
          Object.entries(headers)
            .map(([name, value]) => `${name}: ${value}\r\n`)
            .join("") +
          "\r\n";
        const raw = Buffer.concat([Buffer.from(head, "latin1"), reply.body]);
        socket.write(raw.subarray(0, Math.min(cut, raw.length)), () => socket.destroy());
        return;
      }
    }
    response.writeHead(reply.status, headers);
    response.end(reply.body);
  }
}

/**
 * The socket a response goes out on, or null once its connection is gone. A keep-alive client
 * may send its next request as soon as it has read a reply, before node's http server has seen
 * that reply's write finish; the new response is then queued and gets its socket only when the
 * earlier one finishes. Reading response.socket too early finds null, and a reply treated as
 * "connection gone" is never written, leaving the client to time out.
 */
function socketOf(response: ServerResponse): Promise<Socket | null> {
  if (response.socket !== null) return Promise.resolve(response.socket);
  const connection = response.req.socket;
  if (connection.destroyed) return Promise.resolve(null);
  return new Promise((resolve) => {
    const assigned = (socket: Socket) => {
      connection.off("close", gone);
      resolve(socket);
    };
    const gone = () => {
      response.off("socket", assigned);
      resolve(null);
    };
    response.once("socket", assigned);
    connection.once("close", gone);
  });
}

/**
 * Reads a request body into `into` when it fits (else into a buffer it allocates, returned as
 * `buffer` for the next request); undefined (and the connection closed) when the body exceeds
 * `limit`.
 */
function readBody(
  request: IncomingMessage,
  limit: number,
  into: Buffer | undefined,
): Promise<{ body: Buffer; buffer: Buffer } | undefined> {
  return new Promise((resolve, reject) => {
    const announced = Number(request.headers["content-length"]);
    const expected = Number.isSafeInteger(announced) && announced <= limit ? announced : 0;
    let buffer =
      into !== undefined && into.length >= expected ? into : Buffer.allocUnsafe(expected);
    let size = 0;
    let over = false;
    request.on("data", (chunk: Buffer) => {
      if (over) return;
      if (size + chunk.length > limit) {
        over = true;
        resolve(undefined);
        return;
      }
      if (size + chunk.length > buffer.length) {
        // A chunked body, or longer than announced: grow by doubling.
        const grown = Buffer.allocUnsafe(
          Math.min(limit, Math.max(2 * buffer.length, size + chunk.length)),
        );
        buffer.copy(grown, 0, 0, size);
        buffer = grown;
      }
      chunk.copy(buffer, size);
      size += chunk.length;
    });
    request.on("end", () => {
      if (!over) resolve({ body: buffer.subarray(0, size), buffer });
    });
    request.on("error", reject);
  });
}
