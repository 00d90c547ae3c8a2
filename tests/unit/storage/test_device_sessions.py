"""Device sessions: DevAddr lookup, keys at rest, optimistic lock, atomic FCnt advance."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from services.lorawan.errors import FrameCounterReplay, InvalidParameter
from services.lorawan.types import EUI64, DevAddr
from services.storage import DeviceSession, NotFound, StaleVersion, Storage

from .conftest import World, random_key

ADDR = DevAddr.from_hex("26011BDA")


def make_session(dev_eui: EUI64, dev_addr: DevAddr = ADDR, **kw: object) -> DeviceSession:
    return DeviceSession(
        dev_eui=dev_eui,
        dev_addr=dev_addr,
        mac_version="1.1.0",
        f_nwk_s_int_key=random_key(),
        s_nwk_s_int_key=random_key(),
        nwk_s_enc_key=random_key(),
        app_s_key=random_key(),
        **kw,  # type: ignore[arg-type]
    )


async def test_create_get_round_trip(storage: Storage, world: World) -> None:
    s = make_session(
        world.dev1.dev_eui,
        enabled_channels=[0, 1, 2, 3],
        pending_mac_commands=[{"cid": "LinkADRReq", "dr": 5}],
        mac_command_state={"link_adr": {"acked": False}},
        adr=True,
        dr=5,
        rx2_freq=869_525_000,
    )
    stored = await storage.sessions.create(s)
    assert stored.version == 1 and stored.created_at is not None
    got = await storage.sessions.get_by_dev_eui(world.dev1.dev_eui)
    assert got == stored
    assert dataclasses.replace(got, version=0, created_at=None, updated_at=None) == s
    assert await storage.sessions.get_by_dev_eui(world.dev2.dev_eui) is None


async def test_candidates_by_shared_dev_addr(storage: Storage, world: World) -> None:
    await storage.sessions.create(make_session(world.dev1.dev_eui))
    await storage.sessions.create(make_session(world.dev2.dev_eui))
    cands = await storage.sessions.candidates_by_dev_addr(ADDR)
    assert {c.dev_eui for c in cands} == {world.dev1.dev_eui, world.dev2.dev_eui}
    assert await storage.sessions.candidates_by_dev_addr(DevAddr.from_hex("26011BDB")) == []


async def test_new_join_replaces_session(storage: Storage, world: World) -> None:
    old = await storage.sessions.create(make_session(world.dev1.dev_eui, f_cnt_up=99))
    new = await storage.sessions.create(
        make_session(world.dev1.dev_eui, DevAddr.from_hex("26011BDC"))
    )
    assert await storage.sessions.candidates_by_dev_addr(ADDR) == []
    got = await storage.sessions.get_by_dev_eui(world.dev1.dev_eui)
    assert got == new and got.f_cnt_up is None
    # a writer still holding the old session cannot overwrite the new one
    with pytest.raises(StaleVersion):
        await storage.sessions.save(old)


async def test_session_keys_not_stored_in_clear(storage: Storage, world: World) -> None:
    s = await storage.sessions.create(make_session(world.dev1.dev_eui))
    async with storage.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT f_nwk_s_int_key, s_nwk_s_int_key, nwk_s_enc_key, app_s_key "
                    "FROM device_sessions"
                )
            )
        ).one()
    raw = b"".join(bytes(c) for c in row)
    for key in (s.f_nwk_s_int_key, s.s_nwk_s_int_key, s.nwk_s_enc_key, s.app_s_key):
        assert key is not None
        assert key.value not in raw and key.value.hex().encode() not in raw


async def test_save_optimistic_lock(storage: Storage, world: World) -> None:
    await storage.sessions.create(make_session(world.dev1.dev_eui))
    a = await storage.sessions.get_by_dev_eui(world.dev1.dev_eui)
    b = await storage.sessions.get_by_dev_eui(world.dev1.dev_eui)
    assert a is not None and b is not None
    a.n_f_cnt_down = 5
    saved = await storage.sessions.save(a)
    assert saved.version == 2 and saved.n_f_cnt_down == 5
    b.dr = 3
    with pytest.raises(StaleVersion):
        await storage.sessions.save(b)
    got = await storage.sessions.get_by_dev_eui(world.dev1.dev_eui)
    assert got is not None and got.dr == 0 and got.n_f_cnt_down == 5
    # the saved copy can be saved again
    saved.dr = 4
    assert (await storage.sessions.save(saved)).version == 3


async def test_concurrent_saves_one_wins(storage: Storage, world: World) -> None:
    base = await storage.sessions.create(make_session(world.dev1.dev_eui))

    async def attempt(i: int) -> bool:
        try:
            await storage.sessions.save(dataclasses.replace(base, n_f_cnt_down=i))
        except StaleVersion:
            return False
        return True

    results = await asyncio.gather(*(attempt(i) for i in range(6)))
    assert results.count(True) == 1


async def test_save_missing_session(storage: Storage, world: World) -> None:
    with pytest.raises(NotFound):
        await storage.sessions.save(make_session(world.dev1.dev_eui))
    with pytest.raises(NotFound):
        await storage.sessions.create(make_session(EUI64.from_hex("FFFFFFFFFFFFFFFF")))


async def test_advance_f_cnt_up_refuses_replays(storage: Storage, world: World) -> None:
    e = world.dev1.dev_eui
    s = await storage.sessions.create(make_session(e))
    await storage.sessions.advance_f_cnt_up(e, 0)  # first frame of a session may be 0
    with pytest.raises(FrameCounterReplay):
        await storage.sessions.advance_f_cnt_up(e, 0)
    await storage.sessions.advance_f_cnt_up(e, 70_000)  # beyond 16 bits
    for replay in (70_000, 69_999, 1):
        with pytest.raises(FrameCounterReplay):
            await storage.sessions.advance_f_cnt_up(e, replay)
    await storage.sessions.advance_f_cnt_up(e, 0xFFFFFFFF, session_id=s.session_id)
    got = await storage.sessions.get_by_dev_eui(e)
    assert got is not None and got.f_cnt_up == 0xFFFFFFFF
    assert got.version == s.version  # advancing does not bump the lock
    with pytest.raises(InvalidParameter):
        await storage.sessions.advance_f_cnt_up(e, 1 << 32)
    with pytest.raises(NotFound):
        await storage.sessions.advance_f_cnt_up(world.dev2.dev_eui, 1)


async def test_advance_refused_for_replaced_session(storage: Storage, world: World) -> None:
    e = world.dev1.dev_eui
    old = await storage.sessions.create(make_session(e))
    await storage.sessions.create(make_session(e))
    with pytest.raises(FrameCounterReplay, match="replaced"):
        await storage.sessions.advance_f_cnt_up(e, 5, session_id=old.session_id)


async def test_concurrent_duplicate_frames_accepted_once(storage: Storage, world: World) -> None:
    e = world.dev1.dev_eui
    await storage.sessions.create(make_session(e))

    async def attempt() -> bool:
        try:
            await storage.sessions.advance_f_cnt_up(e, 42)
        except FrameCounterReplay:
            return False
        return True

    assert (await asyncio.gather(*(attempt() for _ in range(8)))).count(True) == 1


async def test_save_never_moves_f_cnt_up_backwards(storage: Storage, world: World) -> None:
    e = world.dev1.dev_eui
    s = await storage.sessions.create(make_session(e))
    s.f_cnt_up = 10
    await storage.sessions.advance_f_cnt_up(e, 10)
    await storage.sessions.advance_f_cnt_up(e, 11)  # another worker accepted the next frame
    s.mac_command_state = {"x": 1}
    saved = await storage.sessions.save(s)
    assert saved.f_cnt_up == 11 and saved.mac_command_state == {"x": 1}
    saved.f_cnt_up = 20
    assert (await storage.sessions.save(saved)).f_cnt_up == 20


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(counters=st.lists(st.integers(0, 0xFFFFFFFF), min_size=1, max_size=12))
async def test_advance_accepts_exactly_the_running_maxima(
    storage: Storage, world: World, counters: list[int]
) -> None:
    e = world.dev1.dev_eui
    await storage.sessions.create(make_session(e))  # fresh session each example
    accepted: list[int] = []
    for f_cnt in counters:
        try:
            await storage.sessions.advance_f_cnt_up(e, f_cnt)
            accepted.append(f_cnt)
        except FrameCounterReplay:
            pass
    expected, best = [], -1
    for f_cnt in counters:
        if f_cnt > best:
            expected.append(f_cnt)
            best = f_cnt
    assert accepted == expected
    got = await storage.sessions.get_by_dev_eui(e)
    assert got is not None and got.f_cnt_up == best


async def test_delete_session(storage: Storage, world: World) -> None:
    await storage.sessions.create(make_session(world.dev1.dev_eui))
    await storage.sessions.delete(world.dev1.dev_eui)
    assert await storage.sessions.get_by_dev_eui(world.dev1.dev_eui) is None
    with pytest.raises(NotFound):
        await storage.sessions.delete(world.dev1.dev_eui)
    # deleting the device deletes its session
    await storage.sessions.create(make_session(world.dev2.dev_eui))
    await storage.devices.delete(world.dev2.dev_eui, tenant_id=None)
    assert await storage.sessions.get_by_dev_eui(world.dev2.dev_eui) is None
