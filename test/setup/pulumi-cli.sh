#!/usr/bin/env bash
# Provides the Pulumi CLI at the version of @pulumi/pulumi in package-lock.json and prints the
# path of its bin folder on stdout (the only line there). The end-to-end tests and the demo drive
# it through the Automation API. One line on stderr says which source was used.
#
# Sources, tried in this order:
#   1. a `pulumi` on PATH at that version;
#   2. the cache: $PULUMI_WINRM_CACHE/pulumi-cli-v<version>/bin/pulumi;
#   3. the vendored binary, ../shared/vendor/pulumi-v<version>/bin/pulumi beside the clone (or
#      $PULUMI_WINRM_VENDOR/...), checked against the vendor folder's SHA256SUMS and copied into
#      the cache: for machines that reach no Go module proxy;
#   4. a build from the Go module proxy into the cache (several minutes, once).
#
# The build: pkg/v3's go.mod replaces sdk/v3 with a relative path (../sdk) that only works
# inside the pulumi repository; a throwaway module requires the same version of sdk/v3 from the
# proxy instead and repeats the other replace directives.
#
# Environment: PULUMI_CLI_VERSION (default: the version of @pulumi/pulumi in package-lock.json),
# PULUMI_WINRM_CACHE (cache folder), PULUMI_WINRM_VENDOR (vendor folder).
set -euo pipefail

readonly PROG="pulumi-cli.sh"
note() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}

script_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo_root="$(cd -- "$script_dir/../.." && pwd -P)"
cache="${PULUMI_WINRM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-winrm}"
vendor="${PULUMI_WINRM_VENDOR:-$repo_root/../shared/vendor}"
if [ -d "$vendor" ]; then vendor="$(cd -- "$vendor" && pwd -P)"; fi
version="${PULUMI_CLI_VERSION:-$(node -p "require('$repo_root/package-lock.json').packages['node_modules/@pulumi/pulumi'].version")}"
target="$cache/pulumi-cli-v$version"

has_version() { [ -x "$1" ] && [ "$("$1" version 2>/dev/null)" = "v$version" ]; }

# 1. On PATH.
if command -v pulumi >/dev/null 2>&1 && has_version "$(command -v pulumi)"; then
  note "Pulumi CLI v$version: $(command -v pulumi) (on PATH)"
  dirname "$(command -v pulumi)"
  exit 0
fi

# 2. The cache.
if has_version "$target/bin/pulumi"; then
  note "Pulumi CLI v$version: $target/bin/pulumi (cache)"
  echo "$target/bin"
  exit 0
fi

# 3. The vendored binary, verified against SHA256SUMS before it is trusted.
vendored="pulumi-v$version/bin/pulumi"
if [ -f "$vendor/$vendored" ]; then
  [ -f "$vendor/SHA256SUMS" ] || die "$vendor/$vendored has no SHA256SUMS beside it to check it against"
  expected="$(awk -v path="./$vendored" '$2 == path || $2 == substr(path, 3) { print $1 }' "$vendor/SHA256SUMS")"
  [ -n "$expected" ] || die "$vendor/SHA256SUMS does not list $vendored"
  mkdir -p "$target/bin"
  cp -- "$vendor/$vendored" "$target/bin/pulumi.tmp"
  actual="$(sha256sum -- "$target/bin/pulumi.tmp" | cut -d' ' -f1)"
  if [ "$actual" != "$expected" ]; then
    rm -f -- "$target/bin/pulumi.tmp"
    die "$vendor/$vendored has SHA-256 $actual, but SHA256SUMS says $expected: the vendored copy is damaged"
  fi
  chmod 755 "$target/bin/pulumi.tmp"
  mv -- "$target/bin/pulumi.tmp" "$target/bin/pulumi"
  has_version "$target/bin/pulumi" || die "the vendored $vendored does not report v$version"
  note "Pulumi CLI v$version: $target/bin/pulumi (vendored copy from $vendor, checksum verified)"
  echo "$target/bin"
  exit 0
fi

# 4. A build from the Go module proxy.
if ! command -v go >/dev/null 2>&1; then
  die "no Pulumi CLI v$version found: not on PATH, not in $target, no vendored copy at $vendor/$vendored, and no Go toolchain to build it. Provide one of them: install the Pulumi CLI v$version (https://www.pulumi.com/docs/install/) and put it on PATH, or set PULUMI_WINRM_VENDOR to a folder holding $vendored and SHA256SUMS, or install Go so this script can build it from the Go module proxy"
fi
note "building the Pulumi CLI v$version from the Go module proxy (once; several minutes)"
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
  });')" || die "the Go module proxy did not serve github.com/pulumi/pulumi/pkg/v3@v$version; provide a vendored copy or a pulumi on PATH instead"
go mod edit -require="github.com/pulumi/pulumi/pkg/v3@v$version" -require="github.com/pulumi/pulumi/sdk/v3@v$version"
# Repeat pkg/v3's replace directives, except those pointing at folders of the pulumi repository.
grep -E '^replace ' "$pkg_mod" | while read -r _ from _ to rest; do
  case "$to" in
    .*|/*) ;;
    *) go mod edit -replace="$from=$to@${rest%% *}" ;;
  esac
done
go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$version" >&2
mkdir -p "$target/bin"
go build -trimpath \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version" \
  -o "$target/bin/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2
mv "$target/bin/pulumi.tmp" "$target/bin/pulumi"
has_version "$target/bin/pulumi" || die "the built $target/bin/pulumi does not report v$version"
note "Pulumi CLI v$version: $target/bin/pulumi (built from the Go module proxy)"
echo "$target/bin"
