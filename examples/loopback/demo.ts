/**
 * `npm run demo`: the whole life of a stack against the loopback WinRM host, on the real
 * Pulumi engine, with pulumi-winrm installed from `npm pack` as a user installs it. The host
 * shows its Windows persona: it identifies as Windows Server 2022, so the provider sends
 * PowerShell (the RemoteCommand's default shell, and every RemoteFile script), which runs in
 * pwsh here. `npm run demo -- --posix` shows the POSIX persona, where the same stack runs sh.
 *
 *   1. up: place a config file and "install a feature" guarded by a test command
 *   2. a second up: nothing to do, nothing runs on the host
 *   3. someone changes the host by hand: edits the config, removes the feature
 *   4. refresh: both drifts are detected
 *   5. up: both are put back
 *   6. destroy: the delete command runs, the file is removed
 *
 * The same program shape for a real Windows host is in examples/windows-bootstrap.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LogKind, startHost } from "../../test/host";
import { createProject } from "../../test/e2e/support/project";
import type { OperationResult, ResourceSpec } from "../../test/e2e/support/scenario";

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
/** A PowerShell verbatim string (about_Quoting_Rules). */
const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;

/** The feature as PowerShell (the Windows persona) or as sh (the POSIX persona). */
function featureCommand(feature: string, windows: boolean): Record<string, unknown> {
  const state = join(feature, "state");
  if (windows) {
    // On a real Windows host this would be Install-WindowsFeature guarded by
    // Get-WindowsFeature (see examples/windows-bootstrap).
    return {
      create: `New-Item -ItemType Directory -Force -Path ${literal(feature)} | Out-Null\n[IO.File]::WriteAllText(${literal(state)}, 'installed')`,
      test: `if (Test-Path -LiteralPath ${literal(state)}) { exit 0 } else { exit 1 }`,
      read: `if (Test-Path -LiteralPath ${literal(state)}) { [IO.File]::ReadAllText(${literal(state)}) } else { 'absent' }`,
      delete: `Remove-Item -LiteralPath ${literal(feature)} -Recurse -Force`,
    };
  }
  return {
    // The host's "cmd" shell is sh on the loopback host: there is no cmd.exe here.
    shell: "cmd",
    create: `mkdir -p ${quote(feature)} && echo installed > ${quote(state)}`,
    test: `[ -f ${quote(state)} ]`,
    read: `cat ${quote(state)} 2>/dev/null || echo absent`,
    delete: `rm -rf ${quote(feature)}`,
  };
}

function say(step: string, detail = ""): void {
  process.stdout.write(`\n\x1b[1m== ${step}\x1b[0m${detail ? `\n${detail}` : ""}\n`);
}

function changes(result: OperationResult | undefined): string {
  return JSON.stringify(result?.changes ?? {});
}

async function main(): Promise<void> {
  const started = Date.now();
  const windows = !process.argv.includes("--posix");
  say(
    `Starting the loopback WinRM host, ${windows ? "Windows" : "POSIX"} persona (Negotiate + message encryption, Basic off)`,
    windows
      ? "  it identifies as Windows Server 2022; PowerShell runs in pwsh, cmd.exe lines in sh"
      : "  it identifies as a non-Windows host; commands and file scripts run in sh",
  );
  const host = await startHost({ persona: windows ? "windows" : "posix" });
  const work = mkdtempSync(join(tmpdir(), "pulumi-winrm-demo-"));
  say("Packing pulumi-winrm and installing it into a fresh Pulumi project");
  const project = await createProject();
  try {
    const config = join(work, "app", "config.ini");
    const feature = join(work, "feature");
    const resources: ResourceSpec[] = [
      {
        kind: "RemoteFile",
        name: "appConfig",
        args: { path: config, content: "color=blue\nreplicas=3\n" },
      },
      {
        kind: "RemoteCommand",
        name: "feature",
        args: featureCommand(feature, windows),
        secrets: [],
      },
    ];
    const stack = project.stack("demo", {
      host: "127.0.0.1",
      port: host.port,
      user: host.user,
      password: host.password,
    });

    const [up] = await stack.runOk(resources, ["up"]);
    say("1. pulumi up", `changes: ${changes(up)}`);
    for (const [name, output] of Object.entries(up?.outputs ?? {})) {
      const value = output.value as Record<string, unknown>;
      const shown = Object.fromEntries(
        ["sha256", "size", "state", "skipped", "exitCode"]
          .filter((key) => key in value)
          .map((key) => [key, value[key]]),
      );
      process.stdout.write(`  ${name}: ${JSON.stringify(shown)}\n`);
    }
    const programs = new Set(
      host.log.entries(LogKind.COMMAND_STARTED).map((entry) => entry.commandLine?.split(" ")[0]),
    );
    process.stdout.write(
      `  host log: ${host.log.counters.commandsRun} commands run (${[...programs].join(", ")})\n`,
    );

    const before = host.log.counters.commandsRun;
    const [second] = await stack.runOk(resources, ["up"]);
    say(
      "2. pulumi up again",
      `changes: ${changes(second)}; commands run on the host: ${host.log.counters.commandsRun - before}`,
    );

    writeFileSync(config, "color=red\n");
    rmSync(feature, { recursive: true, force: true });
    say("3. Out-of-band change", `  edited ${config}\n  removed ${feature}`);

    const [refresh] = await stack.runOk(resources, ["refresh"]);
    say("4. pulumi refresh", `changes: ${changes(refresh)} (drift detected)`);

    const [fix] = await stack.runOk(resources, ["up"]);
    say(
      "5. pulumi up",
      `changes: ${changes(fix)}\n  config now: ${JSON.stringify(readFileSync(config, "utf8"))}`,
    );

    const [destroy] = await stack.runOk(resources, ["destroy"]);
    say("6. pulumi destroy", `changes: ${changes(destroy)}`);
    say("Done", `in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    project.close();
    await host.close();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
