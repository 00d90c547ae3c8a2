"""The network ledger: small, time-critical network data — gateway registrations and status,
and the rate-control (DRCC / ADR) decisions with their reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from . import validation as v
from .base import KindRule, LedgerContract
from .errors import InvalidInput

GATEWAY_STATUSES = ("online", "offline", "degraded")


def _key_is(key: str, value: str, field: str) -> str:
    if key.upper() != value:
        raise InvalidInput(f"key must be the {field} {value}, got {key!r}")
    return value


def _location(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{name} must be an object")
    return v.check_fields(
        value,
        {"latitude": _number(-90, 90), "longitude": _number(-180, 180)},
        {"altitude": _number(-1000, 100000)},
        what=name,
    )


def _number(lo: float, hi: float) -> v.Check:
    def check(value: Any, name: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"{name} must be a number")
        if not lo <= value <= hi:
            raise InvalidInput(f"{name} must be in [{lo}, {hi}]")
        return value

    return check


def _gateway(key: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    body = v.check_fields(
        data,
        {"gw_eui": v.eui},
        {
            "name": v.text,
            "zone": v.text,
            "region": v.text,
            "location": _location,
            "registered_at": v.timestamp,
        },
        what="gateway",
    )
    return _key_is(key, body["gw_eui"], "gw_eui"), body


def _gateway_status(key: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    body = v.check_fields(
        data,
        {"gw_eui": v.eui, "status": v.one_of(*GATEWAY_STATUSES)},
        {
            "zone": v.text,
            "last_seen": v.timestamp,
            "rx_packets": v.integer(0, 2**63 - 1),
            "rx_ok": v.integer(0, 2**63 - 1),
            "tx_packets": v.integer(0, 2**63 - 1),
            "tx_ok": v.integer(0, 2**63 - 1),
        },
        what="gateway_status",
    )
    return _key_is(key, body["gw_eui"], "gw_eui"), body


def _rate_decision(key: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    body = v.check_fields(
        data,
        {"dev_eui": v.eui, "reason": v.text},
        {
            "algorithm": v.text,
            "dr": v.integer(0, 15),
            "tx_power_index": v.integer(0, 15),
            "nb_trans": v.integer(1, 15),
            "ch_mask": v.text,
            "channels": v.list_of(v.integer(0, 95), max_items=96),
            "der": _number(0.0, 1.0),
            "zone": v.text,
            "decided_at": v.timestamp,
            "details": v.any_json,
        },
        what="rate_decision",
    )
    dev, sep, rest = key.partition("/")
    if not sep or not rest or dev.upper() != body["dev_eui"]:
        raise InvalidInput(f"decision key must be '<dev_eui>/<decision id>', got {key!r}")
    return f"{body['dev_eui']}/{rest}", body


class NetworkContract(LedgerContract):
    Name = "network"
    KINDS: ClassVar[Mapping[str, KindRule]] = {
        "gateway": KindRule(_gateway, mutable=True),
        "gateway_status": KindRule(_gateway_status, mutable=True),
        "link_adr": KindRule(_rate_decision, mutable=False),
        "rate_control": KindRule(_rate_decision, mutable=False),
    }
