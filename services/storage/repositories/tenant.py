"""Tenants."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select

from ..domain import Page, Tenant
from ..errors import AlreadyExists, NotFound
from ..models import DeviceRow, TenantRow
from ._base import Repo, fetch_page, integrity_as


def _tenant(row: TenantRow) -> Tenant:
    return Tenant(id=row.id, name=row.name, created_at=row.created_at)


class TenantRepo(Repo):
    async def create(self, tenant: Tenant) -> Tenant:
        with integrity_as(AlreadyExists, f"tenant {tenant.id} exists"):
            async with self._sessions() as s, s.begin():
                if await s.get(TenantRow, tenant.id) is not None:
                    raise AlreadyExists(f"tenant {tenant.id} exists")
                row = TenantRow(id=tenant.id, name=tenant.name, created_at=self._now())
                s.add(row)
        return _tenant(row)

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        async with self._sessions() as s:
            row = await s.get(TenantRow, tenant_id)
            return None if row is None else _tenant(row)

    async def list(self, *, limit: int = 100, offset: int = 0) -> Page[Tenant]:
        async with self._sessions() as s:
            stmt = select(TenantRow).order_by(TenantRow.created_at, TenantRow.id)
            return await fetch_page(s, stmt, _tenant, limit=limit, offset=offset)

    async def update(self, tenant: Tenant) -> Tenant:
        async with self._sessions() as s, s.begin():
            row = await s.get(TenantRow, tenant.id)
            if row is None:
                raise NotFound(f"tenant {tenant.id}")
            row.name = tenant.name
        return _tenant(row)

    async def delete(self, tenant_id: uuid.UUID) -> None:
        """Delete the tenant and everything it owns."""
        async with self._sessions() as s, s.begin():
            row = await s.get(TenantRow, tenant_id)
            if row is None:
                raise NotFound(f"tenant {tenant_id}")
            # Devices first: device profiles are RESTRICTed while devices use them.
            await s.execute(delete(DeviceRow).where(DeviceRow.tenant_id == tenant_id))
            await s.delete(row)
