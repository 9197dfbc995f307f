/**
 * RemoteCommand with its default shell (PowerShell) and RemoteFile on the real Pulumi engine,
 * against the Windows persona of the loopback host: Identify says Windows, so the provider
 * sends the PowerShell family without being told, and every script runs in pwsh. The user's
 * PowerShell travels on stdin to the bootstrap, so what ran is judged by its effects, by the
 * resources' outputs and by the host's log of command lines (every one a powershell.exe line).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { findPwsh } from "../host/shell";
import { type LogCounters, LogKind } from "../host";
import { e2eFixture } from "./support/fixture";
import { outputsOf } from "./support/state";
import type { ResourceSpec } from "./support/scenario";

/** A PowerShell verbatim string literal (about_Quoting_Rules). */
const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;

describe("the Windows persona: PowerShell RemoteCommand and RemoteFile on the Pulumi engine", () => {
  if (findPwsh() === undefined && !process.env.CI) {
    test("needs pwsh", (t) =>
      t.skip("pwsh is not installed (bash test/setup/pwsh.sh installs it)"));
    return;
  }
  const fixture = e2eFixture("windows", { persona: "windows" });

  /** What the host ran since `since`: the number of commands and their programs. */
  const ranSince = (since: LogCounters) => {
    const lines = fixture.host.log
      .entries(LogKind.COMMAND_STARTED)
      .slice(since.commandsRun)
      .map((entry) => entry.commandLine ?? "");
    return { count: lines.length, programs: new Set(lines.map((line) => line.split(" ")[0])) };
  };

  test("up, no-op up, drift on refresh, restore, update, destroy", async () => {
    const { project, work, connection } = fixture;
    const folder = join(work, "app dir ü [1]");
    const marker = join(folder, "installed it's.txt");
    const config = join(folder, "conf", "app settings.ini");
    const stack = project.stack("windows", connection);
    const command = (version: string): ResourceSpec => ({
      kind: "RemoteCommand",
      name: "install",
      args: {
        // No shell: PowerShell is the default.
        create: [
          `New-Item -ItemType Directory -Force -Path ${literal(folder)} | Out-Null`,
          `[IO.File]::WriteAllText(${literal(marker)}, 'version ${version}')`,
          `Write-Output "installed version ${version} in $((Get-Item -LiteralPath ${literal(folder)}).Name)"`,
        ].join("\n"),
        read: `if (Test-Path -LiteralPath ${literal(marker)}) { [IO.File]::ReadAllText(${literal(marker)}) } else { 'missing' }`,
        delete: `Remove-Item -LiteralPath ${literal(marker)} -Force`,
        logging: "none",
      },
    });
    const file = (content: string): ResourceSpec => ({
      kind: "RemoteFile",
      name: "settings",
      args: { path: config, content },
    });

    const first = fixture.host.log.counters;
    const [up, created] = await stack.runOk(
      [command("1"), file("[app]\nmode=one\n")],
      ["up", "export"],
    );
    assert.deepEqual(up?.changes, { create: 3 });
    assert.equal(readFileSync(marker, "utf8"), "version 1");
    assert.equal(readFileSync(config, "utf8"), "[app]\nmode=one\n");
    const install = outputsOf(created, "install");
    assert.equal(install.stdout, "installed version 1 in app dir ü [1]\n");
    assert.equal(install.exitCode, 0);
    assert.equal(install.state, "version 1\n");
    assert.deepEqual([...ranSince(first).programs], ["powershell.exe"], "only PowerShell ran");

    const quiet = fixture.host.log.counters;
    const [again] = await stack.runOk([command("1"), file("[app]\nmode=one\n")], ["up"]);
    assert.deepEqual(again?.changes, { same: 3 });
    assert.equal(ranSince(quiet).count, 0, "a no-op up runs nothing on the host");

    writeFileSync(config, "edited by hand\n");
    rmSync(marker);
    const [refresh, drifted] = await stack.runOk(
      [command("1"), file("[app]\nmode=one\n")],
      ["refresh", "export"],
    );
    assert.equal(refresh?.changes?.update, 2, "refresh must show both drifted");
    assert.equal(outputsOf(drifted, "install").state, "missing\n");
    assert.equal(outputsOf(drifted, "install").appliedState, "version 1\n");
    assert.notEqual(
      outputsOf(drifted, "settings").remoteSha256,
      outputsOf(drifted, "settings").sha256,
    );

    const [restore] = await stack.runOk([command("1"), file("[app]\nmode=one\n")], ["up"]);
    assert.deepEqual(restore?.changes, { same: 1, update: 2 });
    assert.equal(readFileSync(marker, "utf8"), "version 1");
    assert.equal(readFileSync(config, "utf8"), "[app]\nmode=one\n");
    const [settled] = await stack.runOk([command("1"), file("[app]\nmode=one\n")], ["refresh"]);
    assert.equal(settled?.changes?.update ?? 0, 0, "back in sync: refresh shows no change");

    const [update, updated] = await stack.runOk(
      [command("2"), file("[app]\nmode=two ✓\n")],
      ["up", "export"],
    );
    assert.deepEqual(update?.changes, { same: 1, update: 2 });
    assert.equal(readFileSync(marker, "utf8"), "version 2");
    assert.equal(readFileSync(config, "utf8"), "[app]\nmode=two ✓\n");
    assert.equal(outputsOf(updated, "install").stdout, "installed version 2 in app dir ü [1]\n");

    const [destroy] = await stack.runOk([command("2"), file("[app]\nmode=two ✓\n")], ["destroy"]);
    assert.deepEqual(destroy?.changes, { delete: 3 });
    assert.equal(existsSync(marker), false, "the delete command ran");
    assert.equal(existsSync(config), false, "the file was removed");
    assert.deepEqual([...ranSince(first).programs], ["powershell.exe"], "only PowerShell ran");
  });

  test("logging shows PowerShell's warnings and errors decoded, as text, never CLIXML", async () => {
    const { project, connection } = fixture;
    const stack = project.stack("windows-logging", connection);
    const [up] = await stack.runOk(
      [
        {
          kind: "RemoteCommand",
          name: "noisy",
          args: {
            create:
              "Write-Output 'out-w-marker'; Write-Warning 'warn-w-marker'; Write-Error 'soft-w-marker'; exit 0",
            logging: "stdoutAndStderr",
          },
        },
      ],
      ["up"],
    );
    const shown = (up?.diagnostics ?? [])
      .filter((diagnostic) => diagnostic.severity !== "debug")
      .map((diagnostic) => diagnostic.message)
      .join("\n");
    assert.match(shown, /out-w-marker/);
    assert.match(shown, /WARNING: warn-w-marker/);
    assert.match(shown, /soft-w-marker/);
    assert.doesNotMatch(shown, /CLIXML|<Objs|_x00/);
  });

  test("a multi-line cmd command is refused before it runs: cmd /c would run only its first line", async () => {
    const { project, connection } = fixture;
    const twoLines: ResourceSpec = {
      kind: "RemoteCommand",
      name: "twolines",
      args: {
        shell: "cmd",
        create: "echo first-line-marker\necho second-line-marker",
        logging: "none",
      },
    };
    const before = fixture.host.log.counters;
    const [failed] = await project.stack("windows-cmd", connection).run([twoLines], ["up"]);
    assert.equal(failed?.ok, false);
    assert.match(
      failed?.error ?? "",
      /invalid create: holds several lines, .*"cmd \/c", which stops at the first line break/,
    );
    assert.equal(ranSince(before).count, 0, "nothing ran on the host");
    // With the host pinned as Windows, preview refuses it already.
    const pinned = project.stack("windows-cmd-pinned", { ...connection, scripts: "powershell" });
    const [preview] = await pinned.run([twoLines], ["preview"]);
    assert.equal(preview?.ok, false);
    assert.match(
      preview?.error ?? "",
      /property create value[\s\S]*has a problem: holds several lines/,
    );
  });

  test("a failing PowerShell command fails up with its exit code and error; a fixed rerun succeeds", async () => {
    const { project, connection } = fixture;
    const stack = project.stack("windows-failure", connection);
    const failing: ResourceSpec = {
      kind: "RemoteCommand",
      name: "failing",
      args: { create: "Write-Output 'before'; throw 'the installer is missing'", logging: "none" },
    };
    const [failed] = await stack.run([failing], ["up"]);
    assert.equal(failed?.ok, false);
    assert.match(failed?.error ?? "", /exit(ed)? (with )?(code )?1/i);
    assert.match(failed?.error ?? "", /the installer is missing/);
    assert.doesNotMatch(failed?.error ?? "", /CLIXML|<Objs|_x00/);
    assert.ok(!(failed?.error ?? "").includes("\u001b"), "no colour sequences in the error");

    const fixed: ResourceSpec = {
      ...failing,
      args: { create: "Write-Output 'fixed'; exit 0", logging: "none" },
    };
    const [up] = await stack.runOk([fixed], ["up"]);
    assert.deepEqual(up?.changes, { create: 1, same: 1 });
  });
});
