/** SOAP faults as WSManFault errors (SOAP 1.2, MS-WSMV 2.2.4.44). */
import { WSManFault } from "../../errors";
import { attribute, child, find, text, type XmlNode } from "./xml";

/** WSManFault codes the client acts on (MS-WSMV 2.2.4.x, winerror.h). */
export const WSManFaultCode = Object.freeze({
  /** ERROR_WSMAN_OPERATION_TIMEDOUT: a Receive saw no output in time; receive again. */
  OPERATION_TIMEOUT: 2150858793,
} as const);

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
