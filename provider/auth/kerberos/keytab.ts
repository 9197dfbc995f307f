/**
 * Reads keytab files in the format MIT Kerberos, Heimdal and Windows' ktpass write (version
 * 0x0502; 0x0501 differs only in byte order of native integers and lacking name types): a list
 * of entries, each a principal, a timestamp, a key version and a key. Negative entry sizes are
 * holes left by deleted entries. Every length is checked against what is left before it is read.
 */
import { readFileSync } from "node:fs";
import { InvalidArgumentError, ProtocolError } from "../../errors";
import { KerberosKey, findProfile } from "./crypto";
import { NameType, type PrincipalName } from "./messages";

export interface KeytabEntry {
  principal: PrincipalName;
  realm: string;
  timestamp: Date;
  /** Key version number: the 32-bit one when present, else the 8-bit one. */
  kvno: number;
  key: KerberosKey;
}

const STRUCTURE = "keytab";

class Reader {
  constructor(
    private readonly bytes: Buffer,
    public offset: number,
    private readonly end: number,
    private readonly littleEndian: boolean,
  ) {}

  private need(count: number, what: string): void {
    if (this.offset + count > this.end) {
      throw new ProtocolError(STRUCTURE, `${what} runs past the end of its entry`);
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.offset++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const value = this.littleEndian
      ? this.bytes.readUInt16LE(this.offset)
      : this.bytes.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  u32(what: string): number {
    this.need(4, what);
    const value = this.littleEndian
      ? this.bytes.readUInt32LE(this.offset)
      : this.bytes.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  data(what: string): Buffer {
    const length = this.u16(`${what}'s length`);
    this.need(length, what);
    const value = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  get remaining(): number {
    return this.end - this.offset;
  }
}

export function parseKeytab(bytes: Buffer): KeytabEntry[] {
  if (bytes.length < 2 || bytes[0] !== 0x05 || (bytes[1] !== 0x01 && bytes[1] !== 0x02)) {
    throw new ProtocolError(STRUCTURE, "not a keytab (it does not start with 0x0501 or 0x0502)");
  }
  const version = bytes[1];
  // Version 1 wrote native (little-endian on every platform that matters) integers.
  const littleEndian = version === 0x01;
  const entries: KeytabEntry[] = [];
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    const size = littleEndian ? bytes.readInt32LE(offset) : bytes.readInt32BE(offset);
    offset += 4;
    if (size === 0) break;
    const length = Math.abs(size);
    if (offset + length > bytes.length) {
      throw new ProtocolError(STRUCTURE, `an entry of ${length} bytes runs past the file's end`);
    }
    if (size > 0) {
      const entry = parseEntry(new Reader(bytes, offset, offset + length, littleEndian), version);
      if (entry !== undefined) entries.push(entry);
    }
    offset += length;
  }
  return entries;
}

function parseEntry(reader: Reader, version: number): KeytabEntry | undefined {
  let components = reader.u16("the component count");
  if (version === 0x01) components -= 1; // version 1 counted the realm too
  if (components < 0 || components > 16) {
    throw new ProtocolError(STRUCTURE, `a principal of ${components} components`);
  }
  const realm = reader.data("the realm").toString("utf8");
  const names: string[] = [];
  for (let i = 0; i < components; i++) names.push(reader.data("a name").toString("utf8"));
  const nameType = version === 0x01 ? NameType.PRINCIPAL : reader.u32("the name type");
  const timestamp = new Date(reader.u32("the timestamp") * 1000);
  let kvno = reader.u8("the key version");
  const etype = reader.u16("the key type");
  const value = reader.data("the key");
  if (reader.remaining >= 4) {
    const wide = reader.u32("the 32-bit key version");
    if (wide !== 0) kvno = wide;
  }
  // Keys of enctypes this project does not implement (DES, camellia, aes-sha2) are skipped.
  const profile = findProfile(etype);
  if (profile === undefined || value.length !== profile.keyLength) return undefined;
  return {
    principal: { nameType, names },
    realm,
    timestamp,
    kvno,
    key: new KerberosKey(etype, Buffer.from(value)),
  };
}

export function readKeytab(path: string): KeytabEntry[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new InvalidArgumentError(
      "keytab",
      `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return parseKeytab(bytes);
}

/** The name a keytab entry is for, in text form. */
export function keytabPrincipal(entry: KeytabEntry): string {
  return `${entry.principal.names.join("/")}@${entry.realm}`;
}
