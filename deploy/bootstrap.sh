#!/usr/bin/env bash
# Prepare a fresh machine for HyperLoRa: a virtualenv in .venv with the pinned Python packages,
# and (with --interop) the independent LoRaWAN implementation used by the cross-check tests.
# Safe to run again: it only does what is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
log() { printf '[bootstrap] %s\n' "$*" >&2; }

if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=".venv/.hyperlora-deps"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  log "installing Python packages (pinned in pyproject.toml)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
else
  log "Python packages up to date"
fi

for arg in "$@"; do
  case "$arg" in
    --interop)
      if [[ -f tests/interop/package.json ]]; then
        if [[ ! -d tests/interop/node_modules ]] || [[ tests/interop/package-lock.json -nt tests/interop/node_modules ]]; then
          log "installing the independent LoRaWAN implementation (npm: lora-packet)"
          (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
        fi
      fi
      ;;
    --mosquitto)
      if ! command -v mosquitto >/dev/null 2>&1 && [[ ! -x /usr/sbin/mosquitto ]]; then
        log "installing mosquitto (Debian package)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
      fi
      ;;
  esac
done
