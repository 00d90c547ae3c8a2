"""Deduplication of the copies of one frame received by several gateways (pure).

The key is the PHYPayload bytes: every gateway that heard one transmission forwards the same
bytes. The first copy opens a window (default 200 ms); copies arriving before its end are
merged, keeping every gateway's RxMetadata (one entry per gateway: the best SNR/RSSI copy when
a gateway reports the frame twice). At the window end the group is complete.

A copy arriving shortly after its window closed (``late_s``) is reported as ``LATE`` so the
caller drops it instead of treating it as a new transmission. Join requests use the same
structure (same bytes = same request).

Time is a float in seconds from an injected monotonic source; nothing here sleeps. The asyncio
part that fires at each window end is services.network_server.dedup_runner.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum

from services.bus.messages import GatewayUplink, RxMetadata


class AddResult(StrEnum):
    FIRST = "first"  # opened a window: schedule its end
    MERGED = "merged"  # joined an open window (a duplicate)
    LATE = "late"  # the window of these bytes closed moments ago: drop


def _rank(rx: RxMetadata) -> tuple[float, float]:
    return (rx.snr if rx.snr is not None else float("-inf"), rx.rssi)


@dataclass(slots=True)
class DedupGroup:
    """All copies of one frame: the bytes, the first message and one RxMetadata per gateway."""

    key: bytes
    first: GatewayUplink
    opened_at: float
    deadline: float
    rx_by_gw: dict[str, RxMetadata] = field(default_factory=dict)
    copies: int = 0

    def add(self, msg: GatewayUplink) -> None:
        self.copies += 1
        seen = self.rx_by_gw.get(msg.rx.gw_eui)
        if seen is None or _rank(msg.rx) > _rank(seen):
            self.rx_by_gw[msg.rx.gw_eui] = msg.rx

    @property
    def phy_payload(self) -> bytes:
        return self.key

    @property
    def rx(self) -> list[RxMetadata]:
        """Every gateway's metadata, best signal first."""
        return sorted(self.rx_by_gw.values(), key=_rank, reverse=True)

    @property
    def uplink_ids(self) -> str:
        return self.first.uplink_id


class Deduplicator:
    """Open windows keyed by PHYPayload bytes. Not thread-safe; one event loop uses it."""

    def __init__(self, window_s: float = 0.2, late_s: float | None = None) -> None:
        if window_s < 0:
            raise ValueError("window_s must be >= 0")
        self.window_s = window_s
        self.late_s = window_s if late_s is None else late_s
        self._open: dict[bytes, DedupGroup] = {}
        # key -> until when a copy counts as late, oldest first
        self._closed: OrderedDict[bytes, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    def add(self, msg: GatewayUplink, now: float) -> tuple[AddResult, DedupGroup | None]:
        """Add one copy. FIRST returns the new group (schedule ``group.deadline``)."""
        key = bytes(msg.phy_payload)
        group = self._open.get(key)
        if group is not None:
            group.add(msg)
            return AddResult.MERGED, group
        until = self._closed.get(key)
        if until is not None:
            if now < until:
                return AddResult.LATE, None
            del self._closed[key]
        group = DedupGroup(key=key, first=msg, opened_at=now, deadline=now + self.window_s)
        group.add(msg)
        self._open[key] = group
        return AddResult.FIRST, group

    def pop(self, key: bytes, now: float) -> DedupGroup | None:
        """Close the window of ``key`` (called at its deadline); None if already closed."""
        group = self._open.pop(key, None)
        if group is not None and self.late_s > 0:
            self._closed[key] = group.deadline + self.late_s
            self._closed.move_to_end(key)
        self._expire(now)
        return group

    def pop_due(self, now: float) -> list[DedupGroup]:
        """Close and return every window whose deadline has passed, oldest first."""
        due = sorted(
            (g for g in self._open.values() if g.deadline <= now), key=lambda g: g.deadline
        )
        return [g for g in (self.pop(g.key, now) for g in due) if g is not None]

    def pop_all(self, now: float) -> list[DedupGroup]:
        """Close every open window (on shutdown), oldest first."""
        groups = sorted(self._open.values(), key=lambda g: g.deadline)
        return [g for g in (self.pop(g.key, now) for g in groups) if g is not None]

    def next_deadline(self) -> float | None:
        return min((g.deadline for g in self._open.values()), default=None)

    def _expire(self, now: float) -> None:
        """Forget closed windows whose late period is over: from the oldest (windows close
        in deadline order, so this is O(expired), not O(closed) per call)."""
        closed = self._closed
        while closed:
            until = closed[next(iter(closed))]
            if until > now:
                break
            closed.popitem(last=False)
