"""/api/zones: any key lists and reads zones; admin keys create, change and delete them."""

from __future__ import annotations

from fastapi import APIRouter, status

from ..deps import AdminKey, CurrentKey, PageParams, StorageDep
from ..schemas.common import Page
from ..schemas.zone import ZoneCreate, ZonePublic, ZoneUpdate
from ._common import API_PREFIX, not_found, page_of

router = APIRouter(prefix=f"{API_PREFIX}/zones", tags=["zones"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_zone(body: ZoneCreate, _admin: AdminKey, storage: StorageDep) -> ZonePublic:
    return ZonePublic.from_domain(await storage.zones.create(body.to_domain()))


@router.get("")
async def list_zones(_key: CurrentKey, storage: StorageDep, page: PageParams) -> Page[ZonePublic]:
    result = await storage.zones.list(limit=page.limit, offset=page.offset)
    return page_of(result, ZonePublic.from_domain)


@router.get("/{name}")
async def get_zone(name: str, _key: CurrentKey, storage: StorageDep) -> ZonePublic:
    zone = await storage.zones.get(name)
    if zone is None:
        raise not_found("zone")
    return ZonePublic.from_domain(zone)


@router.patch("/{name}")
async def update_zone(
    name: str, body: ZoneUpdate, _admin: AdminKey, storage: StorageDep
) -> ZonePublic:
    zone = await storage.zones.get(name)
    if zone is None:
        raise not_found("zone")
    if body.description is not None:
        zone.description = body.description
    if body.ledger_settings is not None:
        zone.ledger_settings = dict(body.ledger_settings)
    return ZonePublic.from_domain(await storage.zones.update(zone))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_zone(name: str, _admin: AdminKey, storage: StorageDep) -> None:
    """Delete the zone; its gateways stay, without a zone."""
    await storage.zones.delete(name)
