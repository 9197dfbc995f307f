#!/usr/bin/env bash
# Builds pulumi-command's provider (pulumi-resource-command) from the Go module proxy, once,
# into the cache folder, and prints the binary's path. The resources benchmark compares
# pulumi-winrm with pulumi-command's remote.Command over SSH, which is what a Pulumi user would
# pick instead.
#
# The provider lives in the module github.com/pulumi/pulumi-command/provider. Like pkg/v3 of
# the Pulumi CLI (test/setup/pulumi-cli.sh), its go.mod may replace modules with folders of its
# own repository; a throwaway module requires it from the proxy and repeats the other replace
# directives.
#
# Environment: PULUMI_COMMAND_VERSION (default 1.2.1), PULUMI_WINRM_CACHE (cache folder).
# PULUMI_COMMAND_PLUGIN, when set, names a ready binary and skips the build.
# Exit status 3: the module cannot be had from the proxy (the reason is printed on stderr).
set -euo pipefail

cache="${PULUMI_WINRM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-winrm}"
version="${PULUMI_COMMAND_VERSION:-1.2.1}"
target="$cache/pulumi-command-v$version/pulumi-resource-command"

if [ -n "${PULUMI_COMMAND_PLUGIN:-}" ]; then
  [ -x "$PULUMI_COMMAND_PLUGIN" ] || { echo "pulumi-command.sh: $PULUMI_COMMAND_PLUGIN is not executable" >&2; exit 1; }
  echo "$PULUMI_COMMAND_PLUGIN"
  exit 0
fi
if [ -x "$target" ]; then
  echo "$target"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "pulumi-command.sh: Go is needed to build pulumi-command" >&2; exit 1; }

module="github.com/pulumi/pulumi-command/provider"
echo "pulumi-command.sh: building $module@v$version from the Go module proxy (once)" >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
export GOSUMDB=off GOFLAGS=-mod=mod GOTOOLCHAIN=local
go mod init pulumi-command-build >/dev/null 2>&1
if ! info="$(go mod download -json "$module@v$version" 2>&1)"; then
  reason="$(printf '%s' "$info" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      try { console.log(JSON.parse(s).Error ?? s.trim()); } catch { console.log(s.trim()); }
    });')"
  echo "pulumi-command.sh: cannot download $module@v$version: $reason" >&2
  exit 3
fi
provider_mod="$(printf '%s' "$info" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).GoMod));')"
go mod edit -require="$module@v$version"
grep -E '^replace ' "$provider_mod" | while read -r _ from _ to rest; do
  case "$to" in
    .*|/*) ;;
    *) go mod edit -replace="$from=$to@${rest%% *}" ;;
  esac
done
go get "$module/cmd/pulumi-resource-command@v$version" >&2
mkdir -p "$(dirname "$target")"
go build -trimpath -ldflags "-s -w" -o "$target.tmp" "$module/cmd/pulumi-resource-command" >&2
mv "$target.tmp" "$target"
echo "$target"
