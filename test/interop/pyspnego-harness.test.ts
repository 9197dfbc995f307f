// Proves the pyspnego interop harness with pyspnego on both sides: one PyspnegoPeer initiates,
// another accepts with a temporary NTLM_USER_FILE. If this passes, a failure in a test that
// puts our NTLM code on one side is about our code, not about the harness.
//
// Needs the venv from `bash test/setup/python.sh`; without it the tests are skipped (and fail
// under CI).

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

import {
  PeerError,
  PyspnegoPeer,
  peerSkipReason,
  type PeerInitOptions,
  type PeerProtocol,
  type PeerStepResult,
} from "./peers/pyspnego-peer";

const skip = peerSkipReason();

const MESSAGES_EACH_WAY = 50;
const MAX_MESSAGE = 300 * 1024;
const NTLM_SIGNATURE_LENGTH = 16;

// MS-NLMP 4.2.2.1.2: NTOWFv1("Password") = MD4(UTF-16LE("Password")).
const SPEC_PASSWORD = "Password";
const SPEC_PASSWORD_NT_HASH = "a4f49c406510bdcab6824ee7c30fd852";

// One user per name form the acceptor must tell apart (NTLM_USER_FILE is looked up by the
// (DomainName, UserName) pair the AUTHENTICATE message carries).
const USERS = {
  domain: { username: "WINRMTEST\\alice", password: "Alice's pass 1!", line: "WINRMTEST:alice:" },
  upn: { username: "bob@winrm.example", password: "Bob's pass 2!", line: ":bob@winrm.example:" },
  bare: { username: "carol", password: "Carol's pass 3!", line: ":carol:" },
  // Heimdal line with the spec password: an initiator holding only the NT hash must get in.
  hashed: { username: "WINRMTEST\\dave", password: SPEC_PASSWORD, line: "WINRMTEST:dave:" },
} as const;

// smbpasswd form (USERNAME:UID:LM_HASH:NT_HASH:FLAGS:LCT): the acceptor holds only the hash.
const SMBPASSWD_LINE = `WINRMTEST\\erin:1000:${"0".repeat(32)}:${SPEC_PASSWORD_NT_HASH.toUpperCase()}:[U]:LCT-00000000`;
// Domain-qualified entry for a user who will try to log in bare.
const DOMAIN_ONLY_LINE = "OTHERDOM:frank:Frank's pass 4!";

let workDir = "";
let userFile = "";

function acceptorEnv(): NodeJS.ProcessEnv {
  // LM_COMPAT_LEVEL 5: the pyspnego acceptor refuses LM and NTLMv1 responses (at its default, 3,
  // it accepts both), like a Windows host with LmCompatibilityLevel 5.
  return { NTLM_USER_FILE: userFile, LM_COMPAT_LEVEL: "5" };
}

/** "tls-server-end-point:" + a SHA-256-sized certificate hash, as HTTPS channel bindings carry. */
function tlsServerEndPoint(): Buffer {
  return Buffer.concat([Buffer.from("tls-server-end-point:", "ascii"), randomBytes(32)]);
}

/** Sizes for one direction: the empty message and the largest first, then random ones. */
function messageSizes(count: number): number[] {
  const sizes = [0, MAX_MESSAGE];
  while (sizes.length < count) sizes.push(randomInt(0, MAX_MESSAGE + 1));
  return sizes;
}

interface Pair {
  initiator: PyspnegoPeer;
  acceptor: PyspnegoPeer;
}

async function startPair(
  protocol: PeerProtocol,
  initiator: Omit<PeerInitOptions, "role" | "protocol">,
  acceptor: Omit<PeerInitOptions, "role" | "protocol"> = {},
): Promise<Pair> {
  const pair = {
    initiator: new PyspnegoPeer(),
    acceptor: new PyspnegoPeer({ env: acceptorEnv() }),
  };
  try {
    await pair.initiator.init({ role: "initiate", protocol, hostname: "winrm-host", ...initiator });
    await pair.acceptor.init({ role: "accept", protocol, hostname: "winrm-host", ...acceptor });
  } catch (error) {
    await closePair(pair);
    throw error;
  }
  return pair;
}

async function closePair(pair: Pair | undefined): Promise<void> {
  if (pair === undefined) return;
  await Promise.all([pair.initiator.close(), pair.acceptor.close()]);
}

interface HandshakeResult {
  initiator: PeerStepResult;
  acceptor: PeerStepResult;
  /** Every token in order, the initiator's first. */
  tokens: Buffer[];
}

/** Passes tokens back and forth until one side has nothing more to send. */
async function handshake({ initiator, acceptor }: Pair): Promise<HandshakeResult> {
  let last: { initiator: PeerStepResult; acceptor?: PeerStepResult } = {
    initiator: await initiator.step(),
  };
  let token = last.initiator.token;
  const tokens: Buffer[] = [];
  let acceptorsTurn = true;
  for (let leg = 0; token !== undefined; leg++) {
    if (leg >= 8) throw new Error("handshake still going after 8 legs");
    tokens.push(token);
    if (acceptorsTurn) {
      last = { ...last, acceptor: await acceptor.step(token) };
      token = last.acceptor?.token;
    } else {
      last = { ...last, initiator: await initiator.step(token) };
      token = last.initiator.token;
    }
    acceptorsTurn = !acceptorsTurn;
  }
  if (last.acceptor === undefined) throw new Error("the initiator produced no first token");
  return { initiator: last.initiator, acceptor: last.acceptor, tokens };
}

/** `from` wraps random messages of its own; `to` must unwrap each to the same SHA-256. */
async function sendRandomMessages(
  from: PyspnegoPeer,
  to: PyspnegoPeer,
  count: number,
  label: string,
): Promise<void> {
  for (const [index, size] of messageSizes(count).entries()) {
    const what = `${label} message ${index} (${size} bytes)`;
    const sealed = await from.wrap(size);
    assert.equal(sealed.headerLength, NTLM_SIGNATURE_LENGTH, `${what}: header length`);
    // RC4 is a stream cipher: NTLM sealing adds only the signature.
    assert.equal(sealed.wrapped.length, NTLM_SIGNATURE_LENGTH + size, `${what}: wrapped length`);
    assert.equal(await to.unwrap(sealed.wrapped, sealed.headerLength), sealed.sha256, what);
  }
}

// MS-NLMP 2.2.1.3: the AUTHENTICATE message's MIC follows the 64-byte fixed fields and the
// 8-byte Version.
const AUTHENTICATE_MIC_OFFSET = 72;

/** Flips a bit of the MIC in the NTLMSSP AUTHENTICATE message inside `token` (raw or SPNEGO). */
function tamperAuthenticateMic(token: Buffer): Buffer {
  const start = token.indexOf("NTLMSSP\0", 0, "latin1");
  assert.ok(start >= 0, "no NTLMSSP message in the token");
  assert.equal(token.readUInt32LE(start + 8), 3, "not an AUTHENTICATE message");
  return flipBit(token, start + AUTHENTICATE_MIC_OFFSET);
}

/** Flips one bit of the wrapped message at `offset` (negative: from the end). */
function flipBit(wrapped: Buffer, offset: number): Buffer {
  const copy = Buffer.from(wrapped);
  const at = offset < 0 ? copy.length + offset : offset;
  copy[at] = (copy[at] ?? 0) ^ 0x01;
  return copy;
}

function isPeerError(pythonError: string | RegExp, message?: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof PeerError, `expected a PeerError, got ${String(error)}`);
    if (typeof pythonError === "string") assert.equal(error.pythonError, pythonError);
    else assert.match(error.pythonError, pythonError);
    if (message !== undefined) assert.match(error.message, message);
    return true;
  };
}

const SUITE = "pyspnego harness: pyspnego initiator against pyspnego acceptor";

// A skipped describe() is not counted by node's reporter: skip one test so "# skipped 1" shows.
if (skip !== undefined) {
  void test(SUITE, { skip }, () => {});
} else {
  void describe(SUITE, () => {
    before(() => {
      workDir = mkdtempSync(path.join(tmpdir(), "pulumi-winrm-pyspnego-"));
      userFile = path.join(workDir, "ntlm_user_file");
      const lines = [
        ...Object.values(USERS).map((user) => user.line + user.password),
        SMBPASSWD_LINE,
        DOMAIN_ONLY_LINE,
      ];
      writeFileSync(userFile, lines.join("\n") + "\n", { mode: 0o600 });
    });

    after(() => {
      if (workDir !== "") rmSync(workDir, { recursive: true, force: true });
    });

    for (const protocol of ["ntlm", "negotiate"] as const) {
      for (const withBindings of [false, true]) {
        const variant = `${protocol}, ${withBindings ? "with" : "without"} channel bindings`;

        void describe(variant, () => {
          let pair: Pair | undefined;
          let result: HandshakeResult | undefined;
          const bindings = withBindings ? tlsServerEndPoint() : undefined;
          const credentials = { username: USERS.domain.username, password: USERS.domain.password };

          function established(): Pair {
            assert.ok(pair !== undefined && result !== undefined, "handshake did not run");
            return pair;
          }

          before(async () => {
            pair = await startPair(
              protocol,
              { ...credentials, channelBindings: bindings },
              { channelBindings: bindings },
            );
            result = await handshake(pair);
          });

          after(async () => {
            await closePair(pair);
          });

          void test("handshake completes on both sides with the same 16-byte session key", async () => {
            const { initiator, acceptor } = established();
            assert.ok(result !== undefined);
            assert.equal(result.initiator.complete, true, "initiator complete");
            assert.equal(result.acceptor.complete, true, "acceptor complete");
            assert.equal(result.acceptor.negotiatedProtocol, "ntlm");
            assert.equal(result.acceptor.clientPrincipal, USERS.domain.username);

            const first = result.tokens[0];
            assert.ok(first !== undefined);
            if (protocol === "ntlm") {
              // NEGOTIATE, CHALLENGE, AUTHENTICATE as bare NTLMSSP messages.
              assert.equal(result.tokens.length, 3);
              for (const token of result.tokens) {
                assert.equal(token.subarray(0, 8).toString("latin1"), "NTLMSSP\0");
              }
            } else {
              // SPNEGO: [APPLICATION 0] InitialContextToken, then NegTokenResp [1] tokens; the
              // third and fourth carry the initiator's and the acceptor's mechListMIC.
              assert.equal(first[0], 0x60);
              assert.equal(result.tokens.length, 4);
              for (const token of result.tokens.slice(1)) assert.equal(token[0], 0xa1);
            }

            const [initiatorKey, acceptorKey] = await Promise.all([
              initiator.sessionKey(),
              acceptor.sessionKey(),
            ]);
            assert.equal(initiatorKey.length, 16);
            assert.deepEqual(initiatorKey, acceptorKey);
          });

          // MS-NLMP 2.2.2.9.1 signature: Version (4, = 1) | Checksum (8) | SeqNum (4), little-endian.
          const firstSequence = protocol === "ntlm" ? 0 : 1;
          void test(`the first wrapped message in each direction carries sequence number ${firstSequence}${protocol === "negotiate" ? " (0 went to the mechListMIC)" : ""}`, async () => {
            const { initiator, acceptor } = established();
            for (const [from, to] of [
              [initiator, acceptor],
              [acceptor, initiator],
            ] as const) {
              const sealed = await from.wrap(32);
              assert.equal(sealed.wrapped.readUInt32LE(0), 1, "signature version");
              assert.equal(sealed.wrapped.readUInt32LE(12), firstSequence);
              assert.equal(await to.unwrap(sealed.wrapped, sealed.headerLength), sealed.sha256);
            }
          });

          void test(`${MESSAGES_EACH_WAY} random messages of 0..300 KiB from initiator to acceptor unwrap to the same SHA-256`, async () => {
            const { initiator, acceptor } = established();
            await sendRandomMessages(initiator, acceptor, MESSAGES_EACH_WAY, "initiator->acceptor");
          });

          void test(`${MESSAGES_EACH_WAY} random messages of 0..300 KiB from acceptor to initiator unwrap to the same SHA-256`, async () => {
            const { initiator, acceptor } = established();
            await sendRandomMessages(acceptor, initiator, MESSAGES_EACH_WAY, "acceptor->initiator");
          });

          void test("interleaved wrapData/unwrapData in both directions returns the exact plaintext", async () => {
            const { initiator, acceptor } = established();
            for (let i = 0; i < 10; i++) {
              for (const [from, to, label] of [
                [initiator, acceptor, "initiator->acceptor"],
                [acceptor, initiator, "acceptor->initiator"],
              ] as const) {
                const plaintext = randomBytes(randomInt(0, 4096));
                const sealed = await from.wrapData(plaintext);
                assert.equal(sealed.headerLength, NTLM_SIGNATURE_LENGTH);
                assert.notDeepEqual(
                  sealed.wrapped.subarray(NTLM_SIGNATURE_LENGTH),
                  plaintext.length === 0 ? Buffer.from([0]) : plaintext,
                  `${label} ${i}: data is sealed, not just signed`,
                );
                const opened = await to.unwrapData(sealed.wrapped, sealed.headerLength);
                assert.deepEqual(opened, plaintext, `${label} ${i}`);
              }
            }
          });

          // Last in this suite: a failed unwrap has already consumed keystream and a sequence
          // number, so the receiving direction is out of step afterwards (as on Windows).
          void test("a tampered wrapped message fails unwrap with BadMICError", async () => {
            const { initiator, acceptor } = established();
            const toAcceptor = await initiator.wrap(1024);
            await assert.rejects(
              acceptor.unwrap(flipBit(toAcceptor.wrapped, -1), toAcceptor.headerLength),
              isPeerError("BadMICError"),
              "flipped bit in the sealed data",
            );
            const toInitiator = await acceptor.wrap(1024);
            await assert.rejects(
              initiator.unwrap(flipBit(toInitiator.wrapped, 8), toInitiator.headerLength),
              isPeerError("BadMICError"),
              "flipped bit in the signature checksum",
            );
          });

          void test("a wrong password fails the handshake at the acceptor", async () => {
            const wrong = await startPair(
              protocol,
              { ...credentials, password: credentials.password + "x", channelBindings: bindings },
              { channelBindings: bindings },
            );
            try {
              await assert.rejects(
                handshake(wrong),
                isPeerError("InvalidTokenError", /Invalid NTLM response from initiator/),
              );
            } finally {
              await closePair(wrong);
            }
          });

          void test("a tampered MIC in the AUTHENTICATE message fails the handshake at the acceptor", async () => {
            const tampered = await startPair(
              protocol,
              { ...credentials, channelBindings: bindings },
              { channelBindings: bindings },
            );
            try {
              const negotiate = await tampered.initiator.step();
              const challenge = await tampered.acceptor.step(negotiate.token);
              const authenticate = await tampered.initiator.step(challenge.token);
              assert.ok(authenticate.token !== undefined);
              await assert.rejects(
                tampered.acceptor.step(tamperAuthenticateMic(authenticate.token)),
                isPeerError("InvalidTokenError", /Invalid MIC/),
              );
            } finally {
              await closePair(tampered);
            }
          });

          if (!withBindings) {
            // pyspnego checks bindings only when the acceptor itself was given some.
            void test("an acceptor without channel bindings accepts an initiator that sends them", async () => {
              const lenient = await startPair(protocol, {
                ...credentials,
                channelBindings: tlsServerEndPoint(),
              });
              try {
                const { acceptor } = await handshake(lenient);
                assert.equal(acceptor.complete, true);
              } finally {
                await closePair(lenient);
              }
            });
          }

          if (withBindings) {
            void test("the acceptor rejects an initiator whose channel bindings differ", async () => {
              const other = await startPair(
                protocol,
                { ...credentials, channelBindings: tlsServerEndPoint() },
                { channelBindings: bindings },
              );
              try {
                await assert.rejects(
                  handshake(other),
                  isPeerError("BadBindingsError", /do not match/),
                );
              } finally {
                await closePair(other);
              }
            });

            void test("the acceptor rejects an initiator that sends no channel bindings", async () => {
              const none = await startPair(protocol, credentials, { channelBindings: bindings });
              try {
                await assert.rejects(
                  handshake(none),
                  isPeerError("BadBindingsError", /not present/),
                );
              } finally {
                await closePair(none);
              }
            });
          }
        });
      }
    }

    void describe("NTLM_USER_FILE name forms and NT-hash credentials", () => {
      async function login(
        protocol: PeerProtocol,
        credentials: Omit<PeerInitOptions, "role" | "protocol">,
      ): Promise<HandshakeResult> {
        const pair = await startPair(protocol, credentials);
        try {
          return await handshake(pair);
        } finally {
          await closePair(pair);
        }
      }

      for (const protocol of ["ntlm", "negotiate"] as const) {
        void test(`${protocol}: DOMAIN\\user matches a DOMAIN:user:password line`, async () => {
          const { acceptor } = await login(protocol, USERS.domain);
          assert.equal(acceptor.clientPrincipal, "WINRMTEST\\alice");
        });

        void test(`${protocol}: a UPN travels with an empty domain and matches a :user@domain:password line`, async () => {
          const { acceptor } = await login(protocol, USERS.upn);
          assert.equal(acceptor.clientPrincipal, "bob@winrm.example");
        });

        void test(`${protocol}: a bare user matches a :user:password line`, async () => {
          const { acceptor } = await login(protocol, USERS.bare);
          assert.equal(acceptor.clientPrincipal, "carol");
        });
      }

      void test("user and domain match case-insensitively", async () => {
        const { acceptor } = await login("ntlm", {
          username: "winrmtest\\ALICE",
          password: USERS.domain.password,
        });
        assert.equal(acceptor.complete, true);
      });

      void test("a bare user does not match a DOMAIN:user line", async () => {
        await assert.rejects(
          login("ntlm", { username: "frank", password: "Frank's pass 4!" }),
          isPeerError("SpnegoError", /Failed to find any matching credential/),
        );
      });

      void test("an initiator holding only the NT hash (MS-NLMP 4.2.2.1.2) logs in like the password", async () => {
        const { acceptor } = await login("ntlm", {
          username: USERS.hashed.username,
          ntHash: SPEC_PASSWORD_NT_HASH,
        });
        assert.equal(acceptor.clientPrincipal, "WINRMTEST\\dave");
      });

      void test("an smbpasswd line holding only the NT hash accepts the password", async () => {
        const { acceptor } = await login("negotiate", {
          username: "WINRMTEST\\erin",
          password: SPEC_PASSWORD,
        });
        assert.equal(acceptor.clientPrincipal, "WINRMTEST\\erin");
      });
    });

    void describe("peer process behaviour", () => {
      void test("an operation before init answers as a PeerError and the peer keeps serving", async () => {
        const peer = new PyspnegoPeer();
        try {
          await assert.rejects(peer.wrap(10), isPeerError("PeerProtocolError", /send init first/));
          await assert.rejects(
            peer.request({ op: "noSuchOp" }),
            isPeerError("PeerProtocolError", /unknown op/),
          );
          await assert.rejects(
            peer.init({ role: "initiate", protocol: "ntlm", username: "u", ntHash: "abc" }),
            isPeerError("ValueError", /ntHash/),
          );
          await peer.init({ role: "initiate", protocol: "ntlm", username: "u", password: "p" });
          const first = await peer.step();
          assert.equal(first.complete, false);
          assert.equal(first.token?.subarray(0, 8).toString("latin1"), "NTLMSSP\0");
        } finally {
          await peer.close();
        }
      });

      void test("an acceptor without NTLM_USER_FILE fails init with OperationNotAvailableError", async () => {
        const peer = new PyspnegoPeer({ env: { NTLM_USER_FILE: "" } });
        try {
          await assert.rejects(
            peer.init({ role: "accept", protocol: "ntlm" }),
            isPeerError(/OperationNotAvailableError/, /NTLM_USER_FILE/),
          );
        } finally {
          await peer.close();
        }
      });

      void test("a peer that dies rejects the queued requests and every later one", async () => {
        const peer = new PyspnegoPeer();
        try {
          await peer.init({ role: "initiate", protocol: "ntlm", username: "u", password: "p" });
          const pid = peer.pid;
          assert.ok(pid !== undefined);
          const queued = [peer.wrap(1), peer.sessionKey(), peer.step()];
          process.kill(pid, "SIGKILL");
          for (const request of queued) {
            await assert.rejects(request, /pyspnego peer/);
          }
          // Which the harness notices first, the exit or the broken pipe, is a race.
          await assert.rejects(
            peer.sessionKey(),
            /pyspnego peer (exited with signal SIGKILL|stdin: write EPIPE)/,
          );
        } finally {
          await peer.close();
        }
      });

      void test("close() lets the peer exit on end of input", async () => {
        const peer = new PyspnegoPeer();
        await peer.init({ role: "initiate", protocol: "negotiate", username: "u", password: "p" });
        await peer.close();
        await assert.rejects(peer.sessionKey(), /closed/);
      });
    });
  });
}
