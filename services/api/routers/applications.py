"""/api/applications, with their integrations (MQTT on/off, webhooks, codec)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from ..deps import PageParams, StorageDep, TenantScope
from ..schemas.application import ApplicationCreate, ApplicationPublic, ApplicationUpdate
from ..schemas.common import Page
from ._common import API_PREFIX, not_found, owner_tenant, page_of

router = APIRouter(prefix=f"{API_PREFIX}/applications", tags=["applications"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_application(
    body: ApplicationCreate, scope: TenantScope, storage: StorageDep
) -> ApplicationPublic:
    tenant_id = await owner_tenant(storage, scope, body.tenant_id)
    created = await storage.applications.create(body.to_domain(tenant_id))
    return ApplicationPublic.from_domain(created)


@router.get("")
async def list_applications(
    scope: TenantScope, storage: StorageDep, page: PageParams
) -> Page[ApplicationPublic]:
    result = await storage.applications.list(tenant_id=scope, limit=page.limit, offset=page.offset)
    return page_of(result, ApplicationPublic.from_domain)


@router.get("/{application_id}")
async def get_application(
    application_id: uuid.UUID, scope: TenantScope, storage: StorageDep
) -> ApplicationPublic:
    found = await storage.applications.get(application_id, tenant_id=scope)
    if found is None:
        raise not_found("application")
    return ApplicationPublic.from_domain(found)


@router.patch("/{application_id}")
async def update_application(
    application_id: uuid.UUID, body: ApplicationUpdate, scope: TenantScope, storage: StorageDep
) -> ApplicationPublic:
    found = await storage.applications.get(application_id, tenant_id=scope)
    if found is None:
        raise not_found("application")
    if body.name is not None:
        found.name = body.name
    if body.description is not None:
        found.description = body.description
    if body.integrations is not None:
        found.integrations = body.integrations.to_domain()
    updated = await storage.applications.update(found, tenant_id=scope)
    return ApplicationPublic.from_domain(updated)


@router.delete("/{application_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_application(
    application_id: uuid.UUID, scope: TenantScope, storage: StorageDep
) -> None:
    """Delete the application and its devices."""
    await storage.applications.delete(application_id, tenant_id=scope)
