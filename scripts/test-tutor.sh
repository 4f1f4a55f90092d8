#!/usr/bin/env bash
# The Tutor plugin's tests (deploy/tutor): a venv under .tools/tutor-venv (idempotent, fast
# when cached) with Tutor 22 and the plugin installed as an operator installs it
# (`pip install ./deploy/tutor`, not editable), reinstalled whenever the plugin's files change;
# then pytest renders Tutor projects into temporary TUTOR_ROOTs and parses them. No Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1
venv=.tools/tutor-venv
say() { printf '[tutor] %s\n' "$*"; }

python=$(command -v python3 || true)
[[ -n "$python" ]] || { say "ERROR: python3 is required for the Tutor plugin's venv" >&2; exit 1; }
if [[ ! -x "$venv/bin/python" ]]; then
  say "creating $venv"
  "$python" -m venv "$venv"
fi

# What the installed copy was built from: the package's files (not its tests).
stamp="$venv/.tutor-contrib-labs.sha256"
digest=$(find deploy/tutor/pyproject.toml deploy/tutor/README.md deploy/tutor/tutorlabs -type f \
  -not -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$digest" ]]; then
  say "installing tutor 22 and ./deploy/tutor[test] into $venv"
  log="$venv/pip-install.log"
  if ! "$venv/bin/pip" install --disable-pip-version-check --quiet \
    'tutor>=22,<23' './deploy/tutor[test]' >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    exit 1
  fi
  # pip builds in the source tree: leave it clean.
  rm -rf deploy/tutor/build deploy/tutor/*.egg-info
  echo "$digest" >"$stamp"
fi

# Validators, as there is no Docker engine or cluster here: compose-go (the loader of
# `docker compose config`), Caddy 2.11.7 (the version of Tutor 22's image: adapt and validate the
# Caddyfile) and kustomize (what `tutor k8s` applies), built with Go from the module proxy into
# the venv, again whenever their sources change. The first build takes a few minutes; Go's
# build cache makes later ones, even in a fresh clone, a matter of seconds.
validators=deploy/tutor/tests/validators
vstamp="$venv/.validators.sha256"
vdigest=$(find "$validators" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [[ ! -f "$vstamp" || "$(cat "$vstamp")" != "$vdigest" ]]; then
  command -v go >/dev/null || { say "ERROR: go is required to build the validators" >&2; exit 1; }
  say "building compose-validate, caddy-validate and kustomize-build into $venv/bin"
  (cd "$validators" && go build -trimpath -o "$OLDPWD/$venv/bin/" ./...)
  echo "$vdigest" >"$vstamp"
fi
export LABS_VALIDATORS="$PWD/$venv/bin"

# pytest (not `python -m pytest`, which would import the source tree), an explicit test
# directory, and "no tests collected" (exit 5) is a failure, never a silent pass.
cd deploy/tutor
set +e
../../"$venv"/bin/pytest -q -p no:cacheprovider tests
rc=$?
set -e
if [[ $rc -eq 5 ]]; then say "ERROR: pytest collected no tests" >&2; exit 1; fi
exit $rc
