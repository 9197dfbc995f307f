/**
 * The resources' check, diff and (where it runs nothing) update, table by table, without a
 * host or the engine: what the e2e tests prove on the Pulumi CLI, here in milliseconds and
 * case by case. The e2e tests remain the proof that the engine calls these as assumed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { UNKNOWN } from "../../../provider/connection";
import * as command from "../../../provider/remote-command";
import * as file from "../../../provider/remote-file";
import * as archive from "../../../provider/remote-archive";
import * as reboot from "../../../provider/reboot";
import * as providers from "../../../provider";

type Props = Record<string, unknown>;

/** A host nothing listens on: an operation that contacted it could not succeed. */
const connection = { host: "127.0.0.1", port: 1, user: "u", password: "p", readyTimeout: 0 };

interface DiffCase {
  name: string;
  olds: Props;
  news: Props;
  changes: boolean;
  replaces: string[];
}

describe("RemoteCommand diff", () => {
  const base = { connection, create: "echo hi", delete: "echo bye" };
  const cases: DiffCase[] = [
    { name: "nothing changed", olds: base, news: base, changes: false, replaces: [] },
    {
      name: "secretOutputs false recorded (release 0.1.x), absent now: no change",
      olds: { ...base, secretOutputs: false },
      news: base,
      changes: false,
      replaces: [],
    },
    {
      name: "commands made secret: an update (their output becomes secret)",
      olds: base,
      news: { ...base, secretOutputs: true },
      changes: true,
      replaces: [],
    },
    {
      name: "a new password: a change, no replacement",
      olds: base,
      news: { ...base, connection: { ...connection, password: "q" } },
      changes: true,
      replaces: [],
    },
    {
      name: "a longer operationTimeout: a change, no replacement",
      olds: base,
      news: { ...base, connection: { ...connection, operationTimeout: 60 } },
      changes: true,
      replaces: [],
    },
    {
      name: "another host: replaced",
      olds: base,
      news: { ...base, connection: { ...connection, host: "10.0.0.2" } },
      changes: true,
      replaces: ["connection"],
    },
    {
      name: "another port: replaced",
      olds: base,
      news: { ...base, connection: { ...connection, port: 2 } },
      changes: true,
      replaces: ["connection"],
    },
    {
      name: "a host unknown in preview: replaced",
      olds: base,
      news: { ...base, connection: { ...connection, host: UNKNOWN } },
      changes: true,
      replaces: ["connection"],
    },
    {
      name: "new triggers: replaced",
      olds: { ...base, triggers: [1] },
      news: { ...base, triggers: [2] },
      changes: true,
      replaces: ["triggers"],
    },
    {
      name: "a new create command: an update",
      olds: base,
      news: { ...base, create: "echo hello" },
      changes: true,
      replaces: [],
    },
    {
      name: "a command unknown in preview: an update",
      olds: base,
      news: { ...base, create: UNKNOWN },
      changes: true,
      replaces: [],
    },
    {
      name: "refresh found test failing: drift, an update",
      olds: { ...base, test: "exit 1", inSync: false },
      news: { ...base, test: "exit 1" },
      changes: true,
      replaces: [],
    },
    {
      name: "refresh found read's output changed: drift, an update",
      olds: { ...base, read: "cat f", state: "b", appliedState: "a" },
      news: { ...base, read: "cat f" },
      changes: true,
      replaces: [],
    },
    {
      name: "read's output as applied: no drift",
      olds: { ...base, read: "cat f", state: "a", appliedState: "a" },
      news: { ...base, read: "cat f" },
      changes: false,
      replaces: [],
    },
    {
      name: "another URN only (renamed with an alias): no change",
      olds: { ...base, __urn: "urn:pulumi:s::p::pulumi-nodejs:dynamic/winrm:RemoteCommand::a" },
      news: { ...base, __urn: "urn:pulumi:s::p::pulumi-nodejs:dynamic/winrm:RemoteCommand::b" },
      changes: false,
      replaces: [],
    },
    {
      name: "state of release 0.1.0, with the placeholder inputs: no change",
      olds: { ...base, secretOutputs: false, stdout: "", stderr: "", state: "", appliedState: "" },
      news: { ...base, secretOutputs: false },
      changes: false,
      replaces: [],
    },
  ];
  for (const item of cases) {
    test(item.name, () => {
      const result = command.diff("id", item.olds, item.news);
      assert.equal(result.changes, item.changes);
      assert.deepEqual(result.replaces, item.replaces);
      assert.equal(result.deleteBeforeReplace, true);
    });
  }
});

describe("RemoteCommand check and update", () => {
  const cases: [string, Props, RegExp | undefined][] = [
    ["a minimal command", { connection, create: "echo hi" }, undefined],
    ["no create", { connection }, /^create: is required/],
    ["a shell that is neither", { connection, create: "x", shell: "bash" }, /^shell: must be/],
    [
      "a multi-line cmd command on a host pinned to PowerShell",
      { connection: { ...connection, scripts: "powershell" }, create: "a\nb", shell: "cmd" },
      /^create: /,
    ],
    ["a zero timeout", { connection, create: "x", timeout: 0 }, /^timeout: must be a positive/],
    [
      "an environment value not text",
      { connection, create: "x", environment: { A: 1 } },
      /^environment\.A: must be a string/,
    ],
    ["a connection still unknown", { connection: UNKNOWN, create: "x" }, undefined],
  ];
  for (const [name, news, failure] of cases) {
    test(`check: ${name}`, () => {
      const { failures } = command.check({}, news);
      const text = failures.map((item) => `${item.property}: ${item.reason}`).join("\n");
      if (failure === undefined) assert.equal(text, "");
      else assert.match(text, failure);
    });
  }

  test("update of the connection alone runs nothing and keeps what was recorded", async () => {
    const olds = { connection, create: "echo hi", stdout: "hi\n", state: "s" };
    const news = { connection: { ...connection, password: "rotated" }, create: "echo hi" };
    // 127.0.0.1:1 refuses connections: running anything would fail.
    const outs = (await command.update("id", olds, news)).outs as Props;
    assert.equal(outs.stdout, "hi\n");
    assert.equal(outs.state, "s");
    assert.deepEqual(outs.connection, news.connection);
  });

  test("update of the connection alone over a 0.1.x state (secretOutputs false) runs nothing", async () => {
    const olds = { connection, create: "echo hi", stdout: "hi\n", secretOutputs: false };
    const news = { connection: { ...connection, password: "rotated" }, create: "echo hi" };
    // 127.0.0.1:1 refuses connections: running anything would fail.
    const outs = (await command.update("id", olds, news)).outs as Props;
    assert.equal(outs.stdout, "hi\n");
    assert.equal("secretOutputs" in outs, false, "the false flag is not carried on");
  });

  test("check stores the secret flag only when it is set", () => {
    const base = { connection, create: "echo hi" };
    assert.equal(
      "secretOutputs" in command.check({}, { ...base, secretOutputs: false }).inputs,
      false,
    );
    assert.equal(command.check({}, { ...base, secretOutputs: true }).inputs.secretOutputs, true);
    assert.equal(
      "secretOutputs" in
        file.check({}, { ...base, path: "a", content: "x", secretOutputs: false }).inputs,
      false,
    );
  });

  test("update of the connection alone returns the output secret when the inputs are", async () => {
    const olds = { connection, create: "echo hi", stdout: "hi\n", secretOutputs: true };
    const news = { ...olds, connection: { ...connection, password: "rotated" } };
    const outs = (await command.update("id", olds, news)).outs as Props;
    // Pulumi's wire form of a secret: the engine stores it encrypted.
    assert.deepEqual(outs.stdout, {
      "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
      value: "hi\n",
    });
    assert.equal(outs.create, "echo hi", "an input is secret only when the user made it so");
  });
});

describe("RemoteFile diff", () => {
  const dir = mkdtempSync(join(tmpdir(), "pulumi-winrm-lifecycle-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const source = join(dir, "source.txt");
  writeFileSync(source, "edited locally");
  const base = { connection, path: "C:\\app\\a.txt", content: "x" };
  const sha = createHash("sha256").update("x").digest("hex");
  const assetBase = (hash: string) => ({
    connection,
    path: base.path,
    asset: { "4dabf18193072939515e22adb298388d": "c44067f5952c0a294b673a41bacd8c17", hash },
  });
  const cases: DiffCase[] = [
    {
      name: "nothing changed",
      olds: { ...base, sha256: sha, remoteSha256: sha },
      news: base,
      changes: false,
      replaces: [],
    },
    // Outputs keep the content's SHA-256, not the content (issue 19: state per resource).
    {
      name: "outputs without the content, the same content: no change",
      olds: { connection, path: base.path, sha256: sha, remoteSha256: sha },
      news: base,
      changes: false,
      replaces: [],
    },
    {
      name: "outputs without the content, other content: an update",
      olds: { connection, path: base.path, sha256: sha, remoteSha256: sha },
      news: { ...base, content: "y" },
      changes: true,
      replaces: [],
    },
    {
      name: "content not known yet in preview: an update",
      olds: { connection, path: base.path, sha256: sha, remoteSha256: sha },
      news: { ...base, content: UNKNOWN },
      changes: true,
      replaces: [],
    },
    {
      name: "secretOutputs false recorded (release 0.1.x), absent now: no change",
      olds: { ...base, secretOutputs: false, sha256: sha, remoteSha256: sha },
      news: base,
      changes: false,
      replaces: [],
    },
    {
      name: "new content: an update",
      olds: { ...base, sha256: sha, remoteSha256: sha },
      news: { ...base, content: "y" },
      changes: true,
      replaces: [],
    },
    {
      name: "another path: replaced (and, case only, too: the delete runs first)",
      olds: base,
      news: { ...base, path: "C:\\app\\A.txt" },
      changes: true,
      replaces: ["path"],
    },
    {
      name: "a path unknown in preview: replaced",
      olds: base,
      news: { ...base, path: UNKNOWN },
      changes: true,
      replaces: ["path"],
    },
    {
      name: "a new password: a change, no replacement",
      olds: base,
      news: { ...base, connection: { ...connection, password: "q" } },
      changes: true,
      replaces: [],
    },
    {
      name: "another host: replaced",
      olds: base,
      news: { ...base, connection: { ...connection, host: "10.0.0.2" } },
      changes: true,
      replaces: ["connection"],
    },
    {
      name: "refresh found the remote file changed: drift, an update",
      olds: { ...base, sha256: sha, remoteSha256: "1".repeat(64) },
      news: base,
      changes: true,
      replaces: [],
    },
    {
      name: "the same source path, its file edited locally: an update",
      olds: { connection, path: base.path, source, sha256: sha, remoteSha256: sha },
      news: { connection, path: base.path, source },
      changes: true,
      replaces: [],
    },
    // In Diff the engine elides an asset's contents: its signature and its hash are all there
    // is (issue 12, item 1). The hash is the SHA-256 of the bytes, like ours.
    {
      name: "an asset handed over by its hash alone, the same content: no change",
      olds: { ...assetBase(sha), sha256: sha, remoteSha256: sha },
      news: assetBase(sha),
      changes: false,
      replaces: [],
    },
    {
      name: "state of release 0.1.0, without secretOutputs: no change",
      olds: { ...base, sha256: sha, remoteSha256: sha },
      news: { ...base, secretOutputs: false },
      changes: false,
      replaces: [],
    },
    {
      name: "content made secret: an update (its hash and size become secret)",
      olds: { ...base, secretOutputs: false, sha256: sha, remoteSha256: sha },
      news: { ...base, secretOutputs: true },
      changes: true,
      replaces: [],
    },
    {
      name: "an asset handed over by its hash alone, other content: an update",
      olds: { ...assetBase(sha), sha256: sha, remoteSha256: sha },
      news: assetBase("2".repeat(64)),
      changes: true,
      replaces: [],
    },
  ];
  for (const item of cases) {
    test(item.name, async () => {
      const result = await file.diff("id", item.olds, item.news);
      assert.equal(result.changes, item.changes);
      assert.deepEqual(result.replaces, item.replaces);
      assert.equal(result.deleteBeforeReplace, true);
    });
  }
});

describe("Reboot check, diff and update", () => {
  const base = {
    connection,
    triggers: ["1"],
    bootTime: "2026-01-01T00:00:00.000Z",
    rebooted: true,
    waitedSeconds: 40,
  };

  test("check names each bad input", () => {
    const failures = reboot
      .check(
        {},
        {
          connection,
          when: "sometimes",
          timeout: -1,
          test: "",
          shell: "bash",
          message: 'say "hi"',
          triggers: "not a list",
        },
      )
      .failures.map((failure) => failure.property);
    assert.deepEqual(failures.sort(), ["message", "shell", "test", "timeout", "triggers", "when"]);
    assert.deepEqual(
      reboot.check({}, { connection, message: "x".repeat(513) }).failures.map((f) => f.reason),
      ["must be at most 512 characters (shutdown.exe's limit)"],
    );
    assert.deepEqual(reboot.check({}, { connection, when: "pending", timeout: 900 }).failures, []);
  });

  test("a trigger changes it; another host replaces it; nothing changed is no change", () => {
    assert.deepEqual(reboot.diff("id", base, { connection, triggers: ["1"] }), {
      changes: false,
      replaces: [],
    });
    assert.deepEqual(reboot.diff("id", base, { connection, triggers: ["2"] }), {
      changes: true,
      replaces: [],
    });
    assert.deepEqual(
      reboot.diff("id", base, { connection: { ...connection, host: "10.0.0.9" }, triggers: ["1"] }),
      {
        changes: true,
        replaces: ["connection"],
      },
    );
  });

  test("an update of timeout, test or message alone restarts nothing and keeps the outputs", async () => {
    // The connection reaches nothing: a restart would fail.
    const { outs } = await reboot.update("id", base, {
      connection,
      triggers: ["1"],
      timeout: 60,
      message: "m",
    });
    assert.equal(outs.bootTime, base.bootTime);
    assert.equal(outs.rebooted, true);
    assert.equal(outs.waitedSeconds, 40);
    assert.equal(outs.timeout, 60);
  });
});

describe("RemoteArchive check and diff", () => {
  const folder = mkdtempSync(join(tmpdir(), "pulumi-winrm-lifecycle-archive-"));
  after(() => rmSync(folder, { recursive: true, force: true }));
  writeFileSync(join(folder, "a.txt"), "a");
  const manifest = { "a.txt": "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb" };
  const base = {
    connection,
    source: folder,
    remotePath: "C:\\site",
    manifest,
    drift: { changed: [], missing: [], extra: [] },
  };

  test("check refuses sources that cannot be placed, naming source", async () => {
    const first = async (source: unknown) => {
      const { failures } = await archive.check({}, { connection, source, remotePath: "C:\\site" });
      return failures.map((failure) => `${failure.property}: ${failure.reason}`)[0] ?? "";
    };
    assert.match(await first(join(folder, "missing")), /^source: .*does not exist/);
    assert.match(await first(join(folder, "a.txt")), /^source: .*is a file but not/);
    assert.match(await first({ assets: { "../x": { text: "x" } } }), /^source: .*\.\./);
    assert.match(
      await first({ assets: { "A.txt": { text: "1" }, "a.txt": { text: "2" } } }),
      /differ only in case/,
    );
    assert.match(await first({ uri: "https://example.com/a.zip" }), /^source: .*URI/);
    assert.equal(await first(folder), "");
    // Names Windows cannot store fail now when the connection says the host is Windows.
    const windows = { ...connection, scripts: "powershell" };
    const { failures } = await archive.check(
      {},
      {
        connection: windows,
        source: { assets: { "notes?.txt": { text: "x" } } },
        remotePath: "C:\\s",
      },
    );
    assert.match(failures[0]?.reason ?? "", /notes\?\.txt.*character Windows forbids/);
  });

  test("diff: same files no change; an edited file, drift or a new folder on the host do", async () => {
    assert.deepEqual(
      await archive.diff("id", base, { connection, source: folder, remotePath: "C:\\site" }),
      {
        changes: false,
        replaces: [],
        deleteBeforeReplace: true,
      },
    );
    const drifted = { ...base, drift: { changed: ["a.txt"], missing: [], extra: [] } };
    assert.equal(
      (await archive.diff("id", drifted, { connection, source: folder, remotePath: "C:\\site" }))
        .changes,
      true,
    );
    const moved = await archive.diff("id", base, {
      connection,
      source: folder,
      remotePath: "C:\\other",
    });
    assert.deepEqual(moved.replaces, ["remotePath"]);
    writeFileSync(join(folder, "a.txt"), "edited");
    assert.equal(
      (await archive.diff("id", base, { connection, source: folder, remotePath: "C:\\site" }))
        .changes,
      true,
    );
  });

  test("diff of an archive the engine elided compares the engine's hashes", async () => {
    const olds = { ...base, source: { assets: { "a.txt": { text: "a" } }, hash: "h1" } };
    const same = await archive.diff("id", olds, {
      connection,
      source: { hash: "h1" },
      remotePath: "C:\\site",
    });
    assert.equal(same.changes, false);
    const other = await archive.diff("id", olds, {
      connection,
      source: { hash: "h2" },
      remotePath: "C:\\site",
    });
    assert.equal(other.changes, true);
  });
});

describe("the provider objects are modules", () => {
  // Pulumi's closure serializer stores a captured object that is a module's exports as one
  // require() of that module (provider/index.ts): that holds only while each provider is
  // exactly the exports of its module under provider/lifecycle/, with the six methods.
  const cases = [
    ["remote-command", providers.remoteCommandProvider],
    ["remote-file", providers.remoteFileProvider],
    ["reboot", providers.rebootProvider],
    ["remote-archive", providers.remoteArchiveProvider],
  ] as const;
  for (const [name, provider] of cases) {
    test(name, () => {
      const path = require.resolve(`../../../provider/lifecycle/${name}`);
      assert.equal(require.cache[path]?.exports, provider);
      assert.deepEqual(Object.keys(provider).sort(), [
        "check",
        "create",
        "delete",
        "diff",
        "read",
        "update",
      ]);
    });
  }
});

describe("check and diff load no client", () => {
  // A provider process that only checks and diffs (a preview, an up that changes nothing)
  // must not pay for loading the WinRM client (provider/connection.ts, newClient). A fresh
  // process, so that what this file loaded does not count.
  test("each resource's check and diff leave the client and undici unloaded", () => {
    const root = join(__dirname, "..", "..", "..", "provider");
    const script = `
      const root = ${JSON.stringify(root)};
      const connection = ${JSON.stringify(connection)};
      const command = require(root + "/remote-command");
      const file = require(root + "/remote-file");
      const reboot = require(root + "/reboot");
      (async () => {
        const commandInputs = command.check({}, { connection, create: "echo hi" }).inputs;
        command.diff("id", commandInputs, { ...commandInputs, create: "echo ho" });
        const fileInputs = file.check({}, { connection, path: "a", content: "x" }).inputs;
        file.diff("id", fileInputs, { ...fileInputs, content: "y" });
        const rebootInputs = reboot.check({}, { connection }).inputs;
        reboot.diff("id", rebootInputs, { ...rebootInputs, triggers: ["b"] });
        const loaded = Object.keys(require.cache);
        const client = loaded.filter((path) => /winrm[\\\\/]client\\.js$|[\\\\/]undici[\\\\/]/.test(path));
        process.stdout.write(JSON.stringify({ modules: loaded.length, client }));
      })();
    `;
    const run = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    const { modules, client } = JSON.parse(run.stdout) as { modules: number; client: string[] };
    assert.deepEqual(client, []);
    assert.ok(modules > 5, `only ${modules} modules: did the providers load at all?`);
  });
});
