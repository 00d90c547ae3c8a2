"""Applications and their integrations."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from ..domain import Application, Integrations, Page, Webhook
from ..errors import AlreadyExists, ConstraintViolation, NotFound
from ..models import ApplicationRow, TenantRow
from ._base import Repo, fetch_page, integrity_as


def integrations_to_json(integrations: Integrations) -> dict[str, Any]:
    return {
        "mqtt_enabled": integrations.mqtt_enabled,
        "webhooks": [{"url": w.url, "headers": dict(w.headers)} for w in integrations.webhooks],
        "codec": integrations.codec,
    }


def integrations_from_json(data: dict[str, Any]) -> Integrations:
    return Integrations(
        mqtt_enabled=bool(data.get("mqtt_enabled", True)),
        webhooks=[
            Webhook(url=w["url"], headers=dict(w.get("headers", {})))
            for w in data.get("webhooks", [])
        ],
        codec=data.get("codec"),
    )


def _application(row: ApplicationRow) -> Application:
    return Application(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        description=row.description,
        integrations=integrations_from_json(row.integrations),
        created_at=row.created_at,
    )


class ApplicationRepo(Repo):
    async def create(self, application: Application) -> Application:
        with integrity_as(AlreadyExists, f"application {application.id} exists"):
            async with self._sessions() as s, s.begin():
                if await s.get(ApplicationRow, application.id) is not None:
                    raise AlreadyExists(f"application {application.id} exists")
                if await s.get(TenantRow, application.tenant_id) is None:
                    raise ConstraintViolation(f"tenant {application.tenant_id} does not exist")
                row = ApplicationRow(
                    id=application.id,
                    tenant_id=application.tenant_id,
                    name=application.name,
                    description=application.description,
                    integrations=integrations_to_json(application.integrations),
                    created_at=self._now(),
                )
                s.add(row)
        return _application(row)

    async def get(
        self, application_id: uuid.UUID, *, tenant_id: uuid.UUID | None
    ) -> Application | None:
        row = await self._get_row(ApplicationRow, application_id)
        if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
            return None
        return _application(row)

    async def list(
        self, *, tenant_id: uuid.UUID | None, limit: int = 100, offset: int = 0
    ) -> Page[Application]:
        stmt = select(ApplicationRow).order_by(ApplicationRow.created_at, ApplicationRow.id)
        if tenant_id is not None:
            stmt = stmt.where(ApplicationRow.tenant_id == tenant_id)
        async with self._sessions() as s:
            return await fetch_page(s, stmt, _application, limit=limit, offset=offset)

    async def update(self, application: Application, *, tenant_id: uuid.UUID | None) -> Application:
        """Write name, description and integrations (the tenant never changes)."""
        async with self._sessions() as s, s.begin():
            row = await s.get(ApplicationRow, application.id)
            if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
                raise NotFound(f"application {application.id}")
            row.name = application.name
            row.description = application.description
            row.integrations = integrations_to_json(application.integrations)
        return _application(row)

    async def delete(self, application_id: uuid.UUID, *, tenant_id: uuid.UUID | None) -> None:
        """Delete the application and its devices."""
        async with self._sessions() as s, s.begin():
            row = await s.get(ApplicationRow, application_id)
            if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
                raise NotFound(f"application {application_id}")
            await s.delete(row)
