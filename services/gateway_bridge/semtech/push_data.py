"""PUSH_DATA (0x00): gateway -> server, received RF packets and/or a status report.

Bytes  | Function
0      | protocol version = 2
1-2    | random token
3      | PUSH_DATA identifier 0x00
4-11   | gateway EUI
12-end | JSON object {"rxpk": [...], "stat": {...}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from services.lorawan.types import EUI64

from ._fields import JSONObject, dump_object, extras, get_list, get_object, load_object
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
from .rxpk import RxPk
from .stat import Stat

_KEYS = frozenset({"rxpk", "stat"})


@dataclass(frozen=True, slots=True)
class PushData:
    token: int
    gw_eui: EUI64
    rxpk: tuple[RxPk, ...] = ()
    stat: Stat | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    version: int = PROTOCOL_VERSION
    packet_type: ClassVar[PacketType] = PacketType.PUSH_DATA

    def __post_init__(self) -> None:
        check_token(self.token)
        check_version(self.version)

    @classmethod
    def from_bytes(cls, data: bytes) -> PushData:
        header = parse_header(data)
        gw_eui = parse_gw_eui(data, "PUSH_DATA")
        obj = load_object(data[HEADER_SIZE + GW_EUI_SIZE :], "PUSH_DATA")
        rxpk_raw = get_list(obj, "rxpk", "PUSH_DATA")
        stat_raw = get_object(obj, "stat", "PUSH_DATA")
        return cls(
            token=header.token,
            gw_eui=gw_eui,
            rxpk=() if rxpk_raw is None else tuple(RxPk.from_json(r) for r in rxpk_raw),
            stat=None if stat_raw is None else Stat.from_json(stat_raw),
            extra=extras(obj, _KEYS),
            version=header.version,
        )

    def to_json(self) -> JSONObject:
        out: JSONObject = {}
        if self.rxpk:
            out["rxpk"] = [r.to_json() for r in self.rxpk]
        if self.stat is not None:
            out["stat"] = self.stat.to_json()
        out.update(self.extra)
        return out

    def to_bytes(self) -> bytes:
        head = encode_header(self.version, self.token, self.packet_type)
        return head + self.gw_eui.value + dump_object(self.to_json(), "PUSH_DATA")
