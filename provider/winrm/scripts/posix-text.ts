/** Text helpers shared by the POSIX sh scripts. */
import type { RemoteInvocation } from "./types";

/**
 * Below this size sha256sum hashes sooner than openssl, whose start costs about 5 ms more
 * while it saves about 1.4 ms per MiB (the figures in SHA256_FUNCTIONS' comment).
 */
export const SMALL_HASH_BYTES = 4 * 1024 * 1024;

/**
 * `iso8601 SECONDS` prints a UTC timestamp without relying on GNU `date -d` or BSD `date -r`:
 * it converts days since 1970-01-01 to a proleptic Gregorian date with integer arithmetic
 * (the days-to-civil method: shift the epoch to 0000-03-01, split into 400-year eras of
 * 146,097 days, then year-of-era, day-of-year and a March-based month).
 */
export const ISO8601_FUNCTION = String.raw`iso8601() {
  z=$(($1 / 86400)); r=$(($1 % 86400))
  if [ "$r" -lt 0 ]; then r=$((r + 86400)); z=$((z - 1)); fi
  z=$((z + 719468))
  era=$(( (z >= 0 ? z : z - 146096) / 146097 ))
  doe=$((z - era * 146097))
  yoe=$(( (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365 ))
  doy=$((doe - (365 * yoe + yoe / 4 - yoe / 100)))
  mp=$(( (5 * doy + 2) / 153 ))
  day=$((doy - (153 * mp + 2) / 5 + 1))
  month=$((mp < 10 ? mp + 3 : mp - 9))
  year=$((yoe + era * 400 + (month <= 2)))
  printf '%04d-%02d-%02dT%02d:%02d:%02dZ' "$year" "$month" "$day" \
    $((r / 3600)) $((r % 3600 / 60)) $((r % 60))
}`;

/**
 * A POSIX host's command processor is sh: the command is a shell command line, so it must go
 * through the shell (WINRS_SKIP_CMD_SHELL false); skipping it would make the host look the
 * whole line up as one executable.
 */
export function invocation(command: string, stdin: RemoteInvocation["stdinEncoding"] = "raw") {
  return {
    command,
    args: [],
    skipCmdShell: false,
    stdinEncoding: stdin,
  } satisfies RemoteInvocation;
}

/**
 * Shell functions that hash stdin into $h (lowercase hex). `pick_sha256` runs before any
 * input is consumed so a host without a tool fails fast. openssl comes first: it uses the
 * CPU's SHA extensions, and hashed 1 GiB in 0.6 s here against 2.1 s for coreutils' sha256sum
 * and 2.2 s for shasum (OpenSSL 3 prints `SHA2-256(stdin)= hex`, 1.1 and LibreSSL
 * `(stdin)= hex` or `SHA256(stdin)= hex`: the digest is always the last field). But openssl
 * takes about 5 ms longer to start (10.7 ms against 5.2 ms for sha256sum here, issue 19), which
 * outweighs its speed below a few MiB: `sha256_stdin N` with the input's size in bytes uses
 * sha256sum for N under SMALL_HASH_BYTES when the host has it. The digest is read from stdin
 * rather than from a file argument because GNU sha256sum escapes names holding `\` or a
 * newline and then prefixes its output line with a backslash.
 */
export const SHA256_FUNCTIONS = String.raw`pick_sha256() {
  for tool in openssl sha256sum shasum; do
    if command -v "$tool" >/dev/null 2>&1; then return 0; fi
  done
  echo 'no SHA-256 tool on this host (looked for openssl, sha256sum, shasum)' >&2
  return 127
}
sha256_stdin() {
  u=$tool
  if [ "$u" = openssl ] && [ -n "$1" ] && [ "$1" -lt ${SMALL_HASH_BYTES} ] && command -v sha256sum >/dev/null 2>&1; then u=sha256sum; fi
  case $u in
    openssl) h=$(openssl dgst -sha256) || return 1; set -- $h; shift $(($# - 1)); h=$1 ;;
    sha256sum) h=$(sha256sum) || return 1; set -- $h; h=$1 ;;
    *) h=$(shasum -a 256) || return 1; set -- $h; h=$1 ;;
  esac
  case $h in
    *[!0-9a-f]*|'') echo "unexpected output from $u" >&2; return 1 ;;
  esac
}`;

/** Prints a message naming the path on stderr; printf, because dash's echo expands `\`. */
export const FAIL_FUNCTION = String.raw`fail() { printf '%s: %s\n' "$p" "$1" >&2; exit "$2"; }`;
