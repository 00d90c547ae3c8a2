"""DRCC state and decisions; device events."""

from __future__ import annotations

import asyncio

import pytest

from services.lorawan.types import EUI64
from services.storage import AlreadyExists, DrccDecision, DrccState, Event, NotFound, Storage

from .conftest import FakeClock, World

UNKNOWN = EUI64.from_hex("FFFFFFFFFFFFFFFF")


async def test_drcc_state_upsert(storage: Storage, world: World, clock: FakeClock) -> None:
    e = world.dev1.dev_eui
    assert await storage.drcc.get_state(e) is None
    await storage.drcc.save_state(DrccState(dev_eui=e, policy="drcc", state={"der": [1.0, 0.5]}))
    clock.advance(5)
    saved = await storage.drcc.save_state(DrccState(dev_eui=e, policy="adr", state={"snr": [7]}))
    got = await storage.drcc.get_state(e)
    assert got == saved and got.policy == "adr" and got.state == {"snr": [7]}
    assert got.updated_at == clock.now
    with pytest.raises(NotFound):
        await storage.drcc.save_state(DrccState(dev_eui=UNKNOWN, policy="adr"))


async def test_drcc_decisions_log(storage: Storage, world: World, clock: FakeClock) -> None:
    e = world.dev1.dev_eui
    for dr in range(4):
        clock.advance(1)
        await storage.drcc.record_decision(
            DrccDecision(
                dev_eui=e,
                policy="drcc",
                dr=dr,
                tx_power_index=1,
                ch_mask=[0, 1, 2],
                nb_trans=1,
                reason=f"DER below target ({dr})",
                details={"der": 0.8},
            )
        )
    page = await storage.drcc.list_decisions(e, tenant_id=world.t1.id, limit=2)
    assert page.total == 4 and [d.dr for d in page.items] == [3, 2]
    assert page.items[0].ch_mask == [0, 1, 2] and page.items[0].reason == "DER below target (3)"
    assert (await storage.drcc.list_decisions(e, tenant_id=world.t2.id)).total == 0
    with pytest.raises(NotFound):
        await storage.drcc.record_decision(
            DrccDecision(
                dev_eui=UNKNOWN, policy="x", dr=0, tx_power_index=0, ch_mask=[], nb_trans=1
            )
        )


async def test_events(storage: Storage, world: World, clock: FakeClock) -> None:
    e = world.dev1.dev_eui
    await storage.events.add(Event(dev_eui=e, kind="join", data={"dev_addr": "26011BDA"}))
    clock.advance(1)
    await storage.events.add(Event(dev_eui=e, kind="ack", data={"f_cnt_down": 3}))
    page = await storage.events.list(e, tenant_id=world.t1.id)
    assert [ev.kind for ev in page.items] == ["ack", "join"]
    assert (await storage.events.list(e, tenant_id=world.t2.id)).total == 0
    with pytest.raises(NotFound):
        await storage.events.add(Event(dev_eui=UNKNOWN, kind="join"))


async def test_concurrent_state_saves_settle(storage: Storage, world: World) -> None:
    e = world.dev1.dev_eui
    await asyncio.gather(
        *(
            storage.drcc.save_state(DrccState(dev_eui=e, policy="drcc", state={"i": i}))
            for i in range(5)
        )
    )
    got = await storage.drcc.get_state(e)
    assert got is not None and got.state["i"] in range(5)


async def test_decision_ids_are_unique_on_every_path(storage: Storage, world: World) -> None:
    """The same decision twice is refused (a redelivered LinkADR decision is not logged
    twice), on the SQLite batch writer's path as on the ORM path."""
    decision = DrccDecision(
        dev_eui=world.dev1.dev_eui, policy="drcc", dr=5, tx_power_index=0, ch_mask=[0], nb_trans=1
    )
    first = await storage.drcc.record_decision(decision)
    assert first.id == decision.id and first.created_at is not None
    with pytest.raises(AlreadyExists):
        await storage.drcc.record_decision(decision)
    page = await storage.drcc.list_decisions(world.dev1.dev_eui, tenant_id=None)
    assert [d.id for d in page.items] == [decision.id]
