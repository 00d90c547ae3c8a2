"""/api/gateways: registration, zone, location; last seen and last stats (from the bridge).

A gateway the bridge has already heard (recorded unclaimed, without a tenant) is claimed by
the first create request for its EUI; a gateway owned by a tenant is a conflict (409).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Query, status

from services.lorawan.types import EUI64
from services.storage import AlreadyExists, Gateway, Storage

from ..deps import GwEuiPath, PageParams, StorageDep, TenantScope
from ..errors import validation_error
from ..schemas.common import Page
from ..schemas.gateway import GatewayCreate, GatewayPublic, GatewayUpdate
from ._common import API_PREFIX, not_found, page_of

router = APIRouter(prefix=f"{API_PREFIX}/gateways", tags=["gateways"])


async def _check_zone(storage: Storage, zone: str | None) -> None:
    if zone is not None and await storage.zones.get(zone) is None:
        raise validation_error(("body", "zone"), "zone not found", zone)


async def _gateway_tenant(
    storage: Storage, scope: uuid.UUID | None, requested: uuid.UUID | None
) -> uuid.UUID | None:
    if scope is not None:
        if requested is not None and requested != scope:
            raise validation_error(("body", "tenant_id"), "tenant not found", str(requested))
        return scope
    if requested is not None and await storage.tenants.get(requested) is None:
        raise validation_error(("body", "tenant_id"), "tenant not found", str(requested))
    return requested


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_gateway(
    body: GatewayCreate, scope: TenantScope, storage: StorageDep
) -> GatewayPublic:
    tenant_id = await _gateway_tenant(storage, scope, body.tenant_id)
    await _check_zone(storage, body.zone)
    gateway = body.to_domain(tenant_id)
    try:
        created = await storage.gateways.create(gateway)
    except AlreadyExists:
        existing = await storage.gateways.get(gateway.gw_eui, tenant_id=None)
        if existing is None or existing.tenant_id is not None or tenant_id is None:
            raise
        # Heard on the air before being registered: claim it, keep last seen / stats.
        created = await storage.gateways.update(gateway, tenant_id=None)
    return GatewayPublic.from_domain(created)


@router.get("")
async def list_gateways(
    scope: TenantScope,
    storage: StorageDep,
    page: PageParams,
    zone: str | None = Query(default=None, description="only gateways of this zone"),
) -> Page[GatewayPublic]:
    result = await storage.gateways.list(
        tenant_id=scope, zone=zone, limit=page.limit, offset=page.offset
    )
    return page_of(result, GatewayPublic.from_domain)


async def _visible(storage: Storage, gw_eui: str, scope: uuid.UUID | None) -> Gateway:
    gateway = await storage.gateways.get(EUI64.from_hex(gw_eui), tenant_id=scope)
    if gateway is None:
        raise not_found("gateway")
    return gateway


@router.get("/{gw_eui}")
async def get_gateway(gw_eui: GwEuiPath, scope: TenantScope, storage: StorageDep) -> GatewayPublic:
    return GatewayPublic.from_domain(await _visible(storage, gw_eui, scope))


@router.patch("/{gw_eui}")
async def update_gateway(
    gw_eui: GwEuiPath, body: GatewayUpdate, scope: TenantScope, storage: StorageDep
) -> GatewayPublic:
    """Change the given fields; ``zone``/``location`` set to null are cleared."""
    gateway = await _visible(storage, gw_eui, scope)
    given = body.model_fields_set
    if "tenant_id" in given:
        if scope is not None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin key may move a gateway")
        gateway.tenant_id = await _gateway_tenant(storage, None, body.tenant_id)
    if body.name is not None:
        gateway.name = body.name
    if "zone" in given:
        await _check_zone(storage, body.zone)
        gateway.zone = body.zone
    if "location" in given:
        gateway.location = None if body.location is None else body.location.to_domain()
    updated = await storage.gateways.update(gateway, tenant_id=scope)
    return GatewayPublic.from_domain(updated)


@router.delete("/{gw_eui}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_gateway(gw_eui: GwEuiPath, scope: TenantScope, storage: StorageDep) -> None:
    await storage.gateways.delete(EUI64.from_hex(gw_eui), tenant_id=scope)
