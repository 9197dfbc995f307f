/**
 * One keep-alive socket to the endpoint, authenticated by its HttpAuthenticator, and a queue
 * so that one request is in flight on it at a time.
 *
 * A Negotiate security context belongs to one TCP connection (MS-WSMV 3.1.1.1.2): the
 * handshake runs on it with empty-bodied POSTs, and every later request on the same socket is
 * sealed with its keys and carries no Authorization header. undici may replace a dropped
 * socket under us; the socket generation tells a context made on an earlier socket apart.
 */
import { Client, request } from "./undici";
import type { SecurityContext } from "../../auth/context";
import {
  clientClosedError,
  HttpError,
  IntegrityError,
  PlaintextRefusedError,
  ProtocolError,
  WinRMError,
} from "../../errors";
import type { HttpAuthenticator } from "./authenticator";
import { BodyBuffer } from "./body-buffer";
import {
  decryptMessage,
  encryptedContentType,
  encryptMessage,
  isEncryptedContentType,
} from "./encryption";
import { failedToConnect, NotSent, SessionExpired, translateRequestError } from "./failures";
import type { HttpResponse, SoapReply, TransportOptions } from "./options";
import { verifyingConnector } from "./tls";

const SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8";
const USER_AGENT = "pulumi-winrm";

export class Connection {
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
  private readonly bodyBuffer = new BodyBuffer();

  /** Whether the request in flight is one the host may hold (see RequestOptions). */
  blockedOnHost = false;
  /** When the Receive in flight was sent (see RequestOptions.waitsForOutput); else undefined. */
  receiveSince: number | undefined;

  constructor(
    private readonly options: TransportOptions,
    private readonly authenticator: HttpAuthenticator,
  ) {
    this.client = new Client(options.endpoint.origin, {
      pipelining: 1,
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
      connect: verifyingConnector(options, (peerCertificate) => {
        this.socketGeneration++;
        this.peerCertificate = peerCertificate;
      }),
    });
  }

  get busy(): boolean {
    return this.pending > 0;
  }

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

  /** The sealing protocol when messages on this connection are sealed. */
  private get sealing(): string | undefined {
    return this.authenticator.sealingProtocol;
  }

  /** Sends one SOAP message and returns the reply (decrypted), whatever its HTTP status. */
  async send(soap: Buffer, timeoutMs: number, abandon?: AbortSignal): Promise<SoapReply> {
    if (this.closed) throw clientClosedError();
    const handshake = this.authenticator.handshake;
    if (handshake && this.authenticatedGeneration !== this.socketGeneration) {
      try {
        await this.authenticate(handshake);
      } catch (error) {
        throw error instanceof WinRMError ? error : new NotSent(error);
      }
    }
    const generation = this.socketGeneration;
    const headers = this.authenticator.requestHeaders();
    let response: HttpResponse;
    try {
      response =
        this.sealing !== undefined
          ? await this.request(
              encryptMessage(this.context!, soap, this.sealing, (size) =>
                this.bodyBuffer.take(size),
              ),
              encryptedContentType(this.sealing),
              timeoutMs,
              headers,
              abandon,
            )
          : await this.request(soap, SOAP_CONTENT_TYPE, timeoutMs, headers, abandon);
      if (response.statusCode === 200) this.bodyBuffer.giveBack();
      else this.bodyBuffer.drop();
    } catch (error) {
      this.bodyBuffer.drop();
      // The keep-alive socket had gone and a new one could not be opened (a host rebooting):
      // the request was never written, so it is safe to send again whatever it is, after a
      // new handshake on the socket that will carry it.
      if (!failedToConnect(error) || error instanceof WinRMError) throw error;
      if (handshake) this.authenticatedGeneration = -1;
      throw new NotSent(error);
    }
    if (handshake && generation !== this.socketGeneration) {
      // undici opened a new socket for this request: the host saw it unauthenticated.
      throw new NotSent(new Error("the connection was replaced before the request was sent"));
    }
    return this.readReply(response);
  }

  private readReply(response: HttpResponse): SoapReply {
    const contentType = response.headers["content-type"];
    const type = Array.isArray(contentType) ? contentType[0] : contentType;
    const sealing = this.sealing;
    if (response.statusCode === 401) {
      if (!this.authenticator.handshake) throw this.authenticator.refused();
      this.authenticatedGeneration = -1;
      if (sealing === undefined && response.body.length === 0) throw this.plaintextRefused(401);
      throw new SessionExpired();
    }
    if (sealing !== undefined) {
      // Every reply on a sealed session must be sealed with that session's keys (MS-WSMV
      // 2.2.9.1): a plain one can have been written by anyone between here and the host (a
      // forged Identify, or a fault in place of the answer to a command that did run).
      // An empty error reply carries nothing to believe and stays an HttpError below.
      const sealed = isEncryptedContentType(type, sealing);
      if (!sealed && response.body.length > 0) {
        this.authenticatedGeneration = -1;
        throw new IntegrityError(
          `the host answered a sealed request with an unsealed reply (HTTP ${response.statusCode}, ` +
            `Content-Type ${type ?? "(none)"}): refused, because anyone between here and the host ` +
            "could have written it. If the host really does this, connect over HTTPS",
        );
      }
      if (sealed) {
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
      if (sealing === undefined) throw this.plaintextRefused(response.statusCode);
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

  /** Runs the scheme's handshake on the current socket and keeps its context. */
  private async authenticate(
    handshake: NonNullable<HttpAuthenticator["handshake"]>,
  ): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- read live by the getters
    const connection = this;
    const context = await handshake({
      exchange: (body, contentType, timeoutMs, headers) =>
        this.request(body, contentType, timeoutMs, headers),
      unchangedSince: (since) => since === this.socketGeneration,
      get generation() {
        return connection.socketGeneration;
      },
      get peerCertificate() {
        return connection.peerCertificate;
      },
    });
    this.context = context;
    // The handshake checked after each leg that the socket stayed the same.
    this.authenticatedGeneration = this.socketGeneration;
  }

  private async request(
    body: Buffer,
    contentType: string | undefined,
    timeoutMs: number,
    extraHeaders: Record<string, string> = {},
    abandon?: AbortSignal,
  ): Promise<HttpResponse> {
    const headers: Record<string, string> = {
      "content-length": String(body.length),
      "user-agent": USER_AGENT,
      ...extraHeaders,
    };
    if (contentType) headers["content-type"] = contentType;
    try {
      const response = await request.call(this.client, {
        method: "POST",
        path: this.options.endpoint.pathname + this.options.endpoint.search,
        headers,
        body,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        // undici closes the socket of a request abandoned in flight: nothing else can use it.
        signal: abandon,
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
      throw translateRequestError(error, this.options.endpoint, timeoutMs);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client.destroy().catch(() => undefined);
  }
}
