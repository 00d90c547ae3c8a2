"""Find an application record wherever the migration service stored it.

A record ``<dev_eui>/<f_cnt>`` is looked for first in the zones the routing history sends
that device to (its origin zone first when known, then the zone of each epoch, newest
first), then in every other known zone. Each zone's record says both ``origin_zone`` and
``stored_zone``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from services.ledger.base import Ledger
from services.ledger.channels import ledger_channel
from services.ledger.errors import RecordNotFound, UnknownChannel

from .errors import RecordNotLocated
from .routing import RoutingTable


@dataclass(frozen=True, slots=True)
class Located:
    zone: str  # zone whose ledger holds the record
    record: dict[str, Any]
    tried: tuple[str, ...]  # zones asked, in order

    @property
    def origin_zone(self) -> str:
        return str(self.record["payload"]["origin_zone"])


def candidate_zones(
    routing: RoutingTable, dev_eui: str, origin_zone: str | None, zones: Iterable[str]
) -> list[str]:
    out = routing.zones_of_device(dev_eui, origin_zone)
    for z in sorted(zones):
        if z not in out:
            out.append(z)
    return out


def uplink_key(dev_eui: str, f_cnt: int) -> str:
    return f"{dev_eui.strip().upper()}/{int(f_cnt)}"


async def locate_uplink(
    ledger: Ledger,
    routing: RoutingTable,
    dev_eui: str,
    f_cnt: int,
    *,
    origin_zone: str | None = None,
    zones: Iterable[str] = (),
) -> Located:
    """The uplink record of ``dev_eui``/``f_cnt``; RecordNotLocated when no zone has it."""
    key = uplink_key(dev_eui, f_cnt)
    tried: list[str] = []
    for zone in candidate_zones(routing, dev_eui, origin_zone, zones):
        tried.append(zone)
        try:
            raw = await ledger.evaluate(
                ledger_channel("application", zone), "application:read", ["uplink", key]
            )
        except (RecordNotFound, UnknownChannel):
            continue
        return Located(zone, json.loads(raw), tuple(tried))
    raise RecordNotLocated(f"uplink {key} is in none of the zones {tried}")


async def verify_uplink(
    ledger: Ledger,
    routing: RoutingTable,
    dev_eui: str,
    f_cnt: int,
    payload_hex: str,
    *,
    origin_zone: str | None = None,
    zones: Iterable[str] = (),
) -> dict[str, Any]:
    """Locate the record, then check ``payload_hex`` against its stored hash on that zone's
    ledger (``application:verify``); the answer includes ``origin_zone``/``stored_zone``."""
    found = await locate_uplink(
        ledger, routing, dev_eui, f_cnt, origin_zone=origin_zone, zones=zones
    )
    raw = await ledger.evaluate(
        ledger_channel("application", found.zone),
        "application:verify",
        [uplink_key(dev_eui, f_cnt), payload_hex],
    )
    result: dict[str, Any] = json.loads(raw)
    result["zone"] = found.zone
    return result
