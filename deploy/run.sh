#!/usr/bin/env bash
# Run HyperLoRa in one process (the embedded mode): prepare the machine if needed, then
# `hyperlora run` with the arguments given (e.g. --data-dir ./var/data --udp-port 1700
# --http-port 8080 --host 0.0.0.0). Ctrl-C (SIGINT) or SIGTERM stops it cleanly.
# See docs/operating.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash deploy/bootstrap.sh
exec .venv/bin/hyperlora run "$@"
