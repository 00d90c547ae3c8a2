"""Embedded SQLite: the uplink path's point reads run on the loop over a synchronous engine
(``Storage.read_engine``); they must see every commit at once and return what the ORM path
returns."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from services.lorawan.types import EUI64, DevAddr
from services.storage import DeviceSession, DrccState, Storage

from .conftest import World, random_key

# the PostgreSQL counterpart (autocommit reads) is in tests/integration/test_postgres_storage.py
SQLITE_ONLY = "PostgreSQL run: the read engine is SQLite only"


async def test_reads_see_writes_at_once_and_match_the_orm_path(
    storage: Storage, world: World
) -> None:
    if storage.read_engine is None:  # the fixtures use SQLite unless a PostgreSQL URL is set
        pytest.skip(SQLITE_ONLY)
    repos = (storage.devices, storage.device_profiles, storage.applications, storage.sessions)
    assert all(r.read_engine is storage.read_engine for r in repos)
    dev_eui = world.dev1.dev_eui
    session = await storage.sessions.create(
        DeviceSession(
            dev_eui=dev_eui,
            dev_addr=DevAddr.from_hex("26011BDA"),
            mac_version="1.0.3",
            f_nwk_s_int_key=random_key(),
            s_nwk_s_int_key=random_key(),
            nwk_s_enc_key=random_key(),
            session_id=uuid.uuid4(),
        )
    )
    fast = await storage.sessions.get_by_dev_eui(dev_eui)
    candidates = await storage.sessions.candidates_by_dev_addr(session.dev_addr)
    device = await storage.devices.get(dev_eui, tenant_id=world.t1.id)
    # the same objects through the ORM's asyncio path
    for repo in repos:
        repo.read_engine = None
    try:
        assert await storage.sessions.get_by_dev_eui(dev_eui) == fast
        assert await storage.sessions.candidates_by_dev_addr(session.dev_addr) == candidates
        assert await storage.devices.get(dev_eui, tenant_id=world.t1.id) == device
    finally:
        for repo in repos:
            repo.read_engine = storage.read_engine
    assert fast is not None and fast.f_cnt_up is None
    assert [c.dev_eui for c in candidates] == [dev_eui]
    assert device is not None and device.nwk_key == world.dev1.nwk_key  # decrypted as before
    assert await storage.devices.get(dev_eui, tenant_id=world.t2.id) is None  # tenant scope
    # a write through the ORM is visible to the next read at once
    await storage.sessions.advance_f_cnt_up(dev_eui, 7, session_id=session.session_id)
    again = await storage.sessions.get_by_dev_eui(dev_eui)
    assert again is not None and again.f_cnt_up == 7


async def test_read_engine_cannot_write(storage: Storage, world: World) -> None:
    if storage.read_engine is None:
        pytest.skip(SQLITE_ONLY)
    with storage.read_engine.connect() as conn, pytest.raises(OperationalError) as err:
        conn.execute(text("DELETE FROM devices"))
    assert isinstance(err.value.orig, sqlite3.OperationalError)
    assert await storage.devices.get(world.dev1.dev_eui, tenant_id=None) is not None


async def test_drcc_state_on_the_batch_connection_round_trips(
    storage: Storage, world: World
) -> None:
    e: EUI64 = world.dev2.dev_eui
    state = {"history": [{"f_cnt": 1, "snr": 7.5}], "nested": {"a": [1, 2]}}
    saved = await storage.drcc.save_state(DrccState(dev_eui=e, policy="drcc", state=state))
    got = await storage.drcc.get_state(e)
    assert got == saved and got.state == state and got.updated_at is not None
    assert got.updated_at.tzinfo is not None
