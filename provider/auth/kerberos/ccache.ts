/**
 * Reads the credential cache that `kinit` writes (MIT's FILE: format, version 0x0504, which
 * Heimdal writes too), so a user who already holds tickets needs no password in the program.
 *
 * The layout: version, a header of tagged fields, the default principal, then credentials
 * until the end of the file, each a client and server principal, the session key, four times,
 * flags, addresses and authorization data, and the ticket as DER. Entries whose server realm
 * is "X-CACHECONF:" are MIT's configuration notes, not tickets. Every count and length is
 * checked against what is left of the file before it is used.
 */
import { readFileSync } from "node:fs";
import { InvalidArgumentError, ProtocolError } from "../../errors";
import { DerNode } from "./asn1";
import { KerberosKey, findProfile } from "./crypto";
import type { Credential } from "./kdc-client";
import { type PrincipalName, decodeTicket, principalToString } from "./messages";

const STRUCTURE = "credential cache";
const CONFIG_REALM = "X-CACHECONF:";
/** More components or entries than any real cache holds: a corrupt file. */
const MAX_COMPONENTS = 16;
const MAX_LIST = 4096;

export interface CredentialCache {
  defaultPrincipal: { name: PrincipalName; realm: string };
  credentials: Credential[];
}

class Reader {
  offset = 0;

  constructor(private readonly bytes: Buffer) {}

  private need(count: number, what: string): void {
    if (count > this.bytes.length - this.offset) {
      throw new ProtocolError(STRUCTURE, `${what} runs past the end of the file`);
    }
  }

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.offset++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const value = this.bytes.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  u32(what: string): number {
    this.need(4, what);
    const value = this.bytes.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  data(what: string): Buffer {
    const length = this.u32(`${what}'s length`);
    this.need(length, what);
    const value = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  skip(count: number, what: string): void {
    this.need(count, what);
    this.offset += count;
  }

  principal(what: string): { name: PrincipalName; realm: string } {
    const nameType = this.u32(`${what}'s name type`);
    const count = this.u32(`${what}'s component count`);
    if (count > MAX_COMPONENTS) throw new ProtocolError(STRUCTURE, `${what} has ${count} parts`);
    const realm = this.data(`${what}'s realm`).toString("utf8");
    const names: string[] = [];
    for (let i = 0; i < count; i++) names.push(this.data(`${what}'s name`).toString("utf8"));
    return { name: { nameType, names }, realm };
  }

  /** A count-prefixed list of (u16 type, data) pairs, skipped: addresses, authorization data. */
  skipList(what: string): void {
    const count = this.u32(`the ${what} count`);
    if (count > MAX_LIST) throw new ProtocolError(STRUCTURE, `${count} ${what} entries`);
    for (let i = 0; i < count; i++) {
      this.u16(`a ${what} type`);
      this.data(`a ${what} value`);
    }
  }
}

function time(seconds: number): Date {
  return new Date(seconds * 1000);
}

export function parseCredentialCache(bytes: Buffer): CredentialCache {
  const reader = new Reader(bytes);
  const version = reader.u16("the version");
  if (version !== 0x0504 && version !== 0x0503) {
    throw new ProtocolError(
      STRUCTURE,
      `version 0x${version.toString(16)} is not read (kinit writes 0x0504): run kinit again`,
    );
  }
  if (version === 0x0504) reader.skip(reader.u16("the header length"), "the header");
  const defaultPrincipal = reader.principal("the default principal");
  const credentials: Credential[] = [];
  while (!reader.done) {
    const client = reader.principal("a client");
    const server = reader.principal("a server");
    const etype = reader.u16("a key type");
    if (version === 0x0503) reader.u16("a key type's copy");
    const keyValue = reader.data("a key");
    const authtime = reader.u32("authtime");
    const starttime = reader.u32("starttime");
    const endtime = reader.u32("endtime");
    const renewTill = reader.u32("renew-till");
    reader.u8("is-skey");
    const flags = reader.u32("the ticket flags");
    reader.skipList("address");
    reader.skipList("authorization data");
    const ticketBytes = reader.data("a ticket");
    reader.data("a second ticket");
    if (server.realm === CONFIG_REALM) continue;
    const profile = findProfile(etype);
    // Tickets with keys of enctypes this project does not implement cannot be used.
    if (profile === undefined || keyValue.length !== profile.keyLength) continue;
    const ticket = decodeTicket(DerNode.parse(Buffer.from(ticketBytes), "Ticket"));
    credentials.push({
      client: {
        name: client.name,
        realm: client.realm,
        text: principalToString(client.name, client.realm),
      },
      server: server.name,
      serverRealm: server.realm,
      ticket,
      sessionKey: new KerberosKey(etype, Buffer.from(keyValue)),
      flags,
      authtime: time(authtime),
      ...(starttime === 0 ? {} : { starttime: time(starttime) }),
      endtime: time(endtime),
      ...(renewTill === 0 ? {} : { renewTill: time(renewTill) }),
    });
  }
  return { defaultPrincipal, credentials };
}

/**
 * Where the cache is: the given name, else KRB5CCNAME, else MIT's default /tmp/krb5cc_<uid>.
 * Only FILE: caches (and plain paths) can be read; KEYRING:, KCM: and API: live in the system.
 */
export function credentialCachePath(name?: string): string | undefined {
  const chosen = name ?? process.env.KRB5CCNAME;
  if (chosen === undefined || chosen === "") {
    const uid = process.getuid?.();
    return uid === undefined ? undefined : `/tmp/krb5cc_${uid}`;
  }
  const match = /^([A-Za-z]+):(.*)$/.exec(chosen);
  if (match === null) return chosen;
  if (match[1]!.toUpperCase() === "FILE") return match[2]!;
  throw new InvalidArgumentError(
    "ccache",
    `${match[1]}: credential caches live in the system and cannot be read; point KRB5CCNAME or ` +
      "the ccache option at a FILE: cache (kinit -c FILE:/path/to/cache)",
  );
}

/** Reads a cache; undefined when there is no file there. */
export function readCredentialCache(path: string): CredentialCache | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new InvalidArgumentError(
      "ccache",
      `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return parseCredentialCache(bytes);
}
