/**
 * A folder's files as a whole, in POSIX sh (RemoteTree).
 *
 * - hashTree: `find -exec TOOL {} +` hashes every file with a few processes whatever their
 *   number. sha256sum and shasum print `HEX  NAME`, openssl `-r` prints `HEX *NAME`; GNU
 *   sha256sum writes a name holding "\" or a line break escaped, after a leading "\"
 *   (parseTreeLines undoes that).
 * - placeBundle: the bundle is a plain ustar archive, so `tar -x` unpacks it into a staging
 *   folder inside the root (the same file system: each move is a rename); the files are hashed
 *   in one command, in entry order, and compared with the manifest line by line; only when all
 *   match is each moved over its destination. The staging folder carries the script's process
 *   id, and the EXIT trap removes it; one left by a killed script is removed by the next
 *   placeBundle into the same root.
 */
import { UPLOAD_HASH_MISMATCH_EXIT, UPLOAD_TEMP_PREFIX, type RemoteTree } from "./types";
import { FAIL_FUNCTION, invocation, SHA256_FUNCTIONS } from "./posix-text";
import { parseTreeLines } from "./parse";
import { checkRemotePath, quotePosix } from "./quote";

function rootLine(root: string): string {
  checkRemotePath(root, "remotePath");
  return `p=${quotePosix(root)}`;
}

function hashTreeScript(root: string): string {
  return [
    rootLine(root),
    SHA256_FUNCTIONS,
    "pick_sha256 || exit",
    `if [ ! -d "$p" ]; then echo absent; exit 0; fi`,
    `cd -- "$p" || exit 1`,
    `case $tool in`,
    `  openssl) set -- openssl dgst -sha256 -r ;;`,
    `  sha256sum) set -- sha256sum ;;`,
    `  *) set -- shasum -a 256 ;;`,
    `esac`,
    `find . -name '${UPLOAD_TEMP_PREFIX}*' -prune -o -type f -exec "$@" {} +`,
  ].join("\n");
}

/** Removes staging folders of earlier runs whose process is gone (this account's only). */
const STALE_STAGING = [
  `for o in "$p/${UPLOAD_TEMP_PREFIX}"*; do`,
  `  q=\${o#"$p/${UPLOAD_TEMP_PREFIX}"}; q=\${q%%-*}`,
  `  case $q in ''|*[!0-9]*) continue ;; esac`,
  `  if [ -d "$o" ] && [ -O "$o" ] && ! kill -0 "$q" 2>/dev/null; then rm -rf -- "$o"; fi`,
  `done`,
].join("\n");

function placeBundleScript(root: string): string {
  const mismatch = UPLOAD_HASH_MISMATCH_EXIT;
  return [
    rootLine(root),
    FAIL_FUNCTION,
    SHA256_FUNCTIONS,
    "pick_sha256 || exit",
    `mkdir -p -- "$p" || exit 1`,
    STALE_STAGING,
    `s=`,
    `trap 'if [ -n "$s" ]; then rm -rf -- "$s"; fi' EXIT`,
    `trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM`,
    `s=$(mktemp -d "$p/${UPLOAD_TEMP_PREFIX}$$-XXXXXXXXXX") || exit 1`,
    // -m: the files get the time they were written here, not the bundle's zero timestamps.
    `tar -xmf - -C "$s" || fail 'the bundle did not unpack' 1`,
    `[ -f "$s/0" ] || fail 'the bundle has no manifest' ${mismatch}`,
    // The entries' names, 1..n, hashed in that order: xargs keeps the order and splits a long
    // list over as few commands as the system's argument limit allows.
    `n=$(($(wc -l < "$s/0")))`,
    `case $tool in openssl) set -- openssl dgst -sha256 -r ;; sha256sum) set -- sha256sum -- ;; *) set -- shasum -a 256 -- ;; esac`,
    `i=1; while [ "$i" -le "$n" ]; do echo "$i"; i=$((i + 1)); done > "$s/names"`,
    `if [ "$n" -gt 0 ]; then (cd -- "$s" && xargs "$@" < names) > "$s/hashes" || fail 'hashing the files failed' 1; else : > "$s/hashes"; fi`,
    `i=0`,
    `while IFS= read -r l <&3 && IFS= read -r h <&4; do`,
    `  i=$((i + 1)); want=\${l%% *}; got=\${h%%[ *]*}`,
    `  if [ "$want" != "$got" ]; then r=\${l#* }; r=\${r#* }; fail "SHA-256 mismatch for $r: it hashes to $got, the manifest says $want" ${mismatch}; fi`,
    `done 3< "$s/0" 4< "$s/hashes"`,
    `[ "$i" -eq "$n" ] || fail "only $i of $n files arrived" ${mismatch}`,
    `i=0; made=; nl='
'`,
    `while IFS= read -r l; do`,
    `  i=$((i + 1)); r=\${l#* }; r=\${r#* }`,
    // Each folder is made once: $made lists those made, one per line (names hold no line break).
    `  case $r in */*) d=\${r%/*}; case "$nl$made$nl" in *"$nl$d$nl"*) ;; *) mkdir -p -- "$p/$d" || exit 1; made="$made$nl$d" ;; esac ;; esac`,
    `  if [ -d "$p/$r" ] && [ ! -L "$p/$r" ]; then fail "$r is a folder on the host, not a file" 2; fi`,
    `  mv -f -- "$s/$i" "$p/$r" || exit 1`,
    `done < "$s/0"`,
    `exit 0`,
  ].join("\n");
}

function removeFilesScript(root: string): string {
  return [
    rootLine(root),
    `while IFS= read -r r; do`,
    `  [ -n "$r" ] || continue`,
    `  if [ -d "$p/$r" ] && [ ! -L "$p/$r" ]; then continue; fi`,
    `  rm -f -- "$p/$r" || exit 1`,
    `done`,
    `exit 0`,
  ].join("\n");
}

export const posixTree: RemoteTree = Object.freeze({
  hashTree: (root: string) => invocation(hashTreeScript(root)),
  parseHashTree: parseTreeLines,
  placeBundle: (root: string) => invocation(placeBundleScript(root)),
  removeFiles: (root: string) => invocation(removeFilesScript(root)),
});
