"""Prometheus metrics of the join server, named hyperlora_join_server_<what>_total.

Process-wide counters (default registry); each service instance also keeps plain counts
(:class:`JoinServerCounters`) so tests and the CLI can read one instance's figures.
"""

from __future__ import annotations

from collections import Counter as _Tally
from dataclasses import dataclass, field

from prometheus_client import Counter

JOIN_REQUESTS = Counter(
    "hyperlora_join_server_join_requests",
    "JoinRequests received on js.join.request (redeliveries included)",
)
ACCEPTED = Counter(
    "hyperlora_join_server_accepted",
    "JoinRequests answered with a JoinAccept (new sessions; redeliveries counted apart)",
)
REJECTED = Counter(
    "hyperlora_join_server_rejected",
    "JoinRequests refused, by reason",
    ["reason"],
)
REDELIVERED = Counter(
    "hyperlora_join_server_redelivered",
    "Redelivered JoinRequests answered again with their first JoinAccept",
)
ERRORS = Counter(
    "hyperlora_join_server_errors",
    "JoinRequests whose handling failed on storage or bus errors (left to the bus to retry)",
    ["error"],
)


@dataclass(slots=True)
class JoinServerCounters:
    """One service instance's counts (``tally[name]``), same events as the Prometheus ones."""

    tally: _Tally[str] = field(default_factory=_Tally)

    def __getitem__(self, name: str) -> int:
        return self.tally[name]

    def add(self, name: str, n: int = 1) -> None:
        self.tally[name] += n
