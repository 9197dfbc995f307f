/**
 * The client against a loopback host that misbehaves on purpose: dropped connections, a host
 * that forgets its security contexts, slow commands, a host still booting, and a per-user
 * shell quota exhausted by parallel callers. The rule throughout: output arrives complete and
 * in order or the call fails with a clear error; nothing hangs; no command runs twice.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { ConnectionLostError, HostUnreachableError } from "../../provider/errors";
import { clientFor } from "./support";
import { seqOutputSha256 } from "../support/seq-output";
import { type Host, LogKind, startHost } from "../host";

function startedCommands(host: Host, marker: string): number {
  return host.log
    .entries()
    .filter(
      (entry) => entry.kind === LogKind.COMMAND_STARTED && entry.commandLine?.includes(marker),
    ).length;
}

describe("client fault handling against the loopback host", () => {
  let host: Host;
  before(async () => {
    host = await startHost({ maxShellsPerUser: 2 });
  });
  after(() => host.close());

  test("a connection dropped on a Receive: the output still arrives complete, the command ran once", async () => {
    const client = clientFor(host);
    try {
      await client.run("true"); // authenticated, with a pooled shell
      host.faults.reset();
      // Message 1 is the Command, message 2 the first Receive.
      host.faults.dropConnectionOnRequest(2);
      const result = await client.run("sleep 0.3; seq 1 5000; echo drop-receive-marker");
      assert.equal(result.exitCode, 0);
      const lines = result.stdout.toString().trim().split("\n");
      assert.equal(lines.length, 5001);
      assert.equal(lines[4999], "5000");
      assert.equal(startedCommands(host, "drop-receive-marker"), 1);
    } finally {
      host.faults.reset();
      await client.close();
    }
  });

  test("a Receive response lost after the host sent part of it is replayed, not lost", async () => {
    const client = clientFor(host);
    try {
      await client.run("true");
      host.faults.reset();
      let armed = false;
      const result = await client.run(
        "echo first; sleep 0.5; seq 1 2000; echo lost-response-marker",
        [],
        {
          onStdout: () => {
            if (armed) return;
            armed = true;
            // The next message is a Receive; its response is cut off after 300 bytes.
            host.faults.dropConnectionAfterResponseBytes(300);
          },
        },
      );
      const lines = result.stdout.toString().trim().split("\n");
      assert.equal(lines[0], "first");
      assert.equal(lines.length, 2002);
      assert.equal(lines[2000], "2000");
      assert.equal(lines[2001], "lost-response-marker");
      assert.ok(host.log.counters.faultsInjected >= 1, "the response really was cut");
      assert.equal(startedCommands(host, "lost-response-marker"), 1);
    } finally {
      host.faults.reset();
      await client.close();
    }
  });

  test("a Receive sent ahead whose response is lost is replayed: a large output arrives whole and in order", async () => {
    const client = clientFor(host);
    try {
      await client.run("true");
      host.faults.reset();
      const received = createHash("sha256");
      let chunks = 0;
      let aheadAtCut = -1;
      const result = await client.run("seq 1 2000000; echo ahead-cut-marker", [], {
        maxOutputBytes: 0,
        onStdout: (chunk) => {
          received.update(chunk);
          if (++chunks !== 3) return;
          // The output comes in replies of hundreds of kilobytes, each Receive sent behind the
          // one before (winrs/shell.ts): the next response written is cut after 300 bytes.
          aheadAtCut = client.followUpsSent;
          host.faults.dropConnectionAfterResponseBytes(300);
        },
      });
      assert.equal(result.exitCode, 0);
      assert.equal(
        received.digest("hex"),
        seqOutputSha256(2_000_000, "ahead-cut-marker\n"),
        "stdout whole and in order",
      );
      assert.ok(aheadAtCut > 0, `${aheadAtCut} Receives sent ahead before the cut`);
      assert.ok(host.log.counters.faultsInjected >= 1, "the response really was cut");
      assert.equal(startedCommands(host, "ahead-cut-marker"), 1);
    } finally {
      host.faults.reset();
      await client.close();
    }
  });

  test("a connection dropped on a Command fails clearly and never runs it twice", async () => {
    const client = clientFor(host);
    try {
      await client.run("true");
      host.faults.reset();
      host.faults.dropConnectionOnRequest(1);
      await assert.rejects(client.run("echo drop-command-marker"), ConnectionLostError);
      assert.ok(startedCommands(host, "drop-command-marker") <= 1);
      // The client recovers for the next call.
      const next = await client.run("echo recovered");
      assert.equal(next.stdout.toString(), "recovered\n");
    } finally {
      host.faults.reset();
      await client.close();
    }
  });

  test("a 401 mid-session (a host that forgot its contexts): the command is not repeated; the next call re-authenticates", async () => {
    const client = clientFor(host);
    try {
      await client.run("true");
      const before = host.log.counters.authentications;
      host.faults.forgetSecurityContexts();
      // A bare 401 is not sealed: it could come from the host or from anyone on the path, so
      // it says nothing certain about whether the command ran. It is not sent again.
      await assert.rejects(client.run("echo after-401-marker"), (error: unknown) => {
        assert.ok(error instanceof ConnectionLostError, String(error));
        assert.match(error.message, /HTTP 401 .* must not run twice .* not repeated/);
        return true;
      });
      assert.equal(startedCommands(host, "after-401-marker"), 0, "this host refused it unread");
      const result = await client.run("echo after-401-rerun");
      assert.equal(result.stdout.toString(), "after-401-rerun\n");
      assert.ok(host.log.counters.authentications > before, "a fresh handshake happened");
      assert.equal(startedCommands(host, "after-401-rerun"), 1);
    } finally {
      await client.close();
    }
  });

  test("InvalidSelectors about a CommandId keeps the shell; close() deletes it and waits for the Delete", async () => {
    const client = clientFor(host);
    await client.run("true"); // a pooled shell: the next message is the Command
    const before = host.log.counters;
    host.faults.respondWithFault(1, {
      code: 2150858843,
      subcode: "w:InvalidSelectors",
      message:
        "The WS-Management service cannot process the request because the CommandId is invalid.",
    });
    await assert.rejects(client.run("echo never-runs"), /InvalidSelectors|CommandId is invalid/);
    assert.equal((await client.run("echo same-shell")).stdout.toString(), "same-shell\n");
    assert.equal(host.log.counters.shellsCreated, before.shellsCreated, "the shell was kept");
    await client.close();
    assert.equal(
      host.log.counters.shellsDeleted - before.shellsDeleted,
      1,
      "the shell was deleted before close() returned",
    );
  });

  test("InvalidSelectors saying the shell is gone drops it without a Delete and runs the command once in a new shell", async () => {
    // A host of its own: the shells said to be gone here are alive on it (an injected fault),
    // and would count against the shared host's small quota.
    const host = await startHost();
    const client = clientFor(host);
    const goneFault = {
      code: 2150858843,
      subcode: "w:InvalidSelectors",
      message:
        "The request for the Windows Remote Shell with ShellId 00000000-0000-0000-0000-000000000000 " +
        "failed because the shell was not found on the server.",
    };
    try {
      await client.run("true");
      const before = host.log.counters;
      host.faults.respondWithFault(1, goneFault);
      // The host refused the Command, so the command did not run: it runs in a fresh shell.
      const result = await client.run("echo gone-shell-retried");
      assert.equal(result.stdout.toString(), "gone-shell-retried\n");
      assert.equal(startedCommands(host, "gone-shell-retried"), 1);
      assert.equal(host.log.counters.shellsCreated - before.shellsCreated, 1);
      assert.equal(
        host.log.counters.shellsDeleted,
        before.shellsDeleted,
        "no Delete for a gone shell",
      );
      // Only once: a fresh shell that is gone as well fails the command.
      host.faults.respondWithFault(1, goneFault);
      host.faults.respondWithFault(3, goneFault); // message 2 creates the fresh shell
      await assert.rejects(client.run("echo never-runs"), /shell was not found/);
      assert.equal(startedCommands(host, "never-runs"), 0);
      assert.equal((await client.run("echo new-shell")).stdout.toString(), "new-shell\n");
    } finally {
      await client.close();
      await host.close();
    }
  });

  test("a slow command spans many OperationTimeouts", async () => {
    const client = clientFor(host, { operationTimeout: 1 });
    try {
      const started = Date.now();
      const result = await client.run("sleep 3.5; echo finally");
      assert.equal(result.stdout.toString(), "finally\n");
      assert.ok(Date.now() - started >= 3000);
    } finally {
      await client.close();
    }
  });

  test("parallel callers beyond MaxShellsPerUser queue instead of failing", async () => {
    const client = clientFor(host, { maxShells: 6 });
    try {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, n) => client.run(`sleep 0.2; echo caller-${n}`)),
      );
      results.forEach((result, n) => assert.equal(result.stdout.toString(), `caller-${n}\n`));
    } finally {
      await client.close();
    }
  });
});

describe("a host that refuses sub-second OperationTimeouts", () => {
  let host: Host;
  before(async () => {
    host = await startHost({ wholeSecondTimeoutsOnly: true });
  });
  after(() => host.close());

  const batch = async (client: ReturnType<typeof clientFor>, tag: string) => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, n) => client.run(`sleep 0.3; echo ${tag}-${n}`)),
    );
    results.forEach((result, n) => assert.equal(result.stdout.toString(), `${tag}-${n}\n`));
  };

  test("brief Receives fall back to whole seconds once, and output is complete", async () => {
    // One connection shared by six commands: contended, so Receives ask for PT0.100S first.
    const client = clientFor(host, { maxConnections: 4, maxShells: 6 });
    try {
      const faults = () =>
        host.log.entries().filter((entry) => entry.kind === LogKind.FAULT).length;
      await batch(client, "whole-seconds");
      const refused = faults();
      assert.ok(refused >= 1, "the host never saw a fractional OperationTimeout");
      assert.ok(refused <= 6, `${refused} refusals: each Receive should fall back at most once`);
      // Learnt for this host: the next batch sends no fractional timeout at all.
      await batch(client, "remembered");
      assert.equal(faults(), refused);
    } finally {
      await client.close();
    }
  });
});

describe("a host that is still booting", () => {
  test("is waited for within readyTimeoutMs", async () => {
    const host = await startHost({ refuseConnectionsForMs: 1500 });
    const client = clientFor(host, { readyTimeoutMs: 15_000 });
    try {
      const result = await client.run("echo booted");
      assert.equal(result.stdout.toString(), "booted\n");
    } finally {
      await client.close();
      await host.close();
    }
  });

  test("fails with the last cause beyond readyTimeoutMs", async () => {
    const host = await startHost({ refuseConnectionsForMs: 10_000 });
    const client = clientFor(host, { readyTimeoutMs: 800 });
    try {
      await assert.rejects(client.run("echo never"), (error: unknown) => {
        assert.ok(error instanceof HostUnreachableError, String(error));
        // The client's option, in the client's unit.
        assert.match(error.message, /after trying for 800 ms: .*raise readyTimeoutMs for/);
        return true;
      });
    } finally {
      await client.close();
      await host.close();
    }
  });
});
