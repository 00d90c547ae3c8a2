"""Typed identifiers: EUI-64, DevAddr (with NetID type and prefix), NetID and AES-128 keys.

All are immutable, hashable, compare by value, print as upper-case hex in MSB-first order (the
way operators write them) and convert to and from the little-endian order used on the air.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .errors import InvalidKey


def _from_hex(text: str, size: int, what: str) -> bytes:
    cleaned = text.strip().replace(":", "").replace("-", "").replace(" ", "")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError as exc:
        raise InvalidKey(f"{what}: not hexadecimal: {text!r}") from exc
    if len(raw) != size:
        raise InvalidKey(f"{what}: expected {size} bytes, got {len(raw)}: {text!r}")
    return raw


@dataclass(frozen=True, slots=True)
class _Fixed:
    """A fixed-size byte string stored MSB first (the printed order)."""

    value: bytes
    SIZE: ClassVar[int] = 0
    NAME: ClassVar[str] = "value"

    def __post_init__(self) -> None:
        if not isinstance(self.value, bytes | bytearray) or len(self.value) != self.SIZE:
            raise InvalidKey(f"{self.NAME}: expected {self.SIZE} bytes")
        object.__setattr__(self, "value", bytes(self.value))

    @classmethod
    def from_hex(cls, text: str) -> _Fixed:
        return cls(_from_hex(text, cls.SIZE, cls.NAME))

    @classmethod
    def from_le(cls, raw: bytes) -> _Fixed:
        """From the little-endian order used on the air."""
        if len(raw) != cls.SIZE:
            raise InvalidKey(f"{cls.NAME}: expected {cls.SIZE} bytes")
        return cls(bytes(reversed(raw)))

    def to_le(self) -> bytes:
        return bytes(reversed(self.value))

    def __str__(self) -> str:
        return self.value.hex().upper()

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self}')"

    def __bytes__(self) -> bytes:
        return self.value


@dataclass(frozen=True, slots=True, repr=False)
class EUI64(_Fixed):
    """An IEEE EUI-64 (DevEUI, JoinEUI/AppEUI, gateway EUI)."""

    SIZE: ClassVar[int] = 8
    NAME: ClassVar[str] = "EUI64"

    @classmethod
    def from_hex(cls, text: str) -> EUI64:
        return cls(_from_hex(text, cls.SIZE, cls.NAME))

    @classmethod
    def from_le(cls, raw: bytes) -> EUI64:
        if len(raw) != cls.SIZE:
            raise InvalidKey(f"{cls.NAME}: expected {cls.SIZE} bytes")
        return cls(bytes(reversed(raw)))


@dataclass(frozen=True, slots=True, repr=False)
class AES128Key(_Fixed):
    """A 128-bit AES key. Keys are not byte-reversed on the air; ``to_le`` is not used for them."""

    SIZE: ClassVar[int] = 16
    NAME: ClassVar[str] = "AES128Key"

    @classmethod
    def from_hex(cls, text: str) -> AES128Key:
        return cls(_from_hex(text, cls.SIZE, cls.NAME))


# NetID type -> (NwkID bits in a DevAddr, prefix length in bits)
_NETID_TYPES: dict[int, tuple[int, int]] = {
    0: (6, 1),
    1: (6, 2),
    2: (9, 3),
    3: (11, 4),
    4: (12, 5),
    5: (13, 6),
    6: (15, 7),
    7: (17, 8),
}


@dataclass(frozen=True, slots=True, repr=False)
class NetID(_Fixed):
    """A 24-bit LoRa Alliance NetID: 3-bit type (MSBs) and a type-dependent NwkID."""

    SIZE: ClassVar[int] = 3
    NAME: ClassVar[str] = "NetID"

    @classmethod
    def from_hex(cls, text: str) -> NetID:
        return cls(_from_hex(text, cls.SIZE, cls.NAME))

    @classmethod
    def from_le(cls, raw: bytes) -> NetID:
        if len(raw) != cls.SIZE:
            raise InvalidKey(f"{cls.NAME}: expected {cls.SIZE} bytes")
        return cls(bytes(reversed(raw)))

    @property
    def type(self) -> int:
        return self.value[0] >> 5

    @property
    def nwk_id(self) -> int:
        """The NwkID placed in DevAddrs of this NetID (its low ``NwkID bits`` bits)."""
        bits, _ = _NETID_TYPES[self.type]
        return int.from_bytes(self.value, "big") & ((1 << bits) - 1)


@dataclass(frozen=True, slots=True, repr=False)
class DevAddr(_Fixed):
    """A 32-bit device address: a type prefix, the NwkID of its NetID, then the NwkAddr."""

    SIZE: ClassVar[int] = 4
    NAME: ClassVar[str] = "DevAddr"

    @classmethod
    def from_hex(cls, text: str) -> DevAddr:
        return cls(_from_hex(text, cls.SIZE, cls.NAME))

    @classmethod
    def from_le(cls, raw: bytes) -> DevAddr:
        if len(raw) != cls.SIZE:
            raise InvalidKey(f"{cls.NAME}: expected {cls.SIZE} bytes")
        return cls(bytes(reversed(raw)))

    @classmethod
    def from_int(cls, value: int) -> DevAddr:
        return cls((value & 0xFFFFFFFF).to_bytes(4, "big"))

    def __int__(self) -> int:
        return int.from_bytes(self.value, "big")

    @property
    def net_id_type(self) -> int | None:
        """The NetID type encoded by the prefix (number of leading 1 bits), or None if invalid."""
        v = int(self)
        for t in range(8):
            if not (v >> (31 - t)) & 1:
                return t
        return None

    @property
    def nwk_id(self) -> int | None:
        t = self.net_id_type
        if t is None:
            return None
        bits, prefix = _NETID_TYPES[t]
        return (int(self) >> (32 - prefix - bits)) & ((1 << bits) - 1)

    @property
    def nwk_addr(self) -> int | None:
        t = self.net_id_type
        if t is None:
            return None
        bits, prefix = _NETID_TYPES[t]
        return int(self) & ((1 << (32 - prefix - bits)) - 1)

    def belongs_to(self, net_id: NetID) -> bool:
        return self.net_id_type == net_id.type and self.nwk_id == net_id.nwk_id

    @classmethod
    def for_net_id(cls, net_id: NetID, nwk_addr: int) -> DevAddr:
        """Build a DevAddr from a NetID and a NwkAddr (which must fit the type's address bits)."""
        bits, prefix = _NETID_TYPES[net_id.type]
        addr_bits = 32 - prefix - bits
        if not 0 <= nwk_addr < (1 << addr_bits):
            raise InvalidKey(
                f"NwkAddr {nwk_addr} does not fit {addr_bits} bits for NetID type {net_id.type}"
            )
        prefix_value = ((1 << prefix) - 2) if prefix > 0 else 0  # prefix bits: t ones then a zero
        value = (prefix_value << (32 - prefix)) | (net_id.nwk_id << addr_bits) | nwk_addr
        return cls.from_int(value)

    @staticmethod
    def nwk_addr_bits(net_id: NetID) -> int:
        bits, prefix = _NETID_TYPES[net_id.type]
        return 32 - prefix - bits
