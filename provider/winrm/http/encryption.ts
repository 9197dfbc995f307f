/**
 * WinRM message encryption framing, MS-WSMV 2.2.9.1: a SOAP message sealed with the security
 * context of the HTTP authentication travels as a `multipart/encrypted` body. Used by the
 * client to send requests and read responses, and by the loopback host for the reverse.
 *
 * The format only looks like MIME (RFC 2046). The second part's "body" is binary: a 4-byte
 * little-endian signature length, the signature, then the sealed bytes, immediately followed
 * by the closing boundary with no line break before it. It must be parsed by lengths, never by
 * searching for the boundary, which may occur inside ciphertext by chance.
 */
import { ProtocolError } from "../../errors";
import type { OpenedMessage, SecurityContext } from "../../auth/context";

/** The protocol string for Negotiate (SPNEGO, NTLM or Kerberos) sealing. */
export const SPNEGO_ENCRYPTED = "application/HTTP-SPNEGO-session-encrypted";
/** The protocol string for sealing under the HTTP `Kerberos` scheme (MS-WSMV 2.2.9.1). */
export const KERBEROS_ENCRYPTED = "application/HTTP-Kerberos-session-encrypted";
const BOUNDARY = "Encrypted Boundary";
const ORIGINAL_TYPE = "application/soap+xml;charset=UTF-8";

/** The Content-Type header of a request or response sealed under `protocol`. */
export function encryptedContentType(protocol: string): string {
  return `multipart/encrypted;protocol="${protocol}";boundary="${BOUNDARY}"`;
}

/** The Content-Type header of a Negotiate-sealed request or response. */
export const ENCRYPTED_CONTENT_TYPE = encryptedContentType(SPNEGO_ENCRYPTED);

/** Largest signature header accepted; NTLM's is 16, Kerberos' under 100. */
const MAX_HEADER_LENGTH = 1024;

/**
 * Seals `soap` and frames it as MS-WSMV 2.2.9.1 describes, under `protocol`, into a buffer
 * from `allocate` where the context seals in place.
 */
export function encryptMessage(
  context: SecurityContext,
  soap: Uint8Array,
  protocol = SPNEGO_ENCRYPTED,
  allocate: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size),
): Buffer {
  const prefix =
    `--${BOUNDARY}\r\n` +
    `\tContent-Type: ${protocol}\r\n` +
    `\tOriginalContent: type=${ORIGINAL_TYPE};Length=${soap.length}\r\n` +
    `--${BOUNDARY}\r\n` +
    `\tContent-Type: application/octet-stream\r\n`;
  const suffix = `--${BOUNDARY}--\r\n`;
  const layout = context.wrapLayout;
  if (layout !== undefined) {
    // Sealed in place in the framed message: no second copy of a request that may be 500 KB.
    const headerAt = prefix.length + 4;
    const dataEnd = headerAt + layout.headerLength + soap.length;
    const framed = allocate(dataEnd + suffix.length);
    framed.write(prefix, 0, "latin1");
    framed.writeUInt32LE(layout.headerLength, prefix.length);
    context.wrapInto(soap, framed, headerAt);
    framed.write(suffix, dataEnd, "latin1");
    return framed;
  }
  const { header, data } = context.wrap(soap);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length, 0);
  return Buffer.concat([
    Buffer.from(prefix, "latin1"),
    length,
    header,
    data,
    Buffer.from(suffix, "latin1"),
  ]);
}

/** True when a Content-Type header announces an MS-WSMV body sealed under `protocol`. */
export function isEncryptedContentType(
  contentType: string | undefined,
  protocol = SPNEGO_ENCRYPTED,
): boolean {
  if (!contentType) return false;
  const lower = contentType.toLowerCase();
  return lower.startsWith("multipart/encrypted") && lower.includes(protocol.toLowerCase());
}

/**
 * Reads one line ending in CRLF (or LF) starting at `offset`; returns it without the line end
 * and without leading white space (Windows indents header lines with a TAB, some peers don't).
 */
function readLine(body: Buffer, offset: number): { line: string; next: number } {
  const end = body.indexOf(0x0a, offset);
  if (end < 0)
    throw new ProtocolError("multipart/encrypted body", "a header line is not terminated");
  const raw = body.subarray(offset, end > offset && body[end - 1] === 0x0d ? end - 1 : end);
  return { line: raw.toString("latin1").trim(), next: end + 1 };
}

function expectBoundary(line: string): void {
  // Tolerate a space after the dashes, as some implementations write it.
  if (line.replace(/^--\s*/, "") !== BOUNDARY || !line.startsWith("--")) {
    throw new ProtocolError(
      "multipart/encrypted body",
      `expected the boundary, found "${line.slice(0, 40)}"`,
    );
  }
}

/**
 * Unframes and unseals a body produced by encryptMessage (or by Windows), checking that the
 * plaintext has the length OriginalContent announced. The sealed part of `body` is decrypted
 * where it lies: the caller gives the body up.
 */
export function decryptMessage(context: SecurityContext, body: Buffer): Buffer {
  const { plaintext, verify } = openMessage(context, body);
  verify();
  return plaintext;
}

/**
 * decryptMessage() with the signature's check left to the caller (SecurityContext.open): the
 * plaintext may serve to decide to ask for more before the check, and for nothing else.
 */
export function openMessage(context: SecurityContext, body: Buffer): OpenedMessage {
  const structure = "multipart/encrypted body";
  let { line, next } = readLine(body, 0);
  expectBoundary(line);
  let expectedLength: number | undefined;
  for (;;) {
    ({ line, next } = readLine(body, next));
    if (line.startsWith("--")) break;
    const match = /^OriginalContent:.*;\s*Length=(\d+)/i.exec(line);
    if (match) expectedLength = Number(match[1]);
  }
  expectBoundary(line);
  ({ line, next } = readLine(body, next));
  if (!/^Content-Type:\s*application\/octet-stream$/i.test(line)) {
    throw new ProtocolError(structure, "the second part is not application/octet-stream");
  }
  if (expectedLength === undefined)
    throw new ProtocolError(structure, "OriginalContent has no Length");
  const cursor = next;
  if (cursor + 4 > body.length)
    throw new ProtocolError(structure, "truncated before the header length");
  const headerLength = body.readUInt32LE(cursor);
  if (headerLength > MAX_HEADER_LENGTH) {
    throw new ProtocolError(structure, `signature header of ${headerLength} bytes is implausible`);
  }
  const headerStart = cursor + 4;
  const dataStart = headerStart + headerLength;
  const dataEnd = closingBoundaryStart(body);
  if (dataEnd < dataStart) throw new ProtocolError(structure, "the sealed part is truncated");
  // The body is this reader's own (the bytes as received), so it is decrypted where it lies.
  const opened = context.open(
    body.subarray(headerStart, dataStart),
    body.subarray(dataStart, dataEnd),
    { inPlace: true },
  );
  if (opened.plaintext.length !== expectedLength) {
    throw new ProtocolError(
      structure,
      `decrypted ${opened.plaintext.length} bytes, but OriginalContent announced ${expectedLength}`,
    );
  }
  return opened;
}

const CLOSING = Buffer.from(`${BOUNDARY}--`, "latin1");

/**
 * Where the closing `--Encrypted Boundary--` begins. It is found from the end of the body, the
 * one place it is certain to be; the sealed data ends right before it.
 */
function closingBoundaryStart(body: Buffer): number {
  let end = body.length;
  while (end > 0 && [0x0a, 0x0d, 0x20, 0x09].includes(body[end - 1]!)) end--;
  let start = end - CLOSING.length;
  if (start < 2 || !body.subarray(start, end).equals(CLOSING)) {
    throw new ProtocolError("multipart/encrypted body", "the closing boundary is missing");
  }
  while (start > 2 && body[start - 1] === 0x20) start--; // "-- Encrypted Boundary--"
  if (body[start - 1] !== 0x2d || body[start - 2] !== 0x2d) {
    throw new ProtocolError("multipart/encrypted body", "the closing boundary is malformed");
  }
  return start - 2;
}
