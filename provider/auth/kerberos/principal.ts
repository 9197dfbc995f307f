/**
 * Client principals as users write them: `user@REALM`, or `DOMAIN\user` with the realm given
 * separately (a down-level name carries no DNS realm). Realms are upper-cased as Active
 * Directory and MIT realms conventionally are; `user@example.com` means EXAMPLE.COM.
 */
import { InvalidArgumentError } from "../../errors";
import { NameType, type PrincipalName } from "./messages";

export interface ClientPrincipal {
  name: PrincipalName;
  realm: string;
  /** user@REALM, for messages and credential caches. */
  text: string;
}

export function parseClientPrincipal(user: string, realm?: string): ClientPrincipal {
  if (typeof user !== "string" || user.length === 0) {
    throw new InvalidArgumentError("user", "must be a non-empty string");
  }
  let name = user;
  let inRealm = realm;
  const slash = user.indexOf("\\");
  const at = user.lastIndexOf("@");
  if (slash >= 0) {
    name = user.slice(slash + 1);
    if (inRealm === undefined) {
      throw new InvalidArgumentError(
        "realm",
        `"${user}" is a down-level name, which does not say the Kerberos realm: write the user ` +
          "as user@REALM (for example alice@EXAMPLE.COM), or set the realm option",
      );
    }
  } else if (at > 0) {
    name = user.slice(0, at);
    inRealm ??= user.slice(at + 1);
  }
  if (inRealm === undefined || inRealm.length === 0) {
    throw new InvalidArgumentError(
      "user",
      `"${user}" names no Kerberos realm: write it as user@REALM, or set the realm option`,
    );
  }
  if (name.length === 0) throw new InvalidArgumentError("user", `"${user}" has no user name`);
  const upper = inRealm.toUpperCase();
  return {
    name: { nameType: NameType.PRINCIPAL, names: name.split("/") },
    realm: upper,
    text: `${name}@${upper}`,
  };
}

/** The service principal `HTTP/host` (RFC 4120 6.2.1 NT-SRV-INST) or a name given whole. */
export function servicePrincipal(spn: string): PrincipalName {
  const at = spn.lastIndexOf("@");
  const bare = at > 0 ? spn.slice(0, at) : spn;
  return { nameType: NameType.SRV_INST, names: bare.split("/") };
}

/** The realm part of an SPN written `HTTP/host@REALM`, if any. */
export function serviceRealm(spn: string): string | undefined {
  const at = spn.lastIndexOf("@");
  return at > 0 ? spn.slice(at + 1).toUpperCase() : undefined;
}

/** The salt a KDC uses when it announces none: the realm, then each name component. */
export function defaultSalt(principal: ClientPrincipal): string {
  return principal.realm + principal.name.names.join("");
}
