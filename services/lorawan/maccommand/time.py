"""Network time: DeviceTime (0x0D), defined by LoRaWAN 1.0.3+ and 1.1 (section 5.13).

DeviceTimeAns carries the time of the end of the uplink that held DeviceTimeReq: a 32-bit
little-endian count of seconds since the GPS epoch (1980-01-06T00:00:00Z, no leap seconds)
followed by the fractional second in 1/256 s steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Self

from ..errors import InvalidParameter
from .base import MacCommand, uint

FRACTION_STEPS = 256


@dataclass(frozen=True)
class DeviceTimeReq(MacCommand):
    """The end-device asks for the current network time."""

    CID: ClassVar[int] = 0x0D
    UPLINK: ClassVar[bool] = True
    SINCE: ClassVar[str] = "1.0.3"


@dataclass(frozen=True)
class DeviceTimeAns(MacCommand):
    """Answer to DeviceTimeReq: ``seconds`` since the GPS epoch and ``fractional`` 1/256 s."""

    CID: ClassVar[int] = 0x0D
    UPLINK: ClassVar[bool] = False
    SIZE: ClassVar[int] = 5
    SINCE: ClassVar[str] = "1.0.3"

    seconds: int = uint(32)
    fractional: int = uint(8)

    @property
    def gps_time(self) -> float:
        """Seconds since the GPS epoch, with the fraction."""
        return self.seconds + self.fractional / FRACTION_STEPS

    @classmethod
    def from_gps_time(cls, gps_seconds: float) -> Self:
        """The answer for a GPS time in seconds, the fraction rounded to the nearest 1/256 s."""
        if not math.isfinite(gps_seconds) or gps_seconds < 0:
            raise InvalidParameter(f"DeviceTimeAns: invalid GPS time {gps_seconds!r}")
        steps = round(gps_seconds * FRACTION_STEPS)
        return cls(seconds=steps // FRACTION_STEPS, fractional=steps % FRACTION_STEPS)

    def payload_to_bytes(self) -> bytes:
        return self.seconds.to_bytes(4, "little") + bytes([self.fractional])

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(seconds=int.from_bytes(payload[0:4], "little"), fractional=payload[4])
