/**
 * Mutation fuzzing of every Kerberos decoder and of both GSS-API roles, seeded with real tokens
 * from MIT Kerberos (a KDC's AS-REP, TGS-REP and KRB-ERROR; an MIT initiator's AP-REQ; an MIT
 * acceptor's AP-REP; MIT's wrap and MIC tokens; a keytab and a credential cache that MIT's
 * tools wrote). The only acceptable outcomes are success or one of our typed errors, never a
 * TypeError or RangeError from deep inside, and no mutated token may ever authenticate.
 *
 * FUZZ_ITERATIONS (default 100000) mutations go to each target; FUZZ_SEED reproduces a run.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FUZZ_ITERATIONS, FUZZ_SEED, generator } from "../support/fuzz";
import { DerNode } from "../../provider/auth/kerberos/asn1";
import { parseCredentialCache } from "../../provider/auth/kerberos/ccache";
import { CfxSession } from "../../provider/auth/kerberos/cfx";
import { KerberosAcceptor, ReplayCache } from "../../provider/auth/kerberos/gss-acceptor";
import { KerberosInitiator } from "../../provider/auth/kerberos/gss-initiator";
import { decodeContextToken } from "../../provider/auth/kerberos/gss-token";
import { type Credential, KdcClient } from "../../provider/auth/kerberos/kdc-client";
import { exchangeWithKdc } from "../../provider/auth/kerberos/kdc-transport";
import { parseKeytab, readKeytab } from "../../provider/auth/kerberos/keytab";
import {
  KdcOptions,
  MessageType,
  NameType,
  decodeApRequest,
  decodeEtypeInfo,
  decodeKdcReply,
  decodeKrbError,
  decodeMethodData,
  encodeKdcRequest,
  encodeKdcRequestBody,
  replyKind,
} from "../../provider/auth/kerberos/messages";
import { parseClientPrincipal, servicePrincipal } from "../../provider/auth/kerberos/principal";
import { parseKrb5Conf } from "../../provider/auth/kerberos/krb5-conf";
import {
  AuthenticationError,
  ProtocolError,
  UnsupportedError,
  WinRMError,
} from "../../provider/errors";
import { type MitRealm, mitKdcSkipReason, startMitRealm } from "../support/mit-kdc";
import { GssapiPeer, gssapiPeerSkipReason } from "./peers/gssapi-peer";

const REALM = "FUZZ.TEST";
const HOST = "fuzz.winrm.test";

const skipReason = mitKdcSkipReason() ?? gssapiPeerSkipReason();

/** DER-aware mutations: lengths and tags are where decoders go wrong. */
function mutate(input: Buffer, random: (limit: number) => number): Buffer {
  let data = Buffer.from(input);
  const rounds = 1 + random(3);
  for (let round = 0; round < rounds; round++) {
    const at = data.length === 0 ? 0 : random(data.length);
    switch (random(8)) {
      case 0:
        for (let n = 1 + random(8); n > 0 && data.length > 0; n--) {
          const index = random(data.length);
          data[index] = data[index]! ^ (1 << random(8));
        }
        break;
      case 1:
        data = data.subarray(0, random(data.length + 1));
        break;
      case 2:
        data = Buffer.concat([
          data,
          Buffer.from(Array.from({ length: 1 + random(64) }, () => random(256))),
        ]);
        break;
      case 3: // a DER length byte set to a long form, or to a boundary
        if (data.length > 0) data[at] = [0x80, 0x81, 0x82, 0x84, 0x88, 0xff, 0x7f, 0][random(8)]!;
        break;
      case 4: // a 32-bit length (keytab, ccache, TCP framing) set to a boundary
        if (at + 4 <= data.length)
          data.writeUInt32BE([0, 1, 0x7fffffff, 0xffffffff, 0x10000][random(5)]!, at);
        break;
      case 5:
        data = Buffer.concat([
          data.subarray(0, at),
          Buffer.from([random(256), random(256)]),
          data.subarray(at),
        ]);
        break;
      case 6: // swap a tag for another
        if (data.length > 0)
          data[at] = [0x30, 0x04, 0x02, 0x1b, 0x18, 0x03, 0xa0, 0x60][random(8)]!;
        break;
      default:
        data = Buffer.concat([data.subarray(0, at), data.subarray(at + 1 + random(4))]);
        break;
    }
  }
  return data;
}

/** One of ours, and whatever it wraps one of ours too. */
function isTyped(error: unknown): boolean {
  if (!(
    error instanceof ProtocolError ||
    error instanceof AuthenticationError ||
    error instanceof UnsupportedError ||
    error instanceof WinRMError
  )) {
    return false;
  }
  const cause = (error as Error).cause;
  return cause === undefined || isTyped(cause);
}

function fuzz(seeds: Buffer[], target: (input: Buffer) => unknown): number {
  const random = generator(FUZZ_SEED);
  let rejected = 0;
  for (let n = 0; n < FUZZ_ITERATIONS; n++) {
    const input = mutate(seeds[n % seeds.length]!, random);
    try {
      target(input);
    } catch (error) {
      if (!isTyped(error)) {
        assert.fail(
          `untyped failure for input ${input.toString("hex").slice(0, 400)} (FUZZ_SEED=${FUZZ_SEED}): ` +
            `${String(error)}${(error as Error).cause ? ` caused by ${String((error as Error).cause)}` : ""}`,
        );
      }
      rejected++;
    }
  }
  return rejected;
}

describe(
  `Kerberos fuzzing with ${FUZZ_ITERATIONS} mutations per target (FUZZ_SEED=${FUZZ_SEED})`,
  { skip: skipReason, timeout: 900_000 },
  () => {
    let realm: MitRealm;
    const seeds: Record<string, Buffer[]> = {};
    let keytab: Buffer;
    let ccache: Buffer;
    let serviceTicket: Credential;
    const started = Date.now();

    before(async () => {
      realm = await startMitRealm({
        realm: REALM,
        users: [{ name: "fuzzer", password: "Fuzz-Pass-1" }],
        services: [`HTTP/${HOST}`],
      });
      const kdc = { host: realm.host, port: realm.tcpPort, transport: "tcp" as const };
      const client = parseClientPrincipal(`fuzzer@${REALM}`);
      // A KRB-ERROR (PREAUTH_REQUIRED, with its METHOD-DATA) from an AS-REQ without padata.
      const body = encodeKdcRequestBody({
        options: KdcOptions.FORWARDABLE,
        cname: client.name,
        realm: REALM,
        sname: { nameType: NameType.SRV_INST, names: ["krbtgt", REALM] },
        till: new Date(Date.now() + 3600_000),
        nonce: 12345,
        etypes: [18, 17, 23],
      });
      const error = await exchangeWithKdc([kdc], encodeKdcRequest(MessageType.AS_REQ, [], body), {
        realm: REALM,
      });
      seeds.krbError = [error];
      // Real AS-REP and TGS-REP bytes: captured from the KDC client's own exchanges.
      const replies: Buffer[] = [];
      const capturingKdc = new KdcClient({
        client,
        kdcs: [kdc],
        secret: { password: "Fuzz-Pass-1" },
      });
      const original = capturingKdc as unknown as {
        send: (r: Buffer, realm: string) => Promise<Buffer>;
      };
      const send = original.send.bind(capturingKdc);
      original.send = async (request, name) => {
        const reply = await send(request, name);
        replies.push(reply);
        return reply;
      };
      const tgt = await capturingKdc.getTicketGrantingTicket();
      const ticket = await capturingKdc.getServiceTicket(tgt, servicePrincipal(`HTTP/${HOST}`));
      seeds.kdcReplies = replies;
      seeds.ticket = [ticket.ticket.encoded];

      // An MIT initiator's AP-REQ and an MIT acceptor's AP-REP, and MIT's message tokens.
      const ccachePath = await realm.kinit("fuzzer", "Fuzz-Pass-1", join(realm.dir, "fuzz.ccache"));
      ccache = readFileSync(ccachePath.slice("FILE:".length));
      keytab = readFileSync(realm.keytab(`HTTP/${HOST}`));
      const mitInitiator = new GssapiPeer({ env: { ...realm.env, KRB5CCNAME: ccachePath } });
      const mitAcceptor = new GssapiPeer({
        env: { ...realm.env, KRB5_KTNAME: `FILE:${realm.keytab(`HTTP/${HOST}`)}` },
      });
      try {
        await mitInitiator.init({
          role: "initiate",
          mech: "krb5",
          target: `HTTP@${HOST}`,
          flags: ["mutual", "sequence", "replay", "integrity", "confidentiality"],
        });
        await mitAcceptor.init({ role: "accept", mech: "krb5" });
        const apReq = (await mitInitiator.step()).token!;
        const apRep = (await mitAcceptor.step(apReq)).token!;
        await mitInitiator.step(apRep);
        seeds.apReq = [apReq];
        seeds.apRep = [apRep];
        const wrapped = await mitAcceptor.wrapWinrmData(Buffer.from("a sealed WS-Man envelope"));
        seeds.wrap = [
          wrapped.wrapped,
          (await mitAcceptor.wrap(Buffer.from("signed"), false)).token,
        ];
        seeds.mic = [await mitAcceptor.getMic(Buffer.from("mic"))];
      } finally {
        await Promise.all([mitInitiator.close(), mitAcceptor.close()]);
      }
      // Our initiator's AP-REQ for the acceptor target.
      seeds.ourApReq = [new KerberosInitiator({ ticket }).initialToken()];
      serviceTicket = ticket;
    });
    after(async () => {
      await realm?.stop();
      console.log(`# Kerberos fuzzing took ${Date.now() - started} ms`);
    });

    test("KDC replies: AS-REP, TGS-REP and KRB-ERROR decoders", () => {
      const decode = (input: Buffer) => {
        const { node, msgType } = replyKind(input, "KDC reply");
        if (msgType === MessageType.ERROR) {
          const error = decodeKrbError(node);
          if (error.eData) {
            for (const item of decodeMethodData(error.eData))
              decodeEtypeInfo(item.value, item.type);
          }
        } else {
          decodeKdcReply(node, msgType);
        }
      };
      assert.ok(fuzz([...seeds.kdcReplies!, ...seeds.krbError!], decode) > 0);
    });

    test("context tokens: AP-REQ framing and decoder", () => {
      const decode = (input: Buffer) => {
        const { message } = decodeContextToken(input);
        decodeApRequest(DerNode.parse(message, "AP-REQ"));
      };
      assert.ok(fuzz([...seeds.apReq!, ...seeds.ourApReq!], decode) > 0);
    });

    test("our acceptor: mutated AP-REQs never authenticate", () => {
      const keys = parseKeytab(keytab);
      // One replay cache for the run, as a listener has: a mutation may touch only what no
      // checksum covers (the AP options, say), but its authenticator is then the original's,
      // and an authenticator logs in once. So at most one acceptance per seed.
      const replayCache = new ReplayCache();
      const seedTokens = [...seeds.apReq!, ...seeds.ourApReq!];
      let accepted = 0;
      fuzz(seedTokens, (input) => {
        new KerberosAcceptor({ keys, replayCache }).accept(input);
        accepted++;
      });
      assert.ok(accepted <= seedTokens.length, `${accepted} mutated AP-REQs were accepted`);
    });

    test("our initiator: mutated AP-REPs never complete a context", () => {
      const ticket = serviceTicket;
      // The AP-REP of our own acceptor for our own AP-REQ: a valid seed for this initiator.
      const keys = parseKeytab(keytab);
      const initiator = new KerberosInitiator({ ticket });
      const reply = new KerberosAcceptor({ keys }).accept(initiator.initialToken());
      let completed = 0;
      fuzz([reply, ...seeds.apRep!], (input) => {
        const fresh = new KerberosInitiator({ ticket });
        fresh.initialToken();
        fresh.acceptReply(input);
        completed++;
      });
      assert.equal(completed, 0, "no AP-REP made for another authenticator can complete one");
    });

    test("CFX wrap and MIC tokens: unwrap and verify", () => {
      const session = () =>
        new CfxSession({
          key: serviceTicket.sessionKey,
          initiator: true,
          acceptorSubkey: true,
          sendSequence: 0,
          receiveSequence: 0,
        });
      let opened = 0;
      fuzz([...seeds.wrap!], (input) => {
        session().unwrapToken(input);
        opened++;
      });
      fuzz([...seeds.mic!], (input) => session().verifyMic(Buffer.from("mic"), input));
      // These tokens were sealed under MIT's subkey, not this key: none may open.
      assert.equal(opened, 0);
    });

    test("keytab and credential cache files", () => {
      assert.ok(fuzz([keytab], (input) => parseKeytab(input)) > 0);
      assert.ok(fuzz([ccache], (input) => parseCredentialCache(input)) > 0);
      // The files themselves still read (a control: the seeds are real and valid).
      assert.ok(parseKeytab(keytab).length > 0);
      assert.ok(parseCredentialCache(ccache).credentials.length > 0);
      assert.ok(readKeytab(realm.keytab(`HTTP/${HOST}`)).length > 0);
    });

    test("krb5.conf", () => {
      const text = Buffer.from(readFileSync(realm.krb5ConfPath, "utf8"));
      fuzz([text], (input) => parseKrb5Conf(input.toString("latin1")));
      assert.ok(parseKrb5Conf(text.toString("utf8")).knowsRealm(REALM));
    });
  },
);
