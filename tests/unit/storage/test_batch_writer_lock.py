"""SqliteBatchWriter when another connection (another process, in the two-process embedded
mode) holds SQLite's write lock: a short hold is waited out on the loop, a long one in the
writer's thread, and the loop keeps running meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, Table, insert
from sqlalchemy.dialects import sqlite as sqlite_dialect

from services.storage import batch_conn
from services.storage.batch_conn import SqliteBatchWriter

META = MetaData()
T = Table("t", META, Column("x", Integer, primary_key=True))


def _db(tmp_path: Path) -> str:
    path = str(tmp_path / "db.sqlite")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    return path


def _hold_write_lock(path: str, seconds: float, held: threading.Event) -> threading.Thread:
    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t (x) VALUES (1000)")
        held.set()
        time.sleep(seconds)
        other.execute("COMMIT")
        other.close()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


async def _insert(writer: SqliteBatchWriter, x: int) -> int:
    stmt = insert(T)
    return await writer.run(lambda c: c.execute(stmt, [{"x": x}]))


async def test_a_short_hold_is_waited_out_on_the_loop(tmp_path: Path) -> None:
    path = _db(tmp_path)
    writer = SqliteBatchWriter(path, sqlite_dialect.dialect())
    held = threading.Event()
    thread = _hold_write_lock(path, 0.02, held)
    held.wait(5)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    t = asyncio.create_task(ticker())
    try:
        assert await _insert(writer, 1) == 1
    finally:
        t.cancel()
        thread.join()
        await writer.close()
    assert writer.polled > 0 and writer.waited == 0 and writer.inline == 1
    assert ticks >= 5  # the loop ran while the batch waited


async def test_a_long_hold_moves_the_wait_to_the_thread(tmp_path: Path) -> None:
    path = _db(tmp_path)
    writer = SqliteBatchWriter(path, sqlite_dialect.dialect())
    held = threading.Event()
    thread = _hold_write_lock(path, batch_conn.POLL_WAIT_S * 3, held)
    held.wait(5)
    try:
        assert await _insert(writer, 2) == 1
    finally:
        thread.join()
        await writer.close()
    assert writer.waited == 1 and writer.inline == 0
    conn = sqlite3.connect(path)
    assert sorted(x for (x,) in conn.execute("SELECT x FROM t")) == [2, 1000]
    conn.close()
