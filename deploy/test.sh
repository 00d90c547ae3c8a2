#!/usr/bin/env bash
# Run HyperLoRa's test suite on a fresh machine: sets everything up, then runs pytest.
#   deploy/test.sh                 every tier (unit, interop, e2e, integration)
#   deploy/test.sh -m unit         one tier; any other pytest arguments pass through
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash deploy/bootstrap.sh --interop --mosquitto
.venv/bin/ruff check services simulator chaincode tests bench
.venv/bin/mypy
set +e
.venv/bin/python -m pytest -q "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
  echo "[test] pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit $rc
