"""Receive windows: RXParamSetup (0x05) and RXTimingSetup (0x08).

Layouts: LoRaWAN 1.1 sections 5.5 and 5.8 (identical in LoRaWAN 1.0.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from .base import (
    MacCommand,
    StatusAnswer,
    decode_frequency,
    encode_frequency,
    flag,
    uint,
)
from .base import frequency as frequency_field


@dataclass(frozen=True)
class RXParamSetupReq(MacCommand):
    """Set the RX1 data-rate offset, the RX2 data rate and the RX2 frequency (Hz).

    Payload: DLSettings (bit 7 RFU, RX1DROffset bits 6:4, RX2DataRate bits 3:0) then the
    frequency as 24 bits little-endian in 100 Hz steps.
    """

    CID: ClassVar[int] = 0x05
    UPLINK: ClassVar[bool] = False
    SIZE: ClassVar[int] = 4

    rx1_dr_offset: int = uint(3)
    rx2_data_rate: int = uint(4)
    frequency: int = frequency_field()

    def payload_to_bytes(self) -> bytes:
        dl_settings = (self.rx1_dr_offset << 4) | self.rx2_data_rate
        return bytes([dl_settings]) + encode_frequency(self.frequency)

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(
            rx1_dr_offset=(payload[0] >> 4) & 0x07,
            rx2_data_rate=payload[0] & 0x0F,
            frequency=decode_frequency(payload[1:4]),
        )


@dataclass(frozen=True)
class RXParamSetupAns(StatusAnswer):
    """Answer to RXParamSetupReq.

    Bit 2 RX1DROffset ACK, bit 1 RX2 data rate ACK, bit 0 channel ACK.
    """

    CID: ClassVar[int] = 0x05
    UPLINK: ClassVar[bool] = True

    rx1_dr_offset_ack: bool = flag()
    rx2_data_rate_ack: bool = flag()
    channel_ack: bool = flag()


@dataclass(frozen=True)
class RXTimingSetupReq(MacCommand):
    """Set the delay between the end of the uplink and RX1 (``delay`` 0 and 1 both mean 1 s)."""

    CID: ClassVar[int] = 0x08
    UPLINK: ClassVar[bool] = False
    SIZE: ClassVar[int] = 1

    delay: int = uint(4)

    @property
    def delay_seconds(self) -> int:
        """RECEIVE_DELAY1 in seconds (RX2 opens one second later)."""
        return max(1, self.delay)

    def payload_to_bytes(self) -> bytes:
        return bytes([self.delay])

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(delay=payload[0] & 0x0F)


@dataclass(frozen=True)
class RXTimingSetupAns(MacCommand):
    """Acknowledges RXTimingSetupReq."""

    CID: ClassVar[int] = 0x08
    UPLINK: ClassVar[bool] = True
