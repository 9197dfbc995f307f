/**
 * Where a client's Kerberos tickets come from, kept for as long as they are valid so that each
 * new connection costs one AP-REQ, not a KDC round trip:
 *
 * - a password (its keys from the KDC's salt) or a keytab's keys: an AS exchange for a TGT;
 * - an NT hash: the rc4-hmac key, which is what an NT hash is (RFC 4757 2);
 * - with neither, the credential cache kinit wrote (the ccache option, KRB5CCNAME, or
 *   /tmp/krb5cc_<uid>): its service ticket for the SPN, else its TGT.
 *
 * KDCs come from the kdc option, else krb5.conf's [realms], else DNS SRV records
 * (_kerberos._udp and _kerberos._tcp.<realm>, RFC 4120 7.2.3.2).
 */
import { Resolver } from "node:dns/promises";
import { InvalidArgumentError, KerberosError } from "../../errors";
import type { Secret } from "../credentials";
import { readCredentialCache, credentialCachePath } from "./ccache";
import { EncryptionType } from "./crypto";
import { type Credential, KdcClient, type LongTermKeys } from "./kdc-client";
import { type KdcAddress, parseKdcAddress } from "./kdc-address";
import { readKeytab } from "./keytab";
import { loadKrb5Conf, type Krb5Config } from "./krb5-conf";
import type { PrincipalName } from "./messages";
import {
  type ClientPrincipal,
  parseClientPrincipal,
  servicePrincipal,
  serviceRealm,
} from "./principal";

export interface KerberosSettings {
  /** user@REALM, or DOMAIN\user or user with `realm`. */
  user: string;
  /** A password or NT hash; absent: the keytab, else the credential cache. */
  secret?: Secret;
  realm?: string;
  /** KDC addresses: "host", "host:port", "tcp/host:port", "udp/host". */
  kdc?: readonly string[];
  /** A keytab file with the user's keys. */
  keytab?: string;
  /** A FILE: credential cache (default KRB5CCNAME, then /tmp/krb5cc_<uid>). */
  ccache?: string;
  /** krb5.conf to read (default KRB5_CONFIG, then /etc/krb5.conf). */
  krb5Conf?: string;
  timeoutMs?: number;
  /** The clock; tests move it. */
  now?: () => Date;
  /** DNS servers for SRV discovery ("address[:port]"); default the system's. Tests set it. */
  dnsServers?: readonly string[];
}

/** Tickets are renewed this long before they end, so none expires mid-handshake. */
const EXPIRY_MARGIN_MS = 60_000;
const SRV_TIMEOUT_MS = 2_000;

function sameName(a: PrincipalName, b: PrincipalName): boolean {
  return (
    a.names.length === b.names.length &&
    a.names.every((part, i) => part.toLowerCase() === b.names[i]!.toLowerCase())
  );
}

export class KerberosTickets {
  private readonly config: Krb5Config | undefined;
  private readonly client: ClientPrincipal;
  private readonly now: () => Date;
  private tgt: Credential | undefined;
  private readonly serviceTickets = new Map<string, Credential>();
  private kdcAddresses: Promise<KdcAddress[]> | undefined;

  constructor(private readonly settings: KerberosSettings) {
    this.now = settings.now ?? (() => new Date());
    this.config = loadKrb5Conf(settings.krb5Conf);
    // The realm option wins; then the user's own @REALM; only a user without one takes the
    // credential cache's or krb5.conf's default.
    const ownRealm = !settings.user.includes("\\") && settings.user.lastIndexOf("@") > 0;
    const realm =
      settings.realm ??
      (ownRealm ? undefined : (this.cachedPrincipalRealm() ?? this.config?.defaultRealm));
    this.client = parseClientPrincipal(settings.user, realm);
  }

  get principal(): string {
    return this.client.text;
  }

  /** Whether anything here is configured for Kerberos: negotiate tries it only then. */
  static configured(settings: KerberosSettings): boolean {
    if (settings.kdc?.length || settings.keytab || settings.ccache) return true;
    const at = settings.user.lastIndexOf("@");
    const realm =
      settings.realm ?? (at > 0 ? settings.user.slice(at + 1).toUpperCase() : undefined);
    if (realm === undefined) return false;
    if (loadKrb5Conf(settings.krb5Conf)?.knowsRealm(realm)) return true;
    if (settings.secret === undefined) {
      try {
        const path = credentialCachePath(settings.ccache);
        const cache = path === undefined ? undefined : readCredentialCache(path);
        return cache?.defaultPrincipal.realm === realm;
      } catch {
        return false;
      }
    }
    return false;
  }

  private cachedPrincipalRealm(): string | undefined {
    if (this.settings.secret !== undefined || this.settings.keytab !== undefined) return undefined;
    if (this.settings.user.includes("@")) return undefined;
    try {
      const path = credentialCachePath(this.settings.ccache);
      return path === undefined ? undefined : readCredentialCache(path)?.defaultPrincipal.realm;
    } catch {
      return undefined;
    }
  }

  private valid(credential: Credential | undefined): credential is Credential {
    return (
      credential !== undefined &&
      credential.endtime.getTime() - EXPIRY_MARGIN_MS > this.now().getTime()
    );
  }

  /** A service ticket for `spn` (HTTP/host), from memory, the cache, or the KDC. */
  async serviceTicket(spn: string): Promise<Credential> {
    const known = this.serviceTickets.get(spn);
    if (this.valid(known)) return known;
    const service = servicePrincipal(spn);
    const realm =
      serviceRealm(spn) ?? this.config?.realmOfHost(service.names[1] ?? "") ?? this.client.realm;
    const fromCache = this.fromCredentialCache(service, realm);
    if (fromCache?.kind === "service") {
      this.serviceTickets.set(spn, fromCache.credential);
      return fromCache.credential;
    }
    if (fromCache?.kind === "tgt") this.tgt = fromCache.credential;
    const kdc = await this.kdcClient();
    if (!this.valid(this.tgt)) this.tgt = await kdc.getTicketGrantingTicket();
    const ticket = await kdc.getServiceTicket(this.tgt, service, realm);
    this.serviceTickets.set(spn, ticket);
    return ticket;
  }

  private fromCredentialCache(
    service: PrincipalName,
    realm: string,
  ): { kind: "service" | "tgt"; credential: Credential } | undefined {
    if (this.settings.secret !== undefined || this.settings.keytab !== undefined) return undefined;
    const path = credentialCachePath(this.settings.ccache);
    const cache = path === undefined ? undefined : readCredentialCache(path);
    if (cache === undefined) {
      throw new KerberosError(
        "no-credentials",
        `no password, keytab or credential cache for ${this.client.text}: give the password, ` +
          `or run kinit ${this.client.text} first${path === undefined ? "" : ` (no cache at ${path})`}`,
      );
    }
    const mine = cache.credentials.filter(
      (entry) =>
        entry.client.realm === this.client.realm &&
        sameName(entry.client.name, this.client.name) &&
        this.valid(entry),
    );
    const ticket = mine.find(
      (entry) => entry.serverRealm === realm && sameName(entry.server, service),
    );
    if (ticket !== undefined) return { kind: "service", credential: ticket };
    const tgt = mine.find(
      (entry) =>
        entry.server.names[0] === "krbtgt" &&
        entry.server.names[1] === this.client.realm &&
        entry.serverRealm === this.client.realm,
    );
    if (tgt !== undefined) return { kind: "tgt", credential: tgt };
    throw new KerberosError(
      "ticket-expired",
      `the credential cache ${path} holds no valid ticket for ${this.client.text}: run kinit again`,
    );
  }

  private longTermKeys(): LongTermKeys {
    const { secret, keytab } = this.settings;
    if (secret !== undefined && "password" in secret) return { password: secret.password };
    if (secret !== undefined && "ntHash" in secret) {
      const value =
        typeof secret.ntHash === "string"
          ? Buffer.from(secret.ntHash, "hex")
          : Buffer.from(secret.ntHash);
      return { keys: [{ etype: EncryptionType.RC4_HMAC, value }] };
    }
    if (keytab !== undefined) {
      const keys = readKeytab(keytab)
        .filter(
          (entry) =>
            entry.realm === this.client.realm && sameName(entry.principal, this.client.name),
        )
        .map((entry) => ({ etype: entry.key.etype, value: entry.key.value }));
      if (keys.length === 0) {
        throw new InvalidArgumentError("keytab", `${keytab} holds no key for ${this.client.text}`);
      }
      return { keys };
    }
    // Reached only when the cache had a TGT: the KDC client then never needs keys of its own.
    return { keys: [] };
  }

  private async kdcClient(): Promise<KdcClient> {
    this.kdcAddresses ??= this.findKdcs(this.client.realm);
    return new KdcClient({
      client: this.client,
      kdcs: await this.kdcAddresses,
      secret: this.longTermKeys(),
      ...(this.settings.timeoutMs === undefined ? {} : { timeoutMs: this.settings.timeoutMs }),
      now: this.now,
    });
  }

  private async findKdcs(realm: string): Promise<KdcAddress[]> {
    const given = this.settings.kdc ?? this.config?.kdcs(realm) ?? [];
    if (given.length > 0) return given.map((text) => parseKdcAddress(text));
    return discoverKdcs(realm, this.settings.dnsServers);
  }
}

/** KDCs of a realm from DNS SRV records (RFC 4120 7.2.3.2); none when DNS has none. */
export async function discoverKdcs(
  realm: string,
  servers?: readonly string[],
): Promise<KdcAddress[]> {
  const resolver = new Resolver({ timeout: SRV_TIMEOUT_MS, tries: 1 });
  if (servers !== undefined) resolver.setServers([...servers]);
  const found: KdcAddress[] = [];
  for (const transport of ["udp", "tcp"] as const) {
    try {
      const records = await resolver.resolveSrv(`_kerberos._${transport}.${realm.toLowerCase()}`);
      records.sort((a, b) => a.priority - b.priority || b.weight - a.weight);
      for (const record of records) {
        found.push({ host: record.name, port: record.port, transport });
      }
    } catch {
      // No records, or no DNS: the caller says no KDC is known.
    }
  }
  return found;
}
