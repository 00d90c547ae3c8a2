"""The uplink log: idempotent inserts, lookups by FCnt, newest-first pages, isolation."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest

from services.lorawan.types import EUI64, DevAddr
from services.storage import NotFound, Storage, UplinkRecord

from .conftest import FakeClock, World

ADDR = DevAddr.from_hex("26011BDA")
SESSION = uuid.UUID("00000000-0000-4000-8000-000000000001")


def record(
    dev_eui: EUI64, f_cnt: int, session_id: uuid.UUID = SESSION, **kw: object
) -> UplinkRecord:
    return UplinkRecord(
        dev_eui=dev_eui,
        dev_addr=ADDR,
        session_id=session_id,
        f_cnt=f_cnt,
        f_port=1,
        payload=f"payload {f_cnt}".encode(),
        dr=5,
        freq=868_100_000,
        rx_metadata=[{"gw_eui": "AA555A0000000001", "rssi": -80, "snr": 7.5}],
        **kw,  # type: ignore[arg-type]
    )


async def test_insert_is_idempotent(storage: Storage, world: World) -> None:
    e = world.dev1.dev_eui
    first = record(e, 70_000)
    assert await storage.uplinks.insert(first) is True
    # redelivery of the same message, and the same frame under another dedup id
    assert await storage.uplinks.insert(first) is False
    assert await storage.uplinks.insert(record(e, 70_000)) is False
    page = await storage.uplinks.list_recent(e, tenant_id=None)
    assert page.total == 1
    got = page.items[0]
    assert got.id == first.id and got.payload == b"payload 70000"
    assert got.payload_sha256 == hashlib.sha256(b"payload 70000").digest()
    assert got.rx_metadata == first.rx_metadata and got.received_at is not None
    # the same FCnt in a new session is a new frame
    assert await storage.uplinks.insert(record(e, 70_000, uuid.uuid4())) is True


async def test_get_by_f_cnt_and_id(storage: Storage, world: World, clock: FakeClock) -> None:
    e = world.dev1.dev_eui
    r = record(e, 3)
    await storage.uplinks.insert(r)
    clock.advance(60)
    newer = record(e, 3, uuid.uuid4())
    await storage.uplinks.insert(newer)
    got = await storage.uplinks.get(e, 3, tenant_id=world.t1.id)
    assert got is not None and got.id == newer.id  # most recent session
    assert await storage.uplinks.get(e, 4, tenant_id=None) is None
    assert await storage.uplinks.get(e, 3, tenant_id=world.t2.id) is None
    by_id = await storage.uplinks.get_by_id(r.id, tenant_id=world.t1.id)
    assert by_id is not None and by_id.session_id == SESSION
    assert await storage.uplinks.get_by_id(r.id, tenant_id=world.t2.id) is None


async def test_list_recent_newest_first(storage: Storage, world: World, clock: FakeClock) -> None:
    e = world.dev1.dev_eui
    for f_cnt in range(10):
        await storage.uplinks.insert(record(e, f_cnt, received_at=clock.now))
        clock.advance(timedelta(seconds=10).total_seconds())
    await storage.uplinks.insert(record(world.dev2.dev_eui, 100))
    page = await storage.uplinks.list_recent(e, tenant_id=world.t1.id, limit=3, offset=2)
    assert page.total == 10
    assert [r.f_cnt for r in page.items] == [7, 6, 5]
    assert (await storage.uplinks.list_recent(e, tenant_id=world.t2.id)).total == 0


async def test_unknown_device(storage: Storage, world: World) -> None:
    with pytest.raises(NotFound):
        await storage.uplinks.insert(record(EUI64.from_hex("FFFFFFFFFFFFFFFF"), 1))
