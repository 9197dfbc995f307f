#!/usr/bin/env bash
# Provides PowerShell 7 (`pwsh`) for the loopback host, which runs the PowerShell script family
# in it, and prints the folder holding `pwsh` on stdout (the only line there). One line on
# stderr says which pwsh is used.
#
# The pinned version is installed as a .NET global tool from NuGet, once, into
# ~/.dotnet/tools (where the loopback host also looks when pwsh is not on PATH):
#   dotnet tool install --global PowerShell --version 7.6.10
# 7.7.0 fails to install on the project's machines; 7.6 is the pin.
#
# Order: the pinned version in ~/.dotnet/tools or on PATH; else install it with dotnet; else any
# PowerShell 7 on PATH (with a note that it is not the pinned one); else fail, saying how to get
# one.
#
# Environment: PULUMI_WINRM_PWSH_VERSION (default 7.6.10).
set -euo pipefail

readonly PROG="pwsh.sh"
note() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}

version="${PULUMI_WINRM_PWSH_VERSION:-7.6.10}"
tools="${HOME:?HOME must be set}/.dotnet/tools"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

version_of() {
  [ -x "$1" ] || return 1
  "$1" -NoLogo -NoProfile -NonInteractive -Command '$PSVersionTable.PSVersion.ToString()' 2>/dev/null
}

# The pinned version, in the dotnet tools folder or on PATH.
for candidate in "$tools/pwsh" "$(command -v pwsh 2>/dev/null || true)"; do
  [ -n "$candidate" ] || continue
  if [ "$(version_of "$candidate" || true)" = "$version" ]; then
    note "PowerShell $version: $candidate"
    dirname "$candidate"
    exit 0
  fi
done

# Install (or move to) the pinned version with dotnet, one setup at a time.
if command -v dotnet >/dev/null 2>&1; then
  mkdir -p "$tools"
  exec 9>"$tools/.pulumi-winrm-pwsh.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  if [ "$(version_of "$tools/pwsh" || true)" != "$version" ]; then
    verb=install
    dotnet tool list --global 2>/dev/null | grep -qi '^powershell ' && verb=update
    note "installing PowerShell $version as a .NET global tool (dotnet tool $verb --global PowerShell --version $version)"
    if ! dotnet tool "$verb" --global PowerShell --version "$version" >&2; then
      die "'dotnet tool $verb --global PowerShell --version $version' failed (see its output above); NuGet must be reachable"
    fi
  fi
  found="$(version_of "$tools/pwsh" || true)"
  [ "$found" = "$version" ] || die "$tools/pwsh reports version '$found' after the install, not $version"
  note "PowerShell $version: $tools/pwsh"
  echo "$tools"
  exit 0
fi

# Another PowerShell 7 on PATH.
if command -v pwsh >/dev/null 2>&1; then
  found="$(version_of "$(command -v pwsh)" || true)"
  case "$found" in
    7.*)
      note "PowerShell $found: $(command -v pwsh) (not the pinned $version, which needs the .NET SDK to install)"
      dirname "$(command -v pwsh)"
      exit 0
      ;;
  esac
fi

die "PowerShell 7 is needed to run the PowerShell tests, and none was found. Install the .NET SDK (this script then installs pwsh $version with 'dotnet tool install --global PowerShell --version $version'), or install PowerShell 7 from https://learn.microsoft.com/powershell/scripting/install/installing-powershell and put pwsh on PATH"
