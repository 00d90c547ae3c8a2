"""Prometheus metrics of the ledger writer, named hyperlora_ledger_<what>_<unit>, per zone."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BACKLOG = Gauge(
    "hyperlora_ledger_backlog_records",
    "Records in the ledger writer's outbox, not yet committed",
    ["zone", "channel"],
)
COMMIT_LATENCY = Histogram(
    "hyperlora_ledger_commit_latency_seconds",
    "Time from a record entering the outbox to its transaction committing",
    ["zone"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
COMMITTED = Counter(
    "hyperlora_ledger_committed_records",
    "Records committed on the ledger (created, or found already stored)",
    ["zone", "channel", "result"],
)
FAILED = Counter(
    "hyperlora_ledger_failed_records",
    "Records the chaincode refused for good (moved to the outbox's failed table)",
    ["zone", "channel", "error"],
)
RETRIES = Counter(
    "hyperlora_ledger_submit_retries",
    "Transactions retried (ledger unavailable, MVCC conflict, timeout)",
    ["zone", "channel", "reason"],
)
DUPLICATES = Counter(
    "hyperlora_ledger_duplicate_records",
    "ledger.tx records dropped because their idempotency key was already known",
    ["zone"],
)

# ledger side (embedded ledger; the Fabric adapter may feed the same series)
BLOCKS = Counter(
    "hyperlora_ledger_blocks",
    "Blocks committed, per ledger channel",
    ["channel"],
)
BLOCK_TXS = Histogram(
    "hyperlora_ledger_block_transactions",
    "Transactions per committed block",
    ["channel"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
TX_STATUS = Counter(
    "hyperlora_ledger_transactions",
    "Transactions committed in blocks, by validation code",
    ["channel", "status"],
)
