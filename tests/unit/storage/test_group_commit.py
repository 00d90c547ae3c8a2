"""Group commit: the GroupCommitter, sessions.save_many, uplinks.insert_many (both the SQLite
batch writer and the plain SQLAlchemy path), and the session change listeners."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest

from services.lorawan.errors import FrameCounterReplay, InvalidParameter
from services.lorawan.types import EUI64, AES128Key, DevAddr
from services.storage import (
    DeviceSession,
    NotFound,
    StaleVersion,
    Storage,
    UplinkRecord,
    build_storage,
)
from services.storage.batching import GroupCommitter
from services.storage.db import create_engine
from services.storage.repositories.app_session import AppSession, NsCounterReport
from services.storage.repositories.session_batch import SessionWrite

from .conftest import KEK, FakeClock, World

KEY = AES128Key(bytes(range(16)))


@pytest.fixture(params=["batch_writer", "sqlalchemy"])
async def st(
    request: pytest.FixtureRequest, storage: Storage, db_url: str, clock: FakeClock
) -> AsyncIterator[Storage]:
    """The fixture storage (SQLite: the batch writer) and one on the plain SQLAlchemy path."""
    if request.param == "batch_writer":
        yield storage
        return
    plain = build_storage(create_engine(db_url), KEK, clock=clock, batch_writer=False)
    try:
        yield plain
    finally:
        await plain.close()


def test_the_sqlite_fixture_uses_the_batch_writer(storage: Storage, db_url: str) -> None:
    if db_url.startswith("sqlite"):
        assert storage.batch_writer is not None
        assert storage.sessions.batch_writer is storage.uplinks.batch_writer


async def _session(st: Storage, dev: EUI64, f_cnt_up: int | None = None) -> DeviceSession:
    return await st.sessions.create(
        DeviceSession(
            dev_eui=dev,
            dev_addr=DevAddr.from_hex("26011BDA"),
            mac_version="1.0.3",
            f_nwk_s_int_key=KEY,
            s_nwk_s_int_key=KEY,
            nwk_s_enc_key=KEY,
            f_cnt_up=f_cnt_up,
        )
    )


# --------------------------------------------------------------------------- GroupCommitter


async def test_concurrent_submits_share_one_flush_in_order() -> None:
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def flush(items: Sequence[int]) -> list[int | BaseException]:
        batches.append(list(items))
        await gate.wait()
        return [i * 10 for i in items]

    gc: GroupCommitter[int, int] = GroupCommitter(flush)
    first = asyncio.create_task(gc.submit(0))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(gc.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0)
    gate.set()
    assert await first == 0
    assert [await t for t in rest] == [10, 20, 30, 40, 50]
    assert batches == [[0], [1, 2, 3, 4, 5]]  # the second batch formed during the first commit
    assert (gc.batches, gc.items) == (2, 6)


async def test_an_item_error_goes_to_its_caller_only_and_max_batch_holds() -> None:
    sizes: list[int] = []

    async def flush(items: Sequence[int]) -> list[int | BaseException]:
        sizes.append(len(items))
        return [ValueError(f"bad {i}") if i % 3 == 0 else i for i in items]

    gc: GroupCommitter[int, int] = GroupCommitter(flush, max_batch=4)
    results = await asyncio.gather(*(gc.submit(i) for i in range(1, 11)), return_exceptions=True)
    assert [r if isinstance(r, int) else str(r) for r in results] == [
        1, 2, "bad 3", 4, 5, "bad 6", 7, 8, "bad 9", 10,
    ]  # fmt: skip
    assert max(sizes) <= 4 and sum(sizes) == 10


async def test_a_failed_flush_fails_every_caller_of_that_batch_and_the_next_one_runs() -> None:
    calls = 0

    async def flush(items: Sequence[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("disk full")
        return list(items)

    gc: GroupCommitter[int, int] = GroupCommitter(flush)
    results = await asyncio.gather(gc.submit(1), gc.submit(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await gc.submit(3) == 3
    await gc.close()


async def test_linger_grows_the_batch() -> None:
    sizes: list[int] = []

    async def flush(items: Sequence[int]) -> list[int | BaseException]:
        sizes.append(len(items))
        return list(items)

    gc: GroupCommitter[int, int] = GroupCommitter(flush, linger_s=0.02)

    async def late(i: int) -> int:
        await asyncio.sleep(0.005)
        return await gc.submit(i)

    assert await asyncio.gather(gc.submit(0), late(1), late(2)) == [0, 1, 2]
    assert sizes == [3]


# --------------------------------------------------------------------------- save_many


async def test_save_many_writes_state_and_counters_in_one_go(st: Storage, world: World) -> None:
    a = await _session(st, world.dev1.dev_eui)
    b = await _session(st, world.dev2.dev_eui, f_cnt_up=7)
    a.f_cnt_up, a.dr, a.mac_command_state = 1, 5, {"last_uplink": {"f_cnt": 1}}
    b.f_cnt_up, b.pending_mac_commands = 8, [{"cid": "DevStatusReq"}]
    assert await st.sessions.save_many([SessionWrite(a, advance=True), SessionWrite(b, True)]) == [
        a.version + 1,
        b.version + 1,
    ]
    got_a = await st.sessions.get_by_dev_eui(a.dev_eui)
    got_b = await st.sessions.get_by_dev_eui(b.dev_eui)
    assert got_a is not None and got_b is not None
    assert (got_a.f_cnt_up, got_a.dr, got_a.version) == (1, 5, a.version + 1)
    assert got_a.mac_command_state == {"last_uplink": {"f_cnt": 1}}
    assert got_a.f_nwk_s_int_key == KEY  # keys untouched, still readable
    assert got_a.updated_at is not None and got_a.updated_at.tzinfo is not None
    assert (got_b.f_cnt_up, got_b.pending_mac_commands) == (8, [{"cid": "DevStatusReq"}])


async def test_save_many_gives_each_write_its_own_outcome(st: Storage, world: World) -> None:
    a = await _session(st, world.dev1.dev_eui, f_cnt_up=5)
    b = await _session(st, world.dev2.dev_eui, f_cnt_up=5)
    replayed = SessionWrite(_with(a, f_cnt_up=5), advance=True)  # not greater: replay
    stale = SessionWrite(_with(b, f_cnt_up=6, version=b.version + 3), advance=True)
    ghost = SessionWrite(
        _with(a, dev_eui=EUI64.from_hex("00000000000000FF"), f_cnt_up=1), advance=True
    )
    results = await st.sessions.save_many([replayed, stale, ghost])
    assert isinstance(results[0], FrameCounterReplay)
    assert isinstance(results[1], StaleVersion)
    assert isinstance(results[2], NotFound)
    # nothing of a failed write was applied; the next good write goes through
    got = await st.sessions.get_by_dev_eui(b.dev_eui)
    assert got is not None and (got.f_cnt_up, got.version) == (5, b.version)
    assert await st.sessions.save_many([SessionWrite(_with(b, f_cnt_up=6), True)]) == [
        b.version + 1
    ]


async def test_a_good_write_in_a_batch_with_a_bad_one_still_commits(
    st: Storage, world: World
) -> None:
    a = await _session(st, world.dev1.dev_eui, f_cnt_up=5)
    b = await _session(st, world.dev2.dev_eui, f_cnt_up=5)
    results = await st.sessions.save_many(
        [SessionWrite(_with(a, f_cnt_up=4), True), SessionWrite(_with(b, f_cnt_up=9), True)]
    )
    assert isinstance(results[0], FrameCounterReplay) and results[1] == b.version + 1
    got = await st.sessions.get_by_dev_eui(b.dev_eui)
    assert got is not None and got.f_cnt_up == 9


async def test_save_many_without_advance_never_moves_the_counter_back(
    st: Storage, world: World
) -> None:
    a = await _session(st, world.dev1.dev_eui, f_cnt_up=5)
    await st.sessions.advance_f_cnt_up(a.dev_eui, 9)  # advanced meanwhile (version unchanged)
    assert await st.sessions.save_many([SessionWrite(_with(a, f_cnt_up=5, dr=3))]) == [
        a.version + 1
    ]
    got = await st.sessions.get_by_dev_eui(a.dev_eui)
    assert got is not None and (got.f_cnt_up, got.dr) == (9, 3)


async def test_save_many_refuses_a_counter_out_of_range(st: Storage, world: World) -> None:
    a = await _session(st, world.dev1.dev_eui)
    with pytest.raises(InvalidParameter):
        await st.sessions.save_many([SessionWrite(_with(a, f_cnt_up=1 << 32), True)])
    assert await st.sessions.save_many([]) == []


async def test_concurrent_advances_of_one_counter_accept_exactly_one(
    st: Storage, world: World
) -> None:
    a = await _session(st, world.dev1.dev_eui, f_cnt_up=1)
    gc: GroupCommitter[SessionWrite, int] = GroupCommitter(st.sessions.save_many)
    results = await asyncio.gather(
        *(gc.submit(SessionWrite(_with(a, f_cnt_up=2), True)) for _ in range(5)),
        return_exceptions=True,
    )
    assert sum(1 for r in results if isinstance(r, int)) == 1
    assert all(isinstance(r, (int, FrameCounterReplay, StaleVersion)) for r in results)


def _with(s: DeviceSession, **changes: object) -> DeviceSession:
    from dataclasses import replace

    return replace(s, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- insert_many


def _record(dev: EUI64, f_cnt: int, sid: uuid.UUID, **kw: object) -> UplinkRecord:
    return UplinkRecord(
        dev_eui=dev,
        dev_addr=DevAddr.from_hex("26011BDA"),
        session_id=sid,
        f_cnt=f_cnt,
        f_port=1,
        payload=b"\x01\x02",
        dr=5,
        freq=868_100_000,
        rx_metadata=[{"gw_eui": "AA555A0000000001", "rssi": -70, "snr": 7.5}],
        received_at=datetime(2026, 1, 1, 12, tzinfo=UTC),
        **kw,  # type: ignore[arg-type]
    )


async def test_insert_many_reads_back_like_insert(st: Storage, world: World) -> None:
    sid = uuid.uuid4()
    dev = world.dev1.dev_eui
    assert await st.uplinks.insert_many([_record(dev, 1, sid), _record(dev, 2, sid)]) == [
        True,
        True,
    ]
    await st.uplinks.insert(_record(dev, 3, sid))
    a = await st.uplinks.get(dev, 2, tenant_id=None)
    b = await st.uplinks.get(dev, 3, tenant_id=None)
    assert a is not None and b is not None
    assert (a.payload, a.rx_metadata, a.received_at, a.session_id) == (
        b.payload,
        b.rx_metadata,
        b.received_at,
        b.session_id,
    )
    assert a.payload_sha256 == b.payload_sha256 and len(a.payload_sha256) == 32


async def test_insert_many_is_idempotent_per_record(st: Storage, world: World) -> None:
    sid = uuid.uuid4()
    d1, d2 = world.dev1.dev_eui, world.dev2.dev_eui
    first = _record(d1, 1, sid)
    assert await st.uplinks.insert_many([first]) == [True]
    assert await st.uplinks.insert_many([first]) == [False]  # redelivered: same dedup id
    unknown = _record(EUI64.from_hex("00000000000000FF"), 1, sid)
    again = _record(d1, 1, sid)  # same device, session and FCnt, new dedup id
    results = await st.uplinks.insert_many([again, _record(d2, 1, sid), unknown])
    assert results[:2] == [False, True] and isinstance(results[2], NotFound)
    page = await st.uplinks.list_recent(d1, tenant_id=None)
    assert page.total == 1


# --------------------------------------------------------------------------- listeners


async def test_session_change_listeners_hear_every_write_but_save_many(
    storage: Storage, world: World
) -> None:
    heard: list[EUI64] = []
    storage.sessions.on_change(heard.append)
    dev = world.dev1.dev_eui
    s = await _session(storage, dev)
    s = await storage.sessions.save(s)
    await storage.sessions.advance_f_cnt_up(dev, 3)
    await storage.sessions.save_many([SessionWrite(_with(s, f_cnt_up=4), True)])
    await storage.sessions.delete(dev)
    assert heard == [dev, dev, dev, dev]


# --------------------------------------------------------------------------- app session counters


async def test_ns_counter_reports_move_forward_in_one_batch(st: Storage, world: World) -> None:
    dev = world.dev1.dev_eui
    sid = uuid.uuid4()
    await st.app_sessions.create(
        AppSession(
            dev_eui=dev,
            dev_addr=DevAddr.from_hex("26011BDA"),
            session_id=sid,
            app_s_key=KEY,
            mac_version="1.0.3",
        )
    )
    results = await st.app_sessions.record_ns_counters_many(
        [
            NsCounterReport(dev, sid, n_f_cnt_down=5),
            NsCounterReport(dev, sid, n_f_cnt_down=3, a_f_cnt_down=2),  # n stays 5
            NsCounterReport(dev, uuid.uuid4(), n_f_cnt_down=9),  # another session: ignored
            NsCounterReport(dev, sid, n_f_cnt_down=1 << 32),  # out of range: its own error
        ]
    )
    assert results[:3] == [None, None, None] and isinstance(results[3], InvalidParameter)
    got = await st.app_sessions.get(dev)
    assert got is not None and (got.n_f_cnt_down, got.a_f_cnt_down) == (5, 2)
