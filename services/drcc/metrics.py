"""Prometheus metrics of the DRCC service, named hyperlora_drcc_<what>_total.

Process-wide (default registry). Each service instance also keeps plain counters
(:class:`DrccCounters`) so tests can read one instance's figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import Counter

UPLINKS = Counter("hyperlora_drcc_uplinks", "ns.up.meta records taken into account")
DUPLICATES = Counter(
    "hyperlora_drcc_duplicates", "ns.up.meta records ignored (FCnt already in the history)"
)
SKIPPED = Counter("hyperlora_drcc_skipped", "Uplinks not controlled", ["reason"])
DECISIONS = Counter("hyperlora_drcc_decisions", "LinkADR decisions published", ["policy"])
ERRORS = Counter("hyperlora_drcc_errors", "Uplinks whose processing failed", ["error"])


@dataclass(slots=True)
class DrccCounters:
    handled: int = 0  # ns.up.meta records handled, whatever the outcome
    uplinks: int = 0
    duplicates: int = 0
    decisions: int = 0
    ledger_records: int = 0  # link_adr records published on ledger.tx
    skipped: dict[str, int] = field(default_factory=dict)
    errors: int = 0

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        SKIPPED.labels(reason).inc()
