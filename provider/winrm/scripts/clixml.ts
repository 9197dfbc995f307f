/**
 * Decoding of the CLIXML that powershell.exe writes to stderr when started with
 * -EncodedCommand: a `#< CLIXML` line followed by an `<Objs>` document of serialised objects
 * (the PowerShell serialisation format of MS-PSRP 2.2.5); PowerShell 7 does the same. Each
 * top-level element carries the stream it belongs to in its `S` attribute: `<S S="Error">`
 * holds one chunk of error text, `<S S="warning">` a warning line, `<Obj S="progress">` a
 * progress record.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";

const MARKER = "#< CLIXML";
const DOCUMENT_START = "<Objs";
const DOCUMENT_END = "</Objs>";

/**
 * ECMA-48 control sequences (CSI: ESC [ parameters intermediates final). PowerShell 7 renders
 * error records with $PSStyle colours even when it serialises them to CLIXML for a redirected
 * stderr, and setting $PSStyle.OutputRendering does not change that; the text is for a log.
 */
// eslint-disable-next-line no-control-regex -- ESC is exactly what this pattern is for
const CONTROL_SEQUENCE = /\x1b\[[0-?]*[ -/]*[@-~]/g;

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
 * Turns PowerShell's CLIXML stderr into readable text. The `#< CLIXML` line comes once, before
 * the first serialised record; plain text that a script writes straight to the raw stderr
 * stream can follow it, precede a document or sit between documents, and passes through
 * unchanged, as does a document that is truncated or does not parse (better raw than lost).
 * Text before the first marker is plain stderr, whatever it looks like.
 */
export function decodeClixml(stderr: string): string {
  const stream = new ClixmlStream();
  return stream.write(stderr) + stream.end();
}

/**
 * decodeClixml for stderr as it arrives, for a log that shows it live: write() returns the
 * text that is decided so far (plain text at once; a serialised document once its </Objs>
 * has arrived, which PowerShell writes when the process ends), end() the rest. The output of
 * any split of the input equals decodeClixml of the whole.
 */
export class ClixmlStream {
  private pending = "";
  private markerSeen = false;

  write(text: string): string {
    this.pending += text;
    return this.drain(false);
  }

  end(): string {
    return this.drain(true);
  }

  private drain(final: boolean): string {
    const text = this.pending;
    const parts: string[] = [];
    let at = 0;
    if (!this.markerSeen) {
      const first = text.indexOf(MARKER);
      if (first < 0) {
        const keep = final ? 0 : partialSuffix(text, [MARKER]);
        this.pending = text.slice(text.length - keep);
        return text.slice(0, text.length - keep);
      }
      parts.push(text.slice(0, first));
      at = first;
      this.markerSeen = true;
    }
    while (at < text.length) {
      if (text.startsWith(MARKER, at)) {
        const after = at + MARKER.length;
        // Wait for the line end, which belongs to the marker.
        if (
          !final &&
          (after >= text.length || (text[after] === "\r" && after + 1 >= text.length))
        ) {
          break;
        }
        at = skipLineEnd(text, after);
        continue;
      }
      if (text.startsWith(DOCUMENT_START, at)) {
        const end = text.indexOf(DOCUMENT_END, at);
        if (end < 0) {
          if (final) {
            parts.push(text.slice(at));
            at = text.length;
          }
          break;
        }
        const stop = end + DOCUMENT_END.length;
        const document = text.slice(at, stop);
        parts.push(parseDocument(document) ?? document);
        at = stop;
        continue;
      }
      let stop = nextOf(text, at + 1, [MARKER, DOCUMENT_START]);
      if (stop === text.length && !final) {
        stop -= partialSuffix(text.slice(at), [MARKER, DOCUMENT_START]);
        if (stop === at) break;
      }
      parts.push(text.slice(at, stop));
      at = stop;
    }
    this.pending = text.slice(at);
    return parts.join("");
  }
}

/** The length of the longest end of `text` that is the start of one of `needles`, not all of it. */
function partialSuffix(text: string, needles: readonly string[]): number {
  let longest = 0;
  for (const needle of needles) {
    for (let length = Math.min(needle.length - 1, text.length); length > longest; length--) {
      if (text.endsWith(needle.slice(0, length))) {
        longest = length;
        break;
      }
    }
  }
  return longest;
}

/** The first position at or after `from` where one of `needles` starts, else the length. */
function nextOf(text: string, from: number, needles: readonly string[]): number {
  let best = text.length;
  for (const needle of needles) {
    const found = text.indexOf(needle, from);
    if (found >= 0 && found < best) best = found;
  }
  return best;
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
  return objs.map(streamText).join("").replace(CONTROL_SEQUENCE, "");
}

/** The text a top-level element contributes: S elements and ToString of Obj, by stream. */
function streamText(node: OrderedNode): string {
  const stream = attribute(node, "S")?.toLowerCase();
  if (stream === undefined || !(stream in STREAM_PREFIXES)) return "";
  const prefix = STREAM_PREFIXES[stream] ?? "";
  if ("S" in node) {
    const text = decodeEscapes(textOf(node.S));
    // The console host writes a warning, verbose or debug record as one line (its
    // WriteWarningLine and the like) but serialises the message alone, without the line end.
    return prefix !== "" && !text.endsWith("\n") ? `${prefix}${text}\n` : prefix + text;
  }
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
