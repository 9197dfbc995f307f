/**
 * The Windows family: helper scripts for Windows PowerShell 5.1 (`powershell.exe`), written so
 * that PowerShell 7 runs them unchanged.
 *
 * Every script travels as `-EncodedCommand`, the base64 of its UTF-16LE text
 * (about_PowerShell_exe), so no quoting rule of cmd.exe or of CommandLineToArgvW applies to
 * it. cmd.exe accepts at most 8191 characters on a command line, so the helper scripts are
 * compacted and only `runScript` carries arbitrary code, over stdin. Paths are embedded once,
 * as verbatim literals (quotePowerShell), and used through .NET APIs or cmdlets' -LiteralPath,
 * so wildcard characters such as `[` are never expanded.
 */
import { InvalidArgumentError } from "../../errors";
import { parseSha256Output, parseStatOutput } from "./parse";
import { powerShellPower } from "./powershell-power";
import { powerShellTree } from "./powershell-tree";
import { compact } from "./powershell-text";
import { checkRemotePath, quotePowerShell } from "./quote";
import {
  checkedSha256,
  type KnownContent,
  SHA256_HEX_LENGTH,
  UPLOAD_HASH_MISMATCH_EXIT,
  UPLOAD_TEMP_PREFIX,
  RESTRICTED_LANGUAGE_EXIT,
  WRONG_TYPE_EXIT,
  type RemoteInvocation,
  type RemoteScripts,
  type RemoveOptions,
} from "./types";

export { decodeClixml } from "./clixml";

/** cmd.exe's longest command line (KB830473): WinRS runs the command through cmd.exe. */
export const CMD_MAX_COMMAND_LINE = 8191;

/** CreateProcess's lpCommandLine limit, 32,768 characters including the terminating NUL. */
const CREATE_PROCESS_MAX_COMMAND_LINE = 32768;

/** The flags every invocation carries; -NonInteractive turns a prompt into an error. */
const POWERSHELL_FLAGS = "-NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass";

export interface PowerShellOptions {
  /** The program to start; `powershell.exe` (Windows PowerShell 5.1) unless told otherwise. */
  executable?: string;
}

/** Base64 of the UTF-16LE text, as -EncodedCommand expects (about_PowerShell_exe). */
function encodePowerShellCommand(script: string): string {
  return Buffer.from(script, "utf16le").toString("base64");
}

/**
 * The line the runScript bootstrap writes to stderr through Write-Error (as CLIXML in 5.1; pwsh 7
 * puts "Write-Error: " before it) before it exits 1 in a restricted language mode; the mode's
 * name is the first group.
 */
export const BOOTSTRAP_RESTRICTED_LANGUAGE =
  /pulumi-winrm: PowerShell runs in (\w+) mode on this host/;

/** What to tell a user whose host runs PowerShell in `mode`, a restricted language mode. */
export function restrictedLanguageAdvice(mode: string): string {
  return (
    `PowerShell runs in ${mode} mode on this host (an App Control for Business (WDAC) or ` +
    "AppLocker policy applies to this account), which refuses the .NET calls of the " +
    "pulumi-winrm helper scripts; connect as an account the policy exempts (the default " +
    "AppLocker rules exempt administrators) or have the policy allow PowerShell for it"
  );
}

/** Refuses to go on in any language mode but FullLanguage (see prelude). */
const LANGUAGE_MODE_CHECK = `if ($ExecutionContext.SessionState.LanguageMode -ne 'FullLanguage') { exit ${RESTRICTED_LANGUAGE_EXIT} }`;

/**
 * Shared prelude of the helper scripts (with the language check, or "").
 * - $ProgressPreference: progress records would otherwise reach stderr as CLIXML.
 * - A host under an App Control (WDAC) or AppLocker policy runs this text in Constrained
 *   Language Mode (about_Language_Modes), which refuses every .NET call below. The check uses
 *   only what that mode allows (a property read, exit) and exits with
 *   RESTRICTED_LANGUAGE_EXIT, which the client turns into one sentence naming the cause.
 * - $ErrorActionPreference = 'Stop' makes every cmdlet error terminating, so one catch at the
 *   end handles them all.
 * - Say writes one line straight to stdout and flushes it, so the line is out before `exit`
 *   and no formatting applies.
 * - Fail writes plain UTF-8 text to the raw stderr stream (not Write-Error, which
 *   powershell.exe serialises as CLIXML when started with -EncodedCommand) and exits with
 *   the given code; `exit` still runs the enclosing finally blocks.
 * - SHA-256 comes from SHA256CryptoServiceProvider (CryptoAPI), created with New-Object: on
 *   .NET Framework [SHA256]::Create() (and the same static method reached through the CSP
 *   class) returns SHA256Managed, whose constructor throws when the FIPS policy is on, as on
 *   STIG-hardened servers. PowerShell 7 has the class too (obsolete, still working).
 * - Errors are reported by GetBaseException's message: a .NET call's exception reaches
 *   `catch` wrapped in MethodInvocationException, whose message repeats the call.
 * - Full makes a path absolute and, on Windows, adds the \\?\ (or \\?\UNC\) prefix once it is
 *   248 characters or longer, the MAX_PATH limit for directories ("Naming Files, Paths, and
 *   Namespaces"); .NET Framework 4.6.2 and later accept such paths in its file APIs.
 */
const prelude = (languageCheck: string) => `
$ProgressPreference = 'SilentlyContinue'
${languageCheck}
$ErrorActionPreference = 'Stop'
function Fail([string]$m, [int]$c) {
  $b = [Text.Encoding]::UTF8.GetBytes($m + [Environment]::NewLine)
  $e = [Console]::OpenStandardError()
  $e.Write($b, 0, $b.Length)
  $e.Flush()
  exit $c
}
function Full([string]$x) {
  $f = [IO.Path]::GetFullPath($x)
  if ([IO.Path]::DirectorySeparatorChar -ne '\\' -or $f.Length -lt 248 -or $f.StartsWith('\\\\?\\')) { return $f }
  if ($f.StartsWith('\\\\')) { return '\\\\?\\UNC\\' + $f.Substring(2) }
  return '\\\\?\\' + $f
}
`;

/**
 * \`Absent { ... }\` runs the block only when $p does not exist. File.Exists, Directory.Exists
 * and Test-Path answer false as well when the path cannot be read (access denied), so they
 * cannot tell "absent" from "hidden from this account"; GetAttributes throws
 * FileNotFoundException or DirectoryNotFoundException only for a missing path, and
 * UnauthorizedAccessException (a failure, reported as one) when access is denied.
 */
const ABSENT = `
function Absent([scriptblock]$then) {
  try { [void][IO.File]::GetAttributes($p) } catch [IO.FileNotFoundException], [IO.DirectoryNotFoundException] { . $then }
}
`;

const SAY = `
function Say([string]$s) {
  [Console]::Out.WriteLine($s)
  [Console]::Out.Flush()
}
`;

/**
 * Wraps an operation: resolves $p and turns any terminating error into Fail(..., 1). Say is
 * included only where the operation prints, to keep command lines short.
 */
function operation(name: string, body: string): string {
  const say = body.includes("Say ") ? SAY : "";
  const absent = body.includes("Absent ") ? ABSENT : "";
  return compact(`${prelude(LANGUAGE_MODE_CHECK)}${say}${absent}
try {
  $p = Full $p
  ${body}
} catch {
  Fail ('${name}: ' + $p + ': ' + $_.Exception.GetBaseException().Message) 1
}`);
}

const SHA256_BODY = operation(
  "sha256",
  `
  if ([IO.Directory]::Exists($p)) { Fail ('sha256: ' + $p + ': is a directory') ${WRONG_TYPE_EXIT} }
  if (-not [IO.File]::Exists($p)) { Absent { Say 'absent'; exit 0 } }
  # Share read, write and delete so a file that another process holds open can still be read.
  $s = New-Object IO.FileStream($p, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]'ReadWrite, Delete', 1048576)
  try { $h = (New-Object Security.Cryptography.SHA256CryptoServiceProvider).ComputeHash($s) } finally { $s.Dispose() }
  Say ([BitConverter]::ToString($h).Replace('-', '').ToLowerInvariant())
  exit 0
`,
);

const STAT_BODY = operation(
  "stat",
  `
  $u = [Globalization.CultureInfo]::InvariantCulture
  if ([IO.Directory]::Exists($p)) { $i = New-Object IO.DirectoryInfo($p); $t = '"directory"' }
  elseif ([IO.File]::Exists($p)) { $i = New-Object IO.FileInfo($p); $t = '"file","size":' + $i.Length.ToString($u) }
  else {
    Absent { Say '{"exists":false}'; exit 0 }
    Say '{"exists":true,"type":"other"}'
    exit 0
  }
  $m = $i.LastWriteTimeUtc.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fff'Z'", $u)
  Say ('{"exists":true,"type":' + $t + ',"modified":"' + $m + '"}')
  exit 0
`,
);

/**
 * remove: a link (junction or symbolic link) is removed as a link. A directory tree goes
 * first through Directory.Delete(path, true), which deletes reparse points inside the tree
 * without descending into them; if that fails (read-only files, for instance) Remove-Item
 * -Recurse -Force, which clears read-only attributes, finishes the job.
 */
function removeBody(options: RemoveOptions): string {
  const tree = options.recursive
    ? `try { [IO.Directory]::Delete($p, $true) } catch { Remove-Item -LiteralPath $p -Recurse -Force }`
    : `Fail ('remove: ' + $p + ': is a directory (pass recursive to remove a tree)') ${WRONG_TYPE_EXIT}`;
  return operation(
    "remove",
    `
  if ([IO.Directory]::Exists($p)) {
    if (([IO.File]::GetAttributes($p) -band [IO.FileAttributes]::ReparsePoint) -ne 0) { [IO.Directory]::Delete($p) }
    else { ${tree} }
  } else {
    Absent { exit 0 }
    Remove-Item -LiteralPath $p -Force
  }
  exit 0
`,
  );
}

const REMOVE_BODY = removeBody({});
const REMOVE_RECURSIVE_BODY = removeBody({ recursive: true });

/** Directory.CreateDirectory creates every missing parent and accepts an existing directory. */
const MKDIRP_BODY = operation(
  "mkdirp",
  `
  if ([IO.File]::Exists($p)) { Fail ('mkdirp: ' + $p + ': exists and is not a directory') ${WRONG_TYPE_EXIT} }
  [void][IO.Directory]::CreateDirectory($p)
  exit 0
`,
);

/**
 * upload. First its folder $d: mkdirp, then the stale temporary files of earlier uploads in it:
 * named with a process id that Get-Process no longer finds (it sees every user's processes, so
 * another user's upload in progress is never touched). A file that cannot be deleted is left.
 * This was a script of its own, run before each upload: one powershell.exe start more.
 *
 * stdin is "base64-lines". Each line is decoded on its own and appended to the up to
 * 64 bytes held back from before ($h, the trailer candidate); all but the last 64 bytes of
 * that are written to the temporary file and fed to SHA256.TransformBlock, so the content is
 * hashed as it arrives and never read twice. The copy per line costs a memcpy of one line,
 * negligible beside the base64 decoding, and keeps the script short (see CMD_MAX_COMMAND_LINE).
 *
 * The temporary file is created with FileMode.CreateNew beside the destination, then moved
 * over it: File.Replace when the destination exists (one ReplaceFile call on Windows, which
 * keeps the replaced file's ACL, attributes and creation time), else File.Move. Replace's
 * "no backup" argument is [NullString]::Value: PowerShell passes $null to a string parameter
 * as "", which Replace refuses as an invalid path.
 * - A read-only destination: Windows refuses to replace or delete a file with the ReadOnly
 *   attribute, so the attribute is cleared for the replacement and set again afterwards, on
 *   the new file on success and on the old one on failure.
 * - Replace refused (some file systems, a file open without delete sharing): the old file is
 *   renamed aside (the temporary name + ".old"), the new one moved in, and the old one
 *   deleted; if the move in fails the old one is renamed back. The destination name is never
 *   left empty by a delete, as it would be by delete-then-move when the move fails (on Windows
 *   a file deleted while another process holds it open keeps its name until closed, so the
 *   move can fail after the delete succeeded). The new file then has its folder's inherited
 *   ACL and default attributes (with ReadOnly set again, as above).
 * - A destination that already holds exactly these bytes (same length, same SHA-256) is left
 *   as it is, time stamps and ACL included, and the script says `unchanged` instead of
 *   `replaced`: RemoteFile then needs no hashing command (a powershell.exe start) of its own
 *   before a small upload (issue 19). The destination is hashed with a SHA256 object of its
 *   own: .NET Framework does not reset one after TransformFinalBlock.
 * The finally block deletes the temporary file on every path but success; a process
 * terminated outright (WinRS Signal terminate, TerminateProcess) runs no finally, so its
 * temporary file can remain, named with its process id: the next upload into the folder
 * removes it (above).
 */
/**
 * How the upload receives its content into $f, hashing it into $sha, and sets $got (the hex
 * SHA-256 of what arrived) and $want (what it must be). With a trailer (see UPLOAD_BODY's
 * comment), the last 64 bytes are held back from every line: a line of at least 64 bytes is
 * written after the 64 held before it, and its own last 64 are held, with no array made per
 * line (New-Object per line was a third of the loop's time in pwsh: 100 MB in 0.73-0.99 s
 * instead of 1.07-1.21 s); only a shorter line is joined to the held bytes. When the sender
 * named the hash in the script ($want set before), each line is written as it is decoded.
 */
const RECEIVE_WITH_TRAILER = `    $r = New-Object IO.StreamReader([Console]::OpenStandardInput(), [Text.Encoding]::ASCII, $false, 1048576)
    $h = New-Object byte[] ${SHA256_HEX_LENGTH}
    $n = 0
    while ($null -ne ($l = $r.ReadLine())) {
      if ($l.Length -eq 0) { continue }
      $b = [Convert]::FromBase64String($l)
      $k = $b.Length - ${SHA256_HEX_LENGTH}
      if ($k -ge 0) {
        if ($n -gt 0) {
          $f.Write($h, 0, $n)
          [void]$sha.TransformBlock($h, 0, $n, $null, 0)
        }
        $f.Write($b, 0, $k)
        [void]$sha.TransformBlock($b, 0, $k, $null, 0)
        [Array]::Copy($b, $k, $h, 0, ${SHA256_HEX_LENGTH})
        $n = ${SHA256_HEX_LENGTH}
        continue
      }
      $a = New-Object byte[] ($n + $b.Length)
      [Array]::Copy($h, $a, $n)
      [Array]::Copy($b, 0, $a, $n, $b.Length)
      $k = $a.Length - ${SHA256_HEX_LENGTH}
      if ($k -gt 0) {
        $f.Write($a, 0, $k)
        [void]$sha.TransformBlock($a, 0, $k, $null, 0)
        [Array]::Copy($a, $k, $h, 0, ${SHA256_HEX_LENGTH})
        $n = ${SHA256_HEX_LENGTH}
      } else {
        [Array]::Copy($a, $h, $a.Length)
        $n = $a.Length
      }
    }
    if ($n -lt ${SHA256_HEX_LENGTH}) { Fail ('upload: ' + $p + ': no SHA-256 trailer') ${UPLOAD_HASH_MISMATCH_EXIT} }
    [void]$sha.TransformFinalBlock($h, 0, 0)
    $got = [BitConverter]::ToString($sha.Hash).Replace('-', '').ToLowerInvariant()
    $want = [Text.Encoding]::ASCII.GetString($h, 0, ${SHA256_HEX_LENGTH})`;

const RECEIVE_KNOWN = `    $r = New-Object IO.StreamReader([Console]::OpenStandardInput(), [Text.Encoding]::ASCII, $false, 1048576)
    while ($null -ne ($l = $r.ReadLine())) {
      if ($l.Length -eq 0) { continue }
      $b = [Convert]::FromBase64String($l)
      $f.Write($b, 0, $b.Length)
      [void]$sha.TransformBlock($b, 0, $b.Length, $null, 0)
    }
    [void]$sha.TransformFinalBlock((New-Object byte[] 0), 0, 0)
    $got = [BitConverter]::ToString($sha.Hash).Replace('-', '').ToLowerInvariant()`;

const uploadBody = (receive: string) =>
  operation(
    "upload",
    `
  $d = [IO.Path]::GetDirectoryName($p)
  if ([IO.File]::Exists($d)) { Fail ('upload: ' + $d + ': exists and is not a directory') ${WRONG_TYPE_EXIT} }
  [void][IO.Directory]::CreateDirectory($d)
  $x = '${UPLOAD_TEMP_PREFIX}'
  foreach ($s in [IO.Directory]::GetFiles($d, $x + '*')) {
    $n = [IO.Path]::GetFileName($s)
    $q = 0
    if ($n.EndsWith('.old') -or -not [int]::TryParse($n.Substring($x.Length).Split('-')[0], [ref]$q)) { continue }
    if ($null -eq (Get-Process -Id $q -ErrorAction Ignore)) { try { [IO.File]::Delete($s) } catch { } }
  }
  if ([IO.Directory]::Exists($p)) { Fail ('upload: ' + $p + ': is a directory') ${WRONG_TYPE_EXIT} }
  $t = [IO.Path]::Combine($d, $x + $PID + '-' + [Guid]::NewGuid().ToString('N'))
  $sha = New-Object Security.Cryptography.SHA256CryptoServiceProvider
  $f = $null
  $ok = $false
  try {
    $f = New-Object IO.FileStream($t, [IO.FileMode]::CreateNew, [IO.FileAccess]::Write, [IO.FileShare]::None, 1048576)
${receive}
    if ($got -cne $want) { Fail ('upload: ' + $p + ': SHA-256 mismatch: ' + $got) ${UPLOAD_HASH_MISMATCH_EXIT} }
    $z = $f.Length
    $f.Dispose()
    $f = $null
    $same = $false
    if ([IO.File]::Exists($p) -and (New-Object IO.FileInfo($p)).Length -eq $z) {
      # A destination that cannot be read is simply replaced.
      try {
        $s = New-Object IO.FileStream($p, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]'ReadWrite, Delete', 1048576)
        try { $e = (New-Object Security.Cryptography.SHA256CryptoServiceProvider).ComputeHash($s) } finally { $s.Dispose() }
        $same = [BitConverter]::ToString($e).Replace('-', '').ToLowerInvariant() -ceq $got
      } catch { }
    }
    if ($same) { [IO.File]::Delete($t) }
    elseif ([IO.File]::Exists($p)) {
      # Only where paths use '/' (PowerShell 7 on Linux or macOS, where Replace is a rename):
      # keep the replaced file's permission bits, without setuid, setgid and sticky, and with
      # the owner's write bit: the temporary file is never read-only (it is made so below).
      if ([IO.Path]::DirectorySeparatorChar -eq '/') { [IO.File]::SetUnixFileMode($t, ([int][IO.File]::GetUnixFileMode($p) -band 511 -bor 128)) }
      $i = New-Object IO.FileInfo($p)
      $q = $i.IsReadOnly
      if ($q) { $i.IsReadOnly = $false }
      try {
        try { [IO.File]::Replace($t, $p, [NullString]::Value) } catch {
          $k = $t + '.old'
          try {
            [IO.File]::Move($p, $k)
            try { [IO.File]::Move($t, $p) } catch { [IO.File]::Move($k, $p); throw }
          } catch { throw ('kept the old file: ' + $_.Exception.GetBaseException().Message) }
          try { [IO.File]::Delete($k) } catch { }
        }
      } finally {
        if ($q) { (New-Object IO.FileInfo($p)).IsReadOnly = $true }
      }
    } else { [IO.File]::Move($t, $p) }
    $ok = $true
  } finally {
    if ($null -ne $f) { $f.Dispose() }
    if (-not $ok) { [IO.File]::Delete($t) }
    $sha.Dispose()
  }
  if ($same) { Say 'unchanged' } else { Say 'replaced' }
  exit 0
`,
  );

const UPLOAD_BODY = uploadBody(RECEIVE_WITH_TRAILER);
const UPLOAD_KNOWN_BODY = uploadBody(RECEIVE_KNOWN);

/**
 * The runScript bootstrap. It runs the user's script as `powershell.exe -NoProfile
 * -NonInteractive -File script.ps1` would (about_PowerShell_exe, -File):
 * - non-terminating errors (Write-Error, a failed item of a cmdlet) and statement-terminating
 *   ones (a command not found, 1/0, a .NET method's exception, a parameter-binding error) are
 *   written to stderr and the script goes on with its next statement;
 * - a script-terminating error (throw, -ErrorAction Stop, any error under
 *   $ErrorActionPreference = 'Stop') ends it with exit code 1, the error on stderr;
 * - `exit N` gives N;
 * - otherwise the exit code is 0, whatever the last native command returned (as with -File:
 *   write `exit $LASTEXITCODE` to pass one on);
 * - a script that does not parse gives 1 and each parse error ("line L, column C: message");
 * - in a language mode other than FullLanguage (a WDAC or AppLocker policy) nothing runs: exit
 *   1 with the line BOOTSTRAP_RESTRICTED_LANGUAGE matches, which the client turns into advice.
 *   The bootstrap needs .NET calls that Constrained Language Mode refuses.
 * Errors reach stderr as PowerShell writes them (CLIXML, decoded by decodeClixml); no
 * try/catch wraps the script, because one would make every statement-terminating error end it.
 *
 * Stdin is read whole from the raw stream ([Console]::OpenStandardInput), not from $input,
 * which splits into lines and depends on the console input code page. It is framed by
 * framePowerShellInput: a first line with the script's length in UTF-8 bytes, the script, then
 * the caller's own stdin, if any, which reaches the script as pipeline input ($input, one
 * string per line, without a final empty line). Text is decoded as UTF-8; a leading BOM of
 * the script is dropped. The parse uses the language Parser so parse errors come back as text,
 * then the AST's script block runs with `&` (a child scope), so error positions are the
 * script's own lines. [Console]::OutputEncoding is set to UTF-8 (no BOM) where a console
 * allows it, so non-ASCII output survives; a host without a console keeps its default. So is
 * $OutputEncoding, with which PowerShell pipes text into native programs: 5.1's default is
 * ASCII, which turns every other character into '?' (7's is already UTF-8).
 */
const BOOTSTRAP = compact(`
$ProgressPreference = 'SilentlyContinue'
if ($ExecutionContext.SessionState.LanguageMode -ne 'FullLanguage') { Write-Error ('pulumi-winrm: PowerShell runs in ' + $ExecutionContext.SessionState.LanguageMode + ' mode on this host'); exit 1 }
try { [Console]::OutputEncoding = New-Object Text.UTF8Encoding($false) } catch { }
$OutputEncoding = New-Object Text.UTF8Encoding($false)
function Fail([string]$m) {
  $b = [Text.Encoding]::UTF8.GetBytes($m + [Environment]::NewLine)
  $e = [Console]::OpenStandardError()
  $e.Write($b, 0, $b.Length)
  $e.Flush()
  exit 1
}
$m = New-Object IO.MemoryStream
[Console]::OpenStandardInput().CopyTo($m)
$b = $m.ToArray()
$u = New-Object Text.UTF8Encoding($false)
$n = [Array]::IndexOf($b, [byte]10)
if ($n -lt 1) { Fail 'pulumi-winrm: no script arrived on stdin' }
$z = [int]$u.GetString($b, 0, $n)
$c = $u.GetString($b, $n + 1, $z).TrimStart([char]0xFEFF)
$d = $b.Length - $n - 1 - $z
$k = $null
$x = $null
$a = [Management.Automation.Language.Parser]::ParseInput($c, [ref]$k, [ref]$x)
if ($x.Count -gt 0) {
  Fail (($x | ForEach-Object { 'line ' + $_.Extent.StartLineNumber + ', column ' + $_.Extent.StartColumnNumber + ': ' + $_.Message }) -join [Environment]::NewLine)
}
$s = $a.GetScriptBlock()
if ($d -gt 0) {
  ($u.GetString($b, $n + 1 + $z, $d) -replace '\\r?\\n\\z', '') -split '\\r?\\n' | & $s
} else {
  & $s
}
exit 0
`);

/**
 * Stdin for the runScript bootstrap: the script's length in UTF-8 bytes on a line of its own,
 * the script, then `stdin` (the script's own input) when given.
 */
export async function* framePowerShellInput(
  script: string,
  stdin?: Uint8Array | AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const bytes = Buffer.from(script, "utf8");
  yield Buffer.concat([Buffer.from(`${bytes.length}\n`, "ascii"), bytes]);
  if (stdin === undefined) return;
  if (stdin instanceof Uint8Array) {
    yield stdin;
    return;
  }
  yield* stdin;
}

/**
 * The invocation for `script`. WinRS normally starts the command through cmd.exe, whose
 * command line stops at 8191 characters; a script too long for that (an upload to a very long
 * path) skips cmd.exe (WINRS_SKIP_CMD_SHELL), which leaves CreateProcess's limit of 32,767
 * characters. PowerShell's base64 needs no cmd.exe quoting either way.
 */
function encodedInvocation(
  executable: string,
  script: string,
  stdinEncoding: RemoteInvocation["stdinEncoding"] = "raw",
): RemoteInvocation {
  const command = `${executable} ${POWERSHELL_FLAGS} -EncodedCommand ${encodePowerShellCommand(script)}`;
  if (command.length >= CREATE_PROCESS_MAX_COMMAND_LINE) {
    throw new InvalidArgumentError(
      "path",
      `the PowerShell command line would be ${command.length} characters, over the ${CREATE_PROCESS_MAX_COMMAND_LINE - 1} Windows allows; use a shorter path`,
    );
  }
  const skipCmdShell = command.length > CMD_MAX_COMMAND_LINE;
  return { command, args: [], skipCmdShell, stdinEncoding };
}

/** `$p = '<path>'` then the fixed body: the path is the only variable text. */
function withPath(path: string, body: string): string {
  checkRemotePath(path);
  return `$p = ${quotePowerShell(path)}\n${body}`;
}

/** The PowerShell scripts (decoded) behind each invocation, exported for the grammar tests. */
export const powerShellSources = Object.freeze({
  bootstrap: () => BOOTSTRAP,
  sha256: (path: string) => withPath(path, SHA256_BODY),
  stat: (path: string) => withPath(path, STAT_BODY),
  remove: (path: string, options: RemoveOptions = {}) =>
    withPath(path, options.recursive ? REMOVE_RECURSIVE_BODY : REMOVE_BODY),
  mkdirp: (path: string) => withPath(path, MKDIRP_BODY),
  upload: (path: string, known?: KnownContent) =>
    known === undefined
      ? withPath(path, UPLOAD_BODY)
      : withPath(path, `$want = '${checkedSha256(known)}'\n${UPLOAD_KNOWN_BODY}`),
});

/** The Windows PowerShell family. */
export function powerShellScripts(options: PowerShellOptions = {}): RemoteScripts {
  const exe = options.executable ?? "powershell.exe";
  const run = (script: string, stdin?: RemoteInvocation["stdinEncoding"]) =>
    encodedInvocation(exe, script, stdin);
  return Object.freeze({
    family: "powershell",
    runScript: () => run(powerShellSources.bootstrap()),
    sha256: (path: string) => run(powerShellSources.sha256(path)),
    parseSha256: parseSha256Output,
    stat: (path: string) => run(powerShellSources.stat(path)),
    parseStat: parseStatOutput,
    remove: (path: string, opts?: RemoveOptions) => run(powerShellSources.remove(path, opts)),
    mkdirp: (path: string) => run(powerShellSources.mkdirp(path)),
    upload: (path: string, known?: KnownContent) =>
      run(powerShellSources.upload(path, known), "base64-lines"),
    power: powerShellPower((script) => run(script)),
    tree: powerShellTree({ operation, withPath, run }),
  } as const);
}
