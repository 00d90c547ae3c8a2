"""TX_ACK (0x05): gateway -> server, the fate of the PULL_RESP with the same token.

 Bytes  | Function
 0      | protocol version = 2
 1-2    | token of the PULL_RESP acknowledged
 3      | TX_ACK identifier 0x05
 4-11   | gateway EUI
 12-end | optional JSON object {"txpk_ack": {"error": "..."}}; absent means no error

Some forwarders pad the datagram with NUL bytes or send "{}"; both read as success (and
re-encode as the bare 12 bytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from services.lorawan.types import EUI64

from ._fields import JSONObject, dump_object, extras, get_object, load_object
from .header import (
    GW_EUI_SIZE,
    HEADER_SIZE,
    PROTOCOL_VERSION,
    PacketType,
    check_token,
    check_version,
    encode_header,
    parse_gw_eui,
    parse_header,
)
from .txpk_ack import TxAckError, TxPkAck

_KEYS = frozenset({"txpk_ack"})


@dataclass(frozen=True, slots=True)
class TxAck:
    token: int
    gw_eui: EUI64
    txpk_ack: TxPkAck | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    version: int = PROTOCOL_VERSION
    packet_type: ClassVar[PacketType] = PacketType.TX_ACK

    def __post_init__(self) -> None:
        check_token(self.token)
        check_version(self.version)

    @property
    def error(self) -> TxAckError:
        """The error reported, ``NONE`` when the downlink was programmed."""
        if self.txpk_ack is None or self.txpk_ack.error is None:
            return TxAckError.NONE
        return self.txpk_ack.error

    @property
    def ok(self) -> bool:
        return self.error is TxAckError.NONE

    @classmethod
    def from_bytes(cls, data: bytes) -> TxAck:
        header = parse_header(data)
        gw_eui = parse_gw_eui(data, "TX_ACK")
        body = data[HEADER_SIZE + GW_EUI_SIZE :]
        if not body.rstrip(b"\x00"):
            return cls(token=header.token, gw_eui=gw_eui, version=header.version)
        obj = load_object(body, "TX_ACK")
        ack = get_object(obj, "txpk_ack", "TX_ACK")
        return cls(
            token=header.token,
            gw_eui=gw_eui,
            txpk_ack=None if ack is None else TxPkAck.from_json(ack),
            extra=extras(obj, _KEYS),
            version=header.version,
        )

    def to_json(self) -> JSONObject | None:
        if self.txpk_ack is None and not self.extra:
            return None
        out: JSONObject = {}
        if self.txpk_ack is not None:
            out["txpk_ack"] = self.txpk_ack.to_json()
        out.update(self.extra)
        return out

    def to_bytes(self) -> bytes:
        head = encode_header(self.version, self.token, self.packet_type) + self.gw_eui.value
        body = self.to_json()
        return head if body is None else head + dump_object(body, "TX_ACK")
