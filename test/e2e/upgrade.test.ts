/**
 * Upgrading pulumi-winrm under an existing stack must neither replace nor re-run anything. Two
 * things make it so: the diff compares the user's inputs only (never the serialized provider
 * stored as __provider), and the stored provider loads the implementation by package name, so
 * the installed version's code runs for resources created by an older one.
 *
 * For each earlier package in test/e2e/releases, the project installs it and runs `up`, then
 * installs the packed repository made over into a higher version, with changed implementation
 * modules, as a user's `npm update` would, and runs `preview`, `up` and `refresh` again:
 *
 * - 0.1.0: before the resources had type names of their own (kept by an alias) and before
 *   outputs derived from secrets were marked by the provider instead of placeholder inputs.
 * - 0.1.0-3d86dfa: before issue 19 cut the state per resource: its stored provider is six
 *   serialized functions (now one require() of a module), its outputs repeat a file's content
 *   (now only the hash) and carry `secretOutputs: false` and an empty `appliedState`.
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
 * implementation module and a respaced provider method. Returns the new tarball's path.
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
  const lifecyclePath = join(staging, "dist", "provider", "lifecycle", "lifecycle-of.js");
  const lifecycle = readFileSync(lifecyclePath, "utf8");
  assert.ok(lifecycle.includes(".create(inputs)"));
  writeFileSync(lifecyclePath, lifecycle.replace(".create(inputs)", ".create( inputs)"));
  const tarball = join(workDir, `pulumi-winrm-${UPGRADED_VERSION}.tgz`);
  execFileSync("tar", ["-czf", tarball, "-C", workDir, "package"]);
  return tarball;
}

/** The one type every resource had up to release 0.1.0. */
const LEGACY_TYPE = "pulumi-nodejs:dynamic:Resource";

/** The earlier packages (test/e2e/releases/README.md says how each was made). */
const RELEASES = join(__dirname, "..", "..", "..", "test", "e2e", "releases");

/** What each earlier package is, and the types its resources have in the state it writes. */
const EARLIER = [
  { file: "pulumi-winrm-0.1.0.tgz", version: "0.1.0", ownTypes: false },
  { file: "pulumi-winrm-0.1.0-3d86dfa.tgz", version: "0.1.0", ownTypes: true },
] as const;

const OWN_TYPES = [
  "pulumi-nodejs:dynamic/winrm:RemoteCommand",
  "pulumi-nodejs:dynamic/winrm:RemoteFile",
  "pulumi-nodejs:dynamic/winrm:RemoteFile",
];

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
    resources?: Array<{
      urn: string;
      type: string;
      inputs?: Record<string, unknown>;
      outputs?: Record<string, unknown>;
    }>;
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
  let upgraded: string | undefined;

  for (const earlier of EARLIER) {
    test(`from ${earlier.file}: neither replaces nor re-runs anything; preview, up and refresh show no changes`, async () => {
      await upgradeFrom(earlier);
    });
  }

  async function upgradeFrom(earlier: (typeof EARLIER)[number]): Promise<void> {
    const connection = fixture.connection;
    const tag = earlier.file.replace(/\W/g, "-");
    const stack = fixture.project.stack(`upgrade-${tag}`, connection);
    const folder = join(fixture.work, tag);
    const filePath = join(folder, "remote", "config.txt");
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
        args: { path: join(folder, "remote", "secret.txt"), content: "s3cret\n" },
        secrets: ["content"],
      },
    ];
    // The package built from this tree, as the upgrade (made once, while the project still
    // has this tree's package installed); then the stack is created by the earlier package.
    if (upgraded === undefined) {
      const tarballDir = join(fixture.work, "tarball");
      mkdirSync(tarballDir);
      upgraded = upgradedTarball(fixture.project.dir, tarballDir);
    }
    const tarball = upgraded;
    assert.equal(await install(fixture.project.dir, join(RELEASES, earlier.file)), earlier.version);
    const [, created] = await stack.runOk(resources, ["up", "export"]);
    assert.deepEqual(
      typesOf(created),
      earlier.ownTypes ? OWN_TYPES : [LEGACY_TYPE, LEGACY_TYPE, LEGACY_TYPE],
    );
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
    assert.deepEqual(typesOf(exported), OWN_TYPES);
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
  }
});
