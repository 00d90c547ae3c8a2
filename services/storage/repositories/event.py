"""Device events for operators (joins, ACKs, errors)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from services.lorawan.types import EUI64

from ..domain import Event, Page
from ..errors import AlreadyExists, NotFound
from ..models import DeviceRow, EventRow
from ._base import Repo, eui_of, eui_str, fetch_page, integrity_as, scope_to_device_tenant


def _event(row: EventRow) -> Event:
    return Event(
        id=row.id,
        dev_eui=eui_of(row.dev_eui),
        kind=row.kind,
        data=dict(row.data),
        created_at=row.created_at,
    )


class EventRepo(Repo):
    async def add(self, event: Event) -> Event:
        key = eui_str(event.dev_eui)
        with integrity_as(AlreadyExists, f"event {event.id} exists"):
            async with self._sessions() as s, s.begin():
                if await s.get(DeviceRow, key) is None:
                    raise NotFound(f"device {event.dev_eui}")
                row = EventRow(
                    id=event.id,
                    dev_eui=key,
                    kind=event.kind,
                    data=dict(event.data),
                    created_at=event.created_at or self._now(),
                )
                s.add(row)
        return _event(row)

    async def list(
        self,
        dev_eui: EUI64,
        *,
        tenant_id: uuid.UUID | None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[Event]:
        """Newest first."""
        stmt = select(EventRow).where(EventRow.dev_eui == eui_str(dev_eui))
        stmt = scope_to_device_tenant(stmt, EventRow.dev_eui, tenant_id)
        stmt = stmt.order_by(EventRow.created_at.desc(), EventRow.id)
        async with self._sessions() as s:
            return await fetch_page(s, stmt, _event, limit=limit, offset=offset)
