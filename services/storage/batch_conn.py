"""Where a group-commit batch runs: one transaction, written once against :class:`BatchConn`.

Two implementations:

* :class:`SaBatchConn` — a SQLAlchemy connection (any backend; PostgreSQL in the distributed
  deployment), driven through ``AsyncConnection.run_sync``;
* :class:`SqliteBatchWriter` — embedded SQLite: one plain ``sqlite3`` connection used only
  for the batches. SQLAlchemy's asyncio adaptation of SQLite costs ~0.4 ms of CPU per
  transaction (each step is a hop to aiosqlite's thread); this runs a whole batch in one
  call (~0.05 ms), on the loop when the write lock is free (see the class). Statements are
  still built and compiled by SQLAlchemy, and every value goes through the column type's own
  bind processor, so what is stored is byte for byte what the repositories' other methods
  write and read. Same database file, same pragmas (WAL, synchronous=NORMAL, foreign keys).

A batch function receives the connection inside an open transaction; it is committed when the
function returns and rolled back if it raises.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Delete, Dialect, Insert, Select, Update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.compiler import SQLCompiler

from .db import SQLITE_BUSY_TIMEOUT_MS, WAL_LIMIT_BYTES
from .metrics import CHECKPOINTS, WAL_BYTES

T = TypeVar("T")
log = logging.getLogger("hyperlora.storage.batch")
Row = Mapping[str, Any]
Statement = Update | Insert | Delete | Select[Any]


class BatchConn(Protocol):
    multi_rowcount: bool  # executemany reports the sum of the rows it touched

    def execute(self, stmt: Statement, rows: Sequence[Row]) -> int:
        """Run ``stmt`` once per row (executemany); the number of rows touched."""
        ...

    def first(self, stmt: Statement, row: Row) -> tuple[Any, ...] | None:
        """The first result row of a SELECT, values converted by the column types."""
        ...

    def all(self, stmt: Statement, row: Row) -> list[tuple[Any, ...]]:
        """Every result row of a SELECT, values converted by the column types."""
        ...

    def returning(self, stmt: Statement, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
        """Run an INSERT ... RETURNING for every row; the rows it returned (for an INSERT
        that skips conflicts: those of the rows written, in no promised order)."""
        ...


BatchFn = Callable[[BatchConn], T]


class SaBatchConn:
    """A SQLAlchemy (sync-facing) connection as a BatchConn."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.multi_rowcount = bool(conn.dialect.supports_sane_multi_rowcount)

    def execute(self, stmt: Statement, rows: Sequence[Row]) -> int:
        params: Any = list(rows) if len(rows) > 1 else dict(rows[0])
        return int(self._conn.execute(stmt, params).rowcount)

    def first(self, stmt: Statement, row: Row) -> tuple[Any, ...] | None:
        found = self._conn.execute(stmt, dict(row)).first()
        return None if found is None else tuple(found)

    def all(self, stmt: Statement, row: Row) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._conn.execute(stmt, dict(row))]

    def returning(self, stmt: Statement, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
        # several rows: SQLAlchemy's "insertmanyvalues" sends them as multi-row VALUES
        # statements (one round trip per 1,000 rows on asyncpg) and gathers what they return
        params: Any = [dict(r) for r in rows] if len(rows) > 1 else dict(rows[0])
        return [tuple(r) for r in self._conn.execute(stmt, params)]


@dataclass(frozen=True, slots=True)
class _Prepared:
    sql: str
    names: tuple[str, ...]
    literals: dict[str, Any]  # bind values fixed in the statement (e.g. version + 1)
    processors: dict[str, Callable[[Any], Any]]
    results: tuple[Callable[[Any], Any] | None, ...]

    def params(self, row: Row) -> tuple[Any, ...]:
        out = []
        for name in self.names:
            value = row[name] if name in row else self.literals[name]
            proc = self.processors.get(name)
            out.append(value if proc is None or value is None else proc(value))
        return tuple(out)


def _prepare(stmt: Statement, dialect: Dialect) -> _Prepared:
    compiled = stmt.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None
    processors: dict[str, Callable[[Any], Any]] = {}
    literals: dict[str, Any] = {}
    for bind in compiled.binds.values():
        name = compiled.bind_names[bind]
        proc = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            processors[name] = proc
        if bind.value is not None or not bind.required:
            literals[name] = bind.effective_value
    columns = stmt.selected_columns if isinstance(stmt, Select) else ()
    results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
    return _Prepared(str(compiled), tuple(compiled.positiontup), literals, processors, results)


class _RawConn:
    """BatchConn over a sqlite3 connection (inside the writer thread)."""

    multi_rowcount = True

    def __init__(self, conn: sqlite3.Connection, prepare: Callable[[Statement], _Prepared]):
        self._conn = conn
        self._prepare = prepare

    def execute(self, stmt: Statement, rows: Sequence[Row]) -> int:
        p = self._prepare(stmt)
        try:
            if len(rows) == 1:
                return self._conn.execute(p.sql, p.params(rows[0])).rowcount
            return self._conn.executemany(p.sql, [p.params(r) for r in rows]).rowcount
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(p.sql, None, exc) from exc

    def first(self, stmt: Statement, row: Row) -> tuple[Any, ...] | None:
        p = self._prepare(stmt)
        found = self._conn.execute(p.sql, p.params(row)).fetchone()
        if found is None:
            return None
        return tuple(v if f is None else f(v) for v, f in zip(found, p.results, strict=False))

    def all(self, stmt: Statement, row: Row) -> list[tuple[Any, ...]]:
        p = self._prepare(stmt)
        return [
            tuple(v if f is None else f(v) for v, f in zip(found, p.results, strict=False))
            for found in self._conn.execute(p.sql, p.params(row)).fetchall()
        ]

    def returning(self, stmt: Statement, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
        p = self._prepare(stmt)
        out: list[tuple[Any, ...]] = []
        try:
            for row in rows:  # sqlite3's executemany refuses statements that return rows
                out.extend(self._conn.execute(p.sql, p.params(row)).fetchall())
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(p.sql, None, exc) from exc
        return out


POLL_FIRST_S = 0.0002  # first pause while another connection holds the write lock
POLL_MAX_S = 0.002
POLL_WAIT_S = 0.05  # then wait in the thread (a long transaction, a checkpoint, a backup)
RESTART_BUSY_S = 0.05  # how long a RESTART checkpoint waits for writers and readers


def conn_page_size(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA page_size").fetchone()[0])


class _Locked(Exception):
    """Another connection holds the write lock: wait for it off the event loop."""


class SqliteBatchWriter:
    """One sqlite3 connection for group-commit batches on a SQLite file.

    A batch runs on the event loop itself when the write lock is free (the common case: the
    transaction takes ~0.1-0.3 ms, less than handing it to a thread, whose wake-up waits for
    the GIL: ~3 ms median, ~40 ms p99 measured under load). When another connection holds
    the lock (in the two-process embedded mode, mostly the other process's batch, as short
    as ours), the batch tries again on the loop after short asyncio sleeps (0.2 ms doubling
    to 2 ms, for up to 50 ms), then waits for it in the writer's thread (up to the busy
    timeout), so the loop never blocks on a lock. One batch at a time (an asyncio lock).
    The WAL is checkpointed in that thread too, every ``checkpoint_every`` commits (the
    connection's own automatic checkpoint, which may fsync, is off), so no commit on the
    loop pays for one.

    A PASSIVE checkpoint copies pages but never makes the log start again: SQLite restarts
    the WAL only when a writer begins while the log is fully copied, and with a second
    writing connection (the other process's batches, the API's engine) that moment may never
    come. Measured: at 1,000 uplinks/s with two processes the WAL grew by ~20 MB/s without
    end (2.3 GB after two minutes) although every checkpoint completed. So when the WAL is
    over ``wal_restart_bytes`` after a PASSIVE checkpoint, a RESTART checkpoint follows: it
    waits (at most ``RESTART_BUSY_S``, holding off writers meanwhile) until no reader is on
    the log, and the next writer starts it again from the beginning; ``journal_size_limit``
    then truncates the file.
    """

    def __init__(
        self,
        path: str,
        dialect: Dialect,
        *,
        checkpoint_every: int = 500,
        wal_restart_bytes: int = WAL_LIMIT_BYTES,
    ) -> None:
        self._path = path
        self._wal_restart_bytes = wal_restart_bytes
        self._frame_bytes = 4096 + 24  # a WAL frame: header and page
        self._dialect = dialect
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="hyperlora-sqlite-batch")
        self._conn: sqlite3.Connection | None = None
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._prepared: dict[int, tuple[Statement, _Prepared]] = {}
        self._lock: asyncio.Lock | None = None
        self._checkpoint_every = checkpoint_every
        self._since_checkpoint = 0
        self._checkpoint: asyncio.Future[None] | None = None
        self.inline = 0  # batches run on the loop
        self.waited = 0  # batches that waited for the lock in the thread
        self.polled = 0  # retries on the loop while another connection held the lock

    def _prepare(self, stmt: Statement) -> _Prepared:
        found = self._prepared.get(id(stmt))
        if found is None or found[0] is not stmt:
            found = (stmt, _prepare(stmt, self._dialect))
            self._prepared[id(stmt)] = found
        return found[1]

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=0.0
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=0")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        return conn

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _begin(self, conn: sqlite3.Connection, wait_s: float) -> None:
        """BEGIN IMMEDIATE; _Locked if the lock is still taken after ``wait_s``."""
        deadline = time.monotonic() + wait_s
        pause = 0.0005
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise _Locked(str(exc)) from exc
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def _run(self, fn: BatchFn[T], wait_s: float) -> T:
        conn = self._connection()
        self._begin(conn, wait_s)
        try:
            result = fn(_RawConn(conn, self._prepare))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def run(self, fn: BatchFn[T]) -> T:
        """``fn`` in one transaction; committed when it returns."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        async with self._lock:
            try:
                result = await self._run_polling(fn)
                self.inline += 1
            except _Locked:
                self.waited += 1
                try:
                    result = await loop.run_in_executor(
                        self._executor, self._run, fn, SQLITE_BUSY_TIMEOUT_MS / 1000
                    )
                except _Locked as exc:
                    raise sqlite3.OperationalError(f"database is locked: {exc}") from exc
        self._since_checkpoint += 1
        if self._since_checkpoint >= self._checkpoint_every and (
            self._checkpoint is None or self._checkpoint.done()
        ):
            self._since_checkpoint = 0
            self._checkpoint = loop.run_in_executor(self._executor, self._wal_checkpoint)
        return result

    async def _run_polling(self, fn: BatchFn[T]) -> T:
        """``fn`` on the loop; while another connection holds the write lock (another
        process's short batch: the two-process embedded mode), try again after a short
        asyncio sleep, for up to POLL_WAIT_S: a thread wake-up costs more than most waits."""
        waited = 0.0
        pause = POLL_FIRST_S
        while True:
            try:
                return self._run(fn, 0.0)
            except _Locked:
                if waited >= POLL_WAIT_S:
                    raise
            self.polled += 1
            await asyncio.sleep(pause)
            waited += pause
            pause = min(pause * 2, POLL_MAX_S)

    def _read(self, fn: BatchFn[T], wait_s: float) -> T:
        conn = self._connection()
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return fn(_RawConn(conn, self._prepare))
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise _Locked(str(exc)) from exc
            time.sleep(0.001)

    async def read(self, fn: BatchFn[T]) -> T:
        """``fn`` outside a transaction (reads only: each statement sees the last commit);
        on the loop, or in the thread if the database is busy (WAL recovery, rarely)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                return self._read(fn, 0.0)
            except _Locked:
                try:
                    return await asyncio.get_running_loop().run_in_executor(
                        self._executor, self._read, fn, SQLITE_BUSY_TIMEOUT_MS / 1000
                    )
                except _Locked as exc:
                    raise sqlite3.OperationalError(f"database is locked: {exc}") from exc

    def _wal_size(self) -> int:
        try:
            return os.path.getsize(self._path + "-wal")
        except OSError:
            return 0

    def _wal_checkpoint(self) -> None:
        """A PASSIVE checkpoint on a connection of its own (never blocks writers); then, if
        the log is still over ``wal_restart_bytes``, a RESTART one (see the class)."""
        mode = "passive"
        try:
            if self._checkpoint_conn is None:
                self._checkpoint_conn = sqlite3.connect(
                    self._path,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=RESTART_BUSY_S,
                )
                self._checkpoint_conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
                self._frame_bytes = 24 + conn_page_size(self._checkpoint_conn)
            conn = self._checkpoint_conn
            busy, frames, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            CHECKPOINTS.labels(mode, "busy" if busy else "done").inc()
            # the frames in use, not the file's size: a log started again keeps its size
            # until a writer with journal_size_limit truncates it
            if frames * self._frame_bytes > self._wal_restart_bytes:
                mode = "restart"
                busy = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0]
                CHECKPOINTS.labels(mode, "busy" if busy else "done").inc()
        except sqlite3.Error as exc:  # retried at the next interval
            CHECKPOINTS.labels(mode, "failed").inc()
            log.warning("storage.sqlite_batch.checkpoint_failed mode=%s error=%s", mode, exc)
        WAL_BYTES.set(self._wal_size())

    def _close(self) -> None:
        for conn in (self._conn, self._checkpoint_conn):
            if conn is not None:
                conn.close()
        self._conn = self._checkpoint_conn = None

    async def close(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._checkpoint is not None:
                await self._checkpoint
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)
