"""Link checks, device status and duty cycle: LinkCheck (0x02), DutyCycle (0x04), DevStatus (0x06).

Layouts: LoRaWAN 1.1 sections 5.3, 5.4 and 5.6 (identical in LoRaWAN 1.0.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from .base import MacCommand, sint, uint


@dataclass(frozen=True)
class LinkCheckReq(MacCommand):
    """The end-device asks the network to confirm its connectivity."""

    CID: ClassVar[int] = 0x02
    UPLINK: ClassVar[bool] = True


@dataclass(frozen=True)
class LinkCheckAns(MacCommand):
    """Answer to LinkCheckReq.

    ``margin`` is the demodulation margin in dB of the last LinkCheckReq received by the best
    gateway (0..254; 255 is reserved), ``gw_cnt`` the number of gateways that received it.
    """

    CID: ClassVar[int] = 0x02
    UPLINK: ClassVar[bool] = False
    SIZE: ClassVar[int] = 2

    margin: int = uint(8)
    gw_cnt: int = uint(8)

    def payload_to_bytes(self) -> bytes:
        return bytes([self.margin, self.gw_cnt])

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(margin=payload[0], gw_cnt=payload[1])


@dataclass(frozen=True)
class DutyCycleReq(MacCommand):
    """Set the aggregated transmit duty cycle to ``1 / 2**max_duty_cycle`` (0 = no limit)."""

    CID: ClassVar[int] = 0x04
    UPLINK: ClassVar[bool] = False
    SIZE: ClassVar[int] = 1

    max_duty_cycle: int = uint(4)

    @property
    def aggregated_duty_cycle(self) -> float:
        """The aggregated duty cycle as a fraction (1.0 = no limit)."""
        return 1.0 / (1 << self.max_duty_cycle)

    def payload_to_bytes(self) -> bytes:
        return bytes([self.max_duty_cycle])

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(max_duty_cycle=payload[0] & 0x0F)


@dataclass(frozen=True)
class DutyCycleAns(MacCommand):
    """Acknowledges DutyCycleReq."""

    CID: ClassVar[int] = 0x04
    UPLINK: ClassVar[bool] = True


@dataclass(frozen=True)
class DevStatusReq(MacCommand):
    """The network asks for the end-device's battery level and demodulation margin."""

    CID: ClassVar[int] = 0x06
    UPLINK: ClassVar[bool] = False


BATTERY_EXTERNAL_POWER = 0
BATTERY_UNKNOWN = 255
BATTERY_MAX_LEVEL = 254


@dataclass(frozen=True)
class DevStatusAns(MacCommand):
    """Answer to DevStatusReq.

    ``battery``: 0 = connected to an external power source, 1..254 = battery level from
    minimum to maximum, 255 = the end-device cannot measure it. ``margin``: SNR in dB of the
    last successfully received DevStatusReq, rounded, a signed 6-bit value (-32..31).
    """

    CID: ClassVar[int] = 0x06
    UPLINK: ClassVar[bool] = True
    SIZE: ClassVar[int] = 2

    battery: int = uint(8)
    margin: int = sint(-32, 31)

    @property
    def external_power(self) -> bool:
        """True when the end-device reports an external power source."""
        return self.battery == BATTERY_EXTERNAL_POWER

    @property
    def battery_unknown(self) -> bool:
        """True when the end-device cannot measure its battery level."""
        return self.battery == BATTERY_UNKNOWN

    @property
    def battery_level(self) -> float | None:
        """Battery level in percent (1 -> 0.39 %, 254 -> 100 %).

        None when the end-device is externally powered or cannot measure the level.
        """
        if self.external_power or self.battery_unknown:
            return None
        return self.battery * 100.0 / BATTERY_MAX_LEVEL

    def payload_to_bytes(self) -> bytes:
        return bytes([self.battery, self.margin & 0x3F])

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        raw = payload[1] & 0x3F
        return cls(battery=payload[0], margin=raw - 64 if raw & 0x20 else raw)
