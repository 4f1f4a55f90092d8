#!/usr/bin/env bash
# A second MongoDB-compatible server for benchmarks: FerretDB v1 (the same binary `npm run tools`
# builds) on PostgreSQL from Debian's packages instead of SQLite, so a figure limited by the
# SQLite backend can be told apart from one limited by the product.
#
#   eval "$(bash scripts/ferretdb-postgres.sh start)"   # exports MONGODB_URI
#   npm run bench -- --quick --only storm
#   bash scripts/ferretdb-postgres.sh stop
#
# Both servers listen on 127.0.0.1 only, on free ports, with their data under .tools/ferretdb-pg/
# (wiped at each start). Needs root (apt-get, and PostgreSQL runs as the `postgres` user).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir="$root/.tools/ferretdb-pg"
say() { printf '[ferretdb-pg] %s\n' "$*" >&2; }
die() { printf '[ferretdb-pg] ERROR: %s\n' "$*" >&2; exit 1; }

pg_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$bin" ]] && echo "$bin"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

stop() {
  if [[ -f "$dir/ferretdb.pid" ]]; then kill "$(cat "$dir/ferretdb.pid")" 2>/dev/null || true; fi
  if [[ -d "$dir/pg" ]] && [[ -n "$(pg_bin)" ]]; then
    su postgres -c "$(pg_bin)/pg_ctl -D '$dir/pg' -m fast stop" >/dev/null 2>&1 || true
  fi
  rm -f "$dir/ferretdb.pid"
}

start() {
  [[ $(id -u) -eq 0 ]] || die "run as root: PostgreSQL is started as the postgres user"
  [[ -x "$root/.tools/bin/ferretdb" ]] || bash scripts/tools.sh >&2
  [[ -x "$root/.tools/bin/ferretdb" ]] || die "no FerretDB binary in .tools/bin (npm run tools builds it)"
  if [[ -z "$(pg_bin)" ]]; then
    say "installing PostgreSQL from Debian's packages ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >"$root/.tools/postgresql-install.log" 2>&1 ||
      die "apt-get install postgresql failed (see .tools/postgresql-install.log)"
  fi
  local bin pg_port ferret_port debug_port
  bin=$(pg_bin)
  stop
  rm -rf "$dir" && mkdir -p "$dir/pg" "$dir/state" && chown -R postgres "$dir"
  su postgres -c "$bin/initdb -D '$dir/pg' -A trust -U postgres" >"$dir/initdb.log" 2>&1 ||
    die "initdb failed (see $dir/initdb.log)"
  pg_port=$(free_port)
  su postgres -c "$bin/pg_ctl -D '$dir/pg' -w -l '$dir/postgres.log' -o '-p $pg_port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=220' start" >/dev/null ||
    die "PostgreSQL did not start (see $dir/postgres.log)"
  "$bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U postgres -c 'create database ferretdb' >/dev/null
  ferret_port=$(free_port)
  debug_port=$(free_port)
  nohup "$root/.tools/bin/ferretdb" --handler=postgresql \
    "--postgresql-url=postgres://postgres@127.0.0.1:$pg_port/ferretdb?pool_max_conns=200" \
    "--listen-addr=127.0.0.1:$ferret_port" "--state-dir=$dir/state" \
    "--debug-addr=127.0.0.1:$debug_port" --telemetry=disable --log-level=warn \
    >"$dir/ferretdb.log" 2>&1 &
  echo $! >"$dir/ferretdb.pid"
  for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$ferret_port") 2>/dev/null; then
      say "PostgreSQL on 127.0.0.1:$pg_port, FerretDB (postgresql handler) on 127.0.0.1:$ferret_port"
      echo "export MONGODB_URI=mongodb://127.0.0.1:$ferret_port/"
      return 0
    fi
    sleep 0.2
  done
  die "FerretDB did not listen on 127.0.0.1:$ferret_port (see $dir/ferretdb.log)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 start|stop" ;;
esac
