import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { createInitiator, type SecurityContext } from "../../../provider/auth/context";
import { createAcceptor } from "../../../provider/auth/acceptor-context";
import { userTable } from "../../../provider/auth/credentials";
import {
  decryptMessage,
  ENCRYPTED_CONTENT_TYPE,
  encryptMessage,
  isEncryptedContentType,
} from "../../../provider/winrm/http/encryption";
import { IntegrityError, ProtocolError } from "../../../provider/errors";
import { ReusableBuffers } from "../../../provider/winrm/reusable-buffers";

async function pair(): Promise<[SecurityContext, SecurityContext]> {
  const client = createInitiator({ user: "bob", secret: { password: "hunter2" } });
  const server = createAcceptor({ credentials: userTable([{ user: "bob", password: "hunter2" }]) });
  let token = await client.step();
  while (token) {
    const reply = await server.step(token);
    if (!reply) break;
    token = await client.step(reply);
  }
  return [client, server];
}

const soap = (text: string) => Buffer.from(`<s:Envelope>${text}</s:Envelope>`, "utf8");

describe("MS-WSMV 2.2.9.1 encrypted message framing", () => {
  test("frames with the boundary, OriginalContent length and a 16-byte header", async () => {
    const [client] = await pair();
    const message = soap("héllo");
    const body = encryptMessage(client, message);
    const text = body.toString("latin1");
    assert.ok(
      text.startsWith(
        "--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n",
      ),
    );
    assert.ok(
      text.includes(
        `\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=${message.length}\r\n`,
      ),
    );
    const octet = "\tContent-Type: application/octet-stream\r\n";
    const headerAt = text.indexOf(octet) + octet.length;
    assert.equal(body.readUInt32LE(headerAt), 16);
    assert.ok(text.endsWith("--Encrypted Boundary--\r\n"));
    assert.equal(
      body.length,
      headerAt + 4 + 16 + message.length + "--Encrypted Boundary--\r\n".length,
    );
    assert.ok(isEncryptedContentType(ENCRYPTED_CONTENT_TYPE));
    assert.ok(!isEncryptedContentType("application/soap+xml;charset=UTF-8"));
  });

  test("round-trips many messages both ways, including ones whose ciphertext holds the boundary", async () => {
    const [client, server] = await pair();
    for (let n = 0; n < 50; n++) {
      const up = Buffer.concat([
        soap("x"),
        randomBytes(n * 97),
        Buffer.from("--Encrypted Boundary--\r\n"),
      ]);
      assert.deepEqual(decryptMessage(server, encryptMessage(client, up)), up);
      const down = randomBytes(n * 31);
      assert.deepEqual(decryptMessage(client, encryptMessage(server, down)), down);
    }
  });

  test("tolerates missing TABs, LF line ends and a space after the dashes", async () => {
    const [client, server] = await pair();
    const message = soap("tolerant");
    const body = encryptMessage(client, message);
    const text = body.toString("latin1");
    const octet = "\tContent-Type: application/octet-stream\r\n";
    const split = text.indexOf(octet) + octet.length;
    const head = text
      .slice(0, split)
      .replace(/\t/g, "")
      .replace(/\r\n/g, "\n")
      .replace("--Encrypted", "-- Encrypted");
    const loose = Buffer.concat([
      Buffer.from(head, "latin1"),
      body.subarray(split, body.length - 24),
      Buffer.from("-- Encrypted Boundary--"),
    ]);
    assert.deepEqual(decryptMessage(server, loose), message);
  });

  test("a wrong announced length, a truncated body or a flipped bit is refused", async () => {
    const [client, server] = await pair();
    const body = encryptMessage(client, soap("exact"));
    const wrongLength = Buffer.from(
      body.toString("latin1").replace(/Length=\d+/, "Length=3"),
      "latin1",
    );
    assert.throws(() => decryptMessage(server, wrongLength), ProtocolError);
    assert.throws(() => decryptMessage(server, body.subarray(0, 150)), ProtocolError);
    const [client2, server2] = await pair();
    const flipped = encryptMessage(client2, soap("integrity"));
    flipped[flipped.length - 30]! ^= 4;
    assert.throws(() => decryptMessage(server2, flipped), IntegrityError);
  });

  test("sealing in place in the framed message gives the bytes of wrap() framed apart", async () => {
    // Two handshakes with the same nonces and clock have the same keys, so one client seals
    // in place (NTLM's wrapInto) and the other through wrap() and concatenation.
    const fixed = { randomBytes: (n: number) => Buffer.alloc(n, 7), fileTime: () => 1n << 57n };
    const deterministicPair = async () => {
      const client = createInitiator({
        user: "bob",
        secret: { password: "hunter2" },
        entropy: fixed,
      });
      const server = createAcceptor({
        credentials: userTable([{ user: "bob", password: "hunter2" }]),
        entropy: fixed,
      });
      let token = await client.step();
      while (token) {
        const reply = await server.step(token);
        if (!reply) break;
        token = await client.step(reply);
      }
      return [client, server] as const;
    };
    const [inPlace, server] = await deterministicPair();
    const [reference] = await deterministicPair();
    assert.equal(inPlace.wrapLayout?.headerLength, 16, "NTLM seals in place");
    const throughWrap: SecurityContext = Object.create(reference, {
      wrapLayout: { value: undefined },
    }) as SecurityContext;
    for (const size of [0, 1, 63, 64, 4096, 70_000, 300_001]) {
      const message = randomBytes(size);
      const framed = encryptMessage(inPlace, message);
      assert.deepEqual(framed, encryptMessage(throughWrap, message), `${size} bytes`);
      assert.deepEqual(decryptMessage(server, framed), message);
    }
  });

  test("messages sealed one after another into a reused buffer all decrypt", async () => {
    const [client, server] = await pair();
    const bodies = new ReusableBuffers(1);
    let previous: Buffer | undefined;
    for (const size of [400_000, 500_000, 120_000, 500_000]) {
      const soap = randomBytes(size);
      const framed = encryptMessage(client, soap, undefined, (n) => bodies.take(n));
      if (previous !== undefined && size <= 500_000 && framed.length <= previous.buffer.byteLength)
        assert.ok(previous.buffer === framed.buffer, `the ${size}-byte message reused the buffer`);
      // The host's copy: decryption works in place on what it received.
      assert.deepEqual(decryptMessage(server, Buffer.from(framed)), soap);
      bodies.giveBack(framed);
      previous = framed;
    }
  });
});
