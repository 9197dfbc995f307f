/** Quoting: POSIX words checked by a real sh; PowerShell literals by the doubling rule. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, test } from "node:test";
import { quotePosix, quotePowerShell } from "../../../../provider/winrm/scripts";

const HOSTILE = [
  "",
  "plain",
  "it's",
  "''''",
  "a b\tc\nd",
  "$HOME $(id) `id` ${x}",
  "\\ \\\\ \\n",
  "ünïcødé 😀",
  "-n",
  "*?[a]~",
  "!event",
];

describe("quotePosix (POSIX 2.2.3)", () => {
  test("sh reads every quoted word back as the original string", () => {
    for (const value of HOSTILE) {
      const out = execFileSync("/bin/sh", ["-c", `printf '%s' ${quotePosix(value)}`]);
      assert.equal(out.toString("utf8"), value);
    }
  });

  test("refuses NUL", () => {
    assert.throws(() => quotePosix("a\0b"), /NUL/);
  });
});

describe("quotePowerShell (about_Quoting_Rules)", () => {
  test("doubles the ASCII apostrophe and the four typographic single quotes", () => {
    assert.equal(quotePowerShell("it's"), "'it''s'");
    assert.equal(
      quotePowerShell("\u2018a\u2019b\u201Ac\u201Bd"),
      "'\u2018\u2018a\u2019\u2019b\u201A\u201Ac\u201B\u201Bd'",
    );
    assert.equal(quotePowerShell('$x `n "q"'), `'$x \`n "q"'`);
    assert.equal(quotePowerShell(""), "''");
  });

  test("no single-quote character is ever left alone inside the literal", () => {
    for (const value of [...HOSTILE, "\u2019", "'\u2019'", "x\u201B"]) {
      const inner = quotePowerShell(value).slice(1, -1);
      // Read pairs left to right, as PowerShell's tokenizer does: a lone quote would end the string.
      let decoded = "";
      for (let i = 0; i < inner.length; i++) {
        const c = inner[i] ?? "";
        if (/['\u2018-\u201B]/.test(c)) {
          assert.equal(inner[i + 1], c, JSON.stringify(value));
          i++;
        }
        decoded += c;
      }
      assert.equal(decoded, value);
    }
  });
});
