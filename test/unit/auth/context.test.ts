import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import {
  AuthProtocol,
  createInitiator,
  type SecurityContext,
} from "../../../provider/auth/context";
import { type AcceptorContext, createAcceptor } from "../../../provider/auth/acceptor-context";
import type { ChannelBindingPolicy } from "../../../provider/auth/ntlm/context";
import { userTable } from "../../../provider/auth/credentials";
import { ntHash } from "../../../provider/auth/ntlm/crypto";
import { AuthenticationError, IntegrityError } from "../../../provider/errors";

const USERS = userTable([
  { domain: "CORP", user: "alice", password: "S3cret!" },
  { user: "bob", password: "hunter2" },
  { domain: "EXAMPLE.COM", user: "carol", password: "pässwörd" },
]);

/** Runs the token exchange to completion, the way the HTTP transport will. */
async function handshake(initiator: SecurityContext, acceptor: AcceptorContext): Promise<number> {
  let token = await initiator.step();
  let rounds = 0;
  while (token !== undefined) {
    rounds++;
    const reply = await acceptor.step(token);
    if (reply === undefined) break;
    token = await initiator.step(reply);
  }
  return rounds;
}

function exchange(initiator: SecurityContext, acceptor: SecurityContext, count: number): void {
  for (let n = 0; n < count; n++) {
    const up = randomBytes(n * 101);
    const sealed = initiator.wrap(up);
    assert.deepEqual(acceptor.unwrap(sealed.header, sealed.data), up);
    const down = randomBytes(n * 57 + 3);
    const back = acceptor.wrap(down);
    assert.deepEqual(initiator.unwrap(back.header, back.data), down);
  }
}

describe("initiator and acceptor agree", () => {
  const forms = [
    ["down-level DOMAIN\\user", "CORP\\alice", "S3cret!", "alice", "CORP"],
    ["UPN user@domain", "carol@example.com", "pässwörd", "carol@example.com", ""],
    ["bare user", "bob", "hunter2", "bob", ""],
  ] as const;
  for (const protocol of [AuthProtocol.NEGOTIATE, AuthProtocol.NTLM]) {
    for (const [form, user, password, expectedUser, expectedDomain] of forms) {
      test(`${protocol}, ${form}`, async () => {
        const initiator = createInitiator({
          protocol,
          user,
          secret: { password },
          targetName: "HTTP/localhost",
        });
        const acceptor = createAcceptor({ credentials: USERS });
        await handshake(initiator, acceptor);
        assert.ok(initiator.complete && acceptor.complete);
        assert.equal(acceptor.protocol, protocol);
        assert.deepEqual(
          { user: acceptor.identity.user, domain: acceptor.identity.domain },
          { user: expectedUser, domain: expectedDomain },
        );
        exchange(initiator, acceptor, 20);
      });
    }
  }

  test("an NT hash authenticates like the password it was made from", async () => {
    const good = createInitiator({
      user: "bob",
      secret: { ntHash: ntHash("hunter2").toString("hex") },
    });
    const acceptor = createAcceptor({ credentials: USERS });
    await handshake(good, acceptor);
    exchange(good, acceptor, 3);

    const bad = createInitiator({ user: "bob", secret: { ntHash: ntHash("hunter3") } });
    await assert.rejects(
      handshake(bad, createAcceptor({ credentials: USERS })),
      AuthenticationError,
    );
  });
});

describe("refusals are AuthenticationErrors", () => {
  test("wrong password and unknown user, without leaking the password", async () => {
    for (const [user, password] of [
      ["CORP\\alice", "wrong"],
      ["mallory", "S3cret!"],
    ] as const) {
      const acceptor = createAcceptor({ credentials: USERS });
      await assert.rejects(
        handshake(createInitiator({ user, secret: { password } }), acceptor),
        (error: unknown) => {
          assert.ok(error instanceof AuthenticationError);
          assert.ok(!error.message.includes(password));
          return true;
        },
      );
      assert.equal(acceptor.complete, false);
    }
  });

  test("wrap before the handshake completes is refused", () => {
    const initiator = createInitiator({ user: "bob", secret: { password: "hunter2" } });
    assert.throws(() => initiator.wrap(Buffer.from("early")), AuthenticationError);
  });

  test("a tampered sealed message fails verification on either side", async () => {
    const initiator = createInitiator({ user: "bob", secret: { password: "hunter2" } });
    const acceptor = createAcceptor({ credentials: USERS });
    await handshake(initiator, acceptor);
    const sealed = initiator.wrap(Buffer.from("payload"));
    sealed.data[2]! ^= 0x80;
    assert.throws(() => acceptor.unwrap(sealed.header, sealed.data), IntegrityError);
    const back = acceptor.wrap(Buffer.from("reply"));
    back.header[5]! ^= 1;
    assert.throws(() => initiator.unwrap(back.header, back.data), IntegrityError);
  });

  test("an acceptor limited to SPNEGO refuses raw NTLM", async () => {
    const acceptor = createAcceptor({ credentials: USERS, protocols: [AuthProtocol.NEGOTIATE] });
    const initiator = createInitiator({
      protocol: "ntlm",
      user: "bob",
      secret: { password: "hunter2" },
    });
    await assert.rejects(handshake(initiator, acceptor), AuthenticationError);
  });
});

describe("channel bindings (CbtHardeningLevel)", () => {
  const tls = Buffer.concat([Buffer.from("tls-server-end-point:"), randomBytes(32)]);
  const other = Buffer.concat([Buffer.from("tls-server-end-point:"), randomBytes(32)]);
  const cases: Array<[ChannelBindingPolicy, Buffer | undefined, boolean]> = [
    ["strict", tls, true],
    ["strict", undefined, false],
    ["strict", other, false],
    ["relaxed", tls, true],
    ["relaxed", undefined, true],
    ["relaxed", other, false],
    ["none", other, true],
  ];
  for (const [policy, sent, accepted] of cases) {
    const label = sent === tls ? "matching" : sent === undefined ? "no" : "mismatched";
    test(`${policy}: ${label} binding is ${accepted ? "accepted" : "refused"}`, async () => {
      const initiator = createInitiator({
        user: "bob",
        secret: { password: "hunter2" },
        channelBindings: sent,
      });
      const acceptor = createAcceptor({
        credentials: USERS,
        channelBindings: tls,
        channelBindingPolicy: policy,
      });
      if (accepted) {
        await handshake(initiator, acceptor);
        exchange(initiator, acceptor, 2);
      } else {
        await assert.rejects(handshake(initiator, acceptor), /channel binding/);
      }
    });
  }
});
