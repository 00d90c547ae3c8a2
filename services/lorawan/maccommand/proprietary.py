"""Proprietary MAC commands (CID 0x80..0xFF, LoRaWAN 1.1 section 5).

Their length is not defined by the specification, so a proprietary command takes every byte
that follows it; it must therefore be the last command of a block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from ..errors import InvalidParameter, MalformedPacket
from .base import MacCommand

PROPRIETARY_CID_MIN = 0x80
PROPRIETARY_CID_MAX = 0xFF


@dataclass(frozen=True)
class ProprietaryMacCommand(MacCommand):
    """A network-specific command: its CID (``cid_value``), raw ``payload`` and direction."""

    CID: ClassVar[int] = PROPRIETARY_CID_MIN
    UPLINK: ClassVar[bool] = True

    cid_value: int
    payload: bytes = b""
    uplink: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.cid_value, int) or isinstance(self.cid_value, bool):
            raise InvalidParameter(f"Proprietary: CID must be an integer, got {self.cid_value!r}")
        if not PROPRIETARY_CID_MIN <= self.cid_value <= PROPRIETARY_CID_MAX:
            raise InvalidParameter(f"Proprietary: CID 0x{self.cid_value:X} outside 0x80..0xFF")
        if not isinstance(self.payload, bytes | bytearray):
            raise InvalidParameter("Proprietary: payload must be bytes")
        if not isinstance(self.uplink, bool):
            raise InvalidParameter("Proprietary: uplink must be a bool")
        object.__setattr__(self, "payload", bytes(self.payload))

    @classmethod
    def name(cls) -> str:
        return "Proprietary"

    @property
    def command_id(self) -> int:
        return self.cid_value

    @property
    def is_uplink(self) -> bool:
        return self.uplink

    def payload_to_bytes(self) -> bytes:
        return self.payload

    @classmethod
    def from_payload(cls, payload: bytes) -> Self:
        raise MalformedPacket("Proprietary: use from_bytes (the CID is part of the command)")

    @classmethod
    def from_bytes(cls, data: bytes, uplink: bool = True) -> Self:
        if not data:
            raise MalformedPacket("Proprietary: empty")
        if not PROPRIETARY_CID_MIN <= data[0] <= PROPRIETARY_CID_MAX:
            raise MalformedPacket(f"Proprietary: CID 0x{data[0]:02X} is not proprietary")
        return cls(cid_value=data[0], payload=bytes(data[1:]), uplink=uplink)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cid": self.name(),
            "cid_value": self.cid_value,
            "payload": self.payload.hex(),
            "uplink": self.uplink,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        try:
            payload = bytes.fromhex(str(data.get("payload", "")))
            return cls(
                cid_value=data["cid_value"], payload=payload, uplink=data.get("uplink", True)
            )
        except (KeyError, ValueError) as exc:
            raise InvalidParameter(f"Proprietary: bad dictionary {data!r}") from exc
