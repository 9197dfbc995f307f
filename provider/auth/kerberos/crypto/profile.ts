/**
 * The encryption-type framework of RFC 3961: each enctype is a profile (string-to-key,
 * encrypt/decrypt with integrity, keyed checksum), and a KerberosKey is key material tagged with
 * its enctype. Keys derived per key usage are cached on the key, so sealing many messages with
 * one session key derives them once.
 */
import { timingSafeEqual } from "node:crypto";
import { ProtocolError, UnsupportedError } from "../../../errors";

/** Encryption type numbers (RFC 3961 8, RFC 3962 7, RFC 4757 3). */
export const EncryptionType = Object.freeze({
  AES128_CTS_HMAC_SHA1_96: 17,
  AES256_CTS_HMAC_SHA1_96: 18,
  RC4_HMAC: 23,
} as const);

/** Checksum type numbers (RFC 3962 7, RFC 4757 4). */
export const ChecksumType = Object.freeze({
  HMAC_SHA1_96_AES128: 15,
  HMAC_SHA1_96_AES256: 16,
  HMAC_MD5: -138,
} as const);

export interface EncryptionProfile {
  readonly etype: number;
  readonly name: string;
  readonly keyLength: number;
  readonly checksumType: number;
  /** Bytes of the keyed checksum, and of the integrity part of a ciphertext. */
  readonly checksumLength: number;
  /** Bytes of random confounder in front of every plaintext. */
  readonly confounderLength: number;
  /** Salt and parameters are those the KDC announced (RFC 4120 5.2.7.5 ETYPE-INFO2). */
  stringToKey(password: string, salt: string, params?: Uint8Array): Buffer;
  encrypt(key: KerberosKey, usage: number, plaintext: Uint8Array): Buffer;
  /** Throws IntegrityError when the ciphertext does not verify. */
  decrypt(key: KerberosKey, usage: number, ciphertext: Uint8Array): Buffer;
  checksum(key: KerberosKey, usage: number, data: Uint8Array): Buffer;
}

const profiles = new Map<number, EncryptionProfile>();

export function registerProfile(profile: EncryptionProfile): void {
  profiles.set(profile.etype, profile);
}

/** The profile for an enctype, or undefined when this implementation has none. */
export function findProfile(etype: number): EncryptionProfile | undefined {
  return profiles.get(etype);
}

export function profileFor(etype: number): EncryptionProfile {
  const profile = profiles.get(etype);
  if (profile === undefined) {
    throw new UnsupportedError(
      `encryption type ${etype} is not supported (supported: ${[...profiles.values()]
        .map((entry) => `${entry.name} (${entry.etype})`)
        .join(", ")})`,
    );
  }
  return profile;
}

export function enctypeName(etype: number): string {
  return profiles.get(etype)?.name ?? `enctype ${etype}`;
}

export class KerberosKey {
  readonly profile: EncryptionProfile;
  private readonly derived = new Map<string, Buffer>();

  constructor(
    readonly etype: number,
    readonly value: Buffer,
  ) {
    this.profile = profileFor(etype);
    if (value.length !== this.profile.keyLength) {
      throw new ProtocolError(
        "EncryptionKey",
        `a ${this.profile.name} key is ${this.profile.keyLength} bytes, not ${value.length}`,
      );
    }
  }

  static fromPassword(etype: number, password: string, salt: string, params?: Uint8Array) {
    return new KerberosKey(etype, profileFor(etype).stringToKey(password, salt, params));
  }

  /** A value derived from this key, computed once: `name` must identify the derivation. */
  cached(name: string, derive: () => Buffer): Buffer {
    let value = this.derived.get(name);
    if (value === undefined) {
      value = derive();
      this.derived.set(name, value);
    }
    return value;
  }

  encrypt(usage: number, plaintext: Uint8Array): Buffer {
    return this.profile.encrypt(this, usage, plaintext);
  }

  decrypt(usage: number, ciphertext: Uint8Array): Buffer {
    return this.profile.decrypt(this, usage, ciphertext);
  }

  checksum(usage: number, data: Uint8Array): Buffer {
    return this.profile.checksum(this, usage, data);
  }

  /** Whether `checksum` is this key's checksum of `data`, compared in constant time. */
  verifyChecksum(usage: number, data: Uint8Array, checksum: Uint8Array): boolean {
    const expected = this.checksum(usage, data);
    return expected.length === checksum.length && timingSafeEqual(expected, checksum);
  }

  /** Never prints key material. */
  toJSON(): string {
    return `[${this.profile.name} key]`;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toJSON();
  }
}
