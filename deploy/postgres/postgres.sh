#!/usr/bin/env bash
# PostgreSQL for HyperLoRa: the project's own cluster in the state dir (not the system service).
#   deploy/postgres/postgres.sh install  apt-get install postgresql when no server is installed
#   deploy/postgres/postgres.sh start    initdb once, start on 127.0.0.1:$PG_PORT, create the
#                                        role and database (idempotent)
#   deploy/postgres/postgres.sh stop     fast shutdown (immediate if it will not stop)
#   deploy/postgres/postgres.sh status   exit 0 when running, 3 when not
#   deploy/postgres/postgres.sh url      print the SQLAlchemy URL (postgresql+asyncpg://...)
#   deploy/postgres/postgres.sh clean    stop and delete the cluster
# Settings (environment): PG_PORT (55432), PG_USER / PG_DATABASE (hyperlora), PG_PASSWORD
# (generated once and kept in the state dir), PG_OS_USER (the account that runs the server when
# this script runs as root: postgres), PG_WAIT_TIMEOUT (60 s), HYPERLORA_STATE_DIR.
set -euo pipefail
HL_NAME=postgres
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

PG_PORT="${PG_PORT:-55432}"
PG_USER="${PG_USER:-hyperlora}"
PG_DATABASE="${PG_DATABASE:-hyperlora}"
PG_WAIT_TIMEOUT="${PG_WAIT_TIMEOUT:-60}"
STATE="$HL_STATE_DIR/postgres"
DATA="$STATE/data"
SOCK="$STATE/run"
LOGFILE="$STATE/postgres.log"
PWFILE="$STATE/password"

[[ "$PG_USER" =~ ^[a-z_][a-z0-9_]*$ ]] || hl_die "PG_USER must be a plain identifier"
[[ "$PG_DATABASE" =~ ^[a-z_][a-z0-9_]*$ ]] || hl_die "PG_DATABASE must be a plain identifier"

if [[ "$(id -u)" -eq 0 ]]; then
  PG_OS_USER="${PG_OS_USER:-postgres}"
else
  PG_OS_USER="$(id -un)"
fi

# as_server CMD...: run CMD as the account that owns the cluster.
as_server() {
  if [[ "$(id -u)" -eq 0 && "$PG_OS_USER" != root ]]; then
    runuser -u "$PG_OS_USER" -- "$@"
  else
    "$@"
  fi
}

find_bindir() {
  local d best=""
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] || continue
    best="$d" # the glob sorts ascending: keep the last (newest) version
  done
  if [[ -z "$best" ]] && command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    best="$(dirname "$(command -v pg_ctl)")"
  fi
  printf '%s\n' "$best"
}

cmd_install() {
  if [[ -n "$(find_bindir)" ]]; then
    hl_log "PostgreSQL server binaries present: $(find_bindir)"
    return 0
  fi
  local t0
  t0="$(hl_now_ns)"
  hl_apt_install postgresql
  [[ -n "$(find_bindir)" ]] || hl_die "postgresql installed but no initdb/pg_ctl found"
  hl_log "installed PostgreSQL in $(hl_elapsed "$t0")s: $(find_bindir)"
}

password() {
  if [[ -n "${PG_PASSWORD:-}" ]]; then
    printf '%s\n' "$PG_PASSWORD"
  elif [[ -s "$PWFILE" ]]; then
    cat "$PWFILE"
  else
    hl_die "no password yet: run '$0 start' first (or set PG_PASSWORD)"
  fi
}

ensure_password_file() {
  [[ -n "${PG_PASSWORD:-}" || -s "$PWFILE" ]] && return 0
  (
    umask 077
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$PWFILE"
  )
}

prepare_dirs() {
  mkdir -p "$STATE"
  if [[ "$(id -u)" -eq 0 && "$PG_OS_USER" != root ]]; then
    id "$PG_OS_USER" >/dev/null 2>&1 || hl_die "system user $PG_OS_USER missing (set PG_OS_USER)"
    mkdir -p "$DATA" "$SOCK"
    chown "$PG_OS_USER:" "$DATA" "$SOCK"
    chmod 700 "$DATA" "$SOCK"
    touch "$LOGFILE"
    chown "$PG_OS_USER:" "$LOGFILE"
    as_server test -x "$DATA" -a -w "$SOCK" ||
      hl_die "$PG_OS_USER cannot reach $STATE (a parent directory is private): set HYPERLORA_STATE_DIR"
  else
    mkdir -p "$DATA" "$SOCK"
    chmod 700 "$DATA" "$SOCK"
  fi
}

write_config() {
  local conf="$DATA/postgresql.conf"
  grep -q "^include_if_exists = 'hyperlora.conf'" "$conf" ||
    printf "\ninclude_if_exists = 'hyperlora.conf'\n" | as_server tee -a "$conf" >/dev/null
  as_server tee "$DATA/hyperlora.conf" >/dev/null <<EOF
# Written by deploy/postgres/postgres.sh on every start: edit the script's settings instead.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SOCK'
max_connections = 300
shared_buffers = 64MB
password_encryption = 'scram-sha-256'
logging_collector = off
log_min_messages = warning
EOF
  as_server tee "$DATA/pg_hba.conf" >/dev/null <<EOF
# Written by deploy/postgres/postgres.sh. The socket dir is private to the server account.
local   all   all                    trust
host    all   all   127.0.0.1/32     scram-sha-256
EOF
}

running() {
  local bindir
  bindir="$(find_bindir)"
  [[ -n "$bindir" && -f "$DATA/PG_VERSION" ]] || return 1
  as_server "$bindir/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

psql_admin() {
  as_server "$(find_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PG_PORT" \
    -U postgres -d postgres
}

ensure_role_and_db() {
  local pw
  pw="$(password)"
  [[ "$pw" != *"'"* ]] || hl_die "PG_PASSWORD must not contain a single quote"
  psql_admin <<EOF
SELECT format('CREATE ROLE %I LOGIN', '$PG_USER')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER') \gexec
ALTER ROLE "$PG_USER" WITH LOGIN PASSWORD '$pw';
SELECT format('CREATE DATABASE %I OWNER %I', '$PG_DATABASE', '$PG_USER')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE') \gexec
EOF
}

cmd_start() {
  local t0 bindir
  t0="$(hl_now_ns)"
  cmd_install
  bindir="$(find_bindir)"
  prepare_dirs
  ensure_password_file
  if running; then
    hl_log "already running on 127.0.0.1:$PG_PORT (data $DATA)"
    ensure_role_and_db
    return 0
  fi
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    hl_log "initdb in $DATA (server account $PG_OS_USER)"
    as_server "$bindir/initdb" -D "$DATA" -U postgres -E UTF8 --no-locale \
      --auth-local=trust --auth-host=scram-sha-256 >>"$LOGFILE" 2>&1 ||
      hl_die "initdb failed (see $LOGFILE)"
  fi
  if hl_port_open 127.0.0.1 "$PG_PORT"; then
    hl_die "port $PG_PORT is taken by another process (set PG_PORT)"
  fi
  write_config
  hl_log "starting PostgreSQL $(cat "$DATA/PG_VERSION") on 127.0.0.1:$PG_PORT"
  as_server "$bindir/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t "$PG_WAIT_TIMEOUT" start >/dev/null ||
    hl_die "pg_ctl start failed (see $LOGFILE)"
  ensure_role_and_db
  hl_log "ready in $(hl_elapsed "$t0")s: database $PG_DATABASE, role $PG_USER"
}

cmd_stop() {
  local bindir
  if ! running; then
    hl_log "postgres is not running"
    return 0
  fi
  bindir="$(find_bindir)"
  hl_log "stopping PostgreSQL (data $DATA)"
  if ! as_server "$bindir/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1; then
    hl_log "fast shutdown timed out: immediate"
    as_server "$bindir/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  hl_log "postgres stopped"
}

cmd_status() {
  if running; then
    echo "postgres running port=$PG_PORT pid=$(head -n1 "$DATA/postmaster.pid") data=$DATA"
    return 0
  fi
  echo "postgres stopped"
  return 3
}

cmd_url() {
  printf 'postgresql+asyncpg://%s:%s@127.0.0.1:%s/%s\n' \
    "$PG_USER" "$(password)" "$PG_PORT" "$PG_DATABASE"
}

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
  url) cmd_url ;;
  clean) cmd_clean ;;
  *)
    echo "usage: $0 {install|start|stop|status|url|clean}" >&2
    exit 2
    ;;
esac
