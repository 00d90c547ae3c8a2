"""``txpk_ack``: the gateway's verdict on a PULL_RESP, carried by TX_ACK (PROTOCOL.TXT v1.3+)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..errors import InvalidField
from ._fields import JSONObject, extras, get_int, get_str, put

_KEYS = frozenset({"error", "warn", "value"})


class TxAckError(StrEnum):
    NONE = "NONE"
    TOO_LATE = "TOO_LATE"
    TOO_EARLY = "TOO_EARLY"
    COLLISION_PACKET = "COLLISION_PACKET"
    COLLISION_BEACON = "COLLISION_BEACON"
    TX_FREQ = "TX_FREQ"
    TX_POWER = "TX_POWER"
    GPS_UNLOCKED = "GPS_UNLOCKED"


@dataclass(frozen=True, slots=True)
class TxPkAck:
    """``error`` (NONE means programmed), and an optional ``warn`` such as TX_POWER with the
    ``value`` actually used (SX1302 forwarders send it when they lower the power)."""

    error: TxAckError | None = None
    warn: TxAckError | None = None
    value: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None or self.error is TxAckError.NONE

    @classmethod
    def from_json(cls, obj: object) -> TxPkAck:
        w = "txpk_ack"
        if not isinstance(obj, dict):
            raise InvalidField(f"{w}: expected an object")
        return cls(
            error=_read(get_str(obj, "error", w), "error"),
            warn=_read(get_str(obj, "warn", w), "warn"),
            value=get_int(obj, "value", w),
            extra=extras(obj, _KEYS),
        )

    def to_json(self) -> JSONObject:
        out: JSONObject = {}
        put(out, "error", None if self.error is None else self.error.value)
        put(out, "warn", None if self.warn is None else self.warn.value)
        put(out, "value", self.value)
        out.update(self.extra)
        return out


def _read(text: str | None, key: str) -> TxAckError | None:
    if text is None:
        return None
    try:
        return TxAckError(text)
    except ValueError as exc:
        raise InvalidField(f"txpk_ack.{key}: unknown value {text!r}") from exc
