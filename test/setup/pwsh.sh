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
# The tool's assemblies are plain IL: every start of pwsh compiles PowerShell's engine anew, about
# 0.9 s of CPU of the 1.8 s a short script takes, and the tests and the loopback host's Windows
# persona start pwsh hundreds of times (a CI run: about 650 starts, a quarter of its CPU). So,
# once, the pinned tool's assemblies are compiled ahead of time with crossgen2 (ReadyToRun: the
# same IL, plus native code the runtime uses instead of compiling; .NET's own libraries ship so)
# into the cache, beside a `pwsh` launcher that runs them with `dotnet`; that folder is printed.
# crossgen2 comes from NuGet (Microsoft.NETCore.App.Crossgen2.<rid>, restored for a throwaway
# project, at the version the SDK picks). If that fails, the tool's own folder is printed, with
# a note: slower, the same PowerShell.
#
# Environment: PULUMI_WINRM_PWSH_VERSION (default 7.6.10), PULUMI_WINRM_CACHE (cache folder).
set -euo pipefail

readonly PROG="pwsh.sh"
note() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}

version="${PULUMI_WINRM_PWSH_VERSION:-7.6.10}"
tools="${HOME:?HOME must be set}/.dotnet/tools"
cache="${PULUMI_WINRM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-winrm}"
# The ReadyToRun copy, and a link to it at a fixed name that test/host/shell.ts (findPwsh) tries
# after PATH.
compiled="$cache/pwsh-$version-readytorun"
compiled_link="$cache/pwsh-readytorun"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

version_of() {
  [ -x "$1" ] || return 1
  "$1" -NoLogo -NoProfile -NonInteractive -Command '$PSVersionTable.PSVersion.ToString()' 2>/dev/null
}

# Prints the folder of the ReadyToRun copy of the pinned tool, making it first if needed; returns
# non-zero (having said why) when it cannot.
readytorun() {
  if [ "$(version_of "$compiled/pwsh" || true)" = "$version" ]; then
    ln -sfn "$compiled" "$compiled_link"
    echo "$compiled"
    return 0
  fi
  local rid
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) rid=linux-x64 ;;
    Linux-aarch64) rid=linux-arm64 ;;
    *)
      note "no ReadyToRun compile on $(uname -s)-$(uname -m)"
      return 1
      ;;
  esac
  local unix
  unix="$(ls -d "$tools"/.store/powershell/"$version"/powershell/"$version"/tools/net*/any/unix 2>/dev/null | tail -n 1)"
  [ -n "$unix" ] && [ -f "$unix/pwsh.dll" ] || {
    note "the tool's assemblies are not where dotnet tool install puts them"
    return 1
  }
  local dotnet framework
  dotnet="$(readlink -f "$(command -v dotnet)")"
  # The newest shared runtime of the tool's major version, which is the one it rolls forward to.
  framework="$(dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" { v = $2; d = $3 } END { gsub(/[][]/, "", d); if (v != "") print d "/" v }')"
  [ -d "$framework" ] || {
    note "no Microsoft.NETCore.App runtime found (dotnet --list-runtimes)"
    return 1
  }
  local work
  work="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: $work is local
  trap "rm -rf '$work'; trap - RETURN" RETURN
  note "compiling PowerShell $version ahead of time (crossgen2, once; about a minute)"
  mkdir -p "$work/project"
  cat >"$work/project/restore.csproj" <<PROJECT
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net$(basename "$framework" | cut -d. -f1-2)</TargetFramework>
    <RuntimeIdentifier>$rid</RuntimeIdentifier>
    <PublishReadyToRun>true</PublishReadyToRun>
    <SelfContained>false</SelfContained>
  </PropertyGroup>
</Project>
PROJECT
  if ! dotnet restore "$work/project/restore.csproj" --packages "$work/packages" >"$work/restore.log" 2>&1; then
    note "restoring crossgen2 from NuGet failed: $(tail -n 3 "$work/restore.log" | tr '\n' ' ')"
    return 1
  fi
  local crossgen
  crossgen="$(ls -d "$work"/packages/microsoft.netcore.app.crossgen2."$rid"/*/tools/crossgen2 2>/dev/null | tail -n 1)"
  [ -x "$crossgen" ] || {
    note "the restore brought no crossgen2"
    return 1
  }
  local staging="$compiled.partial" assembly
  rm -rf "$staging"
  cp -a "$unix" "$staging"
  for assembly in "$unix"/*.dll; do
    if ! "$crossgen" "$assembly" -o "$staging/${assembly##*/}" -r "$framework/*.dll" -r "$unix/*.dll" \
      --targetos linux --targetarch "${rid#linux-}" -O >"$work/crossgen.log" 2>&1; then
      note "crossgen2 failed on ${assembly##*/}: $(tail -n 3 "$work/crossgen.log" | tr '\n' ' ')"
      rm -rf "$staging"
      return 1
    fi
  done
  cat >"$staging/pwsh" <<LAUNCHER
#!/bin/sh
# PowerShell $version from dotnet tool install, its assemblies compiled ahead of time by
# test/setup/pwsh.sh (ReadyToRun).
exec "$dotnet" "$compiled/pwsh.dll" "\$@"
LAUNCHER
  chmod +x "$staging/pwsh"
  rm -rf "$compiled"
  mv "$staging" "$compiled"
  if [ "$(version_of "$compiled/pwsh" || true)" != "$version" ]; then
    note "the compiled copy does not report PowerShell $version"
    rm -rf "$compiled"
    return 1
  fi
  ln -sfn "$compiled" "$compiled_link"
  echo "$compiled"
}

# The pinned tool is installed in $tools: print the compiled copy's folder, else the tool's.
print_pinned_tool() {
  mkdir -p "$cache"
  exec 8>"$cache/.pwsh-readytorun.lock"
  if command -v flock >/dev/null 2>&1; then flock 8; fi
  local folder
  if folder="$(readytorun)"; then
    note "PowerShell $version: $folder/pwsh (compiled ahead of time)"
    echo "$folder"
  else
    note "PowerShell $version: $tools/pwsh (as installed: each start compiles PowerShell anew)"
    echo "$tools"
  fi
}

# The pinned version, in the dotnet tools folder or on PATH.
for candidate in "$tools/pwsh" "$(command -v pwsh 2>/dev/null || true)"; do
  [ -n "$candidate" ] || continue
  if [ "$(version_of "$candidate" || true)" = "$version" ]; then
    if [ "$candidate" = "$tools/pwsh" ] && command -v dotnet >/dev/null 2>&1; then
      print_pinned_tool
      exit 0
    fi
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
  exec 9>&-
  print_pinned_tool
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
