/**
 * Reboot on the real Pulumi engine (issue 17): RemoteCommand, then Reboot, then a
 * RemoteCommand that depends on it, against the loopback host's real restart (it closes every
 * connection, refuses connections for a while, and comes back on the same port with a new
 * boot time and no shells: test/host/machine.ts). On the POSIX persona `shutdown -r` restarts
 * it; on the Windows persona `shutdown.exe /r`, and `when: "pending"` reads the registry mark
 * that Component Based Servicing leaves.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { type Host, LogKind } from "../host";
import { findPwsh } from "../host/shell";
import { e2eFixture } from "./support/fixture";
import { outputsOf } from "./support/state";
import type { OperationResult, ResourceSpec } from "./support/scenario";

const DOWN_MS = 2000;

/** The host's log entry of the command line that holds `marker`. */
function commandWith(host: Host, marker: string) {
  const found = host.log
    .entries(LogKind.COMMAND_STARTED)
    .filter((entry) => (entry.commandLine ?? "").includes(marker));
  assert.equal(found.length, 1, `one command holding ${marker}`);
  return found[0]!;
}

/** The lines the engine showed under the resource `name`. */
function shownUnder(result: OperationResult | undefined, name: string): string {
  return (result?.diagnostics ?? [])
    .filter((item) => item.severity !== "debug" && item.urn.endsWith(`::${name}`))
    .map((item) => item.message)
    .join("\n");
}

describe("Reboot on the Pulumi engine (posix persona)", () => {
  const fixture = e2eFixture("reboot-posix", { restartDownMs: DOWN_MS });

  test("command, reboot, command: the second runs after the restart, on a new connection; refresh is quiet; a trigger reboots again", async () => {
    const { project, host, work, connection } = fixture;
    const journal = join(work, "journal.txt");
    const resources = (trigger: string): ResourceSpec[] => [
      {
        kind: "RemoteCommand",
        name: "before",
        args: { shell: "cmd", create: `echo before-marker >> '${journal}'` },
      },
      {
        kind: "Reboot",
        name: "restart",
        args: { triggers: [trigger], timeout: 120, test: `test -d '${work}'`, shell: "cmd" },
        dependsOn: ["before"],
      },
      {
        kind: "RemoteCommand",
        name: "after",
        args: { shell: "cmd", create: `echo after-marker >> '${journal}'` },
        dependsOn: ["restart"],
      },
    ];
    const stack = project.stack("reboot", connection);

    const [up, exported] = await stack.runOk(resources("1"), ["up", "export"]);
    assert.deepEqual(up?.changes, { create: 4 });
    assert.equal(host.machine.restarts, 1);
    assert.equal(readFileSync(journal, "utf8"), "before-marker\nafter-marker\n");
    // The second command ran after the host came back, on a connection of the new boot.
    const before = commandWith(host, "before-marker");
    const after = commandWith(host, "after-marker");
    assert.ok(after.timestamp >= host.machine.lastBootTime.getTime());
    assert.ok((after.connection ?? 0) > (before.connection ?? 0));
    const outputs = outputsOf(exported, "restart");
    assert.equal(outputs.rebooted, true);
    assert.ok(
      Math.abs(Date.parse(outputs.bootTime as string) - host.machine.lastBootTime.getTime()) < 1000,
      `bootTime ${String(outputs.bootTime)}`,
    );
    assert.ok((outputs.waitedSeconds as number) >= 2, `waited ${String(outputs.waitedSeconds)} s`);
    // Progress is shown under the Reboot resource.
    const shown = shownUnder(up, "restart");
    assert.match(shown, /restart requested/);
    assert.match(shown, /back after \d+ s/);

    const [refresh, again] = await stack.runOk(resources("1"), ["refresh", "up"]);
    assert.deepEqual(refresh?.changes, { same: 4 }, "refresh shows nothing");
    assert.deepEqual(again?.changes, { same: 4 }, "a second up changes nothing");
    assert.equal(host.machine.restarts, 1, "and restarts nothing");

    const [retriggered] = await stack.runOk(resources("2"), ["up"]);
    assert.deepEqual(retriggered?.changes, { same: 3, update: 1 });
    assert.equal(host.machine.restarts, 2, "a trigger change reboots again");

    const [destroyed] = await stack.runOk(resources("2"), ["destroy"]);
    assert.deepEqual(destroyed?.changes, { delete: 4 });
    assert.equal(host.machine.restarts, 2, "destroy does not restart the host");
  });

  test("a host that never comes back fails the up with a message naming the timeout", async () => {
    const { project, host, connection } = fixture;
    host.machine.failToBoot = true;
    try {
      const stack = project.stack("reboot-gone", connection);
      const [up] = await stack.run(
        [{ kind: "Reboot", name: "restart", args: { timeout: 8 } }],
        ["up"],
      );
      assert.equal(up?.ok, false);
      assert.match(up?.error ?? "", /did not come back within 8 s \(the timeout\)/);
    } finally {
      host.machine.failToBoot = false;
      await host.machine.restartNow();
    }
  });
});

describe("Reboot on the Pulumi engine (windows persona)", () => {
  if (findPwsh() === undefined && !process.env.CI) {
    test("needs pwsh", (t) => t.skip("pwsh is not installed (bash test/setup/pwsh.sh)"));
    return;
  }
  const fixture = e2eFixture("reboot-windows", { persona: "windows", restartDownMs: DOWN_MS });

  test('when: "pending" restarts only when Windows says a restart is pending', async () => {
    const { project, host, work, connection } = fixture;
    const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;
    const journal = join(work, "journal.txt");
    const resources = (trigger: string): ResourceSpec[] => [
      {
        kind: "Reboot",
        name: "restart",
        args: {
          triggers: [trigger],
          when: "pending",
          timeout: 120,
          test: `if (-not (Test-Path -LiteralPath ${literal(work)})) { exit 1 }`,
        },
      },
      {
        kind: "RemoteCommand",
        name: "after",
        args: {
          create: `Add-Content -LiteralPath ${literal(journal)} -Value 'after-marker'`,
        },
        dependsOn: ["restart"],
      },
    ];
    const stack = project.stack("reboot-windows", connection);

    const [nothing, exported] = await stack.runOk(resources("1"), ["up", "export"]);
    assert.deepEqual(nothing?.changes, { create: 3 });
    assert.equal(host.machine.restarts, 0, "nothing was pending");
    assert.equal(outputsOf(exported, "restart").rebooted, false);
    assert.match(shownUnder(nothing, "restart"), /no restart is pending/);

    host.machine.setRestartPending(true);
    const [pending, after] = await stack.runOk(resources("2"), ["up", "export"]);
    assert.deepEqual(pending?.changes, { same: 2, update: 1 });
    assert.equal(host.machine.restarts, 1);
    assert.equal(host.machine.restartPending, false);
    assert.equal(outputsOf(after, "restart").rebooted, true);
    assert.match(shownUnder(pending, "restart"), /a restart is pending: Component Based Servicing/);

    const [refresh] = await stack.runOk(resources("2"), ["refresh"]);
    assert.deepEqual(refresh?.changes, { same: 3 });
    await stack.runOk(resources("2"), ["destroy"]);
  });
});
