// The loopback host's HTTP layer, driven byte by byte: authentication, sealing, refusals.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { createInitiator } from "../../../provider/auth/context";
import { encryptMessage, ENCRYPTED_CONTENT_TYPE } from "../../../provider/winrm/http/encryption";
import { type Host, LogKind, startHost } from "../../host";
import {
  ACTIONS,
  attributeOf,
  element,
  envelope,
  handshake,
  IDENTIFY,
  RawConnection,
  ShellDriver,
  TestSession,
} from "./support";

describe("loopback host: HTTP authentication and message encryption", () => {
  let host: Host;
  before(async () => {
    host = await startHost();
  });
  after(() => host.close());

  test("an unauthenticated request gets 401 offering Negotiate only (Basic is off by default)", async () => {
    const connection = await RawConnection.open(host.port);
    try {
      const response = await connection.post(envelope({ action: ACTIONS.create }), {
        "Content-Type": "application/soap+xml;charset=UTF-8",
      });
      assert.equal(response.status, 401);
      assert.equal(response.headers["www-authenticate"], "Negotiate");
      assert.equal(response.body.length, 0);
      assert.equal(host.log.counters.shellsCreated, 0);
    } finally {
      connection.close();
    }
  });

  test("answers an unauthenticated Identify honestly: not Microsoft, not Windows", async () => {
    const connection = await RawConnection.open(host.port);
    try {
      const response = await connection.post(IDENTIFY, {
        "Content-Type": "application/soap+xml;charset=UTF-8",
        WSMANIDENTIFY: "unauthenticated",
      });
      assert.equal(response.status, 200);
      const xml = response.body.toString("utf8");
      assert.equal(element(xml, "ProductVendor"), "pulumi-winrm loopback host");
      assert.equal(
        element(xml, "ProtocolVersion"),
        "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
      );
      assert.match(element(xml, "ProductVersion") ?? "", /^OS: (?!.*Windows)\S+ .* Stack: 3\.0$/);
      assert.equal(
        element(xml, "SecurityProfileName"),
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos",
      );
    } finally {
      connection.close();
    }
  });

  for (const protocol of ["negotiate", "ntlm"] as const) {
    test(`a ${protocol} handshake completes on empty POSTs and seals every later message`, async () => {
      host.log.clear();
      const session = await TestSession.connect(host, { protocol });
      try {
        assert.equal(session.completion.status, 200);
        if (protocol === "negotiate") {
          // SPNEGO accept-completed with mechListMIC travels in the completing response.
          assert.match(session.completion.headers["www-authenticate"] ?? "", /^Negotiate \S+$/);
        }
        const identify = await session.soap(IDENTIFY);
        assert.equal(identify.status, 200);
        assert.equal(identify.sealed, true);
        assert.equal(element(identify.xml, "ProductVendor"), "pulumi-winrm loopback host");
        const [entry] = host.log.entries(LogKind.AUTHENTICATED);
        assert.equal(entry?.user, host.user);
        assert.equal(entry?.detail, `Negotiate (${protocol}, ntlm)`);
        assert.equal(host.log.counters.sealedMessages, 1);
      } finally {
        session.close();
      }
    });
  }

  test("responses carry a:RelatesTo the request's MessageID and a fresh a:MessageID", async () => {
    const session = await TestSession.connect(host);
    try {
      const messageId = "uuid:11111111-2222-3333-4444-555555555555";
      const response = await session.soap(
        envelope({
          action: ACTIONS.create,
          messageId,
          body: "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams></rsp:Shell>",
        }),
      );
      assert.equal(response.status, 200);
      assert.equal(element(response.xml, "RelatesTo"), messageId);
      assert.match(element(response.xml, "MessageID") ?? "", /^uuid:[0-9A-F-]{36}$/);
      assert.notEqual(element(response.xml, "MessageID"), messageId);
      assert.equal(element(response.xml, "Action"), `${ACTIONS.create}Response`);
      assert.equal(attributeOf(response.xml, "Selector", "Name"), "ShellId");
    } finally {
      session.close();
    }
  });

  test("a wrong password is refused with 401 and logged", async () => {
    host.log.clear();
    const connection = await RawConnection.open(host.port);
    try {
      const context = createInitiator({ user: host.user, secret: { password: "wrong" } });
      const response = await handshake(connection, context);
      assert.equal(response.status, 401);
      assert.equal(context.complete, false);
      assert.equal(host.log.counters.authentications, 0);
      assert.match(
        host.log.entries(LogKind.AUTHENTICATION_FAILED)[0]?.detail ?? "",
        /bad password/,
      );
    } finally {
      connection.close();
    }
  });

  test("a security context belongs to its connection: a sealed message on another gets 401", async () => {
    const session = await TestSession.connect(host);
    const other = await RawConnection.open(host.port);
    try {
      const sealed = encryptMessage(session.context, Buffer.from(IDENTIFY));
      const response = await other.post(sealed, { "Content-Type": ENCRYPTED_CONTENT_TYPE });
      assert.equal(response.status, 401);
      assert.equal(response.headers["www-authenticate"], "Negotiate");
    } finally {
      session.close();
      other.close();
    }
  });

  test("plaintext SOAP after authentication is refused with HTTP 500 and an empty body", async () => {
    host.log.clear();
    const session = await TestSession.connect(host);
    try {
      const response = await session.connection.post(
        envelope({ action: ACTIONS.create, body: "<rsp:Shell/>" }),
        { "Content-Type": "application/soap+xml;charset=UTF-8" },
      );
      assert.equal(response.status, 500);
      assert.equal(response.body.length, 0);
      assert.equal(host.log.counters.shellsCreated, 0);
      assert.match(host.log.entries(LogKind.REQUEST_REFUSED)[0]?.detail ?? "", /AllowUnencrypted/);
    } finally {
      session.close();
    }
  });

  test("a tampered sealed message is rejected, and the context with it", async () => {
    host.log.clear();
    const session = await TestSession.connect(host);
    try {
      const sealed = encryptMessage(session.context, Buffer.from(IDENTIFY));
      const at = sealed.length - 40; // a ciphertext byte
      sealed[at] = sealed[at]! ^ 0x01;
      const response = await session.connection.post(sealed, {
        "Content-Type": ENCRYPTED_CONTENT_TYPE,
      });
      assert.equal(response.status, 400);
      assert.match(
        host.log.entries(LogKind.REQUEST_REFUSED)[0]?.detail ?? "",
        /sealed message rejected/,
      );
    } finally {
      session.close();
    }
  });

  test("faults are sealed too, and WS-Management faults carry Windows' shape", async () => {
    const session = await TestSession.connect(host);
    try {
      const unknownShell = await session.soap(
        envelope({
          action: ACTIONS.receive,
          shellId: "00000000-0000-0000-0000-000000000000",
          body: `<rsp:Receive><rsp:DesiredStream CommandId="X">stdout</rsp:DesiredStream></rsp:Receive>`,
        }),
      );
      assert.equal(unknownShell.status, 500);
      assert.equal(unknownShell.sealed, true);
      assert.match(
        unknownShell.xml,
        /<s:Value>s:Sender<\/s:Value><s:Subcode><s:Value>w:InvalidSelectors<\/s:Value>/,
      );
      assert.equal(attributeOf(unknownShell.xml, "WSManFault", "Code"), "2150858843");
      assert.equal(attributeOf(unknownShell.xml, "WSManFault", "Machine"), "127.0.0.1");
      assert.match(element(unknownShell.xml, "Message") ?? "", /shell was not found/);
      assert.match(element(unknownShell.xml, "Text") ?? "", /shell was not found/);

      const unsupported = await session.soap(
        envelope({ action: "http://example.com/NoSuchAction" }),
      );
      assert.equal(unsupported.status, 500);
      assert.match(unsupported.xml, /a:ActionNotSupported/);
      assert.equal(attributeOf(unsupported.xml, "WSManFault", "Code"), "2150858753");

      const wrongResource = await session.soap(
        envelope({ action: ACTIONS.create, resourceUri: "http://example.com/nothing" }),
      );
      assert.match(wrongResource.xml, /a:DestinationUnreachable/);

      const malformed = await session.soap("<s:Envelope><s:Body><unclosed></s:Body>");
      assert.equal(malformed.status, 500);
      assert.match(malformed.xml, /w:SchemaValidationError/);

      const noBody = await session.soap(
        `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/></s:Envelope>`,
      );
      assert.match(noBody.xml, /no s:Body/);

      // The session is still in step after five faults.
      assert.equal((await session.soap(IDENTIFY)).status, 200);
    } finally {
      session.close();
    }
  });

  test("a request larger than MaxEnvelopeSizekb gets w:EncodingLimit", async () => {
    const session = await TestSession.connect(host);
    const shellsBefore = host.log.counters.shellsCreated;
    try {
      const big = envelope({
        action: ACTIONS.create,
        body: `<rsp:Shell><rsp:InputStreams>${"x".repeat(500 * 1024)}</rsp:InputStreams></rsp:Shell>`,
      });
      const response = await session.soap(big);
      assert.equal(response.status, 500);
      assert.match(response.xml, /w:EncodingLimit/);
      assert.equal(attributeOf(response.xml, "WSManFault", "Code"), "2150858825");
      assert.equal(host.log.counters.shellsCreated, shellsBefore, "the request was not served");
    } finally {
      session.close();
    }
  });

  test("shells are per user, and at most MaxShellsPerUser of them (w:QuotaLimit)", async () => {
    const limited = await startHost({
      maxShellsPerUser: 2,
      users: [
        { user: "alice", password: "Alice-pw1" },
        { user: "bob", domain: "WORKGROUP", password: "Bob-pw1" },
      ],
    });
    try {
      const alice = await TestSession.connect(limited);
      const bob = await TestSession.connect(limited, {
        user: "WORKGROUP\\bob",
        password: "Bob-pw1",
      });
      const first = await ShellDriver.create(alice);
      await ShellDriver.create(alice);
      await assert.rejects(ShellDriver.create(alice), /w:QuotaLimit.*2150859173|2150859173/s);
      // Bob has his own quota, and cannot see Alice's shell.
      await ShellDriver.create(bob);
      const peek = await bob.soap(envelope({ action: ACTIONS.delete, shellId: first.shellId }));
      assert.equal(attributeOf(peek.xml, "WSManFault", "Code"), "2150858843");
      // Deleting a shell frees a slot.
      assert.equal((await first.delete()).status, 200);
      await ShellDriver.create(alice);
      alice.close();
      bob.close();
    } finally {
      await limited.close();
    }
  });

  test("at most MaxConcurrentOperationsPerUser operations at once (w:QuotaLimit)", async () => {
    const limited = await startHost({ maxConcurrentOperationsPerUser: 1 });
    try {
      const one = await TestSession.connect(limited);
      const two = await TestSession.connect(limited);
      const shell = await ShellDriver.create(one);
      const id = await shell.command("sleep 1");
      const waiting = shell.receive(id, { operationTimeout: "PT5S" });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const refused = await two.soap(envelope({ action: ACTIONS.create, body: "<rsp:Shell/>" }));
      assert.equal(refused.status, 500);
      assert.equal(attributeOf(refused.xml, "WSManFault", "Code"), "2150859174");
      assert.equal((await waiting).status, 200);
      one.close();
      two.close();
    } finally {
      await limited.close();
    }
  });
});

describe("loopback host: Basic authentication", () => {
  test("Basic over HTTP needs both Basic and AllowUnencrypted, as on Windows", async () => {
    const basicOnly = await startHost({ basic: true });
    const both = await startHost({ basic: true, allowUnencrypted: true });
    try {
      const tryBasic = async (host: Host) => {
        const connection = await RawConnection.open(host.port);
        try {
          return await connection.post(IDENTIFY, {
            Authorization: `Basic ${Buffer.from(`${host.user}:${host.password}`).toString("base64")}`,
            "Content-Type": "application/soap+xml;charset=UTF-8",
          });
        } finally {
          connection.close();
        }
      };
      const refused = await tryBasic(basicOnly);
      assert.equal(refused.status, 401);
      assert.equal(
        refused.headers["www-authenticate"],
        "Negotiate",
        "Basic is not offered on HTTP",
      );
      assert.match(
        basicOnly.log.entries(LogKind.AUTHENTICATION_FAILED)[0]?.detail ?? "",
        /AllowUnencrypted/,
      );
      const accepted = await tryBasic(both);
      assert.equal(accepted.status, 200);
      assert.equal(
        element(accepted.body.toString(), "ProductVendor"),
        "pulumi-winrm loopback host",
      );
    } finally {
      await Promise.all([basicOnly.close(), both.close()]);
    }
  });
});

describe("loopback host: HTTPS and channel binding", () => {
  for (const keyType of ["rsa", "ec"] as const) {
    test(`CbtHardeningLevel strict accepts the right binding and refuses none (${keyType})`, async () => {
      const host = await startHost({ https: keyType, cbtHardeningLevel: "strict" });
      try {
        assert.match(host.url, /^https:\/\/127\.0\.0\.1:\d+\/wsman$/);
        const bound = await TestSession.connect(host, { ca: host.caCertificatePem! });
        assert.deepEqual(bound.connection.peerCertificateDer, host.certificateDer);
        // Over TLS plaintext SOAP is fine: TLS protects it.
        const plain = await bound.connection.post(IDENTIFY, {
          "Content-Type": "application/soap+xml;charset=UTF-8",
        });
        assert.equal(plain.status, 200);
        bound.close();
        await assert.rejects(
          TestSession.connect(host, { ca: host.caCertificatePem!, channelBindings: false }),
          /handshake failed with HTTP 401/,
        );
      } finally {
        await host.close();
      }
    });
  }

  test("CbtHardeningLevel relaxed accepts a client that sends no binding", async () => {
    const host = await startHost({ https: "rsa" });
    try {
      const session = await TestSession.connect(host, {
        ca: host.caCertificatePem!,
        channelBindings: false,
      });
      assert.equal((await session.soap(IDENTIFY)).status, 200);
      session.close();
    } finally {
      await host.close();
    }
  });
});

describe("loopback host: keep-alive", () => {
  // A client may send its next request as soon as it has read a reply, before the host's HTTP
  // server has seen that reply's write finish; the second reply is then queued behind the
  // first. Pipelining two requests makes that order certain: both must be answered, in order.
  test("answers a request that arrives before the previous reply has finished", async () => {
    const host = await startHost();
    const socket = connect(host.port, "127.0.0.1");
    try {
      const request = (id: string) =>
        `POST /wsman?id=${id} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n`;
      let received = "";
      const twoReplies = new Promise<void>((resolve, reject) => {
        socket.on("data", (chunk: Buffer) => {
          received += chunk.toString("latin1");
          if ((received.match(/^HTTP\/1\.1 401 /gm) ?? []).length === 2) resolve();
        });
        socket.once("error", reject);
        socket.once("close", () => reject(new Error(`closed after: ${JSON.stringify(received)}`)));
      });
      await new Promise<void>((resolve) => socket.once("connect", resolve));
      socket.write(request("first") + request("second"));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`only this arrived in 5 s: ${JSON.stringify(received)}`)),
          5000,
        );
      });
      await Promise.race([twoReplies, timeout]).finally(() => clearTimeout(timer));
      assert.equal(host.log.counters.requests, 2);
    } finally {
      socket.destroy();
      await host.close();
    }
  });
});
