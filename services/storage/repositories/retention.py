"""Deleting the device history past its retention: uplink log, events, DRCC decisions.

Rows go oldest first, a bounded batch per transaction (the write lock is held for one batch at
a time, so the uplink path's own batches interleave), by an index on the row's time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Column, Delete, Table, bindparam, delete, select

from ..batch_conn import BatchConn
from ..models import DrccDecisionRow, EventRow, UplinkRow
from ._base import Repo

HistoryTable = Literal["uplink_log", "events", "drcc_decisions"]

# each table with the column that says when its row was written
_TIMED: dict[str, tuple[Table, str]] = {
    "uplink_log": (cast(Table, UplinkRow.__table__), "received_at"),
    "events": (cast(Table, EventRow.__table__), "created_at"),
    "drcc_decisions": (cast(Table, DrccDecisionRow.__table__), "created_at"),
}
HISTORY_TABLES: tuple[HistoryTable, ...] = ("uplink_log", "events", "drcc_decisions")


def _prune_statement(table: Table, at: str) -> Delete:
    """``DELETE FROM t WHERE id IN (SELECT id FROM t WHERE at < :before ORDER BY at LIMIT
    :limit)``: a bounded delete on SQLite (no DELETE ... LIMIT there) and PostgreSQL alike."""
    pk: Column[Any] = table.c.id
    stamp: Column[Any] = table.c[at]
    oldest = (
        select(pk)
        .where(stamp < bindparam("before"))
        .order_by(stamp)
        .limit(bindparam("limit"))
        .scalar_subquery()
    )
    return delete(table).where(pk.in_(oldest))


_STATEMENTS = {name: _prune_statement(t, at) for name, (t, at) in _TIMED.items()}


class RetentionRepo(Repo):
    async def prune(self, table: HistoryTable, *, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` of the oldest rows of ``table`` written before ``before``,
        in one transaction; how many were deleted (fewer than ``limit``: none are left)."""
        stmt = _STATEMENTS[table]

        def run(conn: BatchConn) -> int:
            return conn.execute(stmt, [{"before": before, "limit": limit}])

        return await self._in_batch(run)
