#!/usr/bin/env bash
# The XBlock against a running API: its pytest handler suite and the learner view in headless
# Chromium (test/browser/). Installs Debian's Chromium when /usr/bin/chromium is missing
# (playwright-core drives it: no browser download) and the XBlock's venv (scripts/xblock-venv.sh).
#   LABS_SCREENSHOT=docs bash scripts/test-browser.sh   also refreshes docs/learner-view.png
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[browser] %s\n' "$*"; }
chromium=${CHROMIUM_PATH:-/usr/bin/chromium}

if [[ ! -x "$chromium" ]]; then
  if [[ "$chromium" != /usr/bin/chromium ]]; then
    say "ERROR: CHROMIUM_PATH=$chromium is not an executable" >&2
    exit 1
  fi
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    say "ERROR: $chromium is missing; install Debian's chromium package (as root: apt-get install -y chromium), then run this again" >&2
    exit 1
  fi
  started=$SECONDS
  say "installing chromium with apt-get (about a minute)"
  log=$(mktemp)
  if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    say "ERROR: apt-get could not install chromium (log above)" >&2
    exit 1
  fi
  rm -f "$log"
  [[ -x "$chromium" ]] || { say "ERROR: chromium installed but $chromium is missing" >&2; exit 1; }
  say "installed $("$chromium" --version 2>/dev/null | head -n1) in $((SECONDS - started)) s"
fi

bash scripts/xblock-venv.sh
say "running test/browser (API stack, pytest against it, Chromium)"
LABS_BROWSER_TEST=1 npx jest --runInBand test/browser
