"""PULL_ACK (0x04): server -> gateway, four bytes echoing the PULL_DATA token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .header import (
    HEADER_SIZE,
    PROTOCOL_VERSION,
    PacketType,
    check_token,
    check_version,
    encode_header,
    expect_length,
    parse_header,
)


@dataclass(frozen=True, slots=True)
class PullAck:
    token: int
    version: int = PROTOCOL_VERSION
    packet_type: ClassVar[PacketType] = PacketType.PULL_ACK

    def __post_init__(self) -> None:
        check_token(self.token)
        check_version(self.version)

    @classmethod
    def from_bytes(cls, data: bytes) -> PullAck:
        header = parse_header(data)
        expect_length(data, HEADER_SIZE, "PULL_ACK")
        return cls(token=header.token, version=header.version)

    def to_bytes(self) -> bytes:
        return encode_header(self.version, self.token, self.packet_type)
