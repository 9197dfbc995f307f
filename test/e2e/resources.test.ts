/**
 * RemoteCommand and RemoteFile on the real Pulumi engine: pulumi-winrm packed with `npm pack`,
 * installed into a temporary project beside @pulumi/pulumi, and driven through the Automation
 * API (file:// backend, passphrase secrets) against the loopback host. Every test asserts what
 * the host's log says ran, and what the stack's state and outputs hold.
 *
 * The loopback host runs "cmd" commands with /bin/sh, so the commands here are sh.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { closedPort } from "../support/closed-port";
import { type Host, type LogCounters, type LogEntry, LogKind, startHost } from "../host";
import { createProject, type E2EProject } from "./support/project";
import type { OperationResult, ResourceSpec } from "./support/scenario";

interface StateResource {
  urn: string;
  type: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}

/** The resources of an exported deployment, by logical name (the stack itself left out). */
function resourcesOf(result: OperationResult | undefined): Map<string, StateResource> {
  assert.ok(result?.deployment, "the export operation returned no deployment");
  const { resources = [] } = result.deployment as { resources?: StateResource[] };
  return new Map(
    resources
      .filter((resource) => resource.type.startsWith("pulumi-nodejs:dynamic/winrm:"))
      .map((resource) => [resource.urn.slice(resource.urn.lastIndexOf("::") + 2), resource]),
  );
}

function outputsOf(result: OperationResult | undefined, name: string): Record<string, unknown> {
  const outputs = resourcesOf(result).get(name)?.outputs;
  assert.ok(outputs, `no resource ${name} in the exported state`);
  return outputs;
}

function inputsOf(result: OperationResult | undefined, name: string): Record<string, unknown> {
  const inputs = resourcesOf(result).get(name)?.inputs;
  assert.ok(inputs, `no resource ${name} in the exported state`);
  return inputs;
}

/** The ops the engine reported for one resource. */
const opsFor = (result: OperationResult | undefined, name: string) =>
  (result?.steps ?? []).filter((step) => step.name === name).map((step) => step.op);

const sh = (name: string, args: Record<string, unknown>, secrets?: string[]): ResourceSpec => ({
  kind: "RemoteCommand",
  name,
  args: { shell: "cmd", logging: "none", ...args },
  secrets,
});

const file = (name: string, args: Record<string, unknown>): ResourceSpec => ({
  kind: "RemoteFile",
  name,
  args,
});

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

describe("RemoteCommand and RemoteFile on the Pulumi engine", () => {
  let host: Host;
  let project: E2EProject;
  let work: string;
  let connection: Record<string, unknown>;
  before(async () => {
    project = await createProject();
    host = await startHost();
    work = mkdtempSync(join(tmpdir(), "pulumi-winrm-e2e-host-"));
    connection = { host: "127.0.0.1", port: host.port, user: host.user, password: host.password };
  });
  after(async () => {
    await host?.close();
    project?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Commands the host started whose command line contains `marker`, oldest first. */
  const started = (marker: string): LogEntry[] =>
    host.log
      .entries(LogKind.COMMAND_STARTED)
      .filter((entry) => entry.commandLine?.includes(marker) ?? false);

  /** What the host counted since `since`. */
  const counted = (since: LogCounters) => {
    const now = host.log.counters;
    return {
      commands: now.commandsRun - since.commandsRun,
      authentications: now.authentications - since.authentications,
      connections: now.connections - since.connections,
    };
  };

  test("(1) up creates a RemoteCommand and a RemoteFile, each command running once", async () => {
    const stack = project.stack("create", connection);
    const path = join(work, "create", "config.txt");
    const before = host.log.counters;
    const [up, exported] = await stack.runOk(
      [
        sh("hello", { create: "echo create-1-marker", delete: "echo delete-1-marker" }),
        file("config", { path, content: "hello file\n" }),
      ],
      ["up", "export"],
    );
    assert.deepEqual(up?.changes, { create: 3 }); // the stack and both resources
    assert.equal(started("create-1-marker").length, 1);
    assert.equal(started("delete-1-marker").length, 0);
    const commands = host.log
      .entries(LogKind.COMMAND_STARTED)
      .slice(-counted(before).commands)
      .map((entry) => entry.commandLine?.split("\n")[0]);
    // The command, then the file's upload (which creates its folder): content this small goes
    // without a remote hash first, the upload leaving an identical file as it is.
    assert.equal(commands.length, 2, commands.join(" | "));
    assert.equal(readFileSync(path, "utf8"), "hello file\n");
    const { shellsCreated, shellsDeleted } = host.log.counters;
    assert.equal(shellsDeleted - before.shellsDeleted, shellsCreated - before.shellsCreated);
    // One login per connection. Usually the command and the upload share one; on a loaded
    // machine the command's Receive can be held past HELD_RECEIVE_MS while the file waits,
    // and the pool then opens a second by design (CI with two e2e files beside four jobs saw
    // 2). That no resource logs in on its own is shown by test (2)'s eight resources.
    const logins = counted(before);
    assert.equal(logins.authentications, logins.connections, JSON.stringify(logins));
    assert.ok(logins.connections <= 2, JSON.stringify(logins));

    const hello = outputsOf(exported, "hello");
    assert.equal(hello.stdout, "create-1-marker\n");
    assert.equal(hello.exitCode, 0);
    assert.equal(hello.skipped, false);
    const config = outputsOf(exported, "config");
    assert.equal(config.size, 11);
    assert.equal(config.uploaded, true);
    assert.equal(
      config.sha256,
      "702b7d2e4b28c4f3ef1434bd2333a83427796a9007fb2a23248becd4d51a3e7f", // sha256("hello file\n")
    );
  });

  test("(2) every kind of file source settles: preview, a second up and a clean refresh show no changes and run nothing", async (t) => {
    const stack = project.stack("unchanged", connection);
    const local = (name: string, text: string) => {
      const path = join(work, `unchanged-${name}`);
      writeFileSync(path, text);
      return path;
    };
    const touched = local("touched.txt", "a FileAsset whose file is touched between runs\n");
    const remote = (name: string) => join(work, "unchanged", name);
    const resources = [
      sh("hello", { create: "echo create-2-marker" }),
      sh("second", { create: "echo create-2b-marker" }),
      file("content", { path: remote("content.txt"), content: "same\n" }),
      file("source", { path: remote("source.txt"), source: local("source.txt", "a source\n") }),
      file("fileAsset", {
        path: remote("file-asset.txt"),
        asset: { $asset: "file", value: local("asset.txt", "a FileAsset\n") },
      }),
      file("stringAsset", {
        path: remote("string-asset.txt"),
        asset: { $asset: "string", value: "a StringAsset\n" },
      }),
      file("touchedAsset", {
        path: remote("touched.txt"),
        asset: { $asset: "file", value: touched },
      }),
    ];
    const start = host.log.counters;
    const [first] = await stack.runOk(resources, ["up"]);
    // Eight resources on one host: one login per connection, not per resource (issue 12,
    // item 7). The pool opens another connection when a Receive has been held 50 ms while
    // other requests wait (HELD_RECEIVE_MS, issue 19), which a loaded machine causes: CI,
    // running two e2e files beside four other jobs on 2 cores, saw 7 commands over 5
    // connections, each with one login. A login per resource would be 8 of each.
    const logins = counted(start);
    assert.ok(logins.connections < resources.length, JSON.stringify(logins));
    assert.equal(logins.authentications, logins.connections, JSON.stringify(logins));
    t.diagnostic(`first up: ${JSON.stringify(logins)} in ${first?.durationMs} ms`);
    // Touched, not changed (issue 12, item 1).
    const later = new Date(Date.now() + 60_000);
    utimesSync(touched, later, later);
    const before = host.log.counters;
    const [preview, second] = await stack.runOk(resources, ["preview", "up"]);
    assert.deepEqual(preview?.changes, { same: 8 });
    assert.deepEqual(second?.changes, { same: 8 });
    t.diagnostic(`second up, nothing to do: ${second?.durationMs} ms`);
    assert.deepEqual(counted(before), { commands: 0, authentications: 0, connections: 0 });
    assert.equal(started("create-2-marker").length, 1);
    const [refresh, third] = await stack.runOk(resources, ["refresh", "up"]);
    assert.deepEqual(refresh?.changes, { same: 8 }, "a refresh with nothing changed by hand");
    assert.deepEqual(third?.changes, { same: 8 });
  });

  test("(2) a later resource does not wait behind a quiet command's Receive: one more login at most", async () => {
    const stack = project.stack("one-login", connection);
    const before = host.log.counters;
    await stack.runOk(
      [
        sh("first", { create: "echo one-login-marker" }),
        // Runs alone once "first" is done, its Receive waiting on the one connection...
        sh("quiet", { create: "sleep 8; echo quiet-marker" }),
        // ...when this file, which needed first's output, sends its requests.
        file("later", {
          path: join(work, "one-login", "later.txt"),
          content: { $output: "first", property: "stdout" },
        }),
      ],
      ["up"],
    );
    assert.equal(readFileSync(join(work, "one-login", "later.txt"), "utf8"), "one-login-marker\n");
    // The quiet command holds the first connection with its Receives; the file's requests get
    // a second one instead of taking turns (issue 19), and keep it: one login each.
    const { authentications, connections } = counted(before);
    assert.ok(connections >= 1 && connections <= 2, `${connections} connections`);
    assert.equal(authentications, connections, "one login per connection");
  });

  test("(3) a changed create updates; a changed trigger replaces, running delete then create", async () => {
    const stack = project.stack("changes", connection);
    const args = { create: "echo create-3a-marker", delete: "echo delete-3-marker" };
    await stack.runOk([sh("cmd", { ...args, triggers: [1] })], ["up"]);

    const [preview, update, afterUpdate] = await stack.runOk(
      [sh("cmd", { ...args, create: "echo create-3b-marker", triggers: [1] })],
      ["preview", "up", "export"],
    );
    // The diff names the input the user changed and nothing else (issue 12, item 6): no
    // outputs-to-be shown as added inputs.
    const previewed = preview?.steps.find((step) => step.name === "cmd");
    assert.equal(previewed?.op, "update");
    assert.deepEqual(previewed?.changedInputs, ["create"]);
    assert.doesNotMatch(preview?.output ?? "", /\+ (stdout|stderr|state|appliedState)\b/);
    assert.deepEqual(update?.changes, { same: 1, update: 1 });
    assert.deepEqual(opsFor(update, "cmd"), ["update"]);
    assert.equal(started("create-3b-marker").length, 1);
    assert.equal(started("delete-3-marker").length, 0);
    assert.equal(outputsOf(afterUpdate, "cmd").stdout, "create-3b-marker\n");

    const [replace] = await stack.runOk(
      [sh("cmd", { ...args, create: "echo create-3c-marker", triggers: [2] })],
      ["up"],
    );
    assert.deepEqual(replace?.changes, { same: 1, replace: 1 });
    const deleted = started("delete-3-marker");
    const created = started("create-3c-marker");
    assert.equal(deleted.length, 1);
    assert.equal(created.length, 1);
    const order = host.log.entries(LogKind.COMMAND_STARTED);
    assert.ok(
      order.indexOf(deleted[0]!) < order.indexOf(created[0]!),
      "delete must run before the replacement's create",
    );
    assert.equal(started("create-3a-marker").length, 1);
  });

  test("(3) a connection-only change (same host) updates the stored connection and runs nothing", async () => {
    const resources = [
      sh("cmd", { create: "echo create-3d-marker", delete: "echo delete-3d-marker" }),
      file("config", { path: join(work, "connection-only.txt"), content: "kept\n" }),
    ];
    await project.stack("connection-only", connection).runOk(resources, ["up"]);
    const before = host.log.counters;
    // A longer OperationTimeout: the connection input changes, the host does not.
    const changed = project.stack("connection-only", { ...connection, operationTimeout: 45 });
    const [preview, up, exported, again] = await changed.runOk(resources, [
      "preview",
      "up",
      "export",
      "up",
    ]);
    // Both are updates whose diff shows no other input (issue 12, item 6); the connection is
    // secret, so the events show it as "[secret]" before and after.
    for (const name of ["cmd", "config"]) {
      const step = preview?.steps.find((candidate) => candidate.name === name);
      assert.equal(step?.op, "update", name);
      assert.deepEqual(step?.changedInputs, [], name);
    }
    assert.deepEqual(opsFor(up, "cmd"), ["update"]);
    assert.equal(started("create-3d-marker").length, 1, "the update re-ran create");
    assert.equal(started("delete-3d-marker").length, 0, "the update replaced the command");
    // The file's content is sent again (one command, content this small goes without a remote
    // hash first) and the host's identical file is left as it is.
    assert.equal(counted(before).commands, 1);
    assert.equal(outputsOf(exported, "cmd").stdout, "create-3d-marker\n");
    assert.equal(outputsOf(exported, "config").uploaded, false);
    assert.deepEqual(again?.changes, { same: 3 });
  });

  test("logging streams a command's stdout and stderr to the Pulumi output as chosen", async () => {
    const stack = project.stack("logging", connection);
    const choices = ["stdoutAndStderr", "stdout", "stderr", "none"] as const;
    const [up] = await stack.runOk(
      choices.map((logging) =>
        sh(`log-${logging}`, {
          logging,
          create: `echo out-of-${logging}-marker; echo err-of-${logging}-marker >&2`,
        }),
      ),
      ["up"],
    );
    // What the engine shows as the provider's messages while the commands run (the stack
    // outputs, which hold stdout too, are not diagnostics).
    const shown = (up?.diagnostics ?? [])
      .filter((diagnostic) => diagnostic.severity !== "debug")
      .map((diagnostic) => diagnostic.message)
      .join("\n");
    const expected: Record<(typeof choices)[number], [boolean, boolean]> = {
      stdoutAndStderr: [true, true],
      stdout: [true, false],
      stderr: [false, true],
      none: [false, false],
    };
    for (const logging of choices) {
      const [out, err] = expected[logging];
      assert.equal(shown.includes(`out-of-${logging}-marker`), out, `stdout with ${logging}`);
      assert.equal(shown.includes(`err-of-${logging}-marker`), err, `stderr with ${logging}`);
    }
    // Each line is shown under the resource that printed it, not the stack (issue 12, item 5).
    const streamed = (up?.diagnostics ?? []).filter((item) => item.severity !== "debug");
    for (const diagnostic of streamed) {
      const marker = /(out|err)-of-(\w+)-marker/.exec(diagnostic.message);
      if (marker === null) continue;
      assert.match(
        diagnostic.urn,
        new RegExp(`::pulumi-nodejs:dynamic/winrm:RemoteCommand::log-${marker[2]}$`),
      );
    }
    assert.match(
      up?.output ?? "",
      /RemoteCommand log-stdout +(creating|running).*out-of-stdout-marker/,
    );
  });

  test("(6) destroy runs the delete commands and removes files with deleteOnDestroy", async () => {
    const stack = project.stack("destroy", connection);
    const removed = join(work, "destroy-removed.txt");
    const kept = join(work, "destroy-kept.txt");
    const resources = [
      sh("first", {
        create: "echo create-6a-marker",
        delete: "echo delete-6a-marker",
        logging: "stdout",
      }),
      sh("second", { create: "echo create-6b-marker", delete: "echo delete-6b-marker" }),
      sh("third", { create: "echo create-6c-marker" }),
      file("removed", { path: removed, content: "goes away\n" }),
      file("kept", { path: kept, content: "stays\n", deleteOnDestroy: false }),
    ];
    const [, created] = await stack.runOk(resources, ["up", "export"]);
    assert.ok(existsSync(removed) && existsSync(kept));
    // The URN stays in the outputs only where `delete` prints something (issue 19).
    assert.match(String(outputsOf(created, "first").__urn), /:RemoteCommand::first$/);
    assert.equal(outputsOf(created, "third").__urn, undefined);
    const [destroy, exported] = await stack.runOk(resources, ["destroy", "export"]);
    assert.deepEqual(destroy?.changes, { delete: 6 });
    assert.equal(started("delete-6a-marker").length, 1);
    assert.equal(started("delete-6b-marker").length, 1);
    // What a delete command prints is shown under its resource, as during up.
    const printed = (destroy?.diagnostics ?? []).filter((item) =>
      item.message.includes("delete-6a-marker"),
    );
    assert.ok(printed.length > 0, "the delete command's output was not shown");
    for (const item of printed) assert.match(item.urn, /:RemoteCommand::first$/);
    assert.equal(existsSync(removed), false);
    assert.equal(readFileSync(kept, "utf8"), "stays\n");
    assert.equal(resourcesOf(exported).size, 0);
  });

  test("(7) secrets stay out of the state, the serialized provider and the CLI output", async () => {
    const password = host.password;
    const secretCommand = "cat; echo secret-create-7-marker";
    const secretStdin = "stdin-secret-7-value";
    const stack = project.stack("secrets", connection);
    const results = await stack.runOk(
      [
        sh("secret", { create: secretCommand, stdin: secretStdin, read: "echo read-7" }, [
          "create",
          "stdin",
        ]),
        file("plain", { path: join(work, "secrets.txt"), content: "not secret\n" }),
        {
          kind: "RemoteFile",
          name: "secretFile",
          args: { path: join(work, "secret-file.txt"), content: "file-secret-7-content\n" },
          secrets: ["content"],
        },
      ],
      ["up", "refresh", "export"],
    );
    assert.equal(started("secret-create-7-marker").length, 1, "the secret command ran");

    const exported = results[2];
    const state = JSON.stringify(exported?.deployment);
    for (const secret of [
      password,
      secretCommand,
      secretStdin,
      "secret-create-7-marker",
      "file-secret-7-content",
    ]) {
      assert.ok(!state.includes(secret), `the exported state holds ${JSON.stringify(secret)}`);
      for (const result of results) {
        // Debug diagnostics are left out: @pulumi/pulumi's own runtime logs every
        // RegisterResource response at debug level, secrets decrypted (shown only with --debug).
        const shown = result.diagnostics
          .filter((diagnostic) => diagnostic.severity !== "debug")
          .map((diagnostic) => diagnostic.message);
        assert.ok(
          !result.output.includes(secret) && !shown.join("\n").includes(secret),
          `the output of pulumi ${result.operation} holds ${JSON.stringify(secret)}`,
        );
      }
    }
    for (const [name, resource] of resourcesOf(exported)) {
      const provider = resource.inputs?.__provider;
      assert.equal(typeof provider, "string", `${name} has a serialized provider`);
      const text = provider as string;
      console.log(`serialized provider of ${name}: ${Buffer.byteLength(text)} bytes`);
      // Installed under node_modules, the provider module is stored as one require() of it
      // (provider/index.ts): a few hundred bytes, stored twice per resource (issue 19).
      assert.ok(text.length <= 400, `${name}'s serialized provider is ${text.length} bytes`);
      assert.match(
        text,
        /require\("pulumi-winrm\/dist\/provider\/lifecycle\/remote-(command|file)\.js"\)/,
      );
      assert.equal(outputsOf(exported, name).__provider, provider);
    }
    // The engine keeps them secret: ciphertext in place of the values, after the refresh too.
    const secret = outputsOf(exported, "secret");
    for (const name of ["connection", "create", "stdin", "stdout", "stderr", "state"]) {
      assert.ok(
        JSON.stringify(secret[name]).includes("ciphertext"),
        `output ${name} of the secret command is stored in plaintext`,
      );
    }
    const plain = outputsOf(exported, "plain");
    assert.ok(JSON.stringify(plain.connection).includes("ciphertext"));
    // The content is kept once, with the inputs; the outputs keep its hash (issue 19).
    assert.equal(plain.content, undefined, "the outputs repeat the content");
    assert.equal(inputsOf(exported, "plain").content, "not secret\n");
    assert.match(String(plain.sha256), /^[0-9a-f]{64}$/, "a plain file's hash stays readable");
    // Secret content: its hash and size would confirm a guess, so they are secret too.
    const secretFile = outputsOf(exported, "secretFile");
    assert.ok(JSON.stringify(inputsOf(exported, "secretFile").content).includes("ciphertext"));
    for (const name of ["sha256", "size", "remoteSha256"]) {
      assert.ok(
        JSON.stringify(secretFile[name]).includes("ciphertext"),
        `output ${name} of the secret file is stored in plaintext`,
      );
    }
    const digest = createHash("sha256").update("file-secret-7-content\n").digest("hex");
    assert.ok(!state.includes(digest), "the secret content's SHA-256 is in the state");
    // Nor in a command line the host saw: those are logged on Windows (process creation
    // auditing, PowerShell script block logging). A plain file's hash is named in its upload
    // script (the known-hash upload), which shows this check can see one.
    const plainDigest = createHash("sha256").update("not secret\n").digest("hex");
    assert.ok(started(plainDigest).length > 0, "the plain file's upload names its hash");
    assert.deepEqual(
      started(digest).map((entry) => entry.commandLine),
      [],
      "a command line holds the secret content's SHA-256",
    );
  });

  test("(7) a failing command whose stdin is secret: the error gives the exit code, never its output", async () => {
    const secretStdin = "stdin-secret-7b-value";
    const stack = project.stack("secret-failure", connection);
    const [failed] = await stack.run(
      [
        sh(
          "leaky",
          // Echoes its secret input to both streams, asks for both to be logged, and fails.
          {
            create: "cat >&2; echo; echo $SECRET_7B; exit 3",
            stdin: secretStdin,
            environment: { SECRET_7B: "env-secret-7b-value" },
            logging: "stdoutAndStderr",
          },
          ["stdin", "environment"],
        ),
      ],
      ["up"],
    );
    assert.equal(failed?.ok, false);
    assert.match(failed?.error ?? "", /exited with code 3/);
    assert.match(
      failed?.error ?? "",
      /withheld because the commands, stdin or environment are secret; run it by hand/,
    );
    const shown = [
      failed?.error ?? "",
      failed?.output ?? "",
      ...(failed?.diagnostics ?? [])
        .filter((diagnostic) => diagnostic.severity !== "debug")
        .map((diagnostic) => diagnostic.message),
    ].join("\n");
    for (const secret of [secretStdin, "env-secret-7b-value"]) {
      assert.ok(!shown.includes(secret), `pulumi up's output holds ${secret}`);
    }
  });

  test("(4) test exiting 0 skips the action; refresh sees the guard gone and up re-applies", async () => {
    const guard = join(work, "guard");
    writeFileSync(guard, "on\n");
    const stack = project.stack("guarded", connection);
    const resources = [
      sh("guarded", {
        test: `test -f ${quote(guard)}`,
        create: `echo apply-4-marker; echo on > ${quote(guard)}`,
        read: `cat ${quote(guard)} 2>/dev/null || echo missing`,
      }),
    ];
    const [up, skipped] = await stack.runOk(resources, ["up", "export"]);
    assert.deepEqual(up?.changes, { create: 2 });
    assert.equal(started("apply-4-marker").length, 0, "test exited 0: create must not run");
    assert.equal(outputsOf(skipped, "guarded").skipped, true);
    assert.equal(outputsOf(skipped, "guarded").state, "on\n");

    // Nothing changed out of band: a refresh changes nothing.
    const [quiet] = await stack.runOk(resources, ["refresh"]);
    assert.equal(quiet?.changes?.update ?? 0, 0);

    rmSync(guard);
    const [refresh, drifted] = await stack.runOk(resources, ["refresh", "export"]);
    assert.equal(refresh?.changes?.update, 1, "refresh must show the resource changed");
    assert.equal(outputsOf(drifted, "guarded").inSync, false);
    assert.equal(outputsOf(drifted, "guarded").state, "missing\n");
    assert.equal(started("apply-4-marker").length, 0, "refresh must not apply");

    const [reapply, fixed, after] = await stack.runOk(resources, ["up", "export", "refresh"]);
    assert.deepEqual(reapply?.changes, { same: 1, update: 1 });
    assert.equal(started("apply-4-marker").length, 1);
    assert.equal(readFileSync(guard, "utf8"), "on\n");
    assert.equal(outputsOf(fixed, "guarded").skipped, false);
    assert.equal(outputsOf(fixed, "guarded").inSync, true);
    assert.equal(outputsOf(fixed, "guarded").state, "on\n");
    assert.equal(after?.changes?.update ?? 0, 0, "back in sync: refresh shows no change");
  });

  test("(5) RemoteFiles edited and deleted on the host show as drift and up restores them", async () => {
    const edited = join(work, "drift-edited.txt");
    const deleted = join(work, "drift-deleted.txt");
    const stack = project.stack("drift", connection);
    const resources = [
      file("edited", { path: edited, content: "original one\n" }),
      file("deleted", { path: deleted, content: "original two\n" }),
    ];
    await stack.runOk(resources, ["up"]);
    const [quiet] = await stack.runOk(resources, ["refresh"]);
    assert.equal(quiet?.changes?.update ?? 0, 0);

    writeFileSync(edited, "edited by hand\n");
    rmSync(deleted);
    const [refresh, drifted] = await stack.runOk(resources, ["refresh", "export"]);
    assert.equal(refresh?.changes?.update, 2, "refresh must show both files changed");
    assert.equal(outputsOf(drifted, "deleted").remoteSha256, "absent");
    assert.notEqual(outputsOf(drifted, "edited").remoteSha256, outputsOf(drifted, "edited").sha256);

    const [up, restored] = await stack.runOk(resources, ["up", "export"]);
    assert.deepEqual(up?.changes, { same: 1, update: 2 });
    assert.equal(readFileSync(edited, "utf8"), "original one\n");
    assert.equal(readFileSync(deleted, "utf8"), "original two\n");
    for (const name of ["edited", "deleted"]) {
      assert.equal(outputsOf(restored, name).uploaded, true);
      assert.equal(outputsOf(restored, name).remoteSha256, outputsOf(restored, name).sha256);
    }
    const [again] = await stack.runOk(resources, ["up"]);
    assert.deepEqual(again?.changes, { same: 3 });
  });

  test("(8) a wrong password fails up at once with a clear error; a rerun with the right one succeeds", async () => {
    // As some WS-Management servers do, the host closes the connection to refuse the login
    // instead of answering 401 (issue 12, item 2); the default readyTimeout (300 s) stays, so
    // a refusal taken for a host that is down would be waited out.
    host.faults.closeConnectionOnRefusedLogin();
    const stack = project.stack("password", { ...connection, password: "not-the-password" });
    const resources = [sh("cmd", { create: "echo create-8a-marker" })];
    const failures = host.log.counters.authenticationFailures;
    let failed: OperationResult | undefined;
    try {
      [failed] = await stack.run(resources, ["up"]);
    } finally {
      host.faults.reset();
    }
    assert.equal(failed?.ok, false);
    const error = failed?.error ?? "";
    assert.match(error, /refused negotiate authentication for "winrm-test"/);
    assert.match(error, /closed the connection in answer to the credentials/);
    assert.doesNotMatch(error, /cannot reach|firewall/);
    assert.ok(!error.includes("not-the-password"), "the error holds the password");
    assert.equal(host.log.counters.authenticationFailures - failures, 1, "one login was tried");
    assert.ok(
      host.log
        .entries(LogKind.FAULT_INJECTED)
        .some((entry) => entry.detail === "connection closed on a refused login"),
      "the host closed the connection rather than answering 401",
    );
    assert.equal(started("create-8a-marker").length, 0);
    process.stdout.write(
      `# issue 12 item 2: from a wrong password to the error: ${(failed.durationMs / 1000).toFixed(1)} s (the whole up)\n`,
    );

    const fixed = project.stack("password", connection);
    const [up, exported] = await fixed.runOk(resources, ["up", "export"]);
    assert.deepEqual(up?.changes, { create: 1, same: 1 });
    assert.equal(started("create-8a-marker").length, 1);
    assert.equal(outputsOf(exported, "cmd").stdout, "create-8a-marker\n");
  });

  test("(8) a command that exits 3 fails up with its exit code and stderr; a fixed rerun succeeds", async () => {
    const stack = project.stack("exit3", connection);
    const [failed, exported] = await stack.run(
      [sh("cmd", { create: "echo create-8b-marker; echo the-reason >&2; exit 3" })],
      ["up", "export"],
    );
    assert.equal(failed?.ok, false);
    assert.match(failed?.error ?? "", /exit(ed)? (with )?(code )?3/i);
    assert.match(failed?.error ?? "", /the-reason/);
    assert.equal(exported, undefined);
    const [state] = await stack.runOk([], ["export"]);
    assert.equal(resourcesOf(state).size, 0, "a failed create leaves nothing recorded");

    const [up] = await stack.runOk([sh("cmd", { create: "echo create-8c-marker" })], ["up"]);
    assert.deepEqual(up?.changes, { create: 1, same: 1 });
    assert.equal(started("create-8c-marker").length, 1);
  });

  test("(8) an unreachable host fails up saying so; a rerun with the right port succeeds", async () => {
    const port = await closedPort();
    const stack = project.stack("unreachable", {
      ...connection,
      port,
      readyTimeout: 2,
    });
    const resources = [sh("cmd", { create: "echo create-8d-marker" })];
    const [failed] = await stack.run(resources, ["up"]);
    assert.equal(failed?.ok, false);
    assert.match(
      failed?.error ?? "",
      new RegExp(
        `cannot reach 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\) after trying for 2 s: .*raise readyTimeout for`,
      ),
    );
    // The user set seconds on the resource: the message speaks in them (issue 12, item 4).
    assert.doesNotMatch(failed?.error ?? "", /2000 ms|readyTimeoutMs/);
    const [up] = await project.stack("unreachable", connection).runOk(resources, ["up"]);
    assert.deepEqual(up?.changes, { create: 1, same: 1 });
    assert.equal(started("create-8d-marker").length, 1);
  });

  test("(8) a command that outlives its timeout fails up saying so; a fixed rerun succeeds", async () => {
    const stack = project.stack("timeout", connection);
    const signals = host.log.counters.signals;
    const [failed] = await stack.run(
      [sh("cmd", { create: "echo create-8e-marker; sleep 60", timeout: 2 })],
      ["up"],
    );
    assert.equal(failed?.ok, false);
    assert.match(
      failed?.error ?? "",
      /the create command did not finish within 2000 ms and was terminated/,
    );
    assert.ok((failed?.durationMs ?? Infinity) < 30_000, "the timeout must end the command");
    assert.ok(host.log.counters.signals > signals, "the command is terminated on the host");
    const [up] = await stack.runOk(
      [sh("cmd", { create: "echo create-8f-marker", timeout: 2 })],
      ["up"],
    );
    assert.deepEqual(up?.changes, { create: 1, same: 1 });
    assert.equal(started("create-8f-marker").length, 1);
  });

  test("(9) a host that refuses connections for its first 30 s is waited for", async () => {
    // 30 s from the host's start: the provider's first attempt comes a few seconds into `up`
    // (more on a loaded machine), and the wait must still span two report intervals.
    const booting = await startHost({ refuseConnectionsForMs: 30_000 });
    try {
      const stack = project.stack("booting", {
        host: "127.0.0.1",
        port: booting.port,
        user: booting.user,
        password: booting.password,
        readyTimeout: 60,
      });
      const bootedAt = Date.now() + 30_000;
      const [up] = await stack.runOk([sh("cmd", { create: "echo create-9-marker" })], ["up"]);
      assert.deepEqual(up?.changes, { create: 2 });
      const said = (up?.diagnostics ?? []).map((diagnostic) => diagnostic.message).join("\n");
      const ran = booting.log
        .entries(LogKind.COMMAND_STARTED)
        .filter((entry) => entry.commandLine?.includes("create-9-marker"));
      assert.equal(ran.length, 1, said);
      assert.ok(
        ran[0]!.timestamp >= bootedAt - 1000,
        `the command ran once the host was up: at ${ran[0]!.timestamp}, up at ${bootedAt}`,
      );
      // The wait is never silent (issue 12, item 3): a line when it begins and every 10 s,
      // (the issue asks for at least every 15 s)
      // naming the host, the last attempt's failure and how long of how long, in seconds.
      const lines = [
        ...said.matchAll(
          /waiting for 127\.0\.0\.1:(\d+) to answer \(last attempt: ECONNREFUSED\): (\d+(?:\.\d+)?) s of 60 s \(readyTimeout\)/g,
        ),
      ];
      assert.ok(lines.length >= 2, `at least two progress lines in:\n${said}`);
      assert.ok(
        lines.every((line) => line[1] === String(booting.port)),
        said,
      );
      const waited = lines.map((line) => Number(line[2]));
      assert.equal(waited[0], 0, `a line as soon as the wait begins:\n${said}`);
      // Reports are due every 10 s from the wait's start; a line gives whole seconds, and a
      // timer can fire a second late while CI runs five test processes on two cores, so the
      // bound here is 12 s, still within the issue's 15.
      for (let n = 1; n < waited.length; n++) {
        assert.ok(
          waited[n]! - waited[n - 1]! <= 12,
          `no silence beyond 10 s (12 with a late timer): ${waited.join(", ")}`,
        );
      }
    } finally {
      await booting.close();
    }
  });

  test("(10) 50 RemoteCommands against one host in one up", async () => {
    const stack = project.stack("fifty", { ...connection, maxConcurrency: 5 });
    const resources = Array.from({ length: 50 }, (_, index) =>
      sh(`c${index}`, { create: `sleep 0.2; echo fifty-10-marker-${index}` }),
    );
    const before = host.log.counters;
    const since = host.log.entries().length;
    const [up] = await stack.runOk(resources, ["up"]);
    assert.equal(up?.changes?.create, 51);
    assert.equal(started("fifty-10-marker-").length, 50);
    // In flight at once, from the host's own start and exit records.
    let inFlight = 0;
    let peak = 0;
    for (const entry of host.log.entries().slice(since)) {
      if (!entry.commandLine?.includes("fifty-10-marker-")) continue;
      if (entry.kind === LogKind.COMMAND_STARTED) peak = Math.max(peak, ++inFlight);
      if (entry.kind === LogKind.COMMAND_EXITED) inFlight--;
    }
    const { authentications, connections } = counted(before);
    console.log(
      `50 RemoteCommands: ${authentications} authentication(s) over ${connections} ` +
        `connection(s), at most ${peak} commands in flight, up took ${up?.durationMs} ms`,
    );
    const shells = host.log.counters;
    assert.equal(
      shells.shellsDeleted - before.shellsDeleted,
      shells.shellsCreated - before.shellsCreated,
      "the provider must delete its shells before it exits (MaxShellsPerUser counts them)",
    );
    // maxConcurrency means what it says (issue 19): five commands at once, each Receive held
    // by a running command on a connection of its own rather than taking turns at one, and
    // no more connections than one beyond maxConcurrency, each logged in once.
    assert.equal(peak, 5, `maxConcurrency 5, but at most ${peak} commands ran at once`);
    assert.ok(connections <= 6, `${connections} connections for maxConcurrency 5`);
    assert.equal(authentications, connections, "one login per connection");
  });
});
