/**
 * Attacks from the path between the client and a default-configured host (plain HTTP, NTLM,
 * message encryption): an attacker in the middle who swaps the host's sealed replies for plain
 * ones, forges faults and bare 401s, and a fake server that does not know the password. Each
 * test names the attack; each failed before its fix (issue 18, items 1 and 2).
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { type AcceptorContext, createAcceptor } from "../../provider/auth/acceptor-context";
import { userTable } from "../../provider/auth/credentials";
import { ConnectionLostError, IntegrityError } from "../../provider/errors";
import { WinRMClient } from "../../provider/winrm/client";
import { isEncryptedContentType } from "../../provider/winrm/http/encryption";
import { type Host, LogKind, startHost } from "../host";
import { httpResponse, type Proxy, startProxy } from "./support/proxy";

const SOAP = "application/soap+xml;charset=UTF-8";

/** An IdentifyResponse as Windows Server 2022 writes it: what a forger would send. */
const FORGED_IDENTIFY =
  '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
  'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"><s:Header/>' +
  "<s:Body><wsmid:IdentifyResponse>" +
  "<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd</wsmid:ProtocolVersion>" +
  "<wsmid:ProductVendor>Microsoft Corporation</wsmid:ProductVendor>" +
  "<wsmid:ProductVersion>OS: 10.0.20348 SP: 0.0 Stack: 3.0</wsmid:ProductVersion>" +
  "</wsmid:IdentifyResponse></s:Body></s:Envelope>";

/** A WS-Management fault (MS-WSMV 2.2.4.19 shape) claiming access was denied. */
const FORGED_FAULT =
  '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
  'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header/><s:Body><s:Fault>' +
  "<s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:AccessDenied</s:Value></s:Subcode></s:Code>" +
  '<s:Reason><s:Text xml:lang="en-US">Access is denied.</s:Text></s:Reason>' +
  "</s:Fault></s:Body></s:Envelope>";

const sealed = (headers: Map<string, string>) =>
  isEncryptedContentType(headers.get("content-type"));

describe("an attacker in the middle of plain HTTP", () => {
  let host: Host;
  let proxy: Proxy;
  before(async () => {
    host = await startHost();
    proxy = await startProxy(host.port);
  });
  after(async () => {
    await proxy.close();
    await host.close();
  });

  const throughProxy = () =>
    new WinRMClient({
      host: "127.0.0.1",
      port: proxy.port,
      user: host.user,
      password: host.password,
      readyTimeoutMs: 0,
    });
  const started = (marker: string) =>
    host.log
      .entries(LogKind.COMMAND_STARTED)
      .filter((entry) => entry.commandLine?.includes(marker) ?? false).length;

  test("swaps the sealed Identify reply for a plain one naming Microsoft: refused, and the forged family is never used", async () => {
    const client = throughProxy();
    let swapped = 0;
    proxy.onReply = (reply) => {
      if (!sealed(reply.headers) || swapped > 0) return "forward";
      swapped++;
      return httpResponse(200, "OK", { "Content-Type": SOAP }, FORGED_IDENTIFY);
    };
    try {
      await assert.rejects(client.scriptFamily(), (error: unknown) => {
        assert.ok(error instanceof IntegrityError, String(error));
        assert.match(error.message, /unsealed reply .*refused.*HTTPS/);
        return true;
      });
      assert.equal(swapped, 1);
      proxy.onReply = () => "forward";
      // The real answer, asked again on a fresh context: the loopback host is not Windows.
      assert.equal(await client.scriptFamily(), "posix");
    } finally {
      proxy.onReply = () => "forward";
      await client.close();
    }
  });

  test("puts a plain fault in place of the answer to a command that ran: refused, not believed", async () => {
    const client = throughProxy();
    let swapped = false;
    proxy.onReply = (reply) => {
      if (swapped || !sealed(reply.headers) || started("forged-fault-marker") === 0)
        return "forward";
      swapped = true;
      return httpResponse(500, "Internal Server Error", { "Content-Type": SOAP }, FORGED_FAULT);
    };
    try {
      await assert.rejects(client.run("echo forged-fault-marker"), (error: unknown) => {
        assert.ok(
          error instanceof IntegrityError,
          `${String(error)}: the forged fault was believed`,
        );
        return true;
      });
      assert.ok(swapped);
      assert.equal(started("forged-fault-marker"), 1);
    } finally {
      proxy.onReply = () => "forward";
      await client.close();
    }
  });

  test("answers a bare 401 to a command the host ran: the command is not sent again", async () => {
    const client = throughProxy();
    await client.run("true"); // a pooled shell, so the next request is the Command itself
    let swapped = false;
    proxy.onReply = () => {
      if (swapped || started("ran-once-marker") === 0) return "forward";
      swapped = true;
      return httpResponse(401, "Unauthorized", { "WWW-Authenticate": "Negotiate" });
    };
    try {
      await assert.rejects(client.run("echo ran-once-marker"), (error: unknown) => {
        assert.ok(error instanceof ConnectionLostError, String(error));
        assert.match(error.message, /may or may not have acted/);
        return true;
      });
      assert.ok(swapped);
      assert.equal(started("ran-once-marker"), 1, "the command ran exactly once");
      proxy.onReply = () => "forward";
      assert.equal((await client.run("echo still-usable")).stdout.toString(), "still-usable\n");
    } finally {
      proxy.onReply = () => "forward";
      await client.close();
    }
  });

  test("alters a large output reply after the client has asked for the next: refused, none of it delivered", async () => {
    const client = throughProxy();
    // A Receive reply this large is received ahead (winrs/shell.ts): the client asks for the
    // next output as soon as it has decrypted it, before checking its signature.
    const large = (reply: { statusCode: number; body: Buffer }) =>
      reply.statusCode === 200 && reply.body.length > 70 * 1024;
    let largeSeen = 0;
    let altered = false;
    proxy.onReply = (reply) => {
      if (altered || !sealed(reply.headers) || !large(reply) || ++largeSeen < 2) return "forward";
      altered = true;
      // One bit in the middle of the ciphertext: RC4 flips the same bit of the plaintext, in
      // the base64 of the output, where the reply still reads as a command running.
      const raw = Buffer.from(reply.raw);
      raw[raw.length - reply.body.length + Math.floor(reply.body.length / 2)]! ^= 0x04;
      return raw;
    };
    const followedBefore = client.followUpsSent;
    let delivered = 0;
    let nonZero = 0;
    try {
      await assert.rejects(
        client.run("head -c 8000000 /dev/zero", [], {
          maxOutputBytes: 0,
          onStdout: (chunk) => {
            delivered += chunk.length;
            for (const byte of chunk) if (byte !== 0) nonZero++;
          },
        }),
        (error: unknown) => {
          assert.ok(error instanceof IntegrityError, String(error));
          return true;
        },
      );
      assert.ok(altered, "no large reply went by");
      assert.equal(nonZero, 0, "bytes of the altered reply were delivered");
      assert.ok(delivered < 8_000_000, `${delivered} bytes delivered`);
      // The next Receive went out behind the first large reply and behind the altered one,
      // before its check: the check still came before anything was made of it.
      assert.equal(client.followUpsSent - followedBefore, 2);
      proxy.onReply = () => "forward";
      assert.equal((await client.run("echo still-usable")).stdout.toString(), "still-usable\n");
    } finally {
      proxy.onReply = () => "forward";
      await client.close();
    }
  });
});

describe("a fake server that does not know the password", () => {
  let server: Server;
  let port = 0;
  let sealedRequests = 0;
  before(async () => {
    const contexts = new WeakMap<Socket, AcceptorContext>();
    server = createServer((request: IncomingMessage, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        void (async () => {
          const authorization = request.headers.authorization ?? "";
          const body = Buffer.concat(chunks);
          if (body.length > 0) {
            // A sealed request it cannot read: it answers in plain text what it wants believed.
            sealedRequests++;
            response.writeHead(200, { "Content-Type": SOAP }).end(FORGED_IDENTIFY);
            return;
          }
          if (!authorization.startsWith("Negotiate ")) {
            response.writeHead(401, { "WWW-Authenticate": "Negotiate" }).end();
            return;
          }
          let context = contexts.get(request.socket);
          if (context === undefined) {
            // Any account will do for making a CHALLENGE: the fake never checks the answer.
            context = createAcceptor({
              credentials: userTable([{ user: "anyone", password: "not the client's" }]),
            });
            contexts.set(request.socket, context);
            const challenge = await context.step(Buffer.from(authorization.slice(10), "base64"));
            response
              .writeHead(401, { "WWW-Authenticate": `Negotiate ${challenge?.toString("base64")}` })
              .end();
            return;
          }
          response.writeHead(200).end(); // the AUTHENTICATE message, accepted unchecked
        })();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    port = address.port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("accepts any NTLM answer, then speaks plain text: identify() is refused", async () => {
    const client = new WinRMClient({
      host: "127.0.0.1",
      port,
      user: "winrm-test",
      password: "the real password",
      auth: "ntlm",
      readyTimeoutMs: 0,
    });
    try {
      await assert.rejects(client.identify(), (error: unknown) => {
        assert.ok(error instanceof IntegrityError, `${String(error)}: the fake was believed`);
        assert.ok(!String(error).includes("the real password"));
        return true;
      });
      assert.ok(sealedRequests >= 1, "the client did send its sealed Identify");
    } finally {
      await client.close();
    }
  });
});
