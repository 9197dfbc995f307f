/**
 * The PowerShell scripts: every script the module can produce is decoded from its
 * -EncodedCommand and parsed with a real PowerShell grammar (tree-sitter-powershell, from
 * airbus-cert: the WebAssembly build its package ships, run by web-tree-sitter, so that no
 * native addon is compiled at install time), and checked for constructs Windows PowerShell
 * 5.1 lacks. powershell-run.test.ts executes
 * them in pwsh.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { Language, type Node, Parser } from "web-tree-sitter";
import {
  CMD_MAX_COMMAND_LINE,
  scriptsFor,
  type RemoteInvocation,
} from "../../../../provider/winrm/scripts";
import {
  framePowerShellInput,
  powerShellSources,
} from "../../../../provider/winrm/scripts/powershell";

/** Paths with every character that matters to PowerShell's tokenizer or to Windows. */
const NASTY_PATHS = [
  "C:\\plain\\file.txt",
  "C:\\Program Files (x86)\\it's here\\a.txt",
  "C:\\smart ‘quotes’ ‚and‛ more’’\\f",
  "C:\\$env:TEMP and $(Get-Date) and `backtick`\\f",
  "C:\\wild[card]*?\\f",
  "C:\\new\nline\r\n\\f",
  "C:\\double \"quotes\" and 'single'\\f",
  "C:\\ünïcødé\\😀.txt",
  "\\\\server\\share\\dir with spaces\\f",
  "relative\\path;rm -rf & | > <",
  "'@\n\"@\n#>\n<#",
  "/tmp/posix/for/pwsh/on/linux",
];

const scripts = scriptsFor("powershell");

/** Every invocation the module produces for one path. */
function invocationsFor(path: string): Array<[string, RemoteInvocation]> {
  return [
    ["sha256", scripts.sha256(path)],
    ["stat", scripts.stat(path)],
    ["remove", scripts.remove(path)],
    ["remove recursive", scripts.remove(path, { recursive: true })],
    ["mkdirp", scripts.mkdirp(path)],
    ["upload", scripts.upload(path)],
  ];
}

/** The script inside `powershell.exe ... -EncodedCommand <base64 of UTF-16LE>`. */
function decodeCommand(command: string): string {
  const match =
    /^powershell\.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ([A-Za-z0-9+/]+={0,2})$/.exec(
      command,
    );
  assert.ok(match?.[1], `not an encoded PowerShell command: ${command.slice(0, 120)}`);
  return Buffer.from(match[1], "base64").toString("utf16le");
}

let parser: Parser;

before(async () => {
  await Parser.init();
  const grammar = await Language.load(
    require.resolve("tree-sitter-powershell/tree-sitter-powershell.wasm"),
  );
  parser = new Parser();
  parser.setLanguage(grammar);
});

/** The parse of `source` (read through a callback in 4 KiB pieces; scripts run to megabytes). */
function parse(source: string): Node {
  const tree = parser.parse((index) => source.slice(index, index + 4096));
  assert.ok(tree, "the parser returned no tree");
  return tree.rootNode;
}

/** Every ERROR or MISSING node of the parse, with its position, for the failure message. */
function syntaxProblems(source: string): string[] {
  const problems: string[] = [];
  const visit = (node: Node) => {
    if (node.type === "ERROR" || node.isMissing) {
      const where = `${node.startPosition.row + 1}:${node.startPosition.column + 1}`;
      problems.push(
        `${node.isMissing ? "MISSING" : "ERROR"} at ${where}: ${node.text.slice(0, 80)}`,
      );
    }
    for (const child of node.children) visit(child);
  };
  const root = parse(source);
  visit(root);
  if (root.hasError && problems.length === 0) problems.push("hasError without a node");
  return problems;
}

describe("PowerShell grammar check (tree-sitter-powershell)", () => {
  test("the grammar does find errors (a control, so a pass means something)", () => {
    assert.notDeepEqual(syntaxProblems("if ($x { 'unclosed' "), []);
    assert.notDeepEqual(syntaxProblems("$p = 'it's'"), []);
    assert.deepEqual(syntaxProblems("$p = 'it''s'"), []);
    const upload = powerShellSources.upload("C:\\f");
    assert.notDeepEqual(syntaxProblems(upload.slice(0, -1)), [], "upload without its last brace");
    const unbalanced = upload.replace("($l = $r.ReadLine())", "($l = $r.ReadLine()");
    assert.notDeepEqual(syntaxProblems(unbalanced), [], "upload with a parenthesis missing");
  });

  test("the runScript bootstrap parses", () => {
    const source = decodeCommand(scripts.runScript().command);
    assert.equal(source, powerShellSources.bootstrap());
    assert.deepEqual(syntaxProblems(source), []);
  });

  for (const path of NASTY_PATHS) {
    test(`every operation parses for ${JSON.stringify(path)}`, () => {
      for (const [name, invocation] of invocationsFor(path)) {
        const source = decodeCommand(invocation.command);
        assert.deepEqual(syntaxProblems(source), [], `${name} ${JSON.stringify(path)}`);
        assert.ok(source.startsWith("$p = '"), name);
      }
    });
  }

  test("the embedded path literal is the path, as PowerShell reads a verbatim string", () => {
    for (const path of NASTY_PATHS) {
      const source = decodeCommand(scripts.stat(path).command);
      const literal = source.slice("$p = ".length, source.indexOf("\n$ProgressPreference"));
      const strings = parse(`$p = ${literal}`).descendantsOfType("verbatim_string_characters");
      assert.equal(strings.length, 1, JSON.stringify(path));
      // PowerShell reads a doubled quote character as one (about_Quoting_Rules).
      const value = strings[0]?.text.slice(1, -1).replace(/(['\u2018-\u201B])\1/g, "$1");
      assert.equal(value, path);
    }
  });
});

/**
 * Parameters that PowerShell 7 added to cmdlets a helper script might use, or whose meaning
 * changed: a script written against 7 could pass the grammar and still fail on 5.1.
 * -Encoding Byte is the reverse (gone in 7) and is refused too: the scripts use .NET streams.
 */
const VERSION_SPECIFIC_PARAMETERS =
  /^-(AsByteStream|Parallel|SkipCertificateCheck|ThrottleLimit|Encoding\s+Byte)$/i;

/**
 * Constructs of PowerShell 7 that Windows PowerShell 5.1 does not parse or run: the ternary
 * `?:`, `??` and `??=`, the null-conditional `?.` and `?[]`, the pipeline chain operators
 * `&&` and `||`, and `clean {}` blocks. The grammar is PowerShell 7's minus most of these, so
 * they show as ERROR nodes (syntaxProblems); pipeline chains parse, and are refused here.
 */
function powerShell7Only(source: string): string[] {
  const problems: string[] = [];
  const root = parse(source);
  const where = (node: Node) => `${node.startPosition.row + 1}:${node.startPosition.column + 1}`;
  for (const node of root.descendantsOfType("pipeline_chain_tail")) {
    problems.push(
      `pipeline chain operator ${node.text.trim()} at ${where(node)} (PowerShell 7 only)`,
    );
  }
  for (const node of root.descendantsOfType("command_parameter")) {
    const next = node.nextNamedSibling?.nextNamedSibling;
    const withValue = next ? `${node.text} ${next.text}` : node.text;
    if (
      VERSION_SPECIFIC_PARAMETERS.test(node.text) ||
      VERSION_SPECIFIC_PARAMETERS.test(withValue)
    ) {
      problems.push(`parameter ${withValue} at ${where(node)} differs between 5.1 and 7`);
    }
  }
  // Token-level checks for what the grammar turns into ERROR nodes, so the reason is named.
  const code = source.replace(/'(?:[^']|'')*'/g, "''");
  for (const [pattern, what] of [
    [/\?\?=?/, "?? or ??= (null-coalescing)"],
    [/[\w)\]}]\?[.[]/, "?. or ?[] (null-conditional)"],
    [/\s\?\s[^:]*\s:\s/, "?: (ternary)"],
    [/(^|[\s{};])clean\s*\{/m, "clean {} block"],
  ] as const) {
    if (pattern.test(code)) problems.push(`${what} (PowerShell 7 only)`);
  }
  return [...problems, ...syntaxProblems(source)];
}

describe("Windows PowerShell 5.1 compatibility", () => {
  test("the check refuses each PowerShell 7 construct (a control, so a pass means something)", () => {
    for (const construct of [
      "$a = $b ? 1 : 2",
      "$a = $b ?? 'default'",
      "$a ??= 1",
      "$n = $s?.Length",
      "$x = ${a}?[0]",
      "Get-Item x && Write-Output ok",
      "Get-Item x || exit 1",
      "Get-Content -AsByteStream -LiteralPath $p",
      "Get-Content -Encoding Byte -LiteralPath $p",
      "1..3 | ForEach-Object -Parallel { $_ }",
      "function f { process { $_ } clean { 'done' } }",
    ]) {
      assert.notDeepEqual(powerShell7Only(construct), [], construct);
    }
    for (const fine of [
      "if ($a) { 1 } else { 2 }",
      "$m = 'a ? b : c and x?.y and ??'",
      "Get-Item -LiteralPath $p -ErrorAction Stop",
      "[Console]::Out.Flush()",
    ]) {
      assert.deepEqual(powerShell7Only(fine), [], fine);
    }
  });

  test("SHA-256 is FIPS-safe: SHA256CryptoServiceProvider's constructor, never [SHA256]::Create()", () => {
    // On .NET Framework with the FIPS policy on, SHA256Managed (what Create() returns, also
    // through the CSP class) throws in its constructor; the CSP class's own constructor works,
    // by New-Object or by ::new().
    for (const source of [
      powerShellSources.sha256("C:\\f"),
      powerShellSources.upload("C:\\f"),
      decodeCommand(scripts.tree.hashTree("C:\\f").command),
      decodeCommand(scripts.tree.placeBundle("C:\\f").command),
    ]) {
      assert.match(
        source,
        /New-Object Security\.Cryptography\.SHA256CryptoServiceProvider|\[Security\.Cryptography\.SHA256CryptoServiceProvider\]::new\(\)/,
      );
      assert.doesNotMatch(source, /SHA256(Managed|CryptoServiceProvider)?\]::Create|SHA256Managed/);
    }
  });

  test("the bootstrap pipes UTF-8 to native programs ($OutputEncoding; 5.1's default is ASCII)", () => {
    assert.match(
      powerShellSources.bootstrap(),
      /^\$OutputEncoding = New-Object Text\.UTF8Encoding\(\$false\)$/m,
    );
  });

  test("every script, for every nasty path, uses only what 5.1 has", () => {
    assert.deepEqual(powerShell7Only(powerShellSources.bootstrap()), [], "bootstrap");
    for (const path of NASTY_PATHS) {
      for (const [name, invocation] of invocationsFor(path)) {
        const source = decodeCommand(invocation.command);
        assert.deepEqual(powerShell7Only(source), [], `${name} ${JSON.stringify(path)}`);
      }
    }
  });
});

describe("the restart scripts (Reboot)", () => {
  const power = scripts.power;
  const messages = [
    "",
    "pulumi-winrm: Reboot web-1",
    "it's $(Get-Date) `n ü ‘quoted’",
    "x".repeat(512),
  ];

  test("parse, use only what 5.1 has, and fit cmd.exe, for every message", () => {
    const sources: Array<[string, string]> = [
      ["bootTime", decodeCommand(power.bootTime().command)],
      ["pendingRestart", decodeCommand(power.pendingRestart().command)],
      ...messages.map((message): [string, string] => [
        `restart ${JSON.stringify(message.slice(0, 20))}`,
        decodeCommand(power.restart(message, 2).command),
      ]),
    ];
    for (const [name, source] of sources) {
      assert.deepEqual(syntaxProblems(source), [], name);
      assert.deepEqual(powerShell7Only(source), [], name);
    }
    assert.ok(power.restart("x".repeat(512), 2).command.length <= CMD_MAX_COMMAND_LINE);
  });

  test("the restart asks shutdown.exe for a planned reconfiguration, with the message verbatim", () => {
    const source = decodeCommand(power.restart("it's a test", 2).command);
    assert.match(source, /^\$m = 'it''s a test'$/m);
    assert.match(source, /^& shutdown\.exe \/r \/t 2 \/d p:2:4 \/c \$m$/m);
    // A restart someone else scheduled is aborted first: shutdown.exe refuses /r while one is.
    assert.ok(source.indexOf("shutdown.exe /a") < source.indexOf("shutdown.exe /r"));
  });

  test("a message shutdown.exe cannot take is refused, naming the input", () => {
    assert.throws(() => power.restart('say "hi"', 2), /message.*double quotes/);
    assert.throws(() => power.restart("x".repeat(513), 2), /message.*512/);
  });

  test("boot times parse as printed, and anything else is an error", () => {
    assert.equal(
      power.parseBootTime("2026-12-06T01:56:24.149Z\r\n").toISOString(),
      "2026-12-06T01:56:24.149Z",
    );
    assert.equal(
      power.parseBootTime("2026-12-06T01:56:24Z").toISOString(),
      "2026-12-06T01:56:24.000Z",
    );
    for (const bad of ["", "yesterday", "2026-12-06 01:56:24", "2026-13-45T99:00:00Z"]) {
      assert.throws(() => power.parseBootTime(bad), /boot time is not a timestamp/, bad);
    }
  });
});

describe("the folder scripts (RemoteArchive)", () => {
  test("parse and use only what 5.1 has, for every nasty root; fit CreateProcess", () => {
    const tree = scripts.tree;
    for (const path of NASTY_PATHS) {
      for (const [name, invocation] of [
        ["hashTree", tree.hashTree(path)],
        ["placeBundle", tree.placeBundle(path)],
        ["removeFiles", tree.removeFiles(path)],
      ] as const) {
        const source = decodeCommand(invocation.command);
        assert.deepEqual(syntaxProblems(source), [], `${name} ${JSON.stringify(path)}`);
        assert.deepEqual(powerShell7Only(source), [], `${name} ${JSON.stringify(path)}`);
      }
    }
    assert.equal(tree.placeBundle("C:\\site").stdinEncoding, "base64-lines");
    assert.equal(tree.removeFiles("C:\\site").stdinEncoding, "raw");
  });
});

describe("PowerShell command lines", () => {
  test("stay under cmd.exe's 8191 characters for ordinary and nasty paths; uploads skip cmd.exe", () => {
    assert.ok(scripts.runScript().command.length < 4000, "the bootstrap is small");
    for (const path of NASTY_PATHS) {
      for (const [name, invocation] of invocationsFor(path)) {
        assert.deepEqual(invocation.args, []);
        if (name === "upload") {
          // It prepares its folder as well, which takes it over cmd.exe's line: it runs
          // directly (WINRS_SKIP_CMD_SHELL), where CreateProcess allows 32,767 characters.
          assert.equal(invocation.skipCmdShell, true, path);
          assert.ok(invocation.command.length < 32_767, `${name} ${path}`);
          continue;
        }
        assert.ok(invocation.command.length <= CMD_MAX_COMMAND_LINE, `${name} ${path}`);
        assert.equal(invocation.skipCmdShell, false);
      }
    }
  });

  test("an upload to a 260-character path is well within CreateProcess's limit", () => {
    const path = `C:\\${"d".repeat(240)}\\${"f".repeat(15)}`;
    const upload = scripts.upload(path);
    assert.equal(upload.skipCmdShell, true);
    assert.ok(upload.command.length < 16_000, String(upload.command.length));
  });

  test("a path too long for cmd.exe skips it; beyond CreateProcess's limit is refused", () => {
    const long = `C:\\${"x\\".repeat(600)}f`;
    const upload = scripts.upload(long);
    assert.equal(upload.skipCmdShell, true);
    assert.deepEqual(syntaxProblems(decodeCommand(upload.command)), []);
    assert.throws(() => scripts.upload(`C:\\${"x".repeat(20_000)}`), /shorter path/);
  });

  test("stdin encodings: raw for the bootstrap, base64 lines for uploads", () => {
    assert.equal(scripts.runScript().stdinEncoding, "raw");
    assert.equal(scripts.upload("C:\\f").stdinEncoding, "base64-lines");
    assert.equal(scripts.sha256("C:\\f").stdinEncoding, "raw");
  });

  test("refuses an empty path and NUL", () => {
    assert.throws(() => scripts.sha256(""), /must not be empty/);
    assert.throws(() => scripts.upload("C:\\a\0b"), /NUL/);
  });

  test("another executable name can be chosen (pwsh)", () => {
    const pwsh = scriptsFor("powershell", { executable: "pwsh" });
    assert.match(pwsh.runScript().command, /^pwsh -NoLogo /);
  });
});

describe("PowerShell bootstrap input", () => {
  async function framed(script: string, stdin?: Uint8Array | AsyncIterable<Uint8Array>) {
    const chunks: Uint8Array[] = [];
    for await (const chunk of framePowerShellInput(script, stdin)) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  test("the first line counts the script's UTF-8 bytes, not its characters", async () => {
    const script = "Write-Output 'héllo ✓'";
    const bytes = await framed(script);
    const newline = bytes.indexOf(10);
    const length = Number(bytes.subarray(0, newline).toString("ascii"));
    assert.equal(length, Buffer.byteLength(script, "utf8"));
    assert.notEqual(length, script.length);
    assert.equal(bytes.subarray(newline + 1).toString("utf8"), script);
  });

  test("the caller's stdin follows the script, from a buffer or a stream", async () => {
    const script = "$input | ForEach-Object { $_ }";
    const header = `${Buffer.byteLength(script)}\n${script}`;
    assert.equal((await framed(script, Buffer.from("a\nb\n"))).toString(), `${header}a\nb\n`);
    async function* pieces() {
      await Promise.resolve();
      yield Buffer.from("line 1\n");
      yield Buffer.from("line 2");
    }
    assert.equal((await framed(script, pieces())).toString(), `${header}line 1\nline 2`);
  });
});
