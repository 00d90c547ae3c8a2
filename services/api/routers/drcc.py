"""DRCC / ADR of a device: its link-adaptation decisions (newest first) and policy state.

The policy is chosen per device profile (``adr_policy``, validated against the registered
plugins in the device-profile schema)."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import DevEuiPath, PageParams, StorageDep, TenantScope
from ..schemas.common import Page
from ..schemas.drcc import DrccDecisionPublic, DrccStatePublic
from ._common import API_PREFIX, not_found, page_of
from .devices import visible_device

router = APIRouter(prefix=f"{API_PREFIX}/devices", tags=["drcc"])


@router.get("/{dev_eui}/drcc/decisions")
async def list_drcc_decisions(
    dev_eui: DevEuiPath, scope: TenantScope, storage: StorageDep, page: PageParams
) -> Page[DrccDecisionPublic]:
    """LinkADRReq decisions (dr, tx_power_index, channels, nb_trans, policy, reason, time),
    newest first."""
    device = await visible_device(storage, dev_eui, scope)
    result = await storage.drcc.list_decisions(
        device.dev_eui, tenant_id=scope, limit=page.limit, offset=page.offset
    )
    return page_of(result, DrccDecisionPublic.from_domain)


@router.get("/{dev_eui}/drcc/state")
async def get_drcc_state(
    dev_eui: DevEuiPath, scope: TenantScope, storage: StorageDep
) -> DrccStatePublic:
    """The profile's policy, the DRCC service's state of the device and its current radio
    settings."""
    device = await visible_device(storage, dev_eui, scope)
    profile = await storage.device_profiles.get(device.device_profile_id, tenant_id=None)
    if profile is None:  # pragma: no cover - a device always has its profile (FK)
        raise not_found("device profile")
    state = await storage.drcc.get_state(device.dev_eui)
    session = await storage.sessions.get_by_dev_eui(device.dev_eui)
    return DrccStatePublic.build(str(device.dev_eui), profile.adr_policy, state, session)
