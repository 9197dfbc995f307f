/**
 * The client against the host named by WINRM_TEST_HOST (a Windows host, or "loopback"): the
 * things only a real Windows host can confirm (cmd.exe, PowerShell and its bootstrap, code page
 * 65001, the PowerShell file scripts) checked the same way the loopback host is checked.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { AuthenticationError } from "../../provider/errors";
import type { WinRMClient } from "../../provider/winrm/client";
import { configured, openTarget, SKIP_REASON, type Target, text } from "./support/target";

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** File names that have broken quoting somewhere: spaces, quotes, $, backticks, brackets. */
const TRICKY_NAMES = [
  "plain.txt",
  "with spaces.txt",
  "it's quoted.txt",
  "dollar $HOME $(x).txt",
  "back`tick.txt",
  "wild[card].txt",
  "ünïcødé 😀.txt",
];

describe("remote host: client", { skip: configured ? false : SKIP_REASON }, () => {
  let target: Target;
  let client: WinRMClient;
  before(async () => {
    target = await openTarget();
    client = target.client();
    console.log(
      `remote host: ${target.clientOptions.host}, ${target.family.windows ? "Windows" : "not Windows"}, ` +
        `work folder ${target.family.workDir}`,
    );
    await (await client.files()).mkdirp(target.family.workDir);
  });
  after(async () => {
    await client?.close();
    await target?.close();
  });

  test("Identify names the vendor, and the script family follows it", async () => {
    const identity = await client.identify();
    assert.ok(identity.productVendor.length > 0);
    assert.equal((await client.scripts()).family, target.family.windows ? "powershell" : "posix");
  });

  test("commands through the host's command processor: output and exit codes", async () => {
    const echoed = await client.run("echo remote-tier-echo");
    assert.equal(echoed.exitCode, 0);
    assert.equal(text(echoed.stdout).trim(), "remote-tier-echo");
    for (const code of [0, 1, 3]) {
      assert.equal((await client.run(`exit ${code}`)).exitCode, code);
    }
  });

  test("non-ASCII output arrives as UTF-8", async () => {
    const words = "Grüße Ωμέγα 日本";
    const script = target.family.windows ? `Write-Output '${words}'` : `printf '%s\\n' '${words}'`;
    const result = target.family.windows
      ? await client.runPowerShell(script)
      : await client.runScript(script);
    assert.equal(text(result.stdout).trim(), words);
  });

  test("stdin reaches a command: megabytes of lines, echoed back", async () => {
    const lines = Array.from({ length: 40_000 }, (_, n) => `line ${n} ${"x".repeat(40)}`);
    const input = Buffer.from(`${lines.join("\n")}\n`);
    const result = await client.run(target.family.copyStdin, [], { stdin: input });
    assert.equal(result.exitCode, 0);
    assert.equal(text(result.stdout), input.toString());
  });

  test("a PowerShell script gets its stdin as pipeline input, and its exit codes", async (t) => {
    if (!target.family.windows) {
      t.skip(
        "a host that is not Windows takes POSIX sh (WINRM_TEST_HOST=loopback-windows runs this)",
      );
      return;
    }
    const piped = await client.runPowerShell("$input | ForEach-Object { 'got ' + $_ }", {
      stdin: Buffer.from("one\ntwo\n"),
    });
    assert.equal(text(piped.stdout), "got one\ngot two\n");
    assert.equal((await client.runPowerShell("exit 7")).exitCode, 7);
    const failed = await client.runPowerShell("throw 'remote-tier-failure'");
    assert.equal(failed.exitCode, 1);
    assert.match(failed.errorText, /remote-tier-failure/);
    const parse = await client.runPowerShell("if ( {");
    assert.equal(parse.exitCode, 1);
    assert.match(parse.errorText, /line 1/);
    // Longer than any command line: the script travels over stdin.
    const long = `$x = '${"y".repeat(100_000)}'\nWrite-Output $x.Length`;
    assert.equal(text((await client.runPowerShell(long)).stdout).trim(), "100000");
  });

  test("upload 20 MB, verified by the remote SHA-256; stat; remove", async () => {
    const files = await client.files();
    const data = randomBytes(20 * 1024 * 1024);
    const destination = target.family.join(target.family.workDir, "upload", "big.bin");
    const uploaded = await files.upload(data, destination);
    assert.equal(uploaded.sha256, sha256(data));
    assert.equal(await files.sha256(destination), sha256(data));
    const stat = await files.stat(destination);
    assert.deepEqual([stat.exists, stat.type, stat.size], [true, "file", data.length]);
    await files.remove(destination);
    assert.equal(await files.sha256(destination), "absent");
    assert.equal((await files.stat(destination)).exists, false);
  });

  test("file operations on tricky names", async () => {
    const files = await client.files();
    for (const name of TRICKY_NAMES) {
      const folder = target.family.join(target.family.workDir, "tricky", name.replace(".txt", ""));
      const path = target.family.join(folder, name);
      const content = Buffer.from(`content of ${name}\n`);
      await files.upload(content, path);
      assert.equal(await files.sha256(path), sha256(content), name);
      assert.equal((await files.stat(folder)).type, "directory", name);
      await files.remove(folder, { recursive: true });
      assert.equal((await files.stat(folder)).exists, false, name);
    }
  });

  test("a folder placed as a bundle, hashed, pruned and removed (RemoteArchive's operations)", async () => {
    const files = await client.files();
    const root = target.family.join(target.family.workDir, "folder");
    const contents = new Map(
      TRICKY_NAMES.map((name, index): [string, Buffer] => [
        `${index % 2 === 0 ? "a" : "b/c"}/${name}`,
        randomBytes(1000 * (index + 1)),
      ]),
    );
    contents.set("big.bin", randomBytes(3 * 1024 * 1024));
    const entries = [...contents].map(([path, data]) => ({
      path,
      size: data.length,
      sha256: sha256(data),
      open: () => data,
    }));
    assert.equal(await files.hashTree(root), "absent");
    await files.placeFiles(root, entries);
    const hashes = await files.hashTree(root);
    assert.notEqual(hashes, "absent");
    for (const item of entries) {
      assert.equal((hashes as Map<string, string>).get(item.path), item.sha256, item.path);
    }
    await files.removeFiles(root, [entries[0]!.path]);
    assert.equal(
      ((await files.hashTree(root)) as Map<string, string>).has(entries[0]!.path),
      false,
    );
    await files.remove(root, { recursive: true });
  });

  test("a wrong password is an AuthenticationError naming the user", async () => {
    const wrong = target.client({ password: "not-the-password", readyTimeoutMs: 0 });
    try {
      await assert.rejects(wrong.run("echo never"), (error: unknown) => {
        assert.ok(error instanceof AuthenticationError, String(error));
        assert.ok(!String(error).includes(String(target.clientOptions.password)));
        return true;
      });
    } finally {
      await wrong.close();
    }
  });
});
