/**
 * One keep-alive socket to the endpoint, authenticated by its HttpAuthenticator, and a queue
 * so that one request is in flight on it at a time.
 *
 * A Negotiate security context belongs to one TCP connection (MS-WSMV 3.1.1.1.2): the
 * handshake runs on it with empty-bodied POSTs, and every later request on the same socket is
 * sealed with its keys and carries no Authorization header. undici may replace a dropped
 * socket under us; the socket generation tells a context made on an earlier socket apart.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
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
import {
  encryptedContentType,
  encryptMessage,
  isEncryptedContentType,
  openMessage,
} from "./encryption";
import { failedToConnect, NotSent, SessionExpired, translateRequestError } from "./failures";
import type { HttpResponse, SoapReply, TransportOptions } from "./options";
import { verifyingConnector } from "./tls";
import { ReusableBuffers } from "../reusable-buffers";

const SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8";
const USER_AGENT = "pulumi-winrm";

/** A message sealed with a context, at its place in that context's sequence. */
interface SealedBody {
  context: SecurityContext;
  /** Its place among the messages sealed with `context`: the host must receive it at that place. */
  index: number;
  body: Buffer;
  /** Handed to the socket: after a failure the socket may still be reading it. */
  written: boolean;
  /** Sealed before its turn came (sealAhead). */
  ahead: boolean;
}

/**
 * A request on its way: its SOAP message, and its body once sealed, possibly ahead of its turn
 * (Connection.sealAhead) while the request before it is on the wire.
 */
export interface OutgoingRequest {
  readonly soap: Buffer;
  sealed?: SealedBody;
}

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
  /**
   * Messages sealed with the current context, and of those the ones handed to the socket. The
   * host unseals in the order it receives, each with the next sequence number and the next
   * stretch of the RC4 keystream (MS-NLMP 3.4.4.2), so a message must go at the place it was
   * sealed at; one sealed ahead and then never sent leaves the host a step behind.
   */
  private sealedCount = 0;
  private sentCount = 0;
  /** Requests sent as sealed ahead of their turn (for diagnostics and tests). */
  sentSealedAhead = 0;
  /** A Send's sealed body on the wire and the next one sealed ahead of it. */
  private readonly bodies = new ReusableBuffers(2);

  /**
   * Held by a lane for a run of requests (http/lane.ts): the pool hands it to nobody else, so
   * that nothing is sealed between a request and the one sealed ahead behind it.
   */
  reserved = false;

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
    return this.pending > 0 || this.reserved;
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

  /**
   * Seals `outgoing` now, while `after`, the request that goes before it on this connection,
   * is still on its way (issue 15: the client's sealing then overlaps the host's work on the
   * request before instead of following it). `after` is sealed first if it has not been yet.
   * Only where the place in the sequence is certain; otherwise `outgoing` is sealed when sent.
   */
  sealAhead(outgoing: OutgoingRequest, after: OutgoingRequest): void {
    const context = this.context;
    if (this.sealing === undefined || context === undefined || this.closed) return;
    if (this.authenticatedGeneration !== this.socketGeneration) return;
    // Every request sent on a sealing connection has been sealed: one that has not is still
    // to go, and goes next when nothing else is sealed and waiting.
    if (after.sealed === undefined && this.sealedCount === this.sentCount) {
      after.sealed = this.seal(context, after.soap, false);
    }
    const previous = after.sealed;
    if (previous?.context !== context || previous.index !== this.sealedCount - 1) return;
    outgoing.sealed = this.seal(context, outgoing.soap, true);
  }

  private seal(context: SecurityContext, soap: Buffer, ahead: boolean): SealedBody {
    const body = encryptMessage(context, soap, this.sealing, (size) => this.bodies.take(size));
    return { context, index: this.sealedCount++, body, written: false, ahead };
  }

  /** Whether `outgoing` was sealed with the current context at the place the host expects next. */
  private sealedForNext(outgoing: OutgoingRequest): boolean {
    const sealed = outgoing.sealed;
    return (
      sealed !== undefined && sealed.context === this.context && sealed.index === this.sentCount
    );
  }

  /** Whether `outgoing` can be sealed or sent now without leaving the host's sequence. */
  private inStep(outgoing: OutgoingRequest): boolean {
    return this.sealedCount === this.sentCount || this.sealedForNext(outgoing);
  }

  /** The body to send: sealed ahead at this very place, or sealed now. */
  private sealedBody(outgoing: OutgoingRequest): Buffer {
    if (!this.sealedForNext(outgoing)) {
      // Sealed with a context since replaced (a new handshake): never written, so reusable.
      const stale = outgoing.sealed;
      if (stale !== undefined && !stale.written) this.bodies.giveBack(stale.body);
      outgoing.sealed = this.seal(this.context!, outgoing.soap, false);
    } else if (outgoing.sealed!.ahead) {
      this.sentSealedAhead++;
    }
    const sealed = outgoing.sealed!;
    sealed.written = true;
    this.sentCount++;
    return sealed.body;
  }

  /**
   * Sends one SOAP message and returns the reply (decrypted), whatever its HTTP status.
   * `peek` sees a reply with HTTP status 200 as soon as it is decrypted, before its signature
   * is checked, and may send the next request on this connection (RequestOptions.followUp);
   * it returns whether it did.
   */
  async send(
    outgoing: OutgoingRequest,
    timeoutMs: number,
    abandon?: AbortSignal,
    peek?: (reply: SoapReply) => boolean,
  ): Promise<SoapReply> {
    if (this.closed) throw clientClosedError();
    const handshake = this.authenticator.handshake;
    if (handshake && this.sealing !== undefined && !this.inStep(outgoing)) {
      // A message sealed ahead was never sent (the request before it failed): the host would
      // unseal this one with the sequence number and keystream that one took. A new handshake
      // starts both sides afresh.
      this.authenticatedGeneration = -1;
    }
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
              this.sealedBody(outgoing),
              encryptedContentType(this.sealing),
              timeoutMs,
              headers,
              abandon,
            )
          : await this.request(outgoing.soap, SOAP_CONTENT_TYPE, timeoutMs, headers, abandon);
      // Answered in full: the host read the whole body, and nothing reads it any more.
      if (response.statusCode === 200 && outgoing.sealed !== undefined) {
        this.bodies.giveBack(outgoing.sealed.body);
      }
    } catch (error) {
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
    const { reply, verify } = this.readReply(response);
    // undici writes a request on a reused socket on a later turn of the event loop (after
    // setImmediate callbacks queued when the last response ended): the check waits one turn,
    // so that the request asked for goes out first and the host works while we check.
    if (peek !== undefined && reply.statusCode === 200 && peek(reply)) await nextTurn();
    if (verify !== undefined) {
      try {
        verify();
      } catch (error) {
        // The sequence numbers no longer agree with the host's: start a new context.
        this.authenticatedGeneration = -1;
        throw error;
      }
    }
    return reply;
  }

  /** The reply, decrypted when sealed, with the check of its signature still to run. */
  private readReply(response: HttpResponse): { reply: SoapReply; verify?: () => void } {
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
          const { plaintext, verify } = openMessage(this.context!, response.body);
          return { reply: { statusCode: response.statusCode, soap: plaintext }, verify };
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
    return { reply: { statusCode: response.statusCode, soap: response.body } };
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
    this.sealedCount = this.sentCount = 0;
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
