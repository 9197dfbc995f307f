/**
 * Restarting a Windows host, in Windows PowerShell 5.1 (PowerShell 7 runs it unchanged).
 *
 * - Boot time: Win32_OperatingSystem.LastBootUpTime through Get-CimInstance (CimCmdlets,
 *   PowerShell 3.0 and later), as Ansible's win_reboot reads it.
 * - Pending restart: the registry marks that Windows' own servicing stacks set (and that
 *   Microsoft's guidance and the common "pending reboot" checks read):
 *   Component Based Servicing's RebootPending key (features, roles, cumulative updates),
 *   Windows Update's Auto Update\RebootRequired key, Session Manager's
 *   PendingFileRenameOperations value (files to replace at boot: installers), a computer name
 *   that differs from the active one (Rename-Computer), and Netlogon's JoinDomain or
 *   AvoidSpnSet values (Add-Computer).
 * - Restart: shutdown.exe /r with a delay, so the reply to this command leaves before WinRM
 *   stops, the reason "Operating System: Reconfiguration (Planned)" (/d p:2:4, shutdown /?),
 *   and the message as its comment (/c, at most 512 characters). shutdown.exe refuses with
 *   1190 (ERROR_SHUTDOWN_IS_SCHEDULED) while another shutdown is scheduled, so a scheduled one
 *   is aborted first (/a exits 0 when it aborted one, 1116 when there was none), as Ansible's
 *   win_reboot does on 1190: the wait that follows is then for the restart asked for here,
 *   not for one due hours later.
 */
import { InvalidArgumentError } from "../../errors";
import { parseBootTimeOutput } from "./parse";
import { compact } from "./powershell-text";
import { quotePowerShell } from "./quote";
import type { RemoteInvocation, RemotePower } from "./types";

/** shutdown.exe's limit for /c. */
export const SHUTDOWN_COMMENT_MAX = 512;
/** shutdown.exe's reason: Operating System, Reconfiguration, planned. */
export const SHUTDOWN_REASON = "p:2:4";

const HEADER = `
$ProgressPreference = 'SilentlyContinue'
$ErrorActionPreference = 'Stop'
function Say([string]$s) {
  [Console]::Out.WriteLine($s)
  [Console]::Out.Flush()
}
function Fail([string]$m) {
  [Console]::Error.WriteLine($m)
  [Console]::Error.Flush()
  exit 1
}
`;

const BOOT_TIME = compact(`${HEADER}
try {
  $b = (Get-CimInstance -ClassName Win32_OperatingSystem -Property LastBootUpTime).LastBootUpTime
} catch {
  Fail ('bootTime: Win32_OperatingSystem: ' + $_.Exception.GetBaseException().Message)
}
Say ($b.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", [Globalization.CultureInfo]::InvariantCulture))
`);

const PENDING_RESTART = compact(`${HEADER}
function Value([string]$k, [string]$n) {
  $i = Get-ItemProperty -LiteralPath $k -Name $n -ErrorAction Ignore
  if ($null -eq $i) { return $null }
  return $i.$n
}
$r = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\'
$s = 'HKLM:\\SYSTEM\\CurrentControlSet\\'
if (Test-Path -LiteralPath ($r + 'Component Based Servicing\\RebootPending')) { Say 'Component Based Servicing (a feature, role or update was installed)' }
if (Test-Path -LiteralPath ($r + 'WindowsUpdate\\Auto Update\\RebootRequired')) { Say 'Windows Update' }
if (Value ($s + 'Control\\Session Manager') 'PendingFileRenameOperations') { Say 'pending file rename operations (an installer replaces files at boot)' }
$a = Value ($s + 'Control\\ComputerName\\ActiveComputerName') 'ComputerName'
$c = Value ($s + 'Control\\ComputerName\\ComputerName') 'ComputerName'
if ($a -and $c -and $a -ne $c) { Say ('a computer rename (' + $a + ' to ' + $c + ')') }
if ((Value ($s + 'Services\\Netlogon') 'JoinDomain') -or (Value ($s + 'Services\\Netlogon') 'AvoidSpnSet')) { Say 'a domain join' }
exit 0
`);

function restartScript(message: string, delaySeconds: number): string {
  if (message.includes('"')) {
    // Windows PowerShell 5.1 passes an argument's inner double quotes to a native program
    // unescaped, which would split the comment.
    throw new InvalidArgumentError("message", "must not contain double quotes");
  }
  if (message.length > SHUTDOWN_COMMENT_MAX) {
    throw new InvalidArgumentError(
      "message",
      `must be at most ${SHUTDOWN_COMMENT_MAX} characters (shutdown.exe's limit), got ${message.length}`,
    );
  }
  const delay = Math.max(0, Math.round(delaySeconds));
  return compact(`
$ProgressPreference = 'SilentlyContinue'
$m = ${quotePowerShell(message === "" ? "pulumi-winrm" : message)}
& shutdown.exe /a 2>&1 | Out-Null
if ($LASTEXITCODE -eq 0) { [Console]::Out.WriteLine('a shutdown was already scheduled on this host; it was replaced by this restart') }
& shutdown.exe /r /t ${delay} /d ${SHUTDOWN_REASON} /c $m
exit $LASTEXITCODE
`);
}

/** The script texts, exported for the grammar tests. */
export const powerShellPowerSources = Object.freeze({
  bootTime: () => BOOT_TIME,
  pendingRestart: () => PENDING_RESTART,
  restart: restartScript,
});

export function powerShellPower(run: (script: string) => RemoteInvocation): RemotePower {
  return Object.freeze({
    bootTime: () => run(BOOT_TIME),
    parseBootTime: parseBootTimeOutput,
    pendingRestart: () => run(PENDING_RESTART),
    restart: (message: string, delaySeconds: number) => run(restartScript(message, delaySeconds)),
  });
}
