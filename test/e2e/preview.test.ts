/**
 * `pulumi preview` with inputs that are not known yet: a RemoteCommand and a RemoteFile whose
 * command, environment and content come from another RemoteCommand's stdout. The engine hands
 * the provider's check and diff placeholders for those values during preview; the provider must
 * accept them, report the right plan and run nothing on the host.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { type LogCounters, LogKind } from "../host";
import type { OperationResult, ResourceSpec } from "./support/scenario";
import { e2eFixture } from "./support/fixture";

const opsFor = (result: OperationResult | undefined, name: string) =>
  (result?.steps ?? []).filter((step) => step.name === name).map((step) => step.op);

describe("preview with unknown inputs", () => {
  const fixture = e2eFixture("preview");

  const quiet = (since: LogCounters) => {
    const now = fixture.host.log.counters;
    assert.deepEqual(
      {
        commands: now.commandsRun - since.commandsRun,
        shells: now.shellsCreated - since.shellsCreated,
        authentications: now.authentications - since.authentications,
        requests: now.requests - since.requests,
      },
      { commands: 0, shells: 0, authentications: 0, requests: 0 },
      "preview reached the host",
    );
  };

  const resourcesFor = (marker: string): ResourceSpec[] => [
    {
      kind: "RemoteCommand",
      name: "source",
      // Prints the path the file goes to: a value no preview can know.
      args: {
        shell: "cmd",
        logging: "none",
        create: `printf %s ${join(fixture.work, `${marker}.txt`)}`,
      },
    },
    {
      kind: "RemoteCommand",
      name: "consumer",
      args: {
        shell: "cmd",
        logging: "none",
        create: { $output: "source", property: "stdout", template: 'echo "consumed {}" "$FROM"' },
        environment: { FROM: { $output: "source", property: "stdout", template: "env-{}" } },
      },
    },
    {
      kind: "RemoteFile",
      name: "derived",
      args: {
        // An empty placeholder instead of "unknown" would fail check here (an empty path).
        path: { $output: "source", property: "stdout" },
        content: { $output: "source", property: "stdout", template: "{}\n" },
      },
    },
  ];

  test("create and update plans with unknown command, environment and content run nothing", async () => {
    const stack = fixture.project.stack("unknowns", fixture.connection);
    // A fresh stack: everything downstream of `source` is unknown until it runs.
    let before = fixture.host.log.counters;
    const [firstPreview] = await stack.runOk(resourcesFor("first-marker"), ["preview"]);
    quiet(before);
    for (const name of ["source", "consumer", "derived"]) {
      assert.deepEqual(opsFor(firstPreview, name), ["create"], name);
    }

    const [up] = await stack.runOk(resourcesFor("first-marker"), ["up"]);
    const consumer = up?.outputs?.consumer?.value as { stdout: string };
    const first = join(fixture.work, "first-marker.txt");
    assert.equal(consumer.stdout, `consumed ${first} env-${first}\n`);
    assert.equal(
      readFileSync(join(fixture.work, "first-marker.txt"), "utf8"),
      `${join(fixture.work, "first-marker.txt")}\n`,
    );

    // `source` changes: its stdout, and so everything built from it, is unknown again.
    before = fixture.host.log.counters;
    const [secondPreview] = await stack.runOk(resourcesFor("second-marker"), ["preview"]);
    quiet(before);
    assert.deepEqual(opsFor(secondPreview, "source"), ["update"]);
    assert.deepEqual(opsFor(secondPreview, "consumer"), ["update"]);
    // A path not known yet may be a new path: replace (delete before create).
    assert.ok(opsFor(secondPreview, "derived").includes("replace"), "derived is replaced");

    const countBefore = fixture.host.log.entries(LogKind.COMMAND_STARTED).length;
    const [secondUp] = await stack.runOk(resourcesFor("second-marker"), ["up"]);
    const updated = secondUp?.outputs?.consumer?.value as { stdout: string };
    const second = join(fixture.work, "second-marker.txt");
    assert.equal(updated.stdout, `consumed ${second} env-${second}\n`);
    assert.equal(
      readFileSync(join(fixture.work, "second-marker.txt"), "utf8"),
      `${join(fixture.work, "second-marker.txt")}\n`,
    );
    assert.ok(!existsSync(join(fixture.work, "first-marker.txt")), "the old path was removed");
    assert.ok(fixture.host.log.entries(LogKind.COMMAND_STARTED).length > countBefore);
  });

  test("a connection whose host comes from another resource (a new VM's address)", async () => {
    const stack = fixture.project.stack("unknown-host", fixture.connection);
    const filePath = join(fixture.work, "on-new-host.txt");
    // `machine` stands for the resource that creates the VM: it prints the address to use.
    const resources = (address: string): ResourceSpec[] => [
      {
        kind: "RemoteCommand",
        name: "machine",
        args: { shell: "cmd", logging: "none", create: `printf ${address}` },
      },
      {
        kind: "RemoteCommand",
        name: "bootstrap",
        args: { shell: "cmd", logging: "none", create: "echo bootstrapped-new-host" },
        connection: { host: { $output: "machine", property: "stdout" } },
      },
      {
        kind: "RemoteFile",
        name: "settings",
        args: { path: filePath, content: "on the new host\n" },
        connection: { host: { $output: "machine", property: "stdout" } },
      },
    ];
    const before = fixture.host.log.counters;
    const [preview] = await stack.runOk(resources("127.0.0.1"), ["preview"]);
    quiet(before);
    for (const name of ["machine", "bootstrap", "settings"]) {
      assert.deepEqual(opsFor(preview, name), ["create"], name);
    }
    const [up] = await stack.runOk(resources("127.0.0.1"), ["up"]);
    const bootstrap = up?.outputs?.bootstrap?.value as { stdout: string };
    assert.equal(bootstrap.stdout, "bootstrapped-new-host\n");
    assert.equal(readFileSync(filePath, "utf8"), "on the new host\n");

    // The machine is replaced by one at another address ("localhost"): the host input of the
    // others is unknown during preview, and a different host means a different machine.
    const replaced = resources("localhost").map((spec) =>
      spec.name === "machine"
        ? { ...spec, args: { ...spec.args, triggers: ["new-machine"] } }
        : spec,
    );
    const beforeSecond = fixture.host.log.counters;
    const [secondPreview] = await stack.runOk(replaced, ["preview"]);
    quiet(beforeSecond);
    assert.ok(opsFor(secondPreview, "machine").includes("replace"), "machine is replaced");
    for (const name of ["bootstrap", "settings"]) {
      const ops = opsFor(secondPreview, name);
      assert.ok(ops.includes("replace"), `${name}: ${ops.join(", ")}`);
    }
  });
});
