/**
 * The HTTP side of WinRM: authenticated keep-alive connections over undici, message encryption,
 * re-authentication, retries and timeouts.
 *
 * An NTLM security context belongs to one TCP connection (MS-WSMV 3.1.1.1.2): the handshake
 * runs on it with empty-bodied POSTs, and every later request on the same socket is sealed
 * with its keys and carries no Authorization header. Requests on a connection are therefore
 * serialised, one in flight.
 *
 * Every handshake costs round trips and shows in the host's security log, so the pool keeps one
 * connection and opens another only when waiting for the first could stall: when a Send is in
 * flight (the host may hold it until the command reads its input, and what lets the command go
 * on may be the very Receive that is waiting), when a Send would wait (the Receive in flight
 * may be waiting for its input), or when a caller has waited longer than OPEN_ANOTHER_AFTER_MS.
 */
import { createHash, X509Certificate } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { buildConnector, Client } from "undici";
import { type AuthProtocol, createInitiator, type SecurityContext } from "../auth/context";
import { tlsServerEndPoint } from "../auth/channel-bindings";
import type { Secret } from "../auth/credentials";
import {
  AuthenticationError,
  ConnectionLostError,
  HostUnreachableError,
  HttpError,
  IntegrityError,
  InvalidArgumentError,
  PlaintextRefusedError,
  ProtocolError,
  TimeoutError,
  TlsError,
  WinRMError,
} from "../errors";
import {
  decryptMessage,
  ENCRYPTED_CONTENT_TYPE,
  encryptMessage,
  isEncryptedContentType,
} from "./encryption";
import { defaultTrustedCertificates } from "./trust";

export type AuthMethod = "negotiate" | "ntlm" | "basic";
export type EncryptionMode = "auto" | "always" | "never";

export interface TlsOptions {
  /** PEM CA bundle to trust instead of the default roots (Node's and the system's). */
  ca?: string | Buffer;
  /** SHA-256 fingerprint of the server certificate (hex, colons allowed): trust exactly it. */
  certFingerprint?: string;
  /** Skip certificate verification entirely. Only when set by name. */
  insecure?: boolean;
}

export interface TransportOptions {
  /** http(s)://host:port/wsman */
  endpoint: URL;
  auth: AuthMethod;
  user: string;
  secret: Secret;
  encryption: EncryptionMode;
  allowUnencrypted: boolean;
  tls: TlsOptions;
  connectTimeoutMs: number;
  /** How long to keep retrying a host that refuses or resets connections (still booting). */
  readyTimeoutMs: number;
  /** Most authenticated connections to keep open at once. */
  maxConnections: number;
  /** Largest response body accepted, bytes. */
  maxResponseBytes: number;
}

export interface RequestOptions {
  /** Whether repeating the request after a dropped connection is safe (Receive, Signal, Delete). */
  idempotent: boolean;
  /** HTTP read timeout: above the request's WS-Man OperationTimeout. */
  timeoutMs: number;
  /**
   * The host may hold this request until the command consumes it: a Send of stdin is answered
   * only once the command's input pipe has room (MS-WSMV 3.1.4.12).
   */
  mayBlockOnHost?: boolean;
}

/** How long a caller waits for the busy connection(s) before the pool opens another. */
const OPEN_ANOTHER_AFTER_MS = 2000;

/** Statuses and socket errors that mean "nobody is answering yet" while a host boots. */
const RETRYABLE_CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
]);

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && code !== "") return code;
    current = current.cause;
  }
  return undefined;
}

function isConnectionFailure(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && RETRYABLE_CONNECT_CODES.has(code);
}

function negotiateToken(header: string | string[] | undefined): Buffer | undefined {
  for (const value of Array.isArray(header) ? header : header ? [header] : []) {
    for (const part of value.split(",")) {
      const match = /^\s*Negotiate\s+([A-Za-z0-9+/=]+)\s*$/i.exec(part);
      if (match) return Buffer.from(match[1]!, "base64");
    }
  }
  return undefined;
}

function normaliseFingerprint(value: string): string {
  const hex = value.replace(/[:\s]/g, "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new InvalidArgumentError(
      "certFingerprint",
      "must be a SHA-256 fingerprint: 64 hex digits, colons allowed",
    );
  }
  return hex;
}

interface Response {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * A request that never reached the host as an authenticated request (the connection failed
 * while connecting or authenticating, or the host is still booting): always safe to retry.
 */
class NotSent extends Error {
  constructor(cause: unknown) {
    super("not sent", { cause });
  }
}

/** The host answered 401 to a sealed request: it no longer knows this connection's context. */
class SessionExpired extends Error {}

/** One keep-alive socket, its security context, and a queue so one request is in flight. */
class Connection {
  private readonly client: Client;
  private context: SecurityContext | undefined;
  /** Raw DER of the server certificate of the current socket (TLS only). */
  private peerCertificate: Buffer | undefined;
  /** Counts sockets undici opened: a security context is valid only on its own socket. */
  private socketGeneration = 0;
  private authenticatedGeneration = -1;
  private queue: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private closed = false;

  constructor(private readonly options: TransportOptions) {
    const { endpoint, tls } = options;
    const https = endpoint.protocol === "https:";
    const pin = tls.certFingerprint ? normaliseFingerprint(tls.certFingerprint) : undefined;
    const base = buildConnector({
      timeout: options.connectTimeoutMs,
      maxCachedSessions: 0,
      ...(https
        ? { rejectUnauthorized: !(tls.insecure || pin), ca: tls.ca ?? defaultTrustedCertificates() }
        : {}),
    });
    this.client = new Client(endpoint.origin, {
      pipelining: 1,
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
      connect: (connectOptions, callback) => {
        base(connectOptions, (error, socket) => {
          if (error) {
            callback(error, null);
            return;
          }
          this.socketGeneration++;
          this.peerCertificate = undefined;
          if (https) {
            const raw = (socket as TLSSocket).getPeerCertificate(false)?.raw;
            this.peerCertificate = raw ? Buffer.from(raw) : undefined;
            const actual = raw ? createHash("sha256").update(raw).digest("hex") : "(none)";
            if (pin && actual !== pin) {
              socket.destroy();
              callback(
                new TlsError(
                  `the server certificate's SHA-256 fingerprint is ${actual}, not the pinned ${pin}: ` +
                    "check certFingerprint, or that you reach the intended host",
                ),
                null,
              );
              return;
            }
          }
          callback(null, socket);
        });
      },
    });
  }

  get busy(): boolean {
    return this.pending > 0;
  }

  /** Whether the request in flight is one the host may hold (see RequestOptions). */
  blockedOnHost = false;

  /** Runs `work` after every earlier request on this connection has finished. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    this.pending++;
    const run = this.queue.then(work, work);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run.finally(() => this.pending--);
  }

  private get encrypted(): boolean {
    const { encryption, auth, endpoint } = this.options;
    if (auth === "basic") return false;
    if (encryption === "always") return true;
    if (encryption === "never") return false;
    return endpoint.protocol === "http:";
  }

  /** Sends one SOAP message and returns the reply (decrypted), whatever its HTTP status. */
  async send(soap: Buffer, timeoutMs: number): Promise<{ statusCode: number; soap: Buffer }> {
    if (this.closed) throw new ConnectionLostError("the WinRM client was closed");
    const basic = this.options.auth === "basic";
    if (!basic && this.authenticatedGeneration !== this.socketGeneration) {
      try {
        await this.authenticate();
      } catch (error) {
        throw error instanceof WinRMError ? error : new NotSent(error);
      }
    }
    const generation = this.socketGeneration;
    const headers: Record<string, string> = basic ? { authorization: this.basicHeader() } : {};
    const response = this.encrypted
      ? await this.request(
          encryptMessage(this.context!, soap),
          ENCRYPTED_CONTENT_TYPE,
          timeoutMs,
          headers,
        )
      : await this.request(soap, SOAP_CONTENT_TYPE, timeoutMs, headers);
    if (!basic && generation !== this.socketGeneration) {
      // undici opened a new socket for this request: the host saw it unauthenticated.
      throw new NotSent(new Error("the connection was replaced before the request was sent"));
    }
    return this.readReply(response);
  }

  private readReply(response: Response): { statusCode: number; soap: Buffer } {
    const contentType = response.headers["content-type"];
    const type = Array.isArray(contentType) ? contentType[0] : contentType;
    if (response.statusCode === 401) {
      if (this.options.auth === "basic") throw this.refused();
      this.authenticatedGeneration = -1;
      if (!this.encrypted && response.body.length === 0) throw this.plaintextRefused(401);
      throw new SessionExpired();
    }
    if (this.encrypted) {
      // Every reply on a sealed session must be sealed with that session's keys (MS-WSMV
      // 2.2.9.1): a plain one can have been written by anyone between here and the host (a
      // forged Identify, or a fault in place of the answer to a command that did run).
      // An empty error reply carries nothing to believe and stays an HttpError below.
      if (!isEncryptedContentType(type) && response.body.length > 0) {
        this.authenticatedGeneration = -1;
        throw new IntegrityError(
          `the host answered a sealed request with an unsealed reply (HTTP ${response.statusCode}, ` +
            `Content-Type ${type ?? "(none)"}): refused, because anyone between here and the host ` +
            "could have written it. If the host really does this, connect over HTTPS",
        );
      }
      if (isEncryptedContentType(type)) {
        try {
          return {
            statusCode: response.statusCode,
            soap: decryptMessage(this.context!, response.body),
          };
        } catch (error) {
          // The sequence numbers no longer agree with the host's: start a new context.
          this.authenticatedGeneration = -1;
          throw error;
        }
      }
    } else if (isEncryptedContentType(type)) {
      throw new ProtocolError(
        "HTTP reply",
        "the host sent a sealed reply to an unsealed request, which no session can decrypt",
      );
    }
    if (response.body.length === 0 && response.statusCode >= 400) {
      if (!this.encrypted) throw this.plaintextRefused(response.statusCode);
      throw new HttpError(
        response.statusCode,
        `the host answered HTTP ${response.statusCode} with no body`,
      );
    }
    return { statusCode: response.statusCode, soap: response.body };
  }

  private plaintextRefused(status: number): PlaintextRefusedError {
    return new PlaintextRefusedError(
      `the host answered HTTP ${status} to an unencrypted message: it refuses them ` +
        '(AllowUnencrypted=false on the host). Use encryption "auto" (the default) with negotiate or ' +
        "ntlm authentication, or HTTPS",
    );
  }

  private basicHeader(): string {
    const secret = this.options.secret;
    if (!("password" in secret)) {
      throw new InvalidArgumentError(
        "auth",
        "Basic authentication needs a password, not an NT hash",
      );
    }
    return `Basic ${Buffer.from(`${this.options.user}:${secret.password}`, "utf8").toString("base64")}`;
  }

  /**
   * The Negotiate handshake on this socket (MS-WSMV 3.1.4.1.2, RFC 4559 framing). An empty
   * probe first opens the socket, so that over TLS the certificate is known before the context
   * is made (channel bindings hash it), and shows which schemes the host offers.
   */
  private async authenticate(): Promise<void> {
    const { endpoint, auth, user, secret } = this.options;
    const probe = await this.request(Buffer.alloc(0), undefined, AUTH_TIMEOUT_MS);
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
    const generation = this.socketGeneration;
    const context = createInitiator({
      protocol: auth as AuthProtocol,
      user,
      secret,
      targetName: `HTTP/${endpoint.hostname}`,
      channelBindings: this.peerCertificate ? tlsServerEndPoint(this.peerCertificate) : undefined,
    });
    let token = await context.step();
    while (token !== undefined) {
      const response = await this.request(Buffer.alloc(0), undefined, AUTH_TIMEOUT_MS, {
        authorization: `Negotiate ${token.toString("base64")}`,
      });
      if (generation !== this.socketGeneration) {
        throw new NotSent(new Error("the connection dropped during authentication"));
      }
      const serverToken = negotiateToken(response.headers["www-authenticate"]);
      if (response.statusCode === 401) {
        if (!serverToken || context.complete) throw this.refused();
        token = await context.step(serverToken);
        if (token === undefined) throw this.refused();
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
    this.context = context;
    this.authenticatedGeneration = generation;
    this.onAuthenticated?.();
  }

  onAuthenticated: (() => void) | undefined;

  private refused(): AuthenticationError {
    const { user, auth } = this.options;
    const form = user.includes("\\") ? "DOMAIN\\user" : user.includes("@") ? "user@domain" : "user";
    return new AuthenticationError(
      `the host refused ${auth} authentication for "${user}" (written as ${form}): check the user ` +
        "name and password, and that the account may use WinRM (Administrators or Remote Management Users)",
      { user },
    );
  }

  private async request(
    body: Buffer,
    contentType: string | undefined,
    timeoutMs: number,
    extraHeaders: Record<string, string> = {},
  ): Promise<Response> {
    const headers: Record<string, string> = {
      "content-length": String(body.length),
      "user-agent": USER_AGENT,
      ...extraHeaders,
    };
    if (contentType) headers["content-type"] = contentType;
    try {
      const response = await this.client.request({
        method: "POST",
        path: this.options.endpoint.pathname + this.options.endpoint.search,
        headers,
        body,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body) {
        const buffer = chunk as Buffer;
        size += buffer.length;
        if (size > this.options.maxResponseBytes) {
          response.body.destroy();
          throw new HttpError(
            response.statusCode,
            `response larger than ${this.options.maxResponseBytes} bytes: the host ignores MaxEnvelopeSize`,
          );
        }
        chunks.push(buffer);
      }
      return {
        statusCode: response.statusCode,
        headers: response.headers,
        body: Buffer.concat(chunks),
      };
    } catch (error) {
      throw translateRequestError(error, this.options, timeoutMs);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client.destroy().catch(() => undefined);
  }
}

const SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8";
const USER_AGENT = "pulumi-winrm";
const AUTH_TIMEOUT_MS = 30_000;

function translateRequestError(
  error: unknown,
  options: TransportOptions,
  timeoutMs: number,
): Error {
  if (error instanceof WinRMError) return error;
  const code = errorCode(error);
  if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
    return new TimeoutError(
      `no answer from ${options.endpoint.host} within ${timeoutMs} ms`,
      timeoutMs,
      { cause: error },
    );
  }
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|HOSTNAME|ALTNAME/i.test(code)) {
    return new TlsError(
      `TLS verification of ${options.endpoint.host} failed (${code}): pass the issuing CA as caCert, ` +
        "pin the certificate with certFingerprint, or, knowing the risk, set insecure: true",
      { cause: error },
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** A pool of authenticated connections to one endpoint, for one identity. */
export class Transport {
  private readonly connections: Connection[] = [];
  private readonly waiters: Array<() => void> = [];
  private closed = false;

  constructor(readonly options: TransportOptions) {
    validateSecurity(options);
  }

  /** Sends a SOAP envelope; returns the reply envelope and its HTTP status. */
  async request(
    soap: Buffer,
    options: RequestOptions,
  ): Promise<{ statusCode: number; soap: Buffer }> {
    const connection = await this.acquire(options.mayBlockOnHost === true);
    if (options.mayBlockOnHost) {
      connection.blockedOnHost = true;
      // Callers already waiting may now open another connection instead.
      for (const wake of this.waiters.splice(0)) wake();
    }
    try {
      return await connection.exclusive(() => this.sendWithRecovery(connection, soap, options));
    } finally {
      connection.blockedOnHost = false;
      this.release();
    }
  }

  /**
   * Sends on `connection`, recovering from what can be recovered: a request that never reached
   * the host authenticated is retried until the ready timeout (a host still booting); a dropped
   * connection or a forgotten context is retried once on a fresh handshake, but only for
   * idempotent requests.
   */
  private async sendWithRecovery(
    connection: Connection,
    soap: Buffer,
    options: RequestOptions,
  ): Promise<{ statusCode: number; soap: Buffer }> {
    const deadline = Date.now() + this.options.readyTimeoutMs;
    let delay = 250;
    let retriedAfterSend = false;
    for (;;) {
      try {
        return await connection.send(soap, options.timeoutMs);
      } catch (error) {
        if (error instanceof NotSent) {
          if (Date.now() + delay > deadline) throw this.unreachable(error.cause);
          await new Promise((resolve) => setTimeout(resolve, delay));
          delay = Math.min(delay * 2, 5000);
          continue;
        }
        // A 401 to a sealed request says the host no longer knows this connection's context
        // (a service restart) — or that someone between here and the host replaced its
        // answer: a bare 401 is not sealed, so it proves nothing about whether the host acted.
        // Only requests that are safe to repeat (Identify, Receive with its OperationID,
        // Signal, Delete) are repeated after one, as after a dropped connection.
        const expired = error instanceof SessionExpired;
        if (!expired && !isConnectionFailure(error)) throw error;
        if (!options.idempotent) {
          throw new ConnectionLostError(
            (expired
              ? "the host answered HTTP 401 to a request that must not run twice (a command or its input)"
              : "the connection to the host dropped while a request that must not run twice (a command or its input) was in flight") +
              "; it was not repeated, and the host may or may not have acted on it",
            { cause: expired ? undefined : error },
          );
        }
        if (retriedAfterSend) {
          throw new ConnectionLostError(
            expired
              ? "the host refused the request again after re-authenticating (HTTP 401)"
              : "the connection dropped again after re-authenticating",
            { cause: expired ? undefined : error },
          );
        }
        retriedAfterSend = true;
      }
    }
  }

  private unreachable(cause: unknown): WinRMError {
    if (cause instanceof WinRMError) return cause;
    const code = errorCode(cause) ?? (cause instanceof Error ? cause.message : "unknown error");
    return new HostUnreachableError(
      this.options.endpoint.href,
      `cannot reach ${this.options.endpoint.host} (${code}) after trying for ${this.options.readyTimeoutMs} ms: ` +
        "check the host name, port and firewall, or raise readyTimeout for a host that is still booting",
      { cause },
    );
  }

  /**
   * An idle connection, a new one, or the next one released. `sending` (a Send of stdin) never
   * waits for a busy connection while another may be opened: the request holding it may be a
   * Receive of the same command, waiting for output that only this input lets it produce.
   */
  private async acquire(sending: boolean): Promise<Connection> {
    const waitingSince = Date.now();
    for (;;) {
      if (this.closed) throw new ConnectionLostError("the WinRM client was closed");
      const idle = this.connections.find((connection) => !connection.busy);
      if (idle) return idle;
      const waited = Date.now() - waitingSince;
      if (
        this.connections.length < this.options.maxConnections &&
        (this.connections.length === 0 ||
          sending ||
          this.connections.some((connection) => connection.blockedOnHost) ||
          waited >= OPEN_ANOTHER_AFTER_MS)
      ) {
        const connection = new Connection(this.options);
        this.connections.push(connection);
        return connection;
      }
      await this.waitForRelease(
        this.connections.length < this.options.maxConnections
          ? OPEN_ANOTHER_AFTER_MS - waited
          : undefined,
      );
    }
  }

  /** Resolves when a connection is released, or after `timeoutMs` when given. */
  private waitForRelease(timeoutMs: number | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(wake);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const index = this.waiters.indexOf(wake);
          if (index >= 0) this.waiters.splice(index, 1);
          resolve();
        }, timeoutMs);
      }
    });
  }

  /** How many authenticated connections the pool holds (for tests and diagnostics). */
  get connectionCount(): number {
    return this.connections.length;
  }

  private release(): void {
    this.waiters.shift()?.();
  }

  /**
   * True when every connection is taken and requests are waiting for one: a Receive should
   * then wait only briefly for output, so that it does not hold a connection others need.
   */
  contended(): boolean {
    return this.waiters.length > 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.waiters.splice(0)) wake();
    await Promise.all(this.connections.map((connection) => connection.close()));
  }
}

/**
 * Refuses, before a byte is sent, any configuration that would put credentials or messages on
 * the wire in the clear without the caller having asked for it by name.
 */
export function validateSecurity(options: TransportOptions): void {
  const http = options.endpoint.protocol === "http:";
  if (!http && options.endpoint.protocol !== "https:") {
    throw new InvalidArgumentError(
      "endpoint",
      `protocol must be http or https, not ${options.endpoint.protocol}`,
    );
  }
  if (http && !options.allowUnencrypted) {
    if (options.auth === "basic") {
      throw new PlaintextRefusedError(
        "Basic authentication over plain HTTP would send the password in the clear: use HTTPS, or " +
          "negotiate/ntlm authentication (which encrypts), or set allowUnencrypted: true to accept the risk",
      );
    }
    if (options.encryption === "never") {
      throw new PlaintextRefusedError(
        'encryption "never" over plain HTTP would send every message in the clear: use "auto", HTTPS, ' +
          "or set allowUnencrypted: true to accept the risk",
      );
    }
  }
  if (options.tls.insecure && options.tls.certFingerprint) {
    throw new InvalidArgumentError(
      "insecure",
      "choose either insecure or certFingerprint, not both",
    );
  }
  if (options.tls.certFingerprint) normaliseFingerprint(options.tls.certFingerprint);
  if (options.tls.ca) {
    try {
      new X509Certificate(options.tls.ca);
    } catch (error) {
      throw new InvalidArgumentError("caCert", "is not a PEM certificate", { cause: error });
    }
  }
}
