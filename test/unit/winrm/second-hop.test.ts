/**
 * Issue 11 item 8: a UNC destination reached over NTLM. No share of another machine exists
 * here, so the helper's failure is the one a Windows host gives (the text .NET Framework puts in
 * UnauthorizedAccessException and in the IOException of ERROR_LOGON_FAILURE, behind the helper's
 * "<operation>: <path>: " prefix), fed to RemoteFiles through its CommandRunner seam.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CommandFailedError } from "../../../provider/errors";
import type { CommandResult } from "../../../provider/winrm/winrs/command";
import { type CommandRunner, RemoteFiles } from "../../../provider/winrm/files";
import { scriptsFor } from "../../../provider/winrm/scripts";
import { isUncPath, secondHopHint } from "../../../provider/winrm/second-hop";

describe("UNC paths", () => {
  test("isUncPath tells a share from a drive, a long drive path and a device", () => {
    const table: [string, boolean][] = [
      ["\\\\fileserver\\share\\app\\config.json", true],
      ["\\\\fileserver\\share", true],
      ["//fileserver/share/app.msi", true],
      ["\\\\?\\UNC\\fileserver\\share\\f", true],
      ["\\\\?\\C:\\very\\long\\path", false],
      ["\\\\.\\pipe\\name", false],
      ["\\\\fileserver", false],
      ["C:\\Windows\\Temp\\f", false],
      ["C:/Windows/Temp/f", false],
      ["\\Windows\\Temp\\f", false],
      ["relative\\f", false],
    ];
    for (const [path, unc] of table) assert.equal(isUncPath(path), unc, path);
  });

  test("the hint needs a UNC path, a denial and a logon that cannot delegate", () => {
    const denied = "Access to the path '\\\\fs\\s\\f' is denied.";
    assert.match(secondHopHint("\\\\fs\\s\\f", denied, "ntlm"), /second hop/);
    assert.match(
      secondHopHint("\\\\fs\\s\\f", "The user name or password is incorrect.", "ntlm"),
      /second hop/,
    );
    assert.equal(secondHopHint("\\\\fs\\s\\f", denied, "basic"), "", "Basic reaches the share");
    assert.equal(secondHopHint("C:\\f", "Access to the path 'C:\\f' is denied.", "ntlm"), "");
    assert.equal(secondHopHint("\\\\fs\\s\\f", "The network path was not found.", "ntlm"), "");
  });
});

/** A host that answers every helper as Windows does when the share refuses an anonymous logon. */
function refusingShare(message: (path: string) => string): CommandRunner {
  return {
    run(): Promise<CommandResult> {
      const path = "\\\\fileserver\\share\\app\\config.json";
      const stderr = Buffer.from(`sha256: ${path}: ${message(path)}\r\n`, "utf8");
      return Promise.resolve({
        exitCode: 1,
        stdout: Buffer.alloc(0),
        stderr,
        stdoutBytes: 0,
        stderrBytes: stderr.length,
      });
    },
  };
}

describe("item 8: a UNC destination over NTLM", () => {
  const path = "\\\\fileserver\\share\\app\\config.json";

  for (const [name, message] of [
    ["access denied", (p: string) => `Access to the path '${p}' is denied.`],
    ["a failed logon", () => "The user name or password is incorrect."],
  ] as const) {
    test(`${name} says the share needs a second hop and what works instead`, async () => {
      const files = new RemoteFiles(refusingShare(message), scriptsFor("powershell"), {
        logon: "ntlm",
      });
      await assert.rejects(files.sha256(path), (error: unknown) => {
        assert.ok(error instanceof CommandFailedError, String(error));
        assert.match(error.message, /^hashing \\\\fileserver\\share\\app\\config\.json exited/);
        assert.match(error.message, /is on another machine: .*NTLM .*second hop/);
        assert.match(error.message, /local path of the host .* computer account$/);
        return true;
      });
    });
  }

  test("with Basic the failure is reported as it is, without the hint", async () => {
    const files = new RemoteFiles(
      refusingShare((p) => `Access to the path '${p}' is denied.`),
      scriptsFor("powershell"),
      { logon: "basic" },
    );
    await assert.rejects(files.sha256(path), (error: unknown) => {
      assert.ok(error instanceof CommandFailedError);
      assert.doesNotMatch(error.message, /second hop/);
      return true;
    });
  });
});
