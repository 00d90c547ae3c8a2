"""MHDR: the one-byte MAC header (MType, RFU, Major)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .errors import UnknownMessageType

__all__ = ["MHDR", "MType", "Major"]


class MType(IntEnum):
    """Message type (MHDR bits 7..5)."""

    JOIN_REQUEST = 0
    JOIN_ACCEPT = 1
    UNCONFIRMED_DATA_UP = 2
    UNCONFIRMED_DATA_DOWN = 3
    CONFIRMED_DATA_UP = 4
    CONFIRMED_DATA_DOWN = 5
    REJOIN_REQUEST = 6
    PROPRIETARY = 7

    @property
    def is_uplink(self) -> bool:
        """True for frames sent by the end-device (proprietary frames count as downlinks)."""
        return self in _UPLINK

    @property
    def is_data(self) -> bool:
        """True for the four data MTypes (which carry a MACPayload)."""
        return self in _DATA

    @property
    def is_confirmed(self) -> bool:
        return self is MType.CONFIRMED_DATA_UP or self is MType.CONFIRMED_DATA_DOWN

    @property
    def label(self) -> str:
        """CamelCase name, e.g. ``UnconfirmedDataUp``."""
        return "".join(part.capitalize() for part in self.name.split("_"))


_UPLINK = frozenset(
    {MType.JOIN_REQUEST, MType.UNCONFIRMED_DATA_UP, MType.CONFIRMED_DATA_UP, MType.REJOIN_REQUEST}
)
_DATA = frozenset(
    {
        MType.UNCONFIRMED_DATA_UP,
        MType.UNCONFIRMED_DATA_DOWN,
        MType.CONFIRMED_DATA_UP,
        MType.CONFIRMED_DATA_DOWN,
    }
)


class Major(IntEnum):
    """Major version of the frame format (MHDR bits 1..0); only LoRaWAN R1 is defined."""

    LORAWAN_R1 = 0


@dataclass(frozen=True, slots=True)
class MHDR:
    """The MAC header. ``rfu`` keeps bits 4..2 so that a decoded frame re-encodes identically."""

    m_type: MType
    major: Major = Major.LORAWAN_R1
    rfu: int = 0

    def to_byte(self) -> int:
        return (int(self.m_type) << 5) | ((self.rfu & 0x07) << 2) | int(self.major)

    def to_bytes(self) -> bytes:
        return bytes((self.to_byte(),))

    @classmethod
    def from_byte(cls, value: int) -> MHDR:
        """Decode one MHDR byte; a major version other than R1 raises UnknownMessageType."""
        try:
            return _MHDR_CACHE[value]
        except (KeyError, TypeError):
            raise UnknownMessageType(f"MHDR 0x{value:02x}: unknown major version") from None

    def to_dict(self) -> dict[str, object]:
        return {"m_type": self.m_type.label, "major": "LoRaWANR1", "rfu": self.rfu}


def _build_cache() -> dict[int, MHDR]:
    cache: dict[int, MHDR] = {}
    for v in range(256):
        if v & 0x03 == 0:
            cache[v] = MHDR(MType(v >> 5), Major.LORAWAN_R1, (v >> 2) & 0x07)
    return cache


_MHDR_CACHE = _build_cache()
