#!/usr/bin/env bash
# Installs the system tools the tests use, from Debian's packages, when they are missing:
# openssl (test certificates), Python 3 with venv (the pyspnego and pywinrm peers), a C
# compiler (test/support/fs-faults.c, which gives pwsh Windows' file refusals), setpriv
# (util-linux: a pwsh without root's permission bypass), and MIT Kerberos: a KDC and kadmin
# (test/support/mit-kdc.ts starts a throwaway realm on loopback), kinit, and python3-gssapi
# for Debian's own /usr/bin/python3 (test/interop/peers/gssapi_peer.py: MIT's GSSAPI as the
# other side of our Kerberos). python3-gssapi goes to the system interpreter, not the venv, so
# that it links the system's libgssapi_krb5 and the venv's pyspnego keeps offering NTLM only.
# libfaketime moves one MIT peer's clock (an expired ticket, a skewed authenticator) without
# touching the machine's; dnsmasq-base (the binary, no service) serves the SRV records that
# locate a realm's KDCs (test/support/dns-server.ts).
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
# The KDC tools live in /usr/sbin, which a non-root PATH may lack: look there too.
have_command() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]
}
have_command krb5kdc || missing+=(krb5-kdc)
have_command kadmin.local || missing+=(krb5-admin-server)
have_command kinit || missing+=(krb5-user)
/usr/bin/python3 -c 'import gssapi' >/dev/null 2>&1 || missing+=(python3-gssapi)
compgen -G '/usr/lib/*/faketime/libfaketime.so.1' >/dev/null || missing+=(libfaketime)
have_command dnsmasq || missing+=(dnsmasq-base)

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system packages missing: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "system packages: installing ${missing[*]}"

# krb5-kdc and krb5-admin-server ship services that would start a system KDC for a realm
# nobody configured; the tests never use them (each test run starts its own KDC as a plain
# process). A policy-rc.d that answers 101 ("action forbidden") makes invoke-rc.d skip those
# start-ups, so an install cannot fail on them; it is ours only when none existed, and goes
# again on exit. Under systemd, `systemctl disable --now` afterwards stops them for good.
policy=/usr/sbin/policy-rc.d
own_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# Written by pulumi-winrm test/setup/system.sh during apt-get install.\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=true
fi
cleanup() {
  if [ "$own_policy" = true ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

# krb5-config asks for a default realm and its servers, and krb5-kdc and krb5-admin-server
# whether to set up a realm, through debconf. Noninteractive debconf takes the defaults without
# asking; the answers below make them explicit: no realm, no servers added. (krb5-config still
# writes its template /etc/krb5.conf when there is none; the tests never read it, they bring
# their own through KRB5_CONFIG.)
if command -v debconf-set-selections >/dev/null 2>&1; then
  debconf-set-selections <<'SELECTIONS'
krb5-config krb5-config/default_realm string
krb5-config krb5-config/add_servers_realm string
krb5-config krb5-config/add_servers boolean false
krb5-config krb5-config/read_conf boolean true
krb5-admin-server krb5-admin-server/kadmind boolean false
krb5-admin-server krb5-admin-server/newrealm note
krb5-kdc krb5-kdc/debconf boolean false
SELECTIONS
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for unit in krb5-kdc krb5-admin-server; do
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi
