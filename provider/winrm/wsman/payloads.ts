/**
 * Large rsp:Stream payloads taken out of a WS-Management message before it is parsed as XML.
 *
 * A Send or a Receive response carries up to MaxEnvelopeSize of base64 in rsp:Stream elements
 * (MS-WSMV 2.2.4.37, 3.1.4.12, 3.1.4.14). Turning 500 KB of it into a string, validating it as
 * XML and handing it back as text was most of the cost of moving bytes in either direction
 * (issue 15). Base64 holds no markup, so the text of each large Stream is found by index in
 * the raw bytes, decoded there, and replaced by a short mark that the parsed node carries.
 * The client (receiving output) and the loopback host (receiving stdin) both use this.
 *
 * The other way, a payload going out is written into the message as base64 a slice at a time
 * (`messageWithPayload`), never as one large string.
 */

/** Messages shorter than this are parsed whole: there is nothing worth taking out. */
const LIFT_FROM_MESSAGE_BYTES = 64 * 1024;
/** Stream texts shorter than this stay in the XML. */
const LIFT_FROM_TEXT_BYTES = 1024;
/** What a lifted text is replaced by, followed by its index: never valid base64 (`#`, `:`). */
const PAYLOAD_MARK = "#payload:";
const STREAM_NAME = Buffer.from("Stream", "latin1");
const [LT, GT, SLASH, COLON, AMPERSAND, SPACE, TAB, CR, LF] = [
  0x3c, 0x3e, 0x2f, 0x3a, 0x26, 0x20, 0x09, 0x0d, 0x0a,
];

export interface LiftedMessage {
  /** The message as text, each lifted Stream text replaced by its mark. */
  xml: string;
  /** The decoded bytes of each lifted text, by the index in its mark. */
  payloads: Buffer[];
}

/** Whether the byte can be part of an XML name prefix as clients write them ([\w.-]). */
function isPrefixByte(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) ||
    (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a) ||
    byte === 0x5f ||
    byte === 0x2e ||
    byte === 0x2d
  );
}

function isSpace(byte: number | undefined): boolean {
  return byte === SPACE || byte === TAB || byte === CR || byte === LF;
}

/**
 * Where the text of each large Stream element lies in `message`: [start, end) between an open
 * tag `<prefix:Stream ...>` and the next `<`, which must begin a closing tag. Text holding a
 * character or entity reference (`&`) is left to the XML parser, which decodes it; any other
 * text between two tags is character data as it stands (XML 1.0 section 2.4).
 */
function streamTexts(message: Buffer): Array<[number, number]> {
  const found: Array<[number, number]> = [];
  for (let at = message.indexOf(STREAM_NAME); at > 0; at = message.indexOf(STREAM_NAME, at + 1)) {
    let open = at - 1;
    if (message[open] === COLON) {
      open--;
      while (open > 0 && isPrefixByte(message[open]!)) open--;
    }
    const after = message[at + STREAM_NAME.length];
    if (message[open] !== LT || (after !== GT && !isSpace(after))) continue;
    const tagEnd = message.indexOf(GT, at);
    if (tagEnd < 0 || message[tagEnd - 1] === SLASH) continue;
    const textEnd = message.indexOf(LT, tagEnd + 1);
    if (textEnd < 0 || message[textEnd + 1] !== SLASH) continue;
    const [start, end] = [tagEnd + 1, textEnd];
    if (end - start < LIFT_FROM_TEXT_BYTES || message.subarray(start, end).includes(AMPERSAND))
      continue;
    found.push([start, end]);
    at = end;
  }
  return found;
}

/**
 * Characters of base64 decoded per string: a multiple of 4, and small enough that each string
 * stays out of V8's large-object space (objects over about 128 KiB), where hundreds of
 * megabytes of output would otherwise pile up until a full collection.
 */
const DECODE_SLICE = 64 * 1024;

/**
 * Base64 text (as bytes) decoded into one buffer, a slice at a time. Text with white space
 * (line breaks some writers add) is decoded whole, since its slices would not fall on
 * 4-character boundaries.
 */
function decodeBase64(text: Buffer): Buffer {
  if (text.includes(LF) || text.includes(CR) || text.includes(SPACE) || text.includes(TAB)) {
    return Buffer.from(text.toString("latin1"), "base64");
  }
  const out = Buffer.allocUnsafe(Math.ceil(text.length / 4) * 3);
  let written = 0;
  for (let at = 0; at < text.length; at += DECODE_SLICE) {
    const slice = text.toString("latin1", at, Math.min(at + DECODE_SLICE, text.length));
    written += out.write(slice, written, "base64");
  }
  return out.subarray(0, written);
}

/** Takes the large Stream texts out of `message` (UTF-8) and decodes them from base64. */
export function liftStreamPayloads(message: Buffer): LiftedMessage {
  const payloads: Buffer[] = [];
  if (message.length < LIFT_FROM_MESSAGE_BYTES) return { xml: message.toString("utf8"), payloads };
  const pieces: Buffer[] = [];
  let from = 0;
  for (const [start, end] of streamTexts(message)) {
    pieces.push(message.subarray(from, start), Buffer.from(`${PAYLOAD_MARK}${payloads.length}`));
    payloads.push(decodeBase64(message.subarray(start, end)));
    from = end;
  }
  if (payloads.length === 0) return { xml: message.toString("utf8"), payloads };
  pieces.push(message.subarray(from));
  return { xml: Buffer.concat(pieces).toString("utf8"), payloads };
}

/**
 * The bytes of a Stream element whose parsed text is `text`: the lifted payload its mark
 * names, or the text decoded from base64.
 */
export function streamBytes(text: string, payloads: readonly Buffer[]): Buffer {
  if (text.startsWith(PAYLOAD_MARK)) {
    const payload = payloads[Number(text.slice(PAYLOAD_MARK.length))];
    if (payload !== undefined) return payload;
  }
  return Buffer.from(text, "base64");
}

/**
 * Where a message's one large payload goes in its text, for `messageWithPayload`: NUL cannot
 * occur in XML, so nothing escaped into the text can look like it.
 */
export const PAYLOAD_PLACE = "\u0000payload\u0000";

/**
 * Bytes encoded per base64 string when a payload is written into a message: a multiple of 3,
 * small enough that each string stays out of V8's large-object space, whose pages are mapped
 * and unmapped for every string. A Send of 380 KB of stdin turned into one base64 string and
 * its envelope back into bytes took 6.4 ms, against 0.34 ms a slice at a time (issue 19,
 * 2-core machine), and was a third of the client's CPU in uploads.
 */
const ENCODE_SLICE = 48 * 1024;

/** The length of the padded base64 of `size` bytes. */
export function base64Length(size: number): number {
  return Math.ceil(size / 3) * 4;
}

/** Writes the padded base64 of `bytes` into `out` at `at`; returns the offset after it. */
export function writeBase64(bytes: Uint8Array, out: Buffer, at: number): number {
  const source = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let position = at;
  for (let from = 0; from < source.length; from += ENCODE_SLICE) {
    const slice = source.toString("base64", from, Math.min(from + ENCODE_SLICE, source.length));
    position += out.write(slice, position, "latin1");
  }
  return position;
}

/**
 * `xml` as UTF-8 with the base64 of each of `payloads` in place of the PAYLOAD_PLACEs it holds,
 * in order: one each.
 */
export function messageWithPayloads(
  xml: string,
  payloads: readonly Uint8Array[],
  allocate: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size),
): Buffer {
  const parts = xml.split(PAYLOAD_PLACE);
  if (parts.length !== payloads.length + 1) {
    throw new Error(
      `the message has ${parts.length - 1} places for payloads, not ${payloads.length}`,
    );
  }
  let size = 0;
  for (const part of parts) size += Buffer.byteLength(part, "utf8");
  for (const payload of payloads) size += base64Length(payload.byteLength);
  const out = allocate(size);
  let position = out.write(parts[0]!, 0, "utf8");
  for (let index = 0; index < payloads.length; index++) {
    position = writeBase64(payloads[index]!, out, position);
    position += out.write(parts[index + 1]!, position, "utf8");
  }
  return out.subarray(0, position);
}

/** `xml` as UTF-8 with the base64 of `payload` in place of PAYLOAD_PLACE, which it must hold. */
export function messageWithPayload(
  xml: string,
  payload: Uint8Array,
  allocate?: (size: number) => Buffer,
): Buffer {
  return messageWithPayloads(xml, [payload], allocate);
}
