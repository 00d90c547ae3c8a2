"""/api/device-profiles: region, MAC version, class, ADR policy, RX settings."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from ..deps import PageParams, StorageDep, TenantScope
from ..schemas.common import Page
from ..schemas.device_profile import (
    DeviceProfileCreate,
    DeviceProfilePublic,
    DeviceProfileUpdate,
)
from ._common import API_PREFIX, not_found, owner_tenant, page_of

router = APIRouter(prefix=f"{API_PREFIX}/device-profiles", tags=["device-profiles"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_device_profile(
    body: DeviceProfileCreate, scope: TenantScope, storage: StorageDep
) -> DeviceProfilePublic:
    tenant_id = await owner_tenant(storage, scope, body.tenant_id)
    created = await storage.device_profiles.create(body.to_domain(tenant_id))
    return DeviceProfilePublic.from_domain(created)


@router.get("")
async def list_device_profiles(
    scope: TenantScope, storage: StorageDep, page: PageParams
) -> Page[DeviceProfilePublic]:
    result = await storage.device_profiles.list(
        tenant_id=scope, limit=page.limit, offset=page.offset
    )
    return page_of(result, DeviceProfilePublic.from_domain)


@router.get("/{profile_id}")
async def get_device_profile(
    profile_id: uuid.UUID, scope: TenantScope, storage: StorageDep
) -> DeviceProfilePublic:
    found = await storage.device_profiles.get(profile_id, tenant_id=scope)
    if found is None:
        raise not_found("device profile")
    return DeviceProfilePublic.from_domain(found)


@router.patch("/{profile_id}")
async def update_device_profile(
    profile_id: uuid.UUID, body: DeviceProfileUpdate, scope: TenantScope, storage: StorageDep
) -> DeviceProfilePublic:
    """Change the given fields; the merged profile is validated as a whole (region tables)."""
    found = await storage.device_profiles.get(profile_id, tenant_id=scope)
    if found is None:
        raise not_found("device profile")
    current = DeviceProfilePublic.from_domain(found).model_dump(
        exclude={"id", "tenant_id", "created_at"}
    )
    changes = body.model_dump(exclude_unset=True)
    if "region" in changes:
        # a new region brings its own RX2 defaults, unless given in the same request
        for field in ("rx2_freq", "rx2_dr"):
            if field not in changes:
                current.pop(field)
    try:
        merged = DeviceProfileCreate.model_validate({**current, **changes})
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from exc
    updated = await storage.device_profiles.update(
        merged.to_domain(found.tenant_id, profile_id=found.id), tenant_id=scope
    )
    return DeviceProfilePublic.from_domain(updated)


@router.delete("/{profile_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_device_profile(
    profile_id: uuid.UUID, scope: TenantScope, storage: StorageDep
) -> None:
    """Delete the profile (409 while devices use it)."""
    await storage.device_profiles.delete(profile_id, tenant_id=scope)
