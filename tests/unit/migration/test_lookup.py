"""A migrated record is stored with its origin zone and found (and verified) by device and
FCnt wherever it landed, through the real writer and embedded ledger."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from services.bus.messages import LedgerRecord
from services.ledger.embedded import EmbeddedLedger
from services.ledger.writer import LedgerWriter, WriterConfig
from services.migration import RecordNotLocated, RoutingTable, device_hash
from services.migration.lookup import locate_uplink, verify_uplink

DEVS = [f"01020304{i:08X}" for i in range(64)]
PAYLOAD = "cafebabe"


def uplink(dev: str, f_cnt: int, zone: str = "zone-a") -> LedgerRecord:
    return LedgerRecord(
        idempotency_key=f"up:{dev}:s:{f_cnt}",
        channel="application",
        kind="uplink",
        zone=zone,
        key=f"{dev}/{f_cnt}",
        payload={
            "dev_eui": dev,
            "f_cnt": f_cnt,
            "received_at": "2026-01-01T00:00:00+00:00",
            "gateways": ["AABBCCDDEEFF0011"],
            "payload_sha256": hashlib.sha256(bytes.fromhex(PAYLOAD)).hexdigest(),
            "payload": PAYLOAD,
        },
    )


async def _drain(writer: LedgerWriter) -> None:
    for _ in range(500):
        if not writer.backlog():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("writer did not drain")


async def test_migrated_record_is_found_and_verified(tmp_path):
    ledger = EmbeddedLedger(tmp_path / "l", batch_size=5, batch_timeout_s=0.01)
    routing = RoutingTable()
    writer = LedgerWriter(
        ledger, data_dir=tmp_path, route=routing.route, config=WriterConfig(linger_s=0.001)
    )
    await ledger.start()
    await writer.start()
    try:
        moved = next(d for d in DEVS if device_hash(d) >= 0.5)
        stays = next(d for d in DEVS if device_hash(d) < 0.5)
        await writer.handle(uplink(moved, 1))  # epoch 0: home
        routing.apply({"zone-a": {"zone-b": 0.5}}, at=1.0, policy="test")
        await writer.handle(uplink(moved, 2))  # epoch 1: migrated
        await writer.handle(uplink(stays, 1))
        await _drain(writer)

        first = await locate_uplink(ledger, routing, moved, 1, origin_zone="zone-a")
        assert first.zone == "zone-a"
        second = await locate_uplink(ledger, routing, moved, 2, origin_zone="zone-a")
        assert second.zone == "zone-b"
        assert second.origin_zone == "zone-a"
        assert second.record["payload"]["stored_zone"] == "zone-b"
        # without the origin zone: the routing history still leads to it
        again = await locate_uplink(ledger, routing, moved, 2)
        assert again.zone == "zone-b"
        home = await locate_uplink(ledger, routing, stays, 1, origin_zone="zone-a")
        assert home.zone == "zone-a"

        ok = await verify_uplink(ledger, routing, moved, 2, PAYLOAD, origin_zone="zone-a")
        assert ok["match"] is True and ok["zone"] == "zone-b"
        assert ok["origin_zone"] == "zone-a" and ok["stored_zone"] == "zone-b"
        bad = await verify_uplink(ledger, routing, moved, 2, "00", origin_zone="zone-a")
        assert bad["match"] is False

        # a routing table that forgot the epoch: the search over all zones still finds it
        fresh = RoutingTable()
        found = await locate_uplink(ledger, fresh, moved, 2, zones=["zone-a", "zone-b"])
        assert found.zone == "zone-b" and found.tried == ("zone-a", "zone-b")

        with pytest.raises(RecordNotLocated):
            await locate_uplink(ledger, routing, moved, 99, zones=["zone-a", "zone-b", "zone-c"])
    finally:
        await writer.stop()
        await ledger.stop()
