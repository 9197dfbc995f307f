/**
 * The WinRM client against the loopback host (a real WS-Management server on 127.0.0.1 that
 * authenticates, seals and runs processes like a default-configured Windows host): every
 * combination of transport, authentication and trust a user meets, and the failures that must
 * fail with an error that says what to change.
 */
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { AuthenticationError, PlaintextRefusedError, TlsError } from "../../provider/errors";
import { WinRMClient } from "../../provider/winrm/client";
import { clientFor } from "./support";
import { type Host, startHost } from "../host";
import { manualClock } from "../support/manual-clock";
import { LogKind } from "../host/log";
import { findPwsh } from "../host/shell";
import { havePwsh } from "../support/pwsh";
import { seqOutputSha256 } from "../support/seq-output";

async function expectEcho(client: WinRMClient): Promise<void> {
  try {
    const result = await client.run("echo", ["hello", "wörld"]);
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout.toString("utf8"), "hello wörld\n");
  } finally {
    await client.close();
  }
}

describe("client over HTTP with message encryption (a default Windows listener)", () => {
  let host: Host;
  before(async () => {
    host = await startHost();
  });
  after(() => host.close());

  test("negotiate (SPNEGO) with encryption runs a command", async () => {
    await expectEcho(clientFor(host));
    assert.ok(host.log.counters.authentications >= 1);
  });

  test("raw NTLM under the Negotiate scheme with encryption", async () => {
    await expectEcho(clientFor(host, { auth: "ntlm" }));
  });

  test("exit codes 0, 1 and 255 are results, stderr is separate", async () => {
    const client = clientFor(host);
    try {
      for (const code of [0, 1, 255]) {
        const result = await client.run(`echo out; echo err >&2; exit ${code}`);
        assert.equal(result.exitCode, code);
        assert.equal(result.stdout.toString(), "out\n");
        assert.equal(result.stderr.toString(), "err\n");
      }
    } finally {
      await client.close();
    }
  });

  test("non-ASCII output survives, and stdin reaches the command", async () => {
    const client = clientFor(host);
    try {
      const text = "Grüße, 世界, emoji 🔐\n";
      const result = await client.run("cat", [], { stdin: Buffer.from(text) });
      assert.equal(result.stdout.toString("utf8"), text);
    } finally {
      await client.close();
    }
  });

  test("a pooled shell left unused is deleted on the host once its idle time has passed", async () => {
    // The client's clock moves by hand: the idle timer fires when the test says, not after a
    // sleep (the host's own clock is real, but nothing here waits on it).
    const clock = manualClock();
    const client = clientFor(host, {}, { clock });
    try {
      const deletedBefore = host.log.counters.shellsDeleted;
      await client.run("true");
      assert.equal(await clock.nextTimer(), 5000, "the idle timer of the pooled shell");
      clock.advance(4999);
      assert.equal(host.log.counters.shellsDeleted, deletedBefore, "not yet idle long enough");
      clock.advance(1);
      while (host.log.counters.shellsDeleted === deletedBefore) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(host.log.counters.shellsDeleted, deletedBefore + 1);
      // The client goes on working after its shell expired.
      assert.equal((await client.run("echo again")).stdout.toString(), "again\n");
    } finally {
      await client.close();
    }
  });

  test("parallel quick commands share one connection: one handshake", async () => {
    // The pool opens another connection only when time says a request is held (a Receive
    // HELD_RECEIVE_MS, a caller OPEN_ANOTHER_AFTER_MS) or a Send is in flight. On a loaded
    // machine even `echo` can keep a Receive 50 ms, so the client's clock stands still here:
    // the test checks that nothing but held time opens a connection (the next test shows held
    // time doing it), not how fast this machine happens to be.
    const client = clientFor(host, { maxConnections: 4, maxShells: 5 }, { clock: manualClock() });
    try {
      const before = host.log.counters;
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, n) => client.run(`echo one-connection-${n}`)),
      );
      results.forEach((result, n) =>
        assert.equal(result.stdout.toString(), `one-connection-${n}\n`),
      );
      // No request was held, by the client's clock: none needed another connection.
      assert.equal(host.log.counters.authentications - before.authentications, 1);
      assert.equal(host.log.counters.connections - before.connections, 1);
      assert.equal(client.connectionCount, 1);
    } finally {
      await client.close();
    }
  });

  test("parallel commands that run a while get connections up to maxConnections, and run at once", async (t) => {
    const client = clientFor(host, { maxConnections: 4, maxShells: 5 });
    try {
      const before = host.log.counters;
      const since = host.log.entries().length;
      const started = Date.now();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, n) => client.run(`sleep 0.5; echo running-${n}`)),
      );
      const elapsed = Date.now() - started;
      results.forEach((result, n) => assert.equal(result.stdout.toString(), `running-${n}\n`));
      // A Receive held by a running command makes a waiting caller open another connection
      // instead of taking turns at it (issue 19): never more than maxConnections, one login each.
      const connections = host.log.counters.connections - before.connections;
      assert.ok(connections >= 2 && connections <= 4, `${connections} connections`);
      assert.equal(host.log.counters.authentications - before.authentications, connections);
      let inFlight = 0;
      let peak = 0;
      for (const entry of host.log.entries().slice(since)) {
        if (!entry.commandLine?.includes("running-")) continue;
        if (entry.kind === LogKind.COMMAND_STARTED) peak = Math.max(peak, ++inFlight);
        if (entry.kind === LogKind.COMMAND_EXITED) inFlight--;
      }
      assert.equal(peak, 5, `maxShells 5, but at most ${peak} commands ran at once`);
      t.diagnostic(
        `20 commands of 0.5 s, 5 at once: ${elapsed} ms over ${connections} connections`,
      );
    } finally {
      await client.close();
    }
  });

  test("two connections serve parallel commands, with stdin echoed back, after two handshakes", async () => {
    assert.throws(() => clientFor(host, { maxConnections: 1 }), /at least 2/);
    const client = clientFor(host, { maxConnections: 2, maxShells: 4 });
    try {
      const authentications = host.log.counters.authentications;
      const connections = host.log.counters.connections;
      const input = Buffer.alloc(2 * 1024 * 1024, "y");
      const [echoed, ...others] = await Promise.all([
        client.run("cat", [], { stdin: input }),
        ...Array.from({ length: 6 }, (_, n) => client.run(`sleep 0.3; echo parallel-${n}`)),
      ]);
      assert.ok(echoed.stdout.equals(input));
      others.forEach((result, n) => assert.equal(result.stdout.toString(), `parallel-${n}\n`));
      assert.equal(host.log.counters.authentications - authentications, 2);
      assert.equal(host.log.counters.connections - connections, 2);
    } finally {
      await client.close();
    }
  });

  test("three commands echoing megabytes of stdin at once all finish (each Send may be held)", async () => {
    const client = clientFor(host, { maxShells: 3 });
    try {
      const inputs = ["a", "b", "c"].map((letter) => Buffer.alloc(3 * 1024 * 1024, letter));
      const results = await Promise.all(
        inputs.map((input) => client.run("cat", [], { stdin: input })),
      );
      results.forEach((result, n) => assert.ok(result.stdout.equals(inputs[n]!)));
      // A held Send makes the pool open another connection, up to one more than the shells.
      assert.ok(client.connectionCount >= 2 && client.connectionCount <= 4);
    } finally {
      await client.close();
    }
  });

  test("a command fed stdin gets a pipe, one without gets a console (WINRS_CONSOLEMODE_STDIN)", async () => {
    const client = clientFor(host);
    try {
      await client.run("echo console-mode-marker");
      await client.run("cat; : pipe-mode-marker", [], { stdin: Buffer.from("input\n") });
      const mode = (marker: string) =>
        host.log
          .entries(LogKind.COMMAND_STARTED)
          .filter((entry) => entry.commandLine?.includes(marker))
          .map((entry) => entry.stdinMode);
      assert.deepEqual(mode("console-mode-marker"), ["console"]);
      // PowerShell reads a console's input through the console's code page and line editing;
      // a script or file sent over stdin must arrive byte for byte.
      assert.deepEqual(mode("pipe-mode-marker"), ["pipe"]);
    } finally {
      await client.close();
    }
  });

  test("identify reports an honest non-Windows host", async () => {
    const client = clientFor(host);
    try {
      const identity = await client.identify();
      assert.equal(identity.windows, false);
      assert.ok(identity.productVendor.length > 0);
      assert.equal(await client.scriptFamily(), "posix");
    } finally {
      await client.close();
    }
  });

  test("a wrong password and an unknown user are AuthenticationErrors that name the user, not the password", async () => {
    for (const [user, password] of [
      [host.user, "definitely-wrong"],
      ["nobody-here", host.password],
    ]) {
      const client = clientFor(host, { user, password });
      await assert.rejects(client.run("echo", ["x"]), (error: unknown) => {
        assert.ok(error instanceof AuthenticationError, String(error));
        assert.match(error.message, new RegExp(user!));
        assert.ok(!error.message.includes(password!));
        return true;
      });
      await client.close();
    }
  });

  test("a host that closes the connection to refuse the credentials: an AuthenticationError at once, one login", async () => {
    // Some WS-Management servers close the TCP connection after a failed AUTHENTICATE instead
    // of answering 401. A long readyTimeout proves the refusal is not waited out as a host
    // that is down: the login is tried once.
    host.faults.closeConnectionOnRefusedLogin();
    const client = clientFor(host, { password: "definitely-wrong", readyTimeoutMs: 300_000 });
    try {
      const before = host.log.counters;
      await assert.rejects(client.run("echo", ["x"]), (error: unknown) => {
        assert.ok(error instanceof AuthenticationError, String(error));
        assert.match(
          error.message,
          new RegExp(`refused negotiate authentication for "${host.user}"`),
        );
        assert.match(error.message, /closed the connection in answer to the credentials/);
        assert.match(error.message, /check the user name and password/);
        assert.doesNotMatch(error.message, /cannot reach|firewall|readyTimeout/);
        assert.ok(!error.message.includes("definitely-wrong"));
        return true;
      });
      assert.equal(host.log.counters.authenticationFailures - before.authenticationFailures, 1);
      assert.ok(
        host.log
          .entries(LogKind.FAULT_INJECTED)
          .some((entry) => entry.detail === "connection closed on a refused login"),
        "the host closed the connection rather than answering 401",
      );
    } finally {
      host.faults.reset();
      await client.close();
    }
  });

  test("Basic over plain HTTP is refused before a byte is sent", () => {
    const before = host.log.entries().length;
    assert.throws(() => clientFor(host, { auth: "basic" }), PlaintextRefusedError);
    assert.throws(() => clientFor(host, { encryption: "never" }), PlaintextRefusedError);
    assert.equal(host.log.entries().length, before);
  });

  test("unencrypted messages the host refuses give an error naming AllowUnencrypted", async () => {
    const client = clientFor(host, { encryption: "never", allowUnencrypted: true });
    await assert.rejects(client.run("echo", ["x"]), (error: unknown) => {
      assert.ok(error instanceof PlaintextRefusedError, String(error));
      assert.match(error.message, /AllowUnencrypted/);
      return true;
    });
    await client.close();
  });
});

describe("client against the Windows persona (PowerShell in pwsh)", () => {
  let host: Host | undefined;
  before(async () => {
    if (findPwsh() !== undefined) host = await startHost({ persona: "windows" });
  });
  after(() => host?.close());

  test("Identify says Windows, so the client takes PowerShell without being told", async (t) => {
    if (!havePwsh(t) || host === undefined) return;
    const client = clientFor(host);
    try {
      const identity = await client.identify();
      assert.deepEqual([identity.productVendor, identity.windows], ["Microsoft Corporation", true]);
      assert.equal(await client.scriptFamily(), "powershell");
    } finally {
      await client.close();
    }
  });

  test("runScript: a 200 KB script, its output as UTF-8, exit N, over the sealed channel", async (t) => {
    if (!havePwsh(t) || host === undefined) return;
    const client = clientFor(host);
    try {
      const script = `$x = '${"y".repeat(200_000)}'\nWrite-Output ("$($x.Length) Grüße 🔐")\nexit 9`;
      const result = await client.runScript(script);
      assert.equal(result.exitCode, 9, result.stderr.toString());
      assert.equal(result.stdout.toString("utf8"), "200000 Grüße 🔐\n");
    } finally {
      await client.close();
    }
  });

  test("runPowerShell: stdin as $input, errors and warnings decoded from CLIXML", async (t) => {
    if (!havePwsh(t) || host === undefined) return;
    const client = clientFor(host);
    try {
      const result = await client.runPowerShell(
        "$input | ForEach-Object { Write-Warning ('saw ' + $_) }; Write-Error 'it failed'; exit 4",
        { stdin: Buffer.from("a\nb\n") },
      );
      assert.equal(result.exitCode, 4);
      assert.equal(result.stdout.toString(), "");
      assert.match(result.errorText, /^WARNING: saw a\nWARNING: saw b\n/);
      assert.match(result.errorText, /it failed/);
      assert.doesNotMatch(result.errorText, /CLIXML|<Objs|_x00/);
    } finally {
      await client.close();
    }
  });
});

describe("client over HTTPS", () => {
  for (const keyType of ["rsa", "ec"] as const) {
    describe(`${keyType} certificate`, () => {
      let host: Host;
      before(async () => {
        host = await startHost({ https: keyType, cbtHardeningLevel: "strict", basic: true });
      });
      after(() => host.close());

      test("NTLM with channel binding under CbtHardeningLevel Strict, CA trusted", async () => {
        await expectEcho(
          clientFor(host, { https: true, caCert: host.caCertificatePem, auth: "ntlm" }),
        );
        await expectEcho(clientFor(host, { https: true, caCert: host.caCertificatePem }));
      });

      test("Basic over HTTPS", async () => {
        await expectEcho(
          clientFor(host, { https: true, caCert: host.caCertificatePem, auth: "basic" }),
        );
      });

      test("an untrusted certificate is a TlsError naming the options", async () => {
        const client = clientFor(host, { https: true });
        await assert.rejects(client.run("echo", ["x"]), (error: unknown) => {
          assert.ok(error instanceof TlsError, String(error));
          assert.match(error.message, /caCert|certFingerprint|insecure/);
          return true;
        });
        await client.close();
      });

      test("a certificate fingerprint pin: right passes, wrong fails", async () => {
        const fingerprint = createHash("sha256").update(host.certificateDer!).digest("hex");
        assert.equal(
          new X509Certificate(host.certificateDer!).fingerprint256.replace(/:/g, "").toLowerCase(),
          fingerprint,
        );
        await expectEcho(clientFor(host, { https: true, certFingerprint: fingerprint }));
        const wrong = clientFor(host, { https: true, certFingerprint: "00".repeat(32) });
        await assert.rejects(wrong.run("echo", ["x"]), TlsError);
        await wrong.close();
      });

      test("insecure: true skips verification when asked by name", async () => {
        await expectEcho(clientFor(host, { https: true, insecure: true }));
      });
    });
  }
});

describe("stopping a command", () => {
  let host: Host;
  before(async () => {
    host = await startHost();
  });
  after(() => host.close());

  test("an AbortSignal terminates the running command and rejects with its reason", async () => {
    const client = clientFor(host);
    try {
      const controller = new AbortController();
      // Abort once the command runs and the client knows it (its first output arrived); an
      // abort during the Command request itself deletes the shell instead (the faults tier).
      const started = client.run("echo running; sleep 30; echo never", [], {
        signal: controller.signal,
        onStdout: (chunk) => {
          assert.doesNotMatch(chunk.toString(), /never/, "printed after it was stopped");
          controller.abort(new Error("the operation was cancelled"));
        },
      });
      await assert.rejects(started, /^Error: the operation was cancelled$/);
      const signals = host.log.entries(LogKind.SIGNAL);
      assert.equal(signals.length, 1, "one Signal terminate");
      assert.match(String(signals[0]?.detail), /signal\/terminate$/);
      await assert.rejects(
        client.run("echo x", [], { signal: AbortSignal.abort(new Error("already")) }),
        /already/,
      );
    } finally {
      await client.close();
    }
  });

  test("an onStdout that returns a promise holds the output back: one more Receive at most", async () => {
    const client = clientFor(host);
    try {
      const received = createHash("sha256");
      let chunks = 0;
      let requestsWhileHeld = -1;
      const result = await client.run("seq 1 1000000", [], {
        maxOutputBytes: 0,
        onStdout: async (chunk) => {
          received.update(chunk);
          if (++chunks !== 2) return;
          // Held for a while: without backpressure the client would take all 6.9 MB meanwhile
          // (about twenty more Receives).
          const before = host.log.counters.requests;
          await new Promise((resolve) => setTimeout(resolve, 700));
          requestsWhileHeld = host.log.counters.requests - before;
        },
      });
      assert.equal(result.exitCode, 0);
      assert.ok(chunks > 4, `${chunks} chunks`);
      assert.ok(requestsWhileHeld >= 0 && requestsWhileHeld <= 1, `${requestsWhileHeld} requests`);
      assert.equal(received.digest("hex"), seqOutputSha256(1_000_000), "stdout whole and in order");
    } finally {
      await client.close();
    }
  });

  test("a large output is received ahead: the next Receive goes before the last reply is checked, and every byte arrives in order", async () => {
    const client = clientFor(host);
    try {
      const received = createHash("sha256");
      const receives = () => host.log.counters.requests;
      const before = receives();
      const result = await client.run("seq 1 2000000", [], {
        maxOutputBytes: 0,
        onStdout: (chunk) => void received.update(chunk),
      });
      assert.equal(result.exitCode, 0);
      assert.equal(received.digest("hex"), seqOutputSha256(2_000_000), "stdout whole and in order");
      // 14.9 MB: a score of Receives, nearly all of them sent right behind the one before.
      const requests = receives() - before;
      assert.ok(client.followUpsSent >= 5, `${client.followUpsSent} of ${requests} requests`);
      // A short output, Done in its first reply, asks for nothing ahead.
      const followed = client.followUpsSent;
      assert.equal((await client.run("echo short")).stdout.toString(), "short\n");
      assert.equal(client.followUpsSent, followed);
    } finally {
      await client.close();
    }
  });

  test("an onStdout promise that rejects stops the command and the call rejects with it", async () => {
    const client = clientFor(host);
    try {
      const signalsBefore = host.log.entries(LogKind.SIGNAL).length;
      const running = client.run("yes", [], {
        maxOutputBytes: 0,
        onStdout: () => Promise.reject(new Error("the consumer has gone")),
      });
      await assert.rejects(running, /^Error: the consumer has gone$/);
      const signals = host.log.entries(LogKind.SIGNAL).slice(signalsBefore);
      assert.equal(signals.length, 1, "one Signal terminate");
      assert.match(String(signals[0]?.detail), /signal\/terminate$/);
    } finally {
      await client.close();
    }
  });

  test("close() terminates a running command and deletes its shell before it returns", async () => {
    const client = clientFor(host);
    const signalsBefore = host.log.entries(LogKind.SIGNAL).length;
    const startedBefore = host.log.entries(LogKind.COMMAND_STARTED).length;
    const created = () => host.log.entries(LogKind.SHELL_CREATED).length;
    const deleted = () => host.log.entries(LogKind.SHELL_DELETED).length;
    const openBefore = created() - deleted();
    let runningOnHost: () => void = () => undefined;
    const seen = new Promise<void>((resolve) => (runningOnHost = resolve));
    const running = client.run("echo running; sleep 30; echo never", [], {
      onStdout: (chunk) => {
        assert.doesNotMatch(chunk.toString(), /never/, "printed after the client closed");
        runningOnHost();
      },
    });
    running.catch(() => undefined); // asserted below, once close() has returned
    await seen;
    assert.equal(host.log.entries(LogKind.COMMAND_STARTED).length, startedBefore + 1);
    await client.close();
    await assert.rejects(running, /this WinRMClient was closed/);
    const signals = host.log.entries(LogKind.SIGNAL).slice(signalsBefore);
    assert.equal(signals.length, 1, "one Signal terminate");
    assert.match(String(signals[0]?.detail), /signal\/terminate$/);
    assert.equal(created() - deleted(), openBefore, "the command's shell was deleted by close()");
    await assert.rejects(client.run("echo x"), /this WinRMClient was closed/);
  });

  test("an AbortSignal also ends the wait for a shell, and that command never starts", async () => {
    const client = clientFor(host, { maxShells: 1 });
    const holder = new AbortController();
    const waiter = new AbortController();
    try {
      const before = host.log.entries(LogKind.COMMAND_STARTED).length;
      const holding = client.run("sleep 30", [], { signal: holder.signal });
      holding.catch(() => undefined);
      while (host.log.entries(LogKind.COMMAND_STARTED).length === before) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      // The only shell is busy: this one waits for it until its caller gives up.
      const waiting = client.run("echo second", [], { signal: waiter.signal });
      waiter.abort(new Error("gave up waiting"));
      await assert.rejects(waiting, /^Error: gave up waiting$/);
      assert.equal(host.log.entries(LogKind.COMMAND_STARTED).length, before + 1);
      holder.abort(new Error("done"));
      await assert.rejects(holding, /done/);
    } finally {
      holder.abort();
      await client.close();
    }
  });
});
