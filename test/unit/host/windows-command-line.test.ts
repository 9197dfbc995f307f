/**
 * powershell.exe's argument rules, as the Windows persona of the loopback host applies them.
 * The expected values are the documented examples of "Parsing C++ command-line arguments"
 * (Microsoft C++ documentation) and the rules it states, written out here.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cmdOperatorOutsideQuotes, splitWindowsCommandLine } from "../../host/windows-command-line";

describe("splitWindowsCommandLine", () => {
  test("the documented examples", () => {
    const cases: Array<[string, string[]]> = [
      ['"a b c" d e', ["a b c", "d", "e"]],
      ['"ab\\"c" "\\\\" d', ['ab"c', "\\", "d"]],
      ['a\\\\\\b d"e f"g h', ["a\\\\\\b", "de fg", "h"]],
      ['a\\\\\\"b c d', ['a\\"b', "c", "d"]],
      ['a\\\\\\\\"b c" d e', ["a\\\\b c", "d", "e"]],
      ['a"b"" c d', ['ab" c d']],
    ];
    for (const [arguments_, expected] of cases) {
      assert.deepEqual(
        splitWindowsCommandLine(`prog.exe ${arguments_}`),
        ["prog.exe", ...expected],
        arguments_,
      );
    }
  });

  test("the program name: quotes dropped, backslashes literal, tabs separate", () => {
    assert.deepEqual(splitWindowsCommandLine('"C:\\Program Files\\p.exe"\t-x  "" y'), [
      "C:\\Program Files\\p.exe",
      "-x",
      "",
      "y",
    ]);
    assert.deepEqual(splitWindowsCommandLine("  powershell.exe  "), ["powershell.exe"]);
    assert.deepEqual(splitWindowsCommandLine(""), []);
  });

  test("the client's own PowerShell line splits into its flags and the base64", () => {
    const base64 = Buffer.from("Write-Output 'x'", "utf16le").toString("base64");
    const line = `powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ${base64}`;
    assert.deepEqual(splitWindowsCommandLine(line).slice(-2), ["-EncodedCommand", base64]);
  });
});

describe("cmdOperatorOutsideQuotes", () => {
  test("finds what cmd.exe would act on, and only outside quotes (variables anywhere)", () => {
    assert.equal(cmdOperatorOutsideQuotes('powershell -Command "a | b & c > d"'), undefined);
    assert.equal(cmdOperatorOutsideQuotes("powershell -Command 1 | more"), "|");
    assert.equal(cmdOperatorOutsideQuotes("powershell -Command 1 > out.txt"), ">");
    assert.equal(cmdOperatorOutsideQuotes("powershell x ^& y"), "^");
    assert.equal(cmdOperatorOutsideQuotes('powershell -Command "echo %TEMP%"'), "%TEMP%");
    assert.equal(cmdOperatorOutsideQuotes("powershell -Command echo 100%"), undefined);
  });
});
