#!/usr/bin/env bash
# Builds (or reuses) the Python virtual environment that holds the interop peers (pyspnego,
# pywinrm), and points <repo>/.venv at it.
#
# The venv lives outside the clone, in
#   ${PULUMI_WINRM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-winrm}/venv-<sha256(requirements.txt)[:12]>
# so a fresh clone (CI) reuses a venv another clone built, and a change to requirements.txt
# builds a new one beside the old. A venv counts as complete only once the marker file
# written after a successful install and import check exists; anything else is rebuilt.
#
# Environment:
#   PULUMI_WINRM_CACHE        cache folder (default: $XDG_CACHE_HOME/pulumi-winrm or ~/.cache/...)
#   PULUMI_WINRM_BASE_PYTHON  interpreter that creates the venv (default: python3)
#   PULUMI_WINRM_VENDOR       folder with wheels/ and SHA256SUMS, used when no package index
#                             answers (default: ../shared/vendor beside the clone)
#
# Usage: bash test/setup/python.sh        (from any directory; also `npm run setup:peers`)
set -euo pipefail

readonly PROG="python.sh"
readonly MARKER_NAME=".pulumi-winrm-complete"

die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}

note() {
  printf '%s: %s\n' "$PROG" "$*"
}

script_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)" ||
  die "cannot resolve the folder of this script"
repo_root="$(cd -- "$script_dir/../.." && pwd -P)" || die "cannot resolve the repository root"
requirements="$script_dir/requirements.txt"
vendor="${PULUMI_WINRM_VENDOR:-$repo_root/../shared/vendor}"
if [[ -d "$vendor" ]]; then vendor="$(cd -- "$vendor" && pwd -P)"; fi
[[ -f "$requirements" ]] || die "requirements file not found: $requirements"
[[ -f "$repo_root/package.json" ]] || die "no package.json in $repo_root: is this script inside the repository?"

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum -- "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 -- "$1" | cut -d' ' -f1
  else
    "$base_python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
  fi
}

base_python="${PULUMI_WINRM_BASE_PYTHON:-python3}"
command -v "$base_python" >/dev/null 2>&1 ||
  die "'$base_python' not found on PATH; install Python 3.8 or later (or set PULUMI_WINRM_BASE_PYTHON)"

if [[ -n "${PULUMI_WINRM_CACHE:-}" ]]; then
  cache_dir="$PULUMI_WINRM_CACHE"
else
  [[ -n "${XDG_CACHE_HOME:-}" || -n "${HOME:-}" ]] ||
    die "neither PULUMI_WINRM_CACHE, XDG_CACHE_HOME nor HOME is set: cannot choose a cache folder"
  cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-winrm"
fi
# Absolute, with symlinks and .. resolved even where the folder does not exist yet.
cache_dir="$("$base_python" -c 'import os, sys; print(os.path.realpath(sys.argv[1]))' "$cache_dir")" ||
  die "cannot resolve cache folder path $cache_dir"
case "$cache_dir/" in
  "$repo_root"/*) die "cache folder $cache_dir is inside the repository; choose one outside it" ;;
esac
mkdir -p -- "$cache_dir" || die "cannot create cache folder $cache_dir"

# Refuse early, before a long install, if .venv is something other than our symlink.
if [[ -e "$repo_root/.venv" && ! -L "$repo_root/.venv" ]]; then
  die "$repo_root/.venv exists and is not a symlink; move it away so python.sh can link the venv there"
fi

req_hash="$(sha256_of "$requirements")" || die "cannot hash $requirements"
[[ "$req_hash" =~ ^[0-9a-f]{64}$ ]] || die "unexpected SHA-256 output for $requirements: '$req_hash'"
venv="$cache_dir/venv-${req_hash:0:12}"
venv_python="$venv/bin/python"
marker="$venv/$MARKER_NAME"

# Two setups at once (parallel CI jobs on one machine) must not build the same venv together.
exec 9>"$cache_dir/.venv-${req_hash:0:12}.lock" || die "cannot open lock file in $cache_dir"
if command -v flock >/dev/null 2>&1; then
  flock 9 || die "cannot lock $cache_dir/.venv-${req_hash:0:12}.lock"
fi

venv_is_complete() {
  [[ -f "$marker" && -x "$venv_python" ]] || return 1
  # A venv whose base interpreter disappeared (pyenv upgrade, new machine image) is broken.
  "$venv_python" -c 'import spnego, winrm' >/dev/null 2>&1
}

link_venv() {
  local link="$repo_root/.venv"
  if [[ -L "$link" ]]; then
    rm -f -- "$link" || die "cannot remove the old symlink $link"
  elif [[ -e "$link" ]]; then
    die "$link exists and is not a symlink; move it away so it can point at $venv"
  fi
  ln -s -- "$venv" "$link" || die "cannot create symlink $link -> $venv"
}

if venv_is_complete; then
  link_venv
  note "reusing $venv ($("$venv_python" -c 'import spnego, winrm; from importlib.metadata import version as v; print("pyspnego", v("pyspnego") + ", pywinrm", v("pywinrm"))'))"
  exit 0
fi

if [[ -e "$venv" ]]; then
  note "removing incomplete venv $venv"
  rm -rf -- "$venv" || die "cannot remove incomplete venv $venv"
fi

"$base_python" - <<'EOF' || die "$base_python is too old: Python 3.8 or later is needed"
import sys
sys.exit(0 if sys.version_info >= (3, 8) else 1)
EOF

note "creating venv $venv with $("$base_python" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
if ! "$base_python" -m venv -- "$venv"; then
  rm -rf -- "$venv"
  die "'$base_python -m venv' failed; on Debian/Ubuntu install the python3-venv package"
fi

count="$(grep -cE '^[A-Za-z0-9]' "$requirements")"
pip_install() {
  "$venv_python" -m pip install --quiet --disable-pip-version-check --no-input "$@" \
    --requirement "$requirements"
}
# The package index first, where this machine reaches one; else the wheels vendored beside the
# clone (../shared/vendor/wheels), checked against the vendor folder's SHA256SUMS first. The
# index attempt gives up at once when it gets no answer (no retries), so the fallback is quick.
if pip_install --prefer-binary --retries 0 --timeout 20 2>"$venv/pip-index.log"; then
  note "installed $count pinned packages from the package index"
else
  [[ -f "$vendor/wheels/requirements.txt" ]] ||
    die "pip could not install $requirements from the package index (its last words: $(tail -n 1 "$venv/pip-index.log")), and there are no vendored wheels at $vendor/wheels to fall back on. Give this machine access to a Python package index, or set PULUMI_WINRM_VENDOR to a folder holding wheels/ and SHA256SUMS"
  [[ -f "$vendor/SHA256SUMS" ]] || die "$vendor/wheels has no SHA256SUMS beside it to check it against"
  # Check every wheel the vendor folder lists before pip reads any of them.
  if ! (cd -- "$vendor" && grep -E '[[:space:]](\./)?wheels/' SHA256SUMS | sha256sum --check --quiet --strict -); then
    die "the vendored wheels in $vendor/wheels do not match $vendor/SHA256SUMS: the vendored copy is damaged"
  fi
  if ! pip_install --no-index --find-links "$vendor/wheels"; then
    die "pip could not install $requirements from the vendored wheels in $vendor/wheels (see pip's output above): after a change to requirements.txt the vendor folder needs a new set of wheels"
  fi
  note "installed $count pinned packages from the vendored wheels in $vendor/wheels (checksums verified; the package index did not answer)"
fi
rm -f -- "$venv/pip-index.log"

if ! "$venv_python" -m pip check --disable-pip-version-check >/dev/null; then
  "$venv_python" -m pip check --disable-pip-version-check >&2 || true
  die "installed packages have unmet dependencies; add the missing pins to $requirements"
fi

if ! "$venv_python" -c 'import spnego, spnego.channel_bindings, winrm' 2>&1; then
  die "the venv at $venv cannot import spnego and winrm after install"
fi

printf 'requirements-sha256=%s\npython=%s\n' "$req_hash" \
  "$("$venv_python" -c 'import sys; print(sys.version.split()[0])')" >"$marker" ||
  die "cannot write marker $marker"

link_venv
note "ready: $repo_root/.venv -> $venv"
