/**
 * Our Kerberos GSS-API contexts (provider/auth/kerberos/gss-initiator.ts, gss-acceptor.ts,
 * cfx.ts) against MIT's, through python3-gssapi, in a real MIT realm on loopback:
 *
 * - our initiator (tickets from our KDC client) against an MIT acceptor with a keytab, and an
 *   MIT initiator (tickets from kinit) against our acceptor with the same keytab;
 * - with and without channel bindings;
 * - after each handshake, messages of random sizes both ways in the WinRM layout (header apart,
 *   gss_wrap_iov / gss_unwrap_iov on the MIT side), whole wrap tokens sealed and signed, and
 *   MICs, so keys and sequence numbers are shown to stay in step;
 * - what must fail: tampering, replay, wrong channel bindings, an expired ticket, skew.
 */
import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { IntegrityError, KerberosError, ProtocolError } from "../../provider/errors";
import {
  createInitiator,
  type SecurityContext,
  type TicketSource,
} from "../../provider/auth/context";
import { createAcceptor } from "../../provider/auth/acceptor-context";
import { userTable } from "../../provider/auth/credentials";
import { KerberosAcceptor, ReplayCache } from "../../provider/auth/kerberos/gss-acceptor";
import { KerberosInitiator } from "../../provider/auth/kerberos/gss-initiator";
import { KdcClient } from "../../provider/auth/kerberos/kdc-client";
import { readKeytab } from "../../provider/auth/kerberos/keytab";
import { parseClientPrincipal, servicePrincipal } from "../../provider/auth/kerberos/principal";
import {
  ENCTYPE_NUMBERS,
  type KerberosEnctype,
  type MitRealm,
  mitKdcSkipReason,
  startMitRealm,
} from "../support/mit-kdc";
import { GssapiPeer, GssapiPeerError, gssapiPeerSkipReason } from "./peers/gssapi-peer";
import { roundTripWinrm } from "./kerberos-support";

const REALM = "GSS.TEST";
const CHANNEL_BINDINGS = Buffer.concat([Buffer.from("tls-server-end-point:"), randomBytes(32)]);
const OTHER_BINDINGS = Buffer.concat([Buffer.from("tls-server-end-point:"), randomBytes(32)]);

const CASES: {
  label: string;
  enctype: KerberosEnctype;
  user: string;
  password: string;
  host: string;
}[] = [
  {
    label: "aes256",
    enctype: "aes256-cts-hmac-sha1-96",
    user: "ann",
    password: "Ann-256!",
    host: "aes256.gss.test",
  },
  {
    label: "aes128",
    enctype: "aes128-cts-hmac-sha1-96",
    user: "ben",
    password: "Ben-128?",
    host: "aes128.gss.test",
  },
];

const skipReason = mitKdcSkipReason() ?? gssapiPeerSkipReason();

/** Sizes around AES block and CTS edges, then random ones up to 64 KiB. */
function messageSizes(): number[] {
  const sizes = [0, 1, 15, 16, 17, 31, 32, 33, 1000];
  for (let i = 0; i < 6; i++) sizes.push(randomInt(0, 65536));
  return sizes;
}

describe("our Kerberos GSS-API against MIT's", { skip: skipReason, timeout: 300_000 }, () => {
  let realm: MitRealm;

  before(async () => {
    realm = await startMitRealm({
      realm: REALM,
      users: CASES.map((c) => ({ name: c.user, password: c.password, enctypes: [c.enctype] })),
      services: CASES.map((c) => ({ name: `HTTP/${c.host}`, enctypes: [c.enctype] })),
    });
  });
  after(async () => {
    await realm?.stop();
  });

  async function serviceTicket(c: (typeof CASES)[number], now?: () => Date) {
    const kdc = new KdcClient({
      client: parseClientPrincipal(`${c.user}@${REALM}`),
      kdcs: [{ host: realm.host, port: realm.tcpPort }],
      secret: { password: c.password },
      ...(now === undefined ? {} : { now }),
    });
    return kdc.getServiceTicket(
      await kdc.getTicketGrantingTicket(),
      servicePrincipal(`HTTP/${c.host}`),
    );
  }

  async function mitAcceptor(
    c: (typeof CASES)[number],
    mech: "krb5" | "spnego",
    bindings?: Buffer,
  ) {
    const peer = new GssapiPeer({
      env: { ...realm.env, KRB5_KTNAME: `FILE:${realm.keytab(`HTTP/${c.host}`)}` },
    });
    await peer.init({
      role: "accept",
      mech,
      channelBindings: bindings,
      enctypes: [ENCTYPE_NUMBERS[c.enctype]],
    });
    return peer;
  }

  async function mitInitiator(c: (typeof CASES)[number], bindings?: Buffer) {
    const ccache = await realm.kinit(c.user, c.password);
    const peer = new GssapiPeer({ env: { ...realm.env, KRB5CCNAME: ccache } });
    await peer.init({
      role: "initiate",
      mech: "krb5",
      target: `HTTP@${c.host}`,
      channelBindings: bindings,
      flags: ["mutual", "sequence", "replay", "integrity", "confidentiality"],
    });
    return peer;
  }

  for (const c of CASES) {
    for (const bound of [false, true]) {
      const bindings = bound ? CHANNEL_BINDINGS : undefined;
      const variant = `${c.label}${bound ? ", channel bindings" : ""}`;

      test(`our initiator, MIT acceptor: handshake and WinRM messages both ways (${variant})`, async () => {
        const ours = new KerberosInitiator({
          ticket: await serviceTicket(c),
          ...(bindings === undefined ? {} : { channelBindings: bindings }),
        });
        const mit = await mitAcceptor(c, "krb5", bindings);
        try {
          const reply = await mit.step(ours.initialToken());
          assert.ok(reply.complete, "MIT accepted our AP-REQ");
          assert.ok(reply.token, "MIT sent an AP-REP");
          ours.acceptReply(reply.token);
          assert.ok(ours.complete);
          const info = await mit.info();
          assert.equal(info.initiatorName, `${c.user}@${REALM}`);
          assert.equal(info.flags?.includes("channel_bound") ?? false, bound);
          assert.equal(info.enctype, ENCTYPE_NUMBERS[c.enctype]);

          // The WinRM layout of a CFX token: a 60-byte header (EC 0, RRC 28) and data exactly
          // as long as the message; MIT then reads what we wrap, and we what it wraps.
          const sample = ours.session.wrap(randomBytes(17));
          assert.equal(sample.header.length, 60);
          assert.equal(sample.data.length, 17);
          await mit.unwrapWinrmData(Buffer.concat([sample.header, sample.data]), 60);
          await roundTripWinrm(ours.session, mit, messageSizes());
          for (const conf of [false, true]) {
            const message = Buffer.from(`whole token, conf ${conf}`);
            const opened = await mit.unwrap(ours.session.wrapToken(message, conf));
            assert.deepEqual(opened.plaintext, message);
            assert.equal(opened.encrypted, conf);
            const theirs = await mit.wrap(message, conf);
            assert.deepEqual(ours.session.unwrapToken(theirs.token), message);
          }
          const mic = ours.session.getMic(Buffer.from("mechListMIC"));
          await mit.verifyMic(Buffer.from("mechListMIC"), mic);
          ours.session.verifyMic(Buffer.from("theirs"), await mit.getMic(Buffer.from("theirs")));

          // A flipped bit, and a message played twice, are refused by both sides.
          const tampered = await mit.wrapWinrmData(Buffer.from("tamper with me"));
          tampered.wrapped[tampered.headerLength + 2]! ^= 0x10;
          assert.throws(
            () =>
              ours.session.unwrap(
                tampered.wrapped.subarray(0, tampered.headerLength),
                tampered.wrapped.subarray(tampered.headerLength),
              ),
            IntegrityError,
          );
          const replay = ours.session.wrap(Buffer.from("once"));
          const token = Buffer.concat([replay.header, replay.data]);
          await mit.unwrapWinrmData(token, replay.header.length);
          await assert.rejects(mit.unwrapWinrmData(token, replay.header.length), GssapiPeerError);
        } finally {
          await mit.close();
        }
      });

      test(`MIT initiator, our acceptor: handshake and WinRM messages both ways (${variant})`, async () => {
        const ours = new KerberosAcceptor({
          keys: readKeytab(realm.keytab(`HTTP/${c.host}`)),
          ...(bindings === undefined
            ? {}
            : { channelBindings: bindings, channelBindingPolicy: "strict" as const }),
          replayCache: new ReplayCache(),
        });
        const mit = await mitInitiator(c, bindings);
        try {
          const first = await mit.step();
          assert.ok(first.token);
          const reply = ours.accept(first.token);
          const done = await mit.step(reply);
          assert.ok(done.complete, "MIT accepted our AP-REP");
          assert.equal(ours.identity.principal, `${c.user}@${REALM}`);
          assert.equal(ours.identity.user, c.user);
          await roundTripWinrm(ours.session, mit, messageSizes());
          ours.session.verifyMic(Buffer.from("m"), await mit.getMic(Buffer.from("m")));
          await mit.verifyMic(Buffer.from("n"), ours.session.getMic(Buffer.from("n")));
        } finally {
          await mit.close();
        }
      });
    }
  }

  test("our initiator against our acceptor, and the replay of its AP-REQ", async () => {
    const c = CASES[0]!;
    const cache = new ReplayCache();
    const keys = readKeytab(realm.keytab(`HTTP/${c.host}`));
    const initiator = new KerberosInitiator({ ticket: await serviceTicket(c) });
    const acceptor = new KerberosAcceptor({ keys, replayCache: cache });
    const request = initiator.initialToken();
    initiator.acceptReply(acceptor.accept(request));
    const { header, data } = initiator.session.wrap(Buffer.from("hello"));
    assert.deepEqual(acceptor.session.unwrap(header, data), Buffer.from("hello"));
    const back = acceptor.session.wrap(Buffer.from("world"));
    assert.deepEqual(initiator.session.unwrap(back.header, back.data), Buffer.from("world"));
    // The same message again is out of sequence.
    assert.throws(() => acceptor.session.unwrap(header, data), /sequence number/);
    // The same AP-REQ at a second acceptor sharing the cache is a replay.
    const again = new KerberosAcceptor({ keys, replayCache: cache });
    assert.throws(
      () => again.accept(request),
      (error: unknown) => {
        assert.ok(error instanceof KerberosError);
        assert.match(error.message, /replayed/);
        return true;
      },
    );
  });

  test("channel bindings that do not match are refused by MIT and by us", async () => {
    const c = CASES[1]!;
    const ours = new KerberosInitiator({
      ticket: await serviceTicket(c),
      channelBindings: OTHER_BINDINGS,
    });
    const mit = await mitAcceptor(c, "krb5", CHANNEL_BINDINGS);
    try {
      await assert.rejects(mit.step(ours.initialToken()), (error: unknown) => {
        assert.ok(error instanceof GssapiPeerError, String(error));
        assert.match(error.pythonError + (error.gssMessage ?? ""), /[Bb]inding/);
        return true;
      });
    } finally {
      await mit.close();
    }
    const acceptor = new KerberosAcceptor({
      keys: readKeytab(realm.keytab(`HTTP/${c.host}`)),
      channelBindings: CHANNEL_BINDINGS,
    });
    const mine = new KerberosInitiator({
      ticket: await serviceTicket(c),
      channelBindings: OTHER_BINDINGS,
    });
    assert.throws(() => acceptor.accept(mine.initialToken()), /channel binding does not match/);
    // Strict: a client that binds nothing is refused too; relaxed lets it in.
    const strict = new KerberosAcceptor({
      keys: readKeytab(realm.keytab(`HTTP/${c.host}`)),
      channelBindings: CHANNEL_BINDINGS,
      channelBindingPolicy: "strict",
    });
    const unbound = new KerberosInitiator({ ticket: await serviceTicket(c) });
    assert.throws(() => strict.accept(unbound.initialToken()), /sent none/);
  });

  test("an expired ticket and a skewed authenticator are refused by MIT and by us", async () => {
    const c = CASES[0]!;
    const keys = readKeytab(realm.keytab(`HTTP/${c.host}`));
    const ticket = await serviceTicket(c);
    // Our acceptor, its clock a day ahead: the ticket has expired.
    const late = new KerberosAcceptor({ keys, now: () => new Date(Date.now() + 24 * 3600 * 1000) });
    assert.throws(
      () => late.accept(new KerberosInitiator({ ticket }).initialToken()),
      (error: unknown) => error instanceof KerberosError && error.failure === "ticket-expired",
    );
    // Our initiator, its clock ten minutes behind: MIT answers KRB_AP_ERR_SKEW, which it
    // sends back as an error token; ours says clock-skew.
    const behind = () => new Date(Date.now() - 10 * 60 * 1000);
    const skewed = new KerberosInitiator({ ticket, now: behind });
    const mit = await mitAcceptor(c, "krb5");
    try {
      await assert.rejects(mit.step(skewed.initialToken()), (error: unknown) => {
        assert.ok(error instanceof GssapiPeerError, String(error));
        assert.match(`${error.gssMessage ?? ""} ${error.pythonError}`, /skew/i);
        if (error.errorToken !== undefined) {
          assert.throws(
            () => skewed.acceptReply(error.errorToken!),
            (failure: unknown) =>
              failure instanceof KerberosError && failure.failure === "clock-skew",
          );
        }
        return true;
      });
    } finally {
      await mit.close();
    }
    const ourAcceptor = new KerberosAcceptor({ keys });
    assert.throws(
      () => ourAcceptor.accept(new KerberosInitiator({ ticket, now: behind }).initialToken()),
      (error: unknown) => error instanceof KerberosError && error.failure === "clock-skew",
    );
    // A token that is not Kerberos at all is a protocol error, not a crash.
    assert.throws(
      () => new KerberosAcceptor({ keys }).accept(Buffer.from("NTLMSSP\0")),
      ProtocolError,
    );
  });
});

describe(
  "SPNEGO with Kerberos first, against MIT's SPNEGO",
  { skip: skipReason, timeout: 300_000 },
  () => {
    let realm: MitRealm;
    const c = CASES[0]!;
    const ntlmUsers = userTable([{ user: c.user, password: c.password }]);

    before(async () => {
      realm = await startMitRealm({
        realm: REALM,
        users: [{ name: c.user, password: c.password }],
        services: [`HTTP/${c.host}`],
      });
    });
    after(async () => {
      await realm?.stop();
    });

    function tickets(): TicketSource {
      return async () => {
        const kdc = new KdcClient({
          client: parseClientPrincipal(`${c.user}@${REALM}`),
          kdcs: [{ host: realm.host, port: realm.tcpPort }],
          secret: { password: c.password },
        });
        return kdc.getServiceTicket(
          await kdc.getTicketGrantingTicket(),
          servicePrincipal(`HTTP/${c.host}`),
        );
      };
    }

    async function exchange(initiator: SecurityContext, acceptor: SecurityContext): Promise<void> {
      let token = await initiator.step();
      for (let round = 0; token !== undefined; round++) {
        assert.ok(round < 5, "the handshake converges");
        const reply = await acceptor.step(token);
        token = reply === undefined ? undefined : await initiator.step(reply);
      }
      assert.ok(initiator.complete && acceptor.complete);
    }

    for (const bound of [false, true]) {
      test(`our negotiate initiator, MIT SPNEGO acceptor: Kerberos is chosen${bound ? " (channel bindings)" : ""}`, async () => {
        const ours = createInitiator({
          protocol: "negotiate",
          user: `${c.user}@${REALM}`,
          secret: { password: c.password },
          tickets: tickets(),
          ...(bound ? { channelBindings: CHANNEL_BINDINGS } : {}),
        });
        const mit = await new Promise<GssapiPeer>((resolve, reject) => {
          const peer = new GssapiPeer({
            env: { ...realm.env, KRB5_KTNAME: `FILE:${realm.keytab(`HTTP/${c.host}`)}` },
          });
          peer
            .init({
              role: "accept",
              mech: "spnego",
              ...(bound ? { channelBindings: CHANNEL_BINDINGS } : {}),
            })
            .then(() => resolve(peer), reject);
        });
        try {
          let token = await ours.step();
          for (let round = 0; token !== undefined; round++) {
            assert.ok(round < 5);
            const reply = await mit.step(token);
            token = reply.token === undefined ? undefined : await ours.step(reply.token);
          }
          assert.ok(ours.complete);
          assert.equal(ours.mechanism, "kerberos");
          const info = await mit.info();
          assert.equal(info.mech, "krb5");
          assert.equal(info.initiatorName, `${c.user}@${REALM}`);
          await roundTripWinrm(ours, mit, messageSizes());
        } finally {
          await mit.close();
        }
      });
    }

    test("MIT SPNEGO initiator, our negotiate acceptor with the keytab: Kerberos", async () => {
      const ccache = await realm.kinit(c.user, c.password);
      const mit = new GssapiPeer({ env: { ...realm.env, KRB5CCNAME: ccache } });
      await mit.init({
        role: "initiate",
        mech: "spnego",
        target: `HTTP@${c.host}`,
        flags: ["mutual", "sequence", "replay", "integrity", "confidentiality"],
      });
      const ours = createAcceptor({
        credentials: ntlmUsers,
        kerberos: { keys: readKeytab(realm.keytab(`HTTP/${c.host}`)) },
      });
      try {
        let out = await mit.step();
        for (let round = 0; out.token !== undefined; round++) {
          assert.ok(round < 5);
          const reply = await ours.step(out.token);
          if (reply === undefined) break;
          out = await mit.step(reply);
        }
        assert.ok(ours.complete && out.complete);
        assert.equal(ours.protocol, "negotiate");
        assert.equal(ours.mechanism, "kerberos");
        assert.equal(ours.identity.user, c.user);
        assert.equal(ours.identity.domain, REALM);
        await roundTripWinrm(ours, mit, [0, 17, 5000]);
      } finally {
        await mit.close();
      }
    });

    test("negotiate falls back to NTLM: an acceptor without Kerberos keys picks NTLM from the offer", async () => {
      const ours = createInitiator({
        protocol: "negotiate",
        user: c.user,
        secret: { password: c.password },
        tickets: tickets(),
      });
      const acceptor = createAcceptor({ credentials: ntlmUsers });
      await exchange(ours, acceptor);
      assert.equal(ours.mechanism, "ntlm");
      assert.equal(acceptor.mechanism, "ntlm");
      const { header, data } = ours.wrap(Buffer.from("over NTLM"));
      assert.deepEqual(acceptor.unwrap(header, data), Buffer.from("over NTLM"));
    });

    test("negotiate falls back to NTLM when no ticket can be had, and says why", async () => {
      const reasons: Error[] = [];
      const ours = createInitiator({
        protocol: "negotiate",
        user: c.user,
        secret: { password: c.password },
        tickets: () => Promise.reject(new KerberosError("kdc-unreachable", "no KDC answered")),
        onFallback: (reason) => reasons.push(reason),
      });
      const acceptor = createAcceptor({
        credentials: ntlmUsers,
        kerberos: { keys: readKeytab(realm.keytab(`HTTP/${c.host}`)) },
      });
      await exchange(ours, acceptor);
      assert.equal(ours.mechanism, "ntlm");
      assert.equal(reasons.length, 1);
      assert.match(reasons[0]!.message, /no KDC answered/);
    });

    test("kerberos never falls back: no ticket is the error; bare Kerberos tokens work", async () => {
      const failing = createInitiator({
        protocol: "kerberos",
        user: c.user,
        secret: { password: c.password },
        tickets: () =>
          Promise.reject(new KerberosError("wrong-password", "the KDC refused the password")),
      });
      await assert.rejects(failing.step(), /refused the password/);
      const ours = createInitiator({
        protocol: "kerberos",
        user: c.user,
        secret: { password: c.password },
        tickets: tickets(),
      });
      const acceptor = createAcceptor({
        credentials: ntlmUsers,
        kerberos: { keys: readKeytab(realm.keytab(`HTTP/${c.host}`)) },
      });
      await exchange(ours, acceptor);
      assert.equal(acceptor.protocol, "kerberos");
      assert.equal(ours.mechanism, "kerberos");
      const { header, data } = acceptor.wrap(Buffer.from("sealed"));
      assert.deepEqual(ours.unwrap(header, data), Buffer.from("sealed"));
      // An acceptor without keys refuses bare Kerberos plainly.
      const keyless = createAcceptor({ credentials: ntlmUsers });
      const again = createInitiator({
        protocol: "kerberos",
        user: c.user,
        secret: { password: "x" },
        tickets: tickets(),
      });
      await assert.rejects(keyless.step(await again.step()), /no Kerberos keys/);
    });
  },
);
