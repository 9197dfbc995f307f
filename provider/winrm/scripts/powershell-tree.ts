/**
 * A folder's files as a whole, in Windows PowerShell 5.1 (RemoteTree); PowerShell 7 runs the
 * same text.
 *
 * - hashTree: every file below the folder, hashed with SHA256CryptoServiceProvider (FIPS-safe,
 *   see powershell.ts) and shared for reading, writing and deleting, so a log another process
 *   holds open is still read; printed `HEX *PATH` as UTF-8 straight to the standard output
 *   stream, so no console code page touches a name. Folders are walked by hand, not with
 *   EnumerateFiles(AllDirectories), to leave junctions and symbolic links to folders alone: one
 *   pointing at an ancestor would loop, one elsewhere would hash what is not the folder's.
 * - placeBundle: stdin is "base64-lines"; the decoded bytes are the bundle (bundle.ts), a
 *   restricted ustar archive read here block by block: a 512-byte header (name at 0, octal
 *   size at 124), the content, zeros to the next 512 bytes, and a zero block at the end. Each
 *   entry is written to a staging folder inside the root and hashed as it arrives; when every
 *   file matches the manifest, each is moved over its destination (File.Replace when one
 *   exists, File.Move otherwise: a rename, so no reader sees a partial file). The staging
 *   folder carries the process id; `finally` removes it, and the next placeBundle removes
 *   one left by a process that was terminated outright. Per file, the stream and the hash
 *   object are made with `::new()` (PowerShell 5.0 and later), not New-Object, which binds
 *   its arguments by reflection on every call: 1,000 files of 10 KB took 1.45 s in the
 *   loop with New-Object and 1.05 s with `::new()` in pwsh; each file's buffer is at most
 *   its size, not 1 MiB.
 * - removeFiles: stdin is raw UTF-8, one relative path per line.
 */
import {
  UPLOAD_HASH_MISMATCH_EXIT,
  UPLOAD_TEMP_PREFIX,
  type RemoteInvocation,
  type RemoteTree,
} from "./types";
import { parseTreeLines } from "./parse";

/** What the tree scripts borrow from powershell.ts, which owns the shared prelude. */
export interface PowerShellTools {
  /** The operation's full text: the prelude, `$p = Full $p`, the body, one catch. */
  operation(name: string, body: string): string;
  /** `$p = '<path>'` before `script`. */
  withPath(path: string, script: string): string;
  run(script: string, stdin?: RemoteInvocation["stdinEncoding"]): RemoteInvocation;
}

/** Writes $o (a StringBuilder) to stdout as UTF-8 bytes. */
const WRITE_UTF8 = `
$w = [Text.Encoding]::UTF8.GetBytes($o.ToString())
$x = [Console]::OpenStandardOutput()
$x.Write($w, 0, $w.Length)
$x.Flush()
`;

const HASH_TREE = `
if (-not [IO.Directory]::Exists($p)) { Say 'absent'; exit 0 }
$n = $p.TrimEnd('\\', '/').Length + 1
$o = New-Object Text.StringBuilder
$q = New-Object Collections.Stack
$q.Push($p)
while ($q.Count -gt 0) {
  $d = $q.Pop()
  foreach ($e in [IO.Directory]::GetDirectories($d)) {
    if (-not ([IO.File]::GetAttributes($e) -band [IO.FileAttributes]::ReparsePoint) -and -not [IO.Path]::GetFileName($e).StartsWith('${UPLOAD_TEMP_PREFIX}')) { $q.Push($e) }
  }
  foreach ($f in [IO.Directory]::GetFiles($d)) {
    $r = $f.Substring($n).Replace('\\', '/')
    if ([IO.Path]::GetFileName($f).StartsWith('${UPLOAD_TEMP_PREFIX}')) { continue }
    $s = New-Object IO.FileStream($f, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]'ReadWrite, Delete', 1048576)
    try { $h = (New-Object Security.Cryptography.SHA256CryptoServiceProvider).ComputeHash($s) } finally { $s.Dispose() }
    [void]$o.Append([BitConverter]::ToString($h).Replace('-', '').ToLowerInvariant() + ' *' + $r + [char]10)
  }
}
${WRITE_UTF8}
exit 0
`;

const PLACE_BUNDLE = `
[void][IO.Directory]::CreateDirectory($p)
$x = '${UPLOAD_TEMP_PREFIX}'
foreach ($o in [IO.Directory]::GetDirectories($p, $x + '*')) {
  $q = 0
  if ([int]::TryParse([IO.Path]::GetFileName($o).Substring($x.Length).Split('-')[0], [ref]$q) -and $null -eq (Get-Process -Id $q -ErrorAction Ignore)) { try { [IO.Directory]::Delete($o, $true) } catch { } }
}
$s = Full ([IO.Path]::Combine($p, $x + $PID + '-' + [Guid]::NewGuid().ToString('N')))
[void][IO.Directory]::CreateDirectory($s)
$f = $null
try {
  $r = New-Object IO.StreamReader([Console]::OpenStandardInput(), [Text.Encoding]::ASCII, $false, 1048576)
  $a = [Text.Encoding]::ASCII
  $hd = New-Object byte[] 512
  $hn = 0; $z = 0; $g = 0; $d = $false; $e = $null; $c = $null
  $hs = @{}
  while (-not $d -and $null -ne ($l = $r.ReadLine())) {
    if ($l.Length -eq 0) { continue }
    $b = [Convert]::FromBase64String($l)
    $i = 0
    while ($i -lt $b.Length) {
      if ($z -gt 0) {
        $k = [Math]::Min($z, $b.Length - $i)
        $f.Write($b, $i, $k)
        [void]$c.TransformBlock($b, $i, $k, $null, 0)
        $z -= $k; $i += $k
      } elseif ($g -gt 0) {
        $k = [Math]::Min($g, $b.Length - $i)
        $g -= $k; $i += $k
      } else {
        $k = [Math]::Min(512 - $hn, $b.Length - $i)
        [Array]::Copy($b, $i, $hd, $hn, $k)
        $hn += $k; $i += $k
        if ($hn -lt 512) { continue }
        $hn = 0
        if ($hd[0] -eq 0) { $d = $true; break }
        $e = $a.GetString($hd, 0, 100).TrimEnd([char]0)
        $z = [Convert]::ToInt64($a.GetString($hd, 124, 11), 8)
        $g = (512 - $z % 512) % 512
        $f = [IO.FileStream]::new([IO.Path]::Combine($s, $e), [IO.FileMode]::CreateNew, [IO.FileAccess]::Write, [IO.FileShare]::None, [Math]::Max(4096, [Math]::Min($z, 1048576)))
        $c = [Security.Cryptography.SHA256CryptoServiceProvider]::new()
      }
      if ($null -ne $f -and $z -eq 0) {
        [void]$c.TransformFinalBlock($b, 0, 0)
        $hs[$e] = [BitConverter]::ToString($c.Hash).Replace('-', '').ToLowerInvariant()
        $c.Dispose(); $f.Dispose(); $f = $null
      }
    }
  }
  if (-not $d) { Fail ('placeBundle: ' + $p + ': the bundle ended early') ${UPLOAD_HASH_MISMATCH_EXIT} }
  if (-not $hs.ContainsKey('0')) { Fail ('placeBundle: ' + $p + ': the bundle has no manifest') ${UPLOAD_HASH_MISMATCH_EXIT} }
  $m = [IO.File]::ReadAllText([IO.Path]::Combine($s, '0'), [Text.Encoding]::UTF8).Split([char[]]@([char]10), [StringSplitOptions]::RemoveEmptyEntries)
  for ($i = 0; $i -lt $m.Length; $i++) {
    $t = $m[$i].Split([char[]]@([char]32), 3)
    if ($hs[[string]($i + 1)] -cne $t[0]) { Fail ('placeBundle: ' + $p + ': SHA-256 mismatch for ' + $t[2]) ${UPLOAD_HASH_MISMATCH_EXIT} }
  }
  for ($i = 0; $i -lt $m.Length; $i++) {
    $t = $m[$i].Split([char[]]@([char]32), 3)
    $q = Full ([IO.Path]::Combine($p, $t[2].Replace('/', [IO.Path]::DirectorySeparatorChar)))
    $k = [IO.Path]::Combine($s, [string]($i + 1))
    if ([IO.Directory]::Exists($q)) { Fail ('placeBundle: ' + $q + ': is a folder on the host, not a file') 2 }
    [void][IO.Directory]::CreateDirectory([IO.Path]::GetDirectoryName($q))
    if ([IO.File]::Exists($q)) { [IO.File]::Replace($k, $q, [NullString]::Value) } else { [IO.File]::Move($k, $q) }
  }
} finally {
  if ($null -ne $f) { $f.Dispose() }
  try { [IO.Directory]::Delete($s, $true) } catch { }
}
exit 0
`;

const REMOVE_FILES = `
$m = New-Object IO.MemoryStream
[Console]::OpenStandardInput().CopyTo($m)
foreach ($r in [Text.Encoding]::UTF8.GetString($m.ToArray()).Split([char]10)) {
  $r = $r.TrimEnd([char]13)
  if ($r.Length -eq 0) { continue }
  $q = Full ([IO.Path]::Combine($p, $r.Replace('/', [IO.Path]::DirectorySeparatorChar)))
  if ([IO.File]::Exists($q)) { [IO.File]::SetAttributes($q, 'Normal'); [IO.File]::Delete($q) }
}
exit 0
`;

export function powerShellTree(tools: PowerShellTools): RemoteTree & {
  sources: Record<"hashTree" | "placeBundle" | "removeFiles", (root: string) => string>;
} {
  const hashTree = tools.operation("hashTree", HASH_TREE);
  const placeBundle = tools.operation("placeBundle", PLACE_BUNDLE);
  const removeFiles = tools.operation("removeFiles", REMOVE_FILES);
  const sources = {
    hashTree: (root: string) => tools.withPath(root, hashTree),
    placeBundle: (root: string) => tools.withPath(root, placeBundle),
    removeFiles: (root: string) => tools.withPath(root, removeFiles),
  };
  return Object.freeze({
    hashTree: (root: string) => tools.run(sources.hashTree(root)),
    parseHashTree: parseTreeLines,
    placeBundle: (root: string) => tools.run(sources.placeBundle(root), "base64-lines"),
    removeFiles: (root: string) => tools.run(sources.removeFiles(root)),
    sources,
  });
}
