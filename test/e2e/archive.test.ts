/**
 * RemoteArchive on the real Pulumi engine (issue 17): a local folder (POSIX persona) and an
 * AssetArchive (Windows persona) placed on the loopback host; a second `up` runs nothing on
 * the host; local edits send only what changed; prune removes what the source dropped; a
 * refresh shows files changed, deleted or added by hand as drift, and the next `up` repairs
 * only those; destroy removes the files placed; a name that would escape the folder fails at
 * preview.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { LogKind } from "../host";
import { findPwsh } from "../host/shell";
import { e2eFixture } from "./support/fixture";
import type { ResourceSpec } from "./support/scenario";
import { outputsOf } from "./support/state";

function write(root: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, ...path.split("/"));
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
}

function read(root: string, path: string): string {
  return readFileSync(join(root, ...path.split("/")), "utf8");
}

describe("RemoteArchive on the Pulumi engine (posix persona)", () => {
  const fixture = e2eFixture("archive-posix");

  test("folder: up, a quiet second up, local edits, prune, drift on refresh and its repair, destroy", async () => {
    const { project, host, work, connection } = fixture;
    const local = join(work, "site");
    const remote = join(work, "remote site");
    write(local, {
      "index.html": "<h1>v1</h1>",
      "css/site.css": "body{}",
      "sp ace/ünï.txt": "unicode",
      "old.txt": "to be dropped",
    });
    const resources: ResourceSpec[] = [
      {
        kind: "RemoteArchive",
        name: "site",
        args: { source: local, remotePath: remote, prune: true },
      },
    ];
    const stack = project.stack("archive", connection);
    const commands = () => host.log.counters.commandsRun;

    const [up, exported] = await stack.runOk(resources, ["up", "export"]);
    assert.deepEqual(up?.changes, { create: 2 });
    for (const path of ["index.html", "css/site.css", "sp ace/ünï.txt", "old.txt"]) {
      assert.equal(read(remote, path), read(local, path), path);
    }
    const outputs = outputsOf(exported, "site");
    assert.equal(outputs.files, 4);
    assert.equal(outputs.sent, 4);

    const before = commands();
    const [quiet] = await stack.runOk(resources, ["up"]);
    assert.deepEqual(quiet?.changes, { same: 2 });
    assert.equal(commands(), before, "a second up runs nothing on the host");

    // Local edits: one changed, one added, one removed.
    write(local, { "index.html": "<h1>v2</h1>", "js/app.js": "let a = 1;" });
    rmSync(join(local, "old.txt"));
    const [edited, afterEdit] = await stack.runOk(resources, ["up", "export"]);
    assert.deepEqual(edited?.changes, { same: 1, update: 1 });
    assert.equal(read(remote, "index.html"), "<h1>v2</h1>");
    assert.equal(read(remote, "js/app.js"), "let a = 1;");
    assert.equal(existsSync(join(remote, "old.txt")), false, "prune removed the dropped file");
    assert.equal(outputsOf(afterEdit, "site").sent, 2);
    assert.equal(outputsOf(afterEdit, "site").removed, 1);

    // Changes by hand on the host: refresh shows them; up repairs exactly those.
    writeFileSync(join(remote, "css", "site.css"), "body{color:red}");
    rmSync(join(remote, "js", "app.js"));
    writeFileSync(join(remote, "stray.txt"), "not from the source");
    const [refresh, drifted] = await stack.runOk(resources, ["refresh", "export"]);
    assert.deepEqual(refresh?.changes, { same: 1, update: 1 });
    assert.deepEqual(outputsOf(drifted, "site").drift, {
      changed: ["css/site.css"],
      missing: ["js/app.js"],
      extra: ["stray.txt"],
    });
    const [repair, repaired] = await stack.runOk(resources, ["up", "export"]);
    assert.deepEqual(repair?.changes, { same: 1, update: 1 });
    assert.equal(read(remote, "css/site.css"), "body{}");
    assert.equal(read(remote, "js/app.js"), "let a = 1;");
    assert.equal(existsSync(join(remote, "stray.txt")), false);
    assert.equal(outputsOf(repaired, "site").sent, 2, "only the changed and missing files went");
    const [clean] = await stack.runOk(resources, ["refresh"]);
    assert.deepEqual(clean?.changes, { same: 2 });

    const [destroyed] = await stack.runOk(resources, ["destroy"]);
    assert.deepEqual(destroyed?.changes, { delete: 2 });
    for (const path of ["index.html", "css/site.css", "sp ace/ünï.txt", "js/app.js"]) {
      assert.equal(existsSync(join(remote, ...path.split("/"))), false, path);
    }
  });

  test("a name that would leave the folder fails at preview, naming source", async () => {
    const { project, host, work, connection } = fixture;
    const requests = host.log.counters.requests;
    const [preview] = await project.stack("archive-bad", connection).run(
      [
        {
          kind: "RemoteArchive",
          name: "bad",
          args: {
            source: {
              $archive: "assets",
              assets: { "../escape.txt": { $asset: "string", value: "x" } },
            },
            remotePath: join(work, "bad"),
          },
        },
      ],
      ["preview"],
    );
    assert.equal(preview?.ok, false);
    assert.match(preview?.error ?? "", /source.*\.\./);
    assert.equal(host.log.counters.requests, requests, "preview sent nothing to the host");
  });
});

describe("RemoteArchive on the Pulumi engine (windows persona)", () => {
  if (findPwsh() === undefined && !process.env.CI) {
    test("needs pwsh", (t) => t.skip("pwsh is not installed (bash test/setup/pwsh.sh)"));
    return;
  }
  const fixture = e2eFixture("archive-windows", { persona: "windows" });

  test("an AssetArchive: up, a quiet second up, destroy", async () => {
    const { project, host, work, connection } = fixture;
    const tools = join(work, "tools");
    write(tools, { "bin/run.cmd": "@echo off", "README.txt": "tools" });
    // A zip, as Python's zipfile writes it.
    const zip = join(work, "packed.zip");
    const zipped = spawnSync(
      "python3",
      [
        "-c",
        `import zipfile\nz = zipfile.ZipFile(${JSON.stringify(zip)}, "w")\nz.writestr("in zip/ü.txt", "from the zip")\nz.close()`,
      ],
      { encoding: "utf8" },
    );
    assert.equal(zipped.status, 0, zipped.stderr);
    const remote = join(work, "remote");
    const resources: ResourceSpec[] = [
      {
        kind: "RemoteArchive",
        name: "bundle",
        args: {
          source: {
            $archive: "assets",
            assets: {
              "config/app.json": { $asset: "string", value: '{"mode":"prod"}' },
              "notes.txt": { $asset: "file", value: join(tools, "README.txt") },
              tools: { $archive: "file", path: tools },
              packed: { $archive: "file", path: zip },
            },
          },
          remotePath: remote,
        },
      },
    ];
    const stack = project.stack("archive-windows", connection);
    const [up] = await stack.runOk(resources, ["up"]);
    assert.deepEqual(up?.changes, { create: 2 });
    assert.equal(read(remote, "config/app.json"), '{"mode":"prod"}');
    assert.equal(read(remote, "notes.txt"), "tools");
    assert.equal(read(remote, "tools/bin/run.cmd"), "@echo off");
    assert.equal(read(remote, "packed/in zip/ü.txt"), "from the zip");
    // Every command was PowerShell: the Windows family placed the files.
    const lines = host.log.entries(LogKind.COMMAND_STARTED).map((entry) => entry.commandLine ?? "");
    assert.ok(
      lines.every((line) => line.startsWith("powershell.exe ")),
      lines.join("\n"),
    );

    const before = host.log.counters.commandsRun;
    const [quiet] = await stack.runOk(resources, ["up"]);
    assert.deepEqual(quiet?.changes, { same: 2 });
    assert.equal(host.log.counters.commandsRun, before);

    // An edit inside the nested FileArchive's folder changes the engine's hash of the archive;
    // only that file travels.
    write(tools, { "bin/run.cmd": "@echo on" });
    const [edited, exported] = await stack.runOk(resources, ["up", "export"]);
    assert.deepEqual(edited?.changes, { same: 1, update: 1 });
    assert.equal(read(remote, "tools/bin/run.cmd"), "@echo on");
    assert.equal(outputsOf(exported, "bundle").sent, 1);

    await stack.runOk(resources, ["destroy"]);
    assert.equal(existsSync(join(remote, "config", "app.json")), false);
    assert.equal(existsSync(join(remote, "tools", "bin", "run.cmd")), false);
  });
});
