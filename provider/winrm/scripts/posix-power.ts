/**
 * Restarting a POSIX host, in POSIX sh.
 *
 * - Boot time: `uptime -s` (procps, BusyBox), else /proc/stat's btime (Linux), else
 *   `sysctl -n kern.boottime` (BSD, macOS); printed as ISO 8601 UTC by iso8601. `uptime -s`
 *   is computed from the uptime, so two readings may differ by a second: the client compares
 *   boot times with a tolerance (BOOT_TIME_TOLERANCE_MS).
 * - Pending restart: /var/run/reboot-required (Debian and Ubuntu's update-notifier) and
 *   `needs-restarting -r` exiting 1 (dnf-utils and yum-utils on RHEL and Fedora).
 * - Restart: `shutdown -r` with the message; `now` below a minute of delay, else `+MINUTES`.
 */
import { parseBootTimeOutput } from "./parse";
import { invocation, ISO8601_FUNCTION } from "./posix-text";
import { quotePosix } from "./quote";
import type { RemotePower } from "./types";

const BOOT_TIME = [
  ISO8601_FUNCTION,
  "s=",
  `if b=$(uptime -s 2>/dev/null) && [ -n "$b" ]; then s=$(date -d "$b" +%s 2>/dev/null) || s=; fi`,
  `if [ -z "$s" ] && [ -r /proc/stat ]; then s=$(awk '$1 == "btime" { print $2 }' /proc/stat); fi`,
  `if [ -z "$s" ]; then s=$(sysctl -n kern.boottime 2>/dev/null | sed -n 's/.*sec = \\([0-9]*\\).*/\\1/p'); fi`,
  `case $s in ''|*[!0-9]*) echo 'bootTime: cannot tell when this host booted (no uptime -s, /proc/stat or kern.boottime)' >&2; exit 1 ;; esac`,
  `iso8601 "$s"; echo`,
].join("\n");

const PENDING_RESTART = [
  `if [ -e /var/run/reboot-required ]; then echo 'a package update (/var/run/reboot-required)'; fi`,
  "if command -v needs-restarting >/dev/null 2>&1; then",
  "  needs-restarting -r >/dev/null 2>&1",
  `  if [ $? -eq 1 ]; then echo 'updated core libraries or services (needs-restarting -r)'; fi`,
  "fi",
  "exit 0",
].join("\n");

function restartScript(message: string, delaySeconds: number): string {
  const when = delaySeconds < 60 ? "now" : `+${Math.ceil(delaySeconds / 60)}`;
  return [
    `m=${quotePosix(message === "" ? "pulumi-winrm" : message)}`,
    "if ! command -v shutdown >/dev/null 2>&1; then echo 'restart: this host has no shutdown command' >&2; exit 127; fi",
    `exec shutdown -r ${when} "$m"`,
  ].join("\n");
}

export const posixPowerSources = Object.freeze({
  bootTime: () => BOOT_TIME,
  pendingRestart: () => PENDING_RESTART,
  restart: restartScript,
});

export const posixPower: RemotePower = Object.freeze({
  bootTime: () => invocation(BOOT_TIME),
  parseBootTime: parseBootTimeOutput,
  pendingRestart: () => invocation(PENDING_RESTART),
  restart: (message: string, delaySeconds: number) =>
    invocation(restartScript(message, delaySeconds)),
});
