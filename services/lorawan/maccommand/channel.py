"""Channel plan and transmit parameters: NewChannel (0x07), TxParamSetup (0x09), DlChannel (0x0A).

Layouts: LoRaWAN 1.1 sections 5.7, 5.9 and 5.10 (identical in LoRaWAN 1.0.4).
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

# MaxEIRP index to dBm (LoRaWAN 1.1 section 5.9, Table 18; 1.0.4 Table 11).
MAX_EIRP_DBM: tuple[int, ...] = (8, 10, 12, 13, 14, 16, 18, 20, 21, 24, 26, 27, 29, 30, 33, 36)


@dataclass(frozen=True)
class NewChannelReq(MacCommand):
    """Create, modify or (``freq`` 0) disable the uplink channel ``ch_index``.

    Payload: ChIndex, Freq (24 bits LE, 100 Hz steps), DrRange (MaxDR bits 7:4, MinDR 3:0).
    """

    CID: ClassVar[int] = 0x07
    UPLINK: ClassVar[bool] = False
    SIZE: ClassVar[int] = 5

    ch_index: int = uint(8)
    freq: int = frequency()
    max_dr: int = uint(4)
    min_dr: int = uint(4)

    @property
    def disables_channel(self) -> bool:
        return self.freq == 0

    def payload_to_bytes(self) -> bytes:
        return (
            bytes([self.ch_index])
            + encode_frequency(self.freq)
            + bytes([(self.max_dr << 4) | self.min_dr])
        )

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(
            ch_index=payload[0],
            freq=decode_frequency(payload[1:4]),
            max_dr=payload[4] >> 4,
            min_dr=payload[4] & 0x0F,
        )


@dataclass(frozen=True)
class NewChannelAns(StatusAnswer):
    """Answer to NewChannelReq: bit 1 data rate range OK, bit 0 channel frequency OK."""

    CID: ClassVar[int] = 0x07
    UPLINK: ClassVar[bool] = True

    data_rate_range_ok: bool = flag()
    channel_freq_ok: bool = flag()


@dataclass(frozen=True)
class TxParamSetupReq(MacCommand):
    """Set the dwell times (True = 400 ms limit) and the maximum EIRP index.

    Payload: bits 7:6 RFU, bit 5 DownlinkDwellTime, bit 4 UplinkDwellTime, bits 3:0 MaxEIRP.
    """

    CID: ClassVar[int] = 0x09
    UPLINK: ClassVar[bool] = False
    SIZE: ClassVar[int] = 1

    downlink_dwell_time: bool = flag()
    uplink_dwell_time: bool = flag()
    max_eirp: int = uint(4)

    @property
    def max_eirp_dbm(self) -> int:
        """The maximum EIRP in dBm that ``max_eirp`` codes."""
        return MAX_EIRP_DBM[self.max_eirp]

    def payload_to_bytes(self) -> bytes:
        return bytes(
            [(self.downlink_dwell_time << 5) | (self.uplink_dwell_time << 4) | self.max_eirp]
        )

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        b = payload[0]
        return cls(downlink_dwell_time=bit(b, 5), uplink_dwell_time=bit(b, 4), max_eirp=b & 0x0F)


@dataclass(frozen=True)
class TxParamSetupAns(MacCommand):
    """Acknowledges TxParamSetupReq."""

    CID: ClassVar[int] = 0x09
    UPLINK: ClassVar[bool] = True


@dataclass(frozen=True)
class DlChannelReq(MacCommand):
    """Move the RX1 downlink frequency of channel ``ch_index`` to ``freq`` (Hz)."""

    CID: ClassVar[int] = 0x0A
    UPLINK: ClassVar[bool] = False
    SIZE: ClassVar[int] = 4

    ch_index: int = uint(8)
    freq: int = frequency()

    def payload_to_bytes(self) -> bytes:
        return bytes([self.ch_index]) + encode_frequency(self.freq)

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(ch_index=payload[0], freq=decode_frequency(payload[1:4]))


@dataclass(frozen=True)
class DlChannelAns(StatusAnswer):
    """Answer to DlChannelReq: bit 1 uplink frequency exists, bit 0 channel frequency OK."""

    CID: ClassVar[int] = 0x0A
    UPLINK: ClassVar[bool] = True

    uplink_freq_exists: bool = flag()
    channel_freq_ok: bool = flag()
