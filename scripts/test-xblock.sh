#!/usr/bin/env bash
# Runs the XBlock's pytest suite in its venv (scripts/xblock-venv.sh). tests/live needs a running
# API: scripts/test-browser.sh runs it against its own.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[xblock] %s\n' "$*"; }
bash scripts/xblock-venv.sh

# pytest (not `python -m pytest`, which would import the source tree), an explicit test
# directory, and "no tests collected" (exit 5) is a failure, never a silent pass.
cd xblock
set +e
../.tools/xblock-venv/bin/pytest -q -p no:cacheprovider --ignore=tests/live tests
rc=$?
set -e
if [[ $rc -eq 5 ]]; then say "ERROR: pytest collected no tests" >&2; exit 1; fi
exit $rc
