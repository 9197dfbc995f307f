/**
 * Restarting a host and waiting for it (issue 17, the Reboot resource's work) against the
 * loopback host's real restart: `shutdown.exe /r` on the Windows persona and `shutdown -r` on
 * the POSIX one make the host process close every connection, refuse connections for a while,
 * and come back on the same port with a new boot time and no shells (test/host/machine.ts).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { InvalidArgumentError, TimeoutError } from "../../provider/errors";
import { WinRMClient } from "../../provider/winrm/client";
import { restartHost } from "../../provider/winrm/host-restart";
import type { ClientOptions } from "../../provider/winrm/options";
import { type Host, LogKind, startHost } from "../host";
import { findPwsh } from "../host/shell";

const USER = { user: "winrm-test", password: randomBytes(12).toString("hex") };
const DOWN_MS = 2000;

for (const persona of ["posix", "windows"] as const) {
  describe(`restarting the host (${persona} persona)`, () => {
    if (persona === "windows" && findPwsh() === undefined && !process.env.CI) {
      test("needs pwsh", (t) => t.skip("pwsh is not installed (bash test/setup/pwsh.sh)"));
      return;
    }
    let host: Host;
    let work: string;
    const clients: WinRMClient[] = [];
    const client = (options: Partial<ClientOptions> = {}) => {
      const created = new WinRMClient({
        host: "127.0.0.1",
        port: host.port,
        user: USER.user,
        password: USER.password,
        ...options,
      });
      clients.push(created);
      return created;
    };
    const connect = (readyTimeoutMs: number) => client({ readyTimeoutMs });

    before(async () => {
      host = await startHost({ persona, users: [USER], restartDownMs: DOWN_MS });
      work = mkdtempSync(join(tmpdir(), "pulumi-winrm-restart-"));
    });
    afterEach(async () => {
      await Promise.all(clients.splice(0).map((created) => created.close()));
      host.machine.failToBoot = false;
      host.machine.setRestartPending(false);
    });
    after(async () => {
      await host.close();
      rmSync(work, { recursive: true, force: true });
    });

    test("the boot time the scripts read is the machine's", async () => {
      const power = (await client().scripts()).power;
      const first = client();
      const result = await first.run(power.bootTime().command, [], {
        skipCmdShell: power.bootTime().skipCmdShell,
      });
      assert.equal(result.exitCode, 0, result.stderr.toString());
      const read = power.parseBootTime(result.stdout.toString());
      // uptime -s has whole seconds.
      assert.ok(Math.abs(read.getTime() - host.machine.lastBootTime.getTime()) < 1000);
    });

    test("restart: down, then back with a new boot time; clients from before and after work", async () => {
      const pooled = client();
      // A shell in the pool before the restart: the host forgets it.
      assert.equal((await pooled.run("echo before", [])).exitCode, 0);
      const bootBefore = host.machine.lastBootTime;
      const restartsBefore = host.machine.restarts;
      const lines: string[] = [];
      let dropped = false;
      const result = await restartHost(pooled, connect, {
        when: "always",
        timeoutMs: 60_000,
        message: "pulumi-winrm test: restart",
        onProgress: (line) => lines.push(line),
        onRestartRequested: () => {
          dropped = true;
        },
      });
      assert.equal(result.rebooted, true);
      assert.equal(dropped, true);
      assert.equal(host.machine.restarts, restartsBefore + 1);
      assert.ok(result.bootTime.getTime() > bootBefore.getTime() + DOWN_MS - 1000);
      assert.ok(Math.abs(result.bootTime.getTime() - host.machine.lastBootTime.getTime()) < 1000);
      assert.equal(result.previousBootTime.getTime() - bootBefore.getTime() < 1000, true);
      // The restart's delay (shutdown.exe /t 2; a POSIX `shutdown now` takes 0.5 s on the
      // loopback host) plus the time down.
      const delay = persona === "windows" ? 2000 : 500;
      assert.ok(result.waitedMs >= delay + DOWN_MS - 300, `waited ${result.waitedMs} ms`);
      assert.ok(
        lines.some((line) => /restart requested/.test(line)),
        lines.join("\n"),
      );
      assert.ok(
        lines.some((line) => /stopped answering/.test(line)),
        lines.join("\n"),
      );
      assert.ok(
        lines.some((line) => /back after \d+ s/.test(line)),
        lines.join("\n"),
      );
      assert.ok(
        host.log
          .entries(LogKind.FAULT_INJECTED)
          .some((entry) => /restart: /.test(entry.detail ?? "")),
        "the host logged its restart",
      );
      // A new client after the restart works at once.
      assert.equal((await client().run("echo after", [])).exitCode, 0);
      // The client from before works too: a shell it still pools is refused as gone and
      // replaced once (issue 16, item 2), unless its idle time already let it go.
      assert.equal((await pooled.run("echo again", [])).exitCode, 0);
    });

    test('when: "pending" restarts only when the host says a restart is pending', async () => {
      const restartsBefore = host.machine.restarts;
      const nothing = await restartHost(client(), connect, {
        when: "pending",
        timeoutMs: 60_000,
        message: "pulumi-winrm test: pending",
      });
      assert.equal(nothing.rebooted, false);
      assert.deepEqual(nothing.pendingReasons, []);
      assert.equal(nothing.waitedMs, 0);
      assert.equal(host.machine.restarts, restartsBefore);

      host.machine.setRestartPending(true);
      const pending = await restartHost(client(), connect, {
        when: "pending",
        timeoutMs: 60_000,
        message: "pulumi-winrm test: pending",
      });
      assert.equal(pending.rebooted, true);
      assert.equal(pending.pendingReasons.length, 1, pending.pendingReasons.join("; "));
      assert.match(
        pending.pendingReasons[0]!,
        persona === "windows" ? /Component Based Servicing/ : /needs-restarting/,
      );
      assert.equal(host.machine.restarts, restartsBefore + 1);
      assert.equal(host.machine.restartPending, false, "the restart cleared the pending mark");
    });

    test("the test must pass before the host counts as ready", async () => {
      const marker = join(work, `ready-${persona}`);
      let tries = 0;
      const lines: string[] = [];
      const result = await restartHost(client(), connect, {
        when: "always",
        timeoutMs: 60_000,
        message: "pulumi-winrm test: ready",
        pollMs: 200,
        onProgress: (line) => lines.push(line),
        ready: async (waiter) => {
          tries++;
          // The "service" starts on the third try.
          if (tries === 3) writeFileSync(marker, "up");
          const check = await waiter.run(`test -f '${marker}'`, []);
          return { ok: check.exitCode === 0, detail: `exit code ${check.exitCode}` };
        },
      });
      assert.equal(result.rebooted, true);
      assert.equal(tries, 3);
      assert.ok(existsSync(marker));
      assert.ok(
        lines.some((line) => /not ready yet \(exit code 1\)/.test(line)),
        lines.join("\n"),
      );
      assert.ok(
        lines.some((line) => /ready after \d+ s/.test(line)),
        lines.join("\n"),
      );
    });

    test("a restart already scheduled is replaced by this one", async () => {
      const first = client();
      const windows = persona === "windows";
      // Someone scheduled a restart an hour away.
      const scheduled = windows
        ? await first.run("shutdown.exe", ["/r", "/t", "3600"], { skipCmdShell: true })
        : await first.run("shutdown -r +60 later", []);
      assert.equal(scheduled.exitCode, 0, scheduled.stderr.toString());
      const lines: string[] = [];
      const restartsBefore = host.machine.restarts;
      const result = await restartHost(first, connect, {
        when: "always",
        timeoutMs: 30_000,
        message: "pulumi-winrm test: replace",
        onProgress: (line) => lines.push(line),
      });
      assert.equal(result.rebooted, true);
      assert.equal(host.machine.restarts, restartsBefore + 1);
      if (windows) {
        assert.ok(
          lines.some((line) => /already scheduled.*replaced/.test(line)),
          lines.join("\n"),
        );
      }
    });

    test("a restart that was never asked for fails at once, not at the timeout", async (t) => {
      if (persona !== "windows") return t.skip("shutdown.exe's comment rules are Windows'");
      const restarts = host.machine.restarts;
      const started = Date.now();
      await assert.rejects(
        restartHost(client(), connect, { when: "always", timeoutMs: 60_000, message: 'say "hi"' }),
        (error: unknown) => {
          assert.ok(error instanceof InvalidArgumentError, String(error));
          assert.match(error.message, /double quotes/);
          return true;
        },
      );
      // Half the 60 s timeout: waiting for a restart would take all of it.
      assert.ok(Date.now() - started < 30_000, "it did not wait for a restart");
      assert.equal(host.machine.restarts, restarts);
    });

    test("a host that never comes back fails at the timeout, naming it", async () => {
      host.machine.failToBoot = true;
      const started = Date.now();
      await assert.rejects(
        restartHost(client(), connect, {
          when: "always",
          timeoutMs: 6000,
          message: "pulumi-winrm test: gone",
        }),
        (error: unknown) => {
          assert.ok(error instanceof TimeoutError, String(error));
          assert.match(error.message, /did not come back within 6 s \(the timeout\)/);
          return true;
        },
      );
      const took = Date.now() - started;
      // Not before the timeout; the upper bound only tells the 6 s given from anything else
      // (the default is 600 s), with room for a loaded machine.
      assert.ok(took >= 6000 && took < 60_000, `gave up after ${took} ms`);
      // Bring it back for the next test file's sake.
      host.machine.failToBoot = false;
      await host.machine.restartNow();
    });
  });
}
