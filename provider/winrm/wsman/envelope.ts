/**
 * WS-Management request envelopes (DSP0226, with the Microsoft profile of MS-WSMV): the
 * headers Windows requires, Identify, the robust-connection header, and the RelatesTo check
 * that a reply answers its request. No I/O here.
 */
import { randomUUID } from "node:crypto";
import { ProtocolError } from "../../errors";
import { child, escapeXml, text, type XmlNode } from "./xml";

export const Namespace = Object.freeze({
  SOAP: "http://www.w3.org/2003/05/soap-envelope",
  ADDRESSING: "http://schemas.xmlsoap.org/ws/2004/08/addressing",
  WSMAN: "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
  MS_WSMAN: "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
  SHELL: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
  IDENTITY: "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd",
  TRANSFER: "http://schemas.xmlsoap.org/ws/2004/09/transfer",
  WSMAN_FAULT: "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
} as const);

/** Action URIs, WS-Transfer (Create, Delete) and MS-WSMV 3.1.4.x (the WinRS shell). */
export const Action = Object.freeze({
  CREATE: "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
  DELETE: "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete",
  COMMAND: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command",
  SEND: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send",
  RECEIVE: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive",
  SIGNAL: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal",
} as const);
export type Action = (typeof Action)[keyof typeof Action];

/** WinRS resource URI for cmd-style shells (MS-WSMV 2.2.4.37). */
export const SHELL_RESOURCE_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
export const ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

export interface EnvelopeOptions {
  action: Action;
  to: string;
  resourceUri?: string;
  /** Selector name to value, such as ShellId. */
  selectors?: Record<string, string>;
  /** OptionSet entries (MS-WSMV 2.2.4.23), such as WINRS_CODEPAGE. */
  options?: Record<string, string>;
  /** WS-Man OperationTimeout in seconds. */
  operationTimeoutSeconds: number;
  maxEnvelopeSize: number;
  locale?: string;
  /** The body's inner XML, already escaped. */
  body: string;
  messageId?: string;
  /** Further header elements, already escaped (such as p:OperationID). */
  extraHeaders?: string;
}

export interface Envelope {
  messageId: string;
  xml: string;
}

/** Builds a request envelope with the headers Windows requires (DSP0226 6, MS-WSMV 2.2.4). */
/** Seconds as an xs:duration (PT20S, PT0.100S), the form OperationTimeout takes (DSP0226 6.1). */
export function formatDuration(seconds: number): string {
  return Number.isInteger(seconds) ? `PT${seconds}S` : `PT${seconds.toFixed(3)}S`;
}

export function buildEnvelope(options: EnvelopeOptions): Envelope {
  const messageId = options.messageId ?? `uuid:${randomUUID().toUpperCase()}`;
  const locale = escapeXml(options.locale ?? "en-US");
  const selectors = options.selectors
    ? `<w:SelectorSet>${Object.entries(options.selectors)
        .map(
          ([name, value]) =>
            `<w:Selector Name="${escapeXml(name)}">${escapeXml(value)}</w:Selector>`,
        )
        .join("")}</w:SelectorSet>`
    : "";
  const optionSet = options.options
    ? `<w:OptionSet>${Object.entries(options.options)
        .map(
          ([name, value]) => `<w:Option Name="${escapeXml(name)}">${escapeXml(value)}</w:Option>`,
        )
        .join("")}</w:OptionSet>`
    : "";
  const xml =
    `<s:Envelope xmlns:s="${Namespace.SOAP}" xmlns:a="${Namespace.ADDRESSING}" ` +
    `xmlns:w="${Namespace.WSMAN}" xmlns:p="${Namespace.MS_WSMAN}" xmlns:rsp="${Namespace.SHELL}">` +
    `<s:Header>` +
    `<a:To>${escapeXml(options.to)}</a:To>` +
    `<a:ReplyTo><a:Address s:mustUnderstand="true">${ANONYMOUS}</a:Address></a:ReplyTo>` +
    `<a:Action s:mustUnderstand="true">${options.action}</a:Action>` +
    `<w:MaxEnvelopeSize s:mustUnderstand="true">${options.maxEnvelopeSize}</w:MaxEnvelopeSize>` +
    `<a:MessageID>${messageId}</a:MessageID>` +
    `<w:Locale xml:lang="${locale}" s:mustUnderstand="false"/>` +
    `<p:DataLocale xml:lang="${locale}" s:mustUnderstand="false"/>` +
    `<w:OperationTimeout>${formatDuration(options.operationTimeoutSeconds)}</w:OperationTimeout>` +
    `<w:ResourceURI s:mustUnderstand="true">${escapeXml(options.resourceUri ?? SHELL_RESOURCE_URI)}</w:ResourceURI>` +
    selectors +
    optionSet +
    (options.extraHeaders ?? "") +
    `</s:Header>` +
    `<s:Body>${options.body}</s:Body>` +
    `</s:Envelope>`;
  return { messageId, xml };
}

/** The Identify request (DSP0226 11): an empty header and a wsmid:Identify body. */
export function buildIdentify(): string {
  return (
    `<s:Envelope xmlns:s="${Namespace.SOAP}" xmlns:wsmid="${Namespace.IDENTITY}">` +
    `<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>`
  );
}

/**
 * The Robust Connection header of MS-WSMV 3.1.4.1.39: the same OperationID on a repeated
 * request, with mustUnderstand true, asks the host for its cached response instead of acting
 * again.
 */
export function operationIdHeader(operationId: string, retransmission: boolean): string {
  return `<p:OperationID s:mustUnderstand="${retransmission ? "true" : "false"}">${escapeXml(operationId)}</p:OperationID>`;
}

/** Checks that a response answers the request with `messageId` (WS-Addressing RelatesTo). */
export function checkRelatesTo(header: XmlNode, messageId: string): void {
  const relatesTo = text(child(header, "RelatesTo")).trim();
  if (relatesTo !== messageId) {
    throw new ProtocolError(
      "SOAP envelope",
      `RelatesTo ${relatesTo || "(none)"} does not answer request ${messageId}`,
    );
  }
}
