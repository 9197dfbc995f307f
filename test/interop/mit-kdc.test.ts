/**
 * The Kerberos test world itself, before any of our Kerberos code stands in it: a real MIT realm
 * on loopback (test/support/mit-kdc.ts) and MIT's GSSAPI as both initiator and acceptor
 * (test/interop/peers/gssapi-peer.ts). If these pass, a failure in an interop test of our code
 * is about our code, not the world.
 *
 * For each of aes256, aes128 and rc4 (a user and a service with keys of only that enctype, and
 * the acceptor limited to it, since MIT against MIT otherwise upgrades every context to an
 * aes256 subkey): the handshake with and without SPNEGO and channel bindings, WinRM-layout
 * messages both ways, gss_wrap and MIC tokens, and what must fail.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  ENCTYPE_NUMBERS,
  type KerberosEnctype,
  type MitRealm,
  mitKdcSkipReason,
  startMitRealm,
} from "../support/mit-kdc";
import {
  type GssFlag,
  type GssMech,
  GSS_S,
  GssapiPeer,
  GssapiPeerError,
  gssapiPeerSkipReason,
} from "./peers/gssapi-peer";

const REALM = "WINRM.TEST";
const SIZES = [0, 1, 15, 16, 17, 1000, 65536];
const CHANNEL_BINDINGS = Buffer.concat([Buffer.from("tls-server-end-point:"), randomBytes(32)]);

interface EnctypeCase {
  label: string;
  enctype: KerberosEnctype;
  user: string;
  password: string;
  /** Host of the service HTTP/<host>, whose only key is of this enctype. */
  host: string;
}

const CASES: EnctypeCase[] = [
  {
    label: "aes256",
    enctype: "aes256-cts-hmac-sha1-96",
    user: "alice",
    password: "Alice-aes256!",
    host: "aes256.winrm.test",
  },
  {
    label: "aes128",
    enctype: "aes128-cts-hmac-sha1-96",
    user: "bob",
    password: "Bob-aes128?",
    host: "aes128.winrm.test",
  },
  {
    label: "rc4",
    enctype: "arcfour-hmac",
    user: "carol",
    password: "Carol rc4 pässword",
    host: "rc4.winrm.test",
  },
];

const skipReason = mitKdcSkipReason() ?? gssapiPeerSkipReason();

/** Can anything still connect to the port? */
function tcpConnects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Pair {
  initiator: GssapiPeer;
  acceptor: GssapiPeer;
}

interface PairOptions {
  mech: GssMech;
  initiatorBindings?: Uint8Array;
  acceptorBindings?: Uint8Array;
  flags?: GssFlag[];
  /** Default: the host-based name HTTP@<host>. */
  target?: string;
}

async function startPair(realm: MitRealm, c: EnctypeCase, options: PairOptions): Promise<Pair> {
  const ccache = await realm.kinit(c.user, c.password);
  const initiator = new GssapiPeer({ env: { ...realm.env, KRB5CCNAME: ccache } });
  const keytab = realm.keytab(`HTTP/${c.host}`);
  const acceptor = new GssapiPeer({ env: { ...realm.env, KRB5_KTNAME: `FILE:${keytab}` } });
  try {
    await initiator.init({
      role: "initiate",
      mech: options.mech,
      target: options.target ?? `HTTP@${c.host}`,
      channelBindings: options.initiatorBindings,
      flags: options.flags,
    });
    await acceptor.init({
      role: "accept",
      mech: options.mech,
      channelBindings: options.acceptorBindings,
      enctypes: [ENCTYPE_NUMBERS[c.enctype]],
    });
  } catch (error) {
    await Promise.all([initiator.close(), acceptor.close()]);
    throw error;
  }
  return { initiator, acceptor };
}

async function closePair(pair: Pair): Promise<void> {
  await Promise.all([pair.initiator.close(), pair.acceptor.close()]);
}

/** Tokens back and forth until both sides are complete. */
async function handshake({ initiator, acceptor }: Pair): Promise<void> {
  let out = await initiator.step();
  let initiatorComplete = out.complete;
  let acceptorComplete = false;
  for (let round = 0; out.token !== undefined; round++) {
    assert.ok(round < 5, "handshake did not converge");
    const reply = await acceptor.step(out.token);
    acceptorComplete = reply.complete;
    if (reply.token === undefined) break;
    out = await initiator.step(reply.token);
    initiatorComplete = out.complete;
  }
  assert.ok(initiatorComplete, "MIT initiator completed");
  assert.ok(acceptorComplete, "MIT acceptor completed");
}

/** The CFX (RFC 4121) header fields of a WinRM header. */
function cfxFields(header: Buffer): { tokId: number; flags: number; ec: number; rrc: number } {
  return {
    tokId: header.readUInt16BE(0),
    flags: header[2]!,
    ec: header.readUInt16BE(4),
    rrc: header.readUInt16BE(6),
  };
}

/**
 * The layout MIT 1.20 produces for the WinRM buffers HEADER | DATA | PADDING (observed, and
 * what our code must accept): CFX for aes, header 60 (16 token header + 16 confounder + 28 =
 * RRC: encrypted header copy 16, HMAC 12), EC 0, no padding; DCE style adds EC 16 filler to
 * the header (76). RFC 1964 tokens for rc4: a 45-byte header whose DER length counts the data
 * and one padding byte (so 46 or 47 bytes once the token passes 127 or 255); DCE style: the DER
 * length counts the header alone (always 45) and there is no padding byte.
 */
function checkLayout(
  c: EnctypeCase,
  dce: boolean,
  size: number,
  wrapped: Buffer,
  headerLength: number,
  paddingLength: number,
): string {
  const header = wrapped.subarray(0, headerLength);
  assert.equal(wrapped.length, headerLength + size + paddingLength, "header || data || padding");
  if (c.enctype !== "arcfour-hmac") {
    const fields = cfxFields(header);
    assert.equal(fields.tokId, 0x0504, "CFX wrap token");
    assert.equal(headerLength, dce ? 76 : 60, "CFX header length");
    assert.equal(paddingLength, 0, "CFX padding");
    assert.equal(fields.ec, dce ? 16 : 0, "EC");
    assert.equal(fields.rrc, 28, "RRC");
    assert.equal(fields.flags & 0x02, 0x02, "Sealed flag");
    return `header ${headerLength}, padding ${paddingLength}, EC ${fields.ec}, RRC ${fields.rrc}, flags ${fields.flags}`;
  }
  assert.equal(header[0], 0x60, "RFC 1964 token framing");
  assert.equal(paddingLength, dce ? 0 : 1, "rc4 padding");
  // The short-form DER length covers up to 127 content bytes; beyond, 0x81-0x83 + 1-3 bytes.
  const content = 43 + size + paddingLength;
  const derLengthBytes = dce ? 0 : content < 128 ? 0 : content < 256 ? 1 : content < 65536 ? 2 : 3;
  assert.equal(headerLength, 45 + derLengthBytes, "rc4 header length");
  return `header ${headerLength}, padding ${paddingLength}`;
}

describe("MIT Kerberos test world", { skip: skipReason, timeout: 300_000 }, () => {
  test("a realm starts, answers, and stops leaving nothing behind", async (t) => {
    const leftovers = [
      `/tmp/krb5cc_${process.getuid?.() ?? 0}`,
      `/var/tmp/krb5_${process.getuid?.() ?? 0}.rcache2`,
    ];
    const before = leftovers.map((file) => existsSync(file));
    const started = Date.now();
    const realm = await startMitRealm({
      realm: "START.TEST",
      users: [{ name: "dave", password: "dave-pw" }],
      services: ["HTTP/start.winrm.test"],
    });
    t.diagnostic(`realm with 1 user and 1 service started in ${Date.now() - started} ms`);
    const { dir, tcpPort } = realm;
    const pid = realm.kdcPid;
    try {
      assert.equal(realm.realm, "START.TEST");
      assert.equal(realm.host, "127.0.0.1");
      assert.equal(realm.udpPort, tcpPort);
      assert.ok(pid !== undefined && processAlive(pid), "krb5kdc runs");
      assert.ok(
        existsSync(realm.krb5ConfPath) && existsSync(realm.keytab("HTTP/start.winrm.test")),
      );
      assert.ok(realm.keytab("HTTP/start.winrm.test").startsWith(dir));
      for (const value of Object.values(realm.env)) assert.ok(value.includes(dir), value);
      assert.ok(await tcpConnects(tcpPort), "the KDC accepts TCP");
      const ccache = await realm.kinit("dave", "dave-pw");
      assert.ok(existsSync(ccache.slice("FILE:".length)));
      // Both transports answer: MIT clients try UDP first, and TCP first with
      // udp_preference_limit = 1.
      for (const transport of ["dgram", "stream"]) {
        const conf = join(dir, `krb5-${transport}.conf`);
        const limit = transport === "stream" ? "  udp_preference_limit = 1\n" : "";
        const text = readFileSync(realm.krb5ConfPath, "utf8");
        writeFileSync(conf, text.replace("[libdefaults]\n", `[libdefaults]\n${limit}`));
        // A trace file, not /dev/stderr: Node's stdio pipes are sockets, which cannot be opened.
        const trace = join(dir, `${transport}.trace`);
        const kinit = spawnSync("kinit", ["-c", `FILE:${join(dir, transport)}`, "dave"], {
          input: "dave-pw\n",
          encoding: "utf8",
          env: { ...process.env, ...realm.env, KRB5_CONFIG: conf, KRB5_TRACE: trace },
        });
        assert.equal(kinit.status, 0, kinit.stderr);
        const answered = new RegExp(`from ${transport} 127\\.0\\.0\\.1:${tcpPort}`);
        assert.match(readFileSync(trace, "utf8"), answered);
      }
      assert.match(realm.logTail(), /commencing operation/);
    } finally {
      await realm.stop();
    }
    await realm.stop(); // twice is harmless
    assert.equal(existsSync(dir), false, "the realm's folder is gone");
    assert.equal(processAlive(pid), false, "krb5kdc is gone");
    assert.equal(await tcpConnects(tcpPort), false, "nothing listens on the KDC's port");
    assert.deepEqual(
      leftovers.map((file) => existsSync(file)),
      before,
      "no cache outside the folder",
    );
  });

  test("two realms at once get separate ports", async () => {
    const [a, b] = await Promise.all([
      startMitRealm({ realm: "ONE.TEST" }),
      startMitRealm({ realm: "TWO.TEST" }),
    ]);
    try {
      assert.notEqual(a.tcpPort, b.tcpPort);
      assert.notEqual(a.dir, b.dir);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  describe("one realm", () => {
    let realm: MitRealm;

    before(async () => {
      const started = Date.now();
      realm = await startMitRealm({
        realm: REALM,
        users: CASES.map((c) => ({ name: c.user, password: c.password, enctypes: [c.enctype] })),
        services: CASES.map((c) => ({ name: `HTTP/${c.host}`, enctypes: [c.enctype] })),
      });
      console.log(`# realm with 3 users and 3 services started in ${Date.now() - started} ms`);
    });
    after(async () => {
      await realm?.stop();
    });

    test("kinit works, needs pre-authentication, and a wrong password fails", async () => {
      await realm.kinit("alice", "Alice-aes256!");
      assert.match(realm.logTail(65536), /NEEDED_PREAUTH: alice@WINRM\.TEST for krbtgt/);
      await assert.rejects(realm.kinit("alice", "not-the-password"), /Password incorrect/);
      await assert.rejects(realm.kinit("nobody", "x"), /not found in Kerberos database/);
    });

    test("each user's AS reply is sealed with its only key", async () => {
      for (const c of CASES) {
        await realm.kinit(c.user, c.password);
        const line = new RegExp(
          `ISSUE: .*etypes \\{rep=(?:[A-Z]+:)?${c.enctype}\\(${ENCTYPE_NUMBERS[c.enctype]}\\).*${c.user}@`,
        );
        assert.match(realm.logTail(65536), line, c.label);
      }
    });

    test("users added and passwords changed after the start count at once", async () => {
      await realm.addUser({ name: "erin", password: "first", enctypes: ["arcfour-hmac"] });
      await realm.kinit("erin", "first");
      await realm.changePassword("erin", "second");
      await assert.rejects(realm.kinit("erin", "first"), /Password incorrect/);
      await realm.kinit("erin", "second");
      assert.match(await realm.kadmin("getprinc erin"), /Key: vno 2, (?:[A-Z]+:)?arcfour-hmac$/m);
      await assert.rejects(realm.kadmin("getprinc nobody"), /Principal does not exist/);
    });

    for (const c of CASES) {
      describe(`${c.label} principals`, () => {
        const variants: { name: string; mech: GssMech; bindings: boolean; dce?: boolean }[] = [
          { name: "krb5", mech: "krb5", bindings: false },
          { name: "krb5, channel bindings", mech: "krb5", bindings: true },
          { name: "SPNEGO", mech: "spnego", bindings: false },
          { name: "SPNEGO, channel bindings", mech: "spnego", bindings: true },
          { name: "krb5, DCE style", mech: "krb5", bindings: true, dce: true },
        ];
        for (const variant of variants) {
          test(`handshake and WinRM messages both ways: ${variant.name}`, async (t) => {
            const bindings = variant.bindings ? CHANNEL_BINDINGS : undefined;
            const pair = await startPair(realm, c, {
              mech: variant.mech,
              initiatorBindings: bindings,
              acceptorBindings: bindings,
              flags: variant.dce
                ? ["mutual", "sequence", "replay", "integrity", "confidentiality", "dce_style"]
                : undefined,
            });
            try {
              await handshake(pair);
              const number = ENCTYPE_NUMBERS[c.enctype];
              const acceptorInfo = await pair.acceptor.info();
              const initiatorInfo = await pair.initiator.info();
              assert.equal(acceptorInfo.enctype, number, "acceptor's message key");
              assert.equal(initiatorInfo.enctype, number, "initiator's message key");
              assert.equal(acceptorInfo.mech, "krb5");
              assert.equal(acceptorInfo.initiatorName, `${c.user}@${REALM}`);
              assert.equal(acceptorInfo.targetName, `HTTP/${c.host}@${REALM}`);
              assert.equal(acceptorInfo.flags?.includes("channel_bound"), variant.bindings);
              assert.equal(initiatorInfo.flags?.includes("dce_style"), variant.dce === true);
              const keys = await Promise.all([
                pair.initiator.sessionKey(),
                pair.acceptor.sessionKey(),
              ]);
              assert.deepEqual(keys[0], keys[1], "both sides hold the same key");
              assert.equal(keys[0].key.length, c.enctype === "aes256-cts-hmac-sha1-96" ? 32 : 16);

              const directions = [
                ["initiator", pair.initiator, pair.acceptor],
                ["acceptor", pair.acceptor, pair.initiator],
              ] as const;
              for (const [from, sender, receiver] of directions) {
                for (const size of SIZES) {
                  const sent = await sender.wrapWinrm(size);
                  const layout = checkLayout(
                    c,
                    variant.dce === true,
                    size,
                    sent.wrapped,
                    sent.headerLength,
                    sent.paddingLength,
                  );
                  const opened = await receiver.unwrapWinrm(sent.wrapped, sent.headerLength);
                  assert.equal(opened.sha256, sent.sha256, `${size} bytes from the ${from}`);
                  if (size === 17)
                    t.diagnostic(
                      `${from} wraps 17 bytes: ${layout}, unwrapped by ${opened.method}`,
                    );
                }
              }
            } finally {
              await closePair(pair);
            }
          });
        }

        test("gss_wrap, MICs, and tampering", async () => {
          const pair = await startPair(realm, c, {
            mech: "krb5",
            initiatorBindings: CHANNEL_BINDINGS,
            acceptorBindings: CHANNEL_BINDINGS,
            target: `HTTP/${c.host}@${REALM}`,
          });
          try {
            await handshake(pair);
            const message = Buffer.from("Invoke-Command { Get-Date }");
            for (const conf of [true, false]) {
              const wrapped = await pair.initiator.wrap(message, conf);
              assert.equal(wrapped.encrypted, conf);
              const opened = await pair.acceptor.unwrap(wrapped.token);
              assert.deepEqual(opened.plaintext, message);
              assert.equal(opened.encrypted, conf);
            }
            const mic = await pair.acceptor.getMic(message);
            await pair.initiator.verifyMic(message, mic);
            await assert.rejects(
              pair.initiator.verifyMic(Buffer.from("Invoke-Command { Get-Date }!"), mic),
              (error: unknown) =>
                error instanceof GssapiPeerError && error.routineError === GSS_S.BAD_MIC,
            );

            const sent = await pair.initiator.wrapWinrmData(message);
            const tampered = Buffer.from(sent.wrapped);
            tampered[sent.headerLength + 3]! ^= 0x01;
            await assert.rejects(
              pair.acceptor.unwrapWinrm(tampered, sent.headerLength),
              (error: unknown) => {
                assert.ok(error instanceof GssapiPeerError, String(error));
                assert.equal(error.pythonError, "BadMICError");
                return true;
              },
            );
            // The tampered token consumed no sequence number: the genuine one still opens.
            const plaintext = await pair.acceptor.unwrapWinrmData(sent.wrapped, sent.headerLength);
            assert.deepEqual(plaintext, message);
            // The same token again is a replay.
            await assert.rejects(
              pair.acceptor.unwrapWinrm(sent.wrapped, sent.headerLength),
              (error: unknown) =>
                error instanceof GssapiPeerError &&
                ((error.major ?? 0) & GSS_S.DUPLICATE_TOKEN) !== 0,
            );
          } finally {
            await closePair(pair);
          }
        });

        for (const mech of ["krb5", "spnego"] as GssMech[]) {
          test(`mismatched channel bindings fail (${mech})`, async () => {
            const other = Buffer.concat([Buffer.from("tls-server-end-point:"), randomBytes(32)]);
            const pair = await startPair(realm, c, {
              mech,
              initiatorBindings: CHANNEL_BINDINGS,
              acceptorBindings: other,
            });
            try {
              await assert.rejects(handshake(pair), (error: unknown) => {
                assert.ok(error instanceof GssapiPeerError, String(error));
                assert.equal(error.op, "step");
                assert.equal(error.pythonError, "BadChannelBindingsError");
                assert.equal(error.routineError, GSS_S.BAD_BINDINGS);
                return true;
              });
            } finally {
              await closePair(pair);
            }
          });
        }
      });
    }

    test("an acceptor refuses a raw krb5 token when told to expect SPNEGO", async () => {
      const c = CASES[0]!;
      const pair = await startPair(realm, c, { mech: "krb5" });
      const spnegoAcceptor = new GssapiPeer({
        env: { ...realm.env, KRB5_KTNAME: `FILE:${realm.keytab(`HTTP/${c.host}`)}` },
      });
      try {
        await spnegoAcceptor.init({ role: "accept", mech: "spnego" });
        const first = await pair.initiator.step();
        await assert.rejects(
          spnegoAcceptor.step(first.token),
          /expected an initial spnego token, got krb5/,
        );
      } finally {
        await Promise.all([closePair(pair), spnegoAcceptor.close()]);
      }
    });
  });
});
