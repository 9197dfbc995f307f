/**
 * The POSIX sh family: helper scripts for non-Windows WinRM hosts, which run a command as
 * `/bin/sh -c "<command> <args...>"`. Every script is a single command string with each path
 * quoted by quotePosix; `args` stays empty so nothing is joined in after quoting.
 *
 * Only POSIX sh and utilities found on Debian, Alpine (BusyBox) and macOS are used. Where
 * those differ (the SHA-256 tool, `stat`), the script detects what exists at run time.
 */
import { posix } from "node:path";
import { parseSha256Output, parseStatOutput } from "./parse";
import { posixPower } from "./posix-power";
import { posixTree } from "./posix-tree";
import { FAIL_FUNCTION, ISO8601_FUNCTION, invocation, SHA256_FUNCTIONS } from "./posix-text";
import { checkRemotePath, quotePosix } from "./quote";
import {
  checkedSha256,
  type KnownContent,
  SHA256_HEX_LENGTH,
  UPLOAD_HASH_MISMATCH_EXIT,
  UPLOAD_TEMP_PREFIX,
  WRONG_TYPE_EXIT,
  type RemoteScripts,
  type RemoveOptions,
} from "./types";

/**
 * `hidden` succeeds when $p cannot be told absent: `test -e` answers false both for a missing
 * path and for one below a folder this account may not search, so the nearest folder above $p
 * that exists decides. If it cannot be searched, "absent" would be a guess ("access denied").
 */
const HIDDEN_FUNCTION = String.raw`hidden() {
  d=$p
  while :; do
    d=$(dirname -- "$d")
    if [ -d "$d" ]; then [ ! -x "$d" ]; return; fi
    case $d in /|.) return 1 ;; esac
  done
}`;

/** `p='<path>'` as the script's first line; the path is never spliced in anywhere else. */
function pathLine(name: string, path: string): string {
  checkRemotePath(path);
  return `${name}=${quotePosix(path)}`;
}

/**
 * A directory name that cannot be read as an option: `mktemp` has no `--` on every platform,
 * so a relative directory such as `-x` becomes `./-x`.
 */
function safeDirectory(path: string): string {
  const directory = posix.dirname(path);
  return directory.startsWith("/") ? directory : `./${directory}`;
}

function sha256Script(path: string): string {
  return [
    pathLine("p", path),
    FAIL_FUNCTION,
    SHA256_FUNCTIONS,
    `if [ -d "$p" ]; then fail 'is a directory' ${WRONG_TYPE_EXIT}; fi`,
    HIDDEN_FUNCTION,
    `if [ ! -e "$p" ]; then hidden && fail 'Permission denied' 1; echo absent; exit 0; fi`,
    `pick_sha256 || exit`,
    `sha256_stdin < "$p" || exit 1`,
    `printf '%s\\n' "$h"`,
  ].join("\n");
}

/**
 * stat: GNU and BusyBox `stat -L -c '%s %Y'`, BSD/macOS `stat -L -f '%z %m'`; when neither
 * works the size comes from `wc -c` and the time is left out. -L and `test -f/-d` follow
 * symbolic links, as stat(2) does.
 */
function statScript(path: string): string {
  return [
    pathLine("p", path),
    FAIL_FUNCTION,
    HIDDEN_FUNCTION,
    ISO8601_FUNCTION,
    `set -f`,
    `if [ -d "$p" ]; then t=directory; elif [ -f "$p" ]; then t=file;`,
    `elif [ -e "$p" ]; then t=other; elif hidden; then fail 'Permission denied' 1;`,
    `else echo '{"exists":false}'; exit 0; fi`,
    `o=$(stat -L -c '%s %Y' -- "$p" 2>/dev/null) || o=$(stat -L -f '%z %m' -- "$p" 2>/dev/null) || o=`,
    `set -- $o`,
    `size=$1; mtime=$2`,
    `case $size in ''|*[!0-9]*) size=$(($(wc -c < "$p"))) || exit 1 ;; esac`,
    `case $mtime in ''|*[!0-9-]*) mtime= ;; esac`,
    `printf '{"exists":true,"type":"%s"' "$t"`,
    `if [ "$t" = file ]; then printf ',"size":%s' "$size"; fi`,
    `if [ -n "$mtime" ]; then printf ',"modified":"%s"' "$(iso8601 "$mtime")"; fi`,
    `printf '}\\n'`,
  ].join("\n");
}

/** A symbolic link to a directory is removed as a link (`rm -f`), never followed. */
function removeScript(path: string, options: RemoveOptions): string {
  const directory = options.recursive
    ? `rm -rf -- "$p"`
    : `fail 'is a directory (pass recursive to remove a tree)' ${WRONG_TYPE_EXIT}`;
  return [
    pathLine("p", path),
    FAIL_FUNCTION,
    `if [ -d "$p" ] && [ ! -L "$p" ]; then ${directory}; else rm -f -- "$p"; fi`,
  ].join("\n");
}

function mkdirpScript(path: string): string {
  return [pathLine("p", path), `mkdir -p -- "$p"`].join("\n");
}

/**
 * The upload's first part, for its folder $d: mkdirp, then the stale temporary files of earlier
 * uploads in it: owned by this user (`test -O`), named with a process id that `kill -0` no
 * longer finds. kill -0 answers for this user's processes, which are the only ones whose files
 * are touched.
 */
const PREPARE_FOLDER = [
  // The test is a builtin; mkdir is a process start, about 4 ms on the machine of issue 19.
  `[ -d "$d" ] || mkdir -p -- "$d" || exit 1`,
  `for s in "$d/${UPLOAD_TEMP_PREFIX}"*; do`,
  `  q=\${s#"$d/${UPLOAD_TEMP_PREFIX}"}; q=\${q%%-*}`,
  `  case $s in *.old) continue ;; esac`,
  `  case $q in ''|*[!0-9]*) continue ;; esac`,
  `  if [ -f "$s" ] && [ -O "$s" ] && ! kill -0 "$q" 2>/dev/null; then rm -f -- "$s"; fi`,
  `done`,
].join("\n");

/**
 * Upload. Measured choice (see test/unit/winrm/scripts/posix.test.ts): `cat` stdin into the
 * temporary file, read the 64-byte trailer with `tail -c` (a seek on a regular file), cut it
 * off with `dd seek=N` (POSIX dd truncates the output at the seek point unless
 * conv=notrunc; no data is copied), then hash the file in place. That is one write and one
 * read of the content and 1x its size of temporary space.
 *
 * A destination that already holds exactly these bytes (same size, same SHA-256) is left as it
 * is, its time stamps and mode included, and the script prints `unchanged` instead of
 * `replaced`: RemoteFile then needs no hashing command of its own before a small upload
 * (issue 19), and an upload of the same content changes nothing on the host.
 *
 * Cleanup: the EXIT trap removes the temporary file; HUP, INT and TERM are turned into exits
 * so the EXIT trap runs for them too (sh runs a trap once the foreground child, which got the
 * same group signal, has ended). SIGKILL cannot be caught, which is why the temporary file
 * lives beside the destination under a recognisable prefix.
 *
 * The new file keeps the permission bits of the file it replaces (GNU and BusyBox `stat -c
 * %a`, BSD `stat -f %Lp`), without setuid, setgid and sticky, which new content must not
 * inherit; a new destination gets 0666 & ~umask, as a freshly created file would (mktemp makes
 * 0600). It replaces the destination with rename(2), atomically: `mv -T` (GNU, BusyBox) so
 * that a symbolic link to a directory swapped in for the destination is replaced, not entered;
 * where mv has no -T (BSD), a plain mv after checking that the destination is no directory.
 *
 * Every utility is a process start (about 4 ms each on the 2-core machine of issue 19, where
 * they were most of a small upload's time), so the mode and size of the destination come
 * from one `stat`, and arithmetic and text stay in the shell.
 */
function uploadScript(destination: string, known?: KnownContent): string {
  const mismatch = UPLOAD_HASH_MISMATCH_EXIT;
  // The content into $t, its size into $n and the hash it must have into $want: after a
  // trailer (below), or named in the script by a sender that hashed the content first.
  const receive =
    known === undefined
      ? [
          `cat > "$t" || exit 1`,
          `n=$(($(wc -c < "$t"))) || exit 1`,
          `if [ "$n" -lt ${SHA256_HEX_LENGTH} ]; then`,
          `  fail "upload stream ended after $n bytes, before its ${SHA256_HEX_LENGTH}-byte SHA-256 trailer" ${mismatch}`,
          `fi`,
          `want=$(tail -c ${SHA256_HEX_LENGTH} "$t") || exit 1`,
          `n=$((n - ${SHA256_HEX_LENGTH}))`,
          // A dd that failed to truncate leaves the trailer in the file, which then fails the
          // hash check below: no second count of the bytes is needed.
          `dd if=/dev/null of="$t" bs=1 seek="$n" 2>/dev/null || fail 'cannot truncate the temporary file' 1`,
        ]
      : [`want=${checkedSha256(known)}; n=${known.size}`, `cat > "$t" || exit 1`];
  const said = known === undefined ? "the stream's trailer says" : "the sender's says";
  return [
    pathLine("p", destination),
    pathLine("d", safeDirectory(destination)),
    FAIL_FUNCTION,
    SHA256_FUNCTIONS,
    `pick_sha256 || exit`,
    PREPARE_FOLDER,
    `if [ -d "$p" ]; then fail 'is a directory' ${WRONG_TYPE_EXIT}; fi`,
    `t=`,
    `trap 'if [ -n "$t" ]; then rm -f -- "$t"; fi' EXIT`,
    `trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM`,
    // The process id in the name lets a later upload tell a stale file from a live one.
    `t=$(mktemp "$d/${UPLOAD_TEMP_PREFIX}$$-XXXXXXXXXX") || exit 1`,
    ...receive,
    `sha256_stdin "$n" < "$t" || exit 1`,
    `case $want in *[!0-9a-f]*) want='(not a hex digest)' ;; esac`,
    `if [ "$h" != "$want" ]; then`,
    `  fail "SHA-256 mismatch: the content hashes to $h, ${said} $want" ${mismatch}`,
    `fi`,
    `m=; s=`,
    `if [ -f "$p" ]; then o=$(stat -L -c '%a %s' -- "$p" 2>/dev/null) || o=$(stat -L -f '%Lp %z' -- "$p" 2>/dev/null) || o=; set -- $o; m=$1; s=$2; fi`,
    // Same size: compare the content; a destination that cannot be read is simply replaced
    // (stderr is redirected first, so that the failed redirection of stdin says nothing).
    `if [ "$s" = "$n" ] && sha256_stdin "$n" 2>/dev/null < "$p" && [ "$h" = "$want" ]; then echo unchanged; exit 0; fi`,
    // The last three octal digits of the mode: its permission bits, without setuid, setgid
    // and sticky.
    `case $m in ''|*[!0-7]*) m=$((0666 & ~0$(umask))); m=$(printf '%o' "$m") ;; *) m=00$m; m=\${m#"\${m%???}"} ;; esac`,
    `chmod "$m" "$t" || exit 1`,
    `if [ -d "$p" ] && [ ! -L "$p" ]; then fail 'is a directory' ${WRONG_TYPE_EXIT}; fi`,
    `if mv -T -f -- "$t" "$p" 2>/dev/null; then :`,
    `elif [ -d "$p" ]; then fail 'is a directory' ${WRONG_TYPE_EXIT}`,
    `else mv -f -- "$t" "$p" || exit 1; fi`,
    `t=`,
    `echo replaced`,
    `exit 0`,
  ].join("\n");
}

/** The POSIX sh family. */
export const posixScripts: RemoteScripts = Object.freeze({
  family: "posix",
  /** `sh -s` reads its commands from stdin; a script that itself reads stdin sees the rest of the script. */
  runScript: () => invocation("exec /bin/sh -s"),
  sha256: (path: string) => invocation(sha256Script(path)),
  parseSha256: parseSha256Output,
  stat: (path: string) => invocation(statScript(path)),
  parseStat: parseStatOutput,
  remove: (path: string, options: RemoveOptions = {}) => invocation(removeScript(path, options)),
  mkdirp: (path: string) => invocation(mkdirpScript(path)),
  upload: (destination: string, known?: KnownContent) =>
    invocation(uploadScript(destination, known)),
  power: posixPower,
  tree: posixTree,
} as const);
