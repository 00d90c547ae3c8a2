"""/api/api-keys: create (the secret is returned once), list, get, delete."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, status

from services.storage import ApiKey

from ..deps import CurrentKey, PageParams, StorageDep, TenantScope
from ..errors import validation_error
from ..schemas.api_key import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from ..schemas.common import Page
from ._common import API_PREFIX, not_found, owner_tenant, page_of

router = APIRouter(prefix=f"{API_PREFIX}/api-keys", tags=["api-keys"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_api_key(
    body: ApiKeyCreate, key: CurrentKey, scope: TenantScope, storage: StorageDep
) -> ApiKeyCreated:
    """Create a key. The answer holds its ``secret``: it is never shown again."""
    if body.is_admin:
        if not key.is_admin:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "only an admin key may create admin keys"
            )
        if body.tenant_id is not None:
            raise validation_error(("body", "tenant_id"), "an admin key has no tenant")
        new = ApiKey(name=body.name, tenant_id=None, is_admin=True)
    else:
        tenant_id = await owner_tenant(storage, scope, body.tenant_id)
        new = ApiKey(name=body.name, tenant_id=tenant_id, is_admin=False)
    created, secret = await storage.api_keys.create(new)
    return ApiKeyCreated.with_secret(created, secret)


@router.get("")
async def list_api_keys(
    scope: TenantScope, storage: StorageDep, page: PageParams
) -> Page[ApiKeyPublic]:
    result = await storage.api_keys.list(tenant_id=scope, limit=page.limit, offset=page.offset)
    return page_of(result, ApiKeyPublic.from_domain)


@router.get("/{key_id}")
async def get_api_key(key_id: uuid.UUID, scope: TenantScope, storage: StorageDep) -> ApiKeyPublic:
    found = await storage.api_keys.get(key_id, tenant_id=scope)
    if found is None:
        raise not_found("API key")
    return ApiKeyPublic.from_domain(found)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_api_key(key_id: uuid.UUID, scope: TenantScope, storage: StorageDep) -> None:
    await storage.api_keys.delete(key_id, tenant_id=scope)
