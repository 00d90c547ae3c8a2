"""Contract scenarios written against the ``Ledger`` interface only, so the same checks run
on the embedded ledger (test_via_ledger.py) and on a Fabric network (integration tests can
import SCENARIOS and call each with a FabricLedger and an application channel)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from services.ledger import errors
from services.ledger.base import Ledger

CREATE = "application:create"


def _dev(tag: str) -> str:
    """A DevEUI unique to one scenario run (Fabric channels are not reset between runs)."""
    return hashlib.sha256(tag.encode()).hexdigest()[:16].upper()


def _args(dev: str, f_cnt: int, payload: str = "cafe", idem: str | None = None) -> list[str]:
    body = {
        "dev_eui": dev,
        "f_cnt": f_cnt,
        "received_at": "2026-01-01T00:00:00+00:00",
        "gateways": ["AABBCCDDEEFF0011"],
        "payload": payload,
        "origin_zone": "zone-a",
        "stored_zone": "zone-a",
    }
    return ["uplink", f"{dev}/{f_cnt}", idem or f"up:{dev}:{f_cnt}", json.dumps(body)]


async def _json(ledger: Ledger, channel: str, fn: str, *args: Any) -> Any:
    return json.loads(await ledger.evaluate(channel, fn, [str(a) for a in args]))


async def idempotent_create(ledger: Ledger, channel: str, tag: str) -> None:
    dev = _dev(tag)
    first = await ledger.submit(channel, CREATE, _args(dev, 1))
    assert first.ok and json.loads(first.payload)["status"] == "created"
    again = await ledger.submit(channel, CREATE, _args(dev, 1))
    body = json.loads(again.payload)
    assert body["status"] == "exists" and body["record"]["tx_id"] == first.tx_id
    hist = await _json(ledger, channel, "application:history", "uplink", f"{dev}/1")
    assert [h["tx_id"] for h in hist] == [first.tx_id]


async def conflicting_reuse(ledger: Ledger, channel: str, tag: str) -> None:
    dev = _dev(tag)
    await ledger.submit(channel, CREATE, _args(dev, 1))
    with pytest.raises(errors.IdempotencyConflict):
        await ledger.submit(channel, CREATE, _args(dev, 1, payload="beef"))
    with pytest.raises(errors.KeyExists):
        await ledger.submit(channel, CREATE, _args(dev, 1, idem=f"other:{dev}"))


async def range_and_verify(ledger: Ledger, channel: str, tag: str) -> None:
    dev = _dev(tag)
    for f_cnt in (3, 1, 2):
        assert (await ledger.submit(channel, CREATE, _args(dev, f_cnt))).ok
    docs = await _json(ledger, channel, "application:by_device", dev, 0)
    assert [d["payload"]["f_cnt"] for d in docs] == [1, 2, 3]
    window = await _json(
        ledger, channel, "application:range_query", "uplink", f"{dev}/1", f"{dev}/3", 0
    )
    assert [d["key"] for d in window] == [f"{dev}/1", f"{dev}/2"]
    ok = await _json(ledger, channel, "application:verify", f"{dev}/2", "cafe")
    bad = await _json(ledger, channel, "application:verify", f"{dev}/2", "cafd")
    assert ok["match"] is True and bad["match"] is False
    with pytest.raises(errors.RecordNotFound):
        await ledger.evaluate(channel, "application:verify", [f"{dev}/9", "cafe"])


async def invalid_input(ledger: Ledger, channel: str, tag: str) -> None:
    dev = _dev(tag)
    with pytest.raises(errors.InvalidInput, match="uplink key"):
        await ledger.submit(channel, CREATE, ["uplink", f"{dev}/2", "x", _args(dev, 1)[3]])


Scenario = Callable[[Ledger, str, str], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {
    "idempotent_create": idempotent_create,
    "conflicting_reuse": conflicting_reuse,
    "range_and_verify": range_and_verify,
    "invalid_input": invalid_input,
}
