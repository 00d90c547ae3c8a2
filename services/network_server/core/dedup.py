"""Deduplication of the copies of one frame received by several gateways (pure).

The key is the PHYPayload bytes: every gateway that heard one transmission forwards the same
bytes. The first copy opens a window (default 200 ms); copies arriving before its end are
merged, keeping every gateway's RxMetadata (one entry per gateway: the best SNR/RSSI copy when
a gateway reports the frame twice). At the window end the group is complete.

Adaptive early close (``early_close``): a data frame's window may close before its end once
as many distinct gateways have reported it as the device (its DevAddr) was heard by
recently — the largest gateway count of its last ``history_frames`` frames
(:class:`GatewayHistory`). A device with fewer than ``MIN_HISTORY`` frames in its history
(its first frames), a device heard by more gateways than have reported the frame so far, a
device whose previous frame's window is still open (order) and join requests wait the full
window.

A copy arriving after its window closed, until ``late_s`` after the window's full end, is
reported as ``LATE`` so the caller drops it (a *late duplicate*) instead of treating it as a
new transmission; a late copy from a gateway the group did not have raises the device's
count in the history, so the next frames wait for that gateway too. Join requests use the
same structure (same bytes = same request).

Time is a float in seconds from an injected monotonic source; nothing here sleeps. The asyncio
part that fires at each window end is services.network_server.dedup_runner.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import StrEnum

from services.bus.messages import GatewayUplink, RxMetadata

MIN_HISTORY = 2  # frames of a device seen before its windows may close early
HISTORY_DEVICES = 100_000  # devices remembered (least recently heard forgotten first)
_DATA_UP_MTYPES = (2, 4)


class AddResult(StrEnum):
    FIRST = "first"  # opened a window: schedule its end
    MERGED = "merged"  # joined an open window (a duplicate)
    LATE = "late"  # the window of these bytes closed: drop (a late duplicate)


def _rank(rx: RxMetadata) -> tuple[float, float]:
    return (rx.snr if rx.snr is not None else float("-inf"), rx.rssi)


def device_of(phy_payload: bytes) -> bytes | None:
    """The DevAddr bytes of a data uplink (what the gateway history is kept by), else None."""
    if len(phy_payload) >= 5 and phy_payload[0] >> 5 in _DATA_UP_MTYPES:
        return phy_payload[1:5]
    return None


@dataclass(slots=True)
class DedupGroup:
    """All copies of one frame: the bytes, the first message and one RxMetadata per gateway."""

    key: bytes
    first: GatewayUplink
    opened_at: float
    deadline: float  # the end of the full window
    rx_by_gw: dict[str, RxMetadata] = field(default_factory=dict)
    copies: int = 0
    device: bytes | None = None  # DevAddr bytes (data uplinks)
    expected: int | None = None  # gateways after which the window may close early

    def add(self, msg: GatewayUplink) -> None:
        self.copies += 1
        seen = self.rx_by_gw.get(msg.rx.gw_eui)
        if seen is None or _rank(msg.rx) > _rank(seen):
            self.rx_by_gw[msg.rx.gw_eui] = msg.rx

    @property
    def ready(self) -> bool:
        """Every gateway expected has reported: the window may close now."""
        return self.expected is not None and len(self.rx_by_gw) >= self.expected

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


class GatewayHistory:
    """How many distinct gateways heard each device's last ``frames`` frames (bounded)."""

    def __init__(self, frames: int = 8, max_devices: int = HISTORY_DEVICES) -> None:
        if frames < 1:
            raise ValueError("frames must be >= 1")
        self.frames = frames
        self._max_devices = max_devices
        self._counts: OrderedDict[bytes, deque[int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._counts)

    def expected(self, device: bytes) -> int | None:
        """The largest recent gateway count, or None while fewer than MIN_HISTORY frames."""
        counts = self._counts.get(device)
        if counts is None or len(counts) < min(MIN_HISTORY, self.frames):
            return None
        return max(counts)

    def record(self, device: bytes, gateways: int) -> None:
        counts = self._counts.get(device)
        if counts is None:
            if len(self._counts) >= self._max_devices:
                self._counts.popitem(last=False)
            counts = self._counts[device] = deque(maxlen=self.frames)
        else:
            self._counts.move_to_end(device)
        counts.append(gateways)

    def raise_last(self, device: bytes, gateways: int) -> None:
        """A late copy from a new gateway: the device's last frame had ``gateways``."""
        counts = self._counts.get(device)
        if counts:
            counts[-1] = max(counts[-1], gateways)


@dataclass(slots=True)
class _Closed:
    until: float  # copies count as late until then
    device: bytes | None
    gateways: set[str]


class Deduplicator:
    """Open windows keyed by PHYPayload bytes. Not thread-safe; one event loop uses it."""

    def __init__(
        self,
        window_s: float = 0.2,
        late_s: float | None = None,
        *,
        early_close: bool = False,
        history_frames: int = 8,
    ) -> None:
        if window_s < 0:
            raise ValueError("window_s must be >= 0")
        self.window_s = window_s
        self.late_s = window_s if late_s is None else late_s
        self.early_close = early_close
        self.history = GatewayHistory(history_frames)
        self._open: dict[bytes, DedupGroup] = {}
        self._open_by_device: dict[bytes, int] = {}  # device -> open windows
        # key -> until when a copy counts as late, oldest first
        self._closed: OrderedDict[bytes, _Closed] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    def add(self, msg: GatewayUplink, now: float) -> tuple[AddResult, DedupGroup | None]:
        """Add one copy. FIRST returns the new group (schedule ``group.deadline``, or close
        it at once if ``group.ready``); MERGED returns its group (close it if ready now)."""
        key = bytes(msg.phy_payload)
        group = self._open.get(key)
        if group is not None:
            group.add(msg)
            return AddResult.MERGED, group
        closed = self._closed.get(key)
        if closed is not None:
            if now < closed.until:
                if msg.rx.gw_eui not in closed.gateways:
                    closed.gateways.add(msg.rx.gw_eui)
                    if closed.device is not None:
                        self.history.raise_last(closed.device, len(closed.gateways))
                return AddResult.LATE, None
            del self._closed[key]
        device = device_of(key)
        group = DedupGroup(
            key=key, first=msg, opened_at=now, deadline=now + self.window_s, device=device
        )
        group.add(msg)
        if device is not None:
            others = self._open_by_device.get(device, 0)
            if self.early_close and not others:
                group.expected = self.history.expected(device)
            self._open_by_device[device] = others + 1
        self._open[key] = group
        return AddResult.FIRST, group

    def pop(self, key: bytes, now: float) -> DedupGroup | None:
        """Close the window of ``key`` (at its deadline, or early); None if already closed."""
        group = self._open.pop(key, None)
        if group is not None:
            device = group.device
            if device is not None:
                left = self._open_by_device.get(device, 1) - 1
                if left > 0:
                    self._open_by_device[device] = left
                else:
                    self._open_by_device.pop(device, None)
                self.history.record(device, len(group.rx_by_gw))
            if self.late_s > 0:
                until = group.deadline + self.late_s  # the full window's end, even if early
                self._closed[key] = _Closed(until, device, set(group.rx_by_gw))
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
        """Forget closed windows whose late period is over, from the oldest. Windows close
        roughly in deadline order (early closes come sooner), so this stops at the first
        entry still running: O(expired) per call; an entry behind a longer one waits."""
        closed = self._closed
        while closed:
            entry = closed[next(iter(closed))]
            if entry.until > now:
                break
            closed.popitem(last=False)
