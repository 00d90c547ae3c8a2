"""PULL_RESP (0x03): server -> gateway, one packet to emit.

Bytes | Function
0     | protocol version = 2
1-2   | random token (v2: echoed by the gateway's TX_ACK; v1: unused)
3     | PULL_RESP identifier 0x03
4-end | JSON object {"txpk": {...}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import InvalidField
from ._fields import JSONObject, dump_object, extras, get_object, load_object
from .header import (
    HEADER_SIZE,
    PROTOCOL_VERSION,
    PacketType,
    check_token,
    check_version,
    encode_header,
    parse_header,
)
from .txpk import TxPk

_KEYS = frozenset({"txpk"})


@dataclass(frozen=True, slots=True)
class PullResp:
    token: int
    txpk: TxPk
    extra: dict[str, Any] = field(default_factory=dict)
    version: int = PROTOCOL_VERSION
    packet_type: ClassVar[PacketType] = PacketType.PULL_RESP

    def __post_init__(self) -> None:
        check_token(self.token)
        check_version(self.version)

    @classmethod
    def from_bytes(cls, data: bytes) -> PullResp:
        header = parse_header(data)
        obj = load_object(data[HEADER_SIZE:], "PULL_RESP")
        txpk = get_object(obj, "txpk", "PULL_RESP")
        if txpk is None:
            raise InvalidField("PULL_RESP: the JSON object has no txpk")
        return cls(
            token=header.token,
            txpk=TxPk.from_json(txpk),
            extra=extras(obj, _KEYS),
            version=header.version,
        )

    def to_json(self) -> JSONObject:
        out: JSONObject = {"txpk": self.txpk.to_json()}
        out.update(self.extra)
        return out

    def to_bytes(self) -> bytes:
        head = encode_header(self.version, self.token, self.packet_type)
        return head + dump_object(self.to_json(), "PULL_RESP")
