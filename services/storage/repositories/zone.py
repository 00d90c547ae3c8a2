"""Zones (groups of gateways with their own ledger ordering service)."""

from __future__ import annotations

from sqlalchemy import select

from ..domain import Page, Zone
from ..errors import AlreadyExists, NotFound
from ..models import ZoneRow
from ._base import Repo, fetch_page, integrity_as


def _zone(row: ZoneRow) -> Zone:
    return Zone(
        name=row.name,
        description=row.description,
        ledger_settings=dict(row.ledger_settings),
        created_at=row.created_at,
    )


class ZoneRepo(Repo):
    async def create(self, zone: Zone) -> Zone:
        with integrity_as(AlreadyExists, f"zone {zone.name!r} exists"):
            async with self._sessions() as s, s.begin():
                if await s.get(ZoneRow, zone.name) is not None:
                    raise AlreadyExists(f"zone {zone.name!r} exists")
                row = ZoneRow(
                    name=zone.name,
                    description=zone.description,
                    ledger_settings=dict(zone.ledger_settings),
                    created_at=self._now(),
                )
                s.add(row)
        return _zone(row)

    async def get(self, name: str) -> Zone | None:
        async with self._sessions() as s:
            row = await s.get(ZoneRow, name)
            return None if row is None else _zone(row)

    async def list(self, *, limit: int = 100, offset: int = 0) -> Page[Zone]:
        async with self._sessions() as s:
            stmt = select(ZoneRow).order_by(ZoneRow.name)
            return await fetch_page(s, stmt, _zone, limit=limit, offset=offset)

    async def update(self, zone: Zone) -> Zone:
        async with self._sessions() as s, s.begin():
            row = await s.get(ZoneRow, zone.name)
            if row is None:
                raise NotFound(f"zone {zone.name!r}")
            row.description = zone.description
            row.ledger_settings = dict(zone.ledger_settings)
        return _zone(row)

    async def delete(self, name: str) -> None:
        """Delete the zone; its gateways stay, with no zone."""
        async with self._sessions() as s, s.begin():
            row = await s.get(ZoneRow, name)
            if row is None:
                raise NotFound(f"zone {name!r}")
            await s.delete(row)
