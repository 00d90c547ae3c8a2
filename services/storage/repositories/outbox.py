"""The integration outbox: MQTT publishes and webhook POSTs waiting to be acknowledged.

A delivery is written in the transaction that decides its event (an uplink's deliveries with
its uplink-log row: :meth:`UplinkLogRepo.insert_many_with_outbox`), so an event exists iff
what caused it was committed. A relay (services.app_handler.outbox) delivers the rows and
deletes them once the broker or the endpoint has acknowledged them.

Several relays may share the table: a relay takes rows by *claiming* them, one UPDATE that
sets its lease on due rows nobody holds (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two
claims never take the same row; SQLite has one writer at a time). Rows written by a relay's
own process carry its lease from the start, so the other relays leave them alone while it
delivers them from memory. A lease that runs out (its relay died) makes the row claimable
again.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Delete,
    Insert,
    Select,
    Table,
    Update,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)

from ..batch_conn import BatchConn, BatchFn
from ..domain import OutboxEntry
from ..models import IntegrationOutboxRow, UTCDateTime
from ._base import Repo, eui_of, eui_str, insert_ignoring_duplicates

_T = cast(Table, IntegrationOutboxRow.__table__)
_C = _T.c
_COLUMNS = (
    _C.key,
    _C.dev_eui,
    _C.target,
    _C.event,
    _C.body,
    _C.attempts,
    _C.next_attempt_at,
    _C.lease_owner,
    _C.lease_until,
    _C.last_error,
    _C.failed_at,
    _C.created_at,
)


def outbox_row(entry: OutboxEntry, now: datetime) -> dict[str, Any]:
    """The row of ``entry`` (``now`` for the times it leaves empty)."""
    return {
        "key": entry.key,
        "dev_eui": eui_str(entry.dev_eui),
        "target": entry.target,
        "event": entry.event,
        "body": entry.body,
        "attempts": entry.attempts,
        "next_attempt_at": entry.next_attempt_at or now,
        "lease_owner": entry.lease_owner,
        "lease_until": entry.lease_until,
        "claim_id": None,
        "last_error": entry.last_error,
        "failed_at": entry.failed_at,
        "created_at": entry.created_at or now,
    }


def _entry(row: Sequence[Any]) -> OutboxEntry:
    (key, dev_eui, target, event, body, attempts, next_at, owner, until, error, failed, created) = (
        row
    )
    return OutboxEntry(
        key=key,
        dev_eui=eui_of(dev_eui),
        target=target,
        event=event,
        body=dict(body),
        attempts=attempts,
        next_attempt_at=next_at,
        lease_owner=owner,
        lease_until=until,
        last_error=error,
        failed_at=failed,
        created_at=created,
    )


def insert_outbox_rows(dialect: str) -> Insert:
    """INSERT that keeps the row already there when the same delivery is written again."""
    return insert_ignoring_duplicates(_T, dialect)


@functools.cache
def _claim() -> Update:
    now = bindparam("b_now", type_=UTCDateTime())
    due = (
        select(_C.key)
        .where(
            _C.failed_at.is_(None),
            _C.next_attempt_at <= now,
            _C.target != bindparam("b_skip"),
            or_(
                _C.lease_until.is_(None),
                _C.lease_until < now,
                _C.lease_owner == bindparam("b_reclaim"),
            ),
        )
        .order_by(_C.next_attempt_at, _C.created_at)
        .limit(bindparam("b_limit"))
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite renders nothing
    )
    return (
        update(_T)
        .where(_C.key.in_(due))
        .values(
            lease_owner=bindparam("b_owner"),
            lease_until=bindparam("b_until", type_=UTCDateTime()),
            claim_id=bindparam("b_claim"),
        )
    )


@functools.cache
def _claimed() -> Select[Any]:
    return (
        select(*_COLUMNS)
        .where(_C.claim_id == bindparam("b_claim"))
        .order_by(_C.next_attempt_at, _C.created_at)
    )


@functools.cache
def _delete() -> Delete:
    return delete(_T).where(_C.key == bindparam("b_key"))


@functools.cache
def _reschedule() -> Update:
    return (
        update(_T)
        .where(_C.key == bindparam("b_key"))
        .values(
            attempts=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next", type_=UTCDateTime()),
            last_error=bindparam("b_error"),
            failed_at=bindparam("b_failed", type_=UTCDateTime()),
            lease_owner=None,
            lease_until=None,
            claim_id=None,
        )
    )


@functools.cache
def _expire() -> Delete:
    return delete(_T).where(
        or_(
            (_C.target == bindparam("b_target"))
            & _C.failed_at.is_(None)
            & (_C.created_at < bindparam("b_created", type_=UTCDateTime())),
            _C.failed_at < bindparam("b_failed", type_=UTCDateTime()),
        )
    )


@functools.cache
def _get() -> Select[Any]:
    return select(*_COLUMNS).where(_C.key == bindparam("b_key"))


@functools.cache
def _failed() -> Select[Any]:
    return (
        select(*_COLUMNS)
        .where(_C.failed_at.is_not(None))
        .order_by(_C.failed_at.desc())
        .limit(bindparam("b_limit"))
    )


@functools.cache
def _counts() -> Select[Any]:
    failed = _C.failed_at.is_not(None)
    return cast(Select[Any], select(failed, func.count()).group_by(failed))


class OutboxRepo(Repo):
    async def add_many(self, entries: Sequence[OutboxEntry]) -> list[str]:
        """Write deliveries in one transaction; one already there is kept as it is. The keys
        of the rows written."""
        if not entries:
            return []
        now = self._now()
        rows = [outbox_row(e, now) for e in entries]
        stmt = insert_outbox_rows(self._dialect_name())

        def run(conn: BatchConn) -> list[str]:
            return [row["key"] for row in rows if conn.execute(stmt, [row]) == 1]

        return await self._in_batch(run)

    async def claim(
        self,
        owner: str,
        *,
        lease_s: float,
        limit: int,
        reclaim_own: bool = False,
        skip_target: str | None = None,
    ) -> list[OutboxEntry]:
        """Take up to ``limit`` due deliveries that no live lease holds (and, with
        ``reclaim_own``, those leased to ``owner`` itself: a restarted relay of the same
        identity takes its own back at once), leased to ``owner`` for ``lease_s``; none of
        ``skip_target`` (e.g. "mqtt" while the broker is away)."""
        now = self._now()
        claim_id = uuid.uuid4().hex
        params = {
            "b_now": now,
            "b_skip": skip_target or "",
            "b_reclaim": owner if reclaim_own else None,
            "b_limit": limit,
            "b_owner": owner,
            "b_until": now + timedelta(seconds=lease_s),
            "b_claim": claim_id,
        }

        def run(conn: BatchConn) -> list[OutboxEntry]:
            if conn.execute(_claim(), [params]) == 0:
                return []
            return [_entry(r) for r in conn.all(_claimed(), {"b_claim": claim_id})]

        return await self._in_batch(run)

    async def delete_many(self, keys: Sequence[str]) -> list[None]:
        """Forget delivered rows (one transaction). One result per key (group commit)."""
        if keys:
            rows = [{"b_key": k} for k in keys]
            await self._in_batch(_run_each(_delete(), rows))
        return [None] * len(keys)

    async def reschedule(
        self, key: str, *, attempts: int, next_attempt_at: datetime, error: str
    ) -> None:
        """Release ``key`` for another attempt at ``next_attempt_at``."""
        await self._release(key, attempts, next_attempt_at, error, failed_at=None)

    async def fail(self, key: str, *, attempts: int, error: str) -> None:
        """Give up on ``key``: kept, marked failed, never claimed again."""
        now = self._now()
        await self._release(key, attempts, now, error, failed_at=now)

    async def _release(
        self, key: str, attempts: int, next_at: datetime, error: str, *, failed_at: datetime | None
    ) -> None:
        row = {
            "b_key": key,
            "b_attempts": attempts,
            "b_next": next_at,
            "b_error": error[:2000],
            "b_failed": failed_at,
        }
        await self._in_batch(_run_each(_reschedule(), [row]))

    async def expire(
        self, *, target: str, created_before: datetime, failed_before: datetime
    ) -> int:
        """Delete the rows of ``target`` still waiting since before ``created_before`` and
        the failed rows (any target) given up before ``failed_before``; how many."""
        row = {"b_target": target, "b_created": created_before, "b_failed": failed_before}
        return await self._in_batch(_run_each(_expire(), [row]))

    async def get(self, key: str) -> OutboxEntry | None:
        def run(conn: BatchConn) -> OutboxEntry | None:
            found = conn.first(_get(), {"b_key": key})
            return None if found is None else _entry(found)

        return await self._in_batch(run)

    async def failed(self, limit: int = 100) -> list[OutboxEntry]:
        """The deliveries given up, newest first."""

        def run(conn: BatchConn) -> list[OutboxEntry]:
            return [_entry(r) for r in conn.all(_failed(), {"b_limit": limit})]

        return await self._in_batch(run)

    async def counts(self) -> tuple[int, int]:
        """(waiting, failed) rows."""

        def run(conn: BatchConn) -> tuple[int, int]:
            found = {bool(f): int(n) for f, n in conn.all(_counts(), {})}
            return found.get(False, 0), found.get(True, 0)

        return await self._in_batch(run)


def _run_each(stmt: Update | Delete, rows: list[dict[str, Any]]) -> BatchFn[int]:
    def run(conn: BatchConn) -> int:
        return conn.execute(stmt, rows)

    return run
