"""Gateways: registration, and last-seen / stats upserts from the gateway bridge."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from services.lorawan.types import EUI64

from ..domain import Gateway, Location, Page
from ..errors import AlreadyExists, ConstraintViolation, NotFound
from ..models import GatewayRow, TenantRow, ZoneRow
from ._base import Repo, eui_of, eui_str, fetch_page, integrity_as


def _gateway(row: GatewayRow) -> Gateway:
    location = None
    if row.latitude is not None and row.longitude is not None:
        location = Location(
            latitude=row.latitude, longitude=row.longitude, altitude=row.altitude or 0.0
        )
    return Gateway(
        gw_eui=eui_of(row.gw_eui),
        tenant_id=row.tenant_id,
        name=row.name,
        zone=row.zone,
        location=location,
        last_seen_at=row.last_seen_at,
        last_stats=None if row.last_stats is None else dict(row.last_stats),
        created_at=row.created_at,
    )


def _set_location(row: GatewayRow, location: Location | None) -> None:
    row.latitude = None if location is None else location.latitude
    row.longitude = None if location is None else location.longitude
    row.altitude = None if location is None else location.altitude


class GatewayRepo(Repo):
    async def create(self, gateway: Gateway) -> Gateway:
        with integrity_as(AlreadyExists, f"gateway {gateway.gw_eui} exists"):
            async with self._sessions() as s, s.begin():
                if await s.get(GatewayRow, eui_str(gateway.gw_eui)) is not None:
                    raise AlreadyExists(f"gateway {gateway.gw_eui} exists")
                await self._check_refs(s, gateway)
                row = GatewayRow(
                    gw_eui=eui_str(gateway.gw_eui),
                    tenant_id=gateway.tenant_id,
                    name=gateway.name,
                    zone=gateway.zone,
                    last_seen_at=gateway.last_seen_at,
                    last_stats=gateway.last_stats,
                    created_at=self._now(),
                )
                _set_location(row, gateway.location)
                s.add(row)
        return _gateway(row)

    @staticmethod
    async def _check_refs(s: Any, gateway: Gateway) -> None:
        if gateway.zone is not None and await s.get(ZoneRow, gateway.zone) is None:
            raise ConstraintViolation(f"zone {gateway.zone!r} does not exist")
        if gateway.tenant_id is not None and await s.get(TenantRow, gateway.tenant_id) is None:
            raise ConstraintViolation(f"tenant {gateway.tenant_id} does not exist")

    async def get(self, gw_eui: EUI64, *, tenant_id: uuid.UUID | None) -> Gateway | None:
        async with self._sessions() as s:
            row = await s.get(GatewayRow, eui_str(gw_eui))
        if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
            return None
        return _gateway(row)

    async def list(
        self,
        *,
        tenant_id: uuid.UUID | None,
        zone: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[Gateway]:
        stmt = select(GatewayRow).order_by(GatewayRow.gw_eui)
        if tenant_id is not None:
            stmt = stmt.where(GatewayRow.tenant_id == tenant_id)
        if zone is not None:
            stmt = stmt.where(GatewayRow.zone == zone)
        async with self._sessions() as s:
            return await fetch_page(s, stmt, _gateway, limit=limit, offset=offset)

    async def update(self, gateway: Gateway, *, tenant_id: uuid.UUID | None) -> Gateway:
        """Write name, zone, location; an admin (tenant_id None) may also set the tenant."""
        async with self._sessions() as s, s.begin():
            row = await s.get(GatewayRow, eui_str(gateway.gw_eui))
            if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
                raise NotFound(f"gateway {gateway.gw_eui}")
            await self._check_refs(s, gateway)
            row.name = gateway.name
            row.zone = gateway.zone
            _set_location(row, gateway.location)
            if tenant_id is None:
                row.tenant_id = gateway.tenant_id
        return _gateway(row)

    async def delete(self, gw_eui: EUI64, *, tenant_id: uuid.UUID | None) -> None:
        async with self._sessions() as s, s.begin():
            row = await s.get(GatewayRow, eui_str(gw_eui))
            if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
                raise NotFound(f"gateway {gw_eui}")
            await s.delete(row)

    async def record_seen(
        self, gw_eui: EUI64, *, seen_at: datetime, stats: dict[str, Any] | None = None
    ) -> Gateway:
        """Upsert last_seen_at (and last_stats when given); creates an unclaimed gateway."""
        values: dict[str, Any] = {"last_seen_at": seen_at}
        if stats is not None:
            values["last_stats"] = stats
        key = eui_str(gw_eui)
        for _attempt in range(3):
            async with self._sessions() as s:
                try:
                    async with s.begin():
                        result = await s.execute(
                            update(GatewayRow)
                            .where(GatewayRow.gw_eui == key)
                            .values(**values)
                            .execution_options(synchronize_session=False)
                        )
                        if result.rowcount == 0:  # type: ignore[attr-defined]
                            s.add(
                                GatewayRow(
                                    gw_eui=key,
                                    tenant_id=None,
                                    name="",
                                    zone=None,
                                    last_seen_at=seen_at,
                                    last_stats=stats,
                                    created_at=self._now(),
                                )
                            )
                except IntegrityError:
                    continue  # inserted concurrently: update it on the next attempt
                row = await s.get(GatewayRow, key)
                assert row is not None
                return _gateway(row)
        raise ConstraintViolation(f"gateway {gw_eui}: concurrent upserts did not settle")
