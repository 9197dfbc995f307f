/**
 * The loopback host's WS-Management layer: parses SOAP 1.2 request envelopes (WS-Management
 * DSP0226, MS-WSMV 2.2.4) and builds responses and faults in the shapes Windows sends, so that
 * pywinrm, pypsrp and our client parse them as they would parse a Windows host's.
 */
import { randomUUID } from "node:crypto";
import { XMLParser } from "fast-xml-parser";

// Namespaces, actions and the shell resource URI are the client's: one definition of the wire.
export { Action, Namespace, SHELL_RESOURCE_URI } from "../../provider/winrm/wsman";
import { ANONYMOUS, Namespace } from "../../provider/winrm/wsman";
import { liftStreamPayloads, streamBytes } from "../../provider/winrm/wsman/payloads";
const WSMAN_FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
const ADDRESSING_FAULT_ACTION = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";

/**
 * WSManFault codes (wsmerror.h, as MS-WSMV 2.2.4.17 WSManFault carries them). Windows reports
 * these numbers in the Code attribute; clients match on them (pywinrm on OPERATION_TIMEDOUT).
 */
export const WsmanCode = Object.freeze({
  RESOURCE_NOT_FOUND: 2150858752,
  INVALID_ACTIONURI: 2150858753,
  MESSAGE_INFORMATION_HEADER_REQUIRED: 2150858769,
  OPERATION_TIMEDOUT: 2150858793,
  INVALID_PARAMETER: 2150858810,
  INVALID_SELECTORS: 2150858813,
  SCHEMA_VALIDATION_ERROR: 2150858817,
  INVALID_XML: 2150858819,
  MAX_ENVELOPE_SIZE: 2150858823,
  SERVER_ENVELOPE_LIMIT: 2150858825,
  /** "The request for the Windows Remote Shell with ShellId ... failed because the shell was not found". */
  SHELL_NOT_FOUND: 2150858843,
  /** ERROR_WSMAN_ALREADY_EXISTS (0x80338033): a Create of a resource that exists. */
  ALREADY_EXISTS: 2150858803,
  QUOTA_MAX_SHELLS: 2150859173,
  QUOTA_MAX_OPERATIONS: 2150859174,
  /** HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND): CreateProcess found no such program. */
  FILE_NOT_FOUND: 2147942402,
  /** HRESULT_FROM_WIN32(ERROR_DIRECTORY): the working directory is invalid. */
  INVALID_DIRECTORY: 2147942667,
} as const);

/** A SOAP 1.2 fault (SOAP 1.2 part 1, 5.4) with a WSManFault detail (MS-WSMV 2.2.4.17). */
export interface FaultSpec {
  /** SOAP fault code: the sender's mistake or ours. */
  code: "s:Sender" | "s:Receiver";
  /** The WS-Management or WS-Addressing subcode, e.g. "w:TimedOut", "a:ActionNotSupported". */
  subcode: string;
  reason: string;
  wsmanCode: number;
  /** A w:FaultDetail URI (WS-Management 14.6), when the fault has one. */
  faultDetail?: string;
}

/** Thrown anywhere in request processing; the HTTP layer answers it with HTTP 500. */
export class HostFault extends Error {
  override name = "HostFault";
  constructor(readonly spec: FaultSpec) {
    super(spec.reason);
  }
}

const FAULT_DETAIL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail";

/** The faults this host raises, with Windows' codes and wording where known. */
export const Faults = Object.freeze({
  timedOut: (): FaultSpec => ({
    code: "s:Receiver",
    subcode: "w:TimedOut",
    reason:
      "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
    wsmanCode: WsmanCode.OPERATION_TIMEDOUT,
  }),
  shellNotFound: (shellId: string): FaultSpec => ({
    code: "s:Sender",
    subcode: "w:InvalidSelectors",
    reason: `The request for the Windows Remote Shell with ShellId ${shellId} failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server.`,
    wsmanCode: WsmanCode.SHELL_NOT_FOUND,
    faultDetail: `${FAULT_DETAIL}/InvalidValue`,
  }),
  missingShellId: (): FaultSpec => ({
    code: "s:Sender",
    subcode: "w:InvalidSelectors",
    reason:
      "The WS-Management service cannot process the request because the ShellId selector is missing.",
    wsmanCode: WsmanCode.INVALID_SELECTORS,
    faultDetail: `${FAULT_DETAIL}/InsufficientSelectors`,
  }),
  commandNotFound: (commandId: string): FaultSpec => ({
    code: "s:Sender",
    subcode: "w:InvalidParameter",
    reason: `The Windows Remote Shell received a request to perform an operation on command identifier ${commandId}, which does not exist in this shell.`,
    wsmanCode: WsmanCode.INVALID_PARAMETER,
  }),
  requestTooLarge: (bytes: number, limit: number): FaultSpec => ({
    code: "s:Sender",
    subcode: "w:EncodingLimit",
    reason: `The WS-Management service cannot process the request because the request envelope of ${bytes} bytes exceeds MaxEnvelopeSizekb (${limit} bytes).`,
    wsmanCode: WsmanCode.SERVER_ENVELOPE_LIMIT,
    faultDetail: `${FAULT_DETAIL}/ServiceEnvelopeLimit`,
  }),
  envelopeSizeTooSmall: (requested: number): FaultSpec => ({
    code: "s:Sender",
    subcode: "w:EncodingLimit",
    reason: `The WS-Management service cannot process the request because the MaxEnvelopeSize of ${requested} bytes is too small to hold a response.`,
    wsmanCode: WsmanCode.MAX_ENVELOPE_SIZE,
    faultDetail: `${FAULT_DETAIL}/MinimumEnvelopeLimit`,
  }),
  shellExists: (shellId: string): FaultSpec => ({
    code: "s:Sender",
    subcode: "w:AlreadyExists",
    reason: `The WS-Management service cannot create the resource because it already exists: a shell with ShellId ${shellId}.`,
    wsmanCode: WsmanCode.ALREADY_EXISTS,
  }),
  tooManyShells: (limit: number): FaultSpec => ({
    code: "s:Receiver",
    subcode: "w:QuotaLimit",
    reason: `The WS-Management service cannot process the request. This user is allowed a maximum number of ${limit} concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user.`,
    wsmanCode: WsmanCode.QUOTA_MAX_SHELLS,
  }),
  tooManyOperations: (limit: number): FaultSpec => ({
    code: "s:Receiver",
    subcode: "w:QuotaLimit",
    reason: `The WS-Management service cannot process the request. This user is allowed a maximum number of ${limit} concurrent operations, which has been exceeded.`,
    wsmanCode: WsmanCode.QUOTA_MAX_OPERATIONS,
  }),
  operationTimeoutNotWhole: (ms: number): FaultSpec => ({
    code: "s:Sender",
    subcode: "w:InvalidParameter",
    reason: `The WS-Management service cannot process the request because the OperationTimeout of ${ms} ms is not a whole number of seconds.`,
    wsmanCode: WsmanCode.INVALID_PARAMETER,
  }),
  malformed: (why: string): FaultSpec => ({
    code: "s:Sender",
    subcode: "w:SchemaValidationError",
    reason: `The SOAP XML in the message does not match the corresponding XML schema definition: ${why}`,
    wsmanCode: WsmanCode.SCHEMA_VALIDATION_ERROR,
  }),
  invalidXml: (why: string): FaultSpec => ({
    code: "s:Sender",
    subcode: "w:SchemaValidationError",
    reason: `The WS-Management service cannot process the request because the XML is invalid: ${why}`,
    wsmanCode: WsmanCode.INVALID_XML,
  }),
  actionNotSupported: (action: string): FaultSpec => ({
    code: "s:Sender",
    subcode: "a:ActionNotSupported",
    reason: `The WS-Management service cannot process the request. The action ${action} is not supported by the service.`,
    wsmanCode: WsmanCode.INVALID_ACTIONURI,
  }),
  headerRequired: (header: string): FaultSpec => ({
    code: "s:Sender",
    subcode: "a:MessageInformationHeaderRequired",
    reason: `The WS-Management service cannot process the request because the header ${header} is missing.`,
    wsmanCode: WsmanCode.MESSAGE_INFORMATION_HEADER_REQUIRED,
  }),
  destinationUnreachable: (resourceUri: string): FaultSpec => ({
    code: "s:Sender",
    subcode: "a:DestinationUnreachable",
    reason: `The WS-Management service cannot process the request. The resource URI ${resourceUri} was not found on this host.`,
    wsmanCode: WsmanCode.RESOURCE_NOT_FOUND,
    faultDetail: `${FAULT_DETAIL}/InvalidResourceURI`,
  }),
  programNotFound: (program: string, why: string): FaultSpec => ({
    code: "s:Receiver",
    subcode: "w:InternalError",
    reason: `The system cannot find the file specified: ${program} (${why})`,
    wsmanCode: WsmanCode.FILE_NOT_FOUND,
  }),
  invalidDirectory: (directory: string): FaultSpec => ({
    code: "s:Receiver",
    subcode: "w:InternalError",
    reason: `The directory name is invalid: ${directory}`,
    wsmanCode: WsmanCode.INVALID_DIRECTORY,
  }),
});

// ---------------------------------------------------------------------------------------------
// Parsing

/** A parsed element: fast-xml-parser's object form, namespace prefixes removed. */
export type XmlNode = { [name: string]: XmlValue };
export type XmlValue = string | XmlNode | XmlValue[];

/** Elements that may repeat and must always come back as arrays. */
const REPEATING = new Set(["Variable", "Arguments", "Stream", "Option", "Selector"]);

/*
 * Prefixes are removed (clients choose their own: pywinrm writes env:, PowerShell s:), so
 * elements are matched by local name; the SOAP 1.2 namespace is checked on the raw text. Values
 * stay strings (parseTagValue off): base64 and IDs must not turn into numbers.
 */
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  // Numeric character references (&#62;) are XML too; fast-xml-parser decodes them only so.
  htmlEntities: true,
  isArray: (name) => REPEATING.has(name),
});

/** The WS-Management headers this host looks at (WS-Management 5, MS-WSMV 2.2.4). */
export interface RequestHeaders {
  action: string | undefined;
  messageId: string | undefined;
  resourceUri: string | undefined;
  /** w:MaxEnvelopeSize in bytes, when sent. */
  maxEnvelopeSize: number | undefined;
  /** w:OperationTimeout in milliseconds, when sent. */
  operationTimeoutMs: number | undefined;
  /** w:SelectorSet, by Name. */
  selectors: ReadonlyMap<string, string>;
  /** w:OptionSet, by Name (WINRS_CODEPAGE, WINRS_SKIP_CMD_SHELL...). */
  options: ReadonlyMap<string, string>;
  /** p:OperationID (MS-WSMV 3.1.4.1.39 Robust Connection), when the client sent one. */
  operationId: string | undefined;
}

export interface RequestEnvelope {
  headers: RequestHeaders;
  /** The children of s:Body. */
  body: XmlNode;
  /** A wsmid:Identify request (DSP0226 11): it has no WS-Addressing headers. */
  identify: boolean;
  /** Stream payloads lifted out before parsing, decoded; read them with streamData. */
  payloads: readonly Buffer[];
}

export function isNode(value: XmlValue | undefined): value is XmlNode {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The first child element called `name`, as a node (a text-only element becomes {#text}). */
export function child(node: XmlNode | undefined, name: string): XmlNode | undefined {
  return children(node, name)[0];
}

/** Every child element called `name`. */
export function children(node: XmlNode | undefined, name: string): XmlNode[] {
  if (node === undefined) return [];
  const value = node[name];
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return list.flatMap((item) =>
    typeof item === "string" ? [{ "#text": item }] : isNode(item) ? [item] : [],
  );
}

/** The text content of an element ("" when it has none). */
export function text(node: XmlNode | undefined): string | undefined {
  if (node === undefined) return undefined;
  const value = node["#text"];
  return typeof value === "string" ? value : "";
}

export function attribute(node: XmlNode | undefined, name: string): string | undefined {
  const value = node?.[`@${name}`];
  return typeof value === "string" ? value : undefined;
}

/** xs:duration as WS-Management uses it for OperationTimeout (PT60S, PT60.000S, PT1M30S). */
export function parseDuration(value: string): number | undefined {
  const trimmed = value.trim();
  const match = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(trimmed);
  if (!match || trimmed === "P" || trimmed.endsWith("T")) return undefined;
  const [, days = "0", hours = "0", minutes = "0", seconds = "0"] = match;
  const wholeMinutes = (Number(days) * 24 + Number(hours)) * 60 + Number(minutes);
  return Math.round(wholeMinutes * 60_000 + Number(seconds) * 1000);
}

/**
 * The bytes a Stream element carries: its base64 text decoded (MS-WSMV 2.2.4.37), or the
 * payload parseEnvelope lifted out of the message and decoded already.
 */
export function streamData(envelope: RequestEnvelope, stream: XmlNode): Buffer {
  return streamBytes(text(stream) ?? "", envelope.payloads);
}

/** Parses a request envelope; a malformed one raises the HostFault Windows would send. */
export function parseEnvelope(soap: Buffer | string): RequestEnvelope {
  // A Send carries up to MaxEnvelopeSize of base64 in rsp:Stream, taken out before parsing.
  const { xml, payloads } =
    typeof soap === "string" ? { xml: soap, payloads: [] } : liftStreamPayloads(soap);
  let document: XmlNode;
  try {
    document = parser.parse(xml, true) as XmlNode;
  } catch (error) {
    throw new HostFault(Faults.invalidXml(error instanceof Error ? error.message : String(error)));
  }
  const envelope = child(document, "Envelope");
  if (envelope === undefined) throw new HostFault(Faults.malformed("no s:Envelope"));
  // SOAP 1.2 only (MS-WSMV 2.2.2): the envelope namespace must be the 2003/05 one.
  if (!xml.includes(Namespace.SOAP)) {
    throw new HostFault(Faults.malformed("the envelope is not in the SOAP 1.2 namespace"));
  }
  const header = child(envelope, "Header");
  const body = child(envelope, "Body");
  if (body === undefined) throw new HostFault(Faults.malformed("no s:Body"));
  const identify = child(body, "Identify") !== undefined;

  const selectors = new Map<string, string>();
  for (const selector of children(child(header, "SelectorSet"), "Selector")) {
    const name = attribute(selector, "Name");
    if (name !== undefined) selectors.set(name, text(selector) ?? "");
  }
  const options = new Map<string, string>();
  for (const option of children(child(header, "OptionSet"), "Option")) {
    const name = attribute(option, "Name");
    if (name !== undefined) options.set(name, text(option) ?? "");
  }
  const maxEnvelope = text(child(header, "MaxEnvelopeSize"));
  const timeout = text(child(header, "OperationTimeout"));
  let maxEnvelopeSize: number | undefined;
  if (maxEnvelope !== undefined) {
    maxEnvelopeSize = Number(maxEnvelope.trim());
    if (!Number.isInteger(maxEnvelopeSize) || maxEnvelopeSize <= 0) {
      throw new HostFault(Faults.malformed(`w:MaxEnvelopeSize "${maxEnvelope}" is not a size`));
    }
  }
  let operationTimeoutMs: number | undefined;
  if (timeout !== undefined) {
    operationTimeoutMs = parseDuration(timeout);
    if (operationTimeoutMs === undefined) {
      throw new HostFault(Faults.malformed(`w:OperationTimeout "${timeout}" is not a duration`));
    }
  }
  return {
    headers: {
      action: text(child(header, "Action")),
      messageId: text(child(header, "MessageID")),
      resourceUri: text(child(header, "ResourceURI")),
      maxEnvelopeSize,
      operationTimeoutMs,
      selectors,
      options,
      operationId: text(child(header, "OperationID"))?.trim() || undefined,
    },
    body,
    identify,
    payloads,
  };
}

// ---------------------------------------------------------------------------------------------
// Building

export function escapeXml(value: string): string {
  return value.replace(/[<>&"']/g, (c) =>
    c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === "&" ? "&amp;" : c === '"' ? "&quot;" : "&apos;",
  );
}

const ENVELOPE_OPEN =
  `<s:Envelope xml:lang="en-US" xmlns:s="${Namespace.SOAP}" xmlns:a="${Namespace.ADDRESSING}"` +
  ` xmlns:x="${Namespace.TRANSFER}" xmlns:w="${Namespace.WSMAN}" xmlns:rsp="${Namespace.SHELL}"` +
  ` xmlns:p="${Namespace.MS_WSMAN}">`;

/**
 * A response envelope (WS-Management 5.4.2, MS-WSMV 3.1.4): a:Action, a fresh a:MessageID,
 * a:To anonymous and a:RelatesTo the request's MessageID.
 */
export function buildResponse(
  action: string,
  relatesTo: string | undefined,
  body: string,
  extraHeaders = "",
): string {
  const relates =
    (relatesTo === undefined ? "" : `<a:RelatesTo>${escapeXml(relatesTo)}</a:RelatesTo>`) +
    extraHeaders;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>${ENVELOPE_OPEN}<s:Header>` +
    `<a:Action>${escapeXml(action)}</a:Action>` +
    `<a:MessageID>uuid:${randomUUID().toUpperCase()}</a:MessageID>` +
    `<a:To>${ANONYMOUS}</a:To>${relates}</s:Header><s:Body>${body}</s:Body></s:Envelope>`
  );
}

/**
 * A SOAP 1.2 fault with the WSManFault detail Windows adds (MS-WSMV 2.2.4.17): pywinrm reads
 * Detail/WSManFault/@Code, pypsrp also @Machine and f:Message, everyone Code/Subcode and Reason.
 */
export function buildFault(
  spec: FaultSpec,
  relatesTo: string | undefined,
  machine: string,
): string {
  const action = spec.subcode.startsWith("a:") ? ADDRESSING_FAULT_ACTION : WSMAN_FAULT_ACTION;
  const detail =
    (spec.faultDetail ? `<w:FaultDetail>${escapeXml(spec.faultDetail)}</w:FaultDetail>` : "") +
    `<f:WSManFault xmlns:f="${Namespace.WSMAN_FAULT}" Code="${spec.wsmanCode}"` +
    ` Machine="${escapeXml(machine)}"><f:Message>${escapeXml(spec.reason)}</f:Message></f:WSManFault>`;
  return buildResponse(
    action,
    relatesTo,
    `<s:Fault><s:Code><s:Value>${spec.code}</s:Value><s:Subcode><s:Value>${escapeXml(spec.subcode)}</s:Value></s:Subcode></s:Code>` +
      `<s:Reason><s:Text xml:lang="en-US">${escapeXml(spec.reason)}</s:Text></s:Reason>` +
      `<s:Detail>${detail}</s:Detail></s:Fault>`,
  );
}

export interface IdentifyFacts {
  productVendor: string;
  productVersion: string;
  securityProfiles: readonly string[];
}

/**
 * wsmid:IdentifyResponse (DSP0226 11.2; Windows adds wsmid:SecurityProfiles). Identify has no
 * WS-Addressing headers, so the response has none either.
 */
export function buildIdentifyResponse(facts: IdentifyFacts): string {
  const profiles = facts.securityProfiles
    .map((uri) => `<wsmid:SecurityProfileName>${escapeXml(uri)}</wsmid:SecurityProfileName>`)
    .join("");
  return (
    `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xml:lang="en-US" xmlns:s="${Namespace.SOAP}">` +
    `<s:Header/><s:Body><wsmid:IdentifyResponse xmlns:wsmid="${Namespace.IDENTITY}">` +
    `<wsmid:ProtocolVersion>${Namespace.WSMAN}</wsmid:ProtocolVersion>` +
    `<wsmid:ProductVendor>${escapeXml(facts.productVendor)}</wsmid:ProductVendor>` +
    `<wsmid:ProductVersion>${escapeXml(facts.productVersion)}</wsmid:ProductVersion>` +
    `<wsmid:SecurityProfiles>${profiles}</wsmid:SecurityProfiles>` +
    `</wsmid:IdentifyResponse></s:Body></s:Envelope>`
  );
}
