"""The four-byte header every Semtech UDP packet starts with, and the gateway EUI field.

Bytes | Function
0     | protocol version (2; version 1 is read too, and answered in kind)
1-2   | random token (big-endian)
3     | identifier: PUSH_DATA 0x00 .. TX_ACK 0x05
4-11  | gateway EUI, MSB first (PUSH_DATA, PULL_DATA, TX_ACK only)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from services.lorawan.errors import InvalidKey
from services.lorawan.types import EUI64

from ..errors import (
    InvalidPacketValue,
    MalformedSemtechPacket,
    UnknownPacketType,
    UnsupportedProtocolVersion,
)

PROTOCOL_VERSION = 2
SUPPORTED_VERSIONS = frozenset({1, 2})
HEADER_SIZE = 4
GW_EUI_SIZE = 8
TOKEN_MAX = 0xFFFF


class PacketType(IntEnum):
    PUSH_DATA = 0x00
    PUSH_ACK = 0x01
    PULL_DATA = 0x02
    PULL_RESP = 0x03
    PULL_ACK = 0x04
    TX_ACK = 0x05


@dataclass(frozen=True, slots=True)
class Header:
    version: int
    token: int
    packet_type: PacketType


def check_token(token: int) -> None:
    if isinstance(token, bool) or not isinstance(token, int) or not 0 <= token <= TOKEN_MAX:
        raise InvalidPacketValue(f"token must be an integer in [0, 65535], got {token!r}")


def check_version(version: int) -> None:
    if version not in SUPPORTED_VERSIONS:
        raise InvalidPacketValue(f"protocol version must be 1 or 2, got {version!r}")


def parse_header(data: bytes) -> Header:
    if len(data) < HEADER_SIZE:
        raise MalformedSemtechPacket(f"datagram of {len(data)} bytes is shorter than a header")
    version = data[0]
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedProtocolVersion(f"protocol version {version} is not supported")
    try:
        packet_type = PacketType(data[3])
    except ValueError as exc:
        raise UnknownPacketType(f"unknown packet identifier 0x{data[3]:02x}") from exc
    return Header(version, int.from_bytes(data[1:3], "big"), packet_type)


def encode_header(version: int, token: int, packet_type: PacketType) -> bytes:
    check_version(version)
    check_token(token)
    return bytes((version,)) + token.to_bytes(2, "big") + bytes((packet_type,))


def parse_gw_eui(data: bytes, what: str) -> EUI64:
    """The gateway EUI at bytes 4-11; ``data`` is the whole datagram."""
    end = HEADER_SIZE + GW_EUI_SIZE
    if len(data) < end:
        raise MalformedSemtechPacket(f"{what}: {len(data)} bytes, too short for a gateway EUI")
    try:
        return EUI64(data[HEADER_SIZE:end])
    except InvalidKey as exc:  # pragma: no cover - 8 bytes always make an EUI64
        raise MalformedSemtechPacket(f"{what}: {exc}") from exc


def expect_length(data: bytes, size: int, what: str) -> None:
    if len(data) != size:
        raise MalformedSemtechPacket(f"{what}: expected {size} bytes, got {len(data)}")
