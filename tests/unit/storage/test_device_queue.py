"""The downlink queue: FIFO per device, expiry, confirmed-downlink state, flush."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.lorawan.errors import InvalidParameter
from services.lorawan.types import EUI64
from services.storage import AlreadyExists, NotFound, QueueItem, StaleVersion, Storage

from .conftest import FakeClock, World


async def test_fifo_per_device(storage: Storage, world: World, clock: FakeClock) -> None:
    e1, e2 = world.dev1.dev_eui, world.dev2.dev_eui
    # same timestamp for all: the order must still be insertion order
    ids = []
    for i in range(4):
        item = await storage.queue.enqueue(QueueItem(dev_eui=e1, f_port=10, frm_payload=bytes([i])))
        ids.append(item.id)
    await storage.queue.enqueue(QueueItem(dev_eui=e2, f_port=1, frm_payload=b"other"))
    now = clock.now
    assert await storage.queue.count_queued(e1, now=now) == 4
    sent = []
    while (nxt := await storage.queue.peek_next(e1, now=now)) is not None:
        sent.append(nxt.id)
        await storage.queue.mark_sent(nxt.id, f_cnt_down=len(sent), sent_at=now, pending=False)
    assert sent == ids
    assert await storage.queue.count_queued(e1, now=now) == 0
    nxt2 = await storage.queue.peek_next(e2, now=now)
    assert nxt2 is not None and nxt2.frm_payload == b"other"


async def test_expired_items_skipped(storage: Storage, world: World, clock: FakeClock) -> None:
    e = world.dev1.dev_eui
    now = clock.now
    await storage.queue.enqueue(
        QueueItem(dev_eui=e, f_port=2, frm_payload=b"old", expires_at=now + timedelta(seconds=5))
    )
    fresh = await storage.queue.enqueue(QueueItem(dev_eui=e, f_port=2, frm_payload=b"new"))
    first = await storage.queue.peek_next(e, now=now)
    assert first is not None and first.frm_payload == b"old"
    later = now + timedelta(seconds=10)
    assert (await storage.queue.peek_next(e, now=later)) == fresh
    assert await storage.queue.count_queued(e, now=later) == 1


async def test_confirmed_downlink_pending_then_acked(
    storage: Storage, world: World, clock: FakeClock
) -> None:
    e = world.dev1.dev_eui
    item = await storage.queue.enqueue(
        QueueItem(dev_eui=e, f_port=5, frm_payload=b"\x01\x02", confirmed=True)
    )
    assert await storage.queue.get_pending(e) is None
    sent = await storage.queue.mark_sent(item.id, f_cnt_down=7, sent_at=clock.now, pending=True)
    assert sent.is_pending and sent.f_cnt_down == 7 and sent.sent_at == clock.now
    with pytest.raises(StaleVersion):  # cannot be sent twice
        await storage.queue.mark_sent(item.id, f_cnt_down=8, sent_at=clock.now, pending=True)
    pending = await storage.queue.get_pending(e)
    assert pending is not None and pending.id == item.id
    assert await storage.queue.peek_next(e, now=clock.now) is None
    acked = await storage.queue.mark_acked(item.id, acked=True)
    assert acked.acked is True and not acked.is_pending
    assert await storage.queue.get_pending(e) is None
    got = await storage.queue.get(item.id)
    assert got == acked


async def test_listing_flush_and_isolation(
    storage: Storage, world: World, clock: FakeClock
) -> None:
    e = world.dev1.dev_eui
    items = [
        await storage.queue.enqueue(QueueItem(dev_eui=e, f_port=1, frm_payload=bytes([i])))
        for i in range(3)
    ]
    await storage.queue.mark_sent(items[0].id, f_cnt_down=1, sent_at=clock.now, pending=False)
    page = await storage.queue.list(e, tenant_id=world.t1.id)
    assert [i.id for i in page.items] == [items[1].id, items[2].id] and page.total == 2
    full = await storage.queue.list(e, tenant_id=None, include_sent=True)
    assert [i.id for i in full.items] == [i.id for i in items]
    assert (await storage.queue.list(e, tenant_id=world.t2.id)).total == 0
    with pytest.raises(NotFound):
        await storage.queue.flush(e, tenant_id=world.t2.id)
    assert await storage.queue.flush(e, tenant_id=world.t1.id) == 3
    assert await storage.queue.peek_next(e, now=clock.now) is None


async def test_enqueue_checks(storage: Storage, world: World) -> None:
    with pytest.raises(NotFound):
        await storage.queue.enqueue(
            QueueItem(dev_eui=EUI64.from_hex("FFFFFFFFFFFFFFFF"), f_port=1, frm_payload=b"")
        )
    for bad_port in (0, 256):
        with pytest.raises(InvalidParameter):
            await storage.queue.enqueue(
                QueueItem(dev_eui=world.dev1.dev_eui, f_port=bad_port, frm_payload=b"")
            )
    item = await storage.queue.enqueue(
        QueueItem(dev_eui=world.dev1.dev_eui, f_port=1, frm_payload=b"")
    )
    with pytest.raises(AlreadyExists):
        await storage.queue.enqueue(item)
    with pytest.raises(NotFound):
        await storage.queue.mark_acked(world.t1.id, acked=False)


async def test_delete_one_item(storage: Storage, world: World, clock: FakeClock) -> None:
    e = world.dev1.dev_eui
    a = await storage.queue.enqueue(QueueItem(dev_eui=e, f_port=1, frm_payload=b"a"))
    b = await storage.queue.enqueue(QueueItem(dev_eui=e, f_port=1, frm_payload=b"b"))
    with pytest.raises(NotFound):
        await storage.queue.delete(a.id, tenant_id=world.t2.id)
    await storage.queue.delete(a.id, tenant_id=world.t1.id)
    assert await storage.queue.peek_next(e, now=clock.now) == b
    with pytest.raises(NotFound):
        await storage.queue.delete(a.id, tenant_id=None)
