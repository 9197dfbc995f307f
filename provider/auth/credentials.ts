/**
 * User names and secrets as NTLM needs them. A user may be written three ways, and NTLM
 * (MS-NLMP 3.1.5.1.2, 3.3.2) treats them differently:
 *
 * - `DOMAIN\user`  down-level logon name: user and domain go separately into the message;
 * - `user@domain`  user principal name: the whole UPN is the user, the domain is empty;
 * - `user`         bare name: empty domain, which a workgroup host maps to its local accounts.
 */
import { inspect } from "node:util";
import { InvalidArgumentError } from "../errors";
import { ntHash } from "./ntlm/crypto";

export type UserNameForm = "down-level" | "upn" | "bare";

export interface ParsedUserName {
  user: string;
  domain: string;
  form: UserNameForm;
}

export function parseUserName(name: string): ParsedUserName {
  if (typeof name !== "string" || name.length === 0) {
    throw new InvalidArgumentError("user", "must be a non-empty string");
  }
  const slash = name.indexOf("\\");
  if (slash >= 0) {
    const domain = name.slice(0, slash);
    const user = name.slice(slash + 1);
    if (user.length === 0 || user.includes("\\")) {
      throw new InvalidArgumentError("user", "write a down-level name as DOMAIN\\user");
    }
    return { user, domain, form: "down-level" };
  }
  if (name.includes("@")) return { user: name, domain: "", form: "upn" };
  return { user: name, domain: "", form: "bare" };
}

/** A password, or the NT hash (MD4 of the UTF-16LE password) for callers who hold hashes. */
export type Secret = { password: string } | { ntHash: string | Uint8Array };

/** What util.inspect and JSON.stringify show in place of a concealed secret or a client. */
export const REDACTED = "[redacted]";

/**
 * The same secret, with its value kept out of everything that prints or serialises an object
 * graph: the field is not enumerable (so spreads, Object.keys and JSON.stringify skip it),
 * toJSON and util.inspect give REDACTED. Code that reads `secret.password` still gets it.
 */
export function concealSecret(secret: Secret): Secret {
  const concealed = {};
  for (const [key, value] of Object.entries(secret)) {
    Object.defineProperty(concealed, key, { value, enumerable: false });
  }
  Object.defineProperty(concealed, "toJSON", { value: () => REDACTED, enumerable: false });
  Object.defineProperty(concealed, inspect.custom, { value: () => REDACTED, enumerable: false });
  return concealed as Secret;
}

/** Resolves a secret to the 16-byte NT hash that NTOWFv2 needs. */
export function resolveNtHash(secret: Secret): Buffer {
  if ("password" in secret) {
    if (typeof secret.password !== "string") {
      throw new InvalidArgumentError("password", "must be a string");
    }
    return ntHash(secret.password);
  }
  const value = secret.ntHash;
  if (typeof value === "string") {
    if (!/^[0-9a-fA-F]{32}$/.test(value)) {
      throw new InvalidArgumentError("ntHash", "must be 32 hexadecimal digits");
    }
    return Buffer.from(value, "hex");
  }
  if (value instanceof Uint8Array && value.length === 16) return Buffer.from(value);
  throw new InvalidArgumentError("ntHash", "must be 16 bytes or 32 hexadecimal digits");
}

/**
 * How an acceptor finds the NT hash for the user and domain a client named; undefined means no
 * such user. The acceptor never needs a password, only its hash.
 */
export type CredentialLookup = (user: string, domain: string) => Buffer | undefined;

export interface UserEntry {
  user: string;
  /** The account's domain; empty matches whatever domain the client names (a workgroup host). */
  domain?: string;
  password?: string;
  ntHash?: string | Uint8Array;
}

/**
 * A CredentialLookup over a fixed list of accounts, matched case-insensitively as Windows
 * matches account names. A client's UPN `user@domain` (sent with an empty domain) matches the
 * entry for that user and domain.
 */
export function userTable(entries: readonly UserEntry[]): CredentialLookup {
  const table = entries.map((entry) => ({
    user: entry.user.toUpperCase(),
    domain: (entry.domain ?? "").toUpperCase(),
    hash: resolveNtHash(
      entry.password !== undefined ? { password: entry.password } : { ntHash: entry.ntHash ?? "" },
    ),
  }));
  return (user, domain) => {
    let name = user.toUpperCase();
    let realm = domain.toUpperCase();
    const at = name.lastIndexOf("@");
    if (realm === "" && at > 0) {
      realm = name.slice(at + 1);
      name = name.slice(0, at);
    }
    const match = table.find(
      (entry) => entry.user === name && (entry.domain === "" || entry.domain === realm),
    );
    return match?.hash;
  };
}
