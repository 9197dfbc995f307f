/**
 * WS-Management SOAP envelopes (DSP0226, with the Microsoft profile of MS-WSMV): building
 * requests, parsing responses, checking RelatesTo, and turning SOAP faults into WSManFault
 * errors. No I/O here: the transport moves the bytes.
 */
import { randomUUID } from "node:crypto";
import { XMLParser } from "fast-xml-parser";
import { ProtocolError, WSManFault } from "../errors";

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

/** WSManFault codes the client acts on (MS-WSMV 2.2.4.x, winerror.h). */
export const WSManFaultCode = Object.freeze({
  /** ERROR_WSMAN_OPERATION_TIMEDOUT: a Receive saw no output in time; receive again. */
  OPERATION_TIMEOUT: 2150858793,
  /** ERROR_WSMAN_QUOTA_MAX_SHELLS_PPQ and friends: a per-user quota is exhausted. */
  QUOTA_MAX_SHELLS: 2150859173,
  /** ERROR_WSMAN_SHELL_NOT_FOUND: the shell is gone. */
  SHELL_NOT_FOUND: 2150858843,
} as const);

const XML_ESCAPES: Record<string, string> = {
  "<": "&lt;",
  ">": "&gt;",
  "&": "&amp;",
  '"': "&quot;",
  "'": "&apos;",
  "\r": "&#13;",
  "\n": "&#10;",
  "\t": "&#9;",
};

/**
 * Escapes text for XML content and attribute values: the five predefined entities, and CR, LF
 * and tab as character references, because an XML parser turns a literal CR or CRLF into LF
 * (XML 1.0 section 2.11) and, in attribute values, CR, LF and tab into spaces (section 3.3.3);
 * a reference survives both, so a path or argument reaches the host byte for byte.
 */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"'\r\n\t]/g, (char) => XML_ESCAPES[char]!);
}

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

// ---------------------------------------------------------------------------------------------
// Parsing

/** A parsed XML element: attributes under "@name", text under "#text", children by local name. */
export type XmlNode = { [key: string]: XmlValue };
export type XmlValue = string | XmlNode | XmlValue[];

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  textNodeName: "#text",
  processEntities: true,
  // Also decodes numeric character references (&#13; &#x41;), which Windows writes in messages;
  // fast-xml-parser leaves them undecoded otherwise.
  htmlEntities: true,
});

/** Parses a response envelope; a DOCTYPE is refused (no entity expansion from the wire). */
export function parseEnvelope(xml: string): { header: XmlNode; body: XmlNode } {
  if (/<!DOCTYPE/i.test(xml)) throw new ProtocolError("SOAP envelope", "DOCTYPE is not allowed");
  let document: unknown;
  try {
    document = parser.parse(xml);
  } catch (error) {
    throw new ProtocolError("SOAP envelope", "not well-formed XML", { cause: error });
  }
  const envelope = asNode((document as XmlNode | undefined)?.Envelope);
  if (!envelope) throw new ProtocolError("SOAP envelope", "no Envelope element");
  return { header: asNode(envelope.Header) ?? {}, body: asNode(envelope.Body) ?? {} };
}

export function asNode(value: XmlValue | undefined): XmlNode | undefined {
  if (value === undefined || typeof value === "string") return undefined;
  if (Array.isArray(value)) return asNode(value[0]);
  return value;
}

/** All children called `name`, as nodes (text-only elements become {"#text": ...}). */
export function children(node: XmlNode | undefined, name: string): XmlNode[] {
  const value = node?.[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map((item) =>
    typeof item === "string" ? { "#text": item } : Array.isArray(item) ? {} : item,
  );
}

export function child(node: XmlNode | undefined, name: string): XmlNode | undefined {
  return children(node, name)[0];
}

/** The text content of an element (empty for none). */
export function text(node: XmlNode | undefined): string {
  if (!node) return "";
  const value = node["#text"];
  return typeof value === "string" ? value : "";
}

export function attribute(node: XmlNode | undefined, name: string): string | undefined {
  const value = node?.[`@${name}`];
  return typeof value === "string" ? value : undefined;
}

/** Depth-first search for the first element called `name`. */
export function find(node: XmlNode | undefined, name: string): XmlNode | undefined {
  if (!node) return undefined;
  const direct = child(node, name);
  if (direct) return direct;
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith("@") || key === "#text") continue;
    for (const item of Array.isArray(value) ? value : [value]) {
      if (typeof item === "string" || Array.isArray(item)) continue;
      const found = find(item, name);
      if (found) return found;
    }
  }
  return undefined;
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

/**
 * Turns a SOAP 1.2 Fault (with the WSManFault detail of MS-WSMV 2.2.4.44, when present) into
 * a WSManFault error; returns undefined when the body is not a fault.
 */
export function parseFault(body: XmlNode): WSManFault | undefined {
  const fault = child(body, "Fault");
  if (!fault) return undefined;
  const code = child(fault, "Code");
  const subcode = text(child(child(code, "Subcode"), "Value")).trim() || undefined;
  const reason = text(child(child(fault, "Reason"), "Text")).trim();
  const detail = find(child(fault, "Detail"), "WSManFault");
  const wsmanCodeText = attribute(detail, "Code");
  // f:Message's own text is the sentence; what nests inside it (a ProviderFault, an inner
  // WSManFault with extended error data, MS-WSMV 2.2.4.44) is detail, kept apart. A message
  // that is only nested text (a plugin's ProviderFault) is the sentence itself.
  const messageNode = child(detail, "Message");
  const own = squeeze(text(messageNode));
  const nested = squeeze(collectText(messageNode, false));
  const wsmanCode =
    wsmanCodeText !== undefined && /^\d+$/.test(wsmanCodeText) ? Number(wsmanCodeText) : undefined;
  return new WSManFault({
    wsmanCode,
    subcode,
    machine: attribute(detail, "Machine"),
    reason: own || nested || reason || subcode || "unspecified fault",
    detail: own && nested ? nested : undefined,
  });
}

/** Whitespace runs (Windows pads and wraps fault text) made single spaces, ends trimmed. */
function squeeze(value: string): string {
  return value.replace(/\s+/g, " ").trim();
}

/**
 * All text below a node, in document order (WSManFault messages nest ProviderFault text);
 * `withOwn` false leaves out the node's own text, keeping only its descendants'.
 */
function collectText(node: XmlNode | undefined, withOwn = true): string {
  if (!node) return "";
  let result = withOwn ? text(node) : "";
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith("@") || key === "#text") continue;
    for (const item of Array.isArray(value) ? value : [value]) {
      result +=
        typeof item === "string" ? ` ${item}` : Array.isArray(item) ? "" : ` ${collectText(item)}`;
    }
  }
  return result;
}
