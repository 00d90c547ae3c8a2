"""Pure gateway state: who was seen when, where to send PULL_RESP, and pending downlinks.

Times are monotonic seconds passed in by the caller (no clock here); tokens come from an
injected source, so tests are deterministic.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from services.bus.messages import GatewayStats
from services.lorawan.types import EUI64

from .errors import NoDownlinkRoute

Address = tuple[str, int]


@dataclass(slots=True)
class GatewayState:
    gw_eui: EUI64
    first_seen: float
    last_seen: float
    push_addr: Address | None = None  # where PUSH_DATA came from
    pull_addr: Address | None = None  # where PULL_DATA came from: PULL_RESP goes there
    pull_seen: float | None = None
    version: int = 2  # protocol version of the last datagram
    push_count: int = 0
    pull_count: int = 0
    rx_count: int = 0  # rxpk forwarded
    rx_dropped: int = 0  # rxpk dropped (CRC)
    stats_count: int = 0
    tx_count: int = 0  # PULL_RESP sent
    tx_ack_errors: int = 0
    known: bool = True
    last_stats: GatewayStats | None = None  # the last gw.stats published for it


class GatewayRegistry:
    """Every gateway the bridge has heard from, in memory."""

    def __init__(self, route_ttl_s: float | None = None) -> None:
        self.route_ttl_s = route_ttl_s
        self._gateways: dict[EUI64, GatewayState] = {}

    def __len__(self) -> int:
        return len(self._gateways)

    def __contains__(self, gw_eui: object) -> bool:
        return gw_eui in self._gateways

    def get(self, gw_eui: EUI64) -> GatewayState | None:
        return self._gateways.get(gw_eui)

    def all(self) -> list[GatewayState]:
        return list(self._gateways.values())

    def seen(self, gw_eui: EUI64, now: float, version: int, known: bool = True) -> GatewayState:
        state = self._gateways.get(gw_eui)
        if state is None:
            state = self._gateways[gw_eui] = GatewayState(gw_eui, now, now)
        state.last_seen = now
        state.version = version
        state.known = known
        return state

    def on_push_data(
        self, gw_eui: EUI64, addr: Address, now: float, version: int = 2, known: bool = True
    ) -> GatewayState:
        state = self.seen(gw_eui, now, version, known)
        state.push_addr = addr
        state.push_count += 1
        return state

    def on_pull_data(
        self, gw_eui: EUI64, addr: Address, now: float, version: int = 2, known: bool = True
    ) -> GatewayState:
        state = self.seen(gw_eui, now, version, known)
        state.pull_addr = addr
        state.pull_seen = now
        state.pull_count += 1
        return state

    def downlink_route(self, gw_eui: EUI64, now: float) -> GatewayState:
        """The state of a gateway that can take a PULL_RESP now, or NoDownlinkRoute."""
        state = self._gateways.get(gw_eui)
        if state is None or state.pull_addr is None or state.pull_seen is None:
            raise NoDownlinkRoute(f"gateway {gw_eui} has not sent PULL_DATA")
        if self.route_ttl_s is not None and now - state.pull_seen > self.route_ttl_s:
            raise NoDownlinkRoute(
                f"gateway {gw_eui}: last PULL_DATA {now - state.pull_seen:.1f} s ago"
            )
        return state


@dataclass(frozen=True, slots=True)
class PendingDownlink:
    gw_eui: EUI64
    token: int
    downlink_id: str
    sent_at: float
    dev_eui: str | None = None
    retry: bytes = b""  # the network server's retry context, echoed on gw.tx_ack


@dataclass(slots=True)
class DownlinkTracker:
    """PULL_RESP tokens awaiting their TX_ACK, and the downlink ids already sent.

    ``issue`` picks a token not pending for that gateway; ``resolve`` matches a TX_ACK;
    ``expire`` drops entries older than ``ttl_s`` (the TX_ACK was lost). ``already_sent``
    makes a redelivered gw.down message (at-least-once bus) harmless.
    """

    token_source: Callable[[], int]
    ttl_s: float = 30.0
    remember_sent: int = 10_000
    _pending: dict[tuple[EUI64, int], PendingDownlink] = field(default_factory=dict)
    _sent: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._pending)

    def already_sent(self, downlink_id: str) -> bool:
        return downlink_id in self._sent

    def issue(
        self,
        gw_eui: EUI64,
        downlink_id: str,
        now: float,
        dev_eui: str | None = None,
        retry: bytes = b"",
    ) -> PendingDownlink:
        for _ in range(0x10000):
            token = self.token_source() & 0xFFFF
            if (gw_eui, token) not in self._pending:
                break
        else:  # 65536 downlinks pending for one gateway: reuse the oldest token
            token = min(
                (p for p in self._pending.values() if p.gw_eui == gw_eui),
                key=lambda p: p.sent_at,
            ).token
        pending = PendingDownlink(gw_eui, token, downlink_id, now, dev_eui, retry)
        self._pending[(gw_eui, token)] = pending
        self._sent[downlink_id] = None
        while len(self._sent) > self.remember_sent:
            self._sent.popitem(last=False)
        return pending

    def resolve(self, gw_eui: EUI64, token: int) -> PendingDownlink | None:
        return self._pending.pop((gw_eui, token), None)

    def expire(self, now: float) -> list[PendingDownlink]:
        old = [p for p in self._pending.values() if now - p.sent_at > self.ttl_s]
        for p in old:
            del self._pending[(p.gw_eui, p.token)]
        return old
