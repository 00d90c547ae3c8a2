"""Prometheus metrics of the network server, named hyperlora_network_server_<what>_total.

Process-wide (default registry). Each service instance also keeps plain counters
(:class:`NsCounters`) so tests can read one instance's figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Histogram

UPLINKS = Counter("hyperlora_network_server_uplinks", "Data uplinks accepted (after dedup)")
DUPLICATES = Counter(
    "hyperlora_network_server_duplicates", "Copies of a frame merged by the dedup window"
)
LATE_DUPLICATES = Counter(
    "hyperlora_network_server_late_duplicates",
    "Copies of a frame that arrived after its dedup window closed (dropped)",
)
JOIN_REQUESTS = Counter(
    "hyperlora_network_server_join_requests", "Join requests forwarded to the join server"
)
MIC_MISMATCH = Counter("hyperlora_network_server_mic_mismatch", "Uplinks with no valid MIC")
F_CNT_REPLAY = Counter("hyperlora_network_server_f_cnt_replay", "Uplinks with a replayed FCnt")
UNKNOWN_DEV_ADDR = Counter(
    "hyperlora_network_server_unknown_dev_addr", "Uplinks whose DevAddr has no session"
)
MALFORMED = Counter(
    "hyperlora_network_server_malformed", "Frames that could not be decoded", ["reason"]
)
RETRANSMISSIONS = Counter(
    "hyperlora_network_server_retransmissions", "NbTrans repetitions of the last accepted FCnt"
)
DOWNLINKS = Counter("hyperlora_network_server_downlinks", "Frames sent on gw.down", ["kind"])
TX_ACK_ERRORS = Counter(
    "hyperlora_network_server_tx_ack_errors", "TX_ACK errors reported by gateways", ["error"]
)
MAC_COMMANDS = Counter("hyperlora_network_server_mac_commands", "MAC commands received", ["cid"])
STALE_QUEUE_ITEMS = Counter(
    "hyperlora_network_server_stale_queue_items", "Queued downlinks dropped for a stale counter"
)
UPLINK_LATENCY = Histogram(
    "hyperlora_network_server_uplink_processing_seconds",
    "From the dedup window's end to the last publish of an uplink",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)


@dataclass(slots=True)
class NsCounters:
    uplinks: int = 0
    duplicates: int = 0
    late_duplicates: int = 0  # also counted in duplicates
    join_requests: int = 0
    mic_mismatch: int = 0
    f_cnt_replay: int = 0
    unknown_dev_addr: int = 0
    malformed: int = 0
    retransmissions: int = 0
    downlinks: int = 0
    tx_ack_errors: int = 0
    stale_queue_items: int = 0
    save_conflicts: int = 0
    session_broadcasts: int = 0  # ns.session_changed sent
    session_invalidations: int = 0  # ns.session_changed from other instances applied
