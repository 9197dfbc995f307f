/**
 * Our NTLM and SPNEGO against pyspnego (PyPI), an implementation this project did not write,
 * in both roles: each credential form, with and without SPNEGO, with and without channel
 * bindings; then a long sealed conversation each way, and the failures that must fail.
 *
 * INTEROP_MESSAGES (default 1000) sets how many messages go each way after the first account's
 * handshake of each variant (the long conversation); the other accounts, whose handshakes
 * differ only in how the key is derived, converse for a tenth of that.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes, randomInt } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createInitiator, type SecurityContext } from "../../provider/auth/context";
import { type AcceptorContext, createAcceptor } from "../../provider/auth/acceptor-context";
import { type Secret, userTable } from "../../provider/auth/credentials";
import { ntHash } from "../../provider/auth/ntlm/crypto";
import { AuthenticationError, IntegrityError } from "../../provider/errors";
import { PeerError, peerSkipReason, PyspnegoPeer } from "./peers/pyspnego-peer";

const MESSAGES = Number(process.env.INTEROP_MESSAGES ?? 1000);
const MAX_MESSAGE = 300 * 1024;
const SIGNATURE = 16;

interface Account {
  form: string;
  /** As the client writes it. */
  name: string;
  password: string;
  /** Line of NTLM_USER_FILE (DOMAIN:USER:PASSWORD) for the pyspnego acceptor. */
  userFileLine: string;
}

const ACCOUNTS: Account[] = [
  {
    form: "DOMAIN\\user",
    name: "CORP\\alice",
    password: "S3cret!",
    userFileLine: "CORP:alice:S3cret!",
  },
  {
    form: "user@domain (UPN)",
    name: "carol@example.com",
    password: "pässwörd 🔑",
    userFileLine: ":carol@example.com:pässwörd 🔑",
  },
  { form: "bare user", name: "bob", password: "hunter2", userFileLine: ":bob:hunter2" },
];

/** Messages each way for an account: the long conversation once per variant and direction. */
const messagesFor = (account: Account) =>
  account === ACCOUNTS[0] ? MESSAGES : Math.max(10, Math.ceil(MESSAGES / 10));

const OUR_USERS = userTable([
  { domain: "CORP", user: "alice", password: "S3cret!" },
  { domain: "example.com", user: "carol", password: "pässwörd 🔑" },
  { user: "bob", password: "hunter2" },
]);

const CHANNEL_BINDINGS = Buffer.concat([Buffer.from("tls-server-end-point:"), randomBytes(32)]);
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

const skipReason = peerSkipReason();
let userFileDir = "";
let userFile = "";

before(() => {
  userFileDir = mkdtempSync(join(tmpdir(), "pulumi-winrm-ntlm-users-"));
  userFile = join(userFileDir, "users");
  writeFileSync(
    userFile,
    ACCOUNTS.map((account) => account.userFileLine).join("\n") + "\n",
    "utf8",
  );
});
after(() => rmSync(userFileDir, { recursive: true, force: true }));

function acceptorPeer(): PyspnegoPeer {
  // LM_COMPAT_LEVEL 5: the acceptor refuses LM and NTLMv1 responses, as a hardened host does.
  return new PyspnegoPeer({ env: { NTLM_USER_FILE: userFile, LM_COMPAT_LEVEL: "5" } });
}

/** Our initiator against a pyspnego acceptor, to completion on both sides. */
async function ourInitiatorHandshake(ours: SecurityContext, peer: PyspnegoPeer): Promise<void> {
  let token = await ours.step();
  let peerComplete = false;
  while (token !== undefined) {
    const reply = await peer.step(token);
    peerComplete = reply.complete;
    if (!reply.token || reply.token.length === 0) break;
    token = await ours.step(reply.token);
  }
  assert.ok(ours.complete, "our initiator completed");
  assert.ok(peerComplete, "pyspnego acceptor completed");
}

/** A pyspnego initiator against our acceptor, to completion on both sides. */
async function peerInitiatorHandshake(peer: PyspnegoPeer, ours: AcceptorContext): Promise<void> {
  let result = await peer.step();
  while (result.token && result.token.length > 0) {
    const reply = await ours.step(result.token);
    if (reply === undefined) break;
    result = await peer.step(reply);
  }
  assert.ok(ours.complete, "our acceptor completed");
  assert.ok(result.complete, "pyspnego initiator completed");
}

/** Messages of random sizes each way, interleaved, every one checked by its SHA-256. */
async function converse(ours: SecurityContext, peer: PyspnegoPeer, count: number): Promise<void> {
  for (let n = 0; n < count; n++) {
    const plaintext = randomBytes(randomInt(MAX_MESSAGE + 1));
    const sealed = ours.wrap(plaintext);
    const digest = await peer.unwrap(
      Buffer.concat([sealed.header, sealed.data]),
      sealed.header.length,
    );
    assert.equal(digest, sha256(plaintext), `message ${n} from us`);

    const theirs = await peer.wrap(randomInt(MAX_MESSAGE + 1));
    assert.equal(theirs.headerLength, SIGNATURE);
    const opened = ours.unwrap(
      theirs.wrapped.subarray(0, SIGNATURE),
      theirs.wrapped.subarray(SIGNATURE),
    );
    assert.equal(sha256(opened), theirs.sha256, `message ${n} from pyspnego`);
  }
}

function secretFor(account: Account, useHash: boolean): Secret {
  return useHash
    ? { ntHash: ntHash(account.password).toString("hex") }
    : { password: account.password };
}

describe("pyspnego interop", { skip: skipReason, timeout: 1_800_000 }, () => {
  for (const protocol of ["negotiate", "ntlm"] as const) {
    for (const bindings of [false, true]) {
      const variant = `${protocol}${bindings ? ", channel bindings" : ""}`;
      for (const account of ACCOUNTS) {
        test(`our initiator -> pyspnego acceptor: ${variant}, ${account.form}`, async () => {
          const peer = acceptorPeer();
          try {
            await peer.init({
              role: "accept",
              protocol,
              hostname: "localhost",
              channelBindings: bindings ? CHANNEL_BINDINGS : undefined,
            });
            const ours = createInitiator({
              protocol,
              user: account.name,
              secret: secretFor(account, false),
              targetName: "HTTP/localhost",
              channelBindings: bindings ? CHANNEL_BINDINGS : undefined,
            });
            await ourInitiatorHandshake(ours, peer);
            await converse(ours, peer, messagesFor(account));
          } finally {
            await peer.close();
          }
        });

        test(`pyspnego initiator -> our acceptor: ${variant}, ${account.form}`, async () => {
          const peer = new PyspnegoPeer();
          try {
            await peer.init({
              role: "initiate",
              protocol,
              username: account.name,
              password: account.password,
              hostname: "localhost",
              channelBindings: bindings ? CHANNEL_BINDINGS : undefined,
            });
            const ours = createAcceptor({
              credentials: OUR_USERS,
              channelBindings: bindings ? CHANNEL_BINDINGS : undefined,
              channelBindingPolicy: "strict",
            });
            await peerInitiatorHandshake(peer, ours);
            assert.equal(ours.protocol, protocol);
            await converse(ours, peer, messagesFor(account));
          } finally {
            await peer.close();
          }
        });
      }
    }
  }

  test("NT hashes instead of passwords, in both roles", async () => {
    const account = ACCOUNTS[0]!;
    const acceptor = acceptorPeer();
    const initiator = new PyspnegoPeer();
    try {
      await acceptor.init({ role: "accept", protocol: "negotiate", hostname: "localhost" });
      const ours = createInitiator({ user: account.name, secret: secretFor(account, true) });
      await ourInitiatorHandshake(ours, acceptor);
      await converse(ours, acceptor, 10);

      await initiator.init({
        role: "initiate",
        protocol: "negotiate",
        username: account.name,
        ntHash: ntHash(account.password).toString("hex"),
        hostname: "localhost",
      });
      const ourAcceptor = createAcceptor({ credentials: OUR_USERS });
      await peerInitiatorHandshake(initiator, ourAcceptor);
      await converse(ourAcceptor, initiator, 10);
    } finally {
      await Promise.all([acceptor.close(), initiator.close()]);
    }
  });

  describe("what must fail, fails on both sides", () => {
    const wrongCases = [
      ["a wrong password", "CORP\\alice", "not-the-password"],
      ["a wrong user", "CORP\\mallory", "S3cret!"],
    ] as const;
    for (const protocol of ["negotiate", "ntlm"] as const) {
      for (const [what, user, password] of wrongCases) {
        test(`${what} (${protocol}): pyspnego's acceptor refuses our initiator`, async () => {
          const peer = acceptorPeer();
          try {
            await peer.init({ role: "accept", protocol, hostname: "localhost" });
            const ours = createInitiator({ protocol, user, secret: { password } });
            await assert.rejects(ourInitiatorHandshake(ours, peer), (error: unknown) => {
              assert.ok(error instanceof PeerError, String(error));
              assert.match(error.pythonError, /InvalidTokenError|SpnegoError/);
              return true;
            });
          } finally {
            await peer.close();
          }
        });

        test(`${what} (${protocol}): our acceptor refuses pyspnego's initiator`, async () => {
          const peer = new PyspnegoPeer();
          try {
            await peer.init({
              role: "initiate",
              protocol,
              username: user,
              password,
              hostname: "localhost",
            });
            const ours = createAcceptor({ credentials: OUR_USERS });
            await assert.rejects(peerInitiatorHandshake(peer, ours), AuthenticationError);
            assert.equal(ours.complete, false);
          } finally {
            await peer.close();
          }
        });
      }
    }

    test("mismatched channel bindings are refused in both roles", async () => {
      const other = Buffer.concat([Buffer.from("tls-server-end-point:"), randomBytes(32)]);
      const acceptor = acceptorPeer();
      const initiator = new PyspnegoPeer();
      try {
        await acceptor.init({
          role: "accept",
          protocol: "negotiate",
          hostname: "localhost",
          channelBindings: other,
        });
        const ours = createInitiator({
          user: "bob",
          secret: { password: "hunter2" },
          channelBindings: CHANNEL_BINDINGS,
        });
        await assert.rejects(ourInitiatorHandshake(ours, acceptor), (error: unknown) => {
          assert.ok(
            error instanceof PeerError && error.pythonError === "BadBindingsError",
            String(error),
          );
          return true;
        });

        await initiator.init({
          role: "initiate",
          protocol: "negotiate",
          username: "bob",
          password: "hunter2",
          hostname: "localhost",
          channelBindings: other,
        });
        const ourAcceptor = createAcceptor({
          credentials: OUR_USERS,
          channelBindings: CHANNEL_BINDINGS,
          channelBindingPolicy: "strict",
        });
        await assert.rejects(peerInitiatorHandshake(initiator, ourAcceptor), /channel binding/);
      } finally {
        await Promise.all([acceptor.close(), initiator.close()]);
      }
    });

    test("a tampered message fails on either side", async () => {
      const peer = acceptorPeer();
      try {
        await peer.init({ role: "accept", protocol: "negotiate", hostname: "localhost" });
        const ours = createInitiator({ user: "bob", secret: { password: "hunter2" } });
        await ourInitiatorHandshake(ours, peer);
        await converse(ours, peer, 3);

        const sealed = ours.wrap(Buffer.from("transfer 100 to alice"));
        const tampered = Buffer.concat([sealed.header, sealed.data]);
        tampered[SIGNATURE + 3]! ^= 0x01;
        await assert.rejects(peer.unwrap(tampered, SIGNATURE), (error: unknown) => {
          assert.ok(
            error instanceof PeerError && error.pythonError === "BadMICError",
            String(error),
          );
          return true;
        });

        const theirs = await peer.wrapData(Buffer.from("transfer 100 to bob"));
        theirs.wrapped[theirs.wrapped.length - 1]! ^= 0x80;
        assert.throws(
          () =>
            ours.unwrap(theirs.wrapped.subarray(0, SIGNATURE), theirs.wrapped.subarray(SIGNATURE)),
          IntegrityError,
        );
      } finally {
        await peer.close();
      }
    });
  });
});
