#!/usr/bin/env bash
# Installs the system tools the tests use, from Debian's packages, when they are missing:
# openssl (test certificates), Python 3 with venv (the pyspnego and pywinrm peers), a C
# compiler (test/support/fs-faults.c, which gives pwsh Windows' file refusals) and setpriv
# (util-linux: a pwsh without root's permission bypass).
set -euo pipefail

missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
if ! command -v python3 >/dev/null 2>&1; then
  missing+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system packages missing: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "system packages: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
