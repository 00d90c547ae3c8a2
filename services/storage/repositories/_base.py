"""Shared plumbing of the SQLAlchemy repositories."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, Insert, Select, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.lorawan.errors import InvalidParameter
from services.lorawan.types import EUI64, DevAddr

from ..batch_conn import BatchFn, SaBatchConn, SqliteBatchWriter
from ..crypto import KeyCipher
from ..domain import Page
from ..models import DeviceRow

SessionFactory = Callable[[], AsyncSession]
Clock = Callable[[], datetime]
T = TypeVar("T")
M = TypeVar("M")

MAX_LIMIT = 1000


def utcnow() -> datetime:
    return datetime.now(UTC)


def eui_str(eui: EUI64) -> str:
    return str(eui)


def eui_of(text: str) -> EUI64:
    return EUI64(bytes.fromhex(text))


def dev_addr_str(dev_addr: DevAddr) -> str:
    return str(dev_addr)


def dev_addr_of(text: str) -> DevAddr:
    return DevAddr(bytes.fromhex(text))


def check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidParameter(f"limit must be 1..{MAX_LIMIT}, got {limit}")
    if offset < 0:
        raise InvalidParameter(f"offset must be >= 0, got {offset}")


async def fetch_page(
    session: AsyncSession,
    stmt: Select[Any],
    convert: Callable[[Any], T],
    *,
    limit: int,
    offset: int,
) -> Page[T]:
    """Run ``stmt`` (already ordered) for one page, and count every match."""
    check_page(limit, offset)
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = (await session.scalars(stmt.limit(limit).offset(offset))).all()
    return Page(items=[convert(r) for r in rows], total=int(total or 0), limit=limit, offset=offset)


def scope_to_device_tenant(
    stmt: Select[Any], dev_eui_column: Any, tenant_id: uuid.UUID | None
) -> Select[Any]:
    """Restrict rows keyed by DevEUI to devices of ``tenant_id`` (None: no restriction)."""
    if tenant_id is None:
        return stmt
    return stmt.join(DeviceRow, DeviceRow.dev_eui == dev_eui_column).where(
        DeviceRow.tenant_id == tenant_id
    )


class Repo:
    """Base of every repository: an ``AsyncSession`` factory and an injected clock."""

    def __init__(self, session_factory: SessionFactory, *, clock: Clock = utcnow) -> None:
        self._sessions = session_factory
        self._now = clock
        # embedded SQLite: group-commit batches run on the writer's own connection
        self.batch_writer: SqliteBatchWriter | None = None
        # embedded SQLite: the uplink path's point reads run on the event loop over a plain
        # (synchronous) engine on the same file — a read is ~0.1 ms, while a hop to
        # aiosqlite's thread waits for the GIL (ms under load). See storage.build_storage.
        self.read_engine: Engine | None = None
        # PostgreSQL: the same point reads over the engine in autocommit mode, so a read is
        # one statement (no BEGIN / ROLLBACK round trips). See storage.build_storage.
        self.autocommit_engine: AsyncEngine | None = None

    _dialect: str | None = None

    def _dialect_name(self) -> str:
        """ "sqlite" or "postgresql": which INSERT ... ON CONFLICT to build."""
        if self.batch_writer is not None:
            return "sqlite"
        if self._dialect is None:
            bind = self._sessions().bind
            self._dialect = "sqlite" if bind is None else bind.dialect.name
        return self._dialect

    async def _get_row(self, model: type[M], key: Any) -> M | None:
        """The row of ``model`` with primary key ``key``: over ``read_engine`` (a Core row,
        read like the ORM object: same attribute names, same column types) when there is one,
        else ``session.get``."""
        if self.read_engine is not None:
            with self.read_engine.connect() as conn:
                row = conn.execute(_point_select(model), {"k": key}).first()
            return cast(M | None, row)
        if self.autocommit_engine is not None:
            async with self.autocommit_engine.connect() as aconn:
                found = (await aconn.execute(_point_select(model), {"k": key})).first()
            return cast(M | None, found)
        async with self._sessions() as s:
            return await s.get(model, key)

    async def _all_rows(self, stmt: Select[Any], params: dict[str, Any]) -> list[Any]:
        """The rows of a SELECT of one table's columns (Core rows, read like ORM objects)."""
        if self.read_engine is not None:
            with self.read_engine.connect() as conn:
                return list(conn.execute(stmt, params))
        if self.autocommit_engine is not None:
            async with self.autocommit_engine.connect() as aconn:
                return list(await aconn.execute(stmt, params))
        async with self._sessions() as s:
            return list((await s.execute(stmt, params)).all())

    async def _in_batch(self, fn: BatchFn[T]) -> T:
        """Run a batch function in one transaction (committed when it returns)."""
        if self.batch_writer is not None:
            return await self.batch_writer.run(fn)
        async with self._sessions() as s, s.begin():
            conn = await s.connection()
            return await conn.run_sync(lambda sync_conn: fn(SaBatchConn(sync_conn)))


_POINT_READS: dict[type, Select[Any]] = {}


def _point_select(model: type) -> Select[Any]:
    """``SELECT <every column> FROM <table> WHERE <primary key> = :k``, built once per model."""
    stmt = _POINT_READS.get(model)
    if stmt is None:
        table = model.__table__  # type: ignore[attr-defined]
        (pk,) = table.primary_key.columns
        stmt = _POINT_READS[model] = select(table).where(pk == bindparam("k"))
    return stmt


class KeyRepo(Repo):
    """A repository that stores keys encrypted at rest."""

    def __init__(
        self, session_factory: SessionFactory, cipher: KeyCipher, *, clock: Clock = utcnow
    ) -> None:
        super().__init__(session_factory, clock=clock)
        self._cipher = cipher


@contextmanager
def integrity_as(error: type[Exception], message: str) -> Iterator[None]:
    """Turn a database IntegrityError (a concurrent duplicate insert) into ``error``."""
    try:
        yield
    except IntegrityError as exc:
        raise error(message) from exc


@functools.cache
def insert_ignoring_duplicates(table: Table, dialect: str) -> Insert:
    """INSERT into ``table`` that keeps the row already there on a unique-key conflict."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
