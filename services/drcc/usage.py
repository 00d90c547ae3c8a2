"""Network-wide channel usage over a sliding time window (pure; time passed in).

Airtime is accumulated in fixed bins per channel frequency and per data rate; bins older
than the window fall out. ``channel_load`` is the fraction of the window each channel was
busy; ``dr_load`` the fraction per data rate *per channel* (airtime of that DR over all
channels / (window x number of channels)), i.e. the load a device would see on one channel
of that DR group.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.lorawan.airtime import time_on_air
from services.lorawan.region import Region

#: MHDR (1) + FHDR without FOpts (7) + FPort (1) + MIC (4)
LORAWAN_OVERHEAD_BYTES = 13


def uplink_airtime_s(region: Region, dr: int, phy_len: int) -> float:
    """Time on air of a ``phy_len``-byte uplink at ``dr`` (0 for a non-LoRa data rate)."""
    d = region.data_rate(dr)
    if not d.is_lora or d.sf is None or d.bw_hz is None:
        return phy_len * 8 / float(d.bitrate or 50_000)
    return time_on_air(phy_len, d.sf, d.bw_hz)


@dataclass(slots=True)
class _Bin:
    index: int
    channel: dict[float, float] = field(default_factory=dict)
    dr: dict[int, float] = field(default_factory=dict)


class ChannelUsage:
    """Airtime per channel and data rate over the last ``window_s`` seconds."""

    def __init__(self, window_s: float = 600.0, bins: int = 20) -> None:
        if window_s <= 0 or bins < 1:
            raise ValueError("window_s must be > 0 and bins >= 1")
        self.window_s = float(window_s)
        self._width = self.window_s / bins
        self._bins: deque[_Bin] = deque()
        self._channel: dict[float, float] = {}
        self._dr: dict[int, float] = {}
        self._first_s: float | None = None

    def add(self, time_s: float, freq_hz: float, dr: int, airtime_s: float) -> None:
        if self._first_s is None:
            self._first_s = time_s
        idx = math.floor(time_s / self._width)
        self._expire(time_s)
        b = self._bins[-1] if self._bins and self._bins[-1].index == idx else None
        if b is None:
            b = _Bin(idx)
            # keep bins ordered even when a late record arrives
            if self._bins and self._bins[-1].index > idx:
                for old in self._bins:
                    if old.index == idx:
                        b = old
                        break
                else:
                    return  # older than every kept bin but still in the window: skip
            else:
                self._bins.append(b)
        b.channel[freq_hz] = b.channel.get(freq_hz, 0.0) + airtime_s
        b.dr[dr] = b.dr.get(dr, 0.0) + airtime_s
        self._channel[freq_hz] = self._channel.get(freq_hz, 0.0) + airtime_s
        self._dr[dr] = self._dr.get(dr, 0.0) + airtime_s

    def _expire(self, now_s: float) -> None:
        oldest = math.floor((now_s - self.window_s) / self._width) + 1
        while self._bins and self._bins[0].index < oldest:
            b = self._bins.popleft()
            for f, a in b.channel.items():
                self._channel[f] -= a
                if self._channel[f] <= 1e-12:
                    del self._channel[f]
            for d, a in b.dr.items():
                self._dr[d] -= a
                if self._dr[d] <= 1e-12:
                    del self._dr[d]

    def _span(self, now_s: float) -> float:
        if self._first_s is None:
            return self.window_s
        return max(min(self.window_s, now_s - self._first_s), self._width)

    def channel_load(self, now_s: float, channels: Iterable[float] = ()) -> dict[float, float]:
        """Busy fraction per channel (every channel seen, plus ``channels`` at 0)."""
        self._expire(now_s)
        span = self._span(now_s)
        out = dict.fromkeys(channels, 0.0)
        for f, a in self._channel.items():
            out[f] = a / span
        return out

    def dr_load(self, now_s: float, n_channels: int) -> dict[int, float]:
        """Busy fraction per data rate, per channel (``n_channels`` channels in use)."""
        self._expire(now_s)
        span = self._span(now_s) * max(n_channels, 1)
        return {d: a / span for d, a in self._dr.items()}
