/**
 * The DER forms Kerberos messages use (RFC 4120 5.2), over der.ts: explicitly tagged fields in
 * SEQUENCEs, 32-bit INTEGERs, KerberosString (GeneralString holding IA5/UTF-8), KerberosTime
 * (GeneralizedTime "YYYYMMDDHHMMSSZ") and 32-bit flag BIT STRINGs.
 *
 * Reading goes through DerNode, which knows the bytes it came from and the structure it is part
 * of, so every malformed field fails with a ProtocolError naming the structure and the field.
 * Lengths are checked against their container before anything is read or allocated.
 */
import { ProtocolError } from "../../errors";
import { applicationTag, contextTag, DerTag, encodeTlv, readChildren, readTlv } from "../der";

const GENERALIZED_TIME = 0x18;

// ---------------------------------------------------------------------------------- encoding

export const der = {
  sequence: (...fields: Array<Buffer | undefined>): Buffer =>
    encodeTlv(DerTag.SEQUENCE, ...fields.filter((field): field is Buffer => field !== undefined)),
  /** An explicitly tagged field [n]; undefined when the value is (an absent OPTIONAL). */
  field: (n: number, value: Buffer | undefined): Buffer | undefined =>
    value === undefined ? undefined : encodeTlv(contextTag(n), value),
  application: (n: number, body: Buffer): Buffer => encodeTlv(applicationTag(n), body),
  integer(value: number): Buffer {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
      throw new RangeError(`${value} is not a 32-bit integer`);
    }
    const bytes: number[] = [];
    let rest = value;
    do {
      bytes.unshift(((rest % 256) + 256) % 256);
      rest = Math.floor(rest / 256);
    } while (rest !== 0 && rest !== -1);
    // A sign bit that disagrees with the value needs one more byte (X.690 8.3.2).
    if (value >= 0 && bytes[0]! & 0x80) bytes.unshift(0);
    if (value < 0 && !(bytes[0]! & 0x80)) bytes.unshift(0xff);
    return encodeTlv(DerTag.INTEGER, Buffer.from(bytes));
  },
  octets: (value: Uint8Array): Buffer => encodeTlv(DerTag.OCTET_STRING, value),
  string: (value: string): Buffer => encodeTlv(DerTag.GENERAL_STRING, Buffer.from(value, "utf8")),
  /** KerberosTime: whole seconds, UTC (RFC 4120 5.2.3). */
  time(value: Date): Buffer {
    const text = value
      .toISOString()
      .replace(/[-:T]/g, "")
      .replace(/\.\d+Z$/, "Z");
    return encodeTlv(GENERALIZED_TIME, Buffer.from(text, "latin1"));
  },
  /** KerberosFlags: a 32-bit BIT STRING, bit 0 the most significant (RFC 4120 5.2.8). */
  flags(value: number): Buffer {
    const body = Buffer.alloc(5);
    body.writeUInt32BE(value >>> 0, 1);
    return encodeTlv(DerTag.BIT_STRING, body);
  },
  sequenceOf: (items: readonly Buffer[]): Buffer => encodeTlv(DerTag.SEQUENCE, ...items),
};

// ---------------------------------------------------------------------------------- decoding

export class DerNode {
  private fieldCache: Map<number, DerNode> | undefined;

  constructor(
    readonly data: Buffer,
    readonly tag: number,
    readonly start: number,
    readonly end: number,
    readonly structure: string,
    /** Where the element's tag is: its whole encoding is data[headerStart, end). */
    readonly headerStart: number,
  ) {}

  /** Parses the single element that `data` must consist of. */
  static parse(data: Uint8Array, structure: string): DerNode {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
    const tlv = readTlv(bytes, 0, bytes.length, structure);
    if (tlv.end !== bytes.length)
      throw new ProtocolError(structure, "trailing bytes after the message");
    return new DerNode(bytes, tlv.tag, tlv.start, tlv.end, structure, 0);
  }

  /** The same element, reporting its errors under another structure's name. */
  named(structure: string): DerNode {
    return new DerNode(this.data, this.tag, this.start, this.end, structure, this.headerStart);
  }

  fail(reason: string): never {
    throw new ProtocolError(this.structure, reason);
  }

  get length(): number {
    return this.end - this.start;
  }

  /** The contents octets (a view, not a copy). */
  get contents(): Buffer {
    return this.data.subarray(this.start, this.end);
  }

  /** The whole encoding of this element, tag and length included (a view). */
  get encoded(): Buffer {
    return this.data.subarray(this.headerStart, this.end);
  }

  expectTag(tag: number, what: string): this {
    if (this.tag !== tag) {
      this.fail(`${what}: expected tag 0x${tag.toString(16)}, found 0x${this.tag.toString(16)}`);
    }
    return this;
  }

  children(structure = this.structure): DerNode[] {
    let headerStart = this.start;
    return readChildren(this.data, this.start, this.end, structure).map((tlv) => {
      const node = new DerNode(this.data, tlv.tag, tlv.start, tlv.end, structure, headerStart);
      headerStart = tlv.end;
      return node;
    });
  }

  /** The single element inside an explicit tag or an APPLICATION wrapper. */
  inner(what: string): DerNode {
    const children = this.children();
    if (children.length !== 1)
      this.fail(`${what} should hold one element, holds ${children.length}`);
    return children[0]!;
  }

  /** The SEQUENCE inside [APPLICATION n]. */
  application(n: number, what: string): DerNode {
    this.expectTag(applicationTag(n), what);
    return this.inner(what).expectTag(DerTag.SEQUENCE, what);
  }

  /** The value inside the explicitly tagged field [n] of this SEQUENCE, if present. */
  optional(n: number, what: string): DerNode | undefined {
    if (this.fieldCache === undefined) {
      this.fieldCache = new Map();
      let last = -1;
      for (const child of this.children()) {
        if ((child.tag & 0xe0) !== 0xa0) this.fail(`${what}: a field without a context tag`);
        const number = child.tag & 0x1f;
        if (number <= last) this.fail(`fields out of order or repeated at [${number}]`);
        last = number;
        this.fieldCache.set(number, child);
      }
    }
    return this.fieldCache.get(n)?.inner(what);
  }

  field(n: number, what: string): DerNode {
    const node = this.optional(n, what);
    if (node === undefined) this.fail(`the required field ${what} [${n}] is missing`);
    return node;
  }

  integer(what: string): number {
    this.expectTag(DerTag.INTEGER, what);
    const length = this.length;
    if (length === 0 || length > 5) this.fail(`${what}: an INTEGER of ${length} bytes`);
    let value = this.data[this.start]! & 0x80 ? -1 : 0;
    for (let index = this.start; index < this.end; index++) value = value * 256 + this.data[index]!;
    if (value < -0x80000000 || value > 0xffffffff) this.fail(`${what}: ${value} is out of range`);
    return value;
  }

  octets(what: string): Buffer {
    this.expectTag(DerTag.OCTET_STRING, what);
    return Buffer.from(this.contents);
  }

  string(what: string): string {
    this.expectTag(DerTag.GENERAL_STRING, what);
    return this.contents.toString("utf8");
  }

  time(what: string): Date {
    this.expectTag(GENERALIZED_TIME, what);
    const match = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(this.contents.toString("latin1"));
    if (!match)
      this.fail(
        `${what}: "${this.contents.toString("latin1").slice(0, 20)}" is not a KerberosTime`,
      );
    const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    return new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  }

  flags(what: string): number {
    this.expectTag(DerTag.BIT_STRING, what);
    if (this.length < 1) this.fail(`${what}: an empty BIT STRING`);
    let value = 0;
    for (let index = 0; index < 4; index++) {
      const byte = this.start + 1 + index < this.end ? this.data[this.start + 1 + index]! : 0;
      value = value * 256 + byte;
    }
    return value >>> 0;
  }

  sequenceOf(what: string): DerNode[] {
    this.expectTag(DerTag.SEQUENCE, what);
    return this.children();
  }
}
