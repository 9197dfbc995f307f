/**
 * XML as WS-Management uses it: escaping text for content and attributes, and parsing a reply
 * into plain nodes with namespace prefixes removed. A DOCTYPE is refused before parsing.
 */
import { XMLParser } from "fast-xml-parser";
import { ProtocolError } from "../../errors";
import { liftStreamPayloads } from "./payloads";

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

/** A parsed envelope; large Stream texts are in `payloads`, read them with streamBytes. */
export interface ParsedEnvelope {
  header: XmlNode;
  body: XmlNode;
  payloads: readonly Buffer[];
}

/**
 * Parses a response envelope; a DOCTYPE is refused (no entity expansion from the wire). From
 * bytes, the large Stream texts are taken out first (payloads.ts), which a DOCTYPE cannot hide
 * in: a lifted text holds no `<`.
 */
export function parseEnvelope(message: string | Buffer): ParsedEnvelope {
  const { xml, payloads } =
    typeof message === "string" ? { xml: message, payloads: [] } : liftStreamPayloads(message);
  if (/<!DOCTYPE/i.test(xml)) throw new ProtocolError("SOAP envelope", "DOCTYPE is not allowed");
  let document: unknown;
  try {
    document = parser.parse(xml);
  } catch (error) {
    throw new ProtocolError("SOAP envelope", "not well-formed XML", { cause: error });
  }
  const envelope = asNode((document as XmlNode | undefined)?.Envelope);
  if (!envelope) throw new ProtocolError("SOAP envelope", "no Envelope element");
  return { header: asNode(envelope.Header) ?? {}, body: asNode(envelope.Body) ?? {}, payloads };
}

function asNode(value: XmlValue | undefined): XmlNode | undefined {
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
