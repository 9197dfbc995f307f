/**
 * Remote file operations through the client against the loopback host, in both its personas:
 * the POSIX one (the client picks the POSIX sh family) and the Windows one (Identify says
 * Microsoft, so the client picks the PowerShell family, which runs in pwsh). Each operation is
 * one command, uploads are verified by SHA-256 before they replace the destination, and an
 * interrupted upload leaves no partial file.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test, type TestContext } from "node:test";
import {
  CommandFailedError,
  IntegrityError,
  TimeoutError,
  UnsupportedError,
} from "../../provider/errors";
import { WinRMClient } from "../../provider/winrm/client";
import { type Host, startHost } from "../host";
import { findPwsh } from "../host/shell";
import { havePwsh } from "../support/pwsh";
import { clientFor } from "./support";

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

for (const persona of ["posix", "windows"] as const) {
  const windows = persona === "windows";
  describe(`client file operations against the loopback host (${persona} persona)`, () => {
    let host: Host;
    let client: WinRMClient;
    let dir: string;
    // The Windows persona needs pwsh: without it every test below fails under CI, else skips.
    const ready = (t: TestContext) => !windows || havePwsh(t);
    before(async () => {
      host = await startHost({ persona: windows && findPwsh() === undefined ? "posix" : persona });
      // The default readyTimeoutMs: a slow pwsh start must not count as a host that is down.
      client = clientFor(host, { readyTimeoutMs: 30_000 });
      dir = mkdtempSync(join(tmpdir(), "pulumi-winrm-files-"));
    });
    after(async () => {
      await client.close();
      await host.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test(`the client picks the ${windows ? "PowerShell" : "POSIX sh"} family from Identify`, async (t) => {
      if (!ready(t)) return;
      assert.equal((await client.scripts()).family, windows ? "powershell" : "posix");
    });

    test("sha256, stat, mkdir -p and remove", async (t) => {
      if (!ready(t)) return;
      const files = await client.files();
      const path = join(dir, "a b", "c'd", "file $x.txt");
      assert.equal(await files.sha256(path), "absent");
      assert.deepEqual(await files.stat(path), { exists: false });
      await files.mkdirp(join(dir, "a b", "c'd"));
      writeFileSync(path, "content\n");
      assert.equal(await files.sha256(path), sha256(Buffer.from("content\n")));
      const stat = await files.stat(path);
      assert.equal(stat.exists, true);
      assert.equal(stat.type, "file");
      assert.equal(stat.size, 8);
      await files.remove(path);
      assert.equal(existsSync(path), false);
      await files.remove(path); // already absent: still fine
      await files.remove(join(dir, "a b"), { recursive: true });
      assert.equal(existsSync(join(dir, "a b")), false);
    });

    test("upload of a buffer and of a stream, verified, with progress", async (t) => {
      if (!ready(t)) return;
      const files = await client.files();
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const target = join(dir, "new", "deep", "upload.bin");
      const progress: number[] = [];
      const result = await files.upload(data, target, {
        size: data.length,
        onProgress: ({ sent }) => progress.push(sent),
      });
      assert.deepEqual(result, { sha256: sha256(data), size: data.length, replaced: true });
      assert.ok(readFileSync(target).equals(data));
      assert.equal(progress.at(-1), data.length);
      assert.ok(progress.length >= 3);

      const stream = Readable.from(Array.from({ length: 10 }, (_, n) => Buffer.alloc(100_000, n)));
      const streamed = await files.upload(stream, target);
      assert.equal(streamed.size, 1_000_000);
      assert.equal(sha256(readFileSync(target)), streamed.sha256);
      assert.deepEqual(
        readdirSync(join(dir, "new", "deep")).filter((name) =>
          name.startsWith(".pulumi-winrm-upload-"),
        ),
        [],
      );
    });

    test("an upload with its hash named beforehand: one command, and a source that changed is refused", async (t) => {
      if (!ready(t)) return;
      const files = await client.files();
      const data = randomBytes(2 * 1024 * 1024 + 1);
      const target = join(dir, "known", "upload.bin");
      const known = { sha256: sha256(data), size: data.length };
      const commands = host.log.counters.commandsRun;
      const result = await files.upload(data, target, { known });
      assert.deepEqual(result, { ...known, replaced: true });
      assert.equal(host.log.counters.commandsRun - commands, 1);
      assert.ok(readFileSync(target).equals(data));
      assert.equal((await files.upload(data, target, { known })).replaced, false);
      // The source no longer holds what was hashed: the host refuses it, the file stays.
      const changed = Buffer.from(data);
      changed[1000] = changed[1000]! ^ 1;
      await assert.rejects(files.upload(changed, target, { known }), (error: unknown) => {
        assert.ok(error instanceof IntegrityError, String(error));
        assert.match(error.message, /changed while it was being uploaded/);
        return true;
      });
      assert.ok(readFileSync(target).equals(data));
      assert.deepEqual(
        readdirSync(join(dir, "known")).filter((name) => name.startsWith(".pulumi-winrm-upload-")),
        [],
      );
    });

    test("an upload over a file keeps its permission bits (0600 stays 0600)", async (t) => {
      if (!ready(t)) return;
      const files = await client.files();
      const target = join(dir, "private key.pem");
      writeFileSync(target, "old secret\n");
      chmodSync(target, 0o600);
      await files.upload(Buffer.from("new secret\n"), target);
      assert.equal(readFileSync(target, "utf8"), "new secret\n");
      assert.equal((statSync(target).mode & 0o7777).toString(8), "600");
    });

    test("an interrupted upload leaves the old destination untouched and no partial file", async (t) => {
      if (!ready(t)) return;
      const files = await client.files();
      const target = join(dir, "interrupted.bin");
      writeFileSync(target, "previous version\n");
      async function* slow() {
        yield randomBytes(1024 * 1024);
        await new Promise((resolve) => setTimeout(resolve, 5000));
        yield randomBytes(1024 * 1024);
      }
      await assert.rejects(files.upload(slow(), target, { timeoutMs: 1000 }), TimeoutError);
      // The terminated command's trap removes its temporary file; give it a moment.
      for (
        let n = 0;
        n < 50 && readdirSync(dir).some((name) => name.startsWith(".pulumi-winrm-upload-"));
        n++
      ) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(readFileSync(target, "utf8"), "previous version\n");
      assert.deepEqual(
        readdirSync(dir).filter((name) => name.startsWith(".pulumi-winrm-upload-")),
        [],
      );
    });

    test("a failing operation reports the exit code and the remote error text", async (t) => {
      if (!ready(t)) return;
      const files = await client.files();
      const blocker = join(dir, "not-a-dir");
      writeFileSync(blocker, "x");
      await assert.rejects(files.mkdirp(join(blocker, "child")), (error: unknown) => {
        assert.ok(error instanceof CommandFailedError, String(error));
        assert.notEqual(error.exitCode, 0);
        assert.ok(error.stderrTail.length > 0);
        return true;
      });
    });

    test("hashing a FIFO (a read that never ends) stops at the time limit, saying why", async (t) => {
      if (!ready(t)) return;
      const fifo = join(dir, "never ending fifo");
      execFileSync("mkfifo", [fifo]);
      const files = await client.files({ timeoutMs: 2000 });
      const started = Date.now();
      await assert.rejects(files.sha256(fifo), (error: unknown) => {
        assert.ok(error instanceof TimeoutError, String(error));
        assert.match(
          error.message,
          /^hashing .*never ending fifo did not finish within 2 s .*FIFO/,
        );
        return true;
      });
      assert.ok(Date.now() - started < 15_000);
      // The client is still usable: the stuck command was terminated.
      const unlimited = await client.files();
      assert.deepEqual((await unlimited.stat(join(dir, "absent"))).exists, false);
    });

    test("an upload and parallel commands share connections, fewer than the commands, one login each", async (t) => {
      if (!ready(t)) return;
      const shared = new WinRMClient({
        host: "127.0.0.1",
        port: host.port,
        user: host.user,
        password: host.password,
      });
      try {
        const before = host.log.counters.authentications;
        const data = randomBytes(8 * 1024 * 1024);
        const destination = join(dir, "shared", "upload.bin");
        const files = await shared.files();
        const [uploaded, ...echoed] = await Promise.all([
          files.upload(data, destination),
          ...Array.from({ length: 4 }, (_, n) => shared.run(`echo beside-${n}`)),
        ]);
        assert.equal(uploaded.sha256, sha256(data));
        assert.ok(readFileSync(destination).equals(data));
        echoed.forEach((result, n) => assert.equal(result.stdout.toString(), `beside-${n}\n`));
        // The upload script reads all its input before it writes, so its Sends never wait for a
        // Receive and need no connection of their own. The pool opens another connection when
        // a Receive has been held 50 ms while others wait (HELD_RECEIVE_MS), which a loaded
        // machine causes (the upload's last Receive waits for the script to finish; CI, with
        // lint beside two test files on 2 cores, saw 4 connections for these 5 commands), but
        // never one per command, and each has one login.
        assert.ok(shared.connectionCount < 5, `${shared.connectionCount} connections`);
        assert.equal(host.log.counters.authentications - before, shared.connectionCount);
      } finally {
        await shared.close();
      }
    });

    test("an upload whose script fails while input is still being sent reports the script's error", async (t) => {
      if (!ready(t)) return;
      const files = await client.files();
      // /proc takes no new files: mktemp fails at once, long before 20 MB have been sent.
      await assert.rejects(
        files.upload(Buffer.alloc(20 * 1024 * 1024, 1), "/proc/pulumi-winrm-upload-test.bin"),
        (error: unknown) => {
          assert.ok(error instanceof CommandFailedError, String(error));
          assert.notEqual(error.exitCode, 0);
          assert.match(
            error.stderrTail,
            windows ? /^upload: \/proc\/pulumi-winrm-upload-test\.bin: /m : /mktemp/,
          );
          return true;
        },
      );
    });
  });
}

/**
 * Issue 11 item 7: a Windows host whose App Control or AppLocker policy runs PowerShell in
 * Constrained Language Mode, as the Windows persona can start it. Every file operation fails
 * with one sentence that names the cause, and so does a script.
 */
describe("a Windows host in Constrained Language Mode", () => {
  let host: Host;
  let client: WinRMClient;
  let dir: string;
  before(async () => {
    if (findPwsh() === undefined) return;
    host = await startHost({ persona: "windows", powershellLanguageMode: "ConstrainedLanguage" });
    client = clientFor(host);
    dir = mkdtempSync(join(tmpdir(), "pulumi-winrm-constrained-"));
  });
  after(async () => {
    if (findPwsh() === undefined) return;
    await client.close();
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const namesTheCause = (error: unknown) => {
    assert.ok(error instanceof UnsupportedError, String(error));
    assert.match(
      error.message,
      /: PowerShell runs in ConstrainedLanguage mode on this host \(an App Control .* AppLocker .*exempt/,
    );
    assert.doesNotMatch(error.message, /\n/, "one line");
    return true;
  };

  test("item 7: file operations name Constrained Language Mode", async (t) => {
    if (!havePwsh(t)) return;
    const files = await client.files();
    const path = join(dir, "f");
    writeFileSync(path, "previous");
    await assert.rejects(files.sha256(path), namesTheCause);
    await assert.rejects(files.stat(path), namesTheCause);
    await assert.rejects(files.remove(path), namesTheCause);
    await assert.rejects(files.upload(Buffer.from("new"), path), namesTheCause);
    assert.equal(readFileSync(path, "utf8"), "previous");
  });

  test("item 7: a script fails with the same sentence, before any of it runs", async (t) => {
    if (!havePwsh(t)) return;
    const ran = join(dir, "ran");
    await assert.rejects(client.runScript(`Set-Content -LiteralPath '${ran}' x`), namesTheCause);
    await assert.rejects(
      client.runPowerShell(`Set-Content -LiteralPath '${ran}' x`),
      namesTheCause,
    );
    assert.equal(existsSync(ran), false);
  });
});
