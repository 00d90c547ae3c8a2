"""The log of deduplicated uplinks (idempotent: one record per device, session and FCnt)."""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Insert, Select, Table, bindparam, select
from sqlalchemy.exc import IntegrityError

from services.lorawan.types import EUI64

from ..batch_conn import BatchConn, BatchFn
from ..domain import OutboxEntry, Page, UplinkRecord
from ..errors import NotFound
from ..models import DeviceRow, UplinkRow
from ._base import (
    Repo,
    dev_addr_of,
    dev_addr_str,
    eui_of,
    eui_str,
    fetch_page,
    insert_ignoring_duplicates,
    scope_to_device_tenant,
)
from .outbox import insert_outbox_rows, outbox_row


def _record(row: UplinkRow) -> UplinkRecord:
    return UplinkRecord(
        id=row.id,
        dev_eui=eui_of(row.dev_eui),
        dev_addr=dev_addr_of(row.dev_addr),
        session_id=row.session_id,
        f_cnt=row.f_cnt,
        f_port=row.f_port,
        payload=bytes(row.payload),
        payload_sha256=bytes(row.payload_sha256),
        dr=row.dr,
        freq=row.freq,
        confirmed=row.confirmed,
        rx_metadata=list(row.rx_metadata),
        received_at=row.received_at,
    )


_TABLE = cast(Table, UplinkRow.__table__)


class _RowByRow(Exception):
    """Some record of a batch was not inserted: roll back and insert row by row."""


def _insert_ignoring_duplicates(dialect: str) -> Insert:
    """INSERT that skips a record already there (same id or same device/session/FCnt)."""
    return insert_ignoring_duplicates(_TABLE, dialect)


@functools.cache
def _device_exists() -> Select[Any]:
    return select(DeviceRow.dev_eui).where(DeviceRow.dev_eui == bindparam("dev_eui"))


def _row(record: UplinkRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": record.id,
        "dev_eui": eui_str(record.dev_eui),
        "dev_addr": dev_addr_str(record.dev_addr),
        "session_id": record.session_id,
        "f_cnt": record.f_cnt,
        "f_port": record.f_port,
        "payload": bytes(record.payload),
        "payload_sha256": record.payload_sha256 or hashlib.sha256(record.payload).digest(),
        "dr": record.dr,
        "freq": record.freq,
        "confirmed": record.confirmed,
        "rx_metadata": list(record.rx_metadata),
        "received_at": record.received_at or now,
    }


Deliveries = list[list[dict[str, Any]]]  # outbox rows, per uplink row


def _insert_all(
    rows: list[dict[str, Any]], deliveries: Deliveries, dialect: str
) -> BatchFn[list[bool | Exception]]:
    def run(conn: BatchConn) -> list[bool | Exception]:
        if len(rows) > 1 and not conn.multi_rowcount:
            return _insert_returning(conn, rows, deliveries, dialect)
        try:
            inserted = conn.execute(_insert_ignoring_duplicates(dialect), rows)
        except IntegrityError as exc:  # not a duplicate (those are skipped): unknown device
            raise _RowByRow from exc
        if len(rows) == 1:
            if inserted == 1 and deliveries[0]:
                conn.execute(insert_outbox_rows(dialect), deliveries[0])
            return [inserted == 1]
        if inserted != len(rows):
            raise _RowByRow
        outbox = [d for per_row in deliveries for d in per_row]
        if outbox:
            conn.execute(insert_outbox_rows(dialect), outbox)
        return [True] * len(rows)

    return run


@functools.cache
def _insert_returning_ids(dialect: str) -> Insert:
    return _insert_ignoring_duplicates(dialect).returning(_TABLE.c.id)


def _insert_returning(
    conn: BatchConn, rows: list[dict[str, Any]], deliveries: Deliveries, dialect: str
) -> list[bool | Exception]:
    """The batch for a driver that does not count the rows of an executemany (asyncpg):
    one INSERT ... ON CONFLICT DO NOTHING RETURNING id tells which rows were new, then one
    INSERT of their deliveries. A frame twice in one batch (same id or same device, session
    and FCnt) is written once, and only its first row counts as new."""
    first: list[bool] = []
    seen: set[Any] = set()
    for row in rows:
        keys = (("id", row["id"]), ("frame", row["dev_eui"], row["session_id"], row["f_cnt"]))
        first.append(not any(k in seen for k in keys))
        seen.update(keys)
    try:
        written = {r[0] for r in conn.returning(_insert_returning_ids(dialect), rows)}
    except IntegrityError as exc:  # not a duplicate (those are skipped): unknown device
        raise _RowByRow from exc
    new = [is_first and row["id"] in written for row, is_first in zip(rows, first, strict=True)]
    outbox = [d for per_row, is_new in zip(deliveries, new, strict=True) if is_new for d in per_row]
    if outbox:
        conn.execute(insert_outbox_rows(dialect), outbox)
    return list(new)


def _insert_each(
    rows: list[dict[str, Any]], deliveries: Deliveries, dialect: str
) -> BatchFn[list[bool | Exception]]:
    def run(conn: BatchConn) -> list[bool | Exception]:
        out: list[bool | Exception] = []
        for row, outbox in zip(rows, deliveries, strict=True):
            if conn.first(_device_exists(), {"dev_eui": row["dev_eui"]}) is None:
                out.append(NotFound(f"device {row['dev_eui']}"))
                continue
            inserted = conn.execute(_insert_ignoring_duplicates(dialect), [row]) == 1
            if inserted and outbox:
                conn.execute(insert_outbox_rows(dialect), outbox)
            out.append(inserted)
        return out

    return run


class UplinkLogRepo(Repo):
    async def insert_many(self, records: Sequence[UplinkRecord]) -> list[bool | Exception]:
        """Insert a batch in one transaction (group commit); per record, as ``insert``: True
        if written, False if already recorded, or NotFound (unknown device) for that record
        alone."""
        return await self.insert_many_with_outbox([(r, ()) for r in records])

    async def insert_many_with_outbox(
        self, items: Sequence[tuple[UplinkRecord, Sequence[OutboxEntry]]]
    ) -> list[bool | Exception]:
        """:meth:`insert_many`, each record with the integration deliveries of its event:
        they are written in the same transaction if, and only if, the record is new (a
        redelivered uplink adds no second delivery)."""
        if not items:
            return []
        now = self._now()
        rows = [_row(r, now) for r, _ in items]
        deliveries = [[outbox_row(e, now) for e in entries] for _, entries in items]
        dialect = self._dialect_name()
        try:
            return await self._in_batch(_insert_all(rows, deliveries, dialect))
        except _RowByRow:  # rolled back: a duplicate or an unknown device in the batch
            return await self._in_batch(_insert_each(rows, deliveries, dialect))

    async def insert(self, record: UplinkRecord) -> bool:
        """Insert once; False (and nothing written) if the frame is already recorded.

        A frame is the same when (dev_eui, session_id, f_cnt) or the dedup id match, so a
        redelivered message never doubles a record.
        """
        key = eui_str(record.dev_eui)
        digest = record.payload_sha256 or hashlib.sha256(record.payload).digest()
        async with self._sessions() as s:
            try:
                async with s.begin():
                    s.add(
                        UplinkRow(
                            id=record.id,
                            dev_eui=key,
                            dev_addr=dev_addr_str(record.dev_addr),
                            session_id=record.session_id,
                            f_cnt=record.f_cnt,
                            f_port=record.f_port,
                            payload=bytes(record.payload),
                            payload_sha256=digest,
                            dr=record.dr,
                            freq=record.freq,
                            confirmed=record.confirmed,
                            rx_metadata=list(record.rx_metadata),
                            received_at=record.received_at or self._now(),
                        )
                    )
                return True
            except IntegrityError:
                pass
            if await s.get(DeviceRow, key) is None:
                raise NotFound(f"device {record.dev_eui}")
            return False

    async def get(
        self, dev_eui: EUI64, f_cnt: int, *, tenant_id: uuid.UUID | None
    ) -> UplinkRecord | None:
        """The record of that FCnt (from the most recent session having one)."""
        stmt = (
            select(UplinkRow)
            .where(UplinkRow.dev_eui == eui_str(dev_eui), UplinkRow.f_cnt == f_cnt)
            .order_by(UplinkRow.received_at.desc())
            .limit(1)
        )
        stmt = scope_to_device_tenant(stmt, UplinkRow.dev_eui, tenant_id)
        async with self._sessions() as s:
            row = await s.scalar(stmt)
            return None if row is None else _record(row)

    async def get_by_id(
        self, record_id: uuid.UUID, *, tenant_id: uuid.UUID | None
    ) -> UplinkRecord | None:
        stmt = scope_to_device_tenant(
            select(UplinkRow).where(UplinkRow.id == record_id), UplinkRow.dev_eui, tenant_id
        )
        async with self._sessions() as s:
            row = await s.scalar(stmt)
            return None if row is None else _record(row)

    async def list_recent(
        self,
        dev_eui: EUI64,
        *,
        tenant_id: uuid.UUID | None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[UplinkRecord]:
        """Newest first."""
        stmt = select(UplinkRow).where(UplinkRow.dev_eui == eui_str(dev_eui))
        stmt = scope_to_device_tenant(stmt, UplinkRow.dev_eui, tenant_id)
        stmt = stmt.order_by(UplinkRow.received_at.desc(), UplinkRow.f_cnt.desc())
        async with self._sessions() as s:
            return await fetch_page(s, stmt, _record, limit=limit, offset=offset)
