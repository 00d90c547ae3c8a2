#!/usr/bin/env bash
# Eclipse Mosquitto (MQTT broker for the application integrations): the project's own instance
# with a generated config in the state dir (not the system service).
#   deploy/mosquitto/mosquitto.sh install   apt-get install mosquitto when missing
#   deploy/mosquitto/mosquitto.sh start     write the config, start in background, wait for it
#   deploy/mosquitto/mosquitto.sh stop      SIGTERM, wait, SIGKILL if it will not go
#   deploy/mosquitto/mosquitto.sh status    exit 0 when running, 3 when not
#   deploy/mosquitto/mosquitto.sh clean     stop and delete its state
# Settings (environment): MQTT_PORT (1883), MQTT_WAIT_TIMEOUT (20 s), HYPERLORA_STATE_DIR.
# Anonymous clients are allowed: the listener is on 127.0.0.1 only.
set -euo pipefail
HL_NAME=mosquitto
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

MQTT_PORT="${MQTT_PORT:-1883}"
MQTT_WAIT_TIMEOUT="${MQTT_WAIT_TIMEOUT:-20}"
STATE="$HL_STATE_DIR/mosquitto"
CONF="$STATE/mosquitto.conf"
PIDFILE="$STATE/mosquitto.pid"
LOGFILE="$STATE/mosquitto.log"
DATA="$STATE/data"

find_mosquitto() {
  if [[ -x /usr/sbin/mosquitto ]]; then
    echo /usr/sbin/mosquitto
  else
    command -v mosquitto || true
  fi
}

cmd_install() {
  if [[ -n "$(find_mosquitto)" ]]; then
    hl_log "mosquitto present: $(find_mosquitto)"
    return 0
  fi
  hl_apt_install mosquitto
  [[ -n "$(find_mosquitto)" ]] || hl_die "mosquitto installed but not found"
}

write_config() {
  mkdir -p "$STATE" "$DATA"
  # When started as root, mosquitto drops to the 'mosquitto' account: let it write its data.
  if [[ "$(id -u)" -eq 0 ]] && id mosquitto >/dev/null 2>&1; then
    chown mosquitto: "$DATA"
    touch "$LOGFILE"
    chown mosquitto: "$LOGFILE"
  fi
  cat >"$CONF" <<EOF
# Written by deploy/mosquitto/mosquitto.sh on every start: edit the script's settings instead.
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $DATA
autosave_interval 30
log_dest file $LOGFILE
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
EOF
}

cmd_start() {
  local bin i
  if hl_pid_alive "$PIDFILE"; then
    hl_log "already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$MQTT_PORT"
    return 0
  fi
  cmd_install
  bin="$(find_mosquitto)"
  hl_port_open 127.0.0.1 "$MQTT_PORT" && hl_die "port $MQTT_PORT is taken (set MQTT_PORT)"
  write_config
  hl_log "starting mosquitto on 127.0.0.1:$MQTT_PORT"
  rm -f "$PIDFILE"
  # shellcheck disable=SC2016  # $$ and $1 belong to the inner shell
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDFILE" \
    "$bin" -c "$CONF" </dev/null >>"$LOGFILE" 2>&1 &
  for ((i = 0; i < MQTT_WAIT_TIMEOUT * 10; i++)); do
    if [[ -s "$PIDFILE" ]] && ! hl_pid_alive "$PIDFILE"; then
      hl_die "mosquitto exited (see $LOGFILE)"
    fi
    hl_port_open 127.0.0.1 "$MQTT_PORT" && break
    sleep 0.1
  done
  hl_port_open 127.0.0.1 "$MQTT_PORT" || hl_die "mosquitto not listening after ${MQTT_WAIT_TIMEOUT}s"
  hl_log "ready (pid $(cat "$PIDFILE")); log: $LOGFILE"
}

cmd_status() {
  if hl_pid_alive "$PIDFILE"; then
    echo "mosquitto running pid=$(cat "$PIDFILE") port=$MQTT_PORT state=$STATE"
    return 0
  fi
  echo "mosquitto stopped"
  return 3
}

cmd_stop() { hl_stop_pid mosquitto "$PIDFILE" "${MQTT_STOP_TIMEOUT:-10}"; }

cmd_clean() {
  cmd_stop
  hl_log "removing $STATE"
  rm -rf "$STATE"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  clean) cmd_clean ;;
  *)
    echo "usage: $0 {install|start|stop|status|clean}" >&2
    exit 2
    ;;
esac
