// Every fault injection switch of the loopback host, shown to do what it says.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, beforeEach, describe, test } from "node:test";
import { type Host, LogKind, startHost } from "../../host";
import { createInitiator } from "../../../provider/auth/context";
import {
  attributeOf,
  ConnectionClosedError,
  element,
  handshake,
  IDENTIFY,
  RawConnection,
  TestSession,
} from "./support";

/** Resolves "refused" or "connected" for one TCP connection attempt. */
function tryConnect(port: number): Promise<"refused" | "connected"> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNREFUSED") resolve("refused");
      else reject(error);
    });
  });
}

describe("loopback host: fault injection", () => {
  let host: Host;
  before(async () => {
    host = await startHost();
  });
  beforeEach(() => {
    host.faults.reset();
    host.log.clear();
  });
  after(() => host.close());

  test("dropConnectionOnRequest(n): the Nth message gets no response, the connection closes", async () => {
    const session = await TestSession.connect(host);
    host.faults.dropConnectionOnRequest(2);
    assert.equal((await session.soap(IDENTIFY)).status, 200);
    await assert.rejects(session.soap(IDENTIFY), (error: Error) => {
      assert.ok(error instanceof ConnectionClosedError);
      assert.equal(error.received.length, 0);
      return true;
    });
    assert.equal(
      host.log.entries(LogKind.FAULT_INJECTED)[0]?.detail,
      "connection dropped on request",
    );
    // One-shot: a new connection works.
    const again = await TestSession.connect(host);
    assert.equal((await again.soap(IDENTIFY)).status, 200);
    again.close();
  });

  test("handshake legs are not counted as requests", async () => {
    host.faults.dropConnectionOnRequest(1);
    const session = await TestSession.connect(host); // two empty-body legs: not dropped
    await assert.rejects(session.soap(IDENTIFY), ConnectionClosedError);
  });

  test("dropConnectionAfterResponseBytes(n): the response stops after n bytes", async () => {
    const session = await TestSession.connect(host);
    host.faults.dropConnectionAfterResponseBytes(30);
    await assert.rejects(session.soap(IDENTIFY), (error: Error) => {
      assert.ok(error instanceof ConnectionClosedError);
      assert.equal(error.received.length, 30);
      assert.match(error.received.toString("latin1"), /^HTTP\/1\.1 200 OK\r\n/);
      return true;
    });
    assert.equal(
      host.log.entries(LogKind.FAULT_INJECTED)[0]?.detail,
      "response cut after 30 bytes",
    );
  });

  test("delayResponses(ms): responses wait, until reset", async () => {
    const session = await TestSession.connect(host);
    try {
      host.faults.delayResponses(400);
      let started = Date.now();
      assert.equal((await session.soap(IDENTIFY)).status, 200);
      assert.ok(Date.now() - started >= 390, `${Date.now() - started} ms`);
      // After reset, a delay set before it is gone: a minute's delay would be unmistakable, so
      // the bound below holds on any machine however loaded (no timing race either way).
      host.faults.delayResponses(60_000);
      host.faults.reset();
      started = Date.now();
      assert.equal((await session.soap(IDENTIFY)).status, 200);
      assert.ok(Date.now() - started < 30_000, `${Date.now() - started} ms after reset`);
    } finally {
      session.close();
    }
  });

  test("respondWithStatus(n, status): the Nth message gets that status; sealing stays in step", async () => {
    const session = await TestSession.connect(host);
    try {
      host.faults.respondWithStatus(2, 503);
      assert.equal((await session.soap(IDENTIFY)).status, 200);
      const failed = await session.soap(IDENTIFY);
      assert.equal(failed.status, 503);
      assert.equal(failed.xml, "");
      assert.equal((await session.soap(IDENTIFY)).status, 200, "the sequence numbers still agree");
      assert.equal(host.log.entries(LogKind.FAULT_INJECTED)[0]?.detail, "HTTP 503");
    } finally {
      session.close();
    }
  });

  test("respondWithFault(n, fault): the Nth message gets that WS-Management fault, sealed", async () => {
    const session = await TestSession.connect(host);
    try {
      host.faults.respondWithFault(1, {
        code: 2150858793,
        subcode: "w:TimedOut",
        message: "injected timeout",
      });
      const response = await session.soap(IDENTIFY);
      assert.equal(response.status, 500);
      assert.equal(response.sealed, true);
      assert.match(response.xml, /<s:Value>w:TimedOut<\/s:Value>/);
      assert.equal(attributeOf(response.xml, "WSManFault", "Code"), "2150858793");
      assert.equal(element(response.xml, "Message"), "injected timeout");
      assert.equal((await session.soap(IDENTIFY)).status, 200);
    } finally {
      session.close();
    }
  });

  test("forgetSecurityContexts(): the next message gets 401; a new handshake on the same connection works", async () => {
    const session = await TestSession.connect(host);
    try {
      host.faults.forgetSecurityContexts();
      const refused = await session.soap(IDENTIFY);
      assert.equal(refused.status, 401);
      assert.equal(refused.sealed, false);
      assert.match(host.log.entries(LogKind.REQUEST_REFUSED)[0]?.detail ?? "", /forgotten/);
      const context = createInitiator({ user: host.user, secret: { password: host.password } });
      const completed = await handshake(session.connection, context);
      assert.equal(completed.status, 200);
      assert.equal(host.log.counters.authentications, 2);
    } finally {
      session.close();
    }
  });

  test("refuseConnectionsFor(ms): the port refuses connections, then accepts them again", async () => {
    host.faults.refuseConnectionsFor(300);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await tryConnect(host.port), "refused");
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(await tryConnect(host.port), "connected");
    const connection = await RawConnection.open(host.port);
    assert.equal(
      (await connection.post(IDENTIFY, { WSMANIDENTIFY: "unauthenticated" })).status,
      200,
    );
    connection.close();
  });

  test("reset() disarms every pending switch", async () => {
    const session = await TestSession.connect(host);
    try {
      host.faults.dropConnectionOnRequest(1);
      host.faults.respondWithStatus(1, 500);
      host.faults.respondWithFault(1, { code: 1, message: "x" });
      host.faults.dropConnectionAfterResponseBytes(1);
      host.faults.reset();
      assert.equal((await session.soap(IDENTIFY)).status, 200);
      assert.equal(host.log.counters.faultsInjected, 0);
    } finally {
      session.close();
    }
  });
});

describe("loopback host: a host still booting", () => {
  test("refuseConnectionsForMs refuses connections at first, then serves", async () => {
    const started = Date.now();
    const host = await startHost({ refuseConnectionsForMs: 400 });
    try {
      assert.equal(await tryConnect(host.port), "refused");
      while ((await tryConnect(host.port)) === "refused") {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(Date.now() - started >= 380, `${Date.now() - started} ms`);
      const session = await TestSession.connect(host);
      assert.equal((await session.soap(IDENTIFY)).status, 200);
      session.close();
    } finally {
      await host.close();
    }
  });
});
