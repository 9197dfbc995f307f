/**
 * What must fail, on both sides, between our Kerberos and MIT's: an expired ticket, a skewed
 * clock, an SPN the KDC does not know, and a keytab that is not the service's. Each side's clock
 * is moved alone, MIT's with libfaketime in its process only, ours with the `now` option, so the
 * machine's clock and the KDC are untouched.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { KerberosError } from "../../provider/errors";
import { KerberosAcceptor } from "../../provider/auth/kerberos/gss-acceptor";
import { KerberosInitiator } from "../../provider/auth/kerberos/gss-initiator";
import { KdcClient } from "../../provider/auth/kerberos/kdc-client";
import { readKeytab } from "../../provider/auth/kerberos/keytab";
import { parseClientPrincipal, servicePrincipal } from "../../provider/auth/kerberos/principal";
import { type MitRealm, mitKdcSkipReason, startMitRealm } from "../support/mit-kdc";
import { GssapiPeer, GssapiPeerError, gssapiPeerSkipReason } from "./peers/gssapi-peer";

const REALM = "FAIL.TEST";
const USER = "dana";
const PASSWORD = "Dana-Fails-1!";
const HOST = "web.fail.test";
const OTHER = "other.fail.test";

/** libfaketime, which moves the clock of the process it is preloaded into. */
function libfaketime(): string | undefined {
  const lib = "/usr/lib";
  for (const entry of existsSync(lib) ? readdirSync(lib) : []) {
    const candidate = `${lib}/${entry}/faketime/libfaketime.so.1`;
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function faketimeSkipReason(): string | undefined {
  if (libfaketime() !== undefined) return undefined;
  const reason = "libfaketime is not installed: run `bash test/setup/system.sh` as root";
  if (process.env.CI) throw new Error(reason);
  return reason;
}

const skipReason = mitKdcSkipReason() ?? gssapiPeerSkipReason() ?? faketimeSkipReason();

/** The environment that runs a peer with its clock moved by `offset` ("+1d", "-10m"). */
function shifted(offset: string): Record<string, string> {
  return { LD_PRELOAD: libfaketime()!, FAKETIME: offset };
}

function kerberosFailure(failure: KerberosError["failure"], message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof KerberosError, String(error));
    assert.equal(error.failure, failure, error.message);
    assert.match(error.message, message);
    return true;
  };
}

describe("Kerberos failures, on both sides", { skip: skipReason, timeout: 120_000 }, () => {
  let realm: MitRealm;

  before(async () => {
    realm = await startMitRealm({
      realm: REALM,
      users: [{ name: USER, password: PASSWORD }],
      services: [`HTTP/${HOST}`, `HTTP/${OTHER}`],
    });
  });
  after(async () => {
    await realm?.stop();
  });

  async function serviceTicket(spn = `HTTP/${HOST}`) {
    const kdc = new KdcClient({
      client: parseClientPrincipal(`${USER}@${REALM}`),
      kdcs: [{ host: realm.host, port: realm.tcpPort }],
      secret: { password: PASSWORD },
    });
    return kdc.getServiceTicket(await kdc.getTicketGrantingTicket(), servicePrincipal(spn));
  }

  async function mitAcceptor(env: Record<string, string> = {}) {
    const peer = new GssapiPeer({
      env: { ...realm.env, KRB5_KTNAME: `FILE:${realm.keytab(`HTTP/${HOST}`)}`, ...env },
    });
    await peer.init({ role: "accept", mech: "krb5" });
    return peer;
  }

  async function mitInitiator(target: string, env: Record<string, string> = {}) {
    const ccache = await realm.kinit(USER, PASSWORD);
    const peer = new GssapiPeer({ env: { ...realm.env, KRB5CCNAME: ccache, ...env } });
    await peer.init({
      role: "initiate",
      mech: "krb5",
      target,
      flags: ["mutual", "sequence", "replay", "integrity", "confidentiality"],
    });
    return peer;
  }

  test("the peers' clocks really move (a control for the tests below)", async () => {
    const { spawnSync } = await import("node:child_process");
    const ahead = spawnSync("date", ["+%s"], { env: { ...process.env, ...shifted("+1d") } });
    const skew = Number(ahead.stdout.toString()) - Date.now() / 1000;
    assert.ok(skew > 86_000 && skew < 86_800, `a day ahead, not ${skew} s`);
  });

  test("an expired ticket: MIT's acceptor a day ahead refuses it, and we read why", async () => {
    const ticket = await serviceTicket();
    const initiator = new KerberosInitiator({ ticket });
    const mit = await mitAcceptor(shifted("+1d"));
    try {
      await assert.rejects(mit.step(initiator.initialToken()), (error: unknown) => {
        assert.ok(error instanceof GssapiPeerError, String(error));
        assert.match(`${error.gssMessage ?? ""} ${error.pythonError}`, /expired/i);
        assert.ok(error.errorToken, "MIT answers with a KRB-ERROR token");
        assert.throws(
          () => initiator.acceptReply(error.errorToken!),
          kerberosFailure("ticket-expired", /has expired: run kinit again/),
        );
        return true;
      });
    } finally {
      await mit.close();
    }
    // And ours, a day ahead, says the same of the same ticket.
    const ours = new KerberosAcceptor({
      keys: readKeytab(realm.keytab(`HTTP/${HOST}`)),
      now: () => new Date(Date.now() + 24 * 3600_000),
    });
    assert.throws(
      () => ours.accept(new KerberosInitiator({ ticket }).initialToken()),
      kerberosFailure("ticket-expired", /is not valid now/),
    );
  });

  test("a skewed clock: our acceptor ten minutes ahead of MIT's initiator, and our initiator behind MIT's acceptor", async () => {
    // (MIT's initiator, its own clock moved, refuses to start at all: "Clock skew too great".)
    const mit = await mitInitiator(`HTTP@${HOST}`);
    try {
      const first = await mit.step();
      const ours = new KerberosAcceptor({
        keys: readKeytab(realm.keytab(`HTTP/${HOST}`)),
        now: () => new Date(Date.now() + 10 * 60_000),
      });
      assert.throws(
        () => ours.accept(first.token!),
        kerberosFailure("clock-skew", /differ by about (59\d|60\d) s/),
      );
    } finally {
      await mit.close();
    }
    const initiator = new KerberosInitiator({
      ticket: await serviceTicket(),
      now: () => new Date(Date.now() - 10 * 60_000),
    });
    const acceptor = await mitAcceptor();
    try {
      await assert.rejects(acceptor.step(initiator.initialToken()), (error: unknown) => {
        assert.ok(error instanceof GssapiPeerError, String(error));
        assert.ok(error.errorToken);
        assert.throws(
          () => initiator.acceptReply(error.errorToken!),
          kerberosFailure("clock-skew", /differ by about/),
        );
        return true;
      });
    } finally {
      await acceptor.close();
    }
  });

  test("an SPN the KDC does not know: MIT's initiator fails to start, our KDC client says what to do", async () => {
    await assert.rejects(
      mitInitiator(`HTTP@nowhere.fail.test`).then(async (peer) => {
        try {
          await peer.step();
        } finally {
          await peer.close();
        }
      }),
      (error: unknown) => {
        assert.ok(error instanceof GssapiPeerError, String(error));
        assert.match(
          `${error.gssMessage ?? ""} ${error.pythonError}`,
          /not found in Kerberos database/,
        );
        return true;
      },
    );
    await assert.rejects(
      serviceTicket("HTTP/nowhere.fail.test"),
      kerberosFailure("unknown-service", /HTTP\/nowhere\.fail\.test.*setspn -L/),
    );
  });

  test("a keytab that is not the service's: MIT's acceptor and ours both refuse, ours naming what it holds", async () => {
    const ticket = await serviceTicket();
    const wrongKeytab = realm.keytab(`HTTP/${OTHER}`);
    const mit = new GssapiPeer({ env: { ...realm.env, KRB5_KTNAME: `FILE:${wrongKeytab}` } });
    try {
      await mit.init({ role: "accept", mech: "krb5" });
      await assert.rejects(
        mit.step(new KerberosInitiator({ ticket }).initialToken()),
        GssapiPeerError,
      );
    } finally {
      await mit.close();
    }
    const ours = new KerberosAcceptor({ keys: readKeytab(wrongKeytab) });
    assert.throws(
      () => ours.accept(new KerberosInitiator({ ticket }).initialToken()),
      kerberosFailure(
        "acceptor-key",
        /no key for HTTP\/web\.fail\.test@FAIL\.TEST.*holds HTTP\/other\.fail\.test@FAIL\.TEST/,
      ),
    );
  });
});
