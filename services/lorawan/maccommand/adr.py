"""Adaptive data rate: LinkADR (0x03) and ADRParamSetup (0x0C, LoRaWAN 1.1 only).

Layouts: LoRaWAN 1.1 sections 5.3 and 5.12; LinkADR is identical in LoRaWAN 1.0.4.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Self

from ..errors import InvalidParameter
from .base import MacCommand, StatusAnswer, bit, flag, uint


@dataclass(frozen=True)
class LinkADRReq(MacCommand):
    """The network sets the data rate, TX power, channel mask and repetitions.

    ``ch_mask`` is the 16-bit ChMask as an integer: bit ``i`` enables channel ``i`` of the
    block selected by ``ch_mask_cntl`` (whose meaning is regional). ``nb_trans`` 0 means
    "keep the current value". A ``data_rate`` or ``tx_power`` of 15 means "keep the current
    value" (LoRaWAN 1.0.4 and 1.1).
    """

    CID: ClassVar[int] = 0x03
    UPLINK: ClassVar[bool] = False
    SIZE: ClassVar[int] = 4

    data_rate: int = uint(4)
    tx_power: int = uint(4)
    ch_mask: int = uint(16)
    ch_mask_cntl: int = uint(3)
    nb_trans: int = uint(4)

    @property
    def dr(self) -> int:
        """Alias of ``data_rate`` in the project vocabulary."""
        return self.data_rate

    @property
    def tx_power_index(self) -> int:
        """Alias of ``tx_power`` in the project vocabulary."""
        return self.tx_power

    @property
    def enabled_channels(self) -> list[int]:
        """Indices (0..15, within the ChMaskCntl block) of the channels the mask enables."""
        return [i for i in range(16) if bit(self.ch_mask, i)]

    @staticmethod
    def ch_mask_from_channels(channels: Iterable[int]) -> int:
        """The 16-bit ChMask enabling the given channel indices (0..15)."""
        mask = 0
        for channel in channels:
            if not 0 <= channel <= 15:
                raise InvalidParameter(f"LinkADRReq: channel index {channel} outside [0, 15]")
            mask |= 1 << channel
        return mask

    def payload_to_bytes(self) -> bytes:
        return (
            bytes([(self.data_rate << 4) | self.tx_power])
            + self.ch_mask.to_bytes(2, "little")
            + bytes([(self.ch_mask_cntl << 4) | self.nb_trans])
        )

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(
            data_rate=payload[0] >> 4,
            tx_power=payload[0] & 0x0F,
            ch_mask=int.from_bytes(payload[1:3], "little"),
            ch_mask_cntl=(payload[3] >> 4) & 0x07,
            nb_trans=payload[3] & 0x0F,
        )


@dataclass(frozen=True)
class LinkADRAns(StatusAnswer):
    """Answer to LinkADRReq: bit 2 power ACK, bit 1 data rate ACK, bit 0 channel mask ACK."""

    CID: ClassVar[int] = 0x03
    UPLINK: ClassVar[bool] = True

    power_ack: bool = flag()
    data_rate_ack: bool = flag()
    channel_mask_ack: bool = flag()


@dataclass(frozen=True)
class ADRParamSetupReq(MacCommand):
    """Set ADR_ACK_LIMIT = 2**limit_exp and ADR_ACK_DELAY = 2**delay_exp (LoRaWAN 1.1)."""

    CID: ClassVar[int] = 0x0C
    UPLINK: ClassVar[bool] = False
    SIZE: ClassVar[int] = 1
    SINCE: ClassVar[str] = "1.1"

    limit_exp: int = uint(4)
    delay_exp: int = uint(4)

    @property
    def adr_ack_limit(self) -> int:
        return 1 << self.limit_exp

    @property
    def adr_ack_delay(self) -> int:
        return 1 << self.delay_exp

    def payload_to_bytes(self) -> bytes:
        return bytes([(self.limit_exp << 4) | self.delay_exp])

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(limit_exp=payload[0] >> 4, delay_exp=payload[0] & 0x0F)


@dataclass(frozen=True)
class ADRParamSetupAns(MacCommand):
    """Acknowledges ADRParamSetupReq (LoRaWAN 1.1)."""

    CID: ClassVar[int] = 0x0C
    UPLINK: ClassVar[bool] = True
    SINCE: ClassVar[str] = "1.1"
