# Shared helpers for the deploy/ engine scripts (sourced, not run).
#   HYPERLORA_STATE_DIR  data, configs, pid and log files (default: <repo>/var)
#   HYPERLORA_CACHE_DIR  downloads that survive a clean state dir (default: ~/.cache/hyperlora)
# shellcheck shell=bash

HL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HL_STATE_DIR="${HYPERLORA_STATE_DIR:-$HL_ROOT/var}"
HL_CACHE_DIR="${HYPERLORA_CACHE_DIR:-${HOME:-/root}/.cache/hyperlora}"
HL_NAME="${HL_NAME:-deploy}"

hl_log() { printf '[%s] %s\n' "$HL_NAME" "$*" >&2; }
hl_die() {
  printf '[%s] error: %s\n' "$HL_NAME" "$*" >&2
  exit 1
}

# hl_abs PATH: PATH made absolute (the directory need not exist yet).
hl_abs() {
  case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$PWD" "$1" ;;
  esac
}
HL_STATE_DIR="$(hl_abs "$HL_STATE_DIR")"
HL_CACHE_DIR="$(hl_abs "$HL_CACHE_DIR")"

# hl_pid_alive PIDFILE: true when the pid file names a running process.
hl_pid_alive() {
  local pidfile="$1" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null
}

# hl_port_open HOST PORT: true when something accepts TCP connections there.
hl_port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# hl_stop_pid NAME PIDFILE [GRACE_S]: SIGTERM, wait up to GRACE_S (default 30), then SIGKILL.
hl_stop_pid() {
  local name="$1" pidfile="$2" grace="${3:-30}" pid i
  if ! hl_pid_alive "$pidfile"; then
    rm -f "$pidfile"
    hl_log "$name is not running"
    return 0
  fi
  pid="$(cat "$pidfile")"
  hl_log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    hl_log "$name did not stop within ${grace}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$pidfile"
  hl_log "$name stopped"
}

# hl_apt_install PACKAGE...: install Debian packages (root, or sudo when available).
hl_apt_install() {
  local sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || hl_die "installing $* needs root (or sudo)"
    sudo=(sudo)
  fi
  hl_log "installing Debian packages: $*"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# hl_elapsed START_EPOCH_NS: seconds since START as a decimal string.
hl_now_ns() { date +%s%N; }
hl_elapsed() {
  local d=$(($(date +%s%N) - $1))
  printf '%d.%02d' $((d / 1000000000)) $(((d / 10000000) % 100))
}
