/**
 * The small part of DER (ITU-T X.690) that SPNEGO tokens and X.509 certificate framing need:
 * single-byte tags, definite lengths, OBJECT IDENTIFIERs. Reads are bounds-checked against an
 * explicit limit and fail with a ProtocolError naming the structure being read.
 */
import { ProtocolError } from "../errors";

export const DerTag = Object.freeze({
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OBJECT_IDENTIFIER: 0x06,
  ENUMERATED: 0x0a,
  GENERAL_STRING: 0x1b,
  SEQUENCE: 0x30,
} as const);

/** A context-specific constructed tag [n] (X.690 8.1.2). */
export function contextTag(n: number): number {
  return 0xa0 | n;
}

/** An application constructed tag [APPLICATION n]. */
export function applicationTag(n: number): number {
  return 0x60 | n;
}

/** One element: its tag, and where its contents start and end in the buffer. */
export interface Tlv {
  tag: number;
  start: number;
  end: number;
}

/** Reads the element at `offset`, whose whole encoding must end at or before `limit`. */
export function readTlv(data: Uint8Array, offset: number, limit: number, structure: string): Tlv {
  const fail = (reason: string): never => {
    throw new ProtocolError(structure, `${reason} at offset ${offset}`);
  };
  if (limit > data.length) limit = data.length;
  if (offset + 2 > limit) fail("element truncated");
  const tag = data[offset]!;
  if ((tag & 0x1f) === 0x1f) fail("multi-byte tags are not used here");
  let length = data[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0) fail("indefinite length is not DER");
    if (count > 4) fail("length field too long");
    if (start + count > limit) fail("length truncated");
    length = 0;
    for (let n = 0; n < count; n++) length = length * 256 + data[start + n]!;
    start += count;
  }
  if (start + length > limit) fail(`element of ${length} bytes runs past its container`);
  return { tag, start, end: start + length };
}

/** Reads an element and insists on its tag; `what` names the field for the error. */
export function expectTlv(
  data: Uint8Array,
  offset: number,
  limit: number,
  tag: number,
  structure: string,
  what: string,
): Tlv {
  const tlv = readTlv(data, offset, limit, structure);
  if (tlv.tag !== tag) {
    throw new ProtocolError(
      structure,
      `${what}: expected tag 0x${tag.toString(16)}, found 0x${tlv.tag.toString(16)}`,
    );
  }
  return tlv;
}

/** Every element inside [start, end), in order. */
export function readChildren(
  data: Uint8Array,
  start: number,
  end: number,
  structure: string,
): Tlv[] {
  const children: Tlv[] = [];
  for (let offset = start; offset < end;) {
    const child = readTlv(data, offset, end, structure);
    children.push(child);
    offset = child.end;
  }
  return children;
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let value = length; value > 0; value = Math.floor(value / 256)) bytes.unshift(value & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function encodeTlv(tag: number, ...contents: Uint8Array[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), encodeLength(body.length), body]);
}

/** Contents octets of an OBJECT IDENTIFIER (X.690 8.19). */
function encodeOidContents(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  const [first = 0, second = 0, ...rest] = arcs;
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const chunk = [arc & 0x7f];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) {
      chunk.unshift(0x80 | (value & 0x7f));
    }
    bytes.push(...chunk);
  }
  return Buffer.from(bytes);
}

export function encodeOid(dotted: string): Buffer {
  return encodeTlv(DerTag.OBJECT_IDENTIFIER, encodeOidContents(dotted));
}

/** Dotted form of an OBJECT IDENTIFIER's contents octets. */
export function decodeOid(contents: Uint8Array): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of contents) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) !== 0) continue;
    if (arcs.length === 0) {
      const first = value < 80 ? Math.floor(value / 40) : 2;
      arcs.push(first, value - first * 40);
    } else {
      arcs.push(value);
    }
    value = 0;
  }
  return arcs.join(".");
}
