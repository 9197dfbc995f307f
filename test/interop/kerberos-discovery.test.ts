/**
 * Finding a realm's KDCs when the program names none (RFC 4120 7.2.3.2): SRV records served by a
 * real DNS server (dnsmasq) point at a real MIT KDC, and the client gets its tickets through
 * them; krb5.conf's [realms] is read the same way. With neither, the error says all three ways to
 * name a KDC.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { KerberosError } from "../../provider/errors";
import { discoverKdcs, KerberosTickets } from "../../provider/auth/kerberos/tickets";
import { type DnsServer, dnsServerSkipReason, startDnsServer } from "../support/dns-server";
import { type MitRealm, mitKdcSkipReason, startMitRealm } from "../support/mit-kdc";

const REALM = "SRV.TEST";
const USER = "erin";
const PASSWORD = "Erin-Finds-KDCs-1!";
const SPN = "HTTP/web.srv.test";

const skipReason = mitKdcSkipReason() ?? dnsServerSkipReason();

describe("KDC discovery", { skip: skipReason, timeout: 60_000 }, () => {
  let realm: MitRealm;
  let dns: DnsServer;
  /** A krb5.conf that names no realm, so only DNS can say where the KDC is. */
  let emptyConf: string;

  before(async () => {
    realm = await startMitRealm({
      realm: REALM,
      users: [{ name: USER, password: PASSWORD }],
      services: [SPN],
    });
    dns = await startDnsServer([
      { name: `_kerberos._tcp.${REALM.toLowerCase()}`, target: "127.0.0.1", port: realm.tcpPort },
      { name: `_kerberos._udp.${REALM.toLowerCase()}`, target: "127.0.0.1", port: realm.udpPort },
    ]);
    emptyConf = join(realm.dir, "empty-krb5.conf");
    writeFileSync(emptyConf, "[libdefaults]\n");
  });
  after(async () => {
    await dns?.stop();
    await realm?.stop();
  });

  test("SRV records name the realm's KDCs, UDP and TCP", async () => {
    const found = await discoverKdcs(REALM, [dns.address]);
    assert.deepEqual(found.map((kdc) => `${kdc.transport}/${kdc.host}:${kdc.port}`).sort(), [
      `tcp/127.0.0.1:${realm.tcpPort}`,
      `udp/127.0.0.1:${realm.udpPort}`,
    ]);
    assert.deepEqual(await discoverKdcs("NO-RECORDS.TEST", [dns.address]), []);
  });

  test("a ticket through the KDC that DNS names, with no kdc option and no krb5.conf realm", async () => {
    const tickets = new KerberosTickets({
      user: `${USER}@${REALM}`,
      secret: { password: PASSWORD },
      krb5Conf: emptyConf,
      dnsServers: [dns.address],
    });
    const ticket = await tickets.serviceTicket(SPN);
    assert.deepEqual(ticket.server.names, ["HTTP", "web.srv.test"]);
    // The KDC logged the exchange: the ticket really came from there.
    assert.match(realm.logTail(4096), /TGS_REQ .*ISSUE.*erin@SRV\.TEST.*HTTP\/web\.srv\.test/);
  });

  test("krb5.conf's [realms] names the KDC as well", async () => {
    const conf = join(realm.dir, "named-krb5.conf");
    writeFileSync(
      conf,
      `[realms]\n  ${REALM} = {\n    kdc = tcp/127.0.0.1:${realm.tcpPort}\n  }\n`,
    );
    assert.equal(KerberosTickets.configured({ user: `${USER}@${REALM}`, krb5Conf: conf }), true);
    const tickets = new KerberosTickets({
      user: `${USER}@${REALM}`,
      secret: { password: PASSWORD },
      krb5Conf: conf,
      dnsServers: [dns.address],
    });
    assert.ok(await tickets.serviceTicket(SPN));
  });

  test("no kdc option, no krb5.conf realm, no SRV records: the error names all three", async () => {
    const tickets = new KerberosTickets({
      user: `${USER}@ELSEWHERE.TEST`,
      secret: { password: PASSWORD },
      krb5Conf: emptyConf,
      dnsServers: [dns.address],
    });
    await assert.rejects(tickets.serviceTicket("HTTP/web.elsewhere.test"), (error: unknown) => {
      assert.ok(error instanceof KerberosError, String(error));
      assert.equal(error.failure, "kdc-unreachable");
      assert.match(error.message, /kdc option.*krb5\.conf.*_kerberos\._tcp\.elsewhere\.test SRV/);
      return true;
    });
    assert.equal(
      KerberosTickets.configured({ user: `${USER}@ELSEWHERE.TEST`, krb5Conf: emptyConf }),
      false,
      "negotiate would not even try Kerberos here",
    );
  });
});
