#!/usr/bin/env bash
# Runs the XBlock's pytest suite in a venv cached under .tools/xblock-venv (idempotent, fast when
# cached). The package is installed the way an LMS installs it (`pip install ./xblock`, not
# editable), and reinstalled whenever its files change, so the tests see what operators get.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.tools/xblock-venv
say() { printf '[xblock] %s\n' "$*"; }

python=$(command -v python3 || true)
[[ -n "$python" ]] || { say "ERROR: python3 is required for the XBlock tests" >&2; exit 1; }
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

# scripts/test-browser.sh only needs the venv: it runs tests/live against its own API.
if [[ -n "${XBLOCK_INSTALL_ONLY:-}" ]]; then exit 0; fi

# tests/live needs a running API: scripts/test-browser.sh runs it against its own.
# pytest (not `python -m pytest`, which would import the source tree), an explicit test directory, and "no tests collected" (exit 5) is a failure, never a silent pass.
cd xblock
set +e
"../$venv/bin/pytest" -q -p no:cacheprovider --ignore=tests/live tests
rc=$?
set -e
if [[ $rc -eq 5 ]]; then say "ERROR: pytest collected no tests" >&2; exit 1; fi
exit $rc
