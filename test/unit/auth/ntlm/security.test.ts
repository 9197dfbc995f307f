import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { NtlmSession } from "../../../../provider/auth/ntlm/security";
import { IntegrityError } from "../../../../provider/errors";
import { COMMON, NTLMV2 } from "../../../vectors/ms-nlmp";

function pair(): [NtlmSession, NtlmSession] {
  return [
    new NtlmSession(COMMON.randomSessionKey, NTLMV2.challengeFlags, "initiator"),
    new NtlmSession(COMMON.randomSessionKey, NTLMV2.challengeFlags, "acceptor"),
  ];
}

describe("NTLM session security (MS-NLMP 3.4, vector 4.2.4.4)", () => {
  test('seals "Plaintext" with sequence number 0 to the published bytes and signature', () => {
    const [client] = pair();
    const { sealed, signature } = client.seal(NTLMV2.plaintext);
    assert.deepEqual(sealed, NTLMV2.sealedData);
    assert.deepEqual(signature, NTLMV2.signature);
  });

  test("the acceptor unseals the published message", () => {
    const [, server] = pair();
    assert.deepEqual(server.unseal(NTLMV2.sealedData, NTLMV2.signature), NTLMV2.plaintext);
    assert.deepEqual(server.sequence, { outbound: 0, inbound: 1 });
  });

  test("each direction keeps its own keystream and counter across many messages", () => {
    const [client, server] = pair();
    for (let n = 0; n < 50; n++) {
      const up = randomBytes(n * 37);
      const down = randomBytes(n * 53 + 1);
      const a = client.seal(up);
      const b = server.seal(down);
      assert.deepEqual(server.unseal(a.sealed, a.signature), up);
      assert.deepEqual(client.unseal(b.sealed, b.signature), down);
      assert.equal(a.signature.readUInt32LE(12), n);
    }
    const sig = client.sign(Buffer.from("mic"));
    server.verify(Buffer.from("mic"), sig);
  });

  test("a tampered, replayed or reordered message fails with IntegrityError", () => {
    const [client, server] = pair();
    const first = client.seal(Buffer.from("first"));
    const second = client.seal(Buffer.from("second"));
    assert.throws(() => server.unseal(second.sealed, second.signature), IntegrityError);

    const [c2, s2] = pair();
    const message = c2.seal(Buffer.from("hello"));
    message.sealed[0]! ^= 1;
    assert.throws(() => s2.unseal(message.sealed, message.signature), IntegrityError);

    const [c3, s3] = pair();
    const once = c3.seal(Buffer.from("once"));
    s3.unseal(once.sealed, once.signature);
    assert.throws(() => s3.unseal(once.sealed, once.signature), IntegrityError);
    assert.ok(first.sealed.length > 0);
  });

  test("open decrypts at once and checks later: the check is unseal's, whatever came between", () => {
    const [client, server] = pair();
    const messages = [randomBytes(70_000), randomBytes(10), randomBytes(3000)];
    const sealed = messages.map((message) => client.seal(message));
    sealed[1]!.signature[6]! ^= 0x10; // the second one's checksum altered on the way
    // Opened one after another before any check, as a reader asking for more does.
    const opened = sealed.map(({ sealed: data, signature }) =>
      server.open(Buffer.from(data), signature),
    );
    assert.deepEqual(opened[2]!.message, messages[2]);
    opened[2]!.verify();
    assert.throws(() => opened[1]!.verify(), IntegrityError);
    opened[0]!.verify();
    // The keystream and counter went on as unseal's would: the next message unseals.
    const next = client.seal(Buffer.from("next"));
    assert.deepEqual(server.unseal(next.sealed, next.signature), Buffer.from("next"));
    // A message altered in its data opens to altered plaintext, which its check refuses.
    const [c2, s2] = pair();
    const altered = c2.seal(Buffer.from("hello"));
    altered.sealed[0]! ^= 1;
    const wrong = s2.open(altered.sealed, altered.signature);
    assert.notDeepEqual(wrong.message, Buffer.from("hello"));
    assert.throws(() => wrong.verify(), IntegrityError);
  });

  test("resetting one direction's keystream keeps the sequence number", () => {
    const [client, server] = pair();
    const mic = client.sign(Buffer.from("mechTypes"));
    server.verify(Buffer.from("mechTypes"), mic);
    client.resetKeystreams("outbound");
    server.resetKeystreams("inbound");
    const sealed = client.seal(Buffer.from("after reset"));
    assert.equal(sealed.signature.readUInt32LE(12), 1);
    assert.deepEqual(server.unseal(sealed.sealed, sealed.signature), Buffer.from("after reset"));
  });
});
