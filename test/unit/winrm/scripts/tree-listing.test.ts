/** Parsing a folder's hash listing (parseTreeLines) as each tool prints it. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseTreeLines } from "../../../../provider/winrm/scripts/parse";

const A = "a".repeat(64);
const B = "b".repeat(64);

describe("a folder's hash listing", () => {
  test("sha256sum, shasum, openssl -r and PowerShell lines", () => {
    const listing = [
      `${A}  ./plain.txt`,
      `${B} *./sp ace/ü.txt`,
      `${A} *win/file.txt`,
      `\\${B}  ./back\\\\slash\\nnewline`,
      "",
    ].join("\n");
    assert.deepEqual(
      parseTreeLines(listing),
      new Map([
        ["plain.txt", A],
        ["sp ace/ü.txt", B],
        ["win/file.txt", A],
        ["back\\slash\nnewline", B],
      ]),
    );
  });

  test("absent, an empty folder, CRLF and a stray line", () => {
    assert.equal(parseTreeLines("absent\n"), "absent");
    assert.deepEqual(parseTreeLines(""), new Map());
    assert.deepEqual(parseTreeLines(`${A} *x\r\n`), new Map([["x", A]]));
    assert.throws(() => parseTreeLines("not a hash line\n"), /unexpected line/);
  });
});
