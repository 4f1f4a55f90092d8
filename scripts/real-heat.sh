#!/usr/bin/env bash
# Run a real OpenStack Keystone + Heat on 127.0.0.1 (Debian packages, SQLite, no systemd)
# for the contract tests. See scripts/real-heat/README.md.
#   scripts/real-heat.sh install|start|stop|status|restart|env
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HELPERS="$ROOT/scripts/real-heat"
DATA_DIR="${REAL_HEAT_DATA_DIR:-$ROOT/.data/real-heat}"
# split (default): heat-api + heat-engine + RabbitMQ, as deployed; errors cross the RPC layer as in production.
# all: one heat-all process, fake:// transport, no RabbitMQ: ~200 MiB less, but errors raised in the engine
#      are not serialized over RPC, so some messages differ (see scripts/real-heat/README.md).
HEAT_MODE="${HEAT_MODE:-split}"
KEYSTONE_PORT="${REAL_HEAT_KEYSTONE_PORT:-5000}"
HEAT_PORT="${REAL_HEAT_HEAT_PORT:-8004}"
RABBIT_PORT="${REAL_HEAT_RABBIT_PORT:-5672}"
EPMD_PORT="${REAL_HEAT_EPMD_PORT:-4369}"
RABBIT_DIST_PORT="${REAL_HEAT_RABBIT_DIST_PORT:-25672}"
START_TIMEOUT="${REAL_HEAT_START_TIMEOUT:-180}"  # seconds, for the whole start
STOP_GRACE="${REAL_HEAT_STOP_GRACE:-15}"         # seconds between SIGTERM and SIGKILL
PY=/usr/bin/python3                              # the packages' interpreter, not a pyenv shim
HOST=127.0.0.1

case "$HEAT_MODE" in all|split) ;; *) echo "HEAT_MODE must be 'all' or 'split' (got '$HEAT_MODE')" >&2; exit 2 ;; esac

log() { printf '[real-heat %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- install
packages() {
  local p=(keystone heat-api heat-engine uwsgi-core uwsgi-plugin-python3 sqlite3 curl iproute2)
  # rabbitmq-server is needed by HEAT_MODE=split only (or REAL_HEAT_INSTALL_RABBITMQ=1)
  if [[ "$HEAT_MODE" == split || "${REAL_HEAT_INSTALL_RABBITMQ:-0}" == 1 ]]; then p+=(rabbitmq-server); fi
  echo "${p[@]}"
}

cmd_install() {
  [[ $(id -u) == 0 ]] || die "install needs root (apt-get)"
  local pkgs missing=() p
  read -r -a pkgs <<<"$(packages)"
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then log "install: all packages present (${pkgs[*]})"; return 0; fi
  log "install: installing ${missing[*]}"
  # Keep the packages' services from starting (no systemd here anyway); restore afterwards.
  local prc=/usr/sbin/policy-rc.d had_prc=0
  if [[ -e $prc ]]; then had_prc=1; else
    printf '#!/bin/sh\n# written by scripts/real-heat.sh install; removed afterwards\nexit 101\n' >"$prc"; chmod 755 "$prc"
  fi
  local rc=0
  {
    export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true
    # openstack-pkg-tools / dbconfig-common: do not let the packages configure databases or endpoints
    printf '%s\n' \
      'keystone keystone/configure_db boolean false' \
      'keystone keystone/create-admin-tenant boolean false' \
      'keystone keystone/register-endpoint boolean false' \
      'heat-common heat/configure_db boolean false' \
      'heat-api heat/register-endpoint boolean false' \
      | debconf-set-selections 2>/dev/null || true
    if [[ ! -d /var/lib/apt/lists || -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" || -n "${REAL_HEAT_APT_UPDATE:-}" ]]; then
      apt-get update -qq
    fi
    apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" \
      || { log "install failed once; apt-get update and retry"; apt-get update -qq && apt-get install -y -q --no-install-recommends \
             -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"; }
  } || rc=$?
  if ((had_prc == 0)); then rm -f "$prc"; fi
  ((rc == 0)) || die "apt-get install failed ($rc)"
  # Packages may have started something despite policy-rc.d (they should not); say so.
  local p2
  for p2 in keystone heat-api heat-engine rabbitmq-server epmd beam.smp uwsgi; do
    pgrep -x "$p2" >/dev/null 2>&1 && log "warning: a '$p2' process is running after install (not started by this script)"
  done
  log "install: done"
}

# ---------------------------------------------------------------- helpers
RUN="$DATA_DIR/run"; LOGS="$DATA_DIR/log"; ETC="$DATA_DIR/etc"; STATE="$DATA_DIR/state"
KS_URL="http://$HOST:$KEYSTONE_PORT/v3"
HEAT_URL_T="http://$HOST:$HEAT_PORT/v1/%(tenant_id)s"
SERVICES_ALL=(keystone heat-all)
SERVICES_SPLIT=(epmd rabbitmq keystone heat-engine heat-api)
STOP_ORDER=(heat-api heat-all heat-engine keystone rabbitmq epmd)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
left() { awk -v d="$DEADLINE" -v n="$(now)" 'BEGIN{exit !(n < d)}'; }

pidfile() { echo "$RUN/$1.pid"; }
# "ours": the pid in the pid file is alive and carries our marker in its environment
# (robust against pid reuse and exec).
svc_pid() {
  local f; f="$(pidfile "$1")"; [[ -s $f ]] || return 1
  local pid pgid; read -r pid pgid <"$f" || return 1
  [[ -r /proc/$pid/environ ]] || return 1
  grep -qzxF "REAL_HEAT_OWNER=$DATA_DIR" "/proc/$pid/environ" 2>/dev/null || return 1
  echo "$pid $pgid"
}
running() { svc_pid "$1" >/dev/null; }
group_alive() { [[ -n "$(ps -o pid= -g "$1" 2>/dev/null)" ]]; }

# spawn NAME LOGFILE ENV... -- CMD...   (own session = own process group)
spawn() {
  local name=$1 logf=$2; shift 2
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done; shift
  env REAL_HEAT_OWNER="$DATA_DIR" "${envs[@]}" setsid "$@" >>"$logf" 2>&1 </dev/null 9>&- &
  local pid=$! i
  # setsid execs in place (this script does not use job control, so the child is no group
  # leader): the service becomes the leader of its own group, pgid == pid. Wait for that.
  for i in $(seq 1 50); do
    [[ "$(awk '{print $5}' "/proc/$pid/stat" 2>/dev/null)" == "$pid" ]] && break
    sleep 0.05
  done
  [[ "$(awk '{print $5}' "/proc/$pid/stat" 2>/dev/null)" == "$pid" ]] || die "$name (pid $pid) did not become a process group leader"
  echo "$pid $pid" >"$(pidfile "$name")"
}

# processes carrying our marker (REAL_HEAT_OWNER=<data dir>) in their environment
marked_pids() {
  grep -lzxF "REAL_HEAT_OWNER=$DATA_DIR" /proc/[0-9]*/environ 2>/dev/null \
    | sed -n 's#^/proc/\([0-9]*\)/environ$#\1#p' | grep -vx -e "$$" -e "${BASHPID:-$$}" || true
}

port_listeners() { ss -ltnpH "sport = :$1" 2>/dev/null || true; }
# refuse a port that is taken by anything this script did not start
check_port() {
  local port=$1 what=$2 l
  l="$(port_listeners "$port")"
  [[ -z $l ]] && return 0
  die "port $port (for $what) is already in use by a process this script did not start: $(grep -o 'users:.*' <<<"$l" | head -1). Stop it or choose another port (REAL_HEAT_KEYSTONE_PORT / REAL_HEAT_HEAT_PORT / REAL_HEAT_RABBIT_PORT)."
}

http_code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$1" 2>/dev/null || true; }

wait_until() { # DESC CMD... : poll until CMD succeeds, the service dies, or the deadline passes
  local desc=$1 svc=$2; shift 2
  while ! "$@"; do
    if [[ -n $svc ]] && ! running "$svc"; then
      log "$svc died while waiting for: $desc; last lines of $LOGS/$svc.log:"; tail -n 30 "$LOGS/$svc.log" >&2 || true; exit 1
    fi
    left || { log "deadline (${START_TIMEOUT}s) passed waiting for: $desc; see $LOGS/$svc.log"; tail -n 20 "$LOGS/$svc.log" >&2 || true; exit 1; }
    sleep 0.2
  done
}

need_bin() { for b in "$@"; do [[ -e $b ]] || die "$b missing: run 'scripts/real-heat.sh install' first (HEAT_MODE=$HEAT_MODE)"; done; }

rand() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c "${1:-24}"; }

load_secrets() {
  local f="$DATA_DIR/secrets.env"
  if [[ ! -s $f ]]; then
    umask 077
    printf 'ADMIN_PASSWORD=%s\nHEAT_PASSWORD=%s\nDOMAIN_ADMIN_PASSWORD=%s\nAUTH_ENCRYPTION_KEY=%s\n' \
      "$(rand 24)" "$(rand 24)" "$(rand 24)" "$(rand 32)" >"$f"
    umask 022
  fi
  # shellcheck disable=SC1090
  . "$f"
}

contract_env() {
  cat <<EOT
HEAT_CONTRACT_AUTH_URL=$KS_URL
HEAT_CONTRACT_USERNAME=admin
HEAT_CONTRACT_PASSWORD=$ADMIN_PASSWORD
HEAT_CONTRACT_PROJECT=admin
EOT
}

# ---------------------------------------------------------------- configs
write_configs() {
  mkdir -p "$ETC/keystone" "$ETC/heat" "$DATA_DIR/fernet-keys" "$DATA_DIR/credential-keys"
  cat >"$ETC/keystone/keystone.conf" <<EOT
# generated by scripts/real-heat.sh
[DEFAULT]
use_stderr = true
[database]
connection = sqlite:///$DATA_DIR/keystone.sqlite
[token]
provider = fernet
[fernet_tokens]
key_repository = $DATA_DIR/fernet-keys
[fernet_receipts]
key_repository = $DATA_DIR/fernet-keys
[credential]
key_repository = $DATA_DIR/credential-keys
[identity]
password_hash_rounds = 4
[cache]
enabled = true
backend = dogpile.cache.memory
EOT
  local transport="fake://"
  [[ $HEAT_MODE == split ]] && transport="rabbit://guest:guest@$HOST:$RABBIT_PORT/"
  cat >"$ETC/heat/heat.conf" <<EOT
# generated by scripts/real-heat.sh (HEAT_MODE=$HEAT_MODE)
[DEFAULT]
use_stderr = true
host = real-heat
transport_url = $transport
num_engine_workers = 1
graceful_shutdown_timeout = ${REAL_HEAT_GRACEFUL_SHUTDOWN:-2}
region_name_for_services = RegionOne
auth_encryption_key = $AUTH_ENCRYPTION_KEY
stack_user_domain_name = heat
stack_domain_admin = heat_domain_admin
stack_domain_admin_password = $DOMAIN_ADMIN_PASSWORD
heat_metadata_server_url = http://$HOST:8000
heat_waitcondition_server_url = http://$HOST:8000/v1/waitcondition
[database]
connection = sqlite:///$DATA_DIR/heat.sqlite
[heat_all]
enabled_services = engine,api
[heat_api]
bind_host = $HOST
bind_port = $HEAT_PORT
workers = 1
[paste_deploy]
api_paste_config = /etc/heat/api-paste.ini
[oslo_messaging_notifications]
driver = noop
[clients_keystone]
auth_uri = http://$HOST:$KEYSTONE_PORT
[keystone_authtoken]
www_authenticate_uri = http://$HOST:$KEYSTONE_PORT
auth_url = http://$HOST:$KEYSTONE_PORT
auth_type = password
username = heat
password = $HEAT_PASSWORD
user_domain_name = Default
project_name = service
project_domain_name = Default
region_name = RegionOne
service_type = orchestration
[trustee]
auth_type = password
auth_url = http://$HOST:$KEYSTONE_PORT
username = heat
password = $HEAT_PASSWORD
user_domain_name = Default
EOT
}

# ---------------------------------------------------------------- services
start_epmd() {
  running epmd && return 0
  if [[ -n "$(port_listeners "$EPMD_PORT")" ]]; then log "epmd: reusing the epmd already on port $EPMD_PORT"; return 0; fi
  spawn epmd "$LOGS/epmd.log" -- epmd -port "$EPMD_PORT" -address 127.0.0.1
}

rabbit_env() {
  echo HOME="$DATA_DIR/rabbitmq" RABBITMQ_NODENAME="realheat@localhost" RABBITMQ_NODE_IP_ADDRESS="$HOST" \
    RABBITMQ_NODE_PORT="$RABBIT_PORT" RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT" ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_MNESIA_BASE="$DATA_DIR/rabbitmq/mnesia" RABBITMQ_LOG_BASE="$LOGS" RABBITMQ_LOGS=- \
    RABBITMQ_ENABLED_PLUGINS_FILE="$DATA_DIR/rabbitmq/enabled_plugins" RABBITMQ_CONFIG_FILE="$DATA_DIR/rabbitmq/rabbitmq" \
    RABBITMQ_PID_FILE="$RUN/rabbitmq.erlpid"
}

start_rabbitmq() {
  running rabbitmq && return 0
  check_port "$RABBIT_PORT" rabbitmq
  local t; t="$(now)"
  mkdir -p "$DATA_DIR/rabbitmq/mnesia"
  [[ -f $DATA_DIR/rabbitmq/enabled_plugins ]] || echo '[].' >"$DATA_DIR/rabbitmq/enabled_plugins"
  printf 'listeners.tcp.default = %s:%s\nloopback_users.guest = true\n' "$HOST" "$RABBIT_PORT" >"$DATA_DIR/rabbitmq/rabbitmq.conf"
  start_epmd
  # shellcheck disable=SC2046
  spawn rabbitmq "$LOGS/rabbitmq.log" $(rabbit_env) -- /usr/lib/rabbitmq/bin/rabbitmq-server
  RABBIT_T0=$t   # it boots while Keystone is prepared; wait_rabbitmq waits for it before the engine
}

wait_rabbitmq() {
  wait_until "rabbitmq listening on $RABBIT_PORT" rabbitmq bash -c "ss -ltnH 'sport = :$RABBIT_PORT' | grep -q ."
  [[ -n ${RABBIT_T0:-} ]] && log "rabbitmq up (${HOST}:${RABBIT_PORT}, $(since "$RABBIT_T0")s after its start)"
  return 0
}

keystone_manage() { keystone-manage --config-file "$ETC/keystone/keystone.conf" "$@" >>"$LOGS/keystone-manage.log" 2>&1; }

keystone_db() {
  local t; t="$(now)"
  if [[ ! -e $STATE/keystone-db ]]; then
    log "keystone: db_sync, fernet/credential setup"
    rm -f "$DATA_DIR/keystone.sqlite"*
    keystone_manage db_sync || die "keystone-manage db_sync failed, see $LOGS/keystone-manage.log"
    sqlite3 "$DATA_DIR/keystone.sqlite" 'PRAGMA journal_mode=WAL;' >/dev/null
    keystone_manage fernet_setup --keystone-user root --keystone-group root || die "fernet_setup failed"
    keystone_manage credential_setup --keystone-user root --keystone-group root || die "credential_setup failed"
    touch "$STATE/keystone-db"
  fi
  if [[ "$(cat "$STATE/keystone-bootstrap" 2>/dev/null)" != "$KS_URL" ]]; then
    log "keystone: bootstrap (admin/admin, RegionOne, identity endpoints $KS_URL)"
    keystone_manage bootstrap --bootstrap-password "$ADMIN_PASSWORD" --bootstrap-username admin \
      --bootstrap-project-name admin --bootstrap-role-name admin --bootstrap-service-name keystone \
      --bootstrap-region-id RegionOne --bootstrap-admin-url "$KS_URL" --bootstrap-public-url "$KS_URL" \
      --bootstrap-internal-url "$KS_URL" || die "keystone-manage bootstrap failed, see $LOGS/keystone-manage.log"
    echo "$KS_URL" >"$STATE/keystone-bootstrap"
    log "keystone: database ready ($(since "$t")s)"
  fi
}

start_keystone() {
  if ! running keystone; then
    check_port "$KEYSTONE_PORT" keystone
    local t; t="$(now)"
    spawn keystone "$LOGS/keystone.log" OS_KEYSTONE_CONFIG_DIR="$ETC/keystone" -- \
      uwsgi-core --plugin python3 --http-socket "$HOST:$KEYSTONE_PORT" --wsgi-file /usr/bin/keystone-wsgi-public \
      --master --lazy-apps --skip-atexit-teardown --processes 1 --threads 1 --die-on-term --need-app --vacuum --add-header "Connection: close" \
      --disable-logging --buffer-size 65535
    wait_until "keystone answering $KS_URL" keystone bash -c "[[ \$(curl -s -o /dev/null -m 5 -w '%{http_code}' '$KS_URL') == 200 ]]"
    log "keystone up ($(since "$t")s)"
  fi
  local want="$KS_URL $HEAT_URL_T"
  if [[ "$(cat "$STATE/ks-setup" 2>/dev/null)" != "$want" ]]; then
    local t2; t2="$(now)"
    "$PY" "$HELPERS/ks_setup.py" "$KS_URL" "$ADMIN_PASSWORD" "$HEAT_PASSWORD" "$DOMAIN_ADMIN_PASSWORD" "$HEAT_URL_T" RegionOne \
      >>"$LOGS/ks-setup.log" 2>&1 || { tail -n 5 "$LOGS/ks-setup.log" >&2; die "keystone setup for heat failed"; }
    echo "$want" >"$STATE/ks-setup"
    log "keystone: heat user/domain/roles/endpoints set up ($(since "$t2")s)"
  fi
}

heat_db() {
  [[ -e $STATE/heat-db ]] && return 0
  local t; t="$(now)"
  rm -f "$DATA_DIR/heat.sqlite"*
  heat-manage --config-file "$ETC/heat/heat.conf" db_sync >>"$LOGS/heat-manage.log" 2>&1 || die "heat-manage db_sync failed, see $LOGS/heat-manage.log"
  sqlite3 "$DATA_DIR/heat.sqlite" 'PRAGMA journal_mode=WAL;' >/dev/null
  touch "$STATE/heat-db"
  log "heat: db_sync ($(since "$t")s)"
}

engine_registered() { [[ "$(sqlite3 "$DATA_DIR/heat.sqlite" 'select count(*) from service where deleted_at is null;' 2>/dev/null)" -gt 0 ]]; }
heat_http() { [[ "$(http_code "http://$HOST:$HEAT_PORT/")" != 000 ]]; }

start_engine() { # heat-engine (split) or heat-all (all)
  local name=$1
  running "$name" && return 0
  [[ $name == heat-all ]] && check_port "$HEAT_PORT" heat-api
  local t; t="$(now)"
  # rows of engines that are gone; the running engine writes its row once its RPC server consumes
  sqlite3 "$DATA_DIR/heat.sqlite" 'PRAGMA busy_timeout=5000; delete from service;' >/dev/null
  spawn "$name" "$LOGS/$name.log" -- "/usr/bin/$name" --config-file "$ETC/heat/heat.conf"
  wait_until "$name registered in the service table" "$name" engine_registered
  [[ $name == heat-all ]] && wait_until "heat-api (in heat-all) answering on $HEAT_PORT" heat-all heat_http
  log "$name up ($(since "$t")s)"
}

start_heat_api() {
  running heat-api && return 0
  check_port "$HEAT_PORT" heat-api
  local t; t="$(now)"
  spawn heat-api "$LOGS/heat-api.log" -- /usr/bin/heat-api --config-file "$ETC/heat/heat.conf"
  wait_until "heat-api answering on $HEAT_PORT" heat-api heat_http
  log "heat-api up ($(since "$t")s)"
}

# an end-to-end check: a token, and a stack list through heat-api (keystonemiddleware + engine RPC)
smoke() {
  local hdr body tok proj code
  hdr="$(mktemp)"
  body="$(curl -s -m 30 -D "$hdr" -H 'Content-Type: application/json' -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"},\"password\":\"$ADMIN_PASSWORD\"}}},\"scope\":{\"project\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"}}}}}" "$KS_URL/auth/tokens")" || true
  tok="$(awk 'tolower($1)=="x-subject-token:"{print $2}' "$hdr" | tr -d '\r')"; rm -f "$hdr"
  [[ -n $tok ]] || { log "smoke: no token: $body"; return 1; }
  proj="$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["token"]["project"]["id"])' <<<"$body")"
  code="$(curl -s -o /dev/null -m 90 -w '%{http_code}' -H "X-Auth-Token: $tok" "http://$HOST:$HEAT_PORT/v1/$proj/stacks")"
  [[ $code == 200 ]] || { log "smoke: GET /v1/$proj/stacks answered $code"; return 1; }
}

mode_services() { if [[ $1 == all ]]; then echo "${SERVICES_ALL[@]}"; else echo "${SERVICES_SPLIT[@]}"; fi; }

all_up() {
  local s
  for s in $(mode_services "$HEAT_MODE"); do
    [[ $s == epmd && ! -e $(pidfile epmd) ]] && continue   # a foreign epmd may be in use
    running "$s" || return 1
  done
  [[ "$(http_code "$KS_URL")" == 200 ]] && heat_http
}

# ---------------------------------------------------------------- commands
cmd_start() {
  need_bin /usr/bin/keystone-manage /usr/bin/keystone-wsgi-public /usr/bin/heat-manage /usr/bin/uwsgi-core \
    /usr/lib/uwsgi/plugins/python3_plugin.so /usr/bin/sqlite3
  if [[ $HEAT_MODE == all ]]; then need_bin /usr/bin/heat-all; else need_bin /usr/bin/heat-api /usr/bin/heat-engine /usr/lib/rabbitmq/bin/rabbitmq-server; fi
  mkdir -p "$RUN" "$LOGS" "$ETC" "$STATE"
  exec 9>"$RUN/lock"; flock -w 300 9 || die "another real-heat.sh holds $RUN/lock"
  load_secrets
  if [[ -s $RUN/mode && "$(cat "$RUN/mode")" != "$HEAT_MODE" ]]; then
    local s other; other="$(cat "$RUN/mode")"
    for s in $(mode_services "$other"); do
      running "$s" && die "running in HEAT_MODE=$other; run '$0 stop' first"
    done
  fi
  if all_up; then
    log "already up (HEAT_MODE=$HEAT_MODE, data dir $DATA_DIR)"
    contract_env; return 0
  fi
  if [[ -n "$(marked_pids)" ]] && ! running keystone && ! running heat-all && ! running heat-engine; then
    log "leftover processes of this data dir without pid files: stopping them first"; cmd_stop
  fi
  # refuse ports taken by others before starting anything
  running keystone || check_port "$KEYSTONE_PORT" keystone
  if [[ $HEAT_MODE == all ]]; then running heat-all || check_port "$HEAT_PORT" heat-api
  else running heat-api || check_port "$HEAT_PORT" heat-api; running rabbitmq || check_port "$RABBIT_PORT" rabbitmq; fi
  local t0; t0="$(now)"; DEADLINE="$(awk -v n="$t0" -v s="$START_TIMEOUT" 'BEGIN{printf "%.3f", n+s}')"
  echo "$HEAT_MODE" >"$RUN/mode"
  write_configs
  [[ $HEAT_MODE == split ]] && start_rabbitmq
  keystone_db
  start_keystone
  heat_db
  if [[ $HEAT_MODE == all ]]; then start_engine heat-all; else wait_rabbitmq; start_engine heat-engine; start_heat_api; fi
  local t; t="$(now)"
  smoke || die "end-to-end check failed (see $LOGS/)"
  log "end-to-end check: token + stack list OK ($(since "$t")s)"
  contract_env >"$DATA_DIR/contract.env"; chmod 600 "$DATA_DIR/contract.env"
  log "started in $(since "$t0")s (HEAT_MODE=$HEAT_MODE); env written to $DATA_DIR/contract.env"
  contract_env
}

cmd_stop() {
  [[ -d $RUN ]] || { log "nothing to stop ($DATA_DIR)"; return 0; }
  local s info pid pgid groups=() names=()
  for s in "${STOP_ORDER[@]}"; do
    if info="$(svc_pid "$s")"; then
      read -r pid pgid <<<"$info"
      log "stopping $s (pid $pid, process group $pgid)"
      kill -TERM -- "-$pgid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      groups+=("$pgid"); names+=("$s")
    fi
    rm -f "$(pidfile "$s")"
  done
  local t0 i alive; t0="$(now)"
  while :; do
    alive=0
    for i in "${!groups[@]}"; do
      [[ -z ${groups[$i]} ]] && continue
      if group_alive "${groups[$i]}"; then alive=1; else log "${names[$i]} gone ($(since "$t0")s)"; groups[$i]=""; fi
    done
    ((alive)) || break
    if awk -v a="$t0" -v b="$(now)" -v g="$STOP_GRACE" 'BEGIN{exit !(b-a >= g)}'; then
      for i in "${!groups[@]}"; do
        [[ -n ${groups[$i]} ]] && group_alive "${groups[$i]}" && { log "SIGKILL ${names[$i]} (group ${groups[$i]}) after ${STOP_GRACE}s"; kill -KILL -- "-${groups[$i]}" 2>/dev/null || true; }
      done
      sleep 0.5; break
    fi
    sleep 0.2
  done
  # anything of ours that is not in a pid file (e.g. a pid file lost): TERM, then KILL
  local strays; strays="$(marked_pids | tr '\n' ' ')"
  if [[ -n ${strays// } ]]; then
    log "stopping leftover processes of this data dir: $strays"
    kill -TERM $strays 2>/dev/null || true
    for i in $(seq 1 $((STOP_GRACE * 5))); do
      strays="$(for p in $strays; do [[ -d /proc/$p ]] && echo "$p"; done | tr '\n' ' ')"
      [[ -z ${strays// } ]] && break; sleep 0.2
    done
    [[ -n ${strays// } ]] && kill -KILL $strays 2>/dev/null || true
  fi
  rm -f "$RUN/mode"
  log "stopped (${#groups[@]} process groups, $(since "$t0")s)"
}

cmd_status() {
  local s info pid pgid rc=0 mode
  mode="$(cat "$RUN/mode" 2>/dev/null || echo "$HEAT_MODE")"
  echo "data dir: $DATA_DIR  HEAT_MODE=$mode"
  for s in $(HEAT_MODE=$mode; mode_services "$mode"); do
    if info="$(svc_pid "$s")"; then
      read -r pid pgid <<<"$info"
      local rss; rss="$(ps -o rss= -g "$pgid" | awk '{s+=$1} END{printf "%d", s/1024}')"
      printf '  %-12s running  pid %-7s group %-7s RSS %s MiB\n' "$s" "$pid" "$pgid" "$rss"
    else
      printf '  %-12s stopped\n' "$s"; rc=3
    fi
  done
  printf '  keystone %s -> HTTP %s\n' "$KS_URL" "$(http_code "$KS_URL")"
  printf '  heat     http://%s:%s/ -> HTTP %s\n' "$HOST" "$HEAT_PORT" "$(http_code "http://$HOST:$HEAT_PORT/")"
  [[ -s $DATA_DIR/contract.env ]] && echo "  env: $DATA_DIR/contract.env"
  return $rc
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  env) load_secrets; contract_env ;;
  *) echo "usage: $0 install|start|stop|restart|status|env   (HEAT_MODE=all|split, REAL_HEAT_DATA_DIR, REAL_HEAT_KEYSTONE_PORT, REAL_HEAT_HEAT_PORT)" >&2; exit 2 ;;
esac
