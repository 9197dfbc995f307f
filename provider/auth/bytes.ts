/**
 * Bounds-checked reading of untrusted bytes. Every read names the structure being decoded, so
 * a truncated or hostile token fails with a ProtocolError that says where, never with a
 * RangeError from deep inside Buffer.
 */
import { ProtocolError } from "../errors";

export class ByteReader {
  constructor(
    readonly data: Buffer,
    readonly structure: string,
  ) {}

  /** Fails unless `length` bytes exist at `offset`; `what` names the field for the message. */
  require(offset: number, length: number, what: string): void {
    if (offset < 0 || length < 0 || offset + length > this.data.length) {
      throw new ProtocolError(
        this.structure,
        `${what} needs ${length} bytes at offset ${offset}, but the structure has ${this.data.length}`,
      );
    }
  }

  u8(offset: number, what: string): number {
    this.require(offset, 1, what);
    return this.data[offset]!;
  }

  u16(offset: number, what: string): number {
    this.require(offset, 2, what);
    return this.data.readUInt16LE(offset);
  }

  u32(offset: number, what: string): number {
    this.require(offset, 4, what);
    return this.data.readUInt32LE(offset);
  }

  u64(offset: number, what: string): bigint {
    this.require(offset, 8, what);
    return this.data.readBigUInt64LE(offset);
  }

  /** A copy of the bytes, so the result never aliases a buffer the caller may reuse. */
  bytes(offset: number, length: number, what: string): Buffer {
    this.require(offset, length, what);
    return Buffer.from(this.data.subarray(offset, offset + length));
  }

  fail(reason: string): never {
    throw new ProtocolError(this.structure, reason);
  }
}

/** Concatenates the UTF-16LE encodings MS-NLMP calls UNICODE(). */
export function utf16le(text: string): Buffer {
  return Buffer.from(text, "utf16le");
}
