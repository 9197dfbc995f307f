/**
 * Decoding of the CLIXML that powershell.exe writes to stderr when started with
 * -EncodedCommand: a `#< CLIXML` line followed by an `<Objs>` document of serialised objects
 * (the PowerShell serialisation format of MS-PSRP 2.2.5). Each top-level element carries the
 * stream it belongs to in its `S` attribute: `<S S="Error">` holds one chunk of error text,
 * `<S S="warning">` a warning line, `<Obj S="progress">` a progress record.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";

const MARKER = "#< CLIXML";
const DOCUMENT_END = "</Objs>";

/** Streams whose lines the console host prefixes; error and information text stands alone. */
const STREAM_PREFIXES: Readonly<Record<string, string>> = Object.freeze({
  error: "",
  information: "",
  output: "",
  warning: "WARNING: ",
  verbose: "VERBOSE: ",
  debug: "DEBUG: ",
});

/**
 * Order-preserving parse: with preserveOrder every element is `{ name: children, ":@": attrs }`
 * and text is `{ "#text": value }`. No DOCTYPE is accepted (see parseDocument), so no entity
 * beyond the five predefined ones and character references is ever expanded.
 */
const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: "",
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: false,
});

type OrderedNode = Record<string, unknown>;

/**
 * Turns PowerShell's CLIXML stderr into readable text. Several documents, and plain text
 * before, between or after them, may occur; plain text passes through unchanged, and so
 * does a document that is truncated or does not parse (better raw than lost).
 */
export function decodeClixml(stderr: string): string {
  const parts: string[] = [];
  let rest = stderr;
  for (let at = rest.indexOf(MARKER); at >= 0; at = rest.indexOf(MARKER)) {
    parts.push(rest.slice(0, at));
    const body = skipLineEnd(rest, at + MARKER.length);
    const end = rest.startsWith("<Objs", body) ? rest.indexOf(DOCUMENT_END, body) : -1;
    if (end < 0) {
      parts.push(rest.slice(at));
      rest = "";
      break;
    }
    const stop = end + DOCUMENT_END.length;
    const text = parseDocument(rest.slice(body, end + DOCUMENT_END.length));
    parts.push(text ?? rest.slice(at, stop));
    rest = rest.slice(stop);
  }
  parts.push(rest);
  return parts.join("");
}

function skipLineEnd(text: string, at: number): number {
  if (text.startsWith("\r\n", at)) return at + 2;
  if (text.startsWith("\n", at)) return at + 1;
  return at;
}

/** The readable text of one `<Objs>` document, or undefined when it is not well-formed. */
function parseDocument(document: string): string | undefined {
  if (document.includes("<!")) return undefined; // DOCTYPE, CDATA or comments: not CLIXML
  // The parser itself is lenient about mismatched tags; the validator is not.
  if (XMLValidator.validate(document) !== true) return undefined;
  let nodes: unknown;
  try {
    nodes = parser.parse(document);
  } catch {
    return undefined;
  }
  const objs = childrenNamed(nodes, "Objs")[0];
  if (objs === undefined) return undefined;
  return objs.map(streamText).join("");
}

/** The text a top-level element contributes: S elements and ToString of Obj, by stream. */
function streamText(node: OrderedNode): string {
  const stream = attribute(node, "S")?.toLowerCase();
  if (stream === undefined || !(stream in STREAM_PREFIXES)) return "";
  const prefix = STREAM_PREFIXES[stream] ?? "";
  if ("S" in node) return prefix + decodeEscapes(textOf(node.S));
  if ("Obj" in node) {
    const toString = childrenNamed(node.Obj, "ToString")[0];
    return toString === undefined ? "" : prefix + decodeEscapes(textOf(toString)) + "\n";
  }
  return "";
}

/** Children arrays of the elements called `name` in an ordered node list. */
function childrenNamed(nodes: unknown, name: string): OrderedNode[][] {
  if (!Array.isArray(nodes)) return [];
  return nodes
    .filter((node): node is OrderedNode => typeof node === "object" && node !== null)
    .filter((node) => name in node && Array.isArray(node[name]))
    .map((node) => (node[name] as unknown[]).filter(isNode));
}

function isNode(value: unknown): value is OrderedNode {
  return typeof value === "object" && value !== null;
}

function attribute(node: OrderedNode, name: string): string | undefined {
  const attributes = node[":@"];
  if (!isNode(attributes)) return undefined;
  const value = attributes[name];
  return typeof value === "string" ? value : undefined;
}

/** Concatenated text children of an element's ordered children. */
function textOf(children: unknown): string {
  if (!Array.isArray(children)) return "";
  return children
    .filter(isNode)
    .map((child) => child["#text"])
    .map((text) => (typeof text === "string" || typeof text === "number" ? String(text) : ""))
    .join("");
}

/**
 * MS-PSRP 2.2.5.1.1 (String): characters XML cannot carry are written as `_xHHHH_`, the hex
 * of one UTF-16 code unit, and an underscore that would start such a sequence is written as
 * `_x005F_`. Decoding one left-to-right pass per code unit restores both; a surrogate pair
 * arrives as two escapes and is rejoined by the string itself. This pattern runs on the
 * already-parsed text, has no nested quantifiers, and so is linear in the input.
 */
function decodeEscapes(text: string): string {
  return text.replace(/_x([0-9A-Fa-f]{4})_/g, (_match, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}
