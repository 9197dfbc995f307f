/**
 * The WinRM client with Kerberos against the loopback host as a domain member: a real MIT realm
 * on loopback (test/support/mit-kdc.ts) issues the tickets, and the host holds the keytab of
 * HTTP/<name>, offers the Kerberos scheme beside Negotiate, and may refuse NTLM altogether.
 * Every way a user gets a ticket (password, keytab, kinit's cache), both HTTP schemes and both
 * sealing protocols, channel binding over HTTPS, the spn option, negotiate's fallback, and the
 * failures a user meets.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AuthenticationError, KerberosError } from "../../provider/errors";
import type { WinRMClient } from "../../provider/winrm/client";
import { type Host, startHost } from "../host";
import { LogKind } from "../host/log";
import { closedPort } from "../support/closed-port";
import { type MitRealm, mitKdcSkipReason, startMitRealm } from "../support/mit-kdc";
import { clientFor } from "./support";

const REALM = "WINRM.TEST";
const USER = "alice";
const PASSWORD = "Alice-Kerberos-1!";
const ALIAS = "web.winrm.test";

const skipReason = mitKdcSkipReason();

async function expectEcho(client: WinRMClient): Promise<void> {
  try {
    const result = await client.run("echo", ["hello", "kerberos"]);
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout.toString("utf8"), "hello kerberos\n");
  } finally {
    await client.close();
  }
}

/** How the host logged the last successful authentication. */
function lastAuthentication(host: Host): string {
  return host.log.entries(LogKind.AUTHENTICATED).at(-1)?.detail ?? "(none)";
}

describe(
  "the client with Kerberos against a domain-member loopback host",
  { skip: skipReason, timeout: 300_000 },
  () => {
    let realm: MitRealm;
    let allKeys: string;
    let kdc: string;

    before(async () => {
      realm = await startMitRealm({
        realm: REALM,
        users: [{ name: USER, password: PASSWORD }],
        services: ["HTTP/127.0.0.1", `HTTP/${ALIAS}`],
      });
      allKeys = realm.env.KRB5_KTNAME!.slice("FILE:".length);
      kdc = `127.0.0.1:${realm.tcpPort}`;
    });
    after(async () => {
      await realm?.stop();
    });

    describe("over HTTP with message encryption", () => {
      let host: Host;
      before(async () => {
        host = await startHost({
          users: [{ user: USER, password: PASSWORD }],
          kerberos: { keytab: allKeys },
        });
      });
      after(async () => {
        await host?.close();
      });

      test("negotiate with a kdc: Kerberos inside SPNEGO, sealed as HTTP-SPNEGO-session-encrypted", async () => {
        const client = clientFor(host, { user: `${USER}@${REALM}`, kdc });
        const before = host.log.counters.sealedMessages;
        await client.run("true");
        assert.equal(client.authenticatedWith, "kerberos");
        assert.match(lastAuthentication(host), /^Negotiate \(negotiate, kerberos\)$/);
        assert.ok(host.log.counters.sealedMessages > before, "messages were sealed");
        await expectEcho(client);
      });

      test('auth "kerberos": the Kerberos scheme, sealed as HTTP-Kerberos-session-encrypted', async () => {
        const client = clientFor(host, { user: `${USER}@${REALM}`, kdc, auth: "kerberos" });
        await client.run("true");
        assert.equal(client.authenticatedWith, "kerberos");
        assert.match(lastAuthentication(host), /^Kerberos \(kerberos, kerberos\)$/);
        await expectEcho(client);
      });

      test("a DOMAIN\\user with the realm option, and a kdc forced onto TCP", async () => {
        await expectEcho(
          clientFor(host, {
            user: `WINRM\\${USER}`,
            realm: REALM,
            kdc: `tcp/${kdc}`,
            auth: "kerberos",
          }),
        );
      });

      test("no password: kinit's credential cache, by the ccache option", async () => {
        const ccache = await realm.kinit(USER, PASSWORD, join(realm.dir, "alice.ccache"));
        const client = clientFor(host, {
          user: `${USER}@${REALM}`,
          password: undefined,
          auth: "kerberos",
          kdc,
          ccache,
        });
        await expectEcho(client);
      });

      test("no password: a keytab with the user's keys", async () => {
        const keytab = join(realm.dir, "alice.keytab");
        await realm.kadmin(`ktadd -norandkey -k ${keytab} ${USER}`);
        await expectEcho(
          clientFor(host, {
            user: `${USER}@${REALM}`,
            password: undefined,
            auth: "kerberos",
            kdc,
            keytab,
          }),
        );
      });

      test("the spn option: a ticket for an alias the host is registered under", async () => {
        await expectEcho(
          clientFor(host, {
            user: `${USER}@${REALM}`,
            kdc,
            auth: "kerberos",
            spn: `HTTP/${ALIAS}`,
          }),
        );
      });

      test("negotiate falls back to NTLM when no KDC answers, and says why", async () => {
        const client = clientFor(host, {
          user: `${USER}@${REALM}`,
          kdc: `tcp/127.0.0.1:${await closedPort()}`,
        });
        await client.run("true");
        assert.match(
          client.authenticatedWith ?? "",
          /^ntlm \(Kerberos was not used: .*no KDC of realm WINRM\.TEST answered/,
        );
        assert.match(lastAuthentication(host), /negotiate, ntlm/);
        await client.close();
      });

      test("negotiate without any Kerberos configuration is NTLM, with no KDC lookup", async () => {
        const client = clientFor(host, { user: USER });
        await client.run("true");
        assert.equal(client.authenticatedWith, "ntlm");
        await client.close();
      });

      test('auth "kerberos" never falls back: a wrong password is a KerberosError that says so', async () => {
        const client = clientFor(host, {
          user: `${USER}@${REALM}`,
          password: "wrong",
          kdc,
          auth: "kerberos",
        });
        await assert.rejects(client.run("true"), (error: unknown) => {
          assert.ok(error instanceof KerberosError, String(error));
          assert.equal(error.failure, "wrong-password");
          assert.doesNotMatch(error.message, /wrong/);
          return true;
        });
        await client.close();
      });

      test("an SPN the KDC does not know names it and says what to do", async () => {
        const client = clientFor(host, {
          user: `${USER}@${REALM}`,
          kdc,
          auth: "kerberos",
          spn: "HTTP/nowhere.winrm.test",
        });
        await assert.rejects(client.run("true"), (error: unknown) => {
          assert.ok(error instanceof KerberosError, String(error));
          assert.equal(error.failure, "unknown-service");
          assert.match(error.message, /HTTP\/nowhere\.winrm\.test.*spn option/);
          return true;
        });
        await client.close();
      });

      test("no password and no credential cache: says to run kinit", async () => {
        const client = clientFor(host, {
          user: `${USER}@${REALM}`,
          password: undefined,
          auth: "kerberos",
          kdc,
          ccache: join(realm.dir, "no-such-cache"),
        });
        await assert.rejects(client.run("true"), (error: unknown) => {
          assert.ok(error instanceof KerberosError, String(error));
          assert.equal(error.failure, "no-credentials");
          assert.match(error.message, /kinit alice@WINRM\.TEST/);
          return true;
        });
        await client.close();
      });
    });

    describe("a Kerberos-only host (NTLM refused)", () => {
      let host: Host;
      before(async () => {
        host = await startHost({
          users: [{ user: USER, password: PASSWORD }],
          kerberos: { keytab: allKeys, allowNtlm: false },
        });
      });
      after(async () => {
        await host?.close();
      });

      test("negotiate with Kerberos configured gets in; without, NTLM is refused plainly", async () => {
        await expectEcho(clientFor(host, { user: `${USER}@${REALM}`, kdc }));
        const ntlm = clientFor(host, { user: USER });
        await assert.rejects(ntlm.run("true"), AuthenticationError);
        await ntlm.close();
        assert.match(
          host.log.entries(LogKind.AUTHENTICATION_FAILED).at(-1)?.detail ?? "",
          /NTLM is refused here/,
        );
      });
    });

    describe("over HTTPS with channel binding required (CbtHardeningLevel Strict)", () => {
      let host: Host;
      before(async () => {
        host = await startHost({
          https: "rsa",
          cbtHardeningLevel: "strict",
          users: [{ user: USER, password: PASSWORD }],
          kerberos: { keytab: allKeys, allowNtlm: false },
        });
      });
      after(async () => {
        await host?.close();
      });

      for (const auth of ["negotiate", "kerberos"] as const) {
        test(`${auth}: the authenticator's checksum binds the TLS channel`, async () => {
          const client = clientFor(host, {
            user: `${USER}@${REALM}`,
            kdc,
            auth,
            https: true,
            caCert: host.caCertificatePem,
          });
          await client.run("true");
          assert.equal(client.authenticatedWith, "kerberos");
          assert.match(lastAuthentication(host), /over TLS$/);
          await expectEcho(client);
        });
      }
    });
  },
);
