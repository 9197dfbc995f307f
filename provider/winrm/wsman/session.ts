/**
 * A WS-Management session with one endpoint: the generic call (an action on a resource URI,
 * with selectors and options, answered by a reply that must relate to it or by a fault) and
 * what the host was seen to do, learnt from its replies. WinRS (winrs/) is built on it, and
 * PSRP (MS-PSRP), which uses the same calls on another resource URI, would be too.
 */
import { randomUUID } from "node:crypto";
import { ProtocolError } from "../../errors";
import { ReusableBuffers } from "../reusable-buffers";
import type { RequestOptions, SoapReply } from "../http/options";
import { type Action, buildEnvelope, buildIdentify, checkRelatesTo } from "./envelope";
import { parseFault } from "./fault";
import { messageWithPayload } from "./payloads";
import { child, parseEnvelope, text, type XmlNode } from "./xml";

/** What sends an envelope and returns the reply: the Transport, or anything shaped like it. */
export interface Requester {
  request(soap: Buffer, options: RequestOptions): Promise<SoapReply>;
  /** Whether other requests want a connection (then Receives wait only briefly). */
  contended?(): boolean;
  /** A lane for a run of requests that must go in order (the Transport's; see http/lane.ts). */
  lane?(): RequestLane;
}

/**
 * Requests sent in order on one connection, each prepared while the one before is on the wire;
 * a request behind one that failed is not sent. `close` when no more will be asked for.
 */
export interface RequestLane {
  request(soap: Buffer, options: RequestOptions): Promise<SoapReply>;
  close(): void;
}

export interface SessionSettings {
  /** The endpoint URL, for the a:To header. */
  to: string;
  operationTimeoutSeconds: number;
  /** MaxEnvelopeSize in bytes, for requests and the responses the host may send. */
  maxEnvelopeSize: number;
  locale?: string;
}

export interface InvokeOptions {
  /** The resource the action applies to; default the WinRS cmd shell (MS-WSMV 2.2.4.37). */
  resourceUri?: string;
  selectors?: Record<string, string>;
  options?: Record<string, string>;
  idempotent: boolean;
  mayBlockOnHost?: boolean;
  /** A Receive, which the host holds until there is output (see RequestOptions). */
  waitsForOutput?: boolean;
  /** Further header elements, already escaped (such as p:OperationID). */
  extraHeaders?: string;
  /** This request's OperationTimeout and MaxEnvelopeSize, when not the session's. */
  operationTimeoutSeconds?: number;
  maxEnvelopeSize?: number;
  /**
   * Bytes the body carries as base64 where it holds PAYLOAD_PLACE (a Send's stdin): written
   * into the message a slice at a time, never as one large string (payloads.ts).
   */
  payload?: Uint8Array;
  /** Ends the request's wait for a connection (see RequestOptions.signal). */
  signal?: AbortSignal;
  /** Sent in this lane, in order with the requests before it in the lane (see RequestLane). */
  lane?: RequestLane;
  /** The signal also abandons the request on the wire (see RequestOptions.abandonOnSignal). */
  abandonOnSignal?: boolean;
  /**
   * Another request to send right behind this one on its connection, decided from the
   * reply's plaintext before it is checked and parsed (see RequestOptions.followUp): its reply
   * comes as this reply's `next`.
   */
  followUp?: (plaintext: Buffer) => InvokeFollowUp | undefined;
}

/** A request to follow another (InvokeOptions.followUp). */
export interface InvokeFollowUp {
  action: Action;
  body: string;
  options: InvokeOptions;
}

/** A reply that answers its request: its header and body, and its lifted Stream payloads. */
export interface Reply {
  header: XmlNode;
  body: XmlNode;
  payloads: readonly Buffer[];
  /** The reply to the request that followed this one (InvokeOptions.followUp). */
  next?: Promise<Reply>;
}

/** A request built and ready to send: its message, and what its reply must answer. */
interface PreparedRequest {
  message: Buffer;
  messageId: string;
  request: RequestOptions;
  options: InvokeOptions;
  /** The request that followed it, once its followUp asked for one. */
  followed?: PreparedRequest;
}

/** What a host was seen to do, learnt from its replies. */
export interface HostTraits {
  /** It replays cached Receive responses (MS-WSMV 3.1.4.1.39, robust connections). */
  robust: boolean;
  /**
   * It refused a fractional OperationTimeout (PT0.100S) on a Receive. DSP0226 6.1 makes
   * OperationTimeout an xs:duration and Windows' own client sends milliseconds, but no
   * specification promises sub-second values, so one refusal makes brief Receives wait whole
   * seconds on that host from then on.
   */
  wholeSecondTimeouts: boolean;
}

export interface IdentifyResult {
  protocolVersion: string;
  productVendor: string;
  productVersion: string;
  /** True when the vendor is Microsoft: the host runs Windows and its WinRM service. */
  windows: boolean;
}

/** Seconds the HTTP read timeout stays above a request's OperationTimeout. */
const READ_TIMEOUT_MARGIN_SECONDS = 30;

export class WSManSession {
  readonly traits: HostTraits = { robust: false, wholeSecondTimeouts: false };
  /**
   * The messages Sends are written into (reusable-buffers.ts): read while their request is
   * sealed (again if a re-authentication re-seals it), or sent as they are over HTTPS, so each
   * comes back once the host has answered. Enough for a Send on the wire and the next one
   * prepared, on each of the connections a session uses at once.
   */
  private readonly messageBuffers = new ReusableBuffers(4);

  constructor(
    private readonly requester: Requester,
    readonly settings: SessionSettings,
  ) {}

  /** Whether other requests want a connection now. */
  contended(): boolean {
    return this.requester.contended?.() ?? false;
  }

  /** A lane for requests that must go in order, when the requester offers them. */
  lane(): RequestLane | undefined {
    return this.requester.lane?.();
  }

  /**
   * One request and its reply: builds the envelope, sends it, parses the reply, checks that it
   * answers this request, and throws the fault it carries, if any.
   */
  async invoke(action: Action, body: string, options: InvokeOptions): Promise<Reply> {
    const prepared = this.prepare(action, body, options);
    const reply = await (options.lane ?? this.requester).request(
      prepared.message,
      prepared.request,
    );
    return this.answer(prepared, reply);
  }

  /** Builds the envelope and the message of one request. */
  private prepare(action: Action, body: string, options: InvokeOptions): PreparedRequest {
    const operationTimeoutSeconds =
      options.operationTimeoutSeconds ?? this.settings.operationTimeoutSeconds;
    const envelope = buildEnvelope({
      action,
      to: this.settings.to,
      resourceUri: options.resourceUri,
      selectors: options.selectors,
      options: options.options,
      operationTimeoutSeconds,
      maxEnvelopeSize: options.maxEnvelopeSize ?? this.settings.maxEnvelopeSize,
      locale: this.settings.locale,
      body,
      messageId: `uuid:${randomUUID().toUpperCase()}`,
      extraHeaders: options.extraHeaders,
    });
    const message =
      options.payload === undefined
        ? Buffer.from(envelope.xml, "utf8")
        : messageWithPayload(envelope.xml, options.payload, (size) =>
            this.messageBuffers.take(size),
          );
    const prepared: PreparedRequest = {
      message,
      messageId: envelope.messageId,
      options,
      request: {
        idempotent: options.idempotent,
        mayBlockOnHost: options.mayBlockOnHost,
        waitsForOutput: options.waitsForOutput,
        signal: options.signal,
        abandonOnSignal: options.abandonOnSignal,
        timeoutMs: (operationTimeoutSeconds + READ_TIMEOUT_MARGIN_SECONDS) * 1000,
      },
    };
    const { followUp } = options;
    if (followUp !== undefined) {
      prepared.request.followUp = (reply) => {
        const next = followUp(reply.soap);
        if (next === undefined) return undefined;
        prepared.followed = this.prepare(next.action, next.body, next.options);
        return { soap: prepared.followed.message, options: prepared.followed.request };
      };
    }
    return prepared;
  }

  /**
   * Parses the reply, checks that it answers the request, and throws the fault it carries, if
   * any; the reply of a request that followed it is answered in turn.
   */
  private answer(prepared: PreparedRequest, reply: SoapReply): Reply {
    const { options, message } = prepared;
    // Answered: the host read the whole request. A request that failed keeps its buffer, which
    // a socket still writing it (a body sent as it is, over HTTPS) may yet read.
    if (options.payload !== undefined) this.messageBuffers.giveBack(message);
    const parsed = parseEnvelope(reply.soap);
    const fault = parseFault(parsed.body);
    if (fault) {
      // A fault answers this request too, and says so (MS-WSMV 2.2.4.19 faults carry
      // RelatesTo); one that names another request is not this request's answer. A fault
      // without RelatesTo is a host that could not read our MessageID: believed, it is sealed.
      if (child(parsed.header, "RelatesTo") !== undefined) {
        checkRelatesTo(parsed.header, prepared.messageId);
      }
      throw fault;
    }
    if (reply.statusCode >= 300) {
      throw new ProtocolError("SOAP envelope", `HTTP ${reply.statusCode} without a fault`);
    }
    checkRelatesTo(parsed.header, prepared.messageId);
    const followed = prepared.followed;
    if (reply.next === undefined || followed === undefined) return parsed;
    const next = reply.next.then((nextReply) => this.answer(followed, nextReply));
    // Its caller may drop it (a command stopped): a failure must not go unhandled then.
    next.catch(() => undefined);
    return { ...parsed, next };
  }

  /**
   * WS-Management Identify (DSP0226 11): who the host says it is. The request has no
   * MessageID, so the reply has no RelatesTo to check.
   */
  async identify(): Promise<IdentifyResult> {
    const reply = await this.requester.request(Buffer.from(buildIdentify(), "utf8"), {
      idempotent: true,
      timeoutMs: (this.settings.operationTimeoutSeconds + READ_TIMEOUT_MARGIN_SECONDS) * 1000,
    });
    const { body } = parseEnvelope(reply.soap.toString("utf8"));
    const fault = parseFault(body);
    if (fault) throw fault;
    const response = child(body, "IdentifyResponse");
    if (!response) throw new ProtocolError("IdentifyResponse", "missing from the reply");
    const productVendor = text(child(response, "ProductVendor")).trim();
    return {
      protocolVersion: text(child(response, "ProtocolVersion")).trim(),
      productVendor,
      productVersion: text(child(response, "ProductVersion")).trim(),
      windows: /microsoft/i.test(productVendor),
    };
  }
}
