/**
 * Upgrading pulumi-winrm under an existing stack must neither replace nor re-run anything. Two
 * things make it so: the diff compares the user's inputs only (never the serialized provider
 * stored as __provider), and the stored provider loads the implementation by package name, so
 * the installed version's code runs for resources created by an older one.
 *
 * The project installs release 0.1.0 (test/e2e/releases) and runs `up`, then installs the
 * packed repository made over into a higher version, with changed implementation modules and a
 * changed serialized provider text, as a user's `npm update` would, and runs `preview`, `up`
 * and `refresh` again. Since 0.1.0 the resources have their own type names (kept by an alias)
 * and outputs derived from secrets are marked by the provider, not by placeholder inputs.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { LogKind } from "../host";
import { exec } from "./support/project";
import type { OperationResult, ResourceSpec } from "./support/scenario";
import { e2eFixture } from "./support/fixture";

const UPGRADED_VERSION = "99.0.0-upgrade-test";

/**
 * A copy of the installed package with a higher version, an extra statement in each
 * implementation module and a respaced provider method (so the serialized provider's text
 * differs too). Returns the new tarball's path.
 */
function upgradedTarball(projectDir: string, workDir: string): string {
  const installed = join(projectDir, "node_modules", "pulumi-winrm");
  const staging = join(workDir, "package");
  execFileSync("cp", ["-R", installed, staging]);
  const manifestPath = join(staging, "package.json");
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { version: string };
  manifest.version = UPGRADED_VERSION;
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  for (const module of ["remote-command.js", "remote-file.js", "connection.js"]) {
    appendFileSync(join(staging, "dist", "provider", module), "\nvoid 'upgraded';\n");
  }
  const indexPath = join(staging, "dist", "provider", "index.js");
  const index = readFileSync(indexPath, "utf8");
  assert.ok(index.includes(".create(inputs)"));
  writeFileSync(indexPath, index.replace(".create(inputs)", ".create( inputs)"));
  const tarball = join(workDir, `pulumi-winrm-${UPGRADED_VERSION}.tgz`);
  execFileSync("tar", ["-czf", tarball, "-C", workDir, "package"]);
  return tarball;
}

/** The one type every resource had up to release 0.1.0. */
const LEGACY_TYPE = "pulumi-nodejs:dynamic:Resource";

/** The package of release 0.1.0 (test/e2e/releases/README.md says how it was made). */
const RELEASE_0_1_0 = join(
  __dirname,
  "..",
  "..",
  "..",
  "test",
  "e2e",
  "releases",
  "pulumi-winrm-0.1.0.tgz",
);

/** Installs a package tarball into the project and returns the version now installed. */
async function install(projectDir: string, tarball: string): Promise<string> {
  const installed = await exec(
    "npm",
    ["install", "--prefer-offline", "--no-audit", "--no-fund", tarball],
    { cwd: projectDir, timeoutMs: 300_000 },
  );
  assert.equal(installed.code, 0, installed.stderr);
  const manifest = join(projectDir, "node_modules", "pulumi-winrm", "package.json");
  return (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version;
}

/** The program's resources in an exported deployment. */
function resourcesOf(result: OperationResult | undefined) {
  const { resources = [] } = (result?.deployment ?? {}) as {
    resources?: Array<{ urn: string; type: string; outputs?: Record<string, unknown> }>;
  };
  return resources.filter((resource) => resource.type.startsWith("pulumi-nodejs:dynamic"));
}

/** The types of the program's resources in an exported deployment, sorted (the engine's order may vary). */
function typesOf(result: OperationResult | undefined): string[] {
  return resourcesOf(result)
    .map((resource) => resource.type)
    .sort();
}

describe("upgrading pulumi-winrm under an existing stack", () => {
  const fixture = e2eFixture("upgrade");

  test("neither replaces nor re-runs anything: preview, up and refresh show no changes", async () => {
    const connection = fixture.connection;
    const stack = fixture.project.stack("upgrade", connection);
    const filePath = join(fixture.work, "remote", "config.txt");
    const resources: ResourceSpec[] = [
      {
        kind: "RemoteCommand",
        name: "setup",
        args: {
          shell: "cmd",
          logging: "none",
          create: "echo upgrade-marker",
          read: "echo state-upgrade",
        },
      },
      { kind: "RemoteFile", name: "config", args: { path: filePath, content: "v1\n" } },
      {
        kind: "RemoteFile",
        name: "secretConfig",
        args: { path: join(fixture.work, "remote", "secret.txt"), content: "s3cret\n" },
        secrets: ["content"],
      },
    ];
    // The package built from this tree, as the upgrade; then the stack is created by release
    // 0.1.0, from before the resources had type names of their own and secretOutputs.
    const tarballDir = join(fixture.work, "tarball");
    mkdirSync(tarballDir);
    const tarball = upgradedTarball(fixture.project.dir, tarballDir);
    assert.equal(await install(fixture.project.dir, RELEASE_0_1_0), "0.1.0");
    const [, created] = await stack.runOk(resources, ["up", "export"]);
    assert.deepEqual(typesOf(created), [LEGACY_TYPE, LEGACY_TYPE, LEGACY_TYPE]);
    const inode = statSync(filePath).ino;

    assert.equal(
      await install(fixture.project.dir, tarball),
      UPGRADED_VERSION,
      "the upgraded package is the one installed",
    );

    const before = fixture.host.log.counters;
    const [preview, up, refresh, exported] = await stack.runOk(resources, [
      "preview",
      "up",
      "refresh",
      "export",
    ]);
    // The same resources under their own type names (issue 12, item 5), kept by the alias.
    assert.deepEqual(typesOf(exported), [
      "pulumi-nodejs:dynamic/winrm:RemoteCommand",
      "pulumi-nodejs:dynamic/winrm:RemoteFile",
      "pulumi-nodejs:dynamic/winrm:RemoteFile",
    ]);
    // Secret content's hash stays secret: 0.1.0 had the engine derive it, now the provider
    // marks it (secretOutputs), and the refresh rewrote the outputs.
    const secretFile = resourcesOf(exported).find((resource) =>
      resource.urn.endsWith("::secretConfig"),
    );
    for (const name of ["sha256", "size", "remoteSha256"]) {
      assert.ok(
        JSON.stringify(secretFile?.outputs?.[name]).includes("ciphertext"),
        `output ${name} of the secret file is stored in plaintext`,
      );
    }
    for (const [name, result] of [
      ["preview", preview],
      ["up", up],
      ["refresh", refresh],
    ] as const) {
      const changed = Object.entries(result?.changes ?? {}).filter(([op]) => op !== "same");
      assert.deepEqual(
        changed,
        [],
        `${name} after the upgrade: ${JSON.stringify(result?.changes)}`,
      );
    }
    // refresh runs `read` and hashes the file: reads only. The create command did not run
    // again, and the file was not rewritten (an upload replaces it, with a new inode).
    const ran = fixture.host.log
      .entries(LogKind.COMMAND_STARTED)
      .slice(-(fixture.host.log.counters.commandsRun - before.commandsRun) || Infinity)
      .map((entry) => entry.commandLine ?? "");
    assert.ok(ran.length > 0, "refresh should have run the read command");
    assert.ok(!ran.some((line) => line.includes("upgrade-marker")), ran.join(" | "));
    assert.ok(
      ran.some((line) => line.includes("state-upgrade")),
      "refresh ran read",
    );
    assert.equal(statSync(filePath).ino, inode, "the file was uploaded again");
    assert.equal(readFileSync(filePath, "utf8"), "v1\n");
  });
});
