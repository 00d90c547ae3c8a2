#!/usr/bin/env bash
# The native distributed testbed: Kafka, PostgreSQL and Mosquitto (the deploy/ scripts), then
# every HyperLoRa service as its own process (`hyperlora service NAME`), as listed in
# deploy/testbed/topology.yaml (two network-server instances in one consumer group).
#   deploy/testbed/testbed.sh up        engines, migrations (once), services; prints endpoints
#   deploy/testbed/testbed.sh down      services in reverse order, then the engines
#   deploy/testbed/testbed.sh status    each process alive/dead with its ports (exit 3: not all up)
#   deploy/testbed/testbed.sh start PROC | stop PROC | kill PROC   one process (tests, operators)
#   deploy/testbed/testbed.sh env PROC  the settings PROC runs with
# Settings (environment): UDP_PORT (1700), API_PORT (8080), METRICS_BASE (9100: process i
# serves /metrics on METRICS_BASE+i), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT, PG_PORT (55432),
# MQTT_PORT (1883), TESTBED_READY_TIMEOUT (90 s), HYPERLORA_PYTHON (.venv/bin/python),
# TESTBED_EXTRA_ENV ("KEY=VALUE ..." added to every process, e.g. HYPERLORA_NS_DEDUP_WINDOW_MS=0),
# HYPERLORA_STATE_DIR. Files: <state>/testbed/{logs,pids}/, <state>/testbed/admin-api-key
# (0600, generated once). Everything listens on 127.0.0.1.
set -euo pipefail
HL_NAME=testbed
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

HERE="$HL_ROOT/deploy/testbed"
export UDP_PORT="${UDP_PORT:-1700}"
export API_PORT="${API_PORT:-8080}"
export METRICS_BASE="${METRICS_BASE:-9100}"
export KAFKA_PORT="${KAFKA_PORT:-9092}"
export PG_PORT="${PG_PORT:-55432}"
export MQTT_PORT="${MQTT_PORT:-1883}"
export HYPERLORA_STATE_DIR="$HL_STATE_DIR"
READY_TIMEOUT="${TESTBED_READY_TIMEOUT:-90}"
PY="${HYPERLORA_PYTHON:-$HL_ROOT/.venv/bin/python}"
[[ -x "$PY" ]] || PY="$(command -v python3)"

STATE="$HL_STATE_DIR/testbed"
LOGS="$STATE/logs"
PIDS="$STATE/pids"
KEYFILE="$STATE/admin-api-key"
export DATA="$STATE/data"

topology() { (cd "$HL_ROOT" && "$PY" "$HERE/topology.py" "$@"); }
PROCS="$(topology procs)" || hl_die "cannot read $HERE/topology.yaml"
procs() { printf '%s\n' "$PROCS" | cut -d' ' -f1; }
service_of() { printf '%s\n' "$PROCS" | awk -v p="$1" '$1 == p { print $2 }'; }

admin_key() {
  if [[ ! -s "$KEYFILE" ]]; then
    mkdir -p "$STATE"
    (
      umask 077
      od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$KEYFILE"
    )
  fi
  chmod 600 "$KEYFILE"
  cat "$KEYFILE"
}

engine() { bash "$HL_ROOT/deploy/$1/$1.sh" "${@:2}"; }

engines_up() {
  engine kafka start
  engine kafka wait
  engine postgres start
  engine mosquitto start
}

migrate() {
  hl_log "migrating the database (once, before the services start)"
  (cd "$HL_ROOT" && "$PY" -c 'import asyncio, sys
from services.storage.migrate import upgrade
asyncio.run(upgrade(sys.argv[1]))' "$PG_URL") || hl_die "migrations failed"
}

export_settings() {
  PG_URL="$(engine postgres url)"
  ADMIN_KEY="$(admin_key)"
  export PG_URL ADMIN_KEY
}

proc_env() { topology env "$1"; }

start_proc() {
  local proc="$1" svc pidfile envs=() line
  svc="$(service_of "$proc")"
  [[ -n "$svc" ]] || hl_die "unknown process $proc (see: topology.py procs)"
  pidfile="$PIDS/$proc.pid"
  if hl_pid_alive "$pidfile"; then
    hl_log "$proc already running (pid $(cat "$pidfile"))"
    return 0
  fi
  mkdir -p "$LOGS" "$PIDS" "$DATA"
  while IFS= read -r line; do envs+=("$line"); done < <(proc_env "$proc")
  # TESTBED_EXTRA_ENV="KEY=VALUE ...": extra settings for every process (win over the table)
  # shellcheck disable=SC2206  # word splitting wanted
  [[ -n "${TESTBED_EXTRA_ENV:-}" ]] && envs+=(${TESTBED_EXTRA_ENV})
  hl_log "starting $proc (hyperlora service $svc)"
  rm -f "$pidfile"
  # the log is appended across restarts: ready() reads only what this start writes
  stat -c %s "$LOGS/$proc.log" 2>/dev/null >"$PIDS/$proc.logstart" || echo 0 >"$PIDS/$proc.logstart"
  # shellcheck disable=SC2016  # $$ and $1 belong to the inner shell
  (cd "$HL_ROOT" && exec setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pidfile" \
    env "${envs[@]}" "$PY" -m services.cli.service "$svc") </dev/null >>"$LOGS/$proc.log" 2>&1 &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$pidfile" ]] && break
    sleep 0.1
  done
}

# ready PROC: its log says it started (consumers: a partition assignment), process alive.
# (`hyperlora service` keeps those records at any HYPERLORA_LOG_LEVEL.)
ready() {
  local proc="$1" svc log="$LOGS/$1.log" from
  svc="$(service_of "$proc")"
  hl_pid_alive "$PIDS/$proc.pid" || return 2
  from="$(cat "$PIDS/$proc.logstart" 2>/dev/null || echo 0)"
  case "$svc" in
    api) hl_port_open 127.0.0.1 "$API_PORT" && grep -q "bus.kafka.assigned" < <(since "$log" "$from") ;;
    *) grep -q "bus.kafka.assigned" < <(since "$log" "$from") ;;
  esac
}

# since LOG BYTES: the part of LOG written after its first BYTES bytes
since() { tail -c "+$(($2 + 1))" "$1" 2>/dev/null; }

wait_ready() {
  local proc="$1" i rc
  for ((i = 0; i < READY_TIMEOUT * 5; i++)); do
    rc=0
    ready "$proc" || rc=$?
    [[ $rc -eq 0 ]] && return 0
    if [[ $rc -eq 2 ]]; then
      tail -n 20 "$LOGS/$proc.log" >&2 || true
      hl_die "$proc exited (see $LOGS/$proc.log)"
    fi
    sleep 0.2
  done
  tail -n 20 "$LOGS/$proc.log" >&2 || true
  hl_die "$proc not ready within ${READY_TIMEOUT}s (see $LOGS/$proc.log)"
}

stop_proc() { hl_stop_pid "$1" "$PIDS/$1.pid" "${TESTBED_STOP_TIMEOUT:-20}"; }

kill_proc() {
  local pidfile="$PIDS/$1.pid"
  if hl_pid_alive "$pidfile"; then
    hl_log "kill -9 $1 (pid $(cat "$pidfile"))"
    kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

print_endpoints() {
  cat <<EOT
HyperLoRa testbed is up (state: $STATE)
  packet forwarders  udp://127.0.0.1:$UDP_PORT  (Semtech UDP)
  REST API           http://127.0.0.1:$API_PORT/api   docs: http://127.0.0.1:$API_PORT/api/docs
  MQTT               127.0.0.1:$MQTT_PORT  (application/<id>/device/<dev_eui>/event/up)
  Kafka              127.0.0.1:$KAFKA_PORT
  PostgreSQL         $PG_URL
  admin API key      $ADMIN_KEY  (stored in $KEYFILE)
  logs               $LOGS/
EOT
}

cmd_up() {
  local t0 proc
  t0="$(hl_now_ns)"
  mkdir -p "$STATE" "$LOGS" "$PIDS"
  engines_up
  export_settings
  migrate
  for proc in $(procs); do
    start_proc "$proc"
  done
  for proc in $(procs); do
    wait_ready "$proc"
  done
  hl_log "up in $(hl_elapsed "$t0")s"
  print_endpoints
}

cmd_down() {
  local proc list
  list="$(procs | tac)"
  for proc in $list; do
    stop_proc "$proc"
  done
  engine mosquitto stop || true
  engine postgres stop || true
  engine kafka stop || true
}

cmd_status() {
  local proc svc all=0 ports
  printf '%-18s %-8s %-8s %s\n' PROCESS STATE PID PORTS
  for proc in $(procs); do
    svc="$(service_of "$proc")"
    ports="metrics:$(topology metrics "$proc")"
    case "$svc" in
      api) ports="http:$API_PORT $ports" ;;
      gateway_bridge) ports="udp:$UDP_PORT $ports" ;;
    esac
    if hl_pid_alive "$PIDS/$proc.pid"; then
      printf '%-18s %-8s %-8s %s\n' "$proc" alive "$(cat "$PIDS/$proc.pid")" "$ports"
    else
      printf '%-18s %-8s %-8s %s\n' "$proc" dead - "$ports"
      all=3
    fi
  done
  engine kafka status || all=3
  engine postgres status || all=3
  engine mosquitto status || all=3
  return "$all"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  start)
    [[ -n "${2:-}" ]] || hl_die "usage: $0 start PROC"
    export_settings
    start_proc "$2"
    wait_ready "$2"
    ;;
  stop)
    [[ -n "${2:-}" ]] || hl_die "usage: $0 stop PROC"
    stop_proc "$2"
    ;;
  kill)
    [[ -n "${2:-}" ]] || hl_die "usage: $0 kill PROC"
    kill_proc "$2"
    ;;
  env)
    [[ -n "${2:-}" ]] || hl_die "usage: $0 env PROC"
    export_settings
    proc_env "$2"
    ;;
  *)
    echo "usage: $0 {up|down|status|start PROC|stop PROC|kill PROC|env PROC}" >&2
    exit 2
    ;;
esac
