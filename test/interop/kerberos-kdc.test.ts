/**
 * Our Kerberos initiator's KDC exchanges (provider/auth/kerberos/kdc-client.ts) against a real
 * MIT KDC started on loopback (test/support/mit-kdc.ts): the AS exchange with PA-ENC-TIMESTAMP
 * pre-authentication and the TGS exchange, for each enctype, over UDP and over TCP, and every
 * failure a user meets turned into the typed error that says what to change.
 */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { after, before, describe, test } from "node:test";
import { KerberosError } from "../../provider/errors";
import { EncryptionType, KerberosKey } from "../../provider/auth/kerberos/crypto";
import { KdcClient, type KdcClientOptions } from "../../provider/auth/kerberos/kdc-client";
import { type KdcAddress, parseKdcAddress } from "../../provider/auth/kerberos/kdc-address";
import { parseClientPrincipal, servicePrincipal } from "../../provider/auth/kerberos/principal";
import { closedPort as closedPortNumber } from "../support/closed-port";
import {
  type KerberosEnctype,
  type MitRealm,
  mitKdcSkipReason,
  startMitRealm,
} from "../support/mit-kdc";

const REALM = "KDC.TEST";

const USERS: { name: string; password: string; enctype: KerberosEnctype; number: number }[] = [
  {
    name: "aes256user",
    password: "Aes256-Pass!",
    enctype: "aes256-cts-hmac-sha1-96",
    number: EncryptionType.AES256_CTS_HMAC_SHA1_96,
  },
  {
    name: "aes128user",
    password: "Aes128-Pass?",
    enctype: "aes128-cts-hmac-sha1-96",
    number: EncryptionType.AES128_CTS_HMAC_SHA1_96,
  },
  {
    name: "rc4user",
    password: "Rc4-Pass#",
    enctype: "arcfour-hmac",
    number: EncryptionType.RC4_HMAC,
  },
];
const SERVICE = "HTTP/web.kdc.test";

const skipReason = mitKdcSkipReason();

async function expectKerberosError(
  promise: Promise<unknown>,
  failure: KerberosError["failure"],
  message: RegExp,
): Promise<KerberosError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof KerberosError, `a KerberosError, not ${String(error)}`);
    assert.equal(error.failure, failure, error.message);
    assert.match(error.message, message);
    return error;
  }
  assert.fail(`expected a ${failure} failure`);
}

describe("our KDC client against an MIT KDC", { skip: skipReason, timeout: 120_000 }, () => {
  let realm: MitRealm;
  let kdc: KdcAddress;

  function client(
    user: string,
    password: string,
    extra: Partial<KdcClientOptions> = {},
  ): KdcClient {
    return new KdcClient({
      client: parseClientPrincipal(`${user}@${REALM}`),
      kdcs: [kdc],
      secret: { password },
      timeoutMs: 3_000,
      ...extra,
    });
  }

  before(async () => {
    realm = await startMitRealm({
      realm: REALM,
      users: [
        ...USERS.map((u) => ({ name: u.name, password: u.password, enctypes: [u.enctype] })),
        { name: "nopreauth", password: "No-Preauth-1", requiresPreauth: false },
      ],
      services: [SERVICE],
    });
    kdc = { host: realm.host, port: realm.tcpPort };
  });
  after(async () => {
    await realm?.stop();
  });

  for (const user of USERS) {
    test(`${user.enctype}: a TGT with pre-authentication, then a service ticket`, async () => {
      const ours = client(user.name, user.password);
      const tgt = await ours.getTicketGrantingTicket();
      assert.deepEqual(tgt.server.names, ["krbtgt", REALM]);
      assert.equal(tgt.serverRealm, REALM);
      // The reply is encrypted in the user's key, whose only enctype is this one.
      assert.ok(tgt.endtime.getTime() > Date.now());
      const ticket = await ours.getServiceTicket(tgt, servicePrincipal(SERVICE));
      assert.deepEqual(ticket.server.names, ["HTTP", "web.kdc.test"]);
      assert.equal(ticket.serverRealm, REALM);
      assert.ok([17, 18, 23].includes(ticket.sessionKey.etype));
      assert.ok(ticket.ticket.encoded.length > 100);
      // The KDC logged both exchanges as issued to this client.
      const log = realm.logTail(8192);
      assert.match(log, new RegExp(`AS_REQ .*ISSUE.*${user.name}@${REALM}`));
      assert.match(
        log,
        new RegExp(`TGS_REQ .*ISSUE.*${user.name}@${REALM}.*HTTP/web\\.kdc\\.test`),
      );
    });
  }

  test("given keys instead of a password: the same tickets", async () => {
    // A keytab holds keys, not passwords; the key of aes256user from its salt is what kadmin
    // stored, so a client given only that key gets the same TGT.
    const key = KerberosKey.fromPassword(
      EncryptionType.AES256_CTS_HMAC_SHA1_96,
      "Aes256-Pass!",
      `${REALM}aes256user`,
    );
    const ours = new KdcClient({
      client: parseClientPrincipal(`aes256user@${REALM}`),
      kdcs: [kdc],
      secret: { keys: [{ etype: key.etype, value: key.value }] },
    });
    const tgt = await ours.getTicketGrantingTicket();
    assert.equal(tgt.serverRealm, REALM);
  });

  test("a user without pre-authentication required still gets a TGT", async () => {
    const tgt = await client("nopreauth", "No-Preauth-1").getTicketGrantingTicket();
    assert.equal(tgt.client.name.names[0], "nopreauth");
  });

  test("over TCP only and over UDP only", async () => {
    for (const transport of ["tcp", "udp"] as const) {
      const address = parseKdcAddress(`${transport}/${realm.host}:${realm.tcpPort}`);
      assert.equal(address.transport, transport);
      const tgt = await client("aes256user", "Aes256-Pass!", {
        kdcs: [address],
      }).getTicketGrantingTicket();
      assert.equal(tgt.serverRealm, REALM);
    }
  });

  test("a reply too big for a datagram: KRB_ERR_RESPONSE_TOO_BIG over UDP, then TCP", async () => {
    // A second KDC that answers at most 200 bytes over UDP: every AS-REP is larger.
    const small = await startMitRealm({
      realm: "SMALL.TEST",
      users: [{ name: "sam", password: "Sam-Pass-1!" }],
      maxDatagramReplyBytes: 200,
    });
    try {
      const tgt = await new KdcClient({
        client: parseClientPrincipal("sam@SMALL.TEST"),
        kdcs: [{ host: small.host, port: small.udpPort }],
        secret: { password: "Sam-Pass-1!" },
      }).getTicketGrantingTicket();
      assert.equal(tgt.serverRealm, "SMALL.TEST");
      const log = small.logTail(16384);
      assert.match(log, /AS_REQ .*ISSUE/, "the ticket was issued");
      // Forced onto UDP alone, the client gets the KDC's refusal, error 52: so the ticket
      // above can only have come over TCP.
      await assert.rejects(
        new KdcClient({
          client: parseClientPrincipal("sam@SMALL.TEST"),
          kdcs: [{ host: small.host, port: small.udpPort, transport: "udp" }],
          secret: { password: "Sam-Pass-1!" },
        }).getTicketGrantingTicket(),
        (error: unknown) => {
          assert.ok(error instanceof KerberosError, String(error));
          assert.equal(error.kerberosCode, 52, error.message);
          return true;
        },
      );
    } finally {
      await small.stop();
    }
  });

  test("a wrong password says so", async () => {
    const error = await expectKerberosError(
      client("aes256user", "not-the-password").getTicketGrantingTicket(),
      "wrong-password",
      /password/i,
    );
    assert.doesNotMatch(error.message, /not-the-password/);
  });

  test("an unknown user says which principal and realm", async () => {
    await expectKerberosError(
      client("nobody", "whatever").getTicketGrantingTicket(),
      "unknown-principal",
      /nobody@KDC\.TEST/,
    );
  });

  test("an unknown SPN names it and says how to register it", async () => {
    const ours = client("aes128user", "Aes128-Pass?");
    const tgt = await ours.getTicketGrantingTicket();
    await expectKerberosError(
      ours.getServiceTicket(tgt, servicePrincipal("HTTP/unknown.kdc.test")),
      "unknown-service",
      /HTTP\/unknown\.kdc\.test[\s\S]*(setspn|spn option)/,
    );
  });

  test("a clock ten minutes ahead is reported as skew, with the measured difference", async () => {
    const ahead = () => new Date(Date.now() + 10 * 60 * 1000);
    await expectKerberosError(
      client("aes256user", "Aes256-Pass!", { now: ahead }).getTicketGrantingTicket(),
      "clock-skew",
      /clock|time/i,
    );
  });

  test("a KDC that does not answer: every address tried, then kdc-unreachable", async () => {
    // A port nothing listens on (TCP refuses), and a UDP port that swallows requests.
    const closedPort = await closedPortNumber();
    const silent = createSocket("udp4");
    await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", resolve));
    const silentPort = silent.address().port;
    try {
      const started = Date.now();
      const error = await expectKerberosError(
        client("aes256user", "Aes256-Pass!", {
          kdcs: [
            { host: "127.0.0.1", port: closedPort, transport: "tcp" },
            { host: "127.0.0.1", port: silentPort, transport: "udp" },
          ],
          timeoutMs: 500,
        }).getTicketGrantingTicket(),
        "kdc-unreachable",
        /KDC\.TEST/,
      );
      assert.match(error.message, new RegExp(String(closedPort)));
      assert.match(error.message, new RegExp(String(silentPort)));
      // Bound by design: without the 500 ms given, the silent KDC alone would take the default
      // 5 s, so anything below it shows the option applied, however loaded the machine.
      assert.ok(Date.now() - started < 5_000);
      // The first unreachable KDC does not stop the second, real one from being asked.
      const tgt = await client("aes256user", "Aes256-Pass!", {
        kdcs: [{ host: "127.0.0.1", port: closedPort, transport: "tcp" }, kdc],
      }).getTicketGrantingTicket();
      assert.equal(tgt.serverRealm, REALM);
    } finally {
      silent.close();
    }
  });
});
