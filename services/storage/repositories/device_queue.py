"""The downlink queue: FIFO per device (by insertion sequence)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from services.lorawan.errors import InvalidParameter
from services.lorawan.types import EUI64

from ..domain import Page, QueueItem
from ..errors import AlreadyExists, NotFound, StaleVersion
from ..models import DeviceRow, QueueItemRow
from ._base import Repo, eui_of, eui_str, fetch_page, integrity_as, scope_to_device_tenant


def _item(row: QueueItemRow) -> QueueItem:
    return QueueItem(
        id=row.id,
        dev_eui=eui_of(row.dev_eui),
        f_port=row.f_port,
        frm_payload=bytes(row.frm_payload),
        confirmed=row.confirmed,
        f_cnt_down=row.f_cnt_down,
        is_pending=row.is_pending,
        sent_at=row.sent_at,
        acked=row.acked,
        expires_at=row.expires_at,
        created_at=row.created_at,
    )


def _queued(dev_eui: str, now: datetime) -> list[Any]:
    return [
        QueueItemRow.dev_eui == dev_eui,
        QueueItemRow.sent_at.is_(None),
        (QueueItemRow.expires_at.is_(None)) | (QueueItemRow.expires_at > now),
    ]


class DeviceQueueRepo(Repo):
    async def enqueue(self, item: QueueItem) -> QueueItem:
        if not 1 <= item.f_port <= 255:
            raise InvalidParameter(
                f"FPort of an application downlink must be 1..255: {item.f_port}"
            )
        key = eui_str(item.dev_eui)
        with integrity_as(AlreadyExists, f"queue item {item.id} exists"):
            async with self._sessions() as s, s.begin():
                if await s.get(DeviceRow, key) is None:
                    raise NotFound(f"device {item.dev_eui}")
                if await s.scalar(select(QueueItemRow.seq).where(QueueItemRow.id == item.id)):
                    raise AlreadyExists(f"queue item {item.id} exists")
                row = QueueItemRow(
                    id=item.id,
                    dev_eui=key,
                    f_port=item.f_port,
                    frm_payload=bytes(item.frm_payload),
                    confirmed=item.confirmed,
                    f_cnt_down=None,
                    is_pending=False,
                    sent_at=None,
                    acked=None,
                    expires_at=item.expires_at,
                    created_at=self._now(),
                )
                s.add(row)
        return _item(row)

    async def get(self, item_id: uuid.UUID) -> QueueItem | None:
        async with self._sessions() as s:
            row = await s.scalar(select(QueueItemRow).where(QueueItemRow.id == item_id))
            return None if row is None else _item(row)

    async def peek_next(self, dev_eui: EUI64, *, now: datetime) -> QueueItem | None:
        """The oldest item not yet sent and not expired."""
        async with self._sessions() as s:
            row = await s.scalar(
                select(QueueItemRow)
                .where(*_queued(eui_str(dev_eui), now))
                .order_by(QueueItemRow.seq)
                .limit(1)
            )
            return None if row is None else _item(row)

    async def count_queued(self, dev_eui: EUI64, *, now: datetime) -> int:
        async with self._sessions() as s:
            n = await s.scalar(
                select(func.count())
                .select_from(QueueItemRow)
                .where(*_queued(eui_str(dev_eui), now))
            )
            return int(n or 0)

    async def get_pending(self, dev_eui: EUI64) -> QueueItem | None:
        """The confirmed item sent and waiting for its ACK, if any (the oldest)."""
        async with self._sessions() as s:
            row = await s.scalar(
                select(QueueItemRow)
                .where(QueueItemRow.dev_eui == eui_str(dev_eui), QueueItemRow.is_pending)
                .order_by(QueueItemRow.seq)
                .limit(1)
            )
            return None if row is None else _item(row)

    async def mark_sent(
        self, item_id: uuid.UUID, *, f_cnt_down: int, sent_at: datetime, pending: bool
    ) -> QueueItem:
        """Record the transmission; ``pending`` for a confirmed downlink awaiting its ACK.

        Raises StaleVersion if the item was already sent (two schedulers raced).
        """
        async with self._sessions() as s, s.begin():
            result = await s.execute(
                update(QueueItemRow)
                .where(QueueItemRow.id == item_id, QueueItemRow.sent_at.is_(None))
                .values(f_cnt_down=f_cnt_down, sent_at=sent_at, is_pending=pending)
                .execution_options(synchronize_session=False)
            )
            row = await s.scalar(
                select(QueueItemRow)
                .where(QueueItemRow.id == item_id)
                .execution_options(populate_existing=True)
            )
            if row is None:
                raise NotFound(f"queue item {item_id}")
            if int(result.rowcount) == 0:  # type: ignore[attr-defined]
                raise StaleVersion(f"queue item {item_id} was already sent")
            return _item(row)

    async def mark_acked(self, item_id: uuid.UUID, *, acked: bool) -> QueueItem:
        """Close a pending item: ``acked`` True on the device's ACK, False on timeout."""
        async with self._sessions() as s, s.begin():
            row = await s.scalar(select(QueueItemRow).where(QueueItemRow.id == item_id))
            if row is None:
                raise NotFound(f"queue item {item_id}")
            row.acked = acked
            row.is_pending = False
        return _item(row)

    async def list(
        self,
        dev_eui: EUI64,
        *,
        tenant_id: uuid.UUID | None,
        include_sent: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[QueueItem]:
        stmt = select(QueueItemRow).where(QueueItemRow.dev_eui == eui_str(dev_eui))
        if not include_sent:
            stmt = stmt.where(QueueItemRow.sent_at.is_(None))
        stmt = scope_to_device_tenant(stmt, QueueItemRow.dev_eui, tenant_id)
        async with self._sessions() as s:
            return await fetch_page(
                s, stmt.order_by(QueueItemRow.seq), _item, limit=limit, offset=offset
            )

    async def flush(self, dev_eui: EUI64, *, tenant_id: uuid.UUID | None) -> int:
        """Delete every item of the device; return how many."""
        key = eui_str(dev_eui)
        async with self._sessions() as s, s.begin():
            device = await s.get(DeviceRow, key)
            if device is None or (tenant_id is not None and device.tenant_id != tenant_id):
                raise NotFound(f"device {dev_eui}")
            result = await s.execute(delete(QueueItemRow).where(QueueItemRow.dev_eui == key))
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def delete(self, item_id: uuid.UUID, *, tenant_id: uuid.UUID | None) -> None:
        """Delete one item (of a device of ``tenant_id``)."""
        stmt = scope_to_device_tenant(
            select(QueueItemRow).where(QueueItemRow.id == item_id), QueueItemRow.dev_eui, tenant_id
        )
        async with self._sessions() as s, s.begin():
            row = await s.scalar(stmt)
            if row is None:
                raise NotFound(f"queue item {item_id}")
            await s.delete(row)
