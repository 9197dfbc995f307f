/** Text helpers shared by the POSIX sh scripts. */
import type { RemoteInvocation } from "./types";

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
