"""Prometheus metrics of the gateway bridge, named hyperlora_gateway_bridge_<what>_total.

Process-wide counters (default registry). Each bridge instance also keeps plain counters
(:class:`BridgeCounters`) so tests and the CLI can read one instance's figures.
"""

from __future__ import annotations

from collections import Counter as _Tally
from dataclasses import dataclass, field

from prometheus_client import Counter

DATAGRAMS = Counter(
    "hyperlora_gateway_bridge_datagrams",
    "UDP datagrams received, by Semtech packet type",
    ["type"],
)
MALFORMED = Counter(
    "hyperlora_gateway_bridge_malformed_datagrams",
    "Datagrams that could not be decoded as Semtech packets, or of a wrong direction",
    ["reason"],
)
UNKNOWN_GATEWAYS = Counter(
    "hyperlora_gateway_bridge_unknown_gateway_datagrams",
    "Datagrams from gateways the registry does not know, accepted or rejected by setting",
    ["action"],
)
UPLINKS = Counter(
    "hyperlora_gateway_bridge_uplinks",
    "rxpk published on gw.up",
)
UPLINKS_DROPPED = Counter(
    "hyperlora_gateway_bridge_uplinks_dropped",
    "rxpk not published (CRC failed or absent, missing fields, publish queue full)",
    ["reason"],
)
STATS = Counter(
    "hyperlora_gateway_bridge_stats",
    "Gateway status reports published on gw.stats",
)
DOWNLINKS = Counter(
    "hyperlora_gateway_bridge_downlinks",
    "gw.down messages, by outcome (sent, no_route, invalid, duplicate, send_error)",
    ["result"],
)
TX_ACKS = Counter(
    "hyperlora_gateway_bridge_tx_acks",
    "TX_ACK received and matched to a downlink, by error (NONE when programmed)",
    ["error"],
)
TX_ACKS_UNMATCHED = Counter(
    "hyperlora_gateway_bridge_tx_acks_unmatched",
    "TX_ACK whose token matches no pending downlink",
)
TX_ACK_TIMEOUTS = Counter(
    "hyperlora_gateway_bridge_tx_ack_timeouts",
    "Downlinks whose TX_ACK never came within the timeout",
)
PUBLISH_ERRORS = Counter(
    "hyperlora_gateway_bridge_publish_errors",
    "Bus publish calls that failed",
    ["topic"],
)


@dataclass(slots=True)
class BridgeCounters:
    """One bridge instance's counts (``tally[name]``) — same events as the Prometheus ones."""

    tally: _Tally[str] = field(default_factory=_Tally)

    def __getitem__(self, name: str) -> int:
        return self.tally[name]

    def add(self, name: str, n: int = 1) -> None:
        self.tally[name] += n
