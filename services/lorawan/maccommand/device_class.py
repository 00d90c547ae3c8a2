"""Class B and class C commands: PingSlotInfo (0x10), PingSlotChannel (0x11), BeaconTiming
(0x12, deprecated since LoRaWAN 1.0.3), BeaconFreq (0x13) and DeviceMode (0x20, LoRaWAN 1.1).

Layouts: LoRaWAN 1.1 sections 14.1-14.4 and 18.1; LoRaWAN 1.0.4 class B chapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from .base import (
    MacCommand,
    StatusAnswer,
    bit,
    decode_frequency,
    encode_frequency,
    flag,
    frequency,
    uint,
)

DEVICE_CLASS_A = 0x00
DEVICE_CLASS_C = 0x02


@dataclass(frozen=True)
class PingSlotInfoReq(MacCommand):
    """A class B end-device reports its ping-slot periodicity (bits 2:0): every 2**n s."""

    CID: ClassVar[int] = 0x10
    UPLINK: ClassVar[bool] = True
    SIZE: ClassVar[int] = 1

    periodicity: int = uint(3)

    @property
    def ping_period_seconds(self) -> int:
        return 1 << self.periodicity

    def payload_to_bytes(self) -> bytes:
        return bytes([self.periodicity])

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(periodicity=payload[0] & 0x07)


@dataclass(frozen=True)
class PingSlotInfoAns(MacCommand):
    """Acknowledges PingSlotInfoReq."""

    CID: ClassVar[int] = 0x10
    UPLINK: ClassVar[bool] = False


@dataclass(frozen=True)
class PingSlotChannelReq(MacCommand):
    """Set the ping-slot frequency (Hz, 0 = regional default) and data rate (bits 3:0)."""

    CID: ClassVar[int] = 0x11
    UPLINK: ClassVar[bool] = False
    SIZE: ClassVar[int] = 4

    freq: int = frequency()
    dr: int = uint(4)

    def payload_to_bytes(self) -> bytes:
        return encode_frequency(self.freq) + bytes([self.dr])

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(freq=decode_frequency(payload[0:3]), dr=payload[3] & 0x0F)


@dataclass(frozen=True)
class PingSlotChannelAns(StatusAnswer):
    """Answer to PingSlotChannelReq: bit 1 data rate OK, bit 0 channel frequency OK."""

    CID: ClassVar[int] = 0x11
    UPLINK: ClassVar[bool] = True

    dr_ok: bool = flag()
    channel_freq_ok: bool = flag()


@dataclass(frozen=True)
class BeaconTimingReq(MacCommand):
    """Deprecated (LoRaWAN 1.0.2 class B): ask for the time to the next beacon."""

    CID: ClassVar[int] = 0x12
    UPLINK: ClassVar[bool] = True


@dataclass(frozen=True)
class BeaconTimingAns(MacCommand):
    """Deprecated: ``delay`` (16 bits LE, 30 ms steps) to the next beacon and its ``channel``."""

    CID: ClassVar[int] = 0x12
    UPLINK: ClassVar[bool] = False
    SIZE: ClassVar[int] = 3

    delay: int = uint(16)
    channel: int = uint(8)

    def payload_to_bytes(self) -> bytes:
        return self.delay.to_bytes(2, "little") + bytes([self.channel])

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(delay=int.from_bytes(payload[0:2], "little"), channel=payload[2])


@dataclass(frozen=True)
class BeaconFreqReq(MacCommand):
    """Set the beacon frequency (Hz, 0 = regional default)."""

    CID: ClassVar[int] = 0x13
    UPLINK: ClassVar[bool] = False
    SIZE: ClassVar[int] = 3

    freq: int = frequency()

    def payload_to_bytes(self) -> bytes:
        return encode_frequency(self.freq)

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(freq=decode_frequency(payload))


@dataclass(frozen=True)
class BeaconFreqAns(MacCommand):
    """Answer to BeaconFreqReq: bit 0 beacon frequency OK."""

    CID: ClassVar[int] = 0x13
    UPLINK: ClassVar[bool] = True
    SIZE: ClassVar[int] = 1

    beacon_freq_ok: bool = flag()

    def payload_to_bytes(self) -> bytes:
        return bytes([int(self.beacon_freq_ok)])

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(beacon_freq_ok=bit(payload[0], 0))


@dataclass(frozen=True)
class _DeviceModeCommand(MacCommand):
    """One byte: the device class (0x00 class A, 0x02 class C, other values RFU)."""

    SIZE: ClassVar[int] = 1
    SINCE: ClassVar[str] = "1.1"

    device_class: int = uint(8)

    @property
    def is_class_c(self) -> bool:
        return self.device_class == DEVICE_CLASS_C

    def payload_to_bytes(self) -> bytes:
        return bytes([self.device_class])

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(device_class=payload[0])


@dataclass(frozen=True)
class DeviceModeInd(_DeviceModeCommand):
    """A LoRaWAN 1.1 end-device switches between class A and class C."""

    CID: ClassVar[int] = 0x20
    UPLINK: ClassVar[bool] = True


@dataclass(frozen=True)
class DeviceModeConf(_DeviceModeCommand):
    """Answer to DeviceModeInd, echoing the class."""

    CID: ClassVar[int] = 0x20
    UPLINK: ClassVar[bool] = False
