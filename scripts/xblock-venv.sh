#!/usr/bin/env bash
# The XBlock's venv, cached under .tools/xblock-venv (idempotent, fast when cached): the package
# installed the way an LMS installs it (`pip install ./xblock`, not editable), with its test
# extras, and reinstalled whenever its files change, so tests and `npm start`'s demo learner page
# see what operators get.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.tools/xblock-venv
say() { printf '[xblock] %s\n' "$*"; }

python=$(command -v python3 || true)
[[ -n "$python" ]] || { say "ERROR: python3 is required for the XBlock's venv" >&2; exit 1; }
if [[ ! -x "$venv/bin/python" ]]; then
  say "creating $venv"
  "$python" -m venv "$venv"
fi

# What the installed copy was built from: the package's files (not its tests).
stamp="$venv/.openedx-lab-xblock.sha256"
digest=$(find xblock/pyproject.toml xblock/README.md xblock/openedx_lab_xblock -type f \
  -not -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$digest" ]]; then
  say "installing ./xblock[test] into $venv"
  log="$venv/pip-install.log"
  if ! "$venv/bin/pip" install --disable-pip-version-check --quiet './xblock[test]' >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    exit 1
  fi
  # pip builds in the source tree: leave it clean.
  rm -rf xblock/build xblock/*.egg-info
  echo "$digest" >"$stamp"
fi
