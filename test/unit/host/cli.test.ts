// The loopback host's command line: one JSON line, serving, clean shutdown on a signal.
import assert from "node:assert/strict";
import { type ChildProcessByStdio, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { describe, test } from "node:test";
import type { Host } from "../../host";
import { parseArguments } from "../../host/cli";
import { ExecutionLog, FaultController } from "../../host";
import { processAlive, ShellDriver, TestSession, waitFor } from "./support";

const CLI = join(__dirname, "..", "..", "host", "cli.js");

interface Started {
  child: ChildProcessByStdio<null, Readable, Readable>;
  line: { url: string; user: string; password: string; caCertificatePem?: string };
}

function startCli(args: string[]): Promise<Started> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      const newline = out.indexOf("\n");
      if (newline >= 0)
        resolve({ child, line: JSON.parse(out.slice(0, newline)) as Started["line"] });
    });
    child.once("exit", (code) =>
      reject(new Error(`cli exited with ${String(code)} before printing`)),
    );
  });
}

/** Enough of a Host for TestSession, from the CLI's JSON line. */
function hostFrom(line: Started["line"]): Omit<Host, "machine"> {
  return {
    url: line.url,
    port: Number(new URL(line.url).port),
    user: line.user,
    password: line.password,
    log: new ExecutionLog(),
    faults: new FaultController(),
    close: () => Promise.resolve(),
  };
}

describe("loopback host: command line", () => {
  test("prints one JSON line, serves, and on SIGTERM exits 0 having killed its processes", async () => {
    const { child, line } = await startCli([
      "--port",
      "0",
      "--user",
      "alice",
      "--password",
      "S3cret!",
    ]);
    let pid = 0;
    try {
      assert.match(line.url, /^http:\/\/127\.0\.0\.1:\d+\/wsman$/);
      assert.equal(line.user, "alice");
      assert.equal(line.password, "S3cret!");
      assert.equal(line.caCertificatePem, undefined);
      const session = await TestSession.connect(hostFrom(line));
      const shell = await ShellDriver.create(session);
      const id = await shell.command("sleep 60 & echo $!; wait");
      const first = await shell.receive(id);
      pid = Number(
        Buffer.from(
          /<rsp:Stream Name="stdout"[^>]*>([^<]+)</.exec(first.xml)![1]!,
          "base64",
        ).toString(),
      );
      assert.ok(processAlive(pid));
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      assert.equal(await exited, 0);
      assert.ok(await waitFor(() => !processAlive(pid)), "the command's process group was killed");
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("--https ec prints the CA certificate", async () => {
    const { child, line } = await startCli(["--port", "0", "--https", "ec", "--cbt", "strict"]);
    try {
      assert.match(line.url, /^https:/);
      assert.match(line.caCertificatePem ?? "", /^-----BEGIN CERTIFICATE-----/);
      assert.equal(line.user, "winrm-test");
      assert.ok(line.password.length >= 12);
    } finally {
      child.kill("SIGINT");
    }
  });

  test("--help prints usage; a bad flag exits 2 with a one-line reason", () => {
    const help = spawnSync(process.execPath, [CLI, "--help"], { encoding: "utf8" });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^usage: /);
    assert.match(help.stdout, /--persona posix\|windows/);
    assert.match(help.stdout, /There is no\s+cmd\.exe here/);
    for (const args of [
      ["--bogus"],
      ["--https", "dsa"],
      ["--port", "99999"],
      ["--cbt"],
      ["--persona", "macos"],
    ]) {
      const bad = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
      assert.equal(bad.status, 2, args.join(" "));
      assert.equal(bad.stdout, "");
      assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    }
  });

  test("parses flags into HostOptions", () => {
    assert.deepEqual(
      parseArguments([
        "--port",
        "5986",
        "--user",
        "DOM\\bob",
        "--password",
        "pw",
        "--basic",
        "--allow-unencrypted",
      ]),
      {
        port: 5986,
        basic: true,
        allowUnencrypted: true,
        users: [{ domain: "DOM", user: "bob", password: "pw" }],
      },
    );
    assert.deepEqual(parseArguments(["--persona", "windows"]), { port: 5985, persona: "windows" });
    assert.equal(parseArguments(["-h"]), "help");
    assert.throws(() => parseArguments(["--user", "x"]), /--password/);
  });
});
