"""Prometheus metrics of the embedded SQLite store, named hyperlora_sqlite_<what>_<unit>."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

WAL_BYTES = Gauge(
    "hyperlora_sqlite_wal_bytes",
    "Size of the SQLite write-ahead log after the last checkpoint",
)
CHECKPOINTS = Counter(
    "hyperlora_sqlite_checkpoints",
    "WAL checkpoints by mode (passive: copy what readers allow; restart: also let the next "
    "writer start the log again) and result (done, busy: a reader or writer was in the way)",
    ["mode", "result"],
)
