#!/usr/bin/env bash
# Builds the Pulumi CLI from the Go module proxy (once) into the cache folder and prints the
# path of its bin folder. The end-to-end tests and the demo drive it through the Automation API.
#
# pkg/v3's go.mod replaces sdk/v3 with a relative path (../sdk) that only works inside the
# pulumi repository; this throwaway module requires the same version of sdk/v3 from the proxy
# instead and repeats the other replace directives.
#
# Environment: PULUMI_CLI_VERSION (default: the version of @pulumi/pulumi in package-lock.json),
# PULUMI_WINRM_CACHE (cache folder). A `pulumi` already on PATH at that version is used as is.
set -euo pipefail

script_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo_root="$(cd -- "$script_dir/../.." && pwd -P)"
cache="${PULUMI_WINRM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-winrm}"
version="${PULUMI_CLI_VERSION:-$(node -p "require('$repo_root/package-lock.json').packages['node_modules/@pulumi/pulumi'].version")}"
target="$cache/pulumi-cli-v$version"

if command -v pulumi >/dev/null 2>&1 && [ "$(pulumi version 2>/dev/null)" = "v$version" ]; then
  dirname "$(command -v pulumi)"
  exit 0
fi
if [ -x "$target/bin/pulumi" ] && [ "$("$target/bin/pulumi" version 2>/dev/null)" = "v$version" ]; then
  echo "$target/bin"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "pulumi-cli.sh: Go is needed to build the Pulumi CLI" >&2; exit 1; }

echo "pulumi-cli.sh: building the Pulumi CLI v$version from the Go module proxy (once; several minutes)" >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
# The checksum database does not list every pulumi module version; the proxy alone is trusted.
export GOSUMDB=off GOFLAGS=-mod=mod GOTOOLCHAIN=local
go mod init pulumi-cli-build >/dev/null 2>&1
pkg_mod="$(go mod download -json "github.com/pulumi/pulumi/pkg/v3@v$version" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const info = JSON.parse(s);
    if (info.Error) { console.error(info.Error); process.exit(1); }
    console.log(info.GoMod);
  });')"
go mod edit -require="github.com/pulumi/pulumi/pkg/v3@v$version" -require="github.com/pulumi/pulumi/sdk/v3@v$version"
# Repeat pkg/v3's replace directives, except those pointing at folders of the pulumi repository.
grep -E '^replace ' "$pkg_mod" | while read -r _ from _ to rest; do
  case "$to" in
    .*|/*) ;;
    *) go mod edit -replace="$from=$to@${rest%% *}" ;;
  esac
done
cat > main.go <<'GO'
package main

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO
rm main.go
go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$version" >&2
mkdir -p "$target/bin"
go build -trimpath \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version" \
  -o "$target/bin/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2
mv "$target/bin/pulumi.tmp" "$target/bin/pulumi"
"$target/bin/pulumi" version >&2
echo "$target/bin"
