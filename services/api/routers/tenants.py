"""/api/tenants: admin keys only."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, status

from services.storage import Tenant

from ..deps import PageParams, StorageDep, admin_key
from ..schemas.common import Page
from ..schemas.tenant import TenantCreate, TenantPublic, TenantUpdate
from ._common import API_PREFIX, not_found, page_of

router = APIRouter(
    prefix=f"{API_PREFIX}/tenants", tags=["tenants"], dependencies=[Depends(admin_key)]
)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_tenant(body: TenantCreate, storage: StorageDep) -> TenantPublic:
    tenant = await storage.tenants.create(Tenant(name=body.name))
    return TenantPublic.from_domain(tenant)


@router.get("")
async def list_tenants(storage: StorageDep, page: PageParams) -> Page[TenantPublic]:
    result = await storage.tenants.list(limit=page.limit, offset=page.offset)
    return page_of(result, TenantPublic.from_domain)


@router.get("/{tenant_id}")
async def get_tenant(tenant_id: uuid.UUID, storage: StorageDep) -> TenantPublic:
    tenant = await storage.tenants.get(tenant_id)
    if tenant is None:
        raise not_found("tenant")
    return TenantPublic.from_domain(tenant)


@router.patch("/{tenant_id}")
async def update_tenant(
    tenant_id: uuid.UUID, body: TenantUpdate, storage: StorageDep
) -> TenantPublic:
    tenant = await storage.tenants.get(tenant_id)
    if tenant is None:
        raise not_found("tenant")
    if body.name is not None:
        tenant.name = body.name
    return TenantPublic.from_domain(await storage.tenants.update(tenant))


@router.delete("/{tenant_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_tenant(tenant_id: uuid.UUID, storage: StorageDep) -> None:
    """Delete the tenant and everything it owns (applications, devices, keys, ...)."""
    await storage.tenants.delete(tenant_id)
