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
 *   match is each moved over its destination (by one perl process when the host has perl, else
 *   one mv each). The staging folder carries the script's process
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

/**
 * Moves the verified files into place: manifest line i (on stdin) names where "$s/i" goes.
 * Each move is rename(2), which replaces a file or a symbolic link at the destination; a
 * folder there is refused with exit 2, as the sh loop does. Folders are made as `mkdir -p`
 * would, once each. Arguments: the staging folder, the root. Bytes in, bytes out: names are
 * never decoded, so any encoding passes through.
 */
const PERL_MOVE = String.raw`my ($s, $p) = @ARGV;
sub fail { print STDERR "$p: $_[0]\n"; exit $_[1]; }
my (%made, $i);
while (my $l = <STDIN>) {
  chomp $l;
  $i++;
  my $r = (split / /, $l, 3)[2];
  my $t = "$p/$r";
  my ($dir) = $r =~ m{^(.*)/};
  if (defined $dir && !$made{$dir}++) {
    my $d = $p;
    for my $part (split m{/}, $dir) {
      $d .= "/$part";
      next if -d $d;
      mkdir $d or -d $d or fail("$r: cannot make the folder $d: $!", 1);
    }
  }
  fail("$r is a folder on the host, not a file", 2) if -d $t && !-l $t;
  rename "$s/$i", $t or fail("$r: cannot move it into place: $!", 1);
}
exit 0;`;

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
    // The two hash columns compared whole first: the shell's read takes a byte per system
    // call, 0.4 s for 1,000 files here. The loop below runs only when they differ (or cut or
    // cmp is missing), to name the file that does not match.
    `cut -d ' ' -f 1 < "$s/0" > "$s/want" && cut -d ' ' -f 1 < "$s/hashes" > "$s/got" && cmp -s "$s/want" "$s/got" || {`,
    `i=0`,
    `while IFS= read -r l <&3 && IFS= read -r h <&4; do`,
    `  i=$((i + 1)); want=\${l%% *}; got=\${h%%[ *]*}`,
    `  if [ "$want" != "$got" ]; then r=\${l#* }; r=\${r#* }; fail "SHA-256 mismatch for $r: it hashes to $got, the manifest says $want" ${mismatch}; fi`,
    `done 3< "$s/0" 4< "$s/hashes"`,
    `[ "$i" -eq "$n" ] || fail "only $i of $n files arrived" ${mismatch}`,
    `}`,
    // One perl process moves every file when the host has perl (nearly every Linux does);
    // otherwise one mv per file, which costs a process start each (3 s for 1,000 files here).
    `if command -v perl >/dev/null 2>&1; then`,
    `  perl -e ${quotePosix(PERL_MOVE)} -- "$s" "$p" < "$s/0" || exit`,
    `  exit 0`,
    `fi`,
    `i=0; made=; nl='
'`,
    `while IFS= read -r l; do`,
    `  i=$((i + 1)); r=\${l#* }; r=\${r#* }`,
    // Each folder is made once: $made lists those made, one per line (names hold no line break).
    `  case $r in */*) d=\${r%/*}; case "$nl$made$nl" in *"$nl$d$nl"*) ;; *) mkdir -p -- "$p/$d" || exit 1; made="$made$nl$d" ;; esac ;; esac`,
    `  if [ -d "$p/$r" ] && [ ! -L "$p/$r" ]; then fail "$r is a folder on the host, not a file" 2; fi`,
    // mv onto a symbolic link to a folder would move the file into that folder: the link
    // goes first, so the file takes its place, as rename(2) does in the perl branch.
    `  if [ -L "$p/$r" ]; then rm -f -- "$p/$r" || exit 1; fi`,
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
