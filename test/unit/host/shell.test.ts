// The WinRS shell of the loopback host: real processes, streams, signals, limits.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Host, LogKind, startHost } from "../../host";
import { havePwsh } from "../../support/pwsh";
import { findPwsh } from "../../host/shell";
import {
  attributeOf,
  IDENTIFY,
  processAlive,
  RawConnection,
  ShellDriver,
  TestSession,
  waitFor,
} from "./support";

describe("loopback host: WinRS shell", () => {
  let host: Host;
  let session: TestSession;
  let shell: ShellDriver;
  before(async () => {
    host = await startHost();
    session = await TestSession.connect(host);
    shell = await ShellDriver.create(
      session,
      `<rsp:Environment><rsp:Variable Name="SHELL_VAR">from-create</rsp:Variable></rsp:Environment>` +
        `<rsp:WorkingDirectory>/tmp</rsp:WorkingDirectory>`,
    );
  });
  after(async () => {
    session.close();
    await host.close();
  });

  test("runs Command and Arguments joined by spaces through the shell, as cmd.exe /c would", async () => {
    const id = await shell.command("echo", [
      "$SHELL_VAR",
      "&&",
      "pwd",
      "&&",
      "echo",
      "oops",
      ">&2",
      ";",
      "exit",
      "3",
    ]);
    const result = await shell.collect(id);
    assert.equal(result.stdout, "from-create\n/tmp\n");
    assert.equal(result.stderr, "oops\n");
    assert.equal(result.exitCode, 3);
    const started = host.log
      .entries(LogKind.COMMAND_STARTED)
      .find((entry) => entry.commandId === id);
    assert.equal(started?.commandLine, "echo $SHELL_VAR && pwd && echo oops >&2 ; exit 3");
    assert.equal(started?.shellId, shell.shellId);
    const exited = host.log.entries(LogKind.COMMAND_EXITED).find((entry) => entry.commandId === id);
    assert.equal(exited?.exitCode, 3);
  });

  test("WINRS_SKIP_CMD_SHELL runs the program directly, one argv entry per rsp:Arguments", async () => {
    const id = await shell.command("printf", ["[%s]", "a b", "$HOME"], {
      WINRS_SKIP_CMD_SHELL: "TRUE",
    });
    const result = await shell.collect(id);
    assert.equal(result.stdout, "[a b][$HOME]");
    assert.equal(result.exitCode, 0);
    const missing = shell.command("no-such-program-here", [], { WINRS_SKIP_CMD_SHELL: "TRUE" });
    await assert.rejects(missing, /2147942402/);
  });

  test("Send writes stdin in pieces and End closes it", async () => {
    const id = await shell.command("wc -c");
    assert.equal((await shell.send(id, Buffer.from("12345"), false)).status, 200);
    assert.equal((await shell.send(id, Buffer.from("6789"), true)).status, 200);
    const result = await shell.collect(id);
    assert.equal(result.stdout.trim(), "9");
  });

  test("Receive returns w:TimedOut (2150858793) when nothing arrives within OperationTimeout", async () => {
    const id = await shell.command("sleep 2; echo late");
    const started = Date.now();
    const response = await shell.receive(id, { operationTimeout: "PT0.300S" });
    const elapsed = Date.now() - started;
    assert.equal(response.status, 500);
    assert.match(response.xml, /<s:Value>w:TimedOut<\/s:Value>/);
    assert.equal(attributeOf(response.xml, "WSManFault", "Code"), "2150858793");
    // Never early. That it was the request's timeout and not the 60 s default needs no upper
    // bound: the command prints after 2 s, so a later answer would have been its output.
    assert.ok(elapsed >= 250, `${elapsed} ms`);
    const result = await shell.collect(id);
    assert.equal(result.stdout, "late\n");
  });

  test("Receive responses never exceed the request's MaxEnvelopeSize", async () => {
    const id = await shell.command("head -c 200000 /dev/zero | tr '\\0' 'x'; echo; echo done >&2");
    const result = await shell.collect(id, { maxEnvelopeSize: 8192 });
    assert.equal(result.stdout.length, 200001);
    assert.equal(result.stderr, "done\n");
    assert.ok(result.sizes.length > 200000 / 8192, `${result.sizes.length} responses`);
    assert.ok(Math.max(...result.sizes) <= 8192, `largest ${Math.max(...result.sizes)}`);
    const tooSmall = await shell.receive(await shell.command("true"), { maxEnvelopeSize: 200 });
    assert.match(tooSmall.xml, /w:EncodingLimit/);
  });

  test('Done carries End="true" streams and the ExitCode', async () => {
    const id = await shell.command("exit 0");
    const response = await shell.receive(id);
    assert.match(
      response.xml,
      new RegExp(`<rsp:Stream Name="stdout" CommandId="${id}" End="true">`),
    );
    assert.match(response.xml, /CommandState\/Done"><rsp:ExitCode>0<\/rsp:ExitCode>/);
  });

  test("Signal ctrl_c interrupts the process group; the command reports its own exit code", async () => {
    const id = await shell.command(
      "trap 'echo interrupted; exit 42' INT; echo ready; while :; do sleep 0.05; done",
    );
    const first = await shell.receive(id);
    assert.match(first.xml, /CommandState\/Running/);
    assert.equal((await shell.signal(id, "ctrl_c")).status, 200);
    const result = await shell.collect(id);
    assert.equal(result.stdout, "interrupted\n");
    assert.equal(result.exitCode, 42);
    assert.equal(host.log.entries(LogKind.SIGNAL).at(-1)?.detail?.endsWith("/ctrl_c"), true);
  });

  test("Signal terminate kills the whole process group and forgets the command", async () => {
    const id = await shell.command("sleep 60 & echo $!; wait");
    const first = await shell.receive(id);
    const pid = Number(
      Buffer.from(
        /<rsp:Stream Name="stdout"[^>]*>([^<]+)</.exec(first.xml)![1]!,
        "base64",
      ).toString(),
    );
    assert.ok(processAlive(pid));
    assert.equal((await shell.signal(id, "terminate")).status, 200);
    assert.ok(await waitFor(() => !processAlive(pid)), "the grandchild is gone too");
    const after = await shell.receive(id);
    assert.equal(attributeOf(after.xml, "WSManFault", "Code"), "2150858810");
  });

  test("Delete kills the shell's processes; the shell is then unknown", async () => {
    const doomed = await ShellDriver.create(session);
    const id = await doomed.command("sleep 60 & echo $!; wait");
    const first = await doomed.receive(id);
    const pid = Number(
      Buffer.from(
        /<rsp:Stream Name="stdout"[^>]*>([^<]+)</.exec(first.xml)![1]!,
        "base64",
      ).toString(),
    );
    assert.equal((await doomed.delete()).status, 200);
    assert.ok(await waitFor(() => !processAlive(pid)));
    assert.equal(attributeOf((await doomed.receive(id)).xml, "WSManFault", "Code"), "2150858843");
    assert.ok(
      host.log.entries(LogKind.SHELL_DELETED).some((entry) => entry.shellId === doomed.shellId),
    );
  });

  test("a ShellId the client chose is kept (as an uppercase GUID); a second Create of it is refused with AlreadyExists", async () => {
    const chosen = "5b1c7e0a-3f4d-4c2e-9a8b-0123456789ab";
    const named = await ShellDriver.create(session, "", chosen);
    assert.equal(named.shellId, chosen.toUpperCase());
    const id = await named.command("echo named");
    assert.equal((await named.collect(id)).stdout, "named\n");
    await assert.rejects(ShellDriver.create(session, "", chosen.toUpperCase()), /AlreadyExists/);
    await assert.rejects(ShellDriver.create(session, "", "not-a-guid"), /not a GUID/);
    await named.delete();
  });

  test("an invalid working directory is refused at Create", async () => {
    await assert.rejects(
      ShellDriver.create(session, "<rsp:WorkingDirectory>/no/such/dir</rsp:WorkingDirectory>"),
      /directory name is invalid/,
    );
  });

  test("PowerShell command lines run under pwsh with their arguments", async (t) => {
    if (!havePwsh(t)) return;
    // -EncodedCommand (base64 of UTF-16LE), as clients send scripts: the line passes through
    // the host's stand-in for cmd.exe, whose parsing differs from cmd.exe's for ( ) ; and quotes.
    const script = Buffer.from("Write-Output (6*7); exit 5", "utf16le").toString("base64");
    const id = await shell.command("powershell", ["-NoProfile", "-EncodedCommand", script]);
    const result = await shell.collect(id);
    assert.equal(result.stdout.trim(), "42");
    assert.equal(result.exitCode, 5);
  });
});

describe("loopback host without PowerShell", () => {
  test("refuses a PowerShell command with a fault that says so", async () => {
    const bare = await startHost({ pwsh: null });
    const session = await TestSession.connect(bare);
    try {
      const shell = await ShellDriver.create(session);
      await assert.rejects(
        shell.command("powershell.exe", ["-NoProfile", "-Command", "1"]),
        (error: Error) => {
          assert.match(error.message, /w:InternalError/);
          assert.match(
            error.message,
            /PowerShell is not installed on this loopback host; install pwsh/,
          );
          return true;
        },
      );
    } finally {
      session.close();
      await bare.close();
    }
  });
});

describe("loopback host: Windows persona", () => {
  let host: Host | undefined;
  let session: TestSession;
  let shell: ShellDriver;
  before(async () => {
    if (findPwsh() === undefined) return; // each test below fails under CI, else skips
    host = await startHost({ persona: "windows" });
    session = await TestSession.connect(host);
    shell = await ShellDriver.create(session, "<rsp:WorkingDirectory>/tmp</rsp:WorkingDirectory>");
  });
  after(async () => {
    session?.close();
    await host?.close();
  });

  test("Identify answers as Windows Server 2022 does, unauthenticated", async (t) => {
    if (!havePwsh(t) || host === undefined) return;
    const connection = await RawConnection.open(host.port);
    try {
      const response = await connection.post(IDENTIFY, {
        "Content-Type": "application/soap+xml;charset=UTF-8",
        WSMANIDENTIFY: "unauthenticated",
      });
      const xml = response.body.toString("utf8");
      assert.match(xml, /<wsmid:ProductVendor>Microsoft Corporation<\/wsmid:ProductVendor>/);
      assert.match(xml, /<wsmid:ProductVersion>OS: 10\.0\.20348 SP: 0\.0 Stack: 3\.0</);
    } finally {
      connection.close();
    }
  });

  test("a PowerShell line reaches pwsh split as powershell.exe splits it, not as sh would", async (t) => {
    if (!havePwsh(t) || host === undefined) return;
    // sh would expand $x and $env:... itself; powershell.exe gets the quoted text as one
    // argument and PowerShell evaluates it.
    const id = await shell.command("powershell.exe", [
      "-NoProfile",
      "-NonInteractive",
      "-Command",
      '"$x = 6*7; Write-Output (\\"answer \\" + $x); exit 5"',
    ]);
    const result = await shell.collect(id);
    assert.equal(result.stdout, "answer 42\n");
    assert.equal(result.exitCode, 5);
  });

  test("a PowerShell line that needs cmd.exe is refused with a fault that says so", async (t) => {
    if (!havePwsh(t) || host === undefined) return;
    await assert.rejects(
      shell.command("powershell.exe", ["-Command", "1", "|", "more"]),
      (error: Error) => {
        assert.match(
          error.message,
          /no cmd\.exe to interpret (&quot;|")\|(&quot;|") in a PowerShell command line/,
        );
        return true;
      },
    );
  });

  test("a cmd line still runs under the host's sh: there is no cmd.exe here", async (t) => {
    if (!havePwsh(t) || host === undefined) return;
    const result = await shell.collect(await shell.command("echo", ["$((6*7))"]));
    assert.equal(result.stdout, "42\n");
  });

  test("refuses to start without pwsh, saying how to get it", async () => {
    await assert.rejects(startHost({ persona: "windows", pwsh: null }), /needs pwsh/);
  });
});

describe("loopback host: close()", () => {
  test("kills every process group it started", async () => {
    const host = await startHost();
    let pid = 0;
    try {
      const session = await TestSession.connect(host);
      const shell = await ShellDriver.create(session);
      const id = await shell.command("sleep 60 & echo $!; sleep 60");
      const first = await shell.receive(id);
      assert.match(first.xml, /CommandState\/Running/);
      pid = Number(
        Buffer.from(
          /<rsp:Stream Name="stdout"[^>]*>([^<]+)</.exec(first.xml)![1]!,
          "base64",
        ).toString(),
      );
      assert.ok(processAlive(pid));
    } finally {
      await host.close();
    }
    assert.ok(await waitFor(() => !processAlive(pid)));
  });
});
