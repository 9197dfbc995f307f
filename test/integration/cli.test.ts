/**
 * The pulumi-winrm command-line tool, run as a user runs it, against the loopback host.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Host, LogKind, startHost } from "../host";
import { havePwsh } from "../support/pwsh";
import { closedPort } from "../support/closed-port";
import { mitKdcSkipReason, type MitRealm, startMitRealm } from "../support/mit-kdc";

const CLI = join(__dirname, "..", "..", "provider", "cli", "main.js");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(
  args: string[],
  options: {
    password?: string;
    stdin?: string;
    keepStdinOpen?: boolean;
    env?: Record<string, string>;
  } = {},
): Promise<Run> {
  const env = { ...process.env, ...options.env };
  delete env.WINRM_PASSWORD;
  if (options.password !== undefined) env.WINRM_PASSWORD = options.password;
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  if (options.keepStdinOpen) child.stdin.write(options.stdin ?? "");
  else child.stdin.end(options.stdin ?? "");
  return new Promise((resolve) =>
    child.once("close", (code) => {
      child.stdin.destroy();
      resolve({ code, stdout, stderr });
    }),
  );
}

describe("pulumi-winrm command-line tool", () => {
  let host: Host;
  let dir: string;
  let connection: string[];
  before(async () => {
    host = await startHost();
    dir = mkdtempSync(join(tmpdir(), "pulumi-winrm-cli-"));
    connection = ["--host", "127.0.0.1", "--port", String(host.port), "--user", host.user];
  });
  after(async () => {
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("exec streams output, forwards stdin and exits with the remote exit code", async () => {
    const run = await cli(["exec", ...connection, "--", "cat; echo to-stderr >&2; exit 3"], {
      password: host.password,
      stdin: "from stdin\n",
    });
    assert.equal(run.code, 3);
    assert.equal(run.stdout, "from stdin\n");
    assert.equal(run.stderr, "to-stderr\n");
  });

  test("exec with an empty stdin pipe: its end reaches the command, on one connection and one login", async () => {
    // A pipe that ends at once (CI, `< /dev/null`) used to go as a Send racing the first
    // Receive for a second connection, whose handshake close() then cut: a second login, a
    // "waiting for the host" line on stderr, and a process kept alive by the retry.
    const before = host.log.counters;
    const run = await cli(["exec", ...connection, "--", "cat; echo done"], {
      password: host.password,
      stdin: "",
    });
    const after = host.log.counters;
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "done\n", "cat saw the end of its input");
    assert.equal(run.stderr, "", "nothing waited for the host");
    assert.equal(after.authentications - before.authentications, 1, "one login");
    assert.equal(after.connections - before.connections, 1, "one connection");
  });

  test("exec exits when its command is done, though its stdin stays open", async () => {
    // The command never reads its input; the pipe is closed only after the tool has exited.
    const run = await cli(["exec", ...connection, "--", "echo quick"], {
      password: host.password,
      stdin: "unread\n",
      keepStdinOpen: true,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "quick\n");
  });

  test("exec to a reader that stalls: the output waits on the host, not in the tool's memory", async () => {
    // 200 MB of output while the reader takes nothing for 5 s. A tool that kept writing into
    // its stdout's queue would hold all of it (its RSS passed 300 MB); with backpressure it
    // holds a Receive or two.
    const env = { ...process.env, WINRM_PASSWORD: host.password };
    const command = "head -c 209715200 /dev/zero | tr '\\0' x";
    const child = spawn(process.execPath, [CLI, "exec", ...connection, "--", command], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let peakRssKb = 0;
    const sampler = setInterval(() => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
        peakRssKb = Math.max(peakRssKb, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0));
      } catch {
        // exited between two samples
      }
    }, 50);
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.pause();
    const hash = createHash("sha256");
    let received = 0;
    setTimeout(() => {
      child.stdout.on("data", (chunk: Buffer) => {
        received += chunk.length;
        hash.update(chunk);
      });
      child.stdout.resume();
    }, 5000);
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    clearInterval(sampler);
    assert.equal(code, 0, stderr);
    assert.equal(received, 200 * 1024 * 1024);
    assert.equal(
      hash.digest("hex"),
      createHash("sha256")
        .update(Buffer.alloc(200 * 1024 * 1024, "x"))
        .digest("hex"),
    );
    assert.ok(peakRssKb > 0 && peakRssKb < 200 * 1024, `peak RSS ${peakRssKb} KB`);
  });

  test("exec into a reader that goes away: exit 141 without a word, the command stopped", async () => {
    // `pulumi-winrm exec -- yes | head -1`: the pipe's reader leaves; the tool used to die of
    // an unhandled EPIPE with a stack trace, leaving `yes` running on the host.
    const signalsBefore = host.log.entries(LogKind.SIGNAL).length;
    const env = { ...process.env, WINRM_PASSWORD: host.password };
    const child = spawn(process.execPath, [CLI, "exec", ...connection, "--", "yes"], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.once("data", () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    assert.equal(code, 141, stderr);
    assert.equal(stderr, "");
    const signals = host.log.entries(LogKind.SIGNAL).slice(signalsBefore);
    assert.ok(
      signals.some((entry) => /signal\/terminate$/.test(String(entry.detail))),
      "the command was terminated on the host",
    );
  });

  test("cp uploads a file verified by SHA-256", async () => {
    const local = join(dir, "local.bin");
    const data = randomBytes(2 * 1024 * 1024);
    writeFileSync(local, data);
    const remote = join(dir, "remote", "copy.bin");
    const run = await cli(["cp", ...connection, local, remote], { password: host.password });
    assert.equal(run.code, 0, run.stderr);
    const digest = createHash("sha256").update(data).digest("hex");
    assert.match(run.stdout, new RegExp(`sha256 ${digest}`));
    assert.ok(readFileSync(remote).equals(data));
  });

  test("identify prints the host's identity as JSON", async () => {
    const run = await cli(["identify", ...connection], { password: host.password });
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { windows: boolean }).windows, false);
  });

  test("ps on a host without PowerShell fails with a reason, exit 1", async () => {
    const bare = await startHost({ pwsh: null });
    try {
      const run = await cli(
        ["ps", "--host", "127.0.0.1", "--port", String(bare.port), "--user", bare.user, "-"],
        { password: bare.password, stdin: "Get-Date" },
      );
      assert.equal(run.code, 1);
      assert.match(run.stderr, /PowerShell is not installed on this loopback host/);
    } finally {
      await bare.close();
    }
  });

  test("ps runs a script from stdin in PowerShell (pwsh here) and exits with its code", async (t) => {
    if (!havePwsh(t)) return;
    const run = await cli(["ps", ...connection, "-"], {
      password: host.password,
      stdin: "Write-Output ('sum ' + (40 + 2)); exit 7",
    });
    assert.equal(run.stdout.trim(), "sum 42", run.stderr);
    assert.equal(run.code, 7, run.stderr);
  });

  test("bad usage exits 2 with one line; --help exits 0", async () => {
    for (const args of [
      ["exec", "--host", "x"],
      ["frobnicate"],
      ["exec", ...connection, "--port", "99999", "--", "true"],
    ]) {
      const run = await cli(args, { password: "x" });
      assert.equal(run.code, 2, args.join(" "));
      assert.equal(run.stderr.trim().split("\n").length, 1);
      assert.match(run.stderr, /^pulumi-winrm: /);
    }
    for (const args of [["--help"], ["exec", "--help"], ["cp", "--help"]]) {
      const run = await cli(args);
      assert.equal(run.code, 0);
      assert.match(run.stdout, /Usage: pulumi-winrm/);
    }
  });

  test("no password and no terminal: a clear usage error, not a hang", async () => {
    const run = await cli(["exec", ...connection, "--", "true"]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /WINRM_PASSWORD/);
  });

  test("a wrong password is reported without the password", async () => {
    const run = await cli(["exec", ...connection, "--", "true"], { password: "not-the-password" });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /refused/);
    assert.ok(!run.stderr.includes("not-the-password"));
  });

  test("an unreachable host: the message gives the wait in the flag's unit, and 0 tries once", async () => {
    const port = String(await closedPort());
    const target = ["--host", "127.0.0.1", "--port", port, "--user", host.user];
    const waited = await cli(["exec", ...target, "--ready-timeout", "1.5", "--", "true"], {
      password: host.password,
    });
    assert.equal(waited.code, 1);
    assert.match(
      waited.stderr,
      /cannot reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\) after trying for 1\.5 s: .*raise --ready-timeout/,
    );
    const once = await cli(["exec", ...target, "--ready-timeout", "0", "--", "true"], {
      password: host.password,
    });
    assert.equal(once.code, 1);
    assert.match(once.stderr, /\(ECONNREFUSED\); --ready-timeout is 0, so it was tried once/);
    assert.doesNotMatch(waited.stderr + once.stderr, /readyTimeoutMs| ms[:;]/);
  });

  test("waiting for a host that is still booting prints progress on stderr, then runs", async () => {
    const booting = await startHost({ refuseConnectionsForMs: 3000 });
    try {
      const run = await cli(
        [
          "exec",
          ...["--host", "127.0.0.1", "--port", String(booting.port), "--user", booting.user],
          ...["--ready-timeout", "30", "--", "echo", "booted"],
        ],
        { password: booting.password },
      );
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, "booted\n");
      assert.match(
        run.stderr,
        new RegExp(
          `^pulumi-winrm: waiting for 127\\.0\\.0\\.1:${booting.port} to answer \\(last attempt: ECONNREFUSED\\): 0 s of 30 s \\(--ready-timeout\\)$`,
          "m",
        ),
      );
    } finally {
      await booting.close();
    }
  });
});

describe("pulumi-winrm command-line tool with Kerberos", { skip: mitKdcSkipReason() }, () => {
  let realm: MitRealm;
  let host: Host;
  let connection: string[];
  before(async () => {
    realm = await startMitRealm({
      realm: "CLI.TEST",
      users: [{ name: "carol", password: "Carol-Cli-1!" }],
      services: ["HTTP/127.0.0.1"],
    });
    host = await startHost({
      users: [{ user: "carol", password: "Carol-Cli-1!" }],
      kerberos: { keytab: realm.env.KRB5_KTNAME!.slice("FILE:".length), allowNtlm: false },
    });
    connection = ["--host", "127.0.0.1", "--port", String(host.port), "--user", "carol@CLI.TEST"];
  });
  after(async () => {
    await host?.close();
    await realm?.stop();
  });

  test("--auth kerberos after kinit: no password asked, the ticket from the cache", async () => {
    const ccache = await realm.kinit("carol", "Carol-Cli-1!");
    const kdc = `127.0.0.1:${realm.tcpPort}`;
    const run = await cli(
      ["exec", ...connection, "--auth", "kerberos", "--kdc", kdc, "--", "echo via-kerberos"],
      { env: { KRB5CCNAME: ccache } },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "via-kerberos\n");
    assert.equal(run.stderr, "");
  });

  test("a wrong password says so in one line, and never echoes it", async () => {
    const run = await cli(
      [
        "exec",
        ...connection,
        "--auth",
        "kerberos",
        "--kdc",
        `127.0.0.1:${realm.tcpPort}`,
        "--",
        "true",
      ],
      { password: "not-Carols-password" },
    );
    assert.equal(run.code, 1);
    assert.match(run.stderr, /refused the password of carol@CLI\.TEST/);
    assert.doesNotMatch(run.stderr, /not-Carols-password/);
  });
});
