"""services.storage against a real PostgreSQL (deploy/postgres/postgres.sh), through asyncpg.

Besides the main operations, the races a network server cluster produces (several instances
handling copies of one frame, several join servers handling one JoinRequest) run here with
real concurrent connections, which SQLite serialises and so never shows.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from services.lorawan.errors import DevNonceReused, FrameCounterReplay
from services.lorawan.types import EUI64, AES128Key, DevAddr
from services.storage import (
    Application,
    Device,
    DeviceProfile,
    DeviceSession,
    NotFound,
    OutboxEntry,
    QueueItem,
    StaleVersion,
    Storage,
    StorageSettings,
    Tenant,
    UplinkRecord,
    build_storage,
    open_storage,
)
from services.storage.db import create_engine, init_db
from services.storage.migrate import current_revision, head_revision, upgrade
from services.storage.models import Base
from services.storage.repositories._base import eui_str

from .conftest import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]  # cold: apt install

KEK = bytes(range(32))
ADDR = DevAddr.from_hex("26011BDA")
JOIN_EUI = EUI64.from_hex("70B3D57ED0000000")


async def reset_schema(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            await conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        await engine.dispose()


@pytest.fixture
async def pg_url(postgres_server: PostgresServer) -> str:
    """The server's database with an empty public schema."""
    await reset_schema(postgres_server.url)
    return postgres_server.url


@pytest.fixture
async def storage(pg_url: str) -> AsyncIterator[Storage]:
    await upgrade(pg_url)
    st = build_storage(create_engine(pg_url, pool_size=10, max_overflow=10), KEK)
    try:
        yield st
    finally:
        await st.close()


def key() -> AES128Key:
    return AES128Key(os.urandom(16))


async def new_device(st: Storage, dev_eui_hex: str = "0102030405060701") -> Device:
    tenant = await st.tenants.create(Tenant(name=f"t-{uuid.uuid4().hex[:6]}"))
    app = await st.applications.create(Application(tenant_id=tenant.id, name="meters"))
    prof = await st.device_profiles.create(DeviceProfile(tenant_id=tenant.id, name="eu"))
    return await st.devices.create(
        Device(
            dev_eui=EUI64.from_hex(dev_eui_hex),
            tenant_id=tenant.id,
            application_id=app.id,
            device_profile_id=prof.id,
            name="meter 1",
            join_eui=JOIN_EUI,
            nwk_key=key(),
            app_key=key(),
        )
    )


def new_session(dev_eui: EUI64, **kw: object) -> DeviceSession:
    return DeviceSession(
        dev_eui=dev_eui,
        dev_addr=ADDR,
        mac_version="1.0.3",
        f_nwk_s_int_key=key(),
        s_nwk_s_int_key=key(),
        nwk_s_enc_key=key(),
        app_s_key=key(),
        **kw,  # type: ignore[arg-type]
    )


async def outcomes(coros: list[Awaitable[object]]) -> list[object]:
    """Run concurrently; results and exceptions side by side."""
    return list(await asyncio.gather(*coros, return_exceptions=True))


# ------------------------------------------------------------------------------ migrations


async def test_migrations_create_the_schema_at_head_and_are_idempotent(pg_url: str) -> None:
    assert await current_revision(pg_url) is None
    await init_db(pg_url)
    assert await current_revision(pg_url) == head_revision()
    await init_db(pg_url)  # a second service starting: nothing to do, no error
    assert await current_revision(pg_url) == head_revision()
    engine = create_engine(pg_url)
    try:
        async with engine.connect() as conn:
            tables = set(
                (
                    await conn.execute(
                        text(
                            "SELECT table_name FROM information_schema.tables "
                            "WHERE table_schema = 'public'"
                        )
                    )
                ).scalars()
            )
    finally:
        await engine.dispose()
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


MIGRATE_SCRIPT = (
    "import asyncio, sys\n"
    "from services.storage.db import init_db\n"
    "asyncio.run(init_db(sys.argv[1]))\n"
)


async def run_migration_process(url: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        MIGRATE_SCRIPT,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout=40)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, "timed out"
    return int(proc.returncode or 0), err.decode()[-1500:]


async def test_concurrent_migrations_from_two_services(pg_url: str) -> None:
    """Two service processes starting at once on an empty database both come up at head.

    To make the race certain rather than likely, this test holds an uncommitted CREATE TABLE
    alembic_version until both processes are blocked inside their migration, then rolls back.
    """
    engine = create_engine(pg_url)
    try:
        blocker = await engine.connect()
        tx = await blocker.begin()
        await blocker.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        procs = [asyncio.create_task(run_migration_process(pg_url)) for _ in range(2)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        async with engine.connect() as watcher:
            while True:
                waiting = await watcher.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock' "
                        "AND pid <> pg_backend_pid()"
                    )
                )
                await watcher.rollback()  # pg_stat_activity is a snapshot per transaction
                if waiting == 2 or loop.time() > deadline:
                    break
                await asyncio.sleep(0.1)
        await tx.rollback()
        await blocker.close()
        results = await asyncio.gather(*procs)
    finally:
        await engine.dispose()
    assert waiting == 2, "the two migration processes never met"
    failures = [err for code, err in results if code != 0]
    assert not failures, failures[0]
    assert await current_revision(pg_url) == head_revision()


async def test_open_storage_from_settings(pg_url: str) -> None:
    st = await open_storage(StorageSettings(url=pg_url, kek=KEK.hex()))
    try:
        created = await st.tenants.create(Tenant(name="acme"))
        assert await st.tenants.get(created.id) == created
        page = await st.tenants.list(limit=10)
        assert page.total == 1 and page.items == [created]
        assert created.created_at is not None and created.created_at.tzinfo is not None
    finally:
        await st.close()


# ----------------------------------------------------------------------- registry data


async def test_tenant_device_round_trip_and_keys_encrypted_at_rest(storage: Storage) -> None:
    dev = await new_device(storage)
    got = await storage.devices.get(dev.dev_eui, tenant_id=dev.tenant_id)
    assert got == dev and got.nwk_key == dev.nwk_key
    assert await storage.devices.get(dev.dev_eui, tenant_id=uuid.uuid4()) is None
    async with storage.engine.connect() as conn:
        raw = (
            await conn.execute(
                text("SELECT nwk_key, app_key FROM devices WHERE dev_eui = :e"),
                {"e": eui_str(dev.dev_eui)},
            )
        ).one()
    assert dev.nwk_key is not None and dev.app_key is not None
    assert dev.nwk_key.value not in bytes(raw[0]) and dev.app_key.value not in bytes(raw[1])
    await storage.devices.delete(dev.dev_eui, tenant_id=dev.tenant_id)
    assert await storage.devices.get(dev.dev_eui, tenant_id=None) is None


# ---------------------------------------------------------------------- sessions / FCnt


async def test_session_f_cnt_advance_and_replay(storage: Storage) -> None:
    dev = await new_device(storage)
    s = await storage.sessions.create(new_session(dev.dev_eui))
    assert [c.dev_eui for c in await storage.sessions.candidates_by_dev_addr(ADDR)] == [dev.dev_eui]
    await storage.sessions.advance_f_cnt_up(dev.dev_eui, 0, session_id=s.session_id)
    await storage.sessions.advance_f_cnt_up(dev.dev_eui, 70_000, session_id=s.session_id)
    for replay in (70_000, 5):
        with pytest.raises(FrameCounterReplay):
            await storage.sessions.advance_f_cnt_up(dev.dev_eui, replay, session_id=s.session_id)
    got = await storage.sessions.get_by_dev_eui(dev.dev_eui)
    assert got is not None and got.f_cnt_up == 70_000 and got.version == s.version
    # optimistic lock: save bumps the version; the old copy is stale
    saved = await storage.sessions.save(got)
    assert saved.version == got.version + 1 and saved.f_cnt_up == 70_000
    with pytest.raises(StaleVersion):
        await storage.sessions.save(got)
    # a new join replaces the session: the old session id no longer advances
    await storage.sessions.create(new_session(dev.dev_eui))
    with pytest.raises(FrameCounterReplay):
        await storage.sessions.advance_f_cnt_up(dev.dev_eui, 80_000, session_id=s.session_id)


async def test_concurrent_copies_of_one_frame_advance_f_cnt_once(storage: Storage) -> None:
    dev = await new_device(storage)
    s = await storage.sessions.create(new_session(dev.dev_eui))
    results = await outcomes(
        [
            storage.sessions.advance_f_cnt_up(dev.dev_eui, 42, session_id=s.session_id)
            for _ in range(12)
        ]
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, FrameCounterReplay) for r in results if r is not None)
    # racing different counters: the highest always wins, never a lower one after it
    await outcomes(
        [
            storage.sessions.advance_f_cnt_up(dev.dev_eui, f, session_id=s.session_id)
            for f in range(43, 63)
        ]
    )
    got = await storage.sessions.get_by_dev_eui(dev.dev_eui)
    assert got is not None and got.f_cnt_up == 62


# ---------------------------------------------------------------------- joins / DevNonce


async def test_dev_nonce_replay_both_modes(storage: Storage) -> None:
    dev = await new_device(storage)
    # LoRaWAN 1.0.0-1.0.3: random DevNonce, each value once
    await storage.devices.check_and_record_dev_nonce(dev.dev_eui, 0x1234, False)
    await storage.devices.check_and_record_dev_nonce(dev.dev_eui, 0x0001, False)
    with pytest.raises(DevNonceReused):
        await storage.devices.check_and_record_dev_nonce(dev.dev_eui, 0x1234, False)
    # LoRaWAN 1.0.4 / 1.1: a counter that must increase
    dev2 = await new_device(storage, "0102030405060702")
    await storage.devices.check_and_record_dev_nonce(dev2.dev_eui, 10, True)
    for stale in (10, 9):
        with pytest.raises(DevNonceReused):
            await storage.devices.check_and_record_dev_nonce(dev2.dev_eui, stale, True)
    await storage.devices.check_and_record_dev_nonce(dev2.dev_eui, 11, True)
    with pytest.raises(NotFound):
        await storage.devices.check_and_record_dev_nonce(
            EUI64.from_hex("FFFFFFFFFFFFFFFF"), 1, False
        )


@pytest.mark.parametrize("strict", [False, True])
async def test_concurrent_join_requests_accept_a_dev_nonce_once(
    storage: Storage, strict: bool
) -> None:
    dev = await new_device(storage)
    results = await outcomes(
        [storage.devices.check_and_record_dev_nonce(dev.dev_eui, 77, strict) for _ in range(10)]
    )
    assert sum(r is None for r in results) == 1, results
    assert all(isinstance(r, DevNonceReused) for r in results if r is not None), results


async def test_join_nonces_are_unique_under_concurrency(storage: Storage) -> None:
    dev = await new_device(storage)
    values = await asyncio.gather(
        *(storage.devices.next_join_nonce(dev.dev_eui) for _ in range(15))
    )
    assert sorted(values) == list(range(1, 16))


# ----------------------------------------------------------------------------- queue


async def test_downlink_queue_fifo_pending_ack_and_expiry(storage: Storage) -> None:
    dev = await new_device(storage)
    now = datetime.now(UTC)
    first = await storage.queue.enqueue(
        QueueItem(dev_eui=dev.dev_eui, f_port=10, frm_payload=b"\x01", confirmed=True)
    )
    await storage.queue.enqueue(
        QueueItem(
            dev_eui=dev.dev_eui,
            f_port=11,
            frm_payload=b"old",
            expires_at=now - timedelta(seconds=1),
        )
    )
    third = await storage.queue.enqueue(
        QueueItem(dev_eui=dev.dev_eui, f_port=12, frm_payload=b"\x03")
    )
    assert await storage.queue.count_queued(dev.dev_eui, now=now) == 2  # the expired one skipped
    assert (await storage.queue.peek_next(dev.dev_eui, now=now)) == first
    sent = await storage.queue.mark_sent(first.id, f_cnt_down=5, sent_at=now, pending=True)
    assert sent.is_pending and sent.f_cnt_down == 5
    assert await storage.queue.get_pending(dev.dev_eui) == sent
    assert await storage.queue.peek_next(dev.dev_eui, now=now) == third
    acked = await storage.queue.mark_acked(first.id, acked=True)
    assert acked.acked is True and not acked.is_pending
    assert await storage.queue.get_pending(dev.dev_eui) is None
    assert await storage.queue.flush(dev.dev_eui, tenant_id=dev.tenant_id) == 3
    assert await storage.queue.peek_next(dev.dev_eui, now=now) is None


async def test_queue_order_follows_enqueue_order_under_concurrency(storage: Storage) -> None:
    dev = await new_device(storage)
    items = [QueueItem(dev_eui=dev.dev_eui, f_port=1, frm_payload=bytes([i])) for i in range(8)]
    for item in items:  # one producer: its order is kept
        await storage.queue.enqueue(item)
    now = datetime.now(UTC)
    order = []
    while (nxt := await storage.queue.peek_next(dev.dev_eui, now=now)) is not None:
        order.append(nxt.frm_payload[0])
        await storage.queue.mark_sent(nxt.id, f_cnt_down=len(order), sent_at=now, pending=False)
    assert order == list(range(8))


# ------------------------------------------------------------------------- uplink log


def uplink(dev_eui: EUI64, session_id: uuid.UUID, f_cnt: int, **kw: object) -> UplinkRecord:
    return UplinkRecord(
        dev_eui=dev_eui,
        dev_addr=ADDR,
        session_id=session_id,
        f_cnt=f_cnt,
        f_port=1,
        payload=b"temp=21.5",
        dr=5,
        freq=868_100_000,
        rx_metadata=[{"gw_eui": "0102030405060708", "rssi": -80.0}],
        **kw,  # type: ignore[arg-type]
    )


async def test_uplink_insert_is_idempotent(storage: Storage) -> None:
    dev = await new_device(storage)
    sid = uuid.uuid4()
    rec = uplink(dev.dev_eui, sid, 1000)
    assert await storage.uplinks.insert(rec) is True
    assert await storage.uplinks.insert(rec) is False  # redelivered message
    assert await storage.uplinks.insert(uplink(dev.dev_eui, sid, 1000)) is False  # other copy
    assert await storage.uplinks.insert(uplink(dev.dev_eui, sid, 1001, id=rec.id)) is False
    got = await storage.uplinks.get(dev.dev_eui, 1000, tenant_id=dev.tenant_id)
    assert got is not None and got.id == rec.id and got.payload == b"temp=21.5"
    assert got.rx_metadata == rec.rx_metadata and len(got.payload_sha256) == 32
    page = await storage.uplinks.list_recent(dev.dev_eui, tenant_id=None)
    assert page.total == 1
    with pytest.raises(NotFound):
        await storage.uplinks.insert(uplink(EUI64.from_hex("FFFFFFFFFFFFFFFF"), sid, 1))


async def test_retention_prunes_the_oldest_uplinks_in_batches(storage: Storage) -> None:
    dev = await new_device(storage)
    sid = uuid.uuid4()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for f_cnt in range(25):
        at = start + timedelta(minutes=f_cnt)
        await storage.uplinks.insert(uplink(dev.dev_eui, sid, f_cnt, received_at=at))
    cut = start + timedelta(minutes=12)
    deleted = [await storage.retention.prune("uplink_log", before=cut, limit=5) for _ in range(4)]
    assert deleted == [5, 5, 2, 0]
    page = await storage.uplinks.list_recent(dev.dev_eui, tenant_id=None, limit=100)
    assert sorted(r.f_cnt for r in page.items) == list(range(12, 25))


async def test_concurrent_duplicate_uplinks_are_recorded_once(storage: Storage) -> None:
    dev = await new_device(storage)
    sid = uuid.uuid4()
    results = await outcomes(
        [storage.uplinks.insert(uplink(dev.dev_eui, sid, 7)) for _ in range(10)]
    )
    assert results.count(True) == 1 and results.count(False) == 9, results
    assert (await storage.uplinks.list_recent(dev.dev_eui, tenant_id=None)).total == 1


async def test_uplink_path_reads_are_autocommit_and_match_the_orm_path(storage: Storage) -> None:
    """The uplink path's point reads run as single autocommit statements (no BEGIN/ROLLBACK)
    and return what the ORM session path returns; a commit is visible to the next read."""
    repos = (
        storage.devices,
        storage.device_profiles,
        storage.applications,
        storage.sessions,
        storage.app_sessions,
    )
    engine = storage.devices.autocommit_engine
    assert engine is not None and all(r.autocommit_engine is engine for r in repos)
    async with engine.connect() as conn:  # a read leaves no transaction open on the server
        await conn.exec_driver_sql("SELECT 1")
        raw = await conn.get_raw_connection()
        assert raw.driver_connection is not None
        assert not raw.driver_connection.is_in_transaction()
    async with storage.engine.connect() as conn:  # unlike a default connection
        await conn.exec_driver_sql("SELECT 1")
        raw = await conn.get_raw_connection()
        assert raw.driver_connection is not None
        assert raw.driver_connection.is_in_transaction()
    device = await new_device(storage)
    session = await storage.sessions.create(new_session(device.dev_eui))
    fast = (
        await storage.sessions.get_by_dev_eui(device.dev_eui),
        await storage.sessions.candidates_by_dev_addr(ADDR),
        await storage.devices.get(device.dev_eui, tenant_id=device.tenant_id),
        await storage.applications.get(device.application_id, tenant_id=None),
        await storage.device_profiles.get(device.device_profile_id, tenant_id=None),
    )
    for repo in repos:
        repo.autocommit_engine = None
    try:
        orm = (
            await storage.sessions.get_by_dev_eui(device.dev_eui),
            await storage.sessions.candidates_by_dev_addr(ADDR),
            await storage.devices.get(device.dev_eui, tenant_id=device.tenant_id),
            await storage.applications.get(device.application_id, tenant_id=None),
            await storage.device_profiles.get(device.device_profile_id, tenant_id=None),
        )
    finally:
        for repo in repos:
            repo.autocommit_engine = engine
    assert fast == orm
    assert fast[0] is not None and fast[0].session_id == session.session_id
    assert fast[2] is not None and fast[2].nwk_key == device.nwk_key  # decrypted as before
    await storage.sessions.advance_f_cnt_up(device.dev_eui, 9, session_id=session.session_id)
    again = await storage.sessions.get_by_dev_eui(device.dev_eui)
    assert again is not None and again.f_cnt_up == 9


# ------------------------------------------------------------------------------ outbox


def delivery(i: int, dev_eui: EUI64, **kw: object) -> OutboxEntry:
    return OutboxEntry(
        key=f"up:{i}:mqtt",
        dev_eui=dev_eui,
        target="mqtt",
        event="up",
        body={"application_id": "a", "event": {"event": "up", "i": i}},
        **kw,  # type: ignore[arg-type]
    )


async def test_outbox_rows_commit_with_their_uplink_and_only_once(storage: Storage) -> None:
    dev = await new_device(storage)
    sid = uuid.uuid4()
    first, again = uplink(dev.dev_eui, sid, 1), uplink(dev.dev_eui, sid, 2)
    batch = [(first, [delivery(1, dev.dev_eui)]), (again, [delivery(2, dev.dev_eui)])]
    assert await storage.uplinks.insert_many_with_outbox(batch) == [True, True]
    # redelivered (same frames) with a third new one: only the new one's row is added
    third = uplink(dev.dev_eui, sid, 3)
    batch.append((third, [delivery(3, dev.dev_eui)]))
    assert await storage.uplinks.insert_many_with_outbox(batch) == [False, False, True]
    assert await storage.outbox.counts() == (3, 0)
    ghost = uplink(EUI64.from_hex("FFFFFFFFFFFFFFFF"), sid, 1)
    result = await storage.uplinks.insert_many_with_outbox([(ghost, [delivery(9, dev.dev_eui)])])
    assert isinstance(result[0], NotFound)
    assert await storage.outbox.get("up:9:mqtt") is None


async def test_uplink_batches_are_written_in_one_pass_with_duplicates_told_apart(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg reports no row count for an executemany: the batch is one INSERT ...
    RETURNING, which still tells each record's outcome (not a replay row by row)."""
    from services.storage.repositories import uplink_log

    dev = await new_device(storage)
    sid = uuid.uuid4()
    replays: list[int] = []
    each = uplink_log._insert_each

    def counting_each(rows: Any, deliveries: Any, dialect: str) -> Any:
        replays.append(len(rows))
        return each(rows, deliveries, dialect)

    monkeypatch.setattr(uplink_log, "_insert_each", counting_each)
    one, two = uplink(dev.dev_eui, sid, 1), uplink(dev.dev_eui, sid, 2)
    same_frame = uplink(dev.dev_eui, sid, 2)  # another id, same device/session/FCnt
    batch = [
        (one, [delivery(11, dev.dev_eui)]),
        (two, [delivery(12, dev.dev_eui)]),
        (one, [delivery(13, dev.dev_eui)]),  # the same record twice in one batch
        (same_frame, [delivery(14, dev.dev_eui)]),
    ]
    assert await storage.uplinks.insert_many_with_outbox(batch) == [True, True, False, False]
    assert replays == []
    assert [await storage.outbox.get(f"up:{i}:mqtt") is not None for i in (11, 12, 13, 14)] == [
        True,
        True,
        False,
        False,
    ]
    three = uplink(dev.dev_eui, sid, 3)
    batch = [(two, [delivery(15, dev.dev_eui)]), (three, [delivery(16, dev.dev_eui)])]
    assert await storage.uplinks.insert_many_with_outbox(batch) == [False, True]
    assert replays == []
    # an unknown device in the batch: replayed row by row, each record its own outcome
    ghost = uplink(EUI64.from_hex("FFFFFFFFFFFFFFFE"), sid, 1)
    four = uplink(dev.dev_eui, sid, 4)
    batch = [(ghost, [delivery(17, dev.dev_eui)]), (four, [delivery(18, dev.dev_eui)])]
    result = await storage.uplinks.insert_many_with_outbox(batch)
    assert isinstance(result[0], NotFound) and result[1] is True
    assert replays == [2]
    assert await storage.outbox.get("up:17:mqtt") is None
    assert await storage.outbox.get("up:18:mqtt") is not None
    page = await storage.uplinks.list_recent(dev.dev_eui, tenant_id=None, limit=10)
    assert sorted(u.f_cnt for u in page.items) == [1, 2, 3, 4]


async def test_concurrent_outbox_claims_take_disjoint_rows(storage: Storage) -> None:
    dev = await new_device(storage)
    assert len(await storage.outbox.add_many([delivery(i, dev.dev_eui) for i in range(300)])) == (
        300
    )
    taken: list[str] = []
    owner: dict[str, str] = {}
    for _ in range(20):  # eight claimers at once, until nothing is left
        rounds = await asyncio.gather(
            *(storage.outbox.claim(f"relay-{n}", lease_s=60, limit=9) for n in range(8))
        )
        if not any(rounds):
            break
        for n, claimed in enumerate(rounds):
            for e in claimed:
                assert e.lease_owner == f"relay-{n}"
                taken.append(e.key)
                owner[e.key] = f"relay-{n}"
    assert len(taken) == 300 and len(set(taken)) == 300  # every row once, none twice
    # leased rows are not claimable; failed ones never; an expired lease is
    assert await storage.outbox.claim("late", lease_s=60, limit=500) == []
    await storage.outbox.fail("up:0:mqtt", attempts=1, error="HTTP 400")
    back = await storage.outbox.claim("relay-1", lease_s=60, limit=500, reclaim_own=True)
    assert {e.key for e in back} == {k for k, o in owner.items() if o == "relay-1"} - {"up:0:mqtt"}
    past = datetime.now(UTC) - timedelta(seconds=1)
    await storage.outbox.reschedule("up:1:mqtt", attempts=1, next_attempt_at=past, error="x")
    assert [e.key for e in await storage.outbox.claim("late", lease_s=60, limit=500)] == [
        "up:1:mqtt"
    ]
