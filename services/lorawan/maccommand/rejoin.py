"""LoRaWAN 1.1 session management: ResetInd/Conf (0x01), RekeyInd/Conf (0x0B),
ForceRejoinReq (0x0E) and RejoinParamSetup (0x0F).

Layouts: LoRaWAN 1.1 sections 5.1, 5.11, 5.14 and 5.15. None of these exists in 1.0.x.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from .base import MacCommand, StatusAnswer, flag, uint


@dataclass(frozen=True)
class _VersionCommand(MacCommand):
    """One byte: bits 7:4 RFU, bits 3:0 the LoRaWAN minor version (1 = LoRaWAN x.1)."""

    SIZE: ClassVar[int] = 1
    SINCE: ClassVar[str] = "1.1"

    minor_version: int = uint(4)

    def payload_to_bytes(self) -> bytes:
        return bytes([self.minor_version])

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(minor_version=payload[0] & 0x0F)


@dataclass(frozen=True)
class ResetInd(_VersionCommand):
    """An ABP end-device signals a reset and its LoRaWAN minor version."""

    CID: ClassVar[int] = 0x01
    UPLINK: ClassVar[bool] = True


@dataclass(frozen=True)
class ResetConf(_VersionCommand):
    """Answer to ResetInd with the network server's LoRaWAN minor version."""

    CID: ClassVar[int] = 0x01
    UPLINK: ClassVar[bool] = False


@dataclass(frozen=True)
class RekeyInd(_VersionCommand):
    """An OTAA end-device confirms its new security context and its LoRaWAN minor version."""

    CID: ClassVar[int] = 0x0B
    UPLINK: ClassVar[bool] = True


@dataclass(frozen=True)
class RekeyConf(_VersionCommand):
    """Answer to RekeyInd with the network server's LoRaWAN minor version."""

    CID: ClassVar[int] = 0x0B
    UPLINK: ClassVar[bool] = False


@dataclass(frozen=True)
class ForceRejoinReq(MacCommand):
    """The network asks the end-device to send a Rejoin-request (no answer is sent).

    The specification draws the payload as one 16-bit field: bits 15:14 RFU, 13:11 Period,
    10:8 Max_Retries, 7 RFU, 6:4 RejoinType (0 or 1: type 0, 2: type 2), 3:0 DR. Implementations
    disagree on its byte order. HyperLoRa sends bits 15:8 first (byte 0 = RFU | Period |
    Max_Retries, byte 1 = RFU | RejoinType | DR), the order Semtech's LoRaMac-node reference
    end-device, Mbed OS and The Things Stack read and write; ChirpStack's lrwn crate uses the
    opposite (little-endian) order.
    """

    CID: ClassVar[int] = 0x0E
    UPLINK: ClassVar[bool] = False
    SIZE: ClassVar[int] = 2
    SINCE: ClassVar[str] = "1.1"

    period: int = uint(3)
    max_retries: int = uint(3)
    rejoin_type: int = uint(3)
    dr: int = uint(4)

    @property
    def retry_delay_seconds(self) -> int:
        """Base delay between retransmissions, 32 s * 2**period (plus a random 0..32 s)."""
        return 32 << self.period

    @property
    def request_type(self) -> int | None:
        """The Rejoin-request type to send (0 or 2), None for an RFU value."""
        if self.rejoin_type in (0, 1):
            return 0
        if self.rejoin_type == 2:
            return 2
        return None

    def payload_to_bytes(self) -> bytes:
        return bytes([(self.period << 3) | self.max_retries, (self.rejoin_type << 4) | self.dr])

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(
            period=(payload[0] >> 3) & 0x07,
            max_retries=payload[0] & 0x07,
            rejoin_type=(payload[1] >> 4) & 0x07,
            dr=payload[1] & 0x0F,
        )


@dataclass(frozen=True)
class RejoinParamSetupReq(MacCommand):
    """Ask for a periodic type 0 Rejoin-request every 2**(max_count_n+4) uplinks or
    2**(max_time_n+10) seconds, whichever comes first.
    """

    CID: ClassVar[int] = 0x0F
    UPLINK: ClassVar[bool] = False
    SIZE: ClassVar[int] = 1
    SINCE: ClassVar[str] = "1.1"

    max_time_n: int = uint(4)
    max_count_n: int = uint(4)

    @property
    def max_time_seconds(self) -> int:
        return 1 << (self.max_time_n + 10)

    @property
    def max_count(self) -> int:
        return 1 << (self.max_count_n + 4)

    def payload_to_bytes(self) -> bytes:
        return bytes([(self.max_time_n << 4) | self.max_count_n])

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        cls._check_size(payload)
        return cls(max_time_n=payload[0] >> 4, max_count_n=payload[0] & 0x0F)


@dataclass(frozen=True)
class RejoinParamSetupAns(StatusAnswer):
    """Answer to RejoinParamSetupReq: bit 0 TimeOK (the device accepts the time limit)."""

    CID: ClassVar[int] = 0x0F
    UPLINK: ClassVar[bool] = True
    SINCE: ClassVar[str] = "1.1"

    time_ok: bool = flag()
