"""PULL_DATA (0x02): gateway -> server keep-alive that opens the downlink route (12 bytes).

Bytes | Function
0     | protocol version = 2
1-2   | random token
3     | PULL_DATA identifier 0x02
4-11  | gateway EUI
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from services.lorawan.types import EUI64

from .header import (
    GW_EUI_SIZE,
    HEADER_SIZE,
    PROTOCOL_VERSION,
    PacketType,
    check_token,
    check_version,
    encode_header,
    expect_length,
    parse_gw_eui,
    parse_header,
)


@dataclass(frozen=True, slots=True)
class PullData:
    token: int
    gw_eui: EUI64
    version: int = PROTOCOL_VERSION
    packet_type: ClassVar[PacketType] = PacketType.PULL_DATA

    def __post_init__(self) -> None:
        check_token(self.token)
        check_version(self.version)

    @classmethod
    def from_bytes(cls, data: bytes) -> PullData:
        header = parse_header(data)
        gw_eui = parse_gw_eui(data, "PULL_DATA")
        expect_length(data, HEADER_SIZE + GW_EUI_SIZE, "PULL_DATA")
        return cls(token=header.token, gw_eui=gw_eui, version=header.version)

    def to_bytes(self) -> bytes:
        return encode_header(self.version, self.token, self.packet_type) + self.gw_eui.value
