"""SqliteBatchWriter keeps the write-ahead log bounded while another connection writes too
(the other process in the two-process embedded mode): PASSIVE checkpoints alone never let
SQLite start the log again, so the file grows without end; a RESTART past the limit does."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, insert
from sqlalchemy.dialects import sqlite as sqlite_dialect

from services.storage.batch_conn import SqliteBatchWriter
from services.storage.metrics import CHECKPOINTS, WAL_BYTES

META = MetaData()
T = Table("t", META, Column("x", Integer, primary_key=True), Column("blob", LargeBinary))
ROUNDS = 300
BLOB = 8192  # two pages per row: the log grows by ~5 pages a round


def _db(tmp_path: Path) -> str:
    path = str(tmp_path / "db.sqlite")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY, blob BLOB)")
    conn.commit()
    conn.close()
    return path


async def _interleave(path: str, writer: SqliteBatchWriter, limit: int) -> int:
    """Our batches while another connection commits all the time (in a thread, as another
    process would); the largest WAL seen."""
    stop = threading.Event()
    others = 0

    def other_writer() -> None:
        nonlocal others
        other = sqlite3.connect(path, isolation_level=None, timeout=5)
        other.execute("PRAGMA wal_autocheckpoint=0")  # like the other process's batch writer
        other.execute(f"PRAGMA journal_size_limit={limit}")  # as every connection of ours
        while not stop.is_set():
            others += 1
            other.execute("INSERT INTO t (x, blob) VALUES (?, ?)", (-others, os.urandom(BLOB)))
            time.sleep(0.0005)
        other.close()

    thread = threading.Thread(target=other_writer)
    thread.start()
    largest = 0
    stmt = insert(T)
    try:
        for i in range(ROUNDS):
            await writer.run(lambda c, i=i: c.execute(stmt, [{"x": i, "blob": os.urandom(BLOB)}]))
            largest = max(largest, os.path.getsize(path + "-wal"))
            await asyncio.sleep(0.002)  # the loop turns, as a server's does: checkpoints end
        await writer.close()  # waits for the last checkpoint
    finally:
        stop.set()
        thread.join()
    count = sqlite3.connect(path).execute("SELECT count(*) FROM t").fetchone()[0]
    assert count == ROUNDS + others  # nothing lost either way
    return largest


async def test_without_a_restart_the_log_only_grows(tmp_path: Path) -> None:
    """The failure the RESTART is for: every PASSIVE checkpoint completes, yet the file
    keeps every frame ever written."""
    path = _db(tmp_path)
    writer = SqliteBatchWriter(
        path, sqlite_dialect.dialect(), checkpoint_every=10, wal_restart_bytes=1 << 62
    )
    largest = await _interleave(path, writer, 64 * 1024)
    assert largest > 8 * 1024 * 1024, largest  # every row's pages are still in the log


@pytest.mark.parametrize("limit", [64 * 1024, 256 * 1024])
async def test_a_restart_keeps_the_log_near_the_limit(tmp_path: Path, limit: int) -> None:
    path = _db(tmp_path)
    restarts = CHECKPOINTS.labels("restart", "done")
    before = restarts._value.get()
    writer = SqliteBatchWriter(
        path, sqlite_dialect.dialect(), checkpoint_every=10, wal_restart_bytes=limit
    )
    largest = await _interleave(path, writer, limit)
    # the limit plus what both writers add between two checkpoints (the other one writes
    # all the time); without the RESTART it passes 8 MB (the test above)
    assert largest < 4 * 1024 * 1024, largest
    assert restarts._value.get() > before
    assert 0 <= WAL_BYTES._value.get() < 4 * 1024 * 1024  # as the last checkpoint left it
